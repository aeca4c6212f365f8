//! Port of `BaseHTTPRequestHandler.send_response`, `send_header`, `end_headers` and
//! `send_error`: the response head (status line and headers), and the small HTML page an
//! error carries (`error_message_format` is the model for [`error_page`]).

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Status;

/// The `Server` header: the crate and its version.
pub const SERVER: &str = concat!("mio-selectors/", env!("CARGO_PKG_VERSION"));

/// Everything that varies in a response head.
///
/// Python: the `send_header` calls in `SimpleHTTPRequestHandler.send_head`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{ResponseHead, Status};
///
/// let mut out = Vec::new();
/// let head = ResponseHead { content_length: 5, ..ResponseHead::new(Status::Ok, "text/plain; charset=utf-8") };
/// head.write_to(&mut out, "Sun, 06 Nov 1994 08:49:37 GMT");
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("HTTP/1.0 200 OK\r\n"));
/// assert!(text.contains("\r\nContent-Length: 5\r\n"));
/// assert!(text.ends_with("Connection: close\r\n\r\n"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    /// The status line's code and phrase.
    pub status: Status,
    /// `Content-Type` (left out of a 304, which has no body to describe).
    pub content_type: &'a str,
    /// `Content-Length`: the body's size, also in the answer to HEAD (RFC 9110 §9.3.2).
    pub content_length: u64,
    /// `Last-Modified`, for files.
    pub last_modified: Option<SystemTime>,
    /// `Location`, for a 301.
    pub location: Option<&'a str>,
    /// `ETag`, for files (also on 206 and 304).
    pub etag: Option<&'a str>,
    /// `Accept-Ranges: bytes`, for files.
    pub accept_ranges: bool,
    /// `Content-Range`, for a 206 or 416.
    pub content_range: Option<ContentRange>,
    /// `Vary`, for negotiated responses (an empty value sends none).
    pub vary: &'a str,
    /// `Content-Language`, for a negotiated variant that has one (not on a 304).
    pub content_language: Option<&'a str>,
    /// `Content-Location`, for a negotiated variant: its file name.
    pub content_location: Option<&'a str>,
    /// Freshness (`--cache`): max-age in seconds, and the `Date` it counts from.
    pub freshness: Option<(u64, SystemTime)>,
    /// Keep the connection open after this response (`Connection: keep-alive`) or not
    /// (`Connection: close`).
    pub keep_alive: bool,
}

