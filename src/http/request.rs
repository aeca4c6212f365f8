//! Port of `http.server.BaseHTTPRequestHandler.parse_request`: the request head, read
//! incrementally, bytes in, [`Request`]s out.
//!
//! Python reads with `rfile.readline(65537)` from a blocking socket. A non-blocking server
//! cannot wait for a line, so this reader is fed whatever bytes arrived
//! ([`RequestReader::feed`]) and asked for complete requests
//! ([`RequestReader::next_request`]); until a whole head is there the answer is "not yet",
//! never an error (httparse's `Status::Partial`).
//!
//! No I/O happens here, so every rule is unit-tested with plain byte strings, and the
//! fuzz target in `fuzz/` feeds it arbitrary input.

use std::mem::MaybeUninit;
use std::time::SystemTime;

use super::Status;

/// The request's method: one of those RFC 9110 defines. Static files answer GET and HEAD,
/// the `/app/` routes POST too; the others get a 405 from the server, with the `Allow`
/// of the resource. An unknown method is a 501 [`RequestError`] from the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`: send the file.
    Get,
    /// `HEAD`: the headers `GET` would send, without the body.
    Head,
    /// `POST`: a form for an `/app/` route (a 405 elsewhere).
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
}

impl Method {
    /// The method as it appears on the request line.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }
}

/// The HTTP version on the request line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0` (RFC 1945): one request per connection unless the client asks for
    /// `Connection: keep-alive`.
    Http10,
    /// `HTTP/1.1`: connections persist unless either side says `Connection: close`.
    Http11,
}

/// One parsed request head.
///
/// Python: the attributes `parse_request` sets on the handler (`command`, `path`,
/// `request_version`, `headers`), keeping only the headers this server acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `HEAD`.
    pub method: Method,
    /// The request target in origin form (`/docs/a%20b.html?x=1`), still percent-encoded.
    /// An absolute-form target (`http://host/path`, as proxies send) is cut to its path.
    pub target: String,
    /// The version on the request line.
    pub version: Version,
    /// Whether the client wants the connection kept open after the response: HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `If-Modified-Since`, when it is a valid HTTP date (an invalid one is ignored, as
    /// RFC 9110 §13.1.3 says).
    pub if_modified_since: Option<SystemTime>,
    /// The authority the request was sent to (`example.com`, `127.0.0.1:8080`, `[::1]:80`):
    /// the one in an absolute-form target, else the `Host` header (RFC 9112 §3.2.2), checked
    /// against RFC 3986's `host [":" port]`. `None` when an HTTP/1.0 request names none, or
    /// names an empty one. Redirects are made absolute with it.
    pub host: Option<String>,
    /// `X-Forwarded-For`, set by a proxy in front (docs/deploy.md); for the access log only.
    pub forwarded_for: Option<String>,
    /// `Authorization`, as sent (Basic credentials are parsed where they are needed).
    pub authorization: Option<Vec<u8>>,
    /// `Cookie` (several `Cookie` lines are joined with `; `, as RFC 6265 §5.4 sends one).
    pub cookie: Option<String>,
    /// `Origin`, for the CSRF check of a POST.
    pub origin: Option<String>,
    /// `Content-Type` of the body.
    pub content_type: Option<String>,
    /// `Content-Length`: `None` without one. The body was read (and is in `body`) before
    /// the request was returned, whatever the method: a body the route does not take is
    /// skipped by its length, never parsed as the next request.
    pub content_length: Option<u64>,
    /// The body: `content_length` bytes, at most [`Limits::max_body`].
    pub body: Vec<u8>,
    /// The headers of conditional, range and negotiated requests, as received.
    pub fields: Fields,
    /// Bytes the head took on the wire, including leading empty lines (the body not
    /// included).
    pub head_len: usize,
}

/// The request headers the responder reads beyond the request line's needs: validators
/// (RFC 9110 §13), ranges (§14) and negotiation (§12), kept as received (trimmed). Dates
/// are parsed where they are used, since an invalid one is simply ignored there.
///
/// A field sent more than once is joined with `", "` (RFC 9110 §5.3): for the list-valued
/// ones that is the same list; for `Range`, `If-Range` and `If-Unmodified-Since` it makes
/// a value that is not valid, so the field is ignored, which is the safe reading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<String>,
    /// `If-Range`.
    pub if_range: Option<String>,
    /// `Range`.
    pub range: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// `Accept-Language`.
    pub accept_language: Option<String>,
}

impl Fields {
    /// Keeps `value` if `name` is one of the fields; says whether it was.
    fn take(&mut self, name: &str, value: &[u8]) -> bool {
        let slot = if name.eq_ignore_ascii_case("if-match") {
            &mut self.if_match
        } else if name.eq_ignore_ascii_case("if-none-match") {
            &mut self.if_none_match
        } else if name.eq_ignore_ascii_case("if-unmodified-since") {
            &mut self.if_unmodified_since
        } else if name.eq_ignore_ascii_case("if-range") {
            &mut self.if_range
        } else if name.eq_ignore_ascii_case("range") {
            &mut self.range
        } else if name.eq_ignore_ascii_case("accept") {
            &mut self.accept
        } else if name.eq_ignore_ascii_case("accept-language") {
            &mut self.accept_language
        } else {
            return false;
        };
        // Not UTF-8 (obs-text): no valid value of these fields has such bytes; ignoring
        // them is the same as ignoring the field's junk elements.
        join(slot, ", ", trim(value));
        true
    }
}

