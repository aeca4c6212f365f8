//! Port of `http.HTTPStatus`, cut down to the codes a static-file server answers with, and
//! their reason phrases.

use std::fmt;

/// A response status: the number, and the reason phrase of RFC 1945 / RFC 9110.
///
/// Python: `http.HTTPStatus` (`HTTPStatus.NOT_FOUND.value == 404`, `.phrase == "Not Found"`).
///
/// # Examples
///
/// ```
/// use mio_selectors::http::Status;
///
/// assert_eq!(Status::NotFound.code(), 404);
/// assert_eq!(Status::NotFound.to_string(), "404 Not Found");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200: here is the file.
    Ok,
    /// 206: the byte range a `Range` header asked for.
    PartialContent,
    /// 301: a directory was asked for without its trailing slash.
    MovedPermanently,
    /// 303: see the other page (`Location`) with a GET: the answer to a form's POST.
    SeeOther,
    /// 304: the client's copy (`If-Modified-Since`) is still current.
    NotModified,
    /// 400: the request could not be parsed.
    BadRequest,
    /// 401: credentials are needed (`WWW-Authenticate` says which), or were wrong.
    Unauthorized,
    /// 403: the path exists but may not be served (outside the root, not a regular file).
    Forbidden,
    /// 404: no such file under the root.
    NotFound,
    /// 406: no variant of a negotiated resource suits `Accept` / `Accept-Language`.
    NotAcceptable,
    /// 405: a method HTTP defines but this server does not allow (POST, PUT, ...).
    MethodNotAllowed,
    /// 408: the request head did not arrive in time.
    RequestTimeout,
    /// 411: a body without a `Content-Length`.
    LengthRequired,
    /// 412: `If-Match` or `If-Unmodified-Since` failed.
    PreconditionFailed,
    /// 413: the request's body is larger than the limit.
    PayloadTooLarge,
    /// 414: the request line is longer than the limit.
    UriTooLong,
    /// 415: a body in a format the route does not take.
    UnsupportedMediaType,
    /// 416: a `Range` that starts past the end of the file.
    RangeNotSatisfiable,
    /// 431: the request head is larger than the limit, or has too many headers.
    HeaderFieldsTooLarge,
    /// 500: something failed on the server's side (an I/O error reading the file).
    InternalServerError,
    /// 501: a method or transfer coding this server does not know.
    NotImplemented,
    /// 502: a proxy's upstream could not be reached or answered with garbage.
    BadGateway,
    /// 503: the server is at its connection limit, or its password-check queue is full.
    ServiceUnavailable,
    /// 504: a proxy's upstream sent no response head in time.
    GatewayTimeout,
    /// 505: an HTTP version other than 1.0 and 1.1.
    VersionNotSupported,
}

impl Status {
    /// The three-digit code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::PartialContent => 206,
            Status::MovedPermanently => 301,
            Status::SeeOther => 303,
            Status::NotModified => 304,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::NotAcceptable => 406,
            Status::RequestTimeout => 408,
            Status::LengthRequired => 411,
            Status::PreconditionFailed => 412,
            Status::PayloadTooLarge => 413,
            Status::UriTooLong => 414,
            Status::UnsupportedMediaType => 415,
            Status::RangeNotSatisfiable => 416,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::NotImplemented => 501,
            Status::BadGateway => 502,
            Status::ServiceUnavailable => 503,
            Status::GatewayTimeout => 504,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase: `"Not Found"`.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::PartialContent => "Partial Content",
            Status::MovedPermanently => "Moved Permanently",
            Status::SeeOther => "See Other",
            Status::NotModified => "Not Modified",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::NotAcceptable => "Not Acceptable",
            Status::RequestTimeout => "Request Timeout",
            Status::LengthRequired => "Length Required",
            Status::PreconditionFailed => "Precondition Failed",
            Status::PayloadTooLarge => "Payload Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::UnsupportedMediaType => "Unsupported Media Type",
            Status::RangeNotSatisfiable => "Range Not Satisfiable",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::BadGateway => "Bad Gateway",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::GatewayTimeout => "Gateway Timeout",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// Whether a response with this status carries a body. RFC 9110 §15.4.5: a 304 never
    /// does (and no response to HEAD does, whatever its status).
    pub fn has_body(self) -> bool {
        self != Status::NotModified
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.reason())
    }
}