impl<'a> ResponseHead<'a> {
    /// A head with no body, no dates and `Connection: close`.
    pub fn new(status: Status, content_type: &'a str) -> ResponseHead<'a> {
        ResponseHead {
            status,
            content_type,
            content_length: 0,
            last_modified: None,
            location: None,
            etag: None,
            accept_ranges: false,
            content_range: None,
            vary: "",
            content_language: None,
            content_location: None,
            freshness: None,
            keep_alive: false,
        }
    }

    /// Appends the head, blank line included, to `out`. `date` is the `Date` header's
    /// value (see [`DateCache`]).
    ///
    /// The status line always says `HTTP/1.0`: that is the version this server implements
    /// (RFC 9110 §6.2 asks for the highest version the server conforms to). Clients of 1.1
    /// then read the response by 1.0's rules, which is why a kept-alive connection is
    /// announced with `Connection: keep-alive` whatever the request's version.
    pub fn write_to(&self, out: &mut Vec<u8>, date: &str) {
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.0 {}\r\nServer: {SERVER}\r\nDate: {date}\r\n",
            self.status
        );
        if self.status.has_body() {
            let _ = write!(
                out,
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                self.content_type, self.content_length
            );
        }
        if let Some(range) = self.content_range {
            let _ = match range {
                ContentRange::Part { first, last, size } => {
                    write!(out, "Content-Range: bytes {first}-{last}/{size}\r\n")
                }
                ContentRange::Unsatisfied { size } => {
                    write!(out, "Content-Range: bytes */{size}\r\n")
                }
            };
        }
        if self.accept_ranges {
            out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
        }
        if let Some(modified) = self.last_modified {
            let _ = write!(out, "Last-Modified: {}\r\n", fixdate(modified));
        }
        if let Some(etag) = self.etag {
            let _ = write!(out, "ETag: {etag}\r\n");
        }
        if let Some((seconds, date)) = self.freshness {
            super::write_freshness(out, seconds, date);
        }
        if !self.vary.is_empty() {
            let _ = write!(out, "Vary: {}\r\n", self.vary);
        }
        if let (Some(language), true) = (self.content_language, self.status.has_body()) {
            let _ = write!(out, "Content-Language: {language}\r\n");
        }
        if let Some(location) = self.content_location {
            let _ = write!(out, "Content-Location: {location}\r\n");
        }
        if let Some(location) = self.location {
            let _ = write!(out, "Location: {location}\r\n");
        }
        if self.status == Status::MethodNotAllowed {
            out.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        out.extend_from_slice(if self.keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
    }
}

/// A `Content-Range` header (RFC 9110 §14.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes FIRST-LAST/SIZE`, on a 206.
    Part {
        /// The first byte sent.
        first: u64,
        /// The last byte sent (inclusive).
        last: u64,
        /// The file's size.
        size: u64,
    },
    /// `bytes */SIZE`, on a 416.
    Unsatisfied {
        /// The file's size.
        size: u64,
    },
}

/// The `Content-Type` of the pages [`error_page`] makes.
pub const HTML: &str = "text/html; charset=utf-8";

/// A small HTML page for an error (or a redirect): title and heading are the status, the
/// paragraph says why. `detail` is always the server's own fixed text, never part of the
/// request, so nothing a client sends is echoed into HTML.
///
/// Python: `BaseHTTPRequestHandler.error_message_format`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{error_page, Status};
///
/// let page = error_page(Status::NotFound, "no such file");
/// assert!(page.contains("<title>404 Not Found</title>") && page.contains("no such file"));
/// ```
pub fn error_page(status: Status, detail: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{status}</title></head>\n\
         <body><h1>{status}</h1><p>{detail}</p><hr><address>{SERVER}</address></body></html>\n"
    )
}

/// A whole HTTP/1.0 error response that ends the connection: head, [`error_page`] and
/// `Connection: close`, ready to write to a socket the server will not serve, such as a
/// client over the connection limit. `server` names the program in a `Server` field; a
/// proxy, which speaks for the origin, passes `None`.
///
/// Python: `BaseHTTPRequestHandler.send_error(503)` followed by `close_connection = True`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{closing_error_response, Status};
///
/// let reply = closing_error_response(Status::ServiceUnavailable, "busy", None);
/// let text = String::from_utf8(reply).unwrap();
/// assert!(text.starts_with("HTTP/1.0 503 Service Unavailable\r\n"));
/// assert!(text.contains("\r\nConnection: close\r\n\r\n<!DOCTYPE html>"));
/// ```
pub fn closing_error_response(status: Status, detail: &str, server: Option<&str>) -> Vec<u8> {
    let page = error_page(status, detail);
    let server = server.map_or_else(String::new, |name| format!("Server: {name}\r\n"));
    let mut out = format!(
        "HTTP/1.0 {status}\r\n{server}Content-Type: {HTML}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        page.len()
    )
    .into_bytes();
    out.extend_from_slice(page.as_bytes());
    out
}

/// The last second an HTTP date can name: 9999-12-31 23:59:59 UTC (IMF-fixdate has four
/// digits for the year).
const LATEST: u64 = 253_402_300_799;

/// `time` in whole seconds, within what an HTTP date can say: [1970, 9999]. A file can be
/// dated outside it (`touch -d 1960-01-01`, or year 10000 on tmpfs), and the clock can be
/// set anywhere; httpdate panics on both.
fn representable_second(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
        .min(LATEST)
}

/// `time` as an IMF-fixdate, clamped to [1970, 9999] so that no time panics. It formats
/// itself (`Display`), so a header is written straight into the response head, with no
/// `String` per response.
pub(crate) fn fixdate(time: SystemTime) -> httpdate::HttpDate {
    httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(representable_second(time)))
}

