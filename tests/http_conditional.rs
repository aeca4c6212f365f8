//! Validators and conditional requests (RFC 9110 §8.8, §13) over real sockets: the strong
//! `ETag` of every file response, and `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since` in §13.2.2's order; then `curl -z` as a real client.

mod common;

use std::time::Duration;

use common::http::*;
use mio_selectors::http::{CachePolicy, ServerConfig, Site};

const LATER: &str = "Wed, 01 Jan 2200 00:00:00 GMT";
const EARLIER: &str = "Sat, 01 Jan 2000 00:00:00 GMT";

/// A root with a small file (served from the memory cache) and a large one (sendfile).
fn root() -> (TempDir, Vec<u8>) {
    let root = TempDir::new("http-conditional");
    root.write("small.txt", b"hello, validators\n");
    let large = pattern(200 * 1024);
    root.write("large.bin", &large);
    touch(
        &root.path().join("small.txt"),
        "2020-02-02 12:00:00.123456789",
    );
    touch(&root.path().join("large.bin"), "2020-02-02 12:00:00.5");
    (root, large)
}

#[test]
fn every_file_response_has_a_strong_quoted_etag_the_same_for_get_and_head() {
    let (root, _) = root();
    let server = serve(root.path(), ServerConfig::default());
    for path in ["/small.txt", "/large.bin"] {
        let got = get(server.addr, path, &[]);
        let again = get(server.addr, path, &[]); // the second small one is a cache hit
        let headed = head(server.addr, path, &[]);
        let tag = got.header("etag").expect("ETag").to_owned();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
            "{tag}"
        );
        assert!(!tag.starts_with("W/"), "weak: {tag}");
        assert_eq!(again.header("etag"), Some(tag.as_str()), "{path}");
        assert_eq!(headed.header("etag"), Some(tag.as_str()), "{path}");
        assert_eq!(got.header("accept-ranges"), Some("bytes"));
        // 304 and 206 carry it too.
        let not_modified = get(server.addr, path, &[("If-None-Match", &tag)]);
        assert_eq!(not_modified.code, 304);
        assert_eq!(not_modified.header("etag"), Some(tag.as_str()));
        let part = get(server.addr, path, &[("Range", "bytes=0-3")]);
        assert_eq!(part.code, 206);
        assert_eq!(part.header("etag"), Some(tag.as_str()));
    }
}

#[test]
fn the_etag_changes_with_nanoseconds_size_and_inode() {
    let (root, _) = root();
    let server = serve(root.path(), ServerConfig::default());
    let path = root.path().join("small.txt");
    let tag = |server: &Running| {
        get(server.addr, "/small.txt", &[])
            .header("etag")
            .unwrap()
            .to_owned()
    };
    let first = tag(&server);
    // The same second, another nanosecond: nginx's seconds-based tag would not change.
    touch(&path, "2020-02-02 12:00:00.123456790");
    let second = tag(&server);
    assert_ne!(first, second);
    // Another size, the same time.
    std::fs::write(&path, b"hello, validators!\n").unwrap();
    touch(&path, "2020-02-02 12:00:00.123456790");
    let third = tag(&server);
    assert_ne!(second, third);
    // Same bytes and time, another inode (replaced by rename, as editors and rsync do).
    let tmp = root.path().join("small.tmp");
    std::fs::copy(&path, &tmp).unwrap();
    touch(&tmp, "2020-02-02 12:00:00.123456790");
    std::fs::rename(&tmp, &path).unwrap();
    let fourth = tag(&server);
    assert_ne!(third, fourth);
}

#[test]
fn if_none_match_gives_304_with_validators_freshness_and_no_body() {
    let (root, _) = root();
    let site = Site::new(root.path())
        .unwrap()
        .with_cache_policy(CachePolicy::new(vec!["/=60".parse().unwrap()]));
    let server = serve_site(site, ServerConfig::default());
    for path in ["/small.txt", "/large.bin"] {
        let tag = get(server.addr, path, &[])
            .header("etag")
            .unwrap()
            .to_owned();
        let weak = format!("W/{tag}");
        for value in [
            tag.as_str(),
            weak.as_str(),
            "*",
            &format!("\"nope\", {tag}"),
        ] {
            for method in ["GET", "HEAD"] {
                let bytes = exchange(
                    server.addr,
                    format!("{method} {path} HTTP/1.0\r\nIf-None-Match: {value}\r\n\r\n")
                        .as_bytes(),
                );
                assert!(bytes.ends_with(b"\r\n\r\n"), "a 304 has no body");
                let res = &parse_responses(&bytes, &[true])[0];
                assert_eq!(res.code, 304, "{method} {path} {value}");
                assert_eq!(res.header("etag"), Some(tag.as_str()));
                assert!(res.header("date").is_some());
                assert_eq!(res.header("cache-control"), Some("max-age=60"));
                assert!(res.header("expires").is_some());
                assert!(res.header("last-modified").is_some());
                assert_eq!(res.header("content-type"), None);
                assert_eq!(res.header("content-length"), None);
            }
        }
        // Another tag: 200, whatever If-Modified-Since says (it is ignored beside INM).
        let res = get(
            server.addr,
            path,
            &[("If-None-Match", "\"nope\""), ("If-Modified-Since", LATER)],
        );
        assert_eq!(res.code, 200);
    }
}

