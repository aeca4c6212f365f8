//! Access control (`--auth PREFIX=FILE`) over real sockets: Basic credentials right, wrong,
//! unknown and malformed; every spelling of a protected path; `Cache-Control: private`;
//! the verification cache (a page and its assets cost one check; a changed file takes
//! effect at once); password checks on the pool (503 at a full queue, the loop not blocked
//! while they run); and the example's refusal of a bad htpasswd file.
//!
//! Users files are written by Apache's `htpasswd -B` (apache2-utils). Checks use cost 4
//! (a millisecond) except where the test is about cost.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::http::*;
use mio_selectors::event_loop::LoopStats;
use mio_selectors::http::{AccessControl, ServerConfig};

/// The bundled site with `/docs/` protected by `users`.
fn protected(
    users: &std::path::Path,
    tune: impl FnOnce(&mut ServerConfig),
) -> (Running, Arc<LoopStats>) {
    let mut access = AccessControl::default();
    access
        .add_spec(&format!("/docs/={}", users.display()))
        .expect("--auth");
    let mut config = ServerConfig {
        access: Some(Arc::new(Mutex::new(access))),
        ..ServerConfig::default()
    };
    tune(&mut config);
    serve_with_stats(&bundled_site(), config)
}

fn get_with_auth(addr: SocketAddr, target: &str, authorization: Option<&str>) -> Parsed {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| vec![("Authorization", value)])
        .unwrap_or_default();
    request_with_body(addr, "GET", target, &headers, b"")
}

const CHALLENGE: &str = r#"Basic realm="/docs/", charset="UTF-8""#;

#[test]
fn the_right_password_gets_the_file_marked_private() {
    let dir = TempDir::new("auth-right");
    let users = htpasswd(&dir, "users", &[("alice", "s3cret:with:colons")], 4);
    let (server, _) = protected(&users, |_| {});
    let res = get_with_auth(
        server.addr,
        "/docs/",
        Some(&basic("alice", "s3cret:with:colons")),
    );
    assert_eq!(res.code, 200);
    assert_eq!(
        res.body,
        std::fs::read(bundled_site().join("docs/index.html")).unwrap()
    );
    assert_eq!(res.header("cache-control"), Some("private"));
    let head = request_with_body(
        server.addr,
        "HEAD",
        "/docs/index.html",
        &[("Authorization", &basic("alice", "s3cret:with:colons"))],
        b"",
    );
    assert_eq!(
        (head.code, head.header("cache-control")),
        (200, Some("private"))
    );
    // The scheme in any case, and extra blanks around the token (RFC 9110 §11.1).
    let token = basic("alice", "s3cret:with:colons").replace("Basic ", "");
    for spelling in [format!("basic {token}"), format!("BASIC    {token}   ")] {
        let res = get_with_auth(server.addr, "/docs/", Some(&spelling));
        assert_eq!(res.code, 200, "{spelling}");
    }
    // Outside the prefix: no credentials needed, and nothing added.
    let open = get_with_auth(server.addr, "/index.html", None);
    assert_eq!((open.code, open.header("cache-control")), (200, None));
}

#[test]
fn wrong_passwords_unknown_users_and_missing_credentials_get_the_challenge() {
    let dir = TempDir::new("auth-wrong");
    let users = htpasswd(&dir, "users", &[("alice", "right")], 4);
    let (server, stats) = protected(&users, |_| {});
    for authorization in [
        None,
        Some(basic("alice", "wrong")),
        Some(basic("alice", "")),
        Some(basic("mallory", "right")),
        Some(basic("ALICE", "right")),
    ] {
        let res = get_with_auth(server.addr, "/docs/index.html", authorization.as_deref());
        assert_eq!(res.code, 401, "{authorization:?}");
        assert_eq!(res.header("www-authenticate"), Some(CHALLENGE));
        assert!(!res.text().contains("subdir"), "the file leaked");
    }
    // Four of the five reached bcrypt, the unknown user included (a dummy hash of the
    // file's cost, so its timing does not tell which names exist); none was cached.
    assert_eq!(stats.pool_jobs(), 4);
}

