//! Port of `SimpleHTTPRequestHandler.do_GET` / `do_HEAD` / `send_head`: routing from a
//! parsed [`Request`] to the [`Response`] to send, with no network I/O.
//!
//! The server glue (`server.rs`) only moves bytes: it feeds the request reader, asks the
//! site for a response, and writes the response's bytes and file region. Everything a test
//! would want to pin down (which status, which headers, which bytes) is decided here.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::access_log::escape_log_field;
use super::file_response::{file_response, Body, Meta, Negotiated, Now};
use super::files::{confine, percent_decode, resolve, Resolved, NO_INDEX};
use super::location;
use super::{
    content_type, error_page, etag, is_hidden, listing_page, negotiate, not_acceptable_page,
    percent_encode, variant_index, CachePolicy, DateCache, FileStat, Method, Refusal, Request,
    ResponseHead, Root, Status, Variant, HTML, MAX_LISTED,
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
/// (a server must set them aside beside its connections' descriptors): a hit, a Range
/// request for the middle of one included, then costs the hit's lookup and the
/// `sendfile`, as nginx's `open_file_cache` saves its open and fstat.
pub const OPEN_FILES: usize = 16;
/// Listing pages kept at most (and [`CACHE_BYTES`] of them in all); and as many
/// directories' variant indexes ...
const LISTINGS: usize = 64;
/// ... of at most this many variants in all (a directory with more is read for each
/// negotiation).
const MAX_INDEXED: usize = 100_000;
/// A file modified or changed this recently when it was read is not cached: another change
/// within the file system's timestamp granularity would leave every field `fstat` gives
/// as it was (git's "racily clean" rule; Linux stamps files from a clock that ticks every
/// few milliseconds, other file systems by the second or two).
const RACY: Duration = Duration::from_secs(2);

/// The served directory: its descriptor, a cache of its small files, and the `Date` header.
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
    root: Root,
    dates: DateCache,
    cache: HashMap<String, Cached>,
    cached_bytes: usize,
    cached_files: usize,
    /// Listing pages, by the directory's path beneath the root, with its `fstat` then.
    listings: HashMap<PathBuf, (FileStat, Arc<str>)>,
    listing_bytes: usize,
    /// Each directory's variants by negotiated name ([`variant_index`]), with its `fstat`.
    variant_indexes: HashMap<PathBuf, (FileStat, VariantIndex)>,
    /// Variants held in `variant_indexes`, in all.
    indexed: usize,
    /// `--cache PREFIX=SECONDS`.
    policy: CachePolicy,
    /// `--languages`: the tie-break between equally good variants, most preferred first.
    languages: Vec<String>,
    /// Directories without `index.html` are listed (`--no-listing` turns this off: 403).
    listing: bool,
}

/// What [`Site::respond_deferring`] gives.
#[derive(Debug)]
pub(crate) enum Served {
    /// The response, ready.
    Now(Response),
    /// A directory to read off the loop first (for a listing, or a name's variants).
    Directory(DirectoryJob),
}

/// A listing page kept from before, or the job that builds it.
enum Listed {
    Kept(Arc<str>),
    Build(DirectoryJob),
}

/// The variants of a name, from its directory's kept index (`None`: none, or the
/// directory cannot be opened), or the job that indexes the directory.
enum Variants {
    Kept(Option<Vec<Variant>>),
    Build(DirectoryJob),
}

/// A directory to read in full, and why: the slow part of a listing or of a negotiation
/// (reading 50,000 entries takes tens of milliseconds). [`build`](Self::build) touches
/// nothing of the [`Site`], so it may run on any thread; what it makes is kept by the
/// directory's path and its `fstat` from before the read.
#[derive(Debug)]
pub(crate) struct DirectoryJob {
    purpose: Purpose,
    relative: PathBuf,
    fd: OwnedFd,
    stat: FileStat,
    looked_up_at: SystemTime,
}

