//! Port of `http.client.HTTPResponse.begin` and `BaseHTTPRequestHandler.parse_request` as a
//! proxy needs them: request and response heads with *every* header kept (a proxy forwards
//! what it does not understand), parsed with httparse once the blank line has arrived.
//!
//! No I/O: the caller buffers bytes and asks [`head_end`] where a head ends, so every rule
//! is unit-tested on byte strings and hostile input can only produce an error.

use std::mem::MaybeUninit;

use super::{split_list, Headers};
use crate::http::{Limits, Status, MAX_HEADERS_CAP};

/// A request head as a client sent it to the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, as sent (case matters: RFC 9110 §9.1).
    pub method: String,
    /// The request target, as sent (absolute-form for a proxy).
    pub target: String,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Every header field, in order.
    pub headers: Headers,
    /// The client wants the connection kept: HTTP/1.1 unless `Connection: close`, HTTP/1.0
    /// only with `Connection: keep-alive` (or the `Proxy-Connection: keep-alive` old
    /// clients send to proxies).
    pub keep_alive: bool,
}

/// A response head as the upstream sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The minor version of the status line (the `Via` entry names it).
    pub minor: u8,
    /// The status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// Every header field, in order.
    pub headers: Headers,
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: a response to HEAD, a 204 or a 304.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`: decoded by [`ChunkedDecoder`](super::ChunkedDecoder).
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A head that cannot be used: the status to answer with, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadError {
    /// 400, 413, 414, 431, 501 or 505 for a request; 502 for a response.
    pub status: Status,
    /// What was wrong, in a few words.
    pub detail: &'static str,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for HeadError {}

const fn err(status: Status, detail: &'static str) -> HeadError {
    HeadError { status, detail }
}

/// Where the head at the start of `buf` ends (just past its blank line), searching from
/// `from` (pass what was searched before, so a head trickling in is scanned once). Empty
/// lines before the head count as part of it (RFC 9112 §2.2 says to ignore them).
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::head_end;
///
/// assert_eq!(head_end(b"GET / HTTP/1.0\r\n", 0), None);
/// assert_eq!(head_end(b"GET / HTTP/1.0\r\n\r\nrest", 0), Some(18));
/// assert_eq!(head_end(b"\r\nGET / HTTP/1.0\n\nrest", 0), Some(18));
/// ```
pub fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let from = from.saturating_sub(3).max(start);
    let mut i = from;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            match (buf[i + 1], buf.get(i + 2)) {
                (b'\n', _) => return Some(i + 2),
                (b'\r', Some(b'\n')) => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Parses a complete request head (`buf` ends with its blank line, as [`head_end`] found).
///
/// # Errors
/// 400 for a malformed head, 414/431 for the [`Limits`], 505 for a version other than 1.x,
/// 413 for a request with a body (this proxy relays none), 501 for `Transfer-Encoding`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::Limits;
/// use mio_selectors::proxy::parse_request;
///
/// let head = parse_request(b"GET http://h/ HTTP/1.0\r\nProxy-Connection: Keep-Alive\r\n\r\n", &Limits::default()).unwrap();
/// assert_eq!((head.method.as_str(), head.target.as_str(), head.minor, head.keep_alive), ("GET", "http://h/", 0, true));
/// assert_eq!(parse_request(b"GET / HTTP/2.0\r\n\r\n", &Limits::default()).unwrap_err().status.code(), 505);
/// ```
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<RequestHead, HeadError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let head = &buf[start..];
    if head.len() > limits.max_head {
        return Err(err(Status::HeaderFieldsTooLarge, "request head too large"));
    }
    let line = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    if line > limits.max_request_line {
        return Err(err(Status::UriTooLong, "request line too long"));
    }
    let mut storage = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS_CAP];
    let storage = &mut storage[..limits.max_headers.clamp(1, MAX_HEADERS_CAP)];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, storage) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(err(Status::BadRequest, "malformed request head"))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(err(Status::HeaderFieldsTooLarge, "too many headers"))
        }
        Err(httparse::Error::Version) => {
            return Err(err(Status::VersionNotSupported, "only HTTP/1.x"))
        }
        Err(_) => return Err(err(Status::BadRequest, "malformed request head")),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(err(Status::BadRequest, "malformed request line"));
    };
    let headers = collect(req.headers);
    if headers.contains("transfer-encoding") {
        return Err(err(
            Status::NotImplemented,
            "request bodies (Transfer-Encoding) are not relayed",
        ));
    }
    let lengths: Vec<&[u8]> = headers.get_all("content-length").collect();
    match lengths.as_slice() {
        [] => {}
        [value] if *value == b"0" => {}
        [value] if value.iter().all(u8::is_ascii_digit) && !value.is_empty() => {
            return Err(err(
                Status::PayloadTooLarge,
                "request bodies are not relayed",
            ))
        }
        _ => return Err(err(Status::BadRequest, "invalid Content-Length")),
    }
    let keep_alive = wants_keep_alive(&headers, minor);
    Ok(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        minor,
        headers,
        keep_alive,
    })
}

