//! Port of a small Django (or Flask) application, the `/app/` demo, organised as the first
//! lecture's last slide draws it: **models** hold the state (users, sessions), **views**
//! turn it into HTML, **controllers** take a request, use the models, and pick a view.
//!
//! Python: a Django app's `models.py`, templates and `views.py` (Flask: the same with a
//! route decorator per controller).
//!
//! | file | MVC part | what it holds |
//! |---|---|---|
//! | `model.rs` | model | [`Model`]: the users file and the session store |
//! | `view.rs` | view | one function per page, escaping what the client sent |
//! | `controller.rs` | controller | [`handle`]: the routes, and [`finish`] for a password check's verdict |
//! | `mod.rs` | | [`Reply`]: status, headers and body, as bytes |
//!
//! The server (src/http/server.rs) reads the request and its body, calls [`handle`], and
//! either sends the [`Reply`] or runs the [`Check`](crate::http::Check) on the loop's
//! worker pool and calls [`finish`] with its verdict.

mod controller;
mod model;
mod view;

pub use controller::{finish, handle, is_app_path, AppRequest, Pending, Step, APP_REALM};
pub use model::Model;
pub use view::Via;

use std::io::Write as _;

use super::{error_page, Status, HTML, SERVER};

/// The index page, for a test elsewhere in the crate that checks its credentials.
#[cfg(test)]
pub(crate) fn index_page_for_tests() -> String {
    view::index()
}

/// `Content-Type` of the plain-text pages.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// A response the app (or the server's access control) builds: status, extra headers and
/// body. Every one carries `Cache-Control: no-store` unless it says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: Status,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// Headers besides `Server`, `Date`, `Content-Type`, `Content-Length` and `Connection`.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// An HTML page.
    pub fn html(status: Status, page: String) -> Reply {
        Reply {
            status,
            content_type: HTML,
            headers: vec![("Cache-Control", "no-store".to_owned())],
            body: page.into_bytes(),
        }
    }

    /// A plain-text page.
    pub fn text(status: Status, text: String) -> Reply {
        Reply {
            content_type: TEXT,
            ..Reply::html(status, text)
        }
    }

    /// The server's error page for `status` (`detail` is fixed text, never the client's).
    pub fn error(status: Status, detail: &str) -> Reply {
        Reply::html(status, error_page(status, detail))
    }

    /// A redirect (301, 303) to `location`, a path of this server.
    pub fn redirect(status: Status, location: &str) -> Reply {
        Reply::error(status, "see the Location header").header("Location", location.to_owned())
    }

    /// 405 with the methods the resource allows.
    pub fn not_allowed(allow: &str) -> Reply {
        Reply::error(Status::MethodNotAllowed, "this method is not allowed here")
            .header("Allow", allow.to_owned())
    }

    /// The same reply with one more header.
    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The response's bytes: head, then the body unless `head_only` (the answer to HEAD,
    /// whose `Content-Length` still says what GET would send).
    pub fn to_bytes(&self, date: &str, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.0 {}\r\nServer: {SERVER}\r\nDate: {date}\r\nContent-Type: {}\r\n\
             Content-Length: {}\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}
