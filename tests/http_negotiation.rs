//! Content negotiation, MultiViews style (RFC 9110 §12), over real sockets: variants found
//! in the directory, chosen by `Accept` and `Accept-Language`, served exactly as a direct
//! request for the file would be, with `Vary`, `Content-Language` and `Content-Location`;
//! 406 when nothing suits; malformed headers never a 5xx.

mod common;

use common::http::*;
use mio_selectors::http::{CachePolicy, ServerConfig, Site};

fn root() -> TempDir {
    let root = TempDir::new("http-negotiation");
    root.write("hello.en.html", b"<p>Hello</p>\n");
    root.write("hello.de.html", b"<p>Hallo</p>\n");
    root.write("hello.pt-BR.html", b"<p>Ol\xc3\xa1</p>\n");
    root.write("hello.en.html.bak", b"old\n");
    root.write("data.json", b"{\"a\": 1}\n");
    root.write("data.html", b"<p>a = 1</p>\n");
    root.write("data.txt", b"a = 1\n");
    root.write("sub dir/note.txt", b"a note\n");
    root.write("sub dir/note.md", b"# a note\n");
    root.write("page.html", b"<p>only one</p>\n");
    root.write("exists", b"I am a file\n");
    root.write("exists.html", b"<p>variant</p>\n");
    root.write("big.en.bin", &pattern(100 * 1024));
    root.write("notes.txt.bak", b"a backup\n");
    root.write("notes.en.orig", b"an original\n");
    root
}

fn server_with(root: &TempDir, languages: &[&str]) -> Running {
    let site = Site::new(root.path())
        .unwrap()
        .with_languages(languages.iter().map(|l| (*l).to_owned()).collect())
        .with_cache_policy(CachePolicy::new(vec!["/=30".parse().unwrap()]));
    serve_site(site, ServerConfig::default())
}

#[test]
fn accept_language_picks_the_variant_with_vary_language_and_location() {
    let root = root();
    let server = server_with(&root, &["en"]);
    for (accept_language, body, language) in [
        (None, "<p>Hello</p>\n", "en"),
        (Some("de"), "<p>Hallo</p>\n", "de"),
        (Some("de-AT, de;q=0.9, en;q=0.5"), "<p>Hallo</p>\n", "de"),
        (Some("pt"), "<p>Olá</p>\n", "pt-br"), // basic filtering: pt matches pt-br
        (Some("fr"), "<p>Hello</p>\n", "en"),  // fallback; --languages breaks the tie
        (Some("fr, en;q=0"), "<p>Hallo</p>\n", "de"), // q=0 refuses en; de falls back
        (Some("*;q=0.1, de;q=0.05"), "<p>Hello</p>\n", "en"),
    ] {
        let headers: Vec<(&str, &str)> = accept_language
            .map(|v| vec![("Accept-Language", v)])
            .unwrap_or_default();
        let res = get(server.addr, "/hello", &headers);
        assert_eq!(res.code, 200, "{accept_language:?}");
        assert_eq!(res.text(), body, "{accept_language:?}");
        assert_eq!(res.header("content-language"), Some(language));
        assert_eq!(res.header("vary"), Some("Accept-Language"));
        let file = match language {
            "pt-br" => "hello.pt-BR.html".to_owned(),
            other => format!("hello.{other}.html"),
        };
        assert_eq!(res.header("content-location"), Some(file.as_str()));
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    }
}

#[test]
fn the_languages_flag_breaks_ties() {
    let root = root();
    let server = server_with(&root, &["de", "en"]);
    let res = get(server.addr, "/hello", &[("Accept-Language", "fr")]);
    assert_eq!(res.header("content-language"), Some("de"));
    // No header: all languages are 1; --languages decides.
    let res = get(server.addr, "/hello", &[]);
    assert_eq!(res.header("content-language"), Some("de"));
}