/// Parses a complete response head. Interim (1xx) responses are returned like any other;
/// the caller skips them.
///
/// # Errors
/// 502 for anything that is not an HTTP/1.x response head.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::{parse_response, Framing};
///
/// let head = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap();
/// assert_eq!((head.minor, head.status, head.reason.as_str()), (1, 200, "OK"));
/// assert_eq!(head.framing(false), Ok(Framing::Length(5)));
/// assert_eq!(head.framing(true), Ok(Framing::Empty)); // the answer to HEAD
/// assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
/// ```
pub fn parse_response(buf: &[u8]) -> Result<ResponseHead, HeadError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
    let mut res = httparse::Response::new(&mut storage);
    let bad = err(
        Status::BadGateway,
        "the upstream sent an invalid response head",
    );
    match res.parse(&buf[start..]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return Err(bad),
    }
    let (Some(minor), Some(status)) = (res.version, res.code) else {
        return Err(bad);
    };
    Ok(ResponseHead {
        minor,
        status,
        reason: res.reason.unwrap_or_default().to_owned(),
        headers: collect(res.headers),
    })
}

impl ResponseHead {
    /// How the body that follows is delimited; `head_request` for the answer to `HEAD`.
    ///
    /// # Errors
    /// 502 for a `Content-Length` that is invalid or given twice with different values, or
    /// a transfer coding other than `chunked` alone (RFC 9112 §6.3: unrecoverable).
    pub fn framing(&self, head_request: bool) -> Result<Framing, HeadError> {
        if head_request || self.status == 204 || self.status == 304 || self.status < 200 {
            return Ok(Framing::Empty);
        }
        let bad = |detail| err(Status::BadGateway, detail);
        if self.headers.contains("transfer-encoding") {
            let codings: Vec<&str> = self.headers.list("transfer-encoding").collect();
            return match codings.as_slice() {
                [one] if one.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
                _ => Err(bad(
                    "the upstream used a transfer coding other than chunked",
                )),
            };
        }
        let invalid = || bad("the upstream sent an invalid Content-Length");
        let mut length = None;
        // Every field must hold at least one number: an empty or non-text one
        // (`Content-Length: `, `, `) must not turn into a body delimited by close while the
        // field itself reaches the client, who would read the body by another rule
        // (RFC 9112 §6.3: an invalid length is unrecoverable).
        for field in self.headers.get_all("content-length") {
            let text = std::str::from_utf8(field).map_err(|_| invalid())?;
            let mut numbers = 0;
            for value in split_list(text) {
                let n = value
                    .parse::<u64>()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(invalid)?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("the upstream sent conflicting Content-Lengths"));
                }
                length = Some(n);
                numbers += 1;
            }
            if numbers == 0 {
                return Err(invalid());
            }
        }
        Ok(length.map_or(Framing::Close, Framing::Length))
    }
}

