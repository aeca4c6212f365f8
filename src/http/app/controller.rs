//! Port of a Django app's `views.py` and `urls.py`: the app's controllers, one function per
//! route, from a request to a [`Reply`], or to a password check that must run off the loop
//! first ([`Step::Verify`]), finished by [`finish`] when its verdict is back.
//!
//! Python: the `views.py` of a Django app (Django calls controllers "views"), with its
//! `urls.py` as the `match` in [`handle`].
//!
//! | route | methods | what it does |
//! |---|---|---|
//! | `/app/` | GET, HEAD | links to the demos |
//! | `/app/visits` | GET, HEAD | counts this session's visits (GET only) |
//! | `/app/login` | GET, HEAD, POST | the form; POST checks the password, new session on success |
//! | `/app/logout` | POST | ends the session, clears the cookie |
//! | `/app/whoami` | GET, HEAD | who the request acts as: Basic credentials, else the session |
//!
//! Every reply says `Cache-Control: no-store`: these pages are per user, and a shared
//! cache must not hand one user's page to another.

use std::time::Instant;

use log::{error, info};

use super::model::Model;
use super::view::{self, Via};
use super::Reply;
use crate::http::{
    challenge, parse_basic, removal_cookie, session_cookie, Check, Form, Lookup, SessionId, Status,
    Verdict,
};

/// The realm of `/app/whoami`'s Basic challenge.
pub const APP_REALM: &str = "app";

/// What a controller needs of a request. The server fills it from the parsed head and the
/// body it read.
#[derive(Clone, Copy, Debug)]
pub struct AppRequest<'a> {
    /// The method as sent (`GET`, `HEAD`, `POST`, ...).
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The `Host` header (or the absolute-form target's authority).
    pub host: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a [u8]>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body (empty unless a POST).
    pub body: &'a [u8],
}

/// What a controller decided.
#[derive(Debug)]
pub enum Step {
    /// Send this.
    Reply(Reply),
    /// Run this password check off the loop, then call [`finish`] with its verdict.
    Verify(Check, Pending),
}

/// What to do with a password check's verdict.
#[derive(Debug)]
pub enum Pending {
    /// A form login; the session the request came with, which a success replaces.
    Login {
        /// The request's live session, if any.
        old: Option<SessionId>,
    },
    /// `/app/whoami` with Basic credentials.
    Whoami,
}

/// Whether `path` is one of the app's (`/app` or under `/app/`).
pub fn is_app_path(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/")
}

/// Routes an app request.
pub fn handle(model: &mut Model, req: &AppRequest<'_>, now: Instant) -> Step {
    let get = matches!(req.method, "GET" | "HEAD");
    let post = req.method == "POST";
    let reply = match req.path {
        "/app" => Reply::redirect(Status::MovedPermanently, "/app/"),
        "/app/" if get => Reply::html(Status::Ok, view::index()),
        "/app/visits" if get => visits(model, req, now),
        "/app/login" if get => Reply::html(Status::Ok, view::login("", false)),
        "/app/login" if post => return login(model, req, now),
        "/app/logout" if post => logout(model, req, now),
        "/app/whoami" if get => return whoami(model, req, now),
        "/app/" | "/app/visits" | "/app/whoami" => Reply::not_allowed("GET, HEAD"),
        "/app/login" => Reply::not_allowed("GET, HEAD, POST"),
        "/app/logout" => Reply::not_allowed("POST"),
        _ => Reply::error(Status::NotFound, "no such page in the app"),
    };
    Step::Reply(reply)
}

/// Finishes a request whose password check is back.
pub fn finish(model: &mut Model, pending: Pending, verdict: &Verdict, now: Instant) -> Reply {
    model.users.remember(verdict, now);
    match pending {
        Pending::Login { old } => logged_in(model, old, verdict, now),
        Pending::Whoami if verdict.ok => {
            Reply::text(Status::Ok, view::whoami(Some((&verdict.user, Via::Basic))))
        }
        Pending::Whoami => unauthorized(),
    }
}

/// `GET /app/visits`: one more visit in this session (a new session if it had none; a
/// HEAD counts nothing, it only asks what a GET would get).
fn visits(model: &mut Model, req: &AppRequest<'_>, now: Instant) -> Reply {
    let idle = model.sessions.idle();
    let count_it = req.method == "GET";
    match model.session_or_new(req.cookie, now) {
        Ok((id, session)) => {
            if count_it {
                session.visits += 1;
            }
            Reply::html(Status::Ok, view::visits(session.visits))
                .header("Set-Cookie", session_cookie(&id, idle))
        }
        Err(err) => no_session(&err),
    }
}

