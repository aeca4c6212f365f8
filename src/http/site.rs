//! Port of `SimpleHTTPRequestHandler.do_GET` / `do_HEAD` / `send_head`: routing from a
//! parsed [`Request`] to the [`Response`] to send, with no network I/O.
//!
//! The server glue (`server.rs`) only moves bytes: it feeds the request reader, asks the
//! site for a response, and writes the response's bytes and file region. Everything a test
//! would want to pin down (which status, which headers, which bytes) is decided here.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::files::{resolve, Resolved};
use super::location;
use super::{content_type, error_page, DateCache, Method, Request, ResponseHead, Status, HTML};

/// A response, ready to send: `bytes` (the head, and the body when it is small), then
/// `file` (a region to stream, for large files).
#[derive(Debug)]
pub struct Response {
    /// The status, for the access log.
    pub status: Status,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
    /// The head, followed by the whole body when the body is held in memory: one write.
    pub bytes: Vec<u8>,
    /// A file to send after `bytes`: the open file and how many bytes of it, from offset 0.
    pub file: Option<(File, u64)>,
    /// Body bytes (in `bytes` or `file`), for the access log.
    pub body_len: u64,
}

/// Files at most this large are kept in memory and sent with the head in one write.
/// Larger ones are streamed from the file.
pub const SMALL_FILE: u64 = 32 * 1024;
/// The cache of small files holds at most this many bytes in all ...
const CACHE_BYTES: usize = 8 * 1024 * 1024;
/// ... and this many entries; when either would be passed it starts again empty.
const CACHE_ENTRIES: usize = 1024;

/// The served directory: its real path, a cache of its small files, and the `Date` header.
///
/// Python: `SimpleHTTPRequestHandler(directory=...)`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{Limits, RequestReader, Site, Status};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut site = Site::new(concat!(env!("CARGO_MANIFEST_DIR"), "/site"))?;
/// let mut reader = RequestReader::new(Limits::default());
/// reader.feed(b"GET /index.html HTTP/1.0\r\n\r\n");
/// let request = reader.next_request()?.unwrap();
/// let response = site.respond(&request);
/// assert_eq!(response.status, Status::Ok);
/// assert!(response.bytes.starts_with(b"HTTP/1.0 200 OK\r\n"));
/// assert!(!response.keep_alive);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Site {
    root: PathBuf,
    dates: DateCache,
    cache: HashMap<String, Cached>,
    cached_bytes: usize,
}

/// A small file held in memory, and what identifies the file it was read from.
#[derive(Debug)]
struct Cached {
    /// The path the request named (unresolved): `stat` on it must still find `identity`.
    named: PathBuf,
    identity: Identity,
    content_type: &'static str,
    modified: SystemTime,
    body: Box<[u8]>,
}

/// Device, inode, size and modification time: if `stat` on the same name gives the same
/// four, the name still means the same, unchanged file (the one checked to lie under the
/// root when it was cached). Any edit changes the time or the size; a rename or a new
/// symlink changes the inode.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Identity(u64, u64, u64, i64, i64);

impl Identity {
    fn of(meta: &Metadata) -> Identity {
        Identity(
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
        )
    }
}

