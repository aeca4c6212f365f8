//! Port of a Django app's templates: the app's views, the HTML (and plain text) of each
//! page. Pure functions of what the controller passes in; everything that came from a
//! client is HTML-escaped here, at the one place where text becomes markup.
//!
//! Python: the templates of a Django or Flask app (`render_template`, with autoescaping
//! on); here `format!` and [`html_escape`].

use crate::http::html_escape;

/// A page in the app's layout: title, then the body's HTML (already safe).
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
         <body>\n<h1>{title}</h1>\n{body}\n<p><a href=\"/app/\">the app's index</a> · \
         <a href=\"/\">the site</a></p>\n</body>\n</html>\n"
    )
}

/// `GET /app/`: links to the demos, and the bundled demo users' credentials.
pub fn index() -> String {
    layout(
        "A small app: sessions, logins, authorization",
        "<p>The demos of the HTTP chapter's second part, served by the same loop as the \
         static files. Watch them with <code>curl -v</code>: the cookies, the redirects \
         and the challenges are all in the headers.</p>\n\
         <ul id=\"demos\">\n\
         <li><a id=\"link-visits\" href=\"/app/visits\">Visits</a>: a counter kept in your \
         session (a cookie <code>sid</code> names it).</li>\n\
         <li><a id=\"link-login\" href=\"/app/login\">Log in</a> with a form: a new session \
         id on success.</li>\n\
         <li><a id=\"link-whoami\" href=\"/app/whoami\">Who am I?</a> Anonymous, a session's \
         user, or HTTP Basic credentials.</li>\n\
         </ul>\n\
         <p id=\"credentials\">With the users file bundled with the crate \
         (<code>data/users.htpasswd</code>), log in as <code>demo</code> with password \
         <code>demo</code>, or <code>alice</code> with <code>wonderland</code>.</p>\n\
         <form method=\"post\" action=\"/app/logout\"><button id=\"logout\">Log out\
         </button></form>",
    )
}

/// `GET /app/visits`: this session's visits to this page.
pub fn visits(count: u64) -> String {
    layout(
        "Visits",
        &format!(
            "<p id=\"visits\">{count}</p>\n<p>Reload to count up; a client without the \
             cookie (<code>curl</code> without <code>-b</code>) is a new session each time.</p>"
        ),
    )
}

/// `GET /app/login` (and a wrong login's answer): the form, with `error` shown and `user`
/// kept in its field.
pub fn login(user: &str, error: bool) -> String {
    let error = if error {
        "<p id=\"error\">wrong user name or password</p>\n"
    } else {
        ""
    };
    layout(
        "Log in",
        &format!(
            "{error}<form method=\"post\" action=\"/app/login\">\n\
             <label>User <input id=\"user\" name=\"user\" value=\"{user}\" \
             autocomplete=\"username\"></label>\n\
             <label>Password <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\"></label>\n\
             <button id=\"submit\" type=\"submit\">Log in</button>\n</form>",
            user = html_escape(user.as_bytes()),
        ),
    )
}

/// How the request proved who it acts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A session cookie from a form login.
    Session,
    /// `Authorization: Basic` on this very request.
    Basic,
}

/// `GET /app/whoami`: `anonymous`, or `user=NAME via=session|basic`, as plain text (so the
/// name needs no HTML escaping, and the content type says so: `text/plain`).
pub fn whoami(user: Option<(&str, Via)>) -> String {
    match user {
        None => "anonymous\n".to_owned(),
        Some((name, via)) => {
            let via = match via {
                Via::Session => "session",
                Via::Basic => "basic",
            };
            // A name with a line break would forge a second line: show it escaped.
            format!("user={} via={via}\n", name.escape_debug())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_form_escapes_the_user_it_keeps() {
        let page = login("\"><script>alert(1)</script>", true);
        assert!(page.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("<p id=\"error\">wrong user name or password</p>"));
        assert!(!login("x", false).contains("id=\"error\""));
    }

    #[test]
    fn whoami_lines() {
        assert_eq!(whoami(None), "anonymous\n");
        assert_eq!(whoami(Some(("al", Via::Basic))), "user=al via=basic\n");
        assert_eq!(
            whoami(Some(("a\nuser=root", Via::Session))),
            "user=a\\nuser=root via=session\n"
        );
    }
}