/// Keeps a field's value in `slot`, after what an earlier line of the same field left
/// there: RFC 9110 §5.3 lets a field's lines be joined into one (with `; ` for `Cookie`,
/// RFC 6265 §5.4). Bytes that are not UTF-8 become U+FFFD.
fn join(slot: &mut Option<String>, separator: &str, value: &[u8]) {
    let value = String::from_utf8_lossy(value);
    match slot {
        Some(previous) => {
            previous.push_str(separator);
            previous.push_str(&value);
        }
        None => *slot = Some(value.into_owned()),
    }
}

/// Why a request head was refused: the status to answer with, and a short description for
/// the log and the error page.
///
/// A reader that has returned one stays failed: the bytes after a bad head cannot be
/// trusted to start a new request, so the connection must close after the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// The response status: 400, 405, 413, 414, 431, 501 or 505.
    pub status: Status,
    /// What was wrong, in a few words: `"invalid header name"`.
    pub detail: &'static str,
    /// The method, when the refused head began with `GET ` or `HEAD `: the answer to a
    /// refused HEAD carries no body either (RFC 9110 §9.3.2).
    pub method: Option<Method>,
}

impl RequestError {
    const fn new(status: Status, detail: &'static str) -> RequestError {
        RequestError {
            status,
            detail,
            method: None,
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for RequestError {}

/// The most headers [`Limits::max_headers`] may allow: the size of the parser's stack array.
pub const MAX_HEADERS_CAP: usize = 128;

/// Size limits on a request head, each answered with its own status.
///
/// The defaults are nginx's: an 8 KiB request line (`large_client_header_buffers 4 8k`),
/// and a head of at most 16 KiB here, with 64 headers (browsers send about 15); a body of
/// at most 64 KiB (`--max-body`; nginx's `client_max_body_size` is 1 MiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (`GET /path HTTP/1.1`), in bytes: longer is 414 URI Too Long.
    pub max_request_line: usize,
    /// Largest head (request line and headers, up to the blank line): larger is 431.
    pub max_head: usize,
    /// Most header lines: more is 431. Capped at [`MAX_HEADERS_CAP`].
    pub max_headers: usize,
    /// Largest body (`Content-Length`) of any request: larger is 413, before a byte of
    /// it is read.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: 64,
            max_body: super::DEFAULT_MAX_BODY,
        }
    }
}

/// Reads request heads from a byte stream that arrives in pieces of any size.
///
/// Python: none; `http.server` blocks in `readline()` instead.
///
/// Feed it what each read returned, then take requests until it says `Ok(None)`: several
/// pipelined requests may arrive in one read, and a head may arrive one byte at a time.
/// Bytes after a head stay buffered for the next request. Work is linear in the input: the
/// end of a head is searched for only in bytes not seen before, and httparse runs once per
/// complete head (its docs warn that re-parsing a growing buffer is quadratic).
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{Limits, Method, RequestReader};
///
/// let mut reader = RequestReader::new(Limits::default());
/// reader.feed(b"GET /index.html HTTP/1.0\r\n");
/// assert_eq!(reader.next_request(), Ok(None)); // not yet: no blank line
/// reader.feed(b"\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
///
/// let first = reader.next_request().unwrap().unwrap();
/// assert_eq!((first.method, first.target.as_str(), first.keep_alive), (Method::Get, "/index.html", false));
/// let second = reader.next_request().unwrap().unwrap();
/// assert_eq!((second.method, second.keep_alive), (Method::Head, true));
/// assert_eq!(reader.next_request(), Ok(None));
/// ```
#[derive(Debug)]
pub struct RequestReader {
    limits: Limits,
    /// Bytes received; those from `consumed` on are not yet part of a returned request.
    buf: Vec<u8>,
    /// How many bytes at the front of `buf` belong to requests already returned. They are
    /// dropped when the next bytes arrive, not after each request: a read that brings many
    /// small pipelined requests then costs one move of the buffer, not one per request.
    consumed: usize,
    /// How far the unconsumed bytes have been searched for the end of the head.
    scanned: usize,
    /// The refused head's request target, if its request line could be read: kept for
    /// [`request_target`](Self::request_target) after the buffer is dropped.
    refused_target: Option<String>,
    /// Set once a head was refused; every later call returns it again.
    failed: Option<RequestError>,
    /// The current head's complete request line has been checked by httparse.
    line_checked: bool,
    /// A parsed head whose body is still arriving.
    waiting_body: Option<Request>,
}

/// How much of an incomplete request line is checked for garbage on every call.
const EARLY_CHECK: usize = 32;

/// Above this, an emptied buffer gives its memory back, so that an idle keep-alive
/// connection holds little.
const KEEP_CAPACITY: usize = 4 * 1024;

