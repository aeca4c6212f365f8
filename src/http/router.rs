//! Port of a web framework's URL dispatcher (Django's `urls.py`): which part of the server
//! answers a request. An `/app/` route goes to the app's controllers; a static path under
//! an `--auth` prefix needs Basic credentials first; everything else is a static file, as
//! before.
//!
//! Python: `http.server` has one handler class per server; a framework's URL dispatcher
//! (Django's `urls.py`) is the model here, with the static files as the fall-back route.
//!
//! A password check is slow (bcrypt), so a route that needs one returns
//! [`Routed::Check`]: the server runs it on the loop's worker pool, and [`resume`] builds
//! the response from its verdict. Everything else is answered at once.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use log::debug;

use super::app::{self, AppRequest, Reply, Step};
use super::site::{DirectoryJob, Served};
use super::{
    challenge, parse_basic, AccessControl, Check, DateCache, Lookup, Method, Request, Response,
    Site, Status, Verdict,
};

/// What every connection of a loop shares.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) site: Site,
    /// `--auth` rules; shared by every worker's loop (one verification cache).
    pub(crate) access: Option<Arc<Mutex<AccessControl>>>,
    /// The `/app/` demo; shared by every worker's loop, so a session holds whichever
    /// worker a connection lands on.
    pub(crate) app: Option<Arc<Mutex<app::Model>>>,
    pub(crate) dates: DateCache,
}

/// What the router decided.
#[derive(Debug)]
pub(crate) enum Routed {
    /// Send this.
    Now(Response),
    /// Run this check off the loop, then [`resume`].
    Check(Check, Then),
    /// Read this directory off the loop (for a listing, or a name's variants), then hand
    /// what it made to [`Site::directory_read`]; `true` marks the answer
    /// `Cache-Control: private` (a path under `--auth`).
    Directory(DirectoryJob, bool),
}