#[test]
fn accept_picks_the_type_and_ties_go_to_the_file_name() {
    let root = root();
    let server = server_with(&root, &["en"]);
    for (accept, location) in [
        (None, "data.html"),
        (Some("*/*"), "data.html"), // curl's: all tie, the name decides
        (Some("application/json"), "data.json"),
        (Some("text/plain, text/html;q=0.5"), "data.txt"),
        (Some("text/*;q=0.3, application/json;q=0.2"), "data.html"),
        (Some("text/html;q=0, text/*"), "data.txt"),
        (
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            "data.html",
        ),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|v| vec![("Accept", v)]).unwrap_or_default();
        let res = get(server.addr, "/data", &headers);
        assert_eq!(res.code, 200, "{accept:?}");
        assert_eq!(res.header("content-location"), Some(location), "{accept:?}");
        assert_eq!(res.header("vary"), Some("Accept"));
        assert_eq!(res.header("content-language"), None);
    }
    // The directory part of the path may be percent-encoded.
    let res = get(
        server.addr,
        "/sub%20dir/note",
        &[("Accept", "text/markdown")],
    );
    assert_eq!(res.text(), "# a note\n");
}

#[test]
fn nothing_acceptable_is_406_with_links_and_vary() {
    let root = root();
    let server = server_with(&root, &["en"]);
    let res = get(server.addr, "/data", &[("Accept", "image/png")]);
    assert_eq!(res.code, 406);
    assert_eq!(res.header("vary"), Some("Accept"));
    let page = res.text();
    for name in ["data.html", "data.json", "data.txt"] {
        assert!(
            page.contains(&format!("<a href=\"{name}\">{name}</a>")),
            "{page}"
        );
    }
    // hello.en.html.bak is no variant: even a client that takes any bytes gets nothing.
    let res = get(server.addr, "/hello", &[("Accept", "application/*")]);
    assert_eq!(res.code, 406);
    assert!(!res.text().contains(".bak"), "{}", res.text());
    assert!(res.text().contains("hello.en.html"), "{}", res.text());
    let res = get(server.addr, "/hello", &[("Accept-Language", "*;q=0")]);
    assert_eq!(res.code, 406);
    assert_eq!(res.header("vary"), Some("Accept-Language"));
    let res = head(server.addr, "/hello", &[("Accept", "text/plain")]);
    assert_eq!((res.code, res.body.len()), (406, 0));
    assert_eq!(res.header("vary"), Some("Accept, Accept-Language"));
}

#[test]
fn a_variant_is_served_as_a_direct_request_would_be() {
    let root = root();
    let server = server_with(&root, &["en"]);
    let direct = get(server.addr, "/hello.de.html", &[]);
    // A direct request is never negotiated.
    assert_eq!(direct.header("vary"), None);
    assert_eq!(direct.header("content-location"), None);
    let negotiated = get(server.addr, "/hello", &[("Accept-Language", "de")]);
    for name in [
        "etag",
        "last-modified",
        "content-length",
        "cache-control",
        "accept-ranges",
    ] {
        assert_eq!(negotiated.header(name), direct.header(name), "{name}");
    }
    let tag = direct.header("etag").unwrap().to_owned();
    // Each variant has its own tag.
    let english = get(server.addr, "/hello", &[("Accept-Language", "en")]);
    assert_ne!(english.header("etag"), Some(tag.as_str()));
    // Conditional: 304 with Vary and Content-Location.
    let res = get(
        server.addr,
        "/hello",
        &[("Accept-Language", "de"), ("If-None-Match", &tag)],
    );
    assert_eq!(res.code, 304);
    assert_eq!(res.header("vary"), Some("Accept-Language"));
    assert_eq!(res.header("content-location"), Some("hello.de.html"));
    assert_eq!(res.header("cache-control"), Some("max-age=30"));
    // Ranges, from memory and (big.en.bin is large) by sendfile.
    let res = get(
        server.addr,
        "/hello",
        &[("Accept-Language", "de"), ("Range", "bytes=3-7")],
    );
    assert_eq!((res.code, res.text()), (206, "Hallo"));
    let res = get(server.addr, "/big", &[("Range", "bytes=50000-50009")]);
    assert_eq!(res.code, 206);
    assert_eq!(res.body, pattern(100 * 1024)[50000..50010]);
    assert_eq!(res.header("content-language"), Some("en"));
}