/// [`fixdate`] as a `String`.
pub(crate) fn http_date(time: SystemTime) -> String {
    fixdate(time).to_string()
}

/// The `Date` header's value, formatted once per second rather than once per response.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::DateCache;
///
/// let mut dates = DateCache::default();
/// let now = dates.now().to_owned();
/// assert!(now.ends_with(" GMT") && now.len() == 29);
/// ```
#[derive(Debug, Default)]
pub struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    /// The current time in IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). A clock set
    /// before 1970 or after 9999 gives the nearest date HTTP can say.
    pub fn now(&mut self) -> &str {
        let second = representable_second(SystemTime::now());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = http_date(UNIX_EPOCH + Duration::from_secs(second));
        }
        &self.text
    }

    /// [`now`](Self::now), and the time it stands for in whole seconds: what `Expires`
    /// counts from, so that it is exactly `Date` plus the max-age.
    pub fn now_and_time(&mut self) -> (&str, SystemTime) {
        self.now();
        let time = UNIX_EPOCH + Duration::from_secs(self.second);
        (&self.text, time)
    }

    /// A file's modification time as `Last-Modified` may state it next to the `Date` that
    /// [`now`](Self::now) gives: in whole seconds, not before 1970, and not later than
    /// that `Date` (RFC 9110 §8.8.2.1: a time in the future is replaced by the message's
    /// date), so never past 9999 either.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::http::DateCache;
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    ///
    /// let mut dates = DateCache::default();
    /// let before_1970 = UNIX_EPOCH - Duration::from_secs(86_400);
    /// assert_eq!(dates.last_modified(before_1970), UNIX_EPOCH);
    /// let next_year = SystemTime::now() + Duration::from_secs(366 * 86_400);
    /// assert!(dates.last_modified(next_year) <= SystemTime::now());
    /// ```
    pub fn last_modified(&mut self, modified: SystemTime) -> SystemTime {
        self.now();
        let second = representable_second(modified).min(self.second);
        UNIX_EPOCH + Duration::from_secs(second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_text(head: &ResponseHead<'_>) -> String {
        let mut out = Vec::new();
        head.write_to(&mut out, "D");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn not_modified_has_no_body_headers() {
        let text = head_text(&ResponseHead {
            keep_alive: true,
            last_modified: Some(UNIX_EPOCH),
            ..ResponseHead::new(Status::NotModified, HTML)
        });
        assert_eq!(
            text,
            format!(
                "HTTP/1.0 304 Not Modified\r\nServer: {SERVER}\r\nDate: D\r\n\
                 Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: keep-alive\r\n\r\n"
            )
        );
    }

    #[test]
    fn dates_outside_what_http_can_say_are_clamped_not_a_panic() {
        let far_future = UNIX_EPOCH + Duration::from_secs(300_000_000_000); // year 11476
        let before_1970 = UNIX_EPOCH - Duration::from_secs(315_619_200); // 1960
        assert_eq!(http_date(far_future), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(before_1970), "Thu, 01 Jan 1970 00:00:00 GMT");
        for modified in [far_future, before_1970] {
            let text = head_text(&ResponseHead {
                last_modified: Some(modified),
                ..ResponseHead::new(Status::Ok, HTML)
            });
            assert!(text.contains("\r\nLast-Modified: "), "{text}");
        }
        let mut dates = DateCache::default();
        let date = httpdate::parse_http_date(dates.now()).unwrap();
        assert!(dates.last_modified(far_future) <= date + Duration::from_secs(1));
        assert!(dates.last_modified(far_future) >= date);
        assert_eq!(dates.last_modified(before_1970), UNIX_EPOCH);
    }

    #[test]
    fn method_not_allowed_says_what_is() {
        let text = head_text(&ResponseHead::new(Status::MethodNotAllowed, HTML));
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"), "{text}");
    }

    #[test]
    fn redirect_has_location() {
        let text = head_text(&ResponseHead {
            location: Some("/docs/"),
            ..ResponseHead::new(Status::MovedPermanently, HTML)
        });
        assert!(text.contains("\r\nLocation: /docs/\r\n"), "{text}");
    }
}