#[derive(Debug)]
enum Purpose {
    /// The listing page of the directory at this decoded path.
    Listing { decoded: Vec<u8> },
    /// The variants of the last segment of `decoded`, in its directory; without any, a
    /// 404 saying `detail`.
    Variants {
        decoded: Vec<u8>,
        detail: &'static str,
    },
}

/// What a [`DirectoryJob`] made, for [`Site::directory_read`].
#[derive(Debug)]
pub(crate) struct DirectoryRead {
    relative: PathBuf,
    stat: FileStat,
    looked_up_at: SystemTime,
    made: Made,
}

#[derive(Debug)]
enum Made {
    Listing(Result<Arc<str>, Refusal>),
    /// The variants of the name asked for, and the directory's variant index when it is
    /// to be kept (read settled, not too large).
    Variants {
        decoded: Vec<u8>,
        detail: &'static str,
        found: Option<Vec<Variant>>,
        index: Option<VariantIndex>,
    },
}

impl DirectoryJob {
    /// Reads the directory, and makes its listing page or its variant index.
    pub(crate) fn build(self) -> DirectoryRead {
        let made = match self.purpose {
            Purpose::Listing { decoded } => Made::Listing(
                entries(&self.fd)
                    .map(|entries| Arc::from(listing_page(&decoded, entries, MAX_LISTED))),
            ),
            Purpose::Variants { decoded, detail } => {
                let index = entries(&self.fd).ok().map(|entries| {
                    variant_index(entries.filter(|(_, is_dir)| !is_dir).map(|(name, _)| name))
                });
                let base = decoded
                    .iter()
                    .rposition(|&b| b == b'/')
                    .map_or(&decoded[..], |slash| &decoded[slash + 1..]);
                let found = index.as_ref().and_then(|index| index.get(base).cloned());
                // An index that will not be kept is dropped here, not on the loop: freeing
                // 50,000 entries' names takes milliseconds too.
                let keep = trustworthy(&self.stat, self.looked_up_at)
                    && index
                        .as_ref()
                        .is_some_and(|index| indexed_size(index) <= MAX_INDEXED);
                Made::Variants {
                    decoded,
                    detail,
                    found,
                    index: index.filter(|_| keep),
                }
            }
        };
        DirectoryRead {
            relative: self.relative,
            stat: self.stat,
            looked_up_at: self.looked_up_at,
            made,
        }
    }
}

/// A directory's variants by negotiated name ([`variant_index`]).
type VariantIndex = HashMap<Vec<u8>, Vec<Variant>>;

/// A file held in memory (small) or open (large), and what identifies the file it was
/// read from.
///
/// A hit looks the name up again beneath the root (`openat2(O_PATH)`, the same confinement
/// as a miss) and compares `fstat`'s answer with `stat` in full: device and inode (the same
/// file), size, mtime and ctime with nanoseconds (the same version: ctime moves on every
/// write, `chmod`, `chown`, link and rename, and cannot be set back, so `cp -p` and
/// `rsync -t --inplace` are seen), and mode, owner and group (still a regular file, still
/// readable as it was). Anything that would make a miss refuse the name (a directory on the
/// way moved out and symlinked back, a `..` or absolute symlink, lost search permission)
/// makes the lookup fail, and the request goes the miss's way. Three system calls
/// (`openat2`, `fstat`, `close`), as many as nginx's own `open`, `fstat`, `close`, and no
/// read (a small file) or only the `sendfile` (a large one).
//
// Why not lighttpd's stat cache, invalidated by inotify, where a hit needs no system call?
// Measured (scripts/bench-http.sh, docs/performance.md), the confined lookup added about
// 0.4 µs per keep-alive request and left CPU per request at 0.6-0.9 x nginx's on every
// load. What inotify would cost instead: a watch on every directory on the way to every
// cached file (the per-user limits, `max_user_instances` = 128 and `max_user_watches`, are
// shared with every other process of the user, and each `--workers` loop needs its own
// instance); a fallback to this lookup whenever those run out; and blind spots it has by
// design: writes through a shared `mmap`, changes made by another NFS client, a bind mount
// over a directory. And a hit served without a system call can be stale for as long as the
// inotify event waits behind the request in the loop; never stale means a `read` of the
// inotify descriptor per hit, one call against our three. Not worth the machinery here.
#[derive(Debug)]
struct Cached {
    /// The path beneath the root that was looked up when the file was read.
    relative: PathBuf,
    stat: FileStat,
    content_type: &'static str,
    etag: String,
    body: Stored,
}