#[test]
fn an_existing_file_wins_and_other_extensions_are_not_variants() {
    let root = root();
    root.write("guide/index.html", b"<p>the directory</p>\n");
    root.write("guide.html", b"<p>a variant</p>\n");
    let server = server_with(&root, &["en"]);
    let res = get(server.addr, "/exists", &[("Accept", "text/html")]);
    assert_eq!(res.text(), "I am a file\n");
    assert_eq!(res.header("vary"), None);
    // A directory wins too: its 301 to the slash form, not the variant guide.html.
    let res = get(server.addr, "/guide", &[]);
    assert_eq!(res.code, 301);
    assert!(res.header("location").unwrap().ends_with("/guide/"));
    assert_eq!(res.header("content-location"), None);
    // One variant: served, with no Vary (nothing in the request changed the outcome).
    let res = get(server.addr, "/page", &[]);
    assert_eq!((res.code, res.header("vary")), (200, None));
    assert_eq!(res.header("content-location"), Some("page.html"));
    // A file with an extension after the type, or of no known type, is no variant.
    assert_eq!(get(server.addr, "/notes", &[]).code, 404);
    // `/hello.en` is a name too: its one variant is hello.en.html.
    let res = get(server.addr, "/hello.en", &[]);
    assert_eq!(res.header("content-location"), Some("hello.en.html"));
    assert_eq!(get(server.addr, "/nothing", &[]).code, 404);
    assert_eq!(get(server.addr, "/hello/", &[]).code, 404);
}

#[test]
fn malformed_accept_headers_never_give_5xx() {
    let root = root();
    let server = server_with(&root, &["en"]);
    // Thousands of elements, within the 16 KiB head limit.
    let thousands = vec!["a/b"; 2500].join(",");
    let junk_lang = vec!["x;q=abc"; 600].join(",");
    for (accept, language) in [
        ("text/html;q=abc", "de;q=2"),
        ("q=2, ;;;, \"", "1,2,3"),
        ("*/*;q=1.5", "*;q=-1"),
        ("\\\"\\", "\""),
        (thousands.as_str(), junk_lang.as_str()),
    ] {
        for path in ["/hello", "/data"] {
            let res = get(
                server.addr,
                path,
                &[("Accept", accept), ("Accept-Language", language)],
            );
            assert!(
                res.code < 500,
                "{path} {accept:.30} {language:.30}: {}",
                res.code
            );
            assert!(res.code == 200 || res.code == 406, "{}", res.code);
        }
    }
}

#[test]
fn a_kept_variant_index_follows_the_directory_as_it_changes() {
    // Each directory's variants are indexed once and kept while its fstat is unchanged
    // (every 404 looks there); a variant added or removed shows at once.
    let root = TempDir::new("http-negotiation-kept");
    root.write("d/page.en.html", b"en\n");
    wait_until_settled(&root.path().join("d"));
    let server = serve(root.path(), ServerConfig::default());
    let pick = |server: &Running| {
        let res = get(server.addr, "/d/page", &[("Accept-Language", "de")]);
        (res.code, res.header("content-location").map(str::to_owned))
    };
    assert_eq!(pick(&server), (200, Some("page.en.html".into())));
    assert_eq!(pick(&server), (200, Some("page.en.html".into()))); // the kept index
    assert_eq!(get(server.addr, "/d/other", &[]).code, 404);
    root.write("d/page.de.html", b"de\n");
    assert_eq!(pick(&server), (200, Some("page.de.html".into())));
    std::fs::remove_file(root.path().join("d/page.de.html")).unwrap();
    std::fs::remove_file(root.path().join("d/page.en.html")).unwrap();
    assert_eq!(pick(&server).0, 404);
}

