//! Port of `SimpleHTTPRequestHandler.do_GET` / `do_HEAD` / `send_head`: routing from a
//! parsed [`Request`] to the [`Response`] to send, with no network I/O.
//!
//! The server glue (`server.rs`) only moves bytes: it feeds the request reader, asks the
//! site for a response, and writes the response's bytes and file region. Everything a test
//! would want to pin down (which status, which headers, which bytes) is decided here.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::file_response::{file_response, Body, Meta, Negotiated, Now};
use super::files::{confine, percent_decode, resolve, Resolved, NO_INDEX};
use super::location;
use super::{
    content_type, error_page, etag, is_hidden, listing_page, negotiate, not_acceptable_page,
    percent_encode, variants, CachePolicy, DateCache, Method, Refusal, Request, ResponseHead,
    Status, HTML, MAX_LISTED,
};

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
    /// A file region to send after `bytes`: the open file, the offset of the first byte
    /// and how many bytes (a 206 sends from the middle of the file).
    pub file: Option<(Arc<File>, u64, u64)>,
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
/// Large files are cached as open descriptors, at most this many per [`Site`] at once
/// (a server must set them aside beside its connections' descriptors): a hit, a Range request
/// for the middle of one included, then costs one `stat` and the `sendfile`, as nginx's
/// `open_file_cache` saves its open and fstat.
pub const OPEN_FILES: usize = 16;

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
    cached_files: usize,
    /// `--cache PREFIX=SECONDS`.
    policy: CachePolicy,
    /// `--languages`: the tie-break between equally good variants, most preferred first.
    languages: Vec<String>,
    /// Directories without `index.html` are listed (`--no-listing` turns this off: 403).
    listing: bool,
}

/// A file held in memory (small) or open (large), and what identifies the file.
#[derive(Debug)]
struct Cached {
    /// The path the request named (unresolved): `stat` on it must still find `identity`.
    named: PathBuf,
    identity: Identity,
    content_type: &'static str,
    modified: SystemTime,
    etag: String,
    body: Stored,
}

/// A cached file's bytes, or, for a large file, the open file they are sent from. An open
/// file reads what the inode holds now, so it is never staler than the identity check.
#[derive(Debug)]
enum Stored {
    Bytes(Box<[u8]>),
    File(Arc<File>, u64),
}

impl Stored {
    /// What it counts against [`CACHE_BYTES`].
    fn bytes(&self) -> usize {
        match self {
            Stored::Bytes(bytes) => bytes.len(),
            Stored::File(..) => 0,
        }
    }

