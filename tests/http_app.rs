//! The `/app/` demo over real sockets: sessions (visits; forged, malformed, expired and
//! evicted ids), login (new id: no fixation), wrong logins (escaped), logout, `whoami` by
//! session or Basic, `no-store`, 405 and 404, the CSRF `Origin` check, and every rule of
//! request bodies (411, 501, 400, 413, 408, 415, skipped bodies); then the same flow with
//! curl's cookie jar.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::http::*;
use mio_selectors::http::ServerConfig;

const USER: &str = "alice";
const PASSWORD: &str = "wonder land&more";
const FORM: &str = "application/x-www-form-urlencoded";

struct App {
    server: Running,
    _dir: TempDir,
}

fn app(max: usize, idle: Duration, tune: impl FnOnce(&mut ServerConfig)) -> App {
    let dir = TempDir::new("app");
    let users = htpasswd(&dir, "users", &[(USER, PASSWORD), ("bob", "builder")], 4);
    let mut config = app_config(&users, max, idle);
    tune(&mut config);
    let (server, _) = serve_with_stats(&bundled_site(), config);
    App { server, _dir: dir }
}

fn default_app() -> App {
    app(100, Duration::from_secs(600), |_| {})
}

impl App {
    fn addr(&self) -> SocketAddr {
        self.server.addr
    }
    fn get(&self, target: &str, cookie: Option<&str>) -> Parsed {
        let cookie = cookie.map(|sid| format!("sid={sid}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        request_with_body(self.addr(), "GET", target, &headers, b"")
    }
    fn login(&self, user: &str, password: &str, cookie: Option<&str>) -> Parsed {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("user", user)
            .append_pair("password", password)
            .finish();
        let cookie = cookie.map(|sid| format!("sid={sid}"));
        let mut headers = vec![("Content-Type", FORM)];
        if let Some(cookie) = &cookie {
            headers.push(("Cookie", cookie));
        }
        request_with_body(self.addr(), "POST", "/app/login", &headers, body.as_bytes())
    }
    fn whoami(&self, sid: Option<&str>) -> String {
        let res = self.get("/app/whoami", sid);
        assert_eq!(res.code, 200);
        assert_eq!(
            res.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        res.text().to_owned()
    }
}

fn visits(res: &Parsed) -> u64 {
    let text = res.text();
    let start = text.find("<p id=\"visits\">").expect("a visits paragraph") + 15;
    let end = start + text[start..].find('<').unwrap();
    text[start..end].parse().unwrap()
}

// ---- Sessions ----

#[test]
fn visits_count_per_session_with_the_cookie_resent_each_time() {
    let app = default_app();
    let first = app.get("/app/visits", None);
    assert_eq!((first.code, visits(&first)), (200, 1));
    let cookie = first.header("set-cookie").unwrap();
    let sid = sid_of(&first).unwrap();
    assert_eq!(sid.len(), 32);
    assert!(sid
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(
        cookie,
        format!("sid={sid}; HttpOnly; SameSite=Lax; Path=/; Max-Age=600")
    );
    for n in 2..=4 {
        let res = app.get("/app/visits", Some(&sid));
        assert_eq!(visits(&res), n);
        assert_eq!(
            sid_of(&res).as_deref(),
            Some(sid.as_str()),
            "re-sent, same id"
        );
    }
    // Another client is another session.
    let other = app.get("/app/visits", None);
    assert_eq!(visits(&other), 1);
    assert_ne!(sid_of(&other).unwrap(), sid);
    // Several cookies, spaces and quotes: the cookie crate finds ours.
    let header = format!("theme=dark;  sid=\"{sid}\" ; lang=en");
    let res = request_with_body(
        app.addr(),
        "GET",
        "/app/visits",
        &[("Cookie", &header)],
        b"",
    );
    assert_eq!(visits(&res), 5);
}

#[test]
fn forged_and_malformed_ids_start_a_fresh_session_with_a_new_id() {
    let app = default_app();
    for forged in [
        "0123456789abcdef0123456789abcdef",
        "0123456789ABCDEF0123456789ABCDEF",
        "short",
        "../../etc/passwd",
        "",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ] {
        let res = app.get("/app/visits", Some(forged));
        assert_eq!((res.code, visits(&res)), (200, 1), "{forged:?}");
        let new = sid_of(&res).unwrap();
        assert_ne!(new, forged, "the client's id was adopted");
        assert_eq!(new.len(), 32);
        // whoami makes no session of its own: anonymous, never an error, never the id.
        let who = app.get("/app/whoami", Some(forged));
        assert_eq!((who.code, who.text()), (200, "anonymous\n"), "{forged:?}");
        assert_eq!(who.header("set-cookie"), None);
    }
}

#[test]
fn an_expired_session_is_gone() {
    let app = app(100, Duration::from_secs(1), |_| {});
    let first = app.get("/app/visits", None);
    let sid = sid_of(&first).unwrap();
    assert!(first.header("set-cookie").unwrap().ends_with("Max-Age=1"));
    assert_eq!(visits(&app.get("/app/visits", Some(&sid))), 2);
    // Unused for longer than the idle time (the condition is the time itself).
    std::thread::sleep(Duration::from_millis(1500));
    let res = app.get("/app/visits", Some(&sid));
    assert_eq!(visits(&res), 1);
    assert_ne!(sid_of(&res).unwrap(), sid);
}

#[test]
fn the_least_recently_used_session_is_evicted_at_the_limit() {
    let app = app(2, Duration::from_secs(600), |_| {});
    let a = sid_of(&app.get("/app/visits", None)).unwrap();
    let b = sid_of(&app.get("/app/visits", None)).unwrap();
    assert_eq!(visits(&app.get("/app/visits", Some(&a))), 2); // b is now the oldest
    let _c = sid_of(&app.get("/app/visits", None)).unwrap();
    let res = app.get("/app/visits", Some(&b));
    assert_eq!(visits(&res), 1, "b was evicted");
    assert_ne!(sid_of(&res).unwrap(), b);
    // ... which evicted a in turn (the store holds 2): c and the new b remain.
    assert_eq!(visits(&app.get("/app/visits", Some(&a))), 1);
}

// ---- Login, logout, whoami ----

#[test]
fn a_login_gets_a_new_session_id_and_the_old_one_stops_existing() {
    let app = default_app();
    // A session from before the login: one an attacker could have planted (fixation).
    let old = sid_of(&app.get("/app/visits", None)).unwrap();
    let res = app.login(USER, PASSWORD, Some(&old));
    assert_eq!(res.code, 303);
    assert_eq!(res.header("location"), Some("/app/whoami"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let new = sid_of(&res).unwrap();
    assert_ne!(new, old);
    assert_eq!(
        res.header("set-cookie"),
        Some(format!("sid={new}; HttpOnly; SameSite=Lax; Path=/; Max-Age=600").as_str())
    );
    assert_eq!(app.whoami(Some(&new)), "user=alice via=session\n");
    // whoami uses the session: its cookie is re-sent, so it never outlives the session.
    let who = app.get("/app/whoami", Some(&new));
    assert_eq!(
        who.header("set-cookie"),
        Some(format!("sid={new}; HttpOnly; SameSite=Lax; Path=/; Max-Age=600").as_str())
    );
    assert_eq!(app.whoami(Some(&old)), "anonymous\n");
    assert_eq!(
        visits(&app.get("/app/visits", Some(&old))),
        1,
        "old id: a fresh session"
    );
    // Logout: the session ends, the cookie is cleared.
    let res = request_with_body(
        app.addr(),
        "POST",
        "/app/logout",
        &[("Cookie", &format!("sid={new}")), ("Content-Type", FORM)],
        b"",
    );
    assert_eq!(res.code, 303);
    assert_eq!(res.header("location"), Some("/app/login"));
    let cleared = res.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("sid=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(app.whoami(Some(&new)), "anonymous\n");
}

#[test]
fn a_wrong_login_is_403_with_the_form_and_the_user_escaped() {
    let app = default_app();
    for (user, password) in [(USER, "wrong"), ("nobody", PASSWORD), ("<b>\"x'&", "y")] {
        let res = app.login(user, password, None);
        assert_eq!(res.code, 403, "{user}");
        assert_eq!(res.header("set-cookie"), None);
        let page = res.text();
        assert!(page.contains("<p id=\"error\">wrong user name or password</p>"));
        assert!(page.contains("method=\"post\" action=\"/app/login\""));
    }
    let page = app.login("<b>\"x'&", "y", None);
    assert!(
        page.text()
            .contains("value=\"&lt;b&gt;&quot;x&#x27;&amp;\""),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("<b>\""));
}

#[test]
fn whoami_by_basic_wins_over_the_session_and_wrong_basic_is_401() {
    let app = default_app();
    assert_eq!(app.whoami(None), "anonymous\n");
    let sid = sid_of(&app.login("bob", "builder", None)).unwrap();
    let cookie = format!("sid={sid}");
    let basic_alice = basic(USER, PASSWORD);
    let res = request_with_body(
        app.addr(),
        "GET",
        "/app/whoami",
        &[("Cookie", &cookie), ("Authorization", &basic_alice)],
        b"",
    );
    assert_eq!(res.text(), "user=alice via=basic\n");
    for wrong in [
        basic(USER, "nope"),
        "Basic".into(),
        "Basic ***".into(),
        "Bearer x".into(),
    ] {
        let res = request_with_body(
            app.addr(),
            "GET",
            "/app/whoami",
            &[("Cookie", &cookie), ("Authorization", &wrong)],
            b"",
        );
        assert_eq!(res.code, 401, "{wrong}");
        assert_eq!(
            res.header("www-authenticate"),
            Some(r#"Basic realm="app", charset="UTF-8""#)
        );
    }
    assert_eq!(app.whoami(Some(&sid)), "user=bob via=session\n");
}

#[test]
fn every_app_response_is_no_store_and_methods_paths_are_checked() {
    let app = default_app();
    for (method, target, code, allow) in [
        ("GET", "/app/", 200, None),
        ("HEAD", "/app/", 200, None),
        ("GET", "/app/login", 200, None),
        ("GET", "/app/nothing", 404, None),
        ("GET", "/app/visits/x", 404, None),
        ("PUT", "/app/visits", 405, Some("GET, HEAD")),
        ("DELETE", "/app/login", 405, Some("GET, HEAD, POST")),
        ("GET", "/app/logout", 405, Some("POST")),
        ("OPTIONS", "/app/whoami", 405, Some("GET, HEAD")),
        ("POST", "/app/", 405, Some("GET, HEAD")),
    ] {
        let res = request_with_body(app.addr(), method, target, &[], b"");
        assert_eq!(res.code, code, "{method} {target}");
        assert_eq!(res.header("allow"), allow, "{method} {target}");
        assert_eq!(
            res.header("cache-control"),
            Some("no-store"),
            "{method} {target}"
        );
    }
    // The index states the bundled demo credentials and links the demos.
    let index = app.get("/app/", None);
    for needle in [
        "href=\"/app/visits\"",
        "href=\"/app/login\"",
        "href=\"/app/whoami\"",
    ] {
        assert!(index.text().contains(needle), "{needle}");
    }
}

#[test]
fn a_post_from_another_origin_is_403() {
    let app = default_app();
    let body = format!("user={USER}&password=wonder+land%26more");
    let own = format!("http://{}", app.addr());
    let port = app.addr().port();
    for (origin, code) in [
        ("http://evil.example", 403),
        ("null", 403),
        (&format!("{own}.evil.example") as &str, 403),
        ("http://127.0.0.1:1", 403),
        (&format!("http://evil@{}", app.addr()) as &str, 403),
        (&format!("{own}, http://evil.example") as &str, 403),
        (&format!("{own}/") as &str, 403),
        (own.as_str(), 303),
        // The scheme is not compared: the server cannot know it behind a TLS proxy (Go's
        // CrossOriginProtection compares the host and port only, too).
        (&own.replace("http://", "https://") as &str, 303),
    ] {
        let res = request_with_body(
            app.addr(),
            "POST",
            "/app/login",
            &[("Origin", origin), ("Content-Type", FORM)],
            body.as_bytes(),
        );
        assert_eq!(res.code, code, "{origin}");
        if code == 403 {
            assert_eq!(res.header("set-cookie"), None);
        }
    }
    // Host names are compared case-insensitively; the port must match.
    for (origin, code) in [
        (format!("http://LocalHost:{port}"), 303),
        (format!("http://localhost:{}", port + 1), 403),
        ("http://localhost".to_owned(), 403),
    ] {
        let wire = format!(
            "POST /app/logout HTTP/1.0\r\nHost: localhost:{port}\r\nOrigin: {origin}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        assert_eq!(raw(app.addr(), wire.as_bytes())[0].code, code, "{origin}");
    }
    // Two Origin headers, the second naming this server: the first is not ignored.
    let wire = format!(
        "POST /app/logout HTTP/1.0\r\nHost: {host}\r\nOrigin: http://evil.example\r\n\
         Origin: {own}\r\nContent-Length: 0\r\n\r\n",
        host = app.addr()
    );
    assert_eq!(raw(app.addr(), wire.as_bytes())[0].code, 403);
}

// ---- Bodies ----

/// Sends raw bytes; returns every response until the server closes, and whether it did.
fn raw(addr: SocketAddr, wire: &[u8]) -> Vec<Parsed> {
    parse_responses(&exchange(addr, wire), &[])
}

#[test]
fn body_errors_each_get_their_status_and_a_close() {
    let app = app(100, Duration::from_secs(600), |config| {
        config.limits.max_body = 100
    });
    let host = app.addr();
    let cases: Vec<(String, u16)> = vec![
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\n\r\n"), 411),
        (
            format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            501,
        ),
        (
            format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"),
            400,
        ),
        (
            format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
            400,
        ),
        (
            format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 101\r\n\r\n"),
            413,
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000\r\n\r\n"),
            413,
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            501,
        ),
        (
            format!("GET http://{host}/app/visits HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            501,
        ),
        // Spellings a proxy in front might read differently: each refused, never guessed.
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: +3\r\n\r\nabc"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\n\r\n"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0x3\r\n\r\nabc"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1 2\r\n\r\nabc"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3, 4\r\n\r\nabcd"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3,\r\n\r\nabc"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length : 3\r\n\r\nabc"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n 4\r\n\r\nabcd"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"), 400),
        (format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc"), 400),
    ];
    for (wire, code) in cases {
        // Followed by a request that must never be answered.
        let wire = format!("{wire}GET /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let all = raw(app.addr(), wire.as_bytes());
        assert_eq!(all.len(), 1, "{wire:?}");
        assert_eq!(all[0].code, code, "{wire:?}");
        assert_eq!(all[0].header("connection"), Some("close"));
        // Refused before routing, still an /app/ response: no-store (a 501 is cacheable
        // by default). Outside /app/, nothing is added.
        let request_line = wire.lines().next().unwrap();
        let no_store = request_line.contains("/app/").then_some("no-store");
        assert_eq!(all[0].header("cache-control"), no_store, "{wire:?}");
    }
}

#[test]
fn form_errors_are_415_and_400() {
    let app = default_app();
    let post = |content_type: &str, body: &str| {
        request_with_body(
            app.addr(),
            "POST",
            "/app/login",
            &[("Content-Type", content_type)],
            body.as_bytes(),
        )
        .code
    };
    assert_eq!(post("text/plain", "user=a&password=b"), 415);
    assert_eq!(post("multipart/form-data; boundary=x", "--x--"), 415);
    assert_eq!(post(FORM, "user=alice"), 400);
    assert_eq!(post(FORM, "password=x"), 400);
    assert_eq!(
        post(&format!("{FORM}; charset=UTF-8"), "user=x&password=y"),
        403
    );
}

#[test]
fn a_body_the_route_does_not_take_is_skipped_never_parsed_as_a_request() {
    let app = default_app();
    let host = app.addr();
    // The body of the GET looks like a request for a missing file: it must not be one.
    let smuggled = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    let wire = format!(
        "GET /index.html HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{smuggled}\
         GET /style.css HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        smuggled.len()
    );
    let all = raw(app.addr(), wire.as_bytes());
    let codes: Vec<u16> = all.iter().map(|r| r.code).collect();
    assert_eq!(codes, [200, 200]);
    // Leading zeros and blanks around the digits still say 7: exactly 7 bytes skipped.
    let wire = format!(
        "GET /index.html HTTP/1.1\r\nHost: {host}\r\nContent-Length:   007  \r\n\r\nGET /x \
         GET /style.css HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2, 2\r\n\r\nxx\
         GET /nope HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let codes: Vec<u16> = raw(app.addr(), wire.as_bytes())
        .iter()
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, [200, 200, 404]);
    // A POST to a static path: 405, and its body is not the next request either.
    let wire = format!(
        "POST /index.html HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{smuggled}",
        smuggled.len()
    );
    let all = raw(app.addr(), wire.as_bytes());
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].code, 405);
    assert_eq!(all[0].header("allow"), Some("GET, HEAD"));
    // A login body in pieces, with a pipelined request right behind it.
    let body = format!("user={USER}&password=wonder+land%26more");
    let mut sock = connect(app.addr());
    let head = format!(
        "POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).unwrap();
    for piece in body.as_bytes().chunks(5) {
        sock.write_all(piece).unwrap();
    }
    sock.write_all(
        format!("GET /app/whoami HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let all = parse_responses(&read_to_close(&mut sock), &[]);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].code, 303);
    assert_eq!(
        all[1].text(),
        "anonymous\n",
        "no cookie sent with the pipelined request"
    );
}

#[test]
fn a_body_that_trickles_is_bounded_by_the_head_timeout() {
    let app = app(100, Duration::from_secs(600), |config| {
        config.head_timeout = Duration::from_millis(500);
    });
    let mut sock = connect(app.addr());
    sock.write_all(
        format!(
            "POST /app/login HTTP/1.1\r\nHost: {}\r\nContent-Type: {FORM}\r\nContent-Length: 50\r\n\r\nuser=",
            app.addr()
        )
        .as_bytes(),
    )
    .unwrap();
    let started = Instant::now();
    let bytes = read_to_close(&mut sock);
    let all = parse_responses(&bytes, &[false]);
    assert_eq!(all[0].code, 408);
    assert_eq!(all[0].header("cache-control"), Some("no-store"));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_example_refuses_a_max_body_it_would_have_to_hold_in_memory() {
    let Some(bin) = example_binary_or_skip() else {
        return;
    };
    let out = run_bounded(
        Duration::from_secs(30),
        bin.to_str().unwrap(),
        &["--port", "0", "--max-body", "18446744073709551615"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-body"));
}

// ---- Real clients ----

#[test]
fn curl_logs_in_with_a_cookie_jar() {
    if !have_tool("curl", "--version") {
        return;
    }
    let app = default_app();
    let dir = TempDir::new("curl-jar");
    let jar = dir.0.join("jar");
    let jar = jar.to_str().unwrap();
    let url = |path: &str| format!("http://{}{path}", app.addr());
    let curl = |args: &[&str]| {
        let out = run_bounded(Duration::from_secs(30), "curl", args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // -L follows the 303 with a GET, sending the new cookie.
    let who = curl(&[
        "-sS",
        "-L",
        "-c",
        jar,
        "-b",
        jar,
        "--data-urlencode",
        &format!("user={USER}"),
        "--data-urlencode",
        &format!("password={PASSWORD}"),
        &url("/app/login"),
    ]);
    assert_eq!(who, "user=alice via=session\n");
    assert_eq!(
        curl(&["-sS", "-b", jar, &url("/app/whoami")]),
        "user=alice via=session\n"
    );
    assert_eq!(
        curl(&["-sS", "-u", "bob:builder", &url("/app/whoami")]),
        "user=bob via=basic\n"
    );
    curl(&[
        "-sS",
        "-c",
        jar,
        "-b",
        jar,
        "-X",
        "POST",
        "-d",
        "",
        &url("/app/logout"),
    ]);
    assert_eq!(
        curl(&["-sS", "-b", jar, &url("/app/whoami")]),
        "anonymous\n"
    );
}