#[test]
fn a_variant_gets_the_freshness_a_direct_request_for_it_gets() {
    // `--cache /=30 --cache /hello.de.html=0`: the longer rule names the variant's file, so
    // a direct request for it says no-cache, and so must the negotiated answer that serves
    // it (the issue: "served exactly as a direct request for it would be ... freshness").
    let root = root();
    let rules = vec!["/=30".parse().unwrap(), "/hello.de.html=0".parse().unwrap()];
    let site = Site::new(root.path())
        .unwrap()
        .with_cache_policy(CachePolicy::new(rules));
    let server = serve_site(site, ServerConfig::default());
    let direct = get(server.addr, "/hello.de.html", &[]);
    assert_eq!(direct.header("cache-control"), Some("no-cache"));
    let german = get(server.addr, "/hello", &[("Accept-Language", "de")]);
    assert_eq!(german.header("content-location"), Some("hello.de.html"));
    assert_eq!(german.header("cache-control"), Some("no-cache"));
    assert_eq!(german.header("expires"), None);
    let tag = german.header("etag").unwrap().to_owned();
    let not_modified = get(
        server.addr,
        "/hello",
        &[("Accept-Language", "de"), ("If-None-Match", &tag)],
    );
    assert_eq!(not_modified.code, 304);
    assert_eq!(not_modified.header("cache-control"), Some("no-cache"));
    let english = get(server.addr, "/hello", &[("Accept-Language", "en")]);
    assert_eq!(english.header("cache-control"), Some("max-age=30"));
}

#[test]
fn a_directory_is_indexed_off_the_loop_once_and_pipelined_requests_wait_their_turn() {
    // Every name that names nothing looks for variants in its directory, which means
    // reading it in full: tens of milliseconds for 50,000 entries, so the server does it
    // on its directory thread (a pool job) and keeps the index while the directory is
    // unchanged. A kept index, a file and a direct variant request cost no job.
    let root = TempDir::new("http-negotiation-pool");
    root.write("d/page.en.html", b"en\n");
    root.write("d/page.de.html", b"de\n");
    root.write("e/note.txt", b"note\n");
    wait_until_settled(&root.path().join("d"));
    wait_until_settled(&root.path().join("e"));
    let (server, stats) = serve_with_stats(root.path(), ServerConfig::default());
    let german = get(server.addr, "/d/page", &[("Accept-Language", "de")]);
    assert_eq!((german.code, german.text()), (200, "de\n"));
    assert_eq!(
        stats.pool_jobs(),
        1,
        "the directory is read by the directory thread"
    );
    let english = get(server.addr, "/d/page", &[("Accept-Language", "en")]);
    assert_eq!(english.text(), "en\n");
    assert_eq!(get(server.addr, "/d/missing", &[]).code, 404);
    assert_eq!(get(server.addr, "/d/page.de.html", &[]).text(), "de\n");
    assert_eq!(stats.pool_jobs(), 1, "a kept index and a file need no job");

    // Pipelined on one connection: a name whose directory must be read, a 404 there
    // (then kept), and a kept one; answered in the order asked.
    let bytes = exchange(
        server.addr,
        b"GET /e/note HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
          GET /e/nothing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
          GET /d/page HTTP/1.0\r\nAccept-Language: de\r\n\r\n",
    );
    let responses = parse_responses(&bytes, &[false, false, false]);
    assert_eq!(responses.len(), 3);
    assert_eq!((responses[0].code, responses[0].text()), (200, "note\n"));
    assert_eq!(responses[0].header("content-location"), Some("note.txt"));
    assert_eq!(responses[1].code, 404);
    assert_eq!(responses[2].text(), "de\n");
    assert_eq!(stats.pool_jobs(), 2);
}
