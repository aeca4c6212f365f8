//! The caching proxy (src/proxy/) over real sockets: a proxy on port 0 in this process, in
//! front of a test upstream that counts requests and answers as each test says, and the
//! crate's own HTTP server. Every cache rule is checked by what the client sees
//! (`X-Cache`, `Age`, status) and by how many requests reached the upstream.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::http::{connect, read_response, READ_TIMEOUT};
use common::proxy::{
    get, read_until, request, request_bytes, response, start_proxy, start_proxy_with, wait_for,
    Gate, Part, Reply, Upstream,
};
use mio_selectors::proxy::{AllowList, ProxyConfig, Resolve, Rule};

fn cacheable(body: &'static [u8]) -> impl Fn(&common::proxy::Seen, usize) -> Reply {
    move |_, _| response("200 OK", &[("Cache-Control", "max-age=60")], body)
}

fn config() -> ProxyConfig {
    ProxyConfig {
        upstream_timeout: Duration::from_secs(5),
        ..ProxyConfig::default()
    }
}

#[test]
fn a_fresh_hit_touches_nothing_upstream() {
    let up = Upstream::start("127.0.0.1", cacheable(b"hello"));
    let proxy = start_proxy(config());
    let first = get(proxy.addr, &up.url("/a"));
    assert_eq!((first.code, first.header("x-cache")), (200, Some("MISS")));
    assert_eq!(first.body, b"hello");
    let second = get(proxy.addr, &up.url("/a"));
    assert_eq!((second.code, second.header("x-cache")), (200, Some("HIT")));
    assert_eq!(second.body, b"hello");
    assert!(second.header("age").is_some(), "a hit says its Age");
    assert_eq!(up.count(), 1);
    assert_eq!((proxy.stats.hits(), proxy.stats.misses()), (1, 1));
    assert_eq!(proxy.stats.upstream_requests(), 1);
}

#[test]
fn head_is_answered_from_a_stored_get() {
    let up = Upstream::start("127.0.0.1", cacheable(b"0123456789"));
    let proxy = start_proxy(config());
    get(proxy.addr, &up.url("/h"));
    let head = request(proxy.addr, "HEAD", &up.url("/h"), &[]);
    assert_eq!((head.code, head.header("x-cache")), (200, Some("HIT")));
    assert_eq!(head.header("content-length"), Some("10"));
    assert!(head.body.is_empty());
    assert_eq!(up.count(), 1);
}

/// For each case: the request's headers, the response's headers, and whether a second
/// identical request is a hit (one upstream request) or not (two).
#[test]
fn what_is_stored_and_what_is_not() {
    type Fields = &'static [(&'static str, &'static str)];
    let cases: &[(&str, Fields, Fields, bool)] = &[
        ("plain", &[], &[("Cache-Control", "max-age=60")], true),
        (
            "no-store",
            &[],
            &[("Cache-Control", "no-store, max-age=60")],
            false,
        ),
        (
            "req-no-store",
            &[("Cache-Control", "no-store")],
            &[("Cache-Control", "max-age=60")],
            false,
        ),
        (
            "private",
            &[],
            &[("Cache-Control", "private, max-age=60")],
            false,
        ),
        (
            "cookie",
            &[],
            &[("Cache-Control", "max-age=60"), ("Set-Cookie", "id=1")],
            false,
        ),
        (
            "vary",
            &[],
            &[("Cache-Control", "max-age=60"), ("Vary", "User-Agent")],
            false,
        ),
        (
            "auth",
            &[("Authorization", "Basic eDp5")],
            &[("Cache-Control", "max-age=60")],
            false,
        ),
        (
            "auth-public",
            &[("Authorization", "Basic eDp5")],
            &[("Cache-Control", "public, max-age=60")],
            true,
        ),
        (
            "auth-smaxage",
            &[("Authorization", "Basic eDp5")],
            &[("Cache-Control", "s-maxage=60")],
            true,
        ),
        (
            "auth-mustrev",
            &[("Authorization", "Basic eDp5")],
            &[("Cache-Control", "must-revalidate, max-age=60")],
            true,
        ),
        ("nothing", &[], &[], false),
        (
            "expires",
            &[],
            &[("Date", "DATE"), ("Expires", "IN60")],
            true,
        ),
        ("expired", &[], &[("Expires", "0")], false),
    ];
    for &(name, req, resp, hit) in cases {
        let resp: Vec<(String, String)> = resp
            .iter()
            .map(|(n, v)| {
                let v = match *v {
                    "DATE" => httpdate::fmt_http_date(SystemTime::now()),
                    "IN60" => httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60)),
                    v => v.to_owned(),
                };
                (n.to_string(), v)
            })
            .collect();
        let up = Upstream::start("127.0.0.1", move |_, _| {
            let headers: Vec<(&str, &str)> =
                resp.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            response("200 OK", &headers, b"body")
        });
        let proxy = start_proxy(config());
        let url = up.url(&format!("/{name}"));
        let first = request(proxy.addr, "GET", &url, req);
        let second = request(proxy.addr, "GET", &url, req);
        assert_eq!(first.header("x-cache"), Some("MISS"), "{name}");
        let expected = if hit { "HIT" } else { "MISS" };
        assert_eq!(second.header("x-cache"), Some(expected), "{name}");
        assert_eq!(
            up.count(),
            if hit { 1 } else { 2 },
            "{name}: upstream requests"
        );
        assert_eq!(second.body, b"body", "{name}");
    }
}

#[test]
fn only_complete_200_and_301_to_get_are_stored() {
    let up = Upstream::start("127.0.0.1", |seen, _| match seen.path() {
        "/moved" => response(
            "301 Moved Permanently",
            &[("Location", "/x"), ("Cache-Control", "max-age=60")],
            b"",
        ),
        _ => response("404 Not Found", &[("Cache-Control", "max-age=60")], b"no"),
    });
    let proxy = start_proxy(config());
    for _ in 0..2 {
        assert_eq!(get(proxy.addr, &up.url("/moved")).code, 301);
        assert_eq!(get(proxy.addr, &up.url("/missing")).code, 404);
    }
    assert_eq!(
        get(proxy.addr, &up.url("/moved")).header("x-cache"),
        Some("HIT")
    );
    assert_eq!(up.count(), 3, "the 301 once, the 404 twice");
}

#[test]
fn vary_accept_encoding_is_served_only_to_the_same_encoding() {
    let up = Upstream::start("127.0.0.1", |_, _| {
        response(
            "200 OK",
            &[("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")],
            b"v",
        )
    });
    let proxy = start_proxy(config());
    let gzip = [("Accept-Encoding", "gzip")];
    request(proxy.addr, "GET", &up.url("/v"), &gzip);
    let same = request(proxy.addr, "GET", &up.url("/v"), &gzip);
    assert_eq!(same.header("x-cache"), Some("HIT"));
    let other = request(
        proxy.addr,
        "GET",
        &up.url("/v"),
        &[("Accept-Encoding", "br")],
    );
    assert_eq!(other.header("x-cache"), Some("MISS"));
    assert_eq!(up.count(), 2);
}

/// An upstream that answers conditional requests: 304 when `If-None-Match` names its
/// ETag, else 200 with `extra` headers.
fn validating(
    extra: &'static [(&'static str, &'static str)],
) -> impl Fn(&common::proxy::Seen, usize) -> Reply {
    move |seen, _| {
        if seen.header("if-none-match") == Some("\"v1\"") {
            response("304 Not Modified", &[("ETag", "\"v1\"")], b"")
        } else {
            let mut headers = vec![("ETag", "\"v1\"")];
            headers.extend_from_slice(extra);
            response("200 OK", &headers, b"validated body")
        }
    }
}

#[test]
fn a_validator_alone_is_stored_and_revalidated_every_time() {
    let up = Upstream::start("127.0.0.1", validating(&[]));
    let proxy = start_proxy(config());
    assert_eq!(
        get(proxy.addr, &up.url("/e")).header("x-cache"),
        Some("MISS")
    );
    for _ in 0..2 {
        let again = get(proxy.addr, &up.url("/e"));
        assert_eq!(
            (again.code, again.header("x-cache")),
            (200, Some("REVALIDATED"))
        );
        assert_eq!(again.body, b"validated body");
    }
    let seen = up.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(proxy.stats.revalidated(), 2);
}

#[test]
fn no_cache_in_the_response_means_revalidate_every_time() {
    let up = Upstream::start(
        "127.0.0.1",
        validating(&[("Cache-Control", "no-cache, max-age=60")]),
    );
    let proxy = start_proxy(config());
    get(proxy.addr, &up.url("/nc"));
    assert_eq!(
        get(proxy.addr, &up.url("/nc")).header("x-cache"),
        Some("REVALIDATED")
    );
    assert_eq!(up.count(), 2);
}