#[test]
fn every_malformed_authorization_header_gets_the_challenge_without_a_check() {
    let dir = TempDir::new("auth-malformed");
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 4);
    let (server, stats) = protected(&users, |_| {});
    let junk = format!("Basic {}", "A".repeat(8 * 1024));
    for value in [
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        "Basic YWxpY2VwdwAA", // no colon ("alicepw\0\0")
        "Basic /w==",         // 0xff: not UTF-8
        "Bearer YWxpY2U6cHc=",
        "Digest username=\"alice\"",
        "YWxpY2U6cHc=",
        junk.as_str(),
    ] {
        let res = get_with_auth(server.addr, "/docs/", Some(value));
        assert_eq!(res.code, 401, "{:.40}", value);
        assert_eq!(res.header("www-authenticate"), Some(CHALLENGE));
    }
    assert_eq!(stats.pool_jobs(), 0, "malformed credentials cost no check");
}

#[test]
fn a_quote_in_the_prefix_is_escaped_in_the_realm() {
    let dir = TempDir::new("auth-realm");
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 4);
    let mut access = AccessControl::default();
    access
        .add_spec(&format!("/q\"x\\/={}", users.display()))
        .expect("--auth");
    let (server, _) = serve_with_stats(
        &bundled_site(),
        ServerConfig {
            access: Some(Arc::new(Mutex::new(access))),
            ..ServerConfig::default()
        },
    );
    let res = get_with_auth(server.addr, "/q%22x%5C/file", None);
    assert_eq!(res.code, 401);
    assert_eq!(
        res.header("www-authenticate"),
        Some(r#"Basic realm="/q\"x\\/", charset="UTF-8""#)
    );
}

#[test]
fn every_spelling_of_a_protected_path_is_protected_and_its_siblings_are_not() {
    let dir = TempDir::new("auth-spelling");
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 4);
    let (server, stats) = protected(&users, |_| {});
    for target in [
        "/docs/",
        "/docs",
        "//docs/",
        "/%64ocs/index.html",
        "/./docs/./index.html",
        "/docs/index.html?x=1",
    ] {
        let res = get_with_auth(server.addr, target, None);
        assert_eq!(res.code, 401, "{target}");
    }
    for target in ["/", "/index.html", "/style.css"] {
        assert_eq!(
            get_with_auth(server.addr, target, None).code,
            200,
            "{target}"
        );
    }
    assert_eq!(stats.pool_jobs(), 0, "unprotected requests make no check");
}