/// What a password check was for.
#[derive(Debug)]
pub(crate) enum Then {
    /// A protected static file (the rule's index).
    Static(usize),
    /// An app route.
    App(app::Pending),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves sessions and caches as consistent
    // as any single step leaves them: go on rather than fail every later request.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Routes `request`.
pub(crate) fn route(routes: &mut Routes, request: &Request, now: Instant) -> Routed {
    let path = request.target.split(['?', '#']).next().unwrap_or("");
    if let Some(model) = routes.app.clone() {
        if app::is_app_path(path) {
            if request.method == Method::Post && request.content_length.is_none() {
                // Without a length, where the body ends is unknown: answer and close.
                let reply = Reply::error(Status::LengthRequired, "a POST needs Content-Length");
                return Routed::Now(reply_response(routes, request, &reply, false));
            }
            let app_request = AppRequest {
                method: request.method.as_str(),
                path,
                host: request.host.as_deref(),
                origin: request.origin.as_deref(),
                cookie: request.cookie.as_deref(),
                authorization: request.authorization.as_deref(),
                content_type: request.content_type.as_deref(),
                body: &request.body,
            };
            let step = app::handle(&mut lock(&model), &app_request, now);
            return match step {
                Step::Reply(reply) => {
                    Routed::Now(reply_response(routes, request, &reply, request.keep_alive))
                }
                Step::Verify(check, pending) => Routed::Check(check, Then::App(pending)),
            };
        }
    }
    if !matches!(request.method, Method::Get | Method::Head) {
        // A static file takes GET and HEAD; the body (if any) was skipped by its length.
        return Routed::Now(routes.site.error(
            Status::MethodNotAllowed,
            "only GET and HEAD are allowed here",
            false,
            false,
        ));
    }
    if let Some(access) = routes.access.clone() {
        let mut access = lock(&access);
        if let Some(index) = access.rule_for(&request.target) {
            let rule = access.rule_mut(index).expect("rule_for gave its index");
            let creds = match parse_basic(request.authorization.as_deref()) {
                Ok(creds) => creds,
                Err(err) => {
                    debug!("{}: {err}", rule.prefix);
                    let reply = unauthorized(&rule.prefix);
                    drop(access);
                    return Routed::Now(reply_response(
                        routes,
                        request,
                        &reply,
                        request.keep_alive,
                    ));
                }
            };
            match rule.file.lookup(&creds, now) {
                Lookup::Cached(_) => {
                    drop(access);
                    return match routes.site.respond_deferring(request) {
                        Served::Now(response) => Routed::Now(private(response)),
                        Served::Directory(job) => Routed::Directory(job, true),
                    };
                }
                Lookup::Check(check) => return Routed::Check(check, Then::Static(index)),
            }
        }
    }
    match routes.site.respond_deferring(request) {
        Served::Now(response) => Routed::Now(response),
        Served::Directory(job) => Routed::Directory(job, false),
    }
}

/// Builds the response to `request` once its check's `verdict` is back.
pub(crate) fn resume(
    routes: &mut Routes,
    request: &Request,
    then: Then,
    verdict: &Verdict,
    now: Instant,
) -> Response {
    match then {
        Then::Static(index) => {
            let realm = match &routes.access {
                Some(access) => {
                    let mut access = lock(access);
                    let Some(rule) = access.rule_mut(index) else {
                        return routes.site.error(
                            Status::InternalServerError,
                            "no such rule",
                            false,
                            false,
                        );
                    };
                    rule.file.remember(verdict, now);
                    rule.prefix.clone()
                }
                None => String::new(),
            };
            if verdict.ok {
                private(routes.site.respond(request))
            } else {
                debug!("{realm}: wrong password for {:?}", verdict.user);
                reply_response(routes, request, &unauthorized(&realm), request.keep_alive)
            }
        }
        Then::App(pending) => {
            let reply = match &routes.app {
                Some(model) => app::finish(&mut lock(model), pending, verdict, now),
                None => Reply::error(Status::InternalServerError, "no app"),
            };
            reply_response(routes, request, &reply, request.keep_alive)
        }
    }
}

/// The answer when the pool is full: 503, try again in a second.
pub(crate) fn busy(routes: &mut Routes, request: &Request) -> Response {
    let reply = Reply::error(
        Status::ServiceUnavailable,
        "too many password checks are waiting; try again in a second",
    )
    .header("Retry-After", "1".to_owned());
    reply_response(routes, request, &reply, request.keep_alive)
}

/// The answer when the directory pool is full: 503, try again in a second.
pub(crate) fn directories_busy(routes: &mut Routes, request: &Request) -> Response {
    let reply = Reply::error(
        Status::ServiceUnavailable,
        "too many large directories are being read; try again in a second",
    )
    .header("Retry-After", "1".to_owned());
    reply_response(routes, request, &reply, request.keep_alive)
}

/// The answer when a check failed on the pool (it panicked): 500.
pub(crate) fn failed(routes: &mut Routes, request: &Request) -> Response {
    let reply = Reply::error(Status::InternalServerError, "the password check failed");
    reply_response(routes, request, &reply, request.keep_alive)
}

fn unauthorized(realm: &str) -> Reply {
    Reply::error(
        Status::Unauthorized,
        "this path needs a user name and password",
    )
    .header("WWW-Authenticate", challenge(realm))
}

/// A [`Reply`] as the [`Response`] the server sends.
fn reply_response(
    routes: &mut Routes,
    request: &Request,
    reply: &Reply,
    keep_alive: bool,
) -> Response {
    let head_only = request.method == Method::Head;
    let bytes = reply.to_bytes(routes.dates.now(), keep_alive, head_only);
    Response {
        status: reply.status,
        keep_alive,
        bytes,
        file: None,
        body_len: if head_only {
            0
        } else {
            reply.body.len() as u64
        },
    }
}

/// Marks a response for one user's eyes only: `Cache-Control: private` (added to the
/// directives `--cache` gave it, if any), so no shared cache keeps a protected file.
pub(crate) fn private(mut response: Response) -> Response {
    add_private(&mut response.bytes);
    response
}

/// Adds `private` to the head at the start of `bytes` (a `Cache-Control` header's first
/// directive, or a new header before the blank line).
pub(crate) fn add_private(bytes: &mut Vec<u8>) {
    let Some(end) = find(bytes, b"\r\n\r\n") else {
        return;
    };
    let head = &bytes[..end + 2];
    let at = head
        .windows(16)
        .position(|w| w.eq_ignore_ascii_case(b"\r\ncache-control:"))
        .map(|i| i + 16);
    match at {
        Some(mut value) => {
            while bytes.get(value) == Some(&b' ') {
                value += 1;
            }
            bytes.splice(value..value, b"private, ".iter().copied());
        }
        None => {
            // Before `Connection`, the head's last line, where a reader expects it.
            let at = find(head, b"\r\nConnection:").map_or(end + 2, |i| i + 2);
            bytes.splice(at..at, b"Cache-Control: private\r\n".iter().copied());
        }
    }
}

/// Marks a response the server made before any route was known (a refused or timed-out
/// head) as an `/app/` response when `target` is under `/app/`: `Cache-Control: no-store`,
/// as every app response says, so that not even a cacheable error (a 501 is, by default)
/// is kept for that path.
pub(crate) fn refused_app_response(routes: &Routes, target: Option<&str>, bytes: &mut Vec<u8>) {
    let Some(target) = target else { return };
    if routes.app.is_none() {
        return;
    }
    // An absolute-form target (`http://host/app/x`) names its path after the authority.
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    if !app::is_app_path(path) {
        return;
    }
    let Some(end) = find(bytes, b"\r\n\r\n") else {
        return;
    };
    let at = find(&bytes[..end + 2], b"\r\nConnection:").map_or(end + 2, |i| i + 2);
    bytes.splice(at..at, b"Cache-Control: no-store\r\n".iter().copied());
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_is_added_to_the_head_only() {
        let mut plain = b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nCache-Control: x".to_vec();
        add_private(&mut plain);
        assert_eq!(
            plain,
            b"HTTP/1.0 200 OK\r\nCache-Control: private\r\nConnection: close\r\n\r\nCache-Control: x"
        );
        let mut bare = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        add_private(&mut bare);
        assert_eq!(bare, b"HTTP/1.0 200 OK\r\nCache-Control: private\r\n\r\n");
        let mut cached = b"HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\n\r\n".to_vec();
        add_private(&mut cached);
        assert_eq!(
            cached,
            b"HTTP/1.0 200 OK\r\nCache-Control: private, max-age=60\r\n\r\n"
        );
    }
}