#[test]
fn the_client_can_force_revalidation() {
    let up = Upstream::start("127.0.0.1", validating(&[("Cache-Control", "max-age=60")]));
    let proxy = start_proxy(config());
    get(proxy.addr, &up.url("/f"));
    assert_eq!(
        get(proxy.addr, &up.url("/f")).header("x-cache"),
        Some("HIT")
    );
    let forcing: [&[(&str, &str)]; 3] = [
        &[("Cache-Control", "no-cache")],
        &[("Cache-Control", "max-age=0")],
        &[("Pragma", "no-cache")],
    ];
    for (i, headers) in forcing.iter().enumerate() {
        let r = request(proxy.addr, "GET", &up.url("/f"), headers);
        assert_eq!(r.header("x-cache"), Some("REVALIDATED"), "{headers:?}");
        assert_eq!(up.count(), 2 + i);
    }
}

#[test]
fn a_304_refreshes_the_stored_headers_and_freshness() {
    let up = Upstream::start("127.0.0.1", |seen, _| {
        if seen.header("if-none-match").is_some() {
            response(
                "304 Not Modified",
                &[
                    ("ETag", "\"v1\""),
                    ("Cache-Control", "max-age=60"),
                    ("X-Version", "2"),
                ],
                b"",
            )
        } else {
            response("200 OK", &[("ETag", "\"v1\""), ("X-Version", "1")], b"same")
        }
    });
    let proxy = start_proxy(config());
    get(proxy.addr, &up.url("/r"));
    let revalidated = get(proxy.addr, &up.url("/r"));
    assert_eq!(revalidated.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(revalidated.header("x-version"), Some("2"));
    assert_eq!(revalidated.header("content-length"), Some("4"));
    let hit = get(proxy.addr, &up.url("/r"));
    assert_eq!(
        (hit.header("x-cache"), hit.body.as_slice()),
        (Some("HIT"), &b"same"[..])
    );
    assert_eq!(up.count(), 2);
}

/// A 304's fields become the stored response's: one that sets a cookie (meant for the
/// client that asked) or says `private` must not leave an entry that others are served.
#[test]
fn a_304_that_makes_the_entry_unstorable_drops_it() {
    for (name, value) in [
        ("Set-Cookie", "id=secret"),
        ("Cache-Control", "private, max-age=60"),
    ] {
        let up = Upstream::start("127.0.0.1", move |seen, nth| {
            if seen.header("if-none-match").is_some() && nth == 1 {
                // Fresh for a minute, were it kept, and carrying what it must not share.
                let mut fields = vec![("ETag", "\"v1\""), (name, value)];
                if name != "Cache-Control" {
                    fields.push(("Cache-Control", "max-age=60"));
                }
                response("304 Not Modified", &fields, b"")
            } else {
                response("200 OK", &[("ETag", "\"v1\"")], b"plain")
            }
        });
        let proxy = start_proxy(config());
        get(proxy.addr, &up.url("/cookie"));
        let asker = get(proxy.addr, &up.url("/cookie"));
        assert_eq!(asker.header("x-cache"), Some("REVALIDATED"), "{name}");
        assert_eq!(
            asker.header(&name.to_ascii_lowercase()),
            Some(value),
            "{name}"
        );
        assert_eq!(asker.body, b"plain");
        let other = get(proxy.addr, &up.url("/cookie"));
        assert_eq!(
            (other.header("x-cache"), other.header("set-cookie")),
            (Some("MISS"), None),
            "{name}: another client is not served the 304's fields"
        );
        assert_eq!(other.body, b"plain");
        assert_eq!(up.count(), 3, "{name}");
    }
}

/// RFC 9111 §4.3.4: a 304 whose ETag is not the stored one's is about another
/// representation; the stored body must not be served under the new ETag. The proxy
/// drops the entry and asks again without conditions.
#[test]
fn a_304_for_another_etag_is_not_applied() {
    let up = Upstream::start("127.0.0.1", |seen, nth| {
        if seen.header("if-none-match").is_some() {
            response("304 Not Modified", &[("ETag", "\"v2\"")], b"")
        } else if nth == 0 {
            response("200 OK", &[("ETag", "\"v1\"")], b"old")
        } else {
            response("200 OK", &[("ETag", "\"v2\"")], b"new")
        }
    });
    let proxy = start_proxy(config());
    assert_eq!(get(proxy.addr, &up.url("/etag")).body, b"old");
    let again = get(proxy.addr, &up.url("/etag"));
    assert_eq!(
        (
            again.header("etag"),
            again.body.as_slice(),
            again.header("x-cache")
        ),
        (Some("\"v2\""), &b"new"[..], Some("MISS"))
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        seen[2].header("if-none-match"),
        None,
        "asked again without conditions"
    );
}

#[test]
fn a_200_to_a_revalidation_replaces_the_entry() {
    let up = Upstream::start("127.0.0.1", |_, nth| {
        let etag = format!("\"v{nth}\"");
        let body = format!("version {nth}");
        response(
            "200 OK",
            &[("ETag", &etag), ("Cache-Control", "max-age=60")],
            body.as_bytes(),
        )
    });
    let proxy = start_proxy(config());
    assert_eq!(get(proxy.addr, &up.url("/x")).body, b"version 0");
    let forced = request(
        proxy.addr,
        "GET",
        &up.url("/x"),
        &[("Cache-Control", "no-cache")],
    );
    assert_eq!(
        (forced.header("x-cache"), forced.body.as_slice()),
        (Some("MISS"), &b"version 1"[..])
    );
    assert_eq!(up.seen()[1].header("if-none-match"), Some("\"v0\""));
    assert_eq!(get(proxy.addr, &up.url("/x")).body, b"version 1");
    assert_eq!(up.count(), 2);
}

#[test]
fn a_clients_own_conditional_on_a_fresh_entry_gets_304_from_the_proxy() {
    let up = Upstream::start("127.0.0.1", |_, _| {
        response(
            "200 OK",
            &[("ETag", "\"v1\""), ("Cache-Control", "max-age=60")],
            b"x",
        )
    });
    let proxy = start_proxy(config());
    get(proxy.addr, &up.url("/c"));
    let bytes = request_bytes(
        proxy.addr,
        "GET",
        &up.url("/c"),
        &[("If-None-Match", "\"v1\"")],
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.0 304 Not Modified\r\n"), "{text}");
    assert!(
        text.contains("\r\nETag: \"v1\"\r\n") && text.contains("\r\nX-Cache: HIT\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\n"), "no body: {text}");
    let other = request(
        proxy.addr,
        "GET",
        &up.url("/c"),
        &[("If-None-Match", "\"v0\"")],
    );
    assert_eq!((other.code, other.body.as_slice()), (200, &b"x"[..]));
    assert_eq!(up.count(), 1);
}

#[test]
fn age_counts_the_upstreams_date_and_age() {
    let old = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
    let up = Upstream::start("127.0.0.1", move |seen, _| match seen.path() {
        "/dated" => response(
            "200 OK",
            &[("Date", &old), ("Cache-Control", "max-age=600")],
            b"d",
        ),
        // Older than its lifetime on arrival: stale at once, never a hit.
        _ => response(
            "200 OK",
            &[("Age", "100"), ("Cache-Control", "max-age=60")],
            b"s",
        ),
    });
    let proxy = start_proxy(config());
    get(proxy.addr, &up.url("/dated"));
    let hit = get(proxy.addr, &up.url("/dated"));
    let age: u64 = hit.header("age").unwrap().parse().unwrap();
    assert!((30..=40).contains(&age), "apparent age from Date: {age}");
    get(proxy.addr, &up.url("/stale"));
    let again = get(proxy.addr, &up.url("/stale"));
    assert_eq!(again.header("x-cache"), Some("MISS"));
    assert_eq!(up.count(), 3);
}

#[test]
fn least_recently_used_is_evicted_first() {
    let up = Upstream::start("127.0.0.1", |_, _| {
        response("200 OK", &[("Cache-Control", "max-age=60")], &[b'z'; 100])
    });
    let proxy = start_proxy(ProxyConfig {
        cache_bytes: 250,
        ..config()
    });
    get(proxy.addr, &up.url("/a"));
    get(proxy.addr, &up.url("/b"));
    assert_eq!(
        get(proxy.addr, &up.url("/a")).header("x-cache"),
        Some("HIT")
    ); // a is newer now
    get(proxy.addr, &up.url("/c")); // 300 > 250: b, the least recently used, goes
    assert_eq!(up.count(), 3);
    assert_eq!(
        get(proxy.addr, &up.url("/a")).header("x-cache"),
        Some("HIT")
    );
    assert_eq!(
        get(proxy.addr, &up.url("/c")).header("x-cache"),
        Some("HIT")
    );
    assert_eq!(
        get(proxy.addr, &up.url("/b")).header("x-cache"),
        Some("MISS")
    );
    assert_eq!(up.count(), 4);
}

#[test]
fn objects_over_max_object_are_relayed_not_stored() {
    let up = Upstream::start("127.0.0.1", |seen, _| {
        let body = vec![b'm'; 2000];
        if seen.path() == "/close" {
            // Delimited by close: the size is learnt on the way.
            let mut raw = b"HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\n\r\n".to_vec();
            raw.extend_from_slice(&body);
            Reply::Raw(raw)
        } else {
            response("200 OK", &[("Cache-Control", "max-age=60")], &body)
        }
    });
    let proxy = start_proxy(ProxyConfig {
        max_object: 1000,
        ..config()
    });
    for path in ["/len", "/close"] {
        for _ in 0..2 {
            let bytes = request_bytes(proxy.addr, "GET", &up.url(path), &[]);
            let text = String::from_utf8_lossy(&bytes);
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("X-Cache: MISS"), "{path}: {head}");
            assert_eq!(body.len(), 2000, "{path}");
        }
    }
    assert_eq!(up.count(), 4);
}

#[test]
fn hop_by_hop_fields_are_dropped_and_via_is_appended() {
    let up = Upstream::start("127.0.0.1", |_, _| {
        response(
            "200 OK",
            &[
                ("Connection", "X-Hop"),
                ("X-Hop", "1"),
                ("Keep-Alive", "timeout=5"),
                ("Via", "1.0 origin-cache"),
                ("X-End", "2"),
            ],
            b"ok",
        )
    });
    let proxy = start_proxy(config());
    let mut sock = connect(proxy.addr);
    write!(
        sock,
        "GET {} HTTP/1.1\r\nHost: elsewhere.example\r\nProxy-Connection: keep-alive\r\n\
         Connection: close, X-Secret\r\nX-Secret: s\r\nTE: trailers\r\nUpgrade: h2c\r\n\
         Proxy-Authorization: Basic eDp5\r\nX-Keep: k\r\n\r\n",
        up.url("/hop?q=1")
    )
    .unwrap();
    let reply = common::http::read_to_close(&mut sock);
    let parsed = common::http::parse_responses(&reply, &[false]).remove(0);
    let seen = &up.seen()[0];
    assert_eq!(seen.line(), "GET /hop?q=1 HTTP/1.0");
    assert_eq!(seen.header("host"), Some(up.addr.to_string().as_str()));
    for hop in [
        "proxy-connection",
        "x-secret",
        "te",
        "upgrade",
        "proxy-authorization",
        "keep-alive",
    ] {
        assert_eq!(seen.header(hop), None, "{hop} reached the upstream");
    }
    assert_eq!(seen.header("x-keep"), Some("k"));
    assert_eq!(seen.header("via"), Some("1.1 mio-proxy"));
    assert_eq!(seen.header("connection"), Some("close"));
    assert_eq!(parsed.header("x-hop"), None);
    assert_eq!(parsed.header("keep-alive"), None);
    assert_eq!(parsed.header("x-end"), Some("2"));
    // The upstream sent no Date: the proxy adds the time the response arrived.
    assert!(parsed
        .header("date")
        .is_some_and(|d| httpdate::parse_http_date(d).is_ok()));
    assert_eq!(
        parsed.header("via"),
        Some("1.0 origin-cache, 1.1 mio-proxy")
    );
    assert_eq!(parsed.header("connection"), Some("close"));
}

#[test]
fn requests_a_proxy_cannot_relay_are_refused() {
    let proxy = start_proxy(config());
    let cases = [
        ("GET /index.html HTTP/1.0\r\n\r\n", 400),
        ("GET https://127.0.0.1/ HTTP/1.0\r\n\r\n", 400),
        ("GET ftp://127.0.0.1/ HTTP/1.0\r\n\r\n", 400),
        (
            "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n",
            501,
        ),
        ("POST http://127.0.0.1/ HTTP/1.0\r\n\r\n", 405),
        (
            "POST http://127.0.0.1/ HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
            413,
        ),
        ("GET http://127.0.0.1/ HTTP/2.0\r\n\r\n", 505),
        ("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03\x03\r\n\r\n", 400),
        ("GET http://10.0.0.1/ HTTP/1.0\r\n\r\n", 403),
        ("GET http://example.com/ HTTP/1.0\r\n\r\n", 403),
    ];
    for (raw, status) in cases {
        let r = common::http::get_one(proxy.addr, raw);
        assert_eq!(r.code, status, "{raw:?}");
        assert_eq!(r.header("x-cache"), Some("MISS"), "{raw:?}");
    }
    // A URL naming the proxy itself reaches it in origin form: refused there, no loop.
    let looped = get(proxy.addr, &format!("http://{}/", proxy.addr));
    assert_eq!(looped.code, 400);
    // A request that says it passed through this proxy already is a loop.
    let via = request(
        proxy.addr,
        "GET",
        "http://127.0.0.1/",
        &[("Via", "1.1 mio-proxy")],
    );
    assert_eq!(via.code, 403);
}

#[test]
fn the_allow_list_is_checked_before_connecting() {
    // Loopback addresses other than 127.0.0.1 stand for other hosts.
    let allowed = Upstream::start("127.0.0.2", cacheable(b"two"));
    let refused = Upstream::start("127.0.0.3", cacheable(b"three"));
    let rule = Rule::parse(&allowed.addr.to_string()).unwrap();
    let proxy = start_proxy(ProxyConfig {
        allow: AllowList::new(vec![rule]),
        ..config()
    });
    assert_eq!(get(proxy.addr, &allowed.url("/")).body, b"two");
    assert_eq!(get(proxy.addr, &refused.url("/")).code, 403);
    let other_port = format!("http://127.0.0.2:{}/", allowed.addr.port() + 1);
    assert_eq!(get(proxy.addr, &other_port).code, 403);
    assert_eq!(get(proxy.addr, "http://localhost/").code, 403);
    assert_eq!((allowed.count(), refused.count()), (1, 0));
}

/// A directory of fixed answers: `up.test` is 127.0.0.2, `elsewhere.test` is 127.0.0.3,
/// anything else does not exist. It counts the lookups it was asked for.
#[derive(Default)]
struct FakeDns {
    lookups: std::sync::atomic::AtomicUsize,
}

impl Resolve for FakeDns {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let ip: IpAddr = match host {
            "up.test" => "127.0.0.2".parse().unwrap(),
            "elsewhere.test" => "127.0.0.3".parse().unwrap(),
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such name",
                ))
            }
        };
        Ok(vec![SocketAddr::new(ip, port)])
    }
}

