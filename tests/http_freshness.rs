//! Freshness (`--cache PREFIX=SECONDS`, RFC 9111) over real sockets: `Cache-Control` and
//! `Expires` on 200, 206 and 304 under a prefix, the longest prefix winning, `no-cache`
//! for 0, nothing outside; and the example's usage errors for malformed flags.

mod common;

use std::time::Duration;

use common::http::*;
use mio_selectors::http::{CachePolicy, ServerConfig, Site};

fn server() -> (TempDir, Running) {
    let root = TempDir::new("http-freshness");
    root.write("index.html", b"<p>home</p>\n");
    root.write("static/app.css", b"body {}\n");
    root.write("static/live/feed.json", b"{}\n");
    root.write("other/page.html", b"<p>other</p>\n");
    let rules = ["/static/=3600", "/static/live/=0", "/index.html=60"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let site = Site::new(root.path())
        .unwrap()
        .with_cache_policy(CachePolicy::new(rules));
    let server = serve_site(site, ServerConfig::default());
    (root, server)
}

fn date_of(res: &Parsed, name: &str) -> std::time::SystemTime {
    httpdate::parse_http_date(res.header(name).unwrap()).unwrap()
}

#[test]
fn max_age_and_expires_under_a_prefix_on_200_206_and_304() {
    let (_root, server) = server();
    let res = get(server.addr, "/static/app.css", &[]);
    assert_eq!(res.code, 200);
    assert_eq!(res.header("cache-control"), Some("max-age=3600"));
    assert_eq!(
        date_of(&res, "expires"),
        date_of(&res, "date") + Duration::from_secs(3600),
        "Expires is Date + max-age"
    );
    let tag = res.header("etag").unwrap().to_owned();
    let part = get(server.addr, "/static/app.css", &[("Range", "bytes=0-1")]);
    assert_eq!(part.code, 206);
    assert_eq!(part.header("cache-control"), Some("max-age=3600"));
    assert!(part.header("expires").is_some());
    let not_modified = get(server.addr, "/static/app.css", &[("If-None-Match", &tag)]);
    assert_eq!(not_modified.code, 304);
    assert_eq!(not_modified.header("cache-control"), Some("max-age=3600"));
    assert!(not_modified.header("expires").is_some());
    // HEAD too.
    let headed = head(server.addr, "/static/app.css", &[]);
    assert_eq!(headed.header("cache-control"), Some("max-age=3600"));
}

#[test]
fn the_longest_prefix_wins_zero_is_no_cache_and_outside_nothing_is_sent() {
    let (_root, server) = server();
    let live = get(server.addr, "/static/live/feed.json", &[]);
    assert_eq!(live.header("cache-control"), Some("no-cache"));
    assert_eq!(live.header("expires"), None);
    let home = get(server.addr, "/index.html", &[]);
    assert_eq!(home.header("cache-control"), Some("max-age=60"));
    // `/` is served as /index.html, but the prefix is compared with the path asked for.
    let root_page = get(server.addr, "/", &[]);
    assert_eq!(root_page.header("cache-control"), None);
    for path in ["/other/page.html", "/other/"] {
        let res = get(server.addr, path, &[]);
        assert_eq!(res.header("cache-control"), None, "{path}");
        assert_eq!(res.header("expires"), None, "{path}");
    }
    // The prefix is compared with the decoded path.
    let encoded = get(server.addr, "/%73tatic/app.css", &[]);
    assert_eq!(encoded.header("cache-control"), Some("max-age=3600"));
    // Errors carry no freshness: only 200, 206 and 304 do.
    let missing = get(server.addr, "/static/nope.css", &[]);
    assert_eq!((missing.code, missing.header("cache-control")), (404, None));
    for (name, value, code) in [
        ("Range", "bytes=999999-", 416),
        ("If-Match", "\"other\"", 412),
        ("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT", 412),
    ] {
        let res = get(server.addr, "/static/app.css", &[(name, value)]);
        assert_eq!(res.code, code, "{name}: {value}");
        assert_eq!(res.header("cache-control"), None, "{code}");
        assert_eq!(res.header("expires"), None, "{code}");
    }
}

#[test]
fn the_example_refuses_malformed_cache_flags_with_status_2() {
    let Some(bin) = example_binary_or_skip() else {
        return;
    };
    for (args, needle) in [
        (&["--cache", "/static"][..], "--cache"),
        (&["--cache", "static/=5"], "--cache"),
        (&["--cache", "/a=-1"], "--cache"),
        (&["--cache", "/a=1.5"], "--cache"),
        (&["--cache", "/a=99999999999"], "--cache"),
        (&["--languages", "en,,de"], "--languages"),
    ] {
        let out = run_bounded(Duration::from_secs(20), bin.to_str().unwrap(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
