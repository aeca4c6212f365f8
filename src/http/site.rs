//! Port of `SimpleHTTPRequestHandler.do_GET` / `do_HEAD` / `send_head`: routing from a
//! parsed [`Request`] to the [`Response`] to send, with no network I/O.
//!
//! The server glue (`server.rs`) only moves bytes: it feeds the request reader, asks the
//! site for a response, and writes the response's bytes and file region. Everything a test
//! would want to pin down (which status, which headers, which bytes) is decided here.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::access_log::escape_log_field;
use super::files::{resolve, Resolved};
use super::location;
use super::{
    content_type, error_page, DateCache, FileStat, Method, Request, ResponseHead, Root, Status,
    HTML,
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
}

/// A small file held in memory, and what identifies the file it was read from.
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
/// read or `sendfile`.
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
    body: Box<[u8]>,
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
        }
    }

    /// The root's real path.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The response to a request: the file, a 304, a 301, or an error page.
    pub fn respond(&mut self, request: &Request) -> Response {
        let head_only = request.method == Method::Head;
        let keep_alive = request.keep_alive;
        let path = request.target.split(['?', '#']).next().unwrap_or("");
        if let Some(cached) = self.cache.get(path) {
            let fresh = self
                .root
                .lookup(&cached.relative)
                .and_then(|fd| self.root.stat(&fd))
                .is_ok_and(|stat| stat == cached.stat);
            if fresh {
                return file_response(
                    request,
                    &mut self.dates,
                    cached.content_type,
                    cached.stat.modified(),
                    Body::Memory(&cached.body),
                );
            }
            let stale = self.cache.remove(path).expect("just found");
            self.cached_bytes -= stale.body.len();
        }
        // The racy-clean rule's reference is a moment before the file is looked up and
        // read, not after: a change in the file's last timestamp tick must have come before
        // the read began, however long the read took.
        let looked_up_at = SystemTime::now();
        match resolve(&self.root, &request.target) {
            Ok(Resolved::File {
                relative,
                file,
                stat,
            }) => {
                // The type follows the name asked for (`index.html` for a directory), as
                // nginx's does, not a symlink's target.
                let content_type = content_type(&relative);
                let modified = stat.modified();
                if stat.size > SMALL_FILE {
                    return file_response(
                        request,
                        &mut self.dates,
                        content_type,
                        modified,
                        Body::File(file, stat.size),
                    );
                }
                let mut body = Vec::with_capacity(stat.size as usize);
                if let Err(err) = file.take(stat.size).read_to_end(&mut body) {
                    // The name is spelled as the client asked: escaped, as in the access log.
                    let mut name = String::new();
                    escape_log_field(&mut name, relative.as_os_str().as_bytes());
                    log::error!("reading {name}: {err}");
                    return self.error(
                        Status::InternalServerError,
                        "I/O error reading the file",
                        keep_alive,
                        head_only,
                    );
                }
                let response = file_response(
                    request,
                    &mut self.dates,
                    content_type,
                    modified,
                    Body::Memory(&body),
                );
                if trustworthy(&stat, looked_up_at) && body.len() as u64 == stat.size {
                    let entry = Cached {
                        relative,
                        stat,
                        content_type,
                        body: body.into_boxed_slice(),
                    };
                    self.remember(path, entry);
                }
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

/// Whether a file read at `read_at` may be cached: not if it was modified or changed within
/// [`RACY`] of that moment (or after it: a clock set back), since a change in the same
/// timestamp tick would then leave no trace in `fstat`.
fn trustworthy(stat: &FileStat, read_at: SystemTime) -> bool {
    // Checked: a file may be dated at the very end of time_t (tmpfs keeps it), and
    // `SystemTime + Duration` panics there. Such a file is never settled.
    let settled = |time: SystemTime| time.checked_add(RACY).is_some_and(|t| t <= read_at);
    settled(stat.modified()) && settled(stat.changed())
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
                body: Box::from(&b"stale"[..]),
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
                body: Box::from(&b"memory"[..]),
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