impl RequestReader {
    /// A reader with nothing buffered.
    pub fn new(limits: Limits) -> RequestReader {
        RequestReader {
            limits,
            buf: Vec::new(),
            consumed: 0,
            scanned: 0,
            failed: None,
            refused_target: None,
            line_checked: false,
            waiting_body: None,
        }
    }

    /// Appends bytes received from the client.
    ///
    /// The buffer grows by at most what is fed between calls to
    /// [`next_request`](Self::next_request), which refuses a head as soon as it passes a
    /// limit; the caller bounds what it feeds (one read at a time).
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes buffered and not yet part of a returned request.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// Whether part of a request (its head, or its body) has arrived: the connection is in
    /// the middle of a request (a timeout then deserves a 408), not idle between requests.
    pub fn in_request(&self) -> bool {
        self.buffered() > 0
    }

    /// The next complete request (its head, and its body if it has a `Content-Length`),
    /// `Ok(None)` if it has not fully arrived yet, or the reason it is refused.
    ///
    /// # Errors
    /// A [`RequestError`] with the status to answer: 400 for a malformed head (or both
    /// `Content-Length` and `Transfer-Encoding`, or two different lengths), 501 for an
    /// unknown method or a `Transfer-Encoding`, 413 for a body over
    /// [`Limits::max_body`], 414, 431 for the other [`Limits`], 505 for a version other
    /// than 1.x. After an error the reader stays failed.
    pub fn next_request(&mut self) -> Result<Option<Request>, RequestError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let parsed = match self.waiting_body.take() {
            Some(request) => Ok(Some(request)),
            None => self.parse(),
        };
        match parsed {
            Ok(Some(mut request)) => {
                // The body is read as it arrives, never by waiting: until it is all here,
                // the head waits (parsed once) and the request is "in progress", so the
                // head timeout bounds a body that trickles in too.
                // Saturating: a `Limits::max_body` beyond the address space (a library
                // user's u64::MAX) must not wrap `end` below the head and panic the slice
                // below; such a body simply never completes (the head timeout ends it).
                let body_len =
                    usize::try_from(request.content_length.unwrap_or(0)).unwrap_or(usize::MAX);
                let end = request.head_len.saturating_add(body_len);
                if self.buffered() < end {
                    self.waiting_body = Some(request);
                    return Ok(None);
                }
                if body_len > 0 {
                    request.body = self.pending()[request.head_len..end].to_vec();
                }
                self.consume(end);
                Ok(Some(request))
            }
            Ok(None) => Ok(None),
            Err(mut err) => {
                err.method = self.pending_method();
                self.refused_target = self.request_target().map(str::to_owned);
                self.failed = Some(err);
                self.buf = Vec::new();
                self.consumed = 0;
                Err(err)
            }
        }
    }

    /// The method of the request whose head is arriving, as soon as its first word and the
    /// space after it are there (the point where nginx knows it): a refused or timed-out
    /// HEAD is answered without a body too.
    pub fn pending_method(&self) -> Option<Method> {
        let pending = self.pending();
        let start = pending.iter().position(|&b| b != b'\r' && b != b'\n')?;
        let line = &pending[start..];
        if line.starts_with(b"HEAD ") {
            Some(Method::Head)
        } else if line.starts_with(b"GET ") {
            Some(Method::Get)
        } else {
            None
        }
    }

    /// The target of the request whose head is arriving (or was refused), as soon as its
    /// request line's second word is complete: where a refusal or a timeout was headed, so
    /// that the answer can follow that place's rules (every `/app/` response is
    /// `no-store`). `None` before then, or if it is not UTF-8.
    pub fn request_target(&self) -> Option<&str> {
        if self.failed.is_some() {
            return self.refused_target.as_deref();
        }
        let pending = self.pending();
        let start = pending.iter().position(|&b| b != b'\r' && b != b'\n')?;
        let line = &pending[start..pending.len().min(start + self.limits.max_request_line)];
        let after_method = memchr(b' ', line)? + 1;
        let rest = &line[after_method..];
        let end = rest
            .iter()
            .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// Drops a consumed head, keeping the bytes after it (pipelining).
    fn consume(&mut self, len: usize) {
        self.consumed += len;
        self.scanned = 0;
        self.line_checked = false;
        if self.consumed == self.buf.len() {
            self.buf.clear();
            self.consumed = 0;
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
    }

    /// The bytes not yet part of a returned request; every position below counts from
    /// their start.
    fn pending(&self) -> &[u8] {
        &self.buf[self.consumed..]
    }

    fn parse(&mut self) -> Result<Option<Request>, RequestError> {
        // RFC 9112 §2.2: a server SHOULD ignore empty lines before the request line (some
        // clients send a CRLF after a POST body). Skipping them here keeps the search below
        // simple: the first blank line after the request line ends the head. They still
        // count toward the head size limit, so a stream of CRLFs cannot grow the buffer.
        let start = self
            .pending()
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(self.buffered());
        let Some(end) = self.find_head_end(start) else {
            return self.check_partial(start).map(|()| None);
        };
        if end > self.limits.max_head {
            return Err(RequestError::new(
                Status::HeaderFieldsTooLarge,
                "request head too large",
            ));
        }
        let buf = self.pending();
        let line_end = memchr(b'\n', &buf[start..end]).map_or(end, |i| start + i);
        if line_end - start > self.limits.max_request_line {
            return Err(RequestError::new(
                Status::UriTooLong,
                "request line too long",
            ));
        }
        parse_head(&buf[..end], start, &self.limits).map(Some)
    }

    /// Where the head ends (just past its blank line), searching only bytes not searched
    /// before. httparse accepts bare `\n` line endings, so the blank line is `\n\r\n` or
    /// `\n\n`.
    fn find_head_end(&mut self, start: usize) -> Option<usize> {
        // Back up two bytes: the terminator may straddle the previous search's end.
        let from = self.scanned.saturating_sub(2).max(start);
        let buf = &self.buf[self.consumed..];
        let found = buf[from..].windows(2).enumerate().find_map(|(i, w)| {
            let at = from + i;
            match w {
                [b'\n', b'\n'] => Some(at + 2),
                [b'\n', b'\r'] if buf.get(at + 2) == Some(&b'\n') => Some(at + 3),
                _ => None,
            }
        });
        if found.is_none() {
            self.scanned = buf.len();
        }
        found
    }

    /// The head is incomplete: refuse it now if it has already passed a limit, rather than
    /// buffer more of it.
    fn check_partial(&mut self, start: usize) -> Result<(), RequestError> {
        let line = &self.buf[self.consumed + start..];
        let line_len = memchr(b'\n', line).unwrap_or(line.len());
        if line_len > self.limits.max_request_line {
            return Err(RequestError::new(
                Status::UriTooLong,
                "request line too long",
            ));
        }
        if self.buffered() > self.limits.max_head {
            return Err(RequestError::new(
                Status::HeaderFieldsTooLarge,
                "request head too large",
            ));
        }
        // Reject garbage early, without waiting for a blank line that may never come: if
        // httparse already fails on the request line, more bytes will not help. While the
        // line is incomplete only its first EARLY_CHECK bytes are checked (garbage shows
        // there: a TLS handshake, a stray binary protocol), and the whole line once when it
        // is complete, so a line arriving a byte at a time is not re-parsed at every byte.
        // (An error in a prefix is an error in the whole: httparse never un-fails.)
        let complete = line_len < line.len();
        let checked = if complete {
            if self.line_checked {
                return Ok(());
            }
            self.line_checked = true;
            &line[..=line_len]
        } else {
            &line[..line.len().min(EARLY_CHECK)]
        };
        let mut req = httparse::Request::new(&mut []);
        match req.parse(checked) {
            Err(err) => Err(map_parse_error(err, checked)),
            Ok(_) => Ok(()),
        }
    }
}

/// Parses one complete head, `buf[start..]` (everything before `start` is empty lines).
fn parse_head(buf: &[u8], start: usize, limits: &Limits) -> Result<Request, RequestError> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS_CAP];
    let headers = &mut headers[..limits.max_headers.min(MAX_HEADERS_CAP)];
    let mut req = httparse::Request::new(&mut []);
    let head = &buf[start..];
    match req.parse_with_uninit_headers(head, headers) {
        Ok(httparse::Status::Complete(_)) => {}
        // We only get here with a blank line in `head`, so httparse has all it needs.
        Ok(httparse::Status::Partial) => {
            return Err(RequestError::new(
                Status::BadRequest,
                "malformed request head",
            ))
        }
        Err(err) => return Err(map_parse_error(err, head)),
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(RequestError::new(
            Status::BadRequest,
            "malformed request line",
        ));
    };
    // The methods RFC 9110 defines are known: the server answers those it does not allow
    // on a resource with 405 and that resource's `Allow`.
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => return Err(RequestError::new(Status::NotImplemented, "unknown method")),
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let (target, authority) = origin_form(path)?;

    let mut close = false;
    let mut keep_alive_token = false;
    let mut if_modified_since = None;
    let mut forwarded_for = None;
    let mut fields = Fields::default();
    let mut hosts = 0;
    let mut host = None;
    let mut authorization = None;
    let mut cookie = None;
    let mut origin = None;
    let mut content_type = None;
    let mut content_lengths: [&[u8]; 4] = [b""; 4];
    let mut lengths = 0;
    let mut transfer_encoding = false;
    for header in req.headers.iter() {
        let name = header.name;
        let value = header.value;
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim(token);
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            // RFC 9112 §3.2: a Host that is not `host [":" port]` is a 400, so that nothing
            // downstream (a redirect's Location, the log, a proxy behind) sees `a/b c`.
            let value = trim(value);
            if !valid_authority(value) {
                return Err(RequestError::new(Status::BadRequest, "invalid Host header"));
            }
            host = std::str::from_utf8(value).ok().map(str::to_owned);
        } else if name.eq_ignore_ascii_case("content-length") {
            // Every line is kept: two that disagree are a 400 (body::content_length).
            if lengths == content_lengths.len() {
                return Err(RequestError::new(
                    Status::BadRequest,
                    "too many Content-Length headers",
                ));
            }
            content_lengths[lengths] = value;
            lengths += 1;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("cookie") {
            join(&mut cookie, "; ", value);
        } else if name.eq_ignore_ascii_case("origin") {
            // Browsers send one. Two are joined (RFC 9110 §5.3), which matches no Host:
            // the CSRF check must not pass on whichever of them a parser happens to keep.
            join(&mut origin, ", ", trim(value));
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(String::from_utf8_lossy(trim(value)).into_owned());
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            if_modified_since = std::str::from_utf8(value)
                .ok()
                .and_then(|s| httpdate::parse_http_date(s.trim()).ok());
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = Some(String::from_utf8_lossy(value).into_owned());
        } else {
            fields.take(name, value);
        }
    }
    // RFC 9112 §3.2: a 1.1 request without exactly one Host header gets a 400.
    if (version == Version::Http11 && hosts == 0) || hosts > 1 {
        return Err(RequestError::new(
            Status::BadRequest,
            "an HTTP/1.1 request needs one Host header",
        ));
    }
    let content_length = super::content_length(&content_lengths[..lengths], transfer_encoding)
        .map_err(|err| RequestError::new(err.status, err.detail))?;
    if content_length.is_some_and(|length| length > limits.max_body) {
        return Err(RequestError::new(
            Status::PayloadTooLarge,
            "the request body is larger than the limit",
        ));
    }
    let keep_alive = match version {
        Version::Http10 => keep_alive_token && !close,
        Version::Http11 => !close,
    };
    // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
    let host = authority
        .map(str::to_owned)
        .or(host)
        .filter(|host| !host.is_empty());
    Ok(Request {
        method,
        target,
        version,
        keep_alive,
        host,
        if_modified_since,
        forwarded_for,
        authorization,
        cookie,
        origin,
        content_type,
        content_length,
        body: Vec::new(),
        fields,
        head_len: buf.len(),
    })
}