fn collect(fields: &[httparse::Header<'_>]) -> Headers {
    let mut headers = Headers::new();
    for field in fields {
        headers.push(field.name, field.value);
    }
    headers
}

fn wants_keep_alive(headers: &Headers, minor: u8) -> bool {
    let mut close = false;
    let mut keep = false;
    for token in headers
        .list("connection")
        .chain(headers.list("proxy-connection"))
    {
        close |= token.eq_ignore_ascii_case("close");
        keep |= token.eq_ignore_ascii_case("keep-alive");
    }
    !close && (minor >= 1 || keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(input: &[u8]) -> u16 {
        match parse_request(input, &Limits::default()) {
            Ok(_) => 200,
            Err(e) => e.status.code(),
        }
    }

    #[test]
    fn request_rules() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 200),
            (b"GET http://h/ HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 200),
            (b"POST http://h/ HTTP/1.0\r\nContent-Length: 3\r\n\r\n", 413),
            (b"GET http://h/ HTTP/1.0\r\nContent-Length: x\r\n\r\n", 400),
            (
                b"GET http://h/ HTTP/1.0\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
                400,
            ),
            (
                b"GET http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                501,
            ),
            (b"GET http://h/ HTTP/3.0\r\n\r\n", 505),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
            (b"GET http://h/ HTTP/1.0\r\nBad Name: x\r\n\r\n", 400),
        ];
        for (input, want) in cases {
            assert_eq!(status(input), *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn request_limits() {
        let limits = Limits {
            max_request_line: 30,
            max_head: 60,
            max_headers: 2,
            ..Limits::default()
        };
        let long_line = b"GET http://h/aaaaaaaaaaaaaaaaaaaaaa HTTP/1.0\r\n\r\n";
        assert_eq!(
            parse_request(long_line, &limits).unwrap_err().status.code(),
            414
        );
        let many = b"GET http://h/ HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(parse_request(many, &limits).unwrap_err().status.code(), 431);
        let big = format!("GET http://h/ HTTP/1.0\r\nA: {}\r\n\r\n", "x".repeat(60));
        assert_eq!(
            parse_request(big.as_bytes(), &limits)
                .unwrap_err()
                .status
                .code(),
            431
        );
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |input: &[u8]| parse_request(input, &Limits::default()).unwrap().keep_alive;
        assert!(ka(b"GET http://h/ HTTP/1.1\r\n\r\n"));
        assert!(!ka(b"GET http://h/ HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET http://h/ HTTP/1.0\r\n\r\n"));
        assert!(ka(
            b"GET http://h/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
        ));
        assert!(ka(
            b"GET http://h/ HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn framing_rules() {
        let framing = |input: &[u8]| parse_response(input).unwrap().framing(false);
        assert_eq!(framing(b"HTTP/1.0 200 OK\r\n\r\n"), Ok(Framing::Close));
        assert_eq!(framing(b"HTTP/1.0 304 NM\r\n\r\n"), Ok(Framing::Empty));
        assert_eq!(framing(b"HTTP/1.0 204 NC\r\n\r\n"), Ok(Framing::Empty));
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert!(framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").is_err());
        assert!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err()
        );
        assert!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
        assert!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n").is_err());
        assert!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n").is_err());
        assert!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length:\r\n\r\n").is_err()
        );
        assert!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: \xff\r\n\r\n").is_err());
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n"),
            Ok(Framing::Length(7))
        );
    }

    #[test]
    fn head_end_resumes_across_pieces() {
        let full = b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nbody";
        for split in 0..full.len() {
            let first = head_end(&full[..split], 0);
            let at = head_end(full, split);
            assert_eq!(first.or(at), Some(25), "split {split}");
        }
        assert_eq!(head_end(b"\r\n\r\n\r\n", 0), None);
        assert_eq!(head_end(b"", 0), None);
    }
}
