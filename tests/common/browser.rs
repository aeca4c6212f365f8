//! Headless Chromium for the tests that load pages in a real browser (tests/browser.rs,
//! tests/browser_app.rs, tests/proxy.rs): one place for the flags that make it start
//! quietly on a CI machine, so every test runs the browser the same way.
//!
//! A test checks [`have_chromium`] first: it is skipped with a message where Chromium is
//! not installed, except under CI (`CI` set), where .ci/run installs it and a missing
//! browser fails the test.

use std::time::Duration;

use super::http::{have_tool, run_bounded, TempDir};

/// The browser's binary: Debian's package installs `chromium`.
pub const CHROMIUM: &str = "chromium";

/// Whether Chromium is installed (see [`have_tool`] for the skip and the CI rule).
pub fn have_chromium() -> bool {
    have_tool(CHROMIUM, "--version")
}

/// Renders `url` headlessly in a fresh profile and returns the DOM after the page's load
/// event and `budget` of virtual time more (for the page's script to run). `extra` are
/// further flags (a proxy, say). Panics with Chromium's stderr if it fails, and kills it
/// after 90 seconds.
pub fn dump_dom(url: &str, budget: Duration, extra: &[&str]) -> String {
    let profile = TempDir::new("chromium-profile");
    let user_data_dir = format!("--user-data-dir={}", profile.path().display());
    let budget = format!("--virtual-time-budget={}", budget.as_millis());
    let mut args = vec![
        "--headless",
        "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        &user_data_dir,
    ];
    args.extend_from_slice(extra);
    // Let the load event (and the page's script) run before the DOM is dumped.
    args.extend_from_slice(&[&budget, "--dump-dom", url]);
    let out = run_bounded(Duration::from_secs(90), CHROMIUM, &args);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