#[test]
fn names_are_checked_again_on_the_resolved_address() {
    let up2 = Upstream::start("127.0.0.2", cacheable(b"named"));
    let up3 = Upstream::start("127.0.0.3", cacheable(b"rebound"));
    let two: IpAddr = "127.0.0.2".parse().unwrap();
    let allow = AllowList::new(vec![
        Rule::name("up.test", vec![two], None),
        // The name is allowed, but only at 127.0.0.2: it resolves elsewhere.
        Rule::name("elsewhere.test", vec![two], None),
        Rule::name("nosuch.test", vec![two], None),
    ]);
    let dns = Arc::new(FakeDns::default());
    let proxy = start_proxy_with(ProxyConfig { allow, ..config() }, dns.clone());
    // A name not on the list is refused before anything is looked up.
    assert_eq!(get(proxy.addr, "http://other.test/").code, 403);
    assert_eq!(dns.lookups.load(std::sync::atomic::Ordering::SeqCst), 0);
    let ok = get(proxy.addr, &format!("http://up.test:{}/", up2.addr.port()));
    assert_eq!((ok.code, ok.body.as_slice()), (200, &b"named"[..]));
    assert_eq!(
        up2.seen()[0].header("host"),
        Some(format!("up.test:{}", up2.addr.port()).as_str())
    );
    let rebound = get(
        proxy.addr,
        &format!("http://elsewhere.test:{}/", up3.addr.port()),
    );
    assert_eq!(rebound.code, 403);
    assert_eq!(up3.count(), 0, "never connected to the other address");
    let unknown = get(proxy.addr, "http://nosuch.test/");
    assert_eq!(unknown.code, 502);
}

#[test]
fn upstream_failures_are_502_or_504_never_a_hang() {
    let up = Upstream::start("127.0.0.1", |seen, _| match seen.path() {
        "/garbage" => Reply::Raw(b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()),
        "/close" => Reply::Close,
        "/half" => Reply::Raw(b"HTTP/1.0 200 OK\r\nContent-".to_vec()),
        "/hang" => Reply::Hang,
        "/badchunks" => {
            Reply::Raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx".to_vec())
        }
        _ => response("200 OK", &[], b"fine"),
    });
    let proxy = start_proxy(config());
    for path in ["/garbage", "/close", "/half", "/badchunks"] {
        assert_eq!(get(proxy.addr, &up.url(path)).code, 502, "{path}");
    }
    // A proxy of its own with a short timeout, so the 502s above cannot turn into 504s on
    // a loaded machine.
    let impatient = start_proxy(ProxyConfig {
        upstream_timeout: Duration::from_secs(1),
        ..config()
    });
    let start = Instant::now();
    assert_eq!(get(impatient.addr, &up.url("/hang")).code, 504);
    assert!(start.elapsed() >= Duration::from_millis(900));
    wait_for(
        Duration::from_secs(5),
        "the hung upstream connection to be closed",
        || up.closed_early() == 1,
    );
    // Nothing listens on a port just freed: refused.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(get(proxy.addr, &format!("http://{free}/")).code, 502);
}

