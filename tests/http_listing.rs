//! Directory listings and hidden paths over real sockets: the index of a directory without
//! `index.html` (sorted, escaped, dot-entries left out, capped at 10,000 entries),
//! `--no-listing`, and the 403 for any dot-segment except `/.well-known/`.

mod common;

use common::http::*;
use mio_selectors::http::{ServerConfig, Site};

/// The hrefs of a listing page, in order.
fn hrefs(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|line| line.strip_prefix("<li><a href=\""))
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[test]
fn a_directory_without_index_is_listed_sorted_and_escaped() {
    let root = TempDir::new("http-listing");
    root.write("files/b.txt", b"b\n");
    root.write("files/A.txt", b"A\n");
    root.write("files/<script>.html", b"<p>script</p>\n");
    root.write("files/a\"b", b"quote\n");
    root.write("files/sp ace.txt", b"space\n");
    root.write("files/zsub/x.txt", b"x\n");
    root.write("files/asub/y.txt", b"y\n");
    root.write("files/.env", b"SECRET=1\n");
    root.write("files/.git/config", b"[core]\n");
    let server = serve(root.path(), ServerConfig::default());
    let res = get(server.addr, "/files/", &[]);
    assert_eq!(res.code, 200);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let page = res.text();
    assert!(page.contains("<title>Index of /files/</title>"), "{page}");
    assert!(page.contains("<h1>Index of /files/</h1>"), "{page}");
    assert_eq!(
        hrefs(page),
        [
            "../",
            "asub/",
            "zsub/",
            "%3Cscript%3E.html",
            "A.txt",
            "a%22b",
            "b.txt",
            "sp%20ace.txt"
        ]
    );
    assert!(page.contains(">&lt;script&gt;.html</a>"), "{page}");
    assert!(page.contains(">a&quot;b</a>"), "{page}");
    assert!(!page.contains(".env") && !page.contains(".git"), "{page}");
    // Every link works.
    for href in hrefs(page).iter().filter(|h| !h.ends_with('/')) {
        let res = get(server.addr, &format!("/files/{href}"), &[]);
        assert_eq!(res.code, 200, "{href}");
    }
    // HEAD: the same length, no body.
    let headed = head(server.addr, "/files/", &[]);
    assert_eq!(
        headed.header("content-length"),
        Some(res.body.len().to_string().as_str())
    );
    // The root is listed too (no ../ there), and an index.html still wins.
    let top = get(server.addr, "/", &[]);
    assert_eq!(hrefs(top.text()), ["files/"]);
    root.write("files/index.html", b"<p>index</p>\n");
    assert_eq!(get(server.addr, "/files/", &[]).text(), "<p>index</p>\n");
}

#[test]
fn a_listing_shows_the_first_10000_entries_and_says_how_many_are_left_out() {
    let root = TempDir::new("http-listing-big");
    let dir = root.path().join("big");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..10_050 {
        std::fs::File::create(dir.join(format!("f{i:05}"))).unwrap();
    }
    std::fs::create_dir(dir.join("zz-dir")).unwrap();
    let server = serve(root.path(), ServerConfig::default());
    let res = get(server.addr, "/big/", &[]);
    let page = res.text();
    let links = hrefs(page);
    assert_eq!(links.len(), 1 + 10_000, "../ and 10,000 entries");
    assert_eq!(links[1], "zz-dir/", "directories first");
    assert_eq!(links[2], "f00000");
    assert_eq!(links[10_000], "f09998");
    assert!(
        page.contains("<p>51 more entries are not shown: a listing shows the first 10000.</p>"),
        "{}",
        &page[page.len() - 300..]
    );
}

#[test]
fn no_listing_gives_403() {
    let root = TempDir::new("http-no-listing");
    root.write("files/a.txt", b"a\n");
    let site = Site::new(root.path()).unwrap().with_listing(false);
    let server = serve_site(site, ServerConfig::default());
    assert_eq!(get(server.addr, "/files/", &[]).code, 403);
    assert_eq!(get(server.addr, "/files/a.txt", &[]).code, 200);
}

#[test]
fn dot_segments_are_403_except_well_known() {
    let root = TempDir::new("http-hidden");
    root.write(".htpasswd", b"user:secret\n");
    root.write(".env", b"SECRET=1\n");
    root.write(".git/config", b"[core]\n");
    root.write("app/.env", b"SECRET=2\n");
    root.write(
        ".well-known/security.txt",
        b"Contact: mailto:x@example.org\n",
    );
    root.write(".well-known/.private", b"no\n");
    let server = serve(root.path(), ServerConfig::default());
    for path in [
        "/.htpasswd",
        "/.env",
        "/.git/config",
        "/.git/",
        "/app/.env",
        "/%2eenv",
        "/app/%2Eenv",
        "/./.env",
        "//.git//config",
        "/.well-known/.private",
        "/.env?x=1",
    ] {
        let res = get(server.addr, path, &[]);
        assert_eq!(res.code, 403, "{path}");
        assert!(!res.text().contains("SECRET") && !res.text().contains("[core]"));
    }
    let res = get(server.addr, "/.well-known/security.txt", &[]);
    assert_eq!(
        (res.code, res.text()),
        (200, "Contact: mailto:x@example.org\n")
    );
    // Neither listed nor negotiated.
    let top = get(server.addr, "/", &[]);
    assert_eq!(hrefs(top.text()), ["app/"]);
}