    fn body(&self) -> Body<'_> {
        match self {
            Stored::Bytes(bytes) => Body::Memory(bytes),
            Stored::File(file, len) => Body::File(Arc::clone(file), *len),
        }
    }
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
            cached_files: 0,
            policy: CachePolicy::default(),
            languages: vec!["en".to_owned()],
            listing: true,
        })
    }

    /// Sends freshness headers by path prefix (`--cache`); by default none are sent.
    pub fn with_cache_policy(mut self, policy: CachePolicy) -> Site {
        self.policy = policy;
        self
    }

    /// Sets the languages that break ties between equally good variants of a negotiated
    /// resource, lower case, most preferred first (`--languages`; default `en`).
    pub fn with_languages(mut self, languages: Vec<String>) -> Site {
        self.languages = languages;
        self
    }

    /// Lists directories that have no `index.html` (the default), or refuses them with 403
    /// (`--no-listing`).
    pub fn with_listing(mut self, listing: bool) -> Site {
        self.listing = listing;
        self
    }

    /// The root's real path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The response to a request: the file (200, 206, 304, 412, 416), a negotiated
    /// variant or 406, a listing, a 301, or an error page.
    pub fn respond(&mut self, request: &Request) -> Response {
        let head_only = request.method == Method::Head;
        let keep_alive = request.keep_alive;
        let path = request.target.split(['?', '#']).next().unwrap_or("");
        let decoded = match percent_decode(path.as_bytes()) {
            Ok(decoded) => decoded,
            Err((status, detail)) => return self.error(status, detail, keep_alive, head_only),
        };
        if is_hidden(&decoded) {
            return self.error(
                Status::Forbidden,
                "hidden path: a segment starts with '.'",
                keep_alive,
                head_only,
            );
        }
        let max_age = self.policy.max_age(&decoded);
        match self.serve_file(request, &request.target, max_age, Negotiated::default()) {
            Ok(response) => response,
            Err((Status::NotFound, detail)) => self
                .negotiated(request, &decoded, max_age)
                .unwrap_or_else(|| self.error(Status::NotFound, detail, keep_alive, head_only)),
            Err((Status::Forbidden, NO_INDEX)) if self.listing => {
                self.listing(request, &decoded, max_age)
            }
            Err((status, detail)) => self.error(status, detail, keep_alive, head_only),
        }
    }

    /// The file `target` names: from the cache, or resolved and opened (and cached if
    /// small); or a 301 for a directory without its slash.
    fn serve_file(
        &mut self,
        request: &Request,
        target: &str,
        max_age: Option<u64>,
        negotiated: Negotiated<'_>,
    ) -> Result<Response, Refusal> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        if let Some(cached) = self.cache.get(path) {
            let fresh = std::fs::metadata(&cached.named)
                .is_ok_and(|meta| Identity::of(&meta) == cached.identity);
            if fresh {
                // Only dates HTTP can say, no later than `Date`: a file dated 1960 or in
                // year 10000 is served, not a panic.
                let modified = self.dates.last_modified(cached.modified);
                let (text, time) = self.dates.now_and_time();
                let now = Now { text, time };
                let meta = Meta {
                    content_type: cached.content_type,
                    modified,
                    etag: &cached.etag,
                };
                return Ok(file_response(
                    request,
                    now,
                    meta,
                    cached.body.body(),
                    negotiated,
                    max_age,
                ));
            }
            let stale = self.cache.remove(path).expect("just found");
            self.forget(&stale);
        }
        match resolve(&self.root, target)? {
            Resolved::File {
                path: real,
                named,
                file,
                meta,
            } => {
                let content_type = content_type(&real);
                let modified = meta.modified().unwrap_or(UNIX_EPOCH);
                let tag = etag(meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
                let file_meta = Meta {
                    content_type,
                    modified: self.dates.last_modified(modified),
                    etag: &tag,
                };
                if meta.len() > SMALL_FILE {
                    let file = Arc::new(file);
                    let (text, time) = self.dates.now_and_time();
                    let now = Now { text, time };
                    let response = file_response(
                        request,
                        now,
                        file_meta,
                        Body::File(Arc::clone(&file), meta.len()),
                        negotiated,
                        max_age,
                    );
                    let entry = Cached {
                        named,
                        identity: Identity::of(&meta),
                        content_type,
                        modified,
                        etag: tag,
                        body: Stored::File(file, meta.len()),
                    };
                    self.remember(path, entry);
                    return Ok(response);
                }
                let mut body = Vec::with_capacity(meta.len() as usize);
                if let Err(err) = file.take(meta.len()).read_to_end(&mut body) {
                    log::error!("reading {}: {err}", real.display());
                    return Err((Status::InternalServerError, "I/O error reading the file"));
                }
                let (text, time) = self.dates.now_and_time();
                let now = Now { text, time };
                let response = file_response(
                    request,
                    now,
                    file_meta,
                    Body::Memory(&body),
                    negotiated,
                    max_age,
                );
                let entry = Cached {
                    named,
                    identity: Identity::of(&meta),
                    content_type,
                    modified,
                    etag: tag,
                    body: Stored::Bytes(body.into_boxed_slice()),
                };
                self.remember(path, entry);
                Ok(response)
            }
            Resolved::Redirect(target) => {
                let location = location::absolute(&target, request.host.as_deref());
                let page = error_page(Status::MovedPermanently, "the directory is here");
                let head = ResponseHead {
                    location: Some(&location),
                    content_length: page.len() as u64,
                    keep_alive: request.keep_alive,
                    ..ResponseHead::new(Status::MovedPermanently, HTML)
                };
                Ok(page_response(
                    head,
                    self.dates.now(),
                    &page,
                    request.method == Method::Head,
                ))
            }
        }
    }

    /// Content negotiation for a path that names nothing: the best variant `NAME.*` in its
    /// directory, served as a direct request for it would be, or a 406. `None` when the
    /// directory holds no variant (then the answer stays 404).
    fn negotiated(
        &mut self,
        request: &Request,
        decoded: &[u8],
        max_age: Option<u64>,
    ) -> Option<Response> {
        let slash = decoded.iter().rposition(|&b| b == b'/')?;
        let (dir, base) = (&decoded[..=slash], &decoded[slash + 1..]);
        if base.is_empty() {
            return None;
        }
        let mut prefix = base.to_vec();
        prefix.push(b'.');
        // Only names that start with `NAME.` are kept: the directory may be large.
        let names: Vec<Vec<u8>> = self
            .read_dir(dir)
            .ok()?
            .filter(|(name, is_dir)| !is_dir && name.starts_with(&prefix))
            .map(|(name, _)| name)
            .collect();
        let found = variants(base, names.iter().map(Vec::as_slice));
        if found.is_empty() {
            return None;
        }
        let fields = &request.fields;
        let choice = negotiate(
            &found,
            fields.accept.as_deref(),
            fields.accept_language.as_deref(),
            &self.languages,
        );
        let head_only = request.method == Method::Head;
        let Some(chosen) = choice.chosen else {
            let page = not_acceptable_page(&found);
            let head = ResponseHead {
                content_length: page.len() as u64,
                keep_alive: request.keep_alive,
                vary: choice.vary,
                ..ResponseHead::new(Status::NotAcceptable, HTML)
            };
            return Some(page_response(head, self.dates.now(), &page, head_only));
        };
        let variant = &found[chosen];
        let name = percent_encode(&variant.name);
        // The variant's own target, built from the decoded directory (a `%2F` in the
        // request is a `/` there too), so it is resolved and confined like any request.
        let mut target = String::with_capacity(dir.len() + name.len() + 8);
        for segment in dir.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
            target.push('/');
            target.push_str(&percent_encode(segment));
        }
        target.push('/');
        target.push_str(&name);
        let negotiated = Negotiated {
            vary: choice.vary,
            language: variant.language.as_deref(),
            location: Some(&name),
        };
        Some(
            match self.serve_file(request, &target, max_age, negotiated) {
                Ok(response) => response,
                Err((status, detail)) => self.error(status, detail, request.keep_alive, head_only),
            },
        )
    }

    /// The HTML index of a directory without `index.html` (the decoded path ends in `/`).
    fn listing(&mut self, request: &Request, decoded: &[u8], max_age: Option<u64>) -> Response {
        let head_only = request.method == Method::Head;
        let page = match self.read_dir(decoded) {
            Ok(entries) => listing_page(decoded, entries, MAX_LISTED),
            Err((status, detail)) => {
                return self.error(status, detail, request.keep_alive, head_only)
            }
        };
        let (date, time) = self.dates.now_and_time();
        let head = ResponseHead {
            content_length: page.len() as u64,
            keep_alive: request.keep_alive,
            freshness: max_age.map(|age| (age, time)),
            ..ResponseHead::new(Status::Ok, HTML)
        };
        page_response(head, date, &page, head_only)
    }

    /// The entries of the directory at decoded URL path `dir`, under the root: names and
    /// whether `d_type` says directory, from the directory read alone (no `stat` per
    /// entry, except on file systems that leave `d_type` unknown).
    fn read_dir(&self, dir: &[u8]) -> Result<impl Iterator<Item = (Vec<u8>, bool)>, Refusal> {
        let relative = confine(dir)?;
        let real = std::fs::canonicalize(self.root.join(relative))
            .map_err(|_| (Status::NotFound, "no such directory"))?;
        if !real.starts_with(&self.root) {
            return Err((Status::Forbidden, "path resolves outside the root"));
        }
        let entries = std::fs::read_dir(&real).map_err(|err| match err.kind() {
            io::ErrorKind::PermissionDenied => (Status::Forbidden, "permission denied"),
            io::ErrorKind::NotFound => (Status::NotFound, "no such directory"),
            _ => (
                Status::InternalServerError,
                "I/O error reading the directory",
            ),
        })?;
        Ok(entries.filter_map(Result::ok).map(|entry| {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            (entry.file_name().into_vec(), is_dir)
        }))
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
        let is_file = matches!(entry.body, Stored::File(..));
        if self.cache.len() >= CACHE_ENTRIES || self.cached_bytes + entry.body.bytes() > CACHE_BYTES
        {
            // Start again rather than track recency: a full cache means many distinct
            // names (or spellings of names) are being asked for, and the ones that matter
            // come back within a few requests.
            self.cache.clear();
            self.cached_bytes = 0;
            self.cached_files = 0;
        } else if is_file && self.cached_files >= OPEN_FILES {
            // The same for the open files alone: close them all (those being sent stay
            // open until sent), keep the bytes.
            self.cache
                .retain(|_, cached| matches!(cached.body, Stored::Bytes(_)));
            self.cached_files = 0;
        }
        if let Some(replaced) = self.cache.insert(path.to_owned(), entry) {
            self.forget(&replaced);
        }
        self.cached_bytes += self.cache[path].body.bytes();
        self.cached_files += usize::from(is_file);
    }

    /// Takes an entry that left the cache out of the counts.
    fn forget(&mut self, entry: &Cached) {
        self.cached_bytes -= entry.body.bytes();
        self.cached_files -= usize::from(matches!(entry.body, Stored::File(..)));
    }
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