/// A cached file's bytes, or, for a large file, the open file they are sent from. An open
/// file reads what its inode holds now, so it is never staler than the hit's check.
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

    fn is_file(&self) -> bool {
        matches!(self, Stored::File(..))
    }

    fn body(&self) -> Body<'_> {
        match self {
            Stored::Bytes(bytes) => Body::Memory(bytes),
            Stored::File(file, len) => Body::File(Arc::clone(file), *len),
        }
    }
}

impl Site {
    /// Serves the directory `root`: opens it once; every file is then looked up beneath
    /// that descriptor ([`Root`]).
    ///
    /// # Errors
    /// The OS error if `root` does not exist or cannot be opened as a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Site> {
        Ok(Site::with_root(Root::open(root)?))
    }

    /// Serves a root already opened (for instance with [`Root::walk_only`]).
    pub fn with_root(root: Root) -> Site {
        Site {
            root,
            dates: DateCache::default(),
            cache: HashMap::new(),
            cached_bytes: 0,
            cached_files: 0,
            listings: HashMap::new(),
            listing_bytes: 0,
            variant_indexes: HashMap::new(),
            indexed: 0,
            policy: CachePolicy::default(),
            languages: vec!["en".to_owned()],
            listing: true,
        }
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
        self.root.path()
    }

    /// The response to a request: the file (200, 206, 304, 412, 416), a negotiated
    /// variant or 406, a listing, a 301, or an error page.
    ///
    /// A directory that must be read in full (a listing or a variant index not kept from
    /// before) is read here, in this call; [`HttpServer`](super::HttpServer) reads it on a
    /// thread of its own instead, so that its loop goes on serving meanwhile.
    pub fn respond(&mut self, request: &Request) -> Response {
        match self.respond_deferring(request) {
            Served::Now(response) => response,
            Served::Directory(job) => {
                let read = job.build();
                self.directory_read(request, read)
            }
        }
    }

    /// [`respond`](Self::respond), except that a directory that must be read in full (for
    /// a listing not kept from before, or to index the variants of a name that names no
    /// file) comes back as a [`DirectoryJob`] to run off the loop: reading a 50,000-entry
    /// directory takes tens of milliseconds, which on the loop would hold up every other
    /// connection. Hand what [`DirectoryJob::build`] returns to
    /// [`directory_read`](Self::directory_read).
    pub(crate) fn respond_deferring(&mut self, request: &Request) -> Served {
        let head_only = request.method == Method::Head;
        let keep_alive = request.keep_alive;
        let path = request.target.split(['?', '#']).next().unwrap_or("");
        let decoded = match percent_decode(path.as_bytes()) {
            Ok(decoded) => decoded,
            Err((status, detail)) => {
                return Served::Now(self.error(status, detail, keep_alive, head_only))
            }
        };
        if is_hidden(&decoded) {
            return Served::Now(self.error(
                Status::Forbidden,
                "hidden path: a segment starts with '.'",
                keep_alive,
                head_only,
            ));
        }
        let max_age = self.policy.max_age(&decoded);
        Served::Now(
            match self.serve_file(request, &request.target, max_age, Negotiated::default()) {
                Ok(response) => response,
                Err((Status::NotFound, detail)) => match self.variants_of(&decoded, detail) {
                    Variants::Kept(found) => self.negotiated(request, &decoded, found, detail),
                    Variants::Build(job) => return Served::Directory(job),
                },
                Err((Status::Forbidden, NO_INDEX)) if self.listing => {
                    match self.listing_page(decoded) {
                        Ok(Listed::Kept(page)) => self.listing_response(request, &page),
                        Ok(Listed::Build(job)) => return Served::Directory(job),
                        Err((status, detail)) => self.error(status, detail, keep_alive, head_only),
                    }
                }
                Err((status, detail)) => self.error(status, detail, keep_alive, head_only),
            },
        )
    }

    /// The file `target` names: from the cache, or looked up beneath the root and opened
    /// (and cached); or a 301 for a directory without its slash.
    fn serve_file(
        &mut self,
        request: &Request,
        target: &str,
        max_age: Option<u64>,
        negotiated: Negotiated<'_>,
    ) -> Result<Response, Refusal> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        if let Some(cached) = self.cache.get(path) {
            let fresh = self
                .root
                .lookup(&cached.relative)
                .and_then(|fd| self.root.stat(&fd))
                .is_ok_and(|stat| stat == cached.stat);
            if fresh {
                // Only dates HTTP can say, no later than `Date`: a file dated 1960 or in
                // year 10000 is served, not a panic.
                let modified = self.dates.last_modified(cached.stat.modified());
                let (text, time) = self.dates.now_and_time();
                let meta = Meta {
                    content_type: cached.content_type,
                    modified,
                    etag: &cached.etag,
                };
                return Ok(file_response(
                    request,
                    Now { text, time },
                    meta,
                    cached.body.body(),
                    negotiated,
                    max_age,
                ));
            }
            let stale = self.cache.remove(path).expect("just found");
            self.forget(&stale);
        }
        // The racy-clean rule's reference is a moment before the file is looked up and
        // read, not after: a change in the file's last timestamp tick must have come before
        // the read began, however long the read took.
        let looked_up_at = SystemTime::now();
        match resolve(&self.root, target)? {
            Resolved::File {
                relative,
                file,
                stat,
            } => {
                // The type follows the name asked for (`index.html` for a directory), as
                // nginx's does, not a symlink's target.
                let content_type = content_type(&relative);
                let tag = etag(stat.ino, stat.size, stat.mtime.0, i64::from(stat.mtime.1));
                let modified = self.dates.last_modified(stat.modified());
                let settled = trustworthy(&stat, looked_up_at);
                let stored = if stat.size > SMALL_FILE {
                    Stored::File(Arc::new(file), stat.size)
                } else {
                    let mut body = Vec::with_capacity(stat.size as usize);
                    if let Err(err) = file.take(stat.size).read_to_end(&mut body) {
                        // The name is spelled as the client asked: escaped, as in the
                        // access log.
                        let mut name = String::new();
                        escape_log_field(&mut name, relative.as_os_str().as_bytes());
                        log::error!("reading {name}: {err}");
                        return Err((Status::InternalServerError, "I/O error reading the file"));
                    }
                    if body.len() as u64 != stat.size {
                        // Shorter than fstat said: changing as we read. Serve what was read,
                        // keep nothing.
                        let (text, time) = self.dates.now_and_time();
                        let meta = Meta {
                            content_type,
                            modified,
                            etag: &tag,
                        };
                        return Ok(file_response(
                            request,
                            Now { text, time },
                            meta,
                            Body::Memory(&body),
                            negotiated,
                            max_age,
                        ));
                    }
                    Stored::Bytes(body.into_boxed_slice())
                };
                let (text, time) = self.dates.now_and_time();
                let meta = Meta {
                    content_type,
                    modified,
                    etag: &tag,
                };
                let response = file_response(
                    request,
                    Now { text, time },
                    meta,
                    stored.body(),
                    negotiated,
                    max_age,
                );
                if settled {
                    let entry = Cached {
                        relative,
                        stat,
                        content_type,
                        etag: tag,
                        body: stored,
                    };
                    self.remember(path, entry);
                }
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
        found: Option<Vec<Variant>>,
        detail: &'static str,
    ) -> Response {
        let head_only = request.method == Method::Head;
        let (Some(found), Some(slash)) = (found, decoded.iter().rposition(|&b| b == b'/')) else {
            return self.error(Status::NotFound, detail, request.keep_alive, head_only);
        };
        let dir = &decoded[..=slash];
        let fields = &request.fields;
        let choice = negotiate(
            &found,
            fields.accept.as_deref(),
            fields.accept_language.as_deref(),
            &self.languages,
        );
        let Some(chosen) = choice.chosen else {
            let page = not_acceptable_page(&found);
            let head = ResponseHead {
                content_length: page.len() as u64,
                keep_alive: request.keep_alive,
                vary: choice.vary,
                ..ResponseHead::new(Status::NotAcceptable, HTML)
            };
            return page_response(head, self.dates.now(), &page, head_only);
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
        // Freshness too is the variant's own, as a direct request for it would get: a
        // `--cache` prefix that names the variant's file (`/hello.de.html=0`) is longer
        // than the negotiated path and must still win. Every prefix of `/hello` is a
        // prefix of `/hello.de.html`, so this only ever picks a longer rule.
        let mut variant_path = dir.to_vec();
        variant_path.extend_from_slice(&variant.name);
        let max_age = self.policy.max_age(&variant_path);
        match self.serve_file(request, &target, max_age, negotiated) {
            Ok(response) => response,
            Err((status, detail)) => self.error(status, detail, request.keep_alive, head_only),
        }
    }

    /// The variants of the last segment of `decoded` (a path that names nothing) in its
    /// directory, from the directory's kept [`variant_index`], or the job that indexes it.
    /// The index is kept while the directory's `fstat` is unchanged, like a listing: every
    /// 404 looks here, and a large directory must not be read again for each.
    fn variants_of(&mut self, decoded: &[u8], detail: &'static str) -> Variants {
        let Some(slash) = decoded.iter().rposition(|&b| b == b'/') else {
            return Variants::Kept(None);
        };
        let (dir, base) = (&decoded[..=slash], &decoded[slash + 1..]);
        if base.is_empty() {
            return Variants::Kept(None);
        }
        let Ok(relative) = confine(dir) else {
            return Variants::Kept(None);
        };
        // As for files: the racy-clean rule counts from before the directory is read.
        let looked_up_at = SystemTime::now();
        let Ok(fd) = self.open_dir(&relative) else {
            return Variants::Kept(None);
        };
        let Ok(stat) = self.root.stat(&fd) else {
            return Variants::Kept(None);
        };
        if let Some((seen, index)) = self.variant_indexes.get(&relative) {
            if *seen == stat {
                return Variants::Kept(index.get(base).cloned());
            }
        }
        Variants::Build(DirectoryJob {
            purpose: Purpose::Variants {
                decoded: decoded.to_vec(),
                detail,
            },
            relative,
            fd,
            stat,
            looked_up_at,
        })
    }

    /// The 200 with a listing page (the decoded path ends in `/`), with the freshness of
    /// the path asked for.
    fn listing_response(&mut self, request: &Request, page: &str) -> Response {
        let head_only = request.method == Method::Head;
        let path = request.target.split(['?', '#']).next().unwrap_or("");
        let max_age = percent_decode(path.as_bytes())
            .ok()
            .and_then(|decoded| self.policy.max_age(&decoded));
        let (date, time) = self.dates.now_and_time();
        let head = ResponseHead {
            content_length: page.len() as u64,
            keep_alive: request.keep_alive,
            freshness: max_age.map(|age| (age, time)),
            ..ResponseHead::new(Status::Ok, HTML)
        };
        page_response(head, date, page, head_only)
    }

    /// The listing of the directory at `decoded`: the kept page if the directory's `fstat`
    /// is what it was when the page was built, else the job that builds it.
    ///
    /// A page is kept, like a small file, for as long as the directory's `fstat` is the
    /// same (entries added, removed or renamed move its mtime and ctime): a large directory
    /// is read and sorted once, not once per request.
    fn listing_page(&mut self, decoded: Vec<u8>) -> Result<Listed, Refusal> {
        let relative = confine(&decoded)?;
        // As for files: the racy-clean rule counts from before the directory is read.
        let looked_up_at = SystemTime::now();
        let fd = self.open_dir(&relative)?;
        let stat = self.root.stat(&fd).map_err(|_| {
            (
                Status::InternalServerError,
                "I/O error reading the directory",
            )
        })?;
        if let Some((seen, page)) = self.listings.get(&relative) {
            if *seen == stat {
                return Ok(Listed::Kept(Arc::clone(page)));
            }
        }
        Ok(Listed::Build(DirectoryJob {
            purpose: Purpose::Listing { decoded },
            relative,
            fd,
            stat,
            looked_up_at,
        }))
    }

    /// The response once a [`DirectoryJob`] is done (on any thread): the listing, or the
    /// negotiated variant, 406 or 404. What it made is kept for the next request if the
    /// directory had settled when it was read.
    pub(crate) fn directory_read(&mut self, request: &Request, read: DirectoryRead) -> Response {
        let settled = trustworthy(&read.stat, read.looked_up_at);
        match read.made {
            Made::Listing(Err((status, detail))) => {
                let head_only = request.method == Method::Head;
                self.error(status, detail, request.keep_alive, head_only)
            }
            Made::Listing(Ok(page)) => {
                if settled {
                    if self.listings.len() >= LISTINGS
                        || self.listing_bytes + page.len() > CACHE_BYTES
                    {
                        self.listings.clear();
                        self.listing_bytes = 0;
                    }
                    let kept = self
                        .listings
                        .insert(read.relative, (read.stat, Arc::clone(&page)));
                    if let Some((_, old)) = kept {
                        self.listing_bytes -= old.len();
                    }
                    self.listing_bytes += page.len();
                }
                self.listing_response(request, &page)
            }
            Made::Variants {
                decoded,
                detail,
                found,
                index,
            } => {
                if let Some(index) = index {
                    self.keep_index(read.relative, read.stat, index);
                }
                self.negotiated(request, &decoded, found, detail)
            }
        }
    }

    /// Keeps a directory's variant index (read settled, and at most [`MAX_INDEXED`]).
    fn keep_index(&mut self, relative: PathBuf, stat: FileStat, index: VariantIndex) {
        let size = indexed_size(&index);
        if self.variant_indexes.len() >= LISTINGS || self.indexed + size > MAX_INDEXED {
            self.variant_indexes.clear();
            self.indexed = 0;
        }
        if let Some((_, old)) = self.variant_indexes.insert(relative, (stat, index)) {
            self.indexed -= indexed_size(&old);
        }
        self.indexed += size;
    }

    /// Opens the directory `relative` beneath the root, like any file.
    fn open_dir(&self, relative: &Path) -> Result<OwnedFd, Refusal> {
        self.root
            .open_dir(relative)
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ENOENT | libc::ENOTDIR) => (Status::NotFound, "no such directory"),
                Some(libc::EACCES | libc::EPERM | libc::EXDEV | libc::ELOOP) => {
                    (Status::Forbidden, "directory may not be read")
                }
                _ => (
                    Status::InternalServerError,
                    "I/O error reading the directory",
                ),
            })
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
        let is_file = entry.body.is_file();
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
        self.cached_files -= usize::from(entry.body.is_file());
    }
}