#[test]
fn an_upstream_that_closes_mid_body_cuts_the_client_off_and_nothing_is_stored() {
    let up = Upstream::start("127.0.0.1", |_, _| {
        Reply::Raw(b"HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\nonly ten b".to_vec())
    });
    let proxy = start_proxy(config());
    for _ in 0..2 {
        let bytes = request_bytes(proxy.addr, "GET", &up.url("/cut"), &[]);
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.starts_with("HTTP/1.0 200 OK") || bytes.is_empty(),
            "{text}"
        );
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        assert!(
            body.len() < 100,
            "never a complete-looking response: {text}"
        );
    }
    assert_eq!(up.count(), 2, "nothing was stored");
}

#[test]
fn a_chunked_answer_is_decoded_and_stored_with_its_length() {
    let up = Upstream::start("127.0.0.1", |seen, _| {
        let body: &[u8] = if seen.path() == "/bad" {
            b"zz\r\n"
        } else {
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        };
        let mut raw =
            b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        raw.extend_from_slice(body);
        Reply::Raw(raw)
    });
    let proxy = start_proxy(config());
    let bytes = request_bytes(proxy.addr, "GET", &up.url("/ok"), &[]);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.ends_with("\r\n\r\nhello world"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );
    let hit = get(proxy.addr, &up.url("/ok"));
    assert_eq!(
        (hit.header("x-cache"), hit.header("content-length")),
        (Some("HIT"), Some("11"))
    );
    let bad = request_bytes(proxy.addr, "GET", &up.url("/bad"), &[]);
    let bad = String::from_utf8_lossy(&bad);
    assert!(
        bad.is_empty() || bad.ends_with("\r\n\r\n"),
        "no body from bad chunks: {bad}"
    );
    request_bytes(proxy.addr, "GET", &up.url("/bad"), &[]);
    assert_eq!(up.count(), 3, "the bad one was not stored");
}

#[test]
fn keep_alive_follows_the_http_server_rules() {
    let up = Upstream::start("127.0.0.1", cacheable(b"kept"));
    let proxy = start_proxy(config());
    let mut sock = connect(proxy.addr);
    for i in 0..3 {
        write!(
            sock,
            "GET {} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            up.url("/k")
        )
        .unwrap();
        let r = read_response(&mut sock, false);
        assert_eq!(r.header("connection"), Some("keep-alive"), "response {i}");
        assert_eq!(r.body, b"kept");
    }
    // HTTP/1.1 keeps by default; pipelined requests are answered in order.
    write!(
        sock,
        "GET {0} HTTP/1.1\r\n\r\nHEAD {0} HTTP/1.1\r\nConnection: close\r\n\r\n",
        up.url("/k")
    )
    .unwrap();
    let rest = common::http::read_to_close(&mut sock);
    let both = common::http::parse_responses(&rest, &[false, true]);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].header("connection"), Some("keep-alive"));
    assert_eq!(
        (both[1].code, both[1].header("connection")),
        (200, Some("close"))
    );
    assert_eq!(up.count(), 1);
}

#[test]
fn simultaneous_misses_for_a_slow_cacheable_url_make_one_upstream_request() {
    let up = Upstream::start("127.0.0.1", |_, _| {
        Reply::After(
            Duration::from_millis(800),
            Box::new(response(
                "200 OK",
                &[("Cache-Control", "max-age=60")],
                b"collapsed",
            )),
        )
    });
    let proxy = start_proxy(config());
    let url = up.url("/slow");
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            let addr = proxy.addr;
            std::thread::spawn(move || get(addr, &url))
        })
        .collect();
    for client in clients {
        let r = client.join().unwrap();
        assert_eq!((r.code, r.body.as_slice()), (200, &b"collapsed"[..]));
    }
    assert_eq!(up.count(), 1);
    assert!(
        proxy.stats.collapsed() >= 1,
        "later requests waited for the first"
    );
    // One miss; every other request was a waiter served the stored response, or a hit.
    assert_eq!((proxy.stats.misses(), proxy.stats.hits()), (1, 19));
}

#[test]
fn waiters_go_upstream_at_once_when_the_response_cannot_be_stored() {
    // The first answer waits until the test has four requests waiting for it; then comes a
    // no-store head, and the body a while later: the first fetch is still sending while
    // the released waiters are served.
    let (open, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let up = Upstream::start("127.0.0.1", move |_, nth| {
        let delay = if nth == 0 {
            let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
            0
        } else {
            300
        };
        Reply::After(
            Duration::from_millis(delay),
            Box::new(Reply::Stream {
                head: b"HTTP/1.0 200 OK\r\nCache-Control: no-store\r\nContent-Length: 4\r\n\r\n"
                    .to_vec(),
                total: 4,
                step: 1,
                pause: Duration::from_millis(150),
            }),
        )
    });
    let proxy = start_proxy(config());
    let url = up.url("/nostore");
    let first = {
        let url = url.clone();
        let addr = proxy.addr;
        std::thread::spawn(move || get(addr, &url))
    };
    wait_for(Duration::from_secs(5), "the first request upstream", || {
        up.count() == 1
    });
    let others: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            let addr = proxy.addr;
            std::thread::spawn(move || get(addr, &url))
        })
        .collect();
    wait_for(Duration::from_secs(10), "the others to wait", || {
        proxy.stats.collapsed() == 4
    });
    open.send(()).unwrap();
    assert_eq!(first.join().unwrap().body, b"xxxx");
    for other in others {
        assert_eq!(other.join().unwrap().body, b"xxxx");
    }
    assert_eq!(up.count(), 5, "no-store: each request went upstream");
    assert!(
        up.max_active() >= 4,
        "the released waiters went at once: {}",
        up.max_active()
    );
}