/// The path-and-query of a request target, and the authority an absolute-form target
/// names. Origin form (`/path`) is kept as is; absolute form (`http://host/path`, which RFC
/// 9112 §3.2.2 says a server MUST accept) is cut to its path, and its authority must be a
/// valid, non-empty `host [":" port]`; anything else (`*`, `host:port`, a relative path) is
/// a 400.
fn origin_form(target: &str) -> Result<(String, Option<&str>), RequestError> {
    if target.starts_with('/') {
        return Ok((target.to_owned(), None));
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return Err(RequestError::new(
            Status::BadRequest,
            "the request target must be a path",
        ));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    // RFC 9110 §4.2.1: an http URI has a non-empty host (and no userinfo: `@` is refused).
    if authority.is_empty() || !valid_authority(authority.as_bytes()) {
        return Err(RequestError::new(
            Status::BadRequest,
            "invalid authority in the request target",
        ));
    }
    Ok((path, Some(authority)))
}

/// Whether `value` is RFC 3986's `host [":" port]`, the grammar of `Host` (RFC 9110
/// §7.2): a reg-name (letters, digits, `-._~`, sub-delims, `%XX`; an IPv4 address is one
/// too), or an IP-literal in brackets (an IPv6 address or `vX.…`), then an optional port of
/// at most five digits. An empty reg-name is valid (RFC 9112 §3.2 allows an empty Host).
fn valid_authority(value: &[u8]) -> bool {
    let (host_ok, port) = if let Some(literal) = value.strip_prefix(b"[") {
        let Some(close) = memchr(b']', literal) else {
            return false;
        };
        let port = match &literal[close + 1..] {
            [] => &[][..],
            [b':', port @ ..] => port,
            _ => return false,
        };
        (valid_ip_literal(&literal[..close]), port)
    } else {
        match memchr(b':', value) {
            Some(i) => (valid_reg_name(&value[..i]), &value[i + 1..]),
            None => (valid_reg_name(value), &[][..]),
        }
    };
    host_ok && port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

fn valid_reg_name(name: &[u8]) -> bool {
    let mut rest = name;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            match tail {
                [hi, lo, ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    rest = &tail[2..];
                    continue;
                }
                _ => return false,
            }
        }
        if !(is_unreserved(b) || is_sub_delim(b)) {
            return false;
        }
        rest = tail;
    }
    true
}

