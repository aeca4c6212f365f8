//! The `/app/` login in a real browser: headless Chromium opens a page that loads
//! `/app/login` in a frame, types the demo credentials into the form's fields and clicks
//! its button, so the browser itself posts the form (with its `Origin`), follows the 303
//! and stores the `sid` cookie; the page then shows what the frame landed on
//! (`/app/whoami`), and the test reads it from the DOM Chromium dumps.
//!
//! Skipped with a message where Chromium is not installed, except under CI (`CI` set),
//! where .ci/run installs it and a missing browser fails the test.

mod common;

use std::time::Duration;

use common::browser::{dump_dom, have_chromium};
use common::http::*;

/// The driver page: same origin as the app, so its script may reach into the frame.
const DRIVER: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>login driver</title></head>
<body>
<p id="result">pending</p>
<iframe id="app" src="/app/login"></iframe>
<script>
var frame = document.getElementById("app");
var submitted = false;
frame.addEventListener("load", function () {
  var doc = frame.contentDocument;
  if (!submitted) {
    // The login form, as a user would fill it in.
    submitted = true;
    doc.getElementById("user").value = "alice";
    doc.getElementById("password").value = "wonder land&more";
    doc.getElementById("submit").click();
  } else {
    document.getElementById("result").textContent =
      frame.contentWindow.location.pathname + " " + doc.body.textContent.trim();
  }
});
</script>
</body></html>
"#;

#[test]
fn chromium_logs_in_through_the_form_and_whoami_names_the_user() {
    if !have_chromium() {
        return;
    }
    let root = TempDir::new("browser-app");
    root.write("driver.html", DRIVER.as_bytes());
    let users = htpasswd(&root, "users", &[("alice", "wonder land&more")], 4);
    let (server, _) = serve_with_stats(
        root.path(),
        app_config(&users, 100, Duration::from_secs(600)),
    );
    let dom = dump_dom(&server.url("/driver.html"), Duration::from_secs(10), &[]);
    assert!(
        dom.contains(r#"<p id="result">/app/whoami user=alice via=session</p>"#),
        "the browser did not end up logged in: {dom}"
    );
}