#[test]
fn a_page_and_its_twenty_assets_cost_one_check() {
    let dir = TempDir::new("auth-cache");
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 4);
    let (server, stats) = protected(&users, |_| {});
    let creds = basic("alice", "pw");
    let mut sock = connect(server.addr);
    use std::io::Write;
    for _ in 0..21 {
        sock.write_all(
            format!("GET /docs/index.html HTTP/1.1\r\nHost: t\r\nAuthorization: {creds}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let res = read_response(&mut sock, false);
        assert_eq!(res.code, 200);
    }
    assert_eq!(stats.pool_jobs(), 1, "one bcrypt check, then the cache");
    // A wrong password is never answered from the cache.
    assert_eq!(
        get_with_auth(server.addr, "/docs/", Some(&basic("alice", "pW"))).code,
        401
    );
    assert_eq!(stats.pool_jobs(), 2);
}

#[test]
fn a_changed_users_file_takes_effect_at_the_next_request() {
    let dir = TempDir::new("auth-change");
    let users = htpasswd(&dir, "users", &[("alice", "old")], 4);
    let (server, stats) = protected(&users, |_| {});
    assert_eq!(
        get_with_auth(server.addr, "/docs/", Some(&basic("alice", "old"))).code,
        200
    );
    assert_eq!(
        get_with_auth(server.addr, "/docs/", Some(&basic("alice", "old"))).code,
        200
    );
    assert_eq!(stats.pool_jobs(), 1, "cached");
    // The password changes (htpasswd rewrites the file): the cached success is dropped.
    htpasswd(&dir, "users", &[("alice", "new")], 4);
    assert_eq!(
        get_with_auth(server.addr, "/docs/", Some(&basic("alice", "old"))).code,
        401
    );
    assert_eq!(
        get_with_auth(server.addr, "/docs/", Some(&basic("alice", "new"))).code,
        200
    );
    // And a removed user is out.
    htpasswd(&dir, "users", &[("bob", "b")], 4);
    assert_eq!(
        get_with_auth(server.addr, "/docs/", Some(&basic("alice", "new"))).code,
        401
    );
}

/// Sends a request without waiting for its answer.
fn send(addr: SocketAddr, target: &str, authorization: &str) -> TcpStream {
    use std::io::Write;
    let mut sock = connect(addr);
    sock.write_all(
        format!("GET {target} HTTP/1.0\r\nAuthorization: {authorization}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    sock
}

/// Waits (at most 10 s) until `n` password checks have reached the server's pool.
#[track_caller]
fn wait_for_pool_jobs(stats: &LoopStats, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.pool_jobs() < n {
        assert!(
            Instant::now() < deadline,
            "the checks never reached the pool"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// How many of `socks` have no answer to read yet.
fn unanswered(socks: &[TcpStream]) -> usize {
    socks
        .iter()
        .filter(|sock| {
            sock.set_nonblocking(true).unwrap();
            let waiting = matches!(sock.peek(&mut [0u8; 1]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            sock.set_nonblocking(false).unwrap();
            waiting
        })
        .count()
}

/// Each of `socks` is answered 401 (a wrong password), however long its check takes: a
/// cost-12 check can take a second on a loaded machine, so the read waits up to 120 s.
#[track_caller]
fn assert_each_401(socks: &mut [TcpStream]) {
    for sock in socks {
        sock.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let bytes = read_to_close(sock);
        assert_eq!(parse_responses(&bytes, &[false])[0].code, 401);
    }
}

#[test]
fn a_full_queue_is_answered_503_with_retry_after_at_once() {
    let dir = TempDir::new("auth-full");
    // Cost 12: each check takes ~250 ms, so the pool stays full while the test looks.
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 12);
    let (server, stats) = protected(&users, |config| {
        config.auth_workers = 1;
        config.auth_queue = 1;
    });
    // Different wrong passwords: nothing can come from the cache.
    let mut pending: Vec<_> = (0..2)
        .map(|i| send(server.addr, "/docs/", &basic("alice", &format!("x{i}"))))
        .collect();
    // Wait until both are in the pool (one running, one waiting).
    wait_for_pool_jobs(&stats, 2);
    let res = get_with_auth(server.addr, "/docs/", Some(&basic("alice", "x3")));
    assert_eq!(res.code, 503);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(stats.pool_rejected(), 1);
    // "At once": the check waiting in the queue is not done yet (it needs the running one
    // to finish first, then its own ~250 ms), so the 503 did not wait for a place.
    let waiting = unanswered(&pending);
    assert!(
        waiting >= 1,
        "the 503 came after the checks it was refused behind"
    );
    assert_each_401(&mut pending);
    // Room again.
    assert_eq!(
        get_with_auth(server.addr, "/docs/", Some(&basic("alice", "pw"))).code,
        200
    );
}

#[test]
fn static_requests_are_answered_while_sixteen_cost_12_checks_run() {
    let dir = TempDir::new("auth-busy");
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 12);
    let (server, stats) = protected(&users, |config| config.auth_workers = 2);
    let mut checks: Vec<_> = (0..16)
        .map(|i| send(server.addr, "/docs/", &basic("alice", &format!("wrong{i}"))))
        .collect();
    wait_for_pool_jobs(&stats, 16);
    // 16 checks at ~250 ms on 2 threads: about 2 s of work. Static requests meanwhile must
    // not wait for it. The bound is generous (a loaded CI machine); the benchmark
    // (docs/performance.md) has the real figure.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let res = get_with_auth(server.addr, "/style.css", None);
        slowest = slowest.max(started.elapsed());
        assert_eq!(res.code, 200);
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a static request took {slowest:?}"
    );
    // ... while the checks were still running: some have not been answered yet.
    assert!(
        unanswered(&checks) > 0,
        "every check was done before the static requests: nothing shown"
    );
    // Every check ends with its 401.
    assert_each_401(&mut checks);
    assert_eq!(stats.pool_rejected(), 0);
}

#[test]
fn the_example_refuses_a_bad_users_file_naming_file_and_line() {
    let Some(bin) = example_binary_or_skip() else {
        return;
    };
    let dir = TempDir::new("auth-bad-file");
    // Line 1 a comment, line 2 a good bcrypt entry, line 3 SHA-1 (`htpasswd -s`).
    let good = htpasswd(&dir, "users", &[("alice", "pw")], 4);
    let mut text = std::fs::read_to_string(&good).unwrap();
    text.push_str("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
    let bad = dir.write("users", text.as_bytes());
    for args in [
        vec![
            "--port".to_owned(),
            "0".to_owned(),
            "--users".to_owned(),
            bad.display().to_string(),
        ],
        vec![
            "--port".to_owned(),
            "0".to_owned(),
            "--auth".to_owned(),
            format!("/docs/={}", bad.display()),
        ],
    ] {
        let out = run_bounded(
            Duration::from_secs(30),
            bin.to_str().unwrap(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("{}:3: bob: not a bcrypt hash", bad.display())),
            "{stderr}"
        );
    }
}

#[test]
fn private_is_added_to_what_cache_says() {
    use mio_selectors::http::{CachePolicy, Site};
    let dir = TempDir::new("auth-cache-policy");
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 4);
    let mut access = AccessControl::default();
    access
        .add_spec(&format!("/docs/={}", users.display()))
        .expect("--auth");
    let rules = vec!["/docs/=60".parse().unwrap(), "/=30".parse().unwrap()];
    let site = Site::new(bundled_site())
        .unwrap()
        .with_cache_policy(CachePolicy::new(rules));
    let server = serve_site(
        site,
        ServerConfig {
            access: Some(Arc::new(Mutex::new(access))),
            ..ServerConfig::default()
        },
    );
    let res = get_with_auth(server.addr, "/docs/index.html", Some(&basic("alice", "pw")));
    assert_eq!(res.code, 200);
    assert_eq!(res.header("cache-control"), Some("private, max-age=60"));
    // Unprotected: --cache alone.
    let open = get_with_auth(server.addr, "/index.html", None);
    assert_eq!(open.header("cache-control"), Some("max-age=30"));
}

#[test]
fn a_protected_directory_is_read_off_the_loop_and_its_answer_stays_private() {
    // With the credentials cached, a protected listing or negotiation is read on the
    // directory thread like any other (a pool job after the one bcrypt check), and the
    // answer is still marked private when it comes back.
    let dir = TempDir::new("auth-directory");
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 4);
    let root = TempDir::new("auth-directory-root");
    root.write("priv/a.txt", b"a\n");
    root.write("priv/sub/b.txt", b"b\n");
    root.write("priv/page.en.html", b"<p>en</p>\n");
    let mut access = AccessControl::default();
    access
        .add_spec(&format!("/priv/={}", users.display()))
        .expect("--auth");
    let config = ServerConfig {
        access: Some(Arc::new(Mutex::new(access))),
        ..ServerConfig::default()
    };
    let (server, stats) = serve_with_stats(root.path(), config);
    let creds = basic("alice", "pw");
    let res = get_with_auth(server.addr, "/priv/a.txt", Some(&creds));
    assert_eq!((res.code, res.text()), (200, "a\n"));
    assert_eq!(stats.pool_jobs(), 1, "the password check");
    let listing = get_with_auth(server.addr, "/priv/sub/", Some(&creds));
    assert_eq!(listing.code, 200);
    assert!(
        listing.text().contains("href=\"b.txt\""),
        "{}",
        listing.text()
    );
    assert_eq!(listing.header("cache-control"), Some("private"));
    assert_eq!(stats.pool_jobs(), 2, "the listing, read off the loop");
    let page = get_with_auth(server.addr, "/priv/page", Some(&creds));
    assert_eq!((page.code, page.text()), (200, "<p>en</p>\n"));
    assert_eq!(page.header("cache-control"), Some("private"));
    assert_eq!(stats.pool_jobs(), 3, "the variant index, read off the loop");
    // Without credentials: 401, and no directory is read.
    assert_eq!(get_with_auth(server.addr, "/priv/sub/", None).code, 401);
    assert_eq!(stats.pool_jobs(), 3);
}