/// `IPv6address / IPvFuture`, the inside of RFC 3986's brackets.
fn valid_ip_literal(inside: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inside {
        let Some(dot) = memchr(b'.', rest) else {
            return false;
        };
        let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
    }
    std::str::from_utf8(inside).is_ok_and(|text| text.parse::<std::net::Ipv6Addr>().is_ok())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Maps httparse's error to a status. A version httparse rejects but which looks like one
/// (`HTTP/2.0`, `HTTP/1.2`) is 505; anything else malformed is 400.
fn map_parse_error(err: httparse::Error, head: &[u8]) -> RequestError {
    match err {
        httparse::Error::TooManyHeaders => {
            RequestError::new(Status::HeaderFieldsTooLarge, "too many headers")
        }
        httparse::Error::Version if looks_like_version(head) => RequestError::new(
            Status::VersionNotSupported,
            "only HTTP/1.0 and HTTP/1.1 are supported",
        ),
        httparse::Error::Version => RequestError::new(Status::BadRequest, "invalid HTTP version"),
        httparse::Error::HeaderName => RequestError::new(Status::BadRequest, "invalid header name"),
        httparse::Error::HeaderValue => {
            RequestError::new(Status::BadRequest, "invalid header value")
        }
        httparse::Error::NewLine => RequestError::new(Status::BadRequest, "invalid line ending"),
        httparse::Error::Token | httparse::Error::Status => {
            RequestError::new(Status::BadRequest, "malformed request line")
        }
    }
}

/// Whether the request line is three words, the last `HTTP/<digit>.<digit>`: only then is
/// the version what is wrong. A line with a raw space in its target (`GET /a b HTTP/1.1`)
/// has four, and is malformed (400), whatever it ends with.
fn looks_like_version(head: &[u8]) -> bool {
    let line = &head[..memchr(b'\n', head).unwrap_or(head.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.split(|&b| b == b' ').count() != 3 {
        return false;
    }
    match line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        _ => false,
    }
}

/// `bytes` without the optional whitespace (SP and HTAB, RFC 9110 §5.6.3) at either end:
/// the one trim the request, body and auth parsers share. Not `<[u8]>::trim_ascii`, which
/// strips every ASCII whitespace byte (CR, LF and form feed too), more than OWS.
pub(super) fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Option<Request>, RequestError> {
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(input);
        reader.next_request()
    }

    fn status_of(input: &[u8]) -> Status {
        match parse_all(input) {
            Err(err) => err.status,
            Ok(Some(_)) => Status::Ok,
            Ok(None) => panic!("incomplete: {:?}", String::from_utf8_lossy(input)),
        }
    }

    /// One wire example per row: the bytes, and the status the reader gives them (200 =
    /// accepted).
    const CASES: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.0\r\n\r\n", 200),
        (b"GET / HTTP/1.0\n\n", 200),
        (b"\r\n\r\nGET / HTTP/1.0\r\n\r\n", 200),
        (b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n", 200),
        (
            b"GET http://example.com/a?b HTTP/1.1\r\nHost: h\r\n\r\n",
            200,
        ),
        (b"GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET relative HTTP/1.0\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (b"GET / FOO/1.0\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\n\r\n", 505),
        // Known methods are the server's to refuse, with the resource's `Allow`.
        (b"POST / HTTP/1.0\r\n\r\n", 200),
        (b"DELETE / HTTP/1.0\r\n\r\n", 200),
        (b"BREW / HTTP/1.0\r\n\r\n", 501),
        (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        // A body is read whatever the method (and skipped where not taken).
        (b"GET / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", 200),
        (
            b"POST /a HTTP/1.0\r\nContent-Length: 65537\r\n\r\nhello",
            413,
        ),
        (
            b"POST /a HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
            400,
        ),
        (
            b"POST /a HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            400,
        ),
        (
            b"POST /a HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            200,
        ),
        // A raw space in the target makes four words: malformed, not a version problem.
        (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /a b HTTP/1.0\r\n\r\n", 400),
        (b"GET /a b HTTP/2.0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 200),
        (b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400),
        (b"GET http://a b/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ];

    #[test]
    fn host_must_be_rfc_3986_host_and_port() {
        let good: &[&str] = &[
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::7]",
            "[::ffff:192.0.2.1]",
            "[v1.fe80::a+en1]",
            "xn--bcher-kva.example",
            "a%2Db",
            "under_score~",
            "h:",
            "",
        ];
        let bad: &[&str] = &[
            "a/b c",
            "a b",
            "x\\y",
            "[::1",
            "::1",
            "[::1]x",
            "[::1]:8a",
            "[zz::1]",
            "[v.x]",
            "h:80:80",
            "h:123456",
            "h:-1",
            "user@host",
            "a%zzb",
            "a%2",
            "h\"",
            "h<",
            "\u{e9}t\u{e9}",
        ];
        for host in good {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let parsed = parse_all(req.as_bytes());
            assert!(matches!(parsed, Ok(Some(_))), "{host:?}: {parsed:?}");
            let expected = (!host.is_empty()).then(|| host.to_string());
            assert_eq!(parsed.unwrap().unwrap().host, expected, "{host:?}");
        }
        for host in bad {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(
                status_of(req.as_bytes()),
                Status::BadRequest,
                "{host:?} was accepted"
            );
        }
    }

    #[test]
    fn an_absolute_target_names_the_host() {
        let req = parse_all(b"GET http://Other:81/d?q HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (req.target.as_str(), req.host.as_deref()),
            ("/d?q", Some("Other:81"))
        );
        let req = parse_all(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(req.host, None);
    }

    #[test]
    fn a_refused_head_says_whether_it_was_a_head_request() {
        let cases: &[(&[u8], Option<Method>)] = &[
            (b"HEAD / HTTP/1.1\r\n\r\n", Some(Method::Head)),
            (b"\r\nHEAD / HTTP/2.0\r\n\r\n", Some(Method::Head)),
            (b"GET / HTTP/1.1\r\n\r\n", Some(Method::Get)),
            (b"BREW / HTTP/1.0\r\n\r\n", None),
            (b"HEADX / HTTP/1.0\r\n\r\n", None),
        ];
        for &(input, method) in cases {
            let err = parse_all(input).unwrap_err();
            assert_eq!(err.method, method, "{:?}", String::from_utf8_lossy(input));
        }
        // Before the line is complete, as a 414 is found.
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(b"HEAD /");
        reader.feed(&vec![b'a'; 9000]);
        assert_eq!(
            reader.next_request().unwrap_err().method,
            Some(Method::Head)
        );
    }

    #[test]
    fn wire_examples_get_their_status() {
        for &(input, code) in CASES {
            assert_eq!(
                status_of(input).code(),
                code,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn one_byte_at_a_time_gives_the_same_request() {
        let wire = b"GET /x%20y?q HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        let mut reader = RequestReader::new(Limits::default());
        for (i, b) in wire.iter().enumerate() {
            assert_eq!(reader.next_request(), Ok(None), "early at byte {i}");
            reader.feed(std::slice::from_ref(b));
        }
        let req = reader.next_request().unwrap().unwrap();
        assert_eq!(req.target, "/x%20y?q");
        assert_eq!(req.version, Version::Http11);
        assert!(!req.keep_alive);
        assert_eq!(req.head_len, wire.len());
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn pipelined_requests_come_out_in_order_and_leftovers_stay() {
        let mut reader = RequestReader::new(Limits::default());
        reader
            .feed(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HT");
        assert_eq!(reader.next_request().unwrap().unwrap().target, "/1");
        assert_eq!(reader.next_request().unwrap().unwrap().target, "/2");
        assert_eq!(reader.next_request(), Ok(None));
        assert!(reader.in_request());
        reader.feed(b"TP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(reader.next_request().unwrap().unwrap().target, "/3");
        assert!(!reader.in_request());
    }

    #[test]
    fn thousands_of_pipelined_requests_in_one_read_each_come_out_once() {
        // One read of many tiny requests: consumed heads are dropped when the next bytes
        // arrive, so positions must stay right across requests, a partial head and a feed.
        let mut reader = RequestReader::new(Limits::default());
        let mut wire = Vec::new();
        for i in 0..3000 {
            wire.extend_from_slice(format!("GET /{i} HTTP/1.0\r\n\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\nGET /last HTTP/1.1\r\nHo");
        reader.feed(&wire);
        for i in 0..3000 {
            let request = reader.next_request().unwrap().unwrap();
            assert_eq!(request.target, format!("/{i}"));
        }
        assert_eq!(reader.next_request(), Ok(None));
        assert_eq!(reader.buffered(), b"\r\nGET /last HTTP/1.1\r\nHo".len());
        reader.feed(b"st: h\r\n\r\n");
        assert_eq!(reader.next_request().unwrap().unwrap().target, "/last");
        assert_eq!((reader.buffered(), reader.in_request()), (0, false));
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, Close\r\n\r\n",
                false,
            ),
        ];
        for &(input, keep) in cases {
            let req = parse_all(input).unwrap().unwrap();
            assert_eq!(req.keep_alive, keep, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn if_modified_since_is_parsed_and_garbage_ignored() {
        let req = parse_all(
            b"GET / HTTP/1.0\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            req.if_modified_since,
            Some(httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap())
        );
        let req = parse_all(b"GET / HTTP/1.0\r\nIf-Modified-Since: yesterday\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(req.if_modified_since, None);
    }

    #[test]
    fn conditional_range_and_negotiation_fields_are_kept_and_repeats_joined() {
        let req = parse_all(
            b"GET / HTTP/1.0\r\nrange: bytes=0-1\r\nIf-None-Match: \"a\"\r\n\
              Accept: text/html\r\nIF-NONE-MATCH:  \"b\" \r\nAccept-Language: \xffde\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(req.fields.range.as_deref(), Some("bytes=0-1"));
        assert_eq!(req.fields.if_none_match.as_deref(), Some("\"a\", \"b\""));
        assert_eq!(req.fields.accept.as_deref(), Some("text/html"));
        assert_eq!(req.fields.accept_language.as_deref(), Some("\u{fffd}de"));
        assert_eq!(req.fields.if_match, None);
    }

    #[test]
    fn a_long_request_line_is_414_before_the_head_ends() {
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(b"GET /");
        reader.feed(&vec![b'a'; 9000]);
        assert_eq!(
            reader.next_request().unwrap_err().status,
            Status::UriTooLong
        );
        // And it stays failed, buffering nothing more.
        reader.feed(b" HTTP/1.0\r\n\r\n");
        assert_eq!(reader.buffered(), 0);
        assert!(reader.next_request().is_err());
    }

    #[test]
    fn a_large_head_is_431_before_it_ends() {
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(b"GET / HTTP/1.0\r\n");
        for _ in 0..200 {
            reader.feed(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            reader.next_request().unwrap_err().status,
            Status::HeaderFieldsTooLarge
        );
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut head = b"GET / HTTP/1.0\r\n".to_vec();
        for i in 0..65 {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert_eq!(status_of(&head), Status::HeaderFieldsTooLarge);
    }

    #[test]
    fn garbage_is_refused_without_waiting_for_a_blank_line() {
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(b"\x16\x03\x01\x02\x00\x01"); // a TLS ClientHello
        assert_eq!(
            reader.next_request().unwrap_err().status,
            Status::BadRequest
        );
    }

    /// The fuzz target's property (fuzz/fuzz_targets/request_reader.rs): fed whole or in
    /// pieces, the same requests come out and the reader fails or not alike.
    fn run_in_pieces(input: &[u8], piece: usize, limits: Limits) -> (Vec<Request>, bool) {
        let mut reader = RequestReader::new(limits);
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            reader.feed(chunk);
            loop {
                match reader.next_request() {
                    Ok(Some(req)) => out.push(req),
                    Ok(None) => break,
                    Err(_) => return (out, true),
                }
            }
        }
        (out, false)
    }

    /// Inputs the fuzzer found, each once a failure: `(input, piece size)`, with the fuzz
    /// target's small limits.
    const FUZZ_REGRESSIONS: &[(&[u8], usize)] = &[
        // Garbage past the first 32 bytes of an unfinished request line was caught only
        // when it arrived in small pieces.
        (b"E/ .PH/01TT\rTT / HTTP/1' / ssssssssssss", 8),
    ];

    #[test]
    fn fuzz_regressions_parse_the_same_whole_and_in_pieces() {
        let limits = Limits {
            max_request_line: 64,
            max_head: 256,
            max_headers: 8,
            max_body: 64,
        };
        for &(input, piece) in FUZZ_REGRESSIONS {
            assert_eq!(
                run_in_pieces(input, input.len(), limits),
                run_in_pieces(input, piece, limits),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_body_is_read_as_it_arrives_and_the_next_request_follows_it() {
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(b"POST /app/login HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nuser");
        assert_eq!(reader.next_request(), Ok(None), "body incomplete");
        assert!(reader.in_request());
        reader.feed(b"=x&p");
        assert_eq!(reader.next_request(), Ok(None));
        // The body's last byte, then a pipelined request that must not be read as body.
        reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let post = reader.next_request().unwrap().unwrap();
        assert_eq!((post.method, post.content_length), (Method::Post, Some(9)));
        assert_eq!(post.body, b"user=x&pG");
        assert!(
            reader.next_request().is_err(),
            "the 10th byte starts the next request"
        );

        let mut reader = RequestReader::new(Limits::default());
        reader.feed(b"GET /a HTTP/1.0\r\nContent-Length: 3\r\n\r\nGETGET /b HTTP/1.0\r\n\r\n");
        assert_eq!(reader.next_request().unwrap().unwrap().target, "/a");
        assert_eq!(reader.next_request().unwrap().unwrap().target, "/b");
        assert!(!reader.in_request());
    }

    #[test]
    fn a_length_beyond_the_address_space_waits_and_never_panics() {
        let limits = Limits {
            max_body: u64::MAX,
            ..Limits::default()
        };
        let mut reader = RequestReader::new(limits);
        reader.feed(b"POST /app/login HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\nabc");
        assert_eq!(reader.next_request(), Ok(None));
        assert!(
            reader.in_request(),
            "still waiting: the head timeout ends it"
        );
    }

    #[test]
    fn the_target_of_an_arriving_or_refused_head_is_known() {
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(b"\r\nPOST /app/lo");
        assert_eq!(reader.request_target(), None, "not complete yet");
        reader.feed(b"gin HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n");
        assert_eq!(reader.request_target(), Some("/app/login"));
        reader.feed(b"\r\n");
        assert_eq!(
            reader.next_request().unwrap_err().status,
            Status::NotImplemented
        );
        assert_eq!(
            reader.request_target(),
            Some("/app/login"),
            "kept after the refusal"
        );
    }

    #[test]
    fn two_origin_headers_are_joined_so_neither_alone_passes() {
        let req = parse_all(
            b"POST /x HTTP/1.1\r\nHost: h:1\r\nOrigin: http://evil\r\nOrigin: http://h:1\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(req.origin.as_deref(), Some("http://evil, http://h:1"));
    }

    #[test]
    fn cookies_authorization_origin_and_content_type_are_kept() {
        let req = parse_all(
            b"POST /x HTTP/1.1\r\nHost: h:1\r\nCookie: a=1\r\nCookie: sid=2\r\n\
              Authorization: Basic eA==\r\nOrigin: http://h:1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(req.cookie.as_deref(), Some("a=1; sid=2"));
        assert_eq!(req.authorization.as_deref(), Some(&b"Basic eA=="[..]));
        assert_eq!(req.origin.as_deref(), Some("http://h:1"));
        assert_eq!(req.host.as_deref(), Some("h:1"));
        assert_eq!(
            req.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(req.content_length, Some(0));
    }

    #[test]
    fn endless_empty_lines_hit_the_head_limit() {
        let mut reader = RequestReader::new(Limits::default());
        for _ in 0..10_000 {
            reader.feed(b"\r\n");
        }
        assert_eq!(
            reader.next_request().unwrap_err().status,
            Status::HeaderFieldsTooLarge
        );
    }
}