#[test]
fn if_modified_since_follows_the_rfc_not_nginx_exact() {
    let (root, _) = root();
    let server = serve(root.path(), ServerConfig::default());
    let last_modified = get(server.addr, "/small.txt", &[])
        .header("last-modified")
        .unwrap()
        .to_owned();
    assert_eq!(last_modified, "Sun, 02 Feb 2020 12:00:00 GMT");
    for (since, code) in [
        (last_modified.as_str(), 304),
        (LATER, 304), // nginx (if_modified_since exact) answers 200 here
        (EARLIER, 200),
        ("yesterday", 200), // not a date: ignored
    ] {
        let res = get(server.addr, "/small.txt", &[("If-Modified-Since", since)]);
        assert_eq!(res.code, code, "If-Modified-Since: {since}");
    }
}

#[test]
fn if_match_and_if_unmodified_since_give_412_before_anything_else() {
    let (root, large) = root();
    let server = serve(root.path(), ServerConfig::default());
    let tag = get(server.addr, "/large.bin", &[])
        .header("etag")
        .unwrap()
        .to_owned();
    let weak = format!("W/{tag}");
    for (headers, code) in [
        (vec![("If-Match", tag.as_str())], 200),
        (vec![("If-Match", "*")], 200),
        (vec![("If-Match", &*format!("\"x\", {tag}"))], 200),
        (vec![("If-Match", "\"x\"")], 412),
        (vec![("If-Match", weak.as_str())], 412), // strong comparison
        (vec![("If-Unmodified-Since", LATER)], 200),
        (vec![("If-Unmodified-Since", EARLIER)], 412),
        (vec![("If-Unmodified-Since", "junk")], 200),
        // If-Match decides alone: a failing If-Unmodified-Since beside it is ignored
        // (nginx checks both and answers 412).
        (
            vec![("If-Match", tag.as_str()), ("If-Unmodified-Since", EARLIER)],
            200,
        ),
        // 412 comes before 304 and before ranges.
        (
            vec![("If-Match", "\"x\""), ("If-None-Match", tag.as_str())],
            412,
        ),
        (vec![("If-Match", "\"x\""), ("Range", "bytes=0-1")], 412),
        // Passing If-Match, then If-None-Match: 304.
        (
            vec![("If-Match", tag.as_str()), ("If-None-Match", tag.as_str())],
            304,
        ),
        (
            vec![("If-Match", tag.as_str()), ("Range", "bytes=0-1")],
            206,
        ),
    ] {
        let res = get(server.addr, "/large.bin", &headers);
        assert_eq!(res.code, code, "{headers:?}");
        if code == 200 {
            assert_eq!(res.body, large);
        }
        if code == 412 {
            assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
            assert!(res.text().contains("412 Precondition Failed"));
        }
    }
    // HEAD: the same status, no body.
    let res = head(server.addr, "/large.bin", &[("If-Match", "\"x\"")]);
    assert_eq!((res.code, res.body.len()), (412, 0));
}

#[test]
fn a_missing_file_stays_404_whatever_the_preconditions() {
    let (root, _) = root();
    let server = serve(root.path(), ServerConfig::default());
    for (name, value) in [
        ("If-Match", "*"),
        ("If-None-Match", "*"),
        ("Range", "bytes=0-1"),
    ] {
        assert_eq!(get(server.addr, "/nope.txt", &[(name, value)]).code, 404);
    }
}

#[test]
fn curl_z_revalidates_by_date() {
    if !have_tool("curl", "--version") {
        return;
    }
    let (root, _) = root();
    let server = serve(root.path(), ServerConfig::default());
    let url = server.url("/small.txt");
    let status = |args: &[&str]| {
        let mut all = vec!["-s", "-o", "/dev/null", "-w", "%{http_code}"];
        all.extend_from_slice(args);
        all.push(&url);
        let out = run_bounded(Duration::from_secs(30), "curl", &all);
        assert!(out.status.success(), "curl {args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // `curl -z DATE` sends If-Modified-Since; `-z -DATE` sends If-Unmodified-Since.
    assert_eq!(status(&["-z", "Sun, 02 Feb 2020 12:00:00 GMT"]), "304");
    assert_eq!(status(&["-z", EARLIER]), "200");
    assert_eq!(status(&["-z", &format!("-{EARLIER}")]), "412");
    assert_eq!(status(&["-z", &format!("-{LATER}")]), "200");
    // `-z FILE` takes the date from a local file's mtime: a downloaded copy touched to the
    // server's date is current.
    let copy = root.path().join("copy.txt");
    std::fs::write(&copy, b"x").unwrap();
    touch(&copy, "2020-02-02 12:00:00");
    assert_eq!(status(&["-z", copy.to_str().unwrap()]), "304");
}