/// The entries of an open directory: names, and whether `d_type` says directory, from the
/// directory read alone (no `stat` per entry; where a file system leaves `d_type` unknown,
/// the entry counts as a file).
fn entries(fd: &OwnedFd) -> Result<impl Iterator<Item = (Vec<u8>, bool)>, Refusal> {
    let entries = rustix::fs::Dir::read_from(fd).map_err(|_| {
        (
            Status::InternalServerError,
            "I/O error reading the directory",
        )
    })?;
    Ok(entries.filter_map(Result::ok).filter_map(|entry| {
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            return None;
        }
        let is_dir = entry.file_type() == rustix::fs::FileType::Directory;
        Some((name.to_vec(), is_dir))
    }))
}

/// How many variants an index holds, as counted against [`MAX_INDEXED`].
fn indexed_size(index: &VariantIndex) -> usize {
    index.values().map(Vec::len).sum()
}

/// Whether a file read at `read_at` may be cached: not if it was modified or changed within
/// [`RACY`] of that moment (or after it: a clock set back), since a change in the same
/// timestamp tick would then leave no trace in `fstat`.
fn trustworthy(stat: &FileStat, read_at: SystemTime) -> bool {
    // Checked: a file may be dated at the very end of time_t (tmpfs keeps it), and
    // `SystemTime + Duration` panics there. Such a file is never settled.
    let settled = |time: SystemTime| time.checked_add(RACY).is_some_and(|t| t <= read_at);
    settled(stat.modified()) && settled(stat.changed())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Limits, RequestReader};
    use std::time::UNIX_EPOCH;

    fn stat(mtime: i64, ctime: i64) -> FileStat {
        FileStat {
            dev: 1,
            ino: 2,
            size: 3,
            mode: 0o100_644,
            uid: 0,
            gid: 0,
            mtime: (mtime, 0),
            ctime: (ctime, 0),
        }
    }

    #[test]
    fn a_file_changed_within_two_seconds_of_being_read_is_not_trusted() {
        let read_at = UNIX_EPOCH + Duration::from_secs(1000);
        assert!(trustworthy(&stat(990, 997), read_at));
        assert!(trustworthy(&stat(998, 998), read_at));
        assert!(!trustworthy(&stat(999, 990), read_at), "mtime 1 s before");
        assert!(!trustworthy(&stat(990, 999), read_at), "ctime 1 s before");
        assert!(!trustworthy(&stat(1000, 1000), read_at), "the same second");
        assert!(!trustworthy(&stat(990, 1005), read_at), "from the future");
        assert!(
            !trustworthy(&stat(i64::MAX, 990), read_at),
            "the end of time_t"
        );
        assert!(
            trustworthy(&stat(i64::MIN, 990), read_at),
            "the start of time_t"
        );
    }

    fn get(site: &mut Site, target: &str) -> Response {
        let mut reader = RequestReader::new(Limits::default());
        reader.feed(format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes());
        site.respond(&reader.next_request().unwrap().unwrap())
    }

    /// The rule as applied: a fresh file is served but not kept; once it has settled it
    /// is kept, and a hit whose `fstat` differs in any field (here, only the mode) is not
    /// served from memory.
    #[test]
    fn only_settled_files_are_cached_and_a_hit_compares_every_field() {
        let dir = std::env::temp_dir().join(format!("mio-selectors-site-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f.txt"), b"fresh").unwrap();
        let mut site = Site::new(&dir).unwrap();
        assert_eq!(get(&mut site, "/f.txt").status, Status::Ok);
        assert!(site.cache.is_empty(), "a file written just now was cached");

        // Pretend the cached copy was read long ago from a file with another mode: the hit
        // must see the difference and read the file again.
        let real = site
            .root
            .stat(&site.root.lookup(Path::new("f.txt")).unwrap())
            .unwrap();
        site.cache.insert(
            "/f.txt".to_owned(),
            Cached {
                relative: PathBuf::from("f.txt"),
                stat: FileStat {
                    mode: real.mode ^ 0o044,
                    ..real
                },
                content_type: "text/plain",
                etag: "\"x\"".to_owned(),
                body: Stored::Bytes(Box::from(&b"stale"[..])),
            },
        );
        site.cached_bytes = 5;
        let response = get(&mut site, "/f.txt");
        assert!(
            response.bytes.ends_with(b"\r\n\r\nfresh"),
            "served the stale copy"
        );
        // The same entry with the real stat is a hit (and is what a settled file gets).
        site.cache.insert(
            "/f.txt".to_owned(),
            Cached {
                relative: PathBuf::from("f.txt"),
                stat: real,
                content_type: "text/plain",
                etag: "\"x\"".to_owned(),
                body: Stored::Bytes(Box::from(&b"memory"[..])),
            },
        );
        let response = get(&mut site, "/f.txt");
        assert!(
            response.bytes.ends_with(b"\r\n\r\nmemory"),
            "a true hit was missed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