/// `POST /app/login`.
fn login(model: &mut Model, req: &AppRequest<'_>, now: Instant) -> Step {
    if let Err(reply) = same_origin(req) {
        return Step::Reply(reply);
    }
    let form = match Form::parse(req.content_type, req.body) {
        Ok(form) => form,
        Err(err) => return Step::Reply(Reply::error(err.status, err.detail)),
    };
    let (user, password) = match (form.require("user"), form.require("password")) {
        (Ok(user), Ok(password)) => (user, password),
        (Err(err), _) | (_, Err(err)) => return Step::Reply(Reply::error(err.status, err.detail)),
    };
    let old = model.session_of(req.cookie, now);
    let creds = crate::http::Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    };
    match model.users.lookup(&creds, now) {
        Lookup::Cached(user) => {
            let verdict = Verdict::cached(user);
            Step::Reply(logged_in(model, old, &verdict, now))
        }
        Lookup::Check(check) => Step::Verify(check, Pending::Login { old }),
    }
}

/// A form login's verdict: 303 to `/app/whoami` with a new session, or 403 with the form.
fn logged_in(model: &mut Model, old: Option<SessionId>, verdict: &Verdict, now: Instant) -> Reply {
    if !verdict.ok {
        info!("app: failed login for {:?}", verdict.user);
        return Reply::html(Status::Forbidden, view::login(&verdict.user, true));
    }
    match model.log_in(old, &verdict.user, now) {
        Ok(id) => Reply::redirect(Status::SeeOther, "/app/whoami")
            .header("Set-Cookie", session_cookie(&id, model.sessions.idle())),
        Err(err) => no_session(&err),
    }
}

/// `POST /app/logout`: the session ends on the server, and the cookie on the client.
fn logout(model: &mut Model, req: &AppRequest<'_>, now: Instant) -> Reply {
    if let Err(reply) = same_origin(req) {
        return reply;
    }
    // Logout reads no field, but a body it is sent is still held to the app's one format
    // (415 otherwise), as every POST route's is; an empty POST without a type is fine.
    if !req.body.is_empty() || req.content_type.is_some() {
        if let Err(err) = Form::parse(req.content_type, req.body) {
            return Reply::error(err.status, err.detail);
        }
    }
    let id = model.session_of(req.cookie, now);
    model.log_out(id);
    Reply::redirect(Status::SeeOther, "/app/login").header("Set-Cookie", removal_cookie())
}

/// `GET /app/whoami`: Basic credentials win over the session; wrong or malformed ones are
/// a 401, never a fall-back to the session.
fn whoami(model: &mut Model, req: &AppRequest<'_>, now: Instant) -> Step {
    if req.authorization.is_some() {
        let creds = match parse_basic(req.authorization) {
            Ok(creds) => creds,
            Err(err) => {
                info!("app: whoami: {err}");
                return Step::Reply(unauthorized());
            }
        };
        return match model.users.lookup(&creds, now) {
            Lookup::Cached(user) => Step::Reply(Reply::text(
                Status::Ok,
                view::whoami(Some((&user, Via::Basic))),
            )),
            Lookup::Check(check) => Step::Verify(check, Pending::Whoami),
        };
    }
    let idle = model.sessions.idle();
    let Some(id) = model.session_of(req.cookie, now) else {
        return Step::Reply(Reply::text(Status::Ok, view::whoami(None)));
    };
    let user = model
        .sessions
        .get_mut(&id, now)
        .and_then(|session| session.user.clone());
    Step::Reply(
        Reply::text(
            Status::Ok,
            view::whoami(user.as_deref().map(|u| (u, Via::Session))),
        )
        .header("Set-Cookie", session_cookie(&id, idle)),
    )
}

fn unauthorized() -> Reply {
    Reply::error(
        Status::Unauthorized,
        "credentials are needed, or were wrong",
    )
    .header("WWW-Authenticate", challenge(APP_REALM))
}

fn no_session(err: &std::io::Error) -> Reply {
    error!("app: cannot make a session id: {err}");
    Reply::error(Status::InternalServerError, "cannot start a session")
}

