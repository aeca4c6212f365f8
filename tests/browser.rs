//! The bundled site in a real browser: headless Chromium loads the pages from a running
//! server, and the test reads the DOM it renders (`--dump-dom`), so the site is known to
//! work in a browser, not only in curl.
//!
//! Skipped with a message where Chromium is not installed, except under CI (`CI` set),
//! where .ci/run installs it and a missing browser fails the test.

mod common;

use std::time::Duration;

use common::browser::have_chromium;
use common::http::*;
use mio_selectors::http::ServerConfig;

/// Renders `url` headlessly and returns the DOM, 5 seconds of virtual time after load.
fn dom_of(url: &str) -> String {
    common::browser::dump_dom(url, Duration::from_secs(5), &[])
}

#[test]
fn chromium_renders_the_bundled_site() {
    if !have_chromium() {
        return;
    }
    let server = serve(&bundled_site(), ServerConfig::default());

    // The start page: its script ran after the image decoded and the stylesheet applied.
    let dom = dom_of(&server.url("/"));
    assert!(dom.contains("It works"), "{dom}");
    assert!(
        dom.contains(r#"<p id="browser-check">logo 64x64, stylesheet applied</p>"#),
        "the browser did not load the image or the stylesheet: {dom}"
    );
    // The commands to try name the address the page came from, not the default 8080.
    let url = server.url("/");
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        dom.contains(&format!(
            r#"curl -v http://<span class="origin">{host}</span>/"#
        )),
        "the page does not show its own address, {host}: {dom}"
    );

    // The subdirectory without its slash: the browser follows the 301 to docs/, and the
    // relative link there resolves against the directory.
    let dom = dom_of(&server.url("/docs"));
    assert!(dom.contains(r#"id="subdir""#), "{dom}");
    assert!(dom.contains(r#"href="../""#), "{dom}");

    // The tour's escape link: the browser sends `/..%2fCargo.toml` as it is (it tidies
    // away `..` and `%2e%2e` segments itself, but not an encoded slash), and gets the 403.
    let dom = dom_of(&server.url("/..%2fCargo.toml"));
    assert!(dom.contains("403 Forbidden"), "{dom}");
    assert!(!dom.contains("[package]"), "Cargo.toml leaked: {dom}");

    // A missing page shows the server's 404 page.
    let dom = dom_of(&server.url("/missing.html"));
    assert!(dom.contains("404 Not Found"), "{dom}");
}

#[test]
fn chromium_requests_a_range_loads_a_listing_and_gets_a_negotiated_variant() {
    if !have_chromium() {
        return;
    }
    let server = serve(&bundled_site(), ServerConfig::default());
    let size = std::fs::metadata(bundled_site().join("files/large.txt"))
        .unwrap()
        .len();

    // The ranges page asks for bytes 100-199 with fetch() and writes what came back.
    let dom = dom_of(&server.url("/topics/ranges.html"));
    assert!(
        dom.contains(&format!(
            r#"<span id="range-check">206 bytes 100-199/{size} 100 bytes</span>"#
        )),
        "the browser's Range request: {dom}"
    );

    // A directory without index.html: the listing, with its links, and no dot-file.
    let dom = dom_of(&server.url("/listing/"));
    assert!(dom.contains("<h1>Index of /listing/</h1>"), "{dom}");
    assert!(
        dom.contains(r#"<a href="read%20me.txt">read me.txt</a>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"<a href="sub/">sub/</a>"#), "{dom}");
    assert!(!dom.contains(".secret"), "{dom}");

    // A negotiated resource: headless Chromium asks for English (en-US).
    let dom = dom_of(&server.url("/negotiation/hello"));
    assert!(dom.contains(r#"<h1 id="greeting">Hello!</h1>"#), "{dom}");
}