#[test]
fn the_fetch_goes_on_for_waiters_when_its_client_leaves() {
    // The answer waits until the test has a waiter and the first client has gone.
    let (open, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let up = Upstream::start("127.0.0.1", move |_, _| {
        let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
        response(
            "200 OK",
            &[("Cache-Control", "max-age=60")],
            b"for the waiter",
        )
    });
    let proxy = start_proxy(config());
    let url = up.url("/left");
    let mut starter = connect(proxy.addr);
    write!(starter, "GET {url} HTTP/1.0\r\n\r\n").unwrap();
    wait_for(Duration::from_secs(5), "the fetch to start", || {
        up.count() == 1
    });
    let waiter = {
        let url = url.clone();
        let addr = proxy.addr;
        std::thread::spawn(move || get(addr, &url))
    };
    wait_for(Duration::from_secs(10), "the waiter", || {
        proxy.stats.collapsed() == 1
    });
    drop(starter);
    open.send(()).unwrap();
    let r = waiter.join().unwrap();
    assert_eq!((r.code, r.body.as_slice()), (200, &b"for the waiter"[..]));
    assert_eq!(up.count(), 1);
}

#[test]
fn a_client_that_leaves_closes_its_upstream() {
    let up = Upstream::start("127.0.0.1", |_, _| Reply::Stream {
        head: b"HTTP/1.0 200 OK\r\nCache-Control: no-store\r\n\r\n".to_vec(),
        total: 1 << 30,
        step: 16 * 1024,
        pause: Duration::from_millis(2),
    });
    let proxy = start_proxy(config());
    let mut sock = connect(proxy.addr);
    write!(sock, "GET {} HTTP/1.0\r\n\r\n", up.url("/endless")).unwrap();
    let mut buf = [0; 4096];
    sock.read_exact(&mut buf).unwrap();
    drop(sock);
    wait_for(
        Duration::from_secs(10),
        "the upstream connection to be closed",
        || up.closed_early() == 1,
    );
    wait_for(Duration::from_secs(5), "the upstream thread to end", || {
        up.active() == 0
    });
}

#[test]
fn a_slow_client_pauses_the_upstream() {
    // 64 MiB, not storable: relayed through at most the water marks' worth of memory.
    let total = 64 << 20;
    let up = Upstream::start("127.0.0.1", move |_, _| Reply::Stream {
        head: format!(
            "HTTP/1.0 200 OK\r\nCache-Control: no-store\r\nContent-Length: {total}\r\n\r\n"
        )
        .into_bytes(),
        total,
        step: 64 * 1024,
        pause: Duration::ZERO,
    });
    let mut proxy = common::ExampleServer::start("http_proxy", &["--port", "0"]);
    let addr: SocketAddr = proxy.listening_on.parse().unwrap();
    let status = format!("/proc/{}/status", proxy.child.id());
    let mut sock = connect(addr);
    write!(sock, "GET {} HTTP/1.0\r\n\r\n", up.url("/big")).unwrap();
    let mut buf = vec![0; 64 * 1024];
    let mut received = 0;
    // Read slowly at first: the proxy must stop reading the upstream, not buffer.
    let slow_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < slow_until {
        received += sock.read(&mut buf[..1024]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut peak = common::rss_of(&status);
    loop {
        let n = sock.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        received += n;
        if received % (8 << 20) < n {
            peak = peak.max(common::rss_of(&status));
        }
    }
    assert!(
        received > total,
        "head and the whole body arrived: {received}"
    );
    let hwm = vm_hwm(&status);
    eprintln!("peak RSS of http_proxy relaying 64 MiB: {} KiB", hwm / 1024);
    assert!(
        hwm < 32 << 20,
        "peak RSS {hwm} bytes (sampled {peak}) for a 64 MiB download"
    );
    proxy.signal_and_wait(libc::SIGTERM);
}

fn vm_hwm(status_path: &str) -> u64 {
    let status = std::fs::read_to_string(status_path).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[test]
fn slow_heads_and_idle_clients_are_timed_out() {
    let proxy = start_proxy(ProxyConfig {
        head_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..config()
    });
    let mut sock = connect(proxy.addr);
    sock.write_all(b"GET http://127.0.0.1/ HT").unwrap();
    let rest = common::http::read_to_close(&mut sock);
    assert!(
        String::from_utf8_lossy(&rest).starts_with("HTTP/1.0 408"),
        "{rest:?}"
    );
    let mut idle = connect(proxy.addr);
    common::http::assert_closed_within(&mut idle, READ_TIMEOUT);
}

#[test]
fn works_in_front_of_the_crates_http_server() {
    let origin = common::http::serve(&common::http::bundled_site(), Default::default());
    let proxy = start_proxy(config());
    let first = get(proxy.addr, &origin.url("/index.html"));
    assert_eq!((first.code, first.header("x-cache")), (200, Some("MISS")));
    // The server sends Last-Modified and no freshness: revalidated, answered 304 upstream.
    let second = get(proxy.addr, &origin.url("/index.html"));
    assert_eq!(
        (second.code, second.header("x-cache")),
        (200, Some("REVALIDATED"))
    );
    assert_eq!(first.body, second.body);
}

#[test]
fn curl_uses_it() {
    if !common::http::have_tool("curl", "--version") {
        return;
    }
    let up = Upstream::start("127.0.0.1", cacheable(b"from curl"));
    let proxy = start_proxy(config());
    let proxy_url = format!("http://{}", proxy.addr);
    for expected in ["MISS", "HIT"] {
        let out = common::http::run_bounded(
            Duration::from_secs(20),
            "curl",
            &["-sS", "-i", "-x", &proxy_url, &up.url("/curl")],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("X-Cache: {expected}")), "{text}");
        assert!(text.ends_with("from curl"), "{text}");
    }
    // curl's Proxy-Connection never reaches the upstream.
    assert_eq!(up.seen()[0].header("proxy-connection"), None);
}

#[test]
fn python_urllib_uses_it() {
    if !common::http::have_tool("python3", "--version") {
        return;
    }
    let up = Upstream::start("127.0.0.1", cacheable(b"from python"));
    let proxy = start_proxy(config());
    let script = format!(
        "import urllib.request as u\n\
         o = u.build_opener(u.ProxyHandler({{'http': 'http://{}'}}))\n\
         for _ in range(2):\n    r = o.open('{}')\n    print(r.status, r.headers['X-Cache'], r.read().decode())\n",
        proxy.addr,
        up.url("/py")
    );
    let out = common::http::run_bounded(Duration::from_secs(20), "python3", &["-c", &script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 MISS from python\n200 HIT from python\n"
    );
    assert_eq!(up.count(), 1);
}

/// A directory whose `blocked.test` answers only when the test says so.
struct GatedDns {
    gate: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Resolve for GatedDns {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        if host == "blocked.test" {
            let _ = self
                .gate
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20));
        }
        Ok(vec![SocketAddr::new("127.0.0.1".parse().unwrap(), port)])
    }
}

#[test]
fn a_slow_name_lookup_does_not_stop_the_loop() {
    let up = Upstream::start("127.0.0.1", cacheable(b"served"));
    let (open, gate) = std::sync::mpsc::channel();
    let one: IpAddr = "127.0.0.1".parse().unwrap();
    let allow = AllowList::new(vec![
        Rule::name("blocked.test", vec![one], None),
        Rule::name("other.test", vec![one], None),
        Rule::parse("127.0.0.1").unwrap(),
    ]);
    let proxy = start_proxy_with(
        ProxyConfig {
            allow,
            resolver_threads: 1,
            resolver_queue: 0,
            ..config()
        },
        Arc::new(GatedDns {
            gate: std::sync::Mutex::new(gate),
        }),
    );
    let port = up.addr.port();
    let addr = proxy.addr;
    let blocked = std::thread::spawn(move || get(addr, &format!("http://blocked.test:{port}/b")));
    // The one resolver thread is stuck in its lookup; the loop is not.
    wait_for(Duration::from_secs(5), "the lookup to start", || {
        proxy.stats.requests() == 1
    });
    let direct = get(proxy.addr, &up.url("/direct"));
    assert_eq!(direct.body, b"served");
    // The pool is full (one worker busy, no queue): a second name is refused at once.
    let refused = get(proxy.addr, &format!("http://other.test:{port}/o"));
    assert_eq!(refused.code, 503);
    assert!(!blocked.is_finished());
    open.send(()).unwrap();
    let late = blocked.join().unwrap();
    assert_eq!((late.code, late.body.as_slice()), (200, &b"served"[..]));
    assert_eq!(up.count(), 2);
}

#[test]
fn the_example_takes_allow_and_workers() {
    let up = Upstream::start("127.0.0.2", cacheable(b"through the example"));
    let other = Upstream::start("127.0.0.1", cacheable(b"not allowed"));
    let allow = up.addr.to_string();
    let proxy = common::ExampleServer::start(
        "http_proxy",
        &["--port", "0", "--workers", "2", "--allow", &allow],
    );
    let addr: SocketAddr = proxy.listening_on.parse().unwrap();
    // Each worker has its own cache, so a second request may be a miss: only the answers
    // are compared.
    for _ in 0..4 {
        let r = get(addr, &up.url("/w"));
        assert_eq!(
            (r.code, r.body.as_slice()),
            (200, &b"through the example"[..])
        );
    }
    assert_eq!(get(addr, &other.url("/w")).code, 403);
    assert_eq!(other.count(), 0);
    let bad = std::process::Command::new(common::example("http_proxy"))
        .args(["--allow", "127.0.0.2:notaport"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected HOST[:PORT]"));
}

#[test]
fn a_waiter_stops_waiting_after_the_upstream_timeout() {
    // The first fetch gets a storable head at once, then a body that trickles for about
    // 3.6 s, each byte well within the timeout: the fetch lives on, its waiter gives up.
    let up = Upstream::start("127.0.0.1", |_, nth| {
        if nth == 0 {
            Reply::Stream {
                head: b"HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 12\r\n\r\n"
                    .to_vec(),
                total: 12,
                step: 1,
                pause: Duration::from_millis(300),
            }
        } else {
            response(
                "200 OK",
                &[("Cache-Control", "max-age=60")],
                b"xxxxxxxxxxxx",
            )
        }
    });
    let proxy = start_proxy(ProxyConfig {
        upstream_timeout: Duration::from_secs(1),
        ..config()
    });
    let url = up.url("/trickle");
    let first = {
        let (addr, url) = (proxy.addr, url.clone());
        std::thread::spawn(move || get(addr, &url))
    };
    wait_for(Duration::from_secs(5), "the first fetch", || {
        up.count() == 1
    });
    let waited = Instant::now();
    let second = get(proxy.addr, &url);
    assert_eq!(second.body, b"xxxxxxxxxxxx");
    assert!(
        waited.elapsed() >= Duration::from_millis(900),
        "it waited first"
    );
    assert!(
        !first.is_finished(),
        "the waiter went upstream while the first fetch was still on"
    );
    assert_eq!(up.count(), 2);
    assert_eq!(first.join().unwrap().body, b"xxxxxxxxxxxx");
}

#[test]
fn an_upstream_that_stalls_mid_body_is_cut_off() {
    // The head and 4 of 100 bytes, then nothing for 5 s: longer than the timeout.
    let up = Upstream::start("127.0.0.1", |_, _| Reply::Stream {
        head: b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec(),
        total: 4,
        step: 4,
        pause: Duration::from_secs(5),
    });
    let proxy = start_proxy(ProxyConfig {
        upstream_timeout: Duration::from_millis(500),
        ..config()
    });
    let start = Instant::now();
    let bytes = request_bytes(proxy.addr, "GET", &up.url("/stall"), &[]);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "cut off, not waited out"
    );
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(body.len() < 100, "{text}");
}

#[test]
fn chromium_browses_through_it() {
    if !common::browser::have_chromium() {
        return;
    }
    let origin = common::http::serve(&common::http::bundled_site(), Default::default());
    let proxy = start_proxy(config());
    let via = format!("--proxy-server=http://{}", proxy.addr);
    let dom = common::browser::dump_dom(
        &origin.url("/"),
        Duration::from_secs(5),
        // Chromium goes direct to loopback addresses unless told otherwise.
        &[&via, "--proxy-bypass-list=<-loopback>"],
    );
    // The page's script ran after the image decoded and the stylesheet applied: all three
    // came through the proxy.
    assert!(
        dom.contains(r#"<p id="browser-check">logo 64x64, stylesheet applied</p>"#),
        "{dom}"
    );
    assert!(
        proxy.stats.requests() >= 3,
        "{} requests",
        proxy.stats.requests()
    );
}

/// Two storable responses of 800 bytes without `Content-Length` (each ends at its close),
/// each sent as 400 bytes, a gate, 400 more, a gate, the close. The test opens the gates so
/// that both are provably in transit at once: 400 + 400, then the other one's second half
/// (1200, within --cache-bytes 1500), then `crosser`'s second half, which carries the
/// total to 1600. The rule: the response whose bytes cross the bound is relayed whole but
/// not stored; the other is stored.
fn in_transit_bound(crosser: &'static str) {
    let other = if crosser == "/a" { "/b" } else { "/a" };
    let gates: Vec<(&str, [Gate; 2])> =
        vec![("/a", Default::default()), ("/b", Default::default())];
    let gate = |path: &str, i: usize| gates.iter().find(|(p, _)| *p == path).unwrap().1[i].clone();
    let handler_gates = gates.clone();
    let up = Upstream::start("127.0.0.1", move |seen, nth| {
        if nth >= 2 {
            // The checks at the end: an answer that is never stored, so that a check
            // cannot evict what the next one looks for.
            return response("200 OK", &[("Cache-Control", "no-store")], b"again");
        }
        let [middle, end] = handler_gates
            .iter()
            .find(|(p, _)| *p == seen.path())
            .expect("only /a and /b")
            .1
            .clone();
        let mut first = b"HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\n\r\n".to_vec();
        first.extend_from_slice(&[b'x'; 400]);
        Reply::Gated(vec![
            Part::Send(first),
            Part::Wait(middle),
            Part::Send(vec![b'x'; 400]),
            Part::Wait(end),
        ])
    });
    let proxy = start_proxy(ProxyConfig {
        cache_bytes: 1500,
        max_object: 1000,
        // The gates, not this, decide when bytes come; it only must not cut them off on
        // a loaded machine.
        upstream_timeout: Duration::from_secs(30),
        ..config()
    });
    let body_len =
        |got: &[u8]| common::http::find(got, b"\r\n\r\n").map_or(0, |end| got.len() - end - 4);
    // A client's copy of its body: the proxy counts bytes toward the bound before it
    // relays them, so once the client has N body bytes the proxy holds N for it.
    let mut clients: Vec<(&str, std::net::TcpStream, Vec<u8>)> = Vec::new();
    for path in ["/a", "/b"] {
        let mut sock = connect(proxy.addr);
        write!(sock, "GET {} HTTP/1.0\r\n\r\n", up.url(path)).unwrap();
        let mut got = Vec::new();
        read_until(&mut sock, &mut got, "the first 400 bytes", |g| {
            body_len(g) == 400
        });
        clients.push((path, sock, got));
    }
    let mut read = |path: &str, what: &str, len: usize| {
        let (_, sock, got) = clients.iter_mut().find(|(p, _, _)| *p == path).unwrap();
        read_until(sock, got, what, |g| body_len(g) == len);
    };
    gate(other, 0).open();
    read(other, "the second half within the bound", 800);
    gate(crosser, 0).open();
    read(crosser, "the second half over the bound", 800);
    gate("/a", 1).open();
    gate("/b", 1).open();
    for (path, mut sock, mut got) in clients {
        got.extend(common::http::read_to_close(&mut sock));
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("\r\nX-Cache: MISS\r\n"), "{path}: {text}");
        assert_eq!(body_len(&got), 800, "{path}: the whole body, stored or not");
        assert!(got.ends_with(&[b'x'; 800]), "{path}");
    }
    assert_eq!(up.count(), 2);
    let stored = get(proxy.addr, &up.url(other));
    assert_eq!(
        (stored.header("x-cache"), stored.body.len()),
        (Some("HIT"), 800),
        "{other}, within the bound, was stored"
    );
    assert_eq!(up.count(), 2, "a hit asks nothing upstream");
    let relayed = get(proxy.addr, &up.url(crosser));
    assert_eq!(
        (relayed.header("x-cache"), relayed.body.as_slice()),
        (Some("MISS"), &b"again"[..]),
        "{crosser}, over the bound, was not stored"
    );
    assert_eq!(up.count(), 3);
}

#[test]
fn responses_in_transit_are_bounded_by_cache_bytes() {
    in_transit_bound("/b");
}

/// The interleaving that made the timed version of this test flaky: the first response's
/// second half arrives last, so it, not the newer one, is the one not stored.
#[test]
fn the_response_that_crosses_the_in_transit_bound_is_the_one_not_stored() {
    in_transit_bound("/a");
}

#[test]
fn ab_keeps_its_connections_alive_through_it() {
    if !common::http::have_tool("ab", "-V") {
        return;
    }
    let up = Upstream::start("127.0.0.1", cacheable(b"for ab"));
    let proxy = start_proxy(config());
    let out = common::http::run_bounded(
        Duration::from_secs(60),
        "ab",
        &[
            "-k",
            "-n",
            "300",
            "-c",
            "4",
            "-X",
            &proxy.addr.to_string(),
            &up.url("/ab"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ab reuses a connection only if the response says Keep-Alive, as an HTTP/1.0 one must.
    for line in [
        "Complete requests:      300",
        "Failed requests:        0",
        "Keep-Alive requests:    300",
    ] {
        assert!(text.contains(line), "{line:?} not in {text}");
    }
    assert_eq!(up.count(), 1);
}

/// docs/python/http_proxy.py, the Python program the example mirrors, answers the simple
/// cases as the Rust proxy does: a cacheable URL is a miss then a hit, a no-store one a miss
/// every time, an origin-form request a 400.
#[test]
fn the_python_proxy_agrees_on_the_simple_cases() {
    let up = Upstream::start("127.0.0.1", |seen, _| match seen.path() {
        p if p.ends_with("/keep") => {
            response("200 OK", &[("Cache-Control", "max-age=60")], b"kept")
        }
        _ => response("200 OK", &[("Cache-Control", "no-store")], b"fresh"),
    });
    let rust = start_proxy(config());
    let python =
        common::python::PythonServer::start("http_proxy.py", &["--port".into(), "0".into()]);
    for (name, addr) in [("rust", rust.addr), ("python", python.addr)] {
        let seen_before = up.count();
        for (path, expected) in [("/keep", ["MISS", "HIT"]), ("/fresh", ["MISS", "MISS"])] {
            for state in expected {
                // HTTP/1.0 without keep-alive: both close after the answer.
                let bytes = request_bytes(addr, "GET", &up.url(&format!("/{name}{path}")), &[]);
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.starts_with("HTTP/1.0 200"), "{name} {path}: {text}");
                assert!(
                    text.contains(&format!("\r\nX-Cache: {state}\r\n")),
                    "{name} {path}: {text}"
                );
            }
        }
        assert_eq!(
            up.count() - seen_before,
            3,
            "{name}: one request for /keep, two for /fresh"
        );
        let origin_form = common::http::get_one(addr, "GET /keep HTTP/1.0\r\n\r\n");
        assert_eq!(origin_form.code, 400, "{name}");
    }
}

/// Reads until the proxy ends the connection: the bytes, and whether it ended with a reset
/// (the proxy's "this response is cut short") rather than a clean end of file.
fn read_until_end(sock: &mut std::net::TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0; 64 * 1024];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return (out, false),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => panic!("read failed after {} bytes: {err}", out.len()),
        }
    }
}

/// One request on its own connection: the raw answer and whether it ended in a reset.
fn fetch_raw(proxy: SocketAddr, request: &str) -> (String, bool) {
    let mut sock = connect(proxy);
    sock.write_all(request.as_bytes()).unwrap();
    let (bytes, reset) = read_until_end(&mut sock);
    (String::from_utf8_lossy(&bytes).into_owned(), reset)
}

/// Framing an upstream could use to smuggle a second response past a client, or to make a
/// cut body look whole: refused (502), or re-framed so the client reads exactly the body.
#[test]
fn hostile_framing_from_the_upstream_never_reaches_the_client() {
    const CHUNKED: &str =
        "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n";
    let up = Upstream::start("127.0.0.1", |seen, _| {
        let raw = match seen.path() {
            "/cl-conflict" => {
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_owned()
            }
            "/cl-empty" => {
                "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: \r\n\r\nabcd"
                    .to_owned()
            }
            "/cl-list" => "HTTP/1.1 200 OK\r\nContent-Length: 4, 5\r\n\r\nabcde".to_owned(),
            "/cl-and-chunked" => format!(
                "{CHUNKED}Content-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
            ),
            "/trailers" => format!(
                "{CHUNKED}\r\n5\r\nhello\r\n0\r\nX-Trailer: evil\r\nContent-Length: 999\r\n\r\n"
            ),
            "/bad-size" => format!("{CHUNKED}\r\n5x\r\nhello\r\n0\r\n\r\n"),
            "/overflow" => format!("{CHUNKED}\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"),
            "/truncated" => format!("{CHUNKED}\r\n5\r\nhello\r\n"),
            _ => "HTTP/1.1 200 OK\r\n\r\n".to_owned(),
        };
        Reply::Raw(raw.into_bytes())
    });
    let proxy = start_proxy(config());
    // HTTP/1.1 clients that keep their connections: only the end of the connection may
    // end a body without a length.
    let ask = |path: &str| {
        fetch_raw(
            proxy.addr,
            &format!("GET {} HTTP/1.1\r\n\r\n", up.url(path)),
        )
    };
    for path in ["/cl-conflict", "/cl-empty", "/cl-list"] {
        let (text, _) = fetch_raw(
            proxy.addr,
            &format!("GET {} HTTP/1.1\r\nConnection: close\r\n\r\n", up.url(path)),
        );
        assert!(text.starts_with("HTTP/1.0 502 "), "{path}: {text}");
        assert!(!text.contains("abcd"), "{path}: no upstream body: {text}");
    }
    // Chunked wins over Content-Length (RFC 9112 §6.3), which is removed; the body is
    // decoded and ends at the close; the trailer and the bytes after the last chunk are
    // dropped.
    for (path, body) in [("/cl-and-chunked", "hello"), ("/trailers", "hello")] {
        let (text, reset) = ask(path);
        let (head, got) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(got, body, "{path}: {text}");
        assert!(!reset, "{path}: a complete body ends cleanly");
        let lower = head.to_ascii_lowercase();
        for absent in ["content-length", "transfer-encoding", "x-trailer"] {
            assert!(!lower.contains(absent), "{path}: {absent} in {head}");
        }
        assert!(head.contains("\r\nConnection: close"), "{path}: {head}");
    }
    // Stored with the length it turned out to have.
    let hit = get(proxy.addr, &up.url("/cl-and-chunked"));
    assert_eq!(
        (
            hit.header("x-cache"),
            hit.header("content-length"),
            hit.body.as_slice()
        ),
        (Some("HIT"), Some("5"), &b"hello"[..])
    );
    // Bad chunk sizes, a size past 2^60, a body that stops before its last chunk: the
    // client's connection is reset (never a clean end it could take for the whole), and
    // nothing is stored.
    for path in ["/bad-size", "/overflow", "/truncated"] {
        for round in 0..2 {
            let (text, reset) = ask(path);
            assert!(
                reset,
                "{path}: cut short, the client must be told: {text:?}"
            );
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            assert!(body.len() <= 5, "{path} {round}: {text}");
            assert!(
                !text.contains("X-Cache: HIT"),
                "{path} {round}: stored: {text}"
            );
        }
    }
    let upstream_requests = up
        .seen()
        .iter()
        .filter(|s| s.path() == "/truncated")
        .count();
    assert_eq!(upstream_requests, 2, "the truncated body was not stored");
}

/// A body that ends at the upstream's close, relayed to an HTTP/1.1 client that keeps its
/// connection: the proxy does not invent a Content-Length, says close, and closes, so
/// the end of the body is the end of the connection. Stored, it has a length again.
#[test]
fn a_body_delimited_by_close_ends_the_client_connection_too() {
    let up = Upstream::start("127.0.0.1", |_, _| {
        Reply::Raw(b"HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\n\r\nuntil the close".to_vec())
    });
    let proxy = start_proxy(config());
    let (text, reset) = fetch_raw(
        proxy.addr,
        &format!(
            "GET {} HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
            up.url("/eof")
        ),
    );
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, "until the close");
    assert!(!reset, "a whole body ends with a clean close: {text}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "no length the proxy did not know: {head}"
    );
    assert!(head.contains("\r\nConnection: close"), "{head}");
    // The stored copy has its length, so a keep-alive client keeps its connection.
    let mut sock = connect(proxy.addr);
    for _ in 0..2 {
        write!(sock, "GET {} HTTP/1.1\r\n\r\n", up.url("/eof")).unwrap();
        let hit = read_response(&mut sock, false);
        assert_eq!(
            (
                hit.header("x-cache"),
                hit.header("content-length"),
                hit.header("connection")
            ),
            (Some("HIT"), Some("15"), Some("keep-alive"))
        );
        assert_eq!(hit.body, b"until the close");
    }
    assert_eq!(up.count(), 1);
}

/// `Via` names the version each message was *received* in (RFC 9110 §7.6.3): the client's
/// on the request, the upstream's on the response, hits included; and `Connection` lists,
/// in any case, spread over several fields, with stray spaces, name fields that go too.
#[test]
fn via_says_the_received_version_and_connection_lists_are_honoured() {
    let up = Upstream::start("127.0.0.1", |seen, _| {
        let version = if seen.path() == "/ten" { "1.0" } else { "1.1" };
        Reply::Raw(
            format!(
                "HTTP/{version} 200 OK\r\nCache-Control: max-age=60\r\nconnection: X-A ,  x-b,\r\n\
                 CONNECTION:x-C\r\nX-A: 1\r\nx-B: 2\r\nX-c: 3\r\nX-D: 4\r\nContent-Length: 2\r\n\r\nok"
            )
            .into_bytes(),
        )
    });
    let proxy = start_proxy(config());
    let ask = |version: &str, path: &str, extra: &str| {
        let (text, _) = fetch_raw(
            proxy.addr,
            &format!(
                "GET {} HTTP/{version}\r\n{extra}Connection: close\r\n\r\n",
                up.url(path)
            ),
        );
        common::http::parse_responses(text.as_bytes(), &[false]).remove(0)
    };
    let ten = ask(
        "1.0",
        "/ten",
        "Via: 1.1 first\r\nconnection: x-q , \r\nCONNECTION: X-R\r\nX-Q: q\r\nx-r: r\r\nX-S: s\r\n",
    );
    assert_eq!(ten.header("via"), Some("1.0 mio-proxy"));
    let eleven = ask("1.1", "/eleven", "");
    assert_eq!(eleven.header("via"), Some("1.1 mio-proxy"));
    for r in [&ten, &eleven] {
        for gone in ["x-a", "x-b", "x-c"] {
            assert_eq!(r.header(gone), None, "{gone} crossed the proxy");
        }
        assert_eq!(r.header("x-d"), Some("4"));
    }
    let seen = up.seen();
    assert_eq!(seen[0].header("via"), Some("1.1 first, 1.0 mio-proxy"));
    assert_eq!(seen[1].header("via"), Some("1.1 mio-proxy"));
    assert_eq!((seen[0].header("x-q"), seen[0].header("x-r")), (None, None));
    assert_eq!(seen[0].header("x-s"), Some("s"));
    // From the cache, the version the upstream answered with, whatever the client speaks.
    let hit = ask("1.1", "/ten", "");
    assert_eq!(
        (hit.header("x-cache"), hit.header("via")),
        (Some("HIT"), Some("1.0 mio-proxy"))
    );
    let hit = ask("1.0", "/eleven", "");
    assert_eq!(
        (hit.header("x-cache"), hit.header("via")),
        (Some("HIT"), Some("1.1 mio-proxy"))
    );
    assert_eq!(hit.header("x-b"), None, "not stored either");
}

/// A directory that answers a name with an address that is not allowed *and* one that is
/// (rebinding, or a name with many addresses), or never answers at all.
struct MixedDns {
    answer: Vec<SocketAddr>,
    /// The slow lookup has returned its (late) answer.
    late: std::sync::atomic::AtomicBool,
}

impl Resolve for MixedDns {
    fn resolve(&self, host: &str, _port: u16) -> std::io::Result<Vec<SocketAddr>> {
        if host == "silent.test" {
            std::thread::sleep(Duration::from_secs(4));
            self.late.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(self.answer.clone())
    }
}

#[test]
fn a_name_with_allowed_and_refused_addresses_connects_only_to_the_allowed() {
    let refused = Upstream::start("127.0.0.3", cacheable(b"refused"));
    let allowed = Upstream::start("127.0.0.2", cacheable(b"allowed"));
    let two: IpAddr = "127.0.0.2".parse().unwrap();
    let allow = AllowList::new(vec![
        Rule::name("mixed.test", vec![two], None),
        Rule::name("silent.test", vec![two], None),
    ]);
    // The refused address first: the resolver's order must not decide.
    let dns = Arc::new(MixedDns {
        answer: vec![refused.addr, allowed.addr],
        late: Default::default(),
    });
    let proxy = start_proxy_with(
        ProxyConfig {
            allow,
            upstream_timeout: Duration::from_secs(1),
            ..config()
        },
        dns.clone(),
    );
    let r = get(proxy.addr, "http://mixed.test/");
    assert_eq!((r.code, r.body.as_slice()), (200, &b"allowed"[..]));
    assert_eq!((allowed.count(), refused.count()), (1, 0));
    wait_for(Duration::from_secs(2), "no connection to 127.0.0.3", || {
        refused.active() == 0
    });
    // A lookup that outlasts --upstream-timeout: 504, and its late answer is dropped.
    let started = Instant::now();
    assert_eq!(get(proxy.addr, "http://silent.test/").code, 504);
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "{:?}",
        started.elapsed()
    );
    // The late answer, once it comes, finds no request: nothing is connected to.
    wait_for(Duration::from_secs(10), "the late answer", || {
        dns.late.load(std::sync::atomic::Ordering::SeqCst)
    });
    assert_eq!(
        get(proxy.addr, "http://mixed.test/").header("x-cache"),
        Some("HIT")
    );
    assert_eq!((allowed.count(), refused.count()), (1, 0));
    assert_eq!(proxy.stats.upstream_requests(), 1);
}

/// Upstream answers no proxy should relay, by number: the client gets 502 for each.
fn hostile_upstream_reply(n: usize) -> Vec<u8> {
    match n {
        0 => format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n",
            "b".repeat(100 * 1024)
        )
        .into_bytes(),
        1 => {
            let mut head = "HTTP/1.1 200 OK\r\n".to_owned();
            for i in 0..500 {
                head.push_str(&format!("X-{i}: {i}\r\n"));
            }
            head.push_str("\r\n");
            head.into_bytes()
        }
        2 => (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
        3 => b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x12".to_vec(),
        4 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nhello".to_vec(),
        5 => b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\nhello".to_vec(),
        6 => b"HTTP/1.1 2000 OK\r\n\r\n".to_vec(),
        7 => b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n".to_vec(),
        8 => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
        _ => b"\r\n\r\n".to_vec(),
    }
}

const HOSTILE_REPLIES: usize = 10;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// A bounded fuzz-ish run against the example proxy (a process of its own, so its
/// descriptors can be counted): hostile upstream heads are 502, never a panic; seeded
/// random and mutated client requests get an HTTP/1.0 answer or a close; afterwards the
/// proxy holds as many descriptors as before, and still serves.
#[test]
fn hostile_input_on_both_sides_leaks_nothing() {
    let up = Upstream::start("127.0.0.1", |seen, _| {
        let path = seen.path();
        match path.strip_prefix("/hostile/").and_then(|n| n.parse().ok()) {
            Some(n) => Reply::Raw(hostile_upstream_reply(n)),
            None => response("200 OK", &[("Cache-Control", "max-age=60")], b"good"),
        }
    });
    let mut proxy = common::ExampleServer::start(
        "http_proxy",
        &[
            "--port",
            "0",
            "--head-timeout",
            "2",
            "--upstream-timeout",
            "2",
        ],
    );
    let addr: SocketAddr = proxy.listening_on.parse().unwrap();
    let pid = proxy.child.id();
    assert_eq!(get(addr, &up.url("/good")).body, b"good");
    let before = open_fds(pid);
    let deadline = Instant::now() + Duration::from_secs(60);

    for round in 0..2 {
        for n in 0..HOSTILE_REPLIES {
            let r = get(addr, &up.url(&format!("/hostile/{n}")));
            assert_eq!(r.code, 502, "reply {n}, round {round}");
        }
    }

    // Seeded noise: random bytes, and valid requests with bytes flipped or cut.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let templates = [
        format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            up.url("/good")
        ),
        format!(
            "HEAD {} HTTP/1.0\r\nIf-None-Match: \"a\", W/\"b\"\r\n\r\n",
            up.url("/good")
        ),
        format!(
            "GET {} HTTP/1.0\r\nCache-Control: max-age=0, no-cache=\"x\"\r\n\r\n",
            up.url("/hostile/3")
        ),
        "GET http://[::1]:1/ HTTP/1.0\r\nConnection: keep-alive, te\r\nTE: x\r\n\r\n".to_owned(),
        "CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n".to_owned(),
    ];
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for i in 0..240 {
        let input = if i % 4 == 0 {
            (0..next() % 600).map(|_| next() as u8).collect()
        } else {
            let mut bytes = templates[i % templates.len()].clone().into_bytes();
            for _ in 0..=next() % 3 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            let cut = (next() % (bytes.len() as u64 + 1)) as usize;
            if i % 3 == 0 {
                bytes.truncate(cut);
            }
            bytes
        };
        inputs.push(input);
    }
    let workers: Vec<_> = inputs
        .chunks(60)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                for input in chunk {
                    let Ok(mut sock) = std::net::TcpStream::connect(addr) else {
                        panic!("the proxy stopped accepting");
                    };
                    sock.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
                    let _ = sock.write_all(&input);
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                    let mut answer = Vec::new();
                    let _ = sock.read_to_end(&mut answer);
                    if !answer.is_empty() {
                        assert!(
                            answer.starts_with(b"HTTP/1.0 "),
                            "{:?} -> {:?}",
                            String::from_utf8_lossy(&input),
                            String::from_utf8_lossy(&answer)
                        );
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(Instant::now() < deadline, "the run is bounded");
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "the proxy is alive"
    );
    assert_eq!(get(addr, &up.url("/good")).body, b"good");
    // Lingering closes end within a few seconds; then every descriptor is back.
    wait_for(
        Duration::from_secs(20),
        "the proxy's descriptors to return",
        || open_fds(pid) <= before,
    );
    assert_eq!(proxy.signal_and_wait(libc::SIGTERM).code(), Some(0));
}

