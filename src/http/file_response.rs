//! The response for a file that was found: preconditions first (412, 304), then the range
//! (206, 416), then the head with every validator and freshness header, then the body from
//! memory or a file region.
//!
//! Python: the second half of `SimpleHTTPRequestHandler.send_head` (the
//! `If-Modified-Since` test, `send_response(200)`, the headers) and `copyfile`. nginx runs
//! the same steps as output filters: not_modified, range, headers (`expires`), then the
//! static handler's `sendfile`.

use std::fs::File;
use std::sync::Arc;
use std::time::SystemTime;

use super::{
    byte_range, error_page, if_range_allows, whole_seconds, ByteRange, Conditions, ContentRange,
    Method, Precondition, Request, Response, ResponseHead, Status, HTML,
};

/// The bytes of a file: held in memory (small files, from the cache) or an open file to
/// send from (large ones).
#[derive(Debug)]
pub(crate) enum Body<'a> {
    /// The whole file, in memory.
    Memory(&'a [u8]),
    /// An open file of this many bytes (shared with the cache of open files).
    File(Arc<File>, u64),
}

impl Body<'_> {
    fn len(&self) -> u64 {
        match self {
            Body::Memory(bytes) => bytes.len() as u64,
            Body::File(_, len) => *len,
        }
    }
}

/// What identifies and describes the file being sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta<'a> {
    /// `Content-Type`.
    pub content_type: &'a str,
    /// The modification time (any precision; sent in whole seconds).
    pub modified: SystemTime,
    /// The strong `ETag`.
    pub etag: &'a str,
}

/// The headers a negotiated response adds (none for a direct request).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Negotiated<'a> {
    /// `Vary`.
    pub vary: &'a str,
    /// `Content-Language`.
    pub language: Option<&'a str>,
    /// `Content-Location`: the variant's file name, percent-encoded.
    pub location: Option<&'a str>,
}

/// The `Date` header and the time it stands for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Now<'a> {
    pub text: &'a str,
    pub time: SystemTime,
}

/// The response to a GET or HEAD of a file: 200, 206, 304, 412 or 416.
pub(crate) fn file_response(
    request: &Request,
    now: Now<'_>,
    meta: Meta<'_>,
    body: Body<'_>,
    negotiated: Negotiated<'_>,
    max_age: Option<u64>,
) -> Response {
    let modified = whole_seconds(meta.modified);
    let size = body.len();
    let fields = &request.fields;
    let date = |value: &Option<String>| {
        value
            .as_deref()
            .and_then(|text| httpdate::parse_http_date(text).ok())
    };
    let conditions = Conditions {
        if_match: fields.if_match.as_deref(),
        if_unmodified_since: date(&fields.if_unmodified_since),
        if_none_match: fields.if_none_match.as_deref(),
        if_modified_since: request.if_modified_since,
    };
    let head = ResponseHead {
        keep_alive: request.keep_alive,
        vary: negotiated.vary,
        content_location: negotiated.location,
        ..ResponseHead::new(Status::Ok, meta.content_type)
    };
    match conditions.evaluate(meta.etag, modified) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            // RFC 9110 §15.4.5: what a 200 would carry of ETag, Date, Vary,
            // Content-Location and freshness; no body.
            let head = ResponseHead {
                status: Status::NotModified,
                last_modified: Some(modified),
                etag: Some(meta.etag),
                freshness: max_age.map(|age| (age, now.time)),
                ..head
            };
            return bodiless(&head, now.text);
        }
        Precondition::Failed => {
            return page(
                ResponseHead {
                    content_type: HTML,
                    ..head
                },
                Status::PreconditionFailed,
                "the file does not match the request's If-Match or If-Unmodified-Since",
                now.text,
                request.method == Method::Head,
            );
        }
    }

    // HEAD ignores Range (RFC 9110 §14.2: only GET has range semantics), and so does a
    // request whose If-Range names another version of the file.
    let range = if request.method == Method::Get
        && if_range_allows(fields.if_range.as_deref(), meta.etag, modified)
    {
        byte_range(fields.range.as_deref(), size)
    } else {
        ByteRange::Whole
    };
    let (status, start, len, content_range) = match range {
        ByteRange::Whole => (Status::Ok, 0, size, None),
        ByteRange::Part { start, len } => (
            Status::PartialContent,
            start,
            len,
            Some(ContentRange::Part {
                first: start,
                last: start + len - 1,
                size,
            }),
        ),
        ByteRange::Unsatisfiable => {
            return page(
                ResponseHead {
                    content_type: HTML,
                    content_range: Some(ContentRange::Unsatisfied { size }),
                    ..head
                },
                Status::RangeNotSatisfiable,
                "the requested range starts past the end of the file",
                now.text,
                false,
            );
        }
    };
    let head = ResponseHead {
        status,
        content_length: len,
        content_range,
        accept_ranges: true,
        last_modified: Some(modified),
        etag: Some(meta.etag),
        content_language: negotiated.language,
        freshness: max_age.map(|age| (age, now.time)),
        ..head
    };
    let mut response = bodiless(&head, now.text);
    if request.method == Method::Get {
        response.body_len = len;
        match body {
            Body::Memory(data) => {
                // `start + len <= size = data.len()`, checked by byte_range.
                let (start, len) = (start as usize, len as usize);
                response.bytes.extend_from_slice(&data[start..start + len]);
            }
            Body::File(file, _) => response.file = Some((file, start, len)),
        }
    }
    response
}

/// A head alone (304, or the head of a 200/206 before its body is added).
fn bodiless(head: &ResponseHead<'_>, date: &str) -> Response {
    let mut bytes = Vec::with_capacity(320);
    head.write_to(&mut bytes, date);
    Response {
        status: head.status,
        keep_alive: head.keep_alive,
        bytes,
        file: None,
        body_len: 0,
    }
}

/// An error status with its HTML page (412, 416), keeping the head's other headers.
fn page(
    head: ResponseHead<'_>,
    status: Status,
    detail: &str,
    date: &str,
    head_only: bool,
) -> Response {
    let text = error_page(status, detail);
    let head = ResponseHead {
        status,
        content_length: text.len() as u64,
        ..head
    };
    let mut response = bodiless(&head, date);
    if !head_only {
        response.bytes.extend_from_slice(text.as_bytes());
        response.body_len = text.len() as u64;
    }
    response
}
