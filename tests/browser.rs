//! The bundled site in a real browser: headless Chromium loads the pages from a running
//! server, and the test reads the DOM it renders (`--dump-dom`), so the site is known to
//! work in a browser, not only in curl.
//!
//! Skipped with a message where Chromium is not installed, except under CI (`CI` set),
//! where .ci/run installs it and a missing browser fails the test.

mod common;

use std::time::Duration;

use common::http::*;
use mio_selectors::http::ServerConfig;

/// The browser's binary: Debian's package installs `chromium`.
const CHROMIUM: &str = "chromium";

/// Renders `url` headlessly and returns the DOM after the page's load event.
fn dump_dom(url: &str) -> String {
    let profile = TempDir::new("chromium-profile");
    let out = run_bounded(
        Duration::from_secs(90),
        CHROMIUM,
        &[
            "--headless",
            "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            &format!("--user-data-dir={}", profile.path().display()),
            // Let the load event (and the page's script) run before the DOM is dumped.
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
    );
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn chromium_renders_the_bundled_site() {
    if !have_tool(CHROMIUM, "--version") {
        return;
    }
    let server = serve(&bundled_site(), ServerConfig::default());

    // The start page: its script ran after the image decoded and the stylesheet applied.
    let dom = dump_dom(&server.url("/"));
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
    let dom = dump_dom(&server.url("/docs"));
    assert!(dom.contains(r#"id="subdir""#), "{dom}");
    assert!(dom.contains(r#"href="../""#), "{dom}");

    // The tour's escape link: the browser sends `/..%2fCargo.toml` as it is (it tidies
    // away `..` and `%2e%2e` segments itself, but not an encoded slash), and gets the 403.
    let dom = dump_dom(&server.url("/..%2fCargo.toml"));
    assert!(dom.contains("403 Forbidden"), "{dom}");
    assert!(!dom.contains("[package]"), "Cargo.toml leaked: {dom}");

    // A missing page shows the server's 404 page.
    let dom = dump_dom(&server.url("/missing.html"));
    assert!(dom.contains("404 Not Found"), "{dom}");
}

#[test]
fn chromium_requests_a_range_loads_a_listing_and_gets_a_negotiated_variant() {
    if !have_tool(CHROMIUM, "--version") {
        return;
    }
    let server = serve(&bundled_site(), ServerConfig::default());
    let size = std::fs::metadata(bundled_site().join("files/large.txt"))
        .unwrap()
        .len();

    // The ranges page asks for bytes 100-199 with fetch() and writes what came back.
    let dom = dump_dom(&server.url("/topics/ranges.html"));
    assert!(
        dom.contains(&format!(
            r#"<span id="range-check">206 bytes 100-199/{size} 100 bytes</span>"#
        )),
        "the browser's Range request: {dom}"
    );

    // A directory without index.html: the listing, with its links, and no dot-file.
    let dom = dump_dom(&server.url("/listing/"));
    assert!(dom.contains("<h1>Index of /listing/</h1>"), "{dom}");
    assert!(
        dom.contains(r#"<a href="read%20me.txt">read me.txt</a>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"<a href="sub/">sub/</a>"#), "{dom}");
    assert!(!dom.contains(".secret"), "{dom}");

    // A negotiated resource: headless Chromium asks for English (en-US).
    let dom = dump_dom(&server.url("/negotiation/hello"));
    assert!(dom.contains(r#"<h1 id="greeting">Hello!</h1>"#), "{dom}");
}