/// The CSRF check beside `SameSite`: a POST whose `Origin` names another origin than the
/// one the request was sent to (its `Host`) is refused. No `Origin` passes (curl and other
/// non-browser clients send none, and browsers send one with every cross-origin POST);
/// `Origin: null` (a sandboxed or privacy-hiding context) fails. Like Go's
/// `CrossOriginProtection`, only the host and port are compared, so the check holds behind
/// an HTTPS proxy too.
fn same_origin(req: &AppRequest<'_>) -> Result<(), Reply> {
    let Some(origin) = req.origin else {
        return Ok(());
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let same = match (authority, req.host) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        info!("app: cross-origin POST from {origin:?} refused");
        Err(Reply::error(
            Status::Forbidden,
            "a form from another origin may not post here",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{PasswordFile, Sessions};
    use std::time::Duration;

    fn model() -> Model {
        let path = std::env::temp_dir().join(format!(
            "app-users-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
        let users = PasswordFile::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        Model::new(users, Sessions::new(10, Duration::from_secs(60)))
    }

    fn req<'a>(method: &'a str, path: &'a str) -> AppRequest<'a> {
        AppRequest {
            method,
            path,
            host: Some("127.0.0.1:8080"),
            origin: None,
            cookie: None,
            authorization: None,
            content_type: Some("application/x-www-form-urlencoded"),
            body: b"",
        }
    }

    fn reply(step: Step) -> Reply {
        match step {
            Step::Reply(reply) => reply,
            Step::Verify(check, _) => panic!("a check for {}", check.user()),
        }
    }

    fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn routes_methods_and_no_store() {
        let mut m = model();
        let now = Instant::now();
        for (method, path, status, allow) in [
            ("GET", "/app/", Status::Ok, None),
            ("HEAD", "/app/login", Status::Ok, None),
            ("GET", "/app/nope", Status::NotFound, None),
            ("PUT", "/app/", Status::MethodNotAllowed, Some("GET, HEAD")),
            ("GET", "/app/logout", Status::MethodNotAllowed, Some("POST")),
            (
                "DELETE",
                "/app/login",
                Status::MethodNotAllowed,
                Some("GET, HEAD, POST"),
            ),
            (
                "POST",
                "/app/whoami",
                Status::MethodNotAllowed,
                Some("GET, HEAD"),
            ),
            ("GET", "/app", Status::MovedPermanently, None),
        ] {
            let r = reply(handle(&mut m, &req(method, path), now));
            assert_eq!(r.status, status, "{method} {path}");
            assert_eq!(header(&r, "Allow"), allow, "{method} {path}");
            assert_eq!(header(&r, "Cache-Control"), Some("no-store"));
        }
    }

    #[test]
    fn visits_count_per_session_and_a_forged_id_gets_a_new_one() {
        let mut m = model();
        let now = Instant::now();
        let forged = "sid=0123456789abcdef0123456789abcdef";
        let first = reply(handle(
            &mut m,
            &AppRequest {
                cookie: Some(forged),
                ..req("GET", "/app/visits")
            },
            now,
        ));
        let cookie = header(&first, "Set-Cookie").unwrap().to_owned();
        assert!(!cookie.contains("0123456789abcdef0123456789abcdef"));
        assert!(String::from_utf8_lossy(&first.body).contains("<p id=\"visits\">1</p>"));
        let sid = cookie.split(';').next().unwrap().to_owned();
        let second = reply(handle(
            &mut m,
            &AppRequest {
                cookie: Some(&sid),
                ..req("GET", "/app/visits")
            },
            now,
        ));
        assert!(String::from_utf8_lossy(&second.body).contains("<p id=\"visits\">2</p>"));
        assert_eq!(header(&second, "Set-Cookie"), Some(cookie.as_str()));
    }

    #[test]
    fn login_fixation_logout_and_whoami() {
        let mut m = model();
        let now = Instant::now();
        // A session from before the login (one an attacker could have planted).
        let before = reply(handle(&mut m, &req("GET", "/app/visits"), now));
        let old = header(&before, "Set-Cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let login = AppRequest {
            cookie: Some(&old),
            body: b"user=alice&password=pw",
            ..req("POST", "/app/login")
        };
        let Step::Verify(check, pending) = handle(&mut m, &login, now) else {
            panic!("no check")
        };
        let done = finish(&mut m, pending, &check.run(), now);
        assert_eq!(done.status, Status::SeeOther);
        assert_eq!(header(&done, "Location"), Some("/app/whoami"));
        let new = header(&done, "Set-Cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert_ne!(new, old, "a new id at login");
        let who = |m: &mut Model, cookie: &str| {
            let r = reply(handle(
                m,
                &AppRequest {
                    cookie: Some(cookie),
                    ..req("GET", "/app/whoami")
                },
                now,
            ));
            String::from_utf8(r.body).unwrap()
        };
        assert_eq!(who(&mut m, &new), "user=alice via=session\n");
        assert_eq!(
            who(&mut m, &old),
            "anonymous\n",
            "the old id stopped existing"
        );
        // The same password again: the verification cache answers at once.
        let again = handle(&mut m, &login, now);
        assert!(matches!(&again, Step::Reply(r) if r.status == Status::SeeOther));
        let out = reply(handle(
            &mut m,
            &AppRequest {
                cookie: Some(&new),
                ..req("POST", "/app/logout")
            },
            now,
        ));
        assert_eq!(out.status, Status::SeeOther);
        assert!(header(&out, "Set-Cookie").unwrap().contains("Max-Age=0"));
        assert_eq!(who(&mut m, &new), "anonymous\n");
    }

    #[test]
    fn a_wrong_login_keeps_the_user_escaped() {
        let mut m = model();
        let now = Instant::now();
        let login = AppRequest {
            body: b"user=%3Cb%3Ealice&password=nope",
            ..req("POST", "/app/login")
        };
        let Step::Verify(check, pending) = handle(&mut m, &login, now) else {
            panic!("no check")
        };
        let r = finish(&mut m, pending, &check.run(), now);
        assert_eq!(r.status, Status::Forbidden);
        let page = String::from_utf8(r.body).unwrap();
        assert!(page.contains("value=\"&lt;b&gt;alice\""), "{page}");
        assert!(page.contains("<p id=\"error\">wrong user name or password</p>"));
    }

    #[test]
    fn bodies_csrf_and_basic() {
        let mut m = model();
        let now = Instant::now();
        let status = |m: &mut Model, r: AppRequest<'_>| reply(handle(m, &r, now)).status;
        assert_eq!(
            status(
                &mut m,
                AppRequest {
                    content_type: Some("text/plain"),
                    ..req("POST", "/app/login")
                }
            ),
            Status::UnsupportedMediaType
        );
        assert_eq!(
            status(
                &mut m,
                AppRequest {
                    body: b"user=alice",
                    ..req("POST", "/app/login")
                }
            ),
            Status::BadRequest
        );
        for (content_type, body, want) in [
            (Some("text/plain"), &b"x"[..], Status::UnsupportedMediaType),
            (Some("text/plain"), b"", Status::UnsupportedMediaType),
            (None, b"x", Status::UnsupportedMediaType),
            (None, b"", Status::SeeOther),
            (
                Some("application/x-www-form-urlencoded"),
                b"",
                Status::SeeOther,
            ),
        ] {
            let got = status(
                &mut m,
                AppRequest {
                    content_type,
                    body,
                    ..req("POST", "/app/logout")
                },
            );
            assert_eq!(got, want, "logout with {content_type:?} {body:?}");
        }
        for origin in [
            "http://evil.example",
            "null",
            "http://127.0.0.1:8080.evil",
            "http://127.0.0.1:9999",
        ] {
            assert_eq!(
                status(
                    &mut m,
                    AppRequest {
                        origin: Some(origin),
                        ..req("POST", "/app/logout")
                    }
                ),
                Status::Forbidden,
                "{origin}"
            );
        }
        assert_eq!(
            status(
                &mut m,
                AppRequest {
                    origin: Some("http://127.0.0.1:8080"),
                    ..req("POST", "/app/logout")
                }
            ),
            Status::SeeOther
        );
        let bad = reply(handle(
            &mut m,
            &AppRequest {
                authorization: Some(b"Basic !!"),
                ..req("GET", "/app/whoami")
            },
            now,
        ));
        assert_eq!(bad.status, Status::Unauthorized);
        assert_eq!(
            header(&bad, "WWW-Authenticate"),
            Some(r#"Basic realm="app", charset="UTF-8""#)
        );
        // alice:pw
        let Step::Verify(check, pending) = handle(
            &mut m,
            &AppRequest {
                authorization: Some(b"Basic YWxpY2U6cHc="),
                ..req("GET", "/app/whoami")
            },
            now,
        ) else {
            panic!("no check")
        };
        let r = finish(&mut m, pending, &check.run(), now);
        assert_eq!(String::from_utf8(r.body).unwrap(), "user=alice via=basic\n");
    }
}