/// An upstream that never completes the handshake (its listen queue is full, so the
/// kernel drops the SYNs): 504 after --upstream-timeout, not a hang.
#[test]
fn an_upstream_that_never_accepts_is_504() {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    // Fill the queue; nothing is ever accepted. Stop once a connect itself stalls.
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
    }
    let stalls = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err();
    if !stalls {
        eprintln!("this kernel accepts past a full queue: nothing to check");
        return;
    }
    let proxy = start_proxy(ProxyConfig {
        upstream_timeout: Duration::from_secs(1),
        ..config()
    });
    let started = Instant::now();
    let r = get(proxy.addr, &format!("http://{addr}/"));
    assert_eq!(r.code, 504, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(fillers);
}

/// The cache key is the normalised URL: the host's case, a trailing dot and an explicit
/// default port do not split an entry; another host (even one that reaches the same
/// server) or a spoofed `Host` header never shares one.
#[test]
fn the_cache_key_is_the_normalised_url_and_host_headers_do_not_poison_it() {
    let up = Upstream::start("127.0.0.1", |seen, _| {
        let body = format!("{} for {}", seen.path(), seen.header("host").unwrap_or("-"));
        response(
            "200 OK",
            &[("Cache-Control", "max-age=60")],
            body.as_bytes(),
        )
    });
    let proxy = start_proxy(config());
    let port = up.addr.port();
    let by_ip = format!("http://127.0.0.1:{port}/k");
    // A spoofed Host: ignored upstream (RFC 9112 §3.2.2), and the entry is the URL's.
    let first = request(
        proxy.addr,
        "GET",
        &by_ip,
        &[("Host", &format!("localhost:{port}"))],
    );
    assert_eq!(first.body, format!("/k for 127.0.0.1:{port}").as_bytes());
    let by_name = get(proxy.addr, &format!("http://localhost:{port}/k"));
    assert_eq!(
        (by_name.header("x-cache"), by_name.body.as_slice()),
        (Some("MISS"), format!("/k for localhost:{port}").as_bytes())
    );
    for same in [
        format!("http://LOCALHOST:{port}/k"),
        format!("http://localhost.:{port}/k"),
    ] {
        let r = get(proxy.addr, &same);
        assert_eq!(r.header("x-cache"), Some("HIT"), "{same}");
        assert_eq!(
            r.body,
            format!("/k for localhost:{port}").as_bytes(),
            "{same}"
        );
    }
    assert_eq!(get(proxy.addr, &by_ip).header("x-cache"), Some("HIT"));
    assert_eq!(up.count(), 2);
}