#[test]
fn a_directory_out_of_the_root_is_neither_listed_nor_searched_for_variants() {
    let root = TempDir::new("http-listing-escape");
    root.write("inside/a.txt", b"a\n");
    std::os::unix::fs::symlink("/etc", root.path().join("out")).unwrap();
    std::os::unix::fs::symlink("../../etc", root.path().join("inside/up")).unwrap();
    let server = serve(root.path(), ServerConfig::default());
    for path in [
        "/out/",
        "/inside/up/",
        "/out/hostname",
        "/inside/up/passwd",
        "/out/host",
    ] {
        let res = get(server.addr, path, &[]);
        assert_eq!(res.code, 403, "{path}");
        assert!(
            !res.text().contains("passwd") && !res.text().contains("Index of"),
            "{path}"
        );
    }
    // The directory inside is listed, and its symlink out is listed as a name only.
    let res = get(server.addr, "/inside/", &[]);
    assert_eq!(hrefs(res.text()), ["../", "a.txt", "up"]);
}

#[test]
fn a_kept_listing_follows_the_directory_as_it_changes() {
    // Listing pages are kept while the directory's fstat is unchanged: a settled
    // directory's page is reused, and adding, renaming or removing an entry shows at once.
    let root = TempDir::new("http-listing-kept");
    root.write("d/a.txt", b"a\n");
    wait_until_settled(&root.path().join("d"));
    let server = serve(root.path(), ServerConfig::default());
    let names = |server: &Running| hrefs(get(server.addr, "/d/", &[]).text());
    assert_eq!(names(&server), ["../", "a.txt"]);
    assert_eq!(names(&server), ["../", "a.txt"]); // the kept page
    root.write("d/b.txt", b"b\n");
    assert_eq!(names(&server), ["../", "a.txt", "b.txt"]);
    std::fs::rename(root.path().join("d/a.txt"), root.path().join("d/c.txt")).unwrap();
    assert_eq!(names(&server), ["../", "b.txt", "c.txt"]);
    std::fs::remove_file(root.path().join("d/b.txt")).unwrap();
    assert_eq!(names(&server), ["../", "c.txt"]);
}

#[test]
fn a_listing_is_built_off_the_loop_once_and_pipelined_requests_wait_their_turn() {
    // Reading and sorting a 50,000-entry directory takes tens of milliseconds; on the loop
    // that would stall every other connection ("does not stall other connections"), so
    // the server builds a page on its listing thread (a pool job) and keeps it. A kept
    // page, a file, or a HEAD of a kept page costs no job.
    let root = TempDir::new("http-listing-pool");
    root.write("a.txt", b"a\n");
    for i in 0..2_000 {
        root.write(&format!("d/f{i:04}"), b"");
    }
    root.write("e/x.txt", b"x\n");
    wait_until_settled(&root.path().join("d"));
    wait_until_settled(&root.path().join("e"));
    let (server, stats) = serve_with_stats(root.path(), ServerConfig::default());
    assert_eq!(stats.pool_jobs(), 0);
    let first = get(server.addr, "/d/", &[]);
    assert_eq!(first.code, 200);
    assert_eq!(hrefs(first.text()).len(), 1 + 2_000);
    assert_eq!(
        stats.pool_jobs(),
        1,
        "the page is built by the listing thread"
    );
    assert_eq!(get(server.addr, "/d/", &[]).body, first.body);
    assert_eq!(head(server.addr, "/d/", &[]).code, 200);
    assert_eq!(get(server.addr, "/a.txt", &[]).code, 200);
    assert_eq!(
        stats.pool_jobs(),
        1,
        "a kept page, a HEAD and a file need no job"
    );

    // Pipelined on one connection: a listing to build, then a file, then the kept one.
    // Each answer comes in the order asked, whole.
    let bytes = exchange(
        server.addr,
        b"GET /e/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
          GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
          GET /d/ HTTP/1.0\r\n\r\n",
    );
    let responses = parse_responses(&bytes, &[false, false, false]);
    assert_eq!(responses.len(), 3);
    assert_eq!(hrefs(responses[0].text()), ["../", "x.txt"]);
    assert_eq!(responses[1].text(), "a\n");
    assert_eq!(responses[2].body, first.body);
    assert_eq!(stats.pool_jobs(), 2);
}

#[test]
fn names_with_percent_query_fragment_and_non_utf8_bytes_link_to_themselves() {
    use std::os::unix::ffi::OsStrExt;
    let root = TempDir::new("http-listing-names");
    root.write("n/100%.txt", b"percent\n");
    root.write("n/what?.txt", b"query\n");
    root.write("n/a#b.txt", b"fragment\n");
    root.write("n/a b&c.txt", b"space and amp\n");
    let raw = std::ffi::OsStr::from_bytes(b"\xff\xfe.txt");
    std::fs::write(root.path().join("n").join(raw), b"not utf-8\n").unwrap();
    let server = serve(root.path(), ServerConfig::default());
    let res = get(server.addr, "/n/", &[]);
    let page = res.text();
    assert_eq!(
        hrefs(page),
        [
            "../",
            "100%25.txt",
            "a%20b%26c.txt",
            "a%23b.txt",
            "what%3F.txt",
            "%FF%FE.txt"
        ],
        "byte order of the names, not of their encodings"
    );
    assert!(page.contains(">a b&amp;c.txt</a>"), "{page}");
    assert!(page.contains(">\u{fffd}\u{fffd}.txt</a>"), "{page}");
    for (href, body) in [
        ("100%25.txt", "percent\n"),
        ("what%3F.txt", "query\n"),
        ("a%23b.txt", "fragment\n"),
        ("a%20b%26c.txt", "space and amp\n"),
        ("%FF%FE.txt", "not utf-8\n"),
    ] {
        let res = get(server.addr, &format!("/n/{href}"), &[]);
        assert_eq!((res.code, res.text()), (200, body), "{href}");
    }
}