impl Site {
    /// Serves the directory `root`.
    ///
    /// # Errors
    /// The OS error if `root` does not exist or cannot be resolved, or `InvalidInput` if it
    /// is not a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Site> {
        let root = std::fs::canonicalize(root.as_ref()).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("document root {}: {err}", root.as_ref().display()),
            )
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("document root {} is not a directory", root.display()),
            ));
        }
        Ok(Site {
            root,
            dates: DateCache::default(),
            cache: HashMap::new(),
            cached_bytes: 0,
        })
    }

    /// The root's real path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The response to a request: the file, a 304, a 301, or an error page.
    pub fn respond(&mut self, request: &Request) -> Response {
        let head_only = request.method == Method::Head;
        let keep_alive = request.keep_alive;
        let path = request.target.split(['?', '#']).next().unwrap_or("");
        if let Some(cached) = self.cache.get(path) {
            let fresh = std::fs::metadata(&cached.named)
                .is_ok_and(|meta| Identity::of(&meta) == cached.identity);
            if fresh {
                return file_response(
                    request,
                    &mut self.dates,
                    cached.content_type,
                    cached.modified,
                    Body::Memory(&cached.body),
                );
            }
            let stale = self.cache.remove(path).expect("just found");
            self.cached_bytes -= stale.body.len();
        }
        match resolve(&self.root, &request.target) {
            Ok(Resolved::File {
                path: real,
                named,
                file,
                meta,
            }) => {
                let content_type = content_type(&real);
                let modified = meta.modified().unwrap_or(UNIX_EPOCH);
                if meta.len() > SMALL_FILE {
                    return file_response(
                        request,
                        &mut self.dates,
                        content_type,
                        modified,
                        Body::File(file, meta.len()),
                    );
                }
                let mut body = Vec::with_capacity(meta.len() as usize);
                if let Err(err) = file.take(meta.len()).read_to_end(&mut body) {
                    log::error!("reading {}: {err}", real.display());
                    return self.error(
                        Status::InternalServerError,
                        "I/O error reading the file",
                        keep_alive,
                        head_only,
                    );
                }
                let entry = Cached {
                    named,
                    identity: Identity::of(&meta),
                    content_type,
                    modified,
                    body: body.into_boxed_slice(),
                };
                let response = file_response(
                    request,
                    &mut self.dates,
                    content_type,
                    modified,
                    Body::Memory(&entry.body),
                );
                self.remember(path, entry);
                response
            }
            Ok(Resolved::Redirect(target)) => {
                let location = location::absolute(&target, request.host.as_deref());
                let page = error_page(Status::MovedPermanently, "the directory is here");
                let head = ResponseHead {
                    location: Some(&location),
                    content_length: page.len() as u64,
                    keep_alive,
                    ..ResponseHead::new(Status::MovedPermanently, HTML)
                };
                page_response(head, self.dates.now(), &page, head_only)
            }
            Err((status, detail)) => self.error(status, detail, keep_alive, head_only),
        }
    }

    /// An error response with its HTML page (none for HEAD). Errors from the request
    /// reader, 408 and 503 are sent with `keep_alive = false`: after them the connection
    /// closes.
    pub fn error(
        &mut self,
        status: Status,
        detail: &str,
        keep_alive: bool,
        head_only: bool,
    ) -> Response {
        let page = error_page(status, detail);
        let head = ResponseHead {
            content_length: page.len() as u64,
            keep_alive,
            ..ResponseHead::new(status, HTML)
        };
        page_response(head, self.dates.now(), &page, head_only)
    }

    fn remember(&mut self, path: &str, entry: Cached) {
        if self.cache.len() >= CACHE_ENTRIES || self.cached_bytes + entry.body.len() > CACHE_BYTES {
            // Start again rather than track recency: a full cache means many distinct
            // names (or spellings of names) are being asked for, and the ones that matter
            // come back within a few requests.
            self.cache.clear();
            self.cached_bytes = 0;
        }
        self.cached_bytes += entry.body.len();
        self.cache.insert(path.to_owned(), entry);
    }
}

enum Body<'a> {
    Memory(&'a [u8]),
    File(File, u64),
}

/// 200 with the file, or 304 when the client's copy is current.
fn file_response(
    request: &Request,
    dates: &mut DateCache,
    content_type: &'static str,
    modified: SystemTime,
    body: Body<'_>,
) -> Response {
    // HTTP dates have whole seconds; compare at that precision, or a file modified at
    // 12:00:00.5 would never be "not modified since 12:00:00". And only dates HTTP can
    // say, no later than `Date`: a file dated 1960 or in year 10000 is served, not a panic.
    let modified = dates.last_modified(modified);
    let date = dates.now();
    let len = match &body {
        Body::Memory(bytes) => bytes.len() as u64,
        Body::File(_, len) => *len,
    };
    let not_modified = request
        .if_modified_since
        .is_some_and(|since| modified <= since);
    let status = if not_modified {
        Status::NotModified
    } else {
        Status::Ok
    };
    let head = ResponseHead {
        content_length: len,
        last_modified: Some(modified),
        keep_alive: request.keep_alive,
        ..ResponseHead::new(status, content_type)
    };
    let mut bytes = Vec::with_capacity(256);
    head.write_to(&mut bytes, date);
    let with_body = !not_modified && request.method == Method::Get;
    let mut response = Response {
        status,
        keep_alive: request.keep_alive,
        bytes,
        file: None,
        body_len: 0,
    };
    if with_body {
        response.body_len = len;
        match body {
            Body::Memory(data) => response.bytes.extend_from_slice(data),
            Body::File(file, len) => response.file = Some((file, len)),
        }
    }
    response
}

fn page_response(head: ResponseHead<'_>, date: &str, page: &str, head_only: bool) -> Response {
    let mut bytes = Vec::with_capacity(256 + page.len());
    head.write_to(&mut bytes, date);
    let body_len = if head_only || !head.status.has_body() {
        0
    } else {
        bytes.extend_from_slice(page.as_bytes());
        page.len() as u64
    };
    Response {
        status: head.status,
        keep_alive: head.keep_alive,
        bytes,
        file: None,
        body_len,
    }
}
