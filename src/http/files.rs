//! Port of `http.server.SimpleHTTPRequestHandler.translate_path` (and the opening half of
//! `send_head`): from a request target to a file under the root, and never outside it.
//!
//! Python's unquotes the path, drops `.` and `..` segments and joins the rest to the
//! directory. It does not follow symlinks out of the root on purpose, but does not stop
//! them either; this does.
//!
//! The rules, in the order they are applied:
//!
//! 1. The query (`?...`) is dropped; the path is percent-decoded. A bad escape (`%zz`) or a
//!    decoded NUL is a 400: no file name contains them.
//! 2. The decoded path is split on `/` *after* decoding, so `%2e%2e%2f` is `../` and is
//!    treated exactly as `../`. Empty and `.` segments are dropped (so `//etc/passwd` is
//!    `etc/passwd` under the root); any `..` segment is a 403. There is no way to name an
//!    absolute path: every path is joined below the root.
//! 3. The result is resolved by the kernel (`realpath`, symlinks followed) and must still
//!    lie under the root's own real path; a symlink pointing outside is a 403.
//! 4. A directory is served as its `index.html`; asked for without its trailing slash it is
//!    a 301 to the slash form, so that the page's relative links work. Anything that is not
//!    a regular file (a FIFO, a device) is a 403: opening one could block or leak.
//!
//! What this does not defend against: someone who can write inside the root and swaps a
//! directory for a symlink between step 3 and the open. The file is opened by its resolved
//! path with `O_NOFOLLOW`, which closes that window for the last component only.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::location::directory_target;
use super::Status;

/// What a request target names under the root.
// The file variant is large (a `Metadata` is ~150 bytes) and the redirect small; boxing
// would cost an allocation per request for a value that lives one function call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Resolved {
    /// A regular file, opened for reading.
    File {
        /// Its real path (no symlinks), under the root.
        path: PathBuf,
        /// The path as the request named it, joined to the root, symlinks not resolved:
        /// what a cache re-checks with `stat` to see whether the name still means this file.
        named: PathBuf,
        /// The open file.
        file: File,
        /// Its metadata (`fstat` of the open file, so it describes what will be sent).
        meta: Metadata,
    },
    /// A directory asked for without its trailing slash: redirect to this target, its
    /// slash form rebuilt from the confined path (`//docs?x` gives `/docs/?x`).
    Redirect(String),
}

/// A refusal: the status, and what to write in the log.
pub type Refusal = (Status, &'static str);

/// Finds the file `target` names under `root`.
///
/// `root` must be the root's real path ([`std::fs::canonicalize`]); the server resolves it
/// once at start.
///
/// # Errors
/// 400 for a bad percent-escape or NUL, 403 for `..`, a path resolving outside the root, a
/// directory with no `index.html` or a file that is not regular, 404 for a missing file,
/// 500 for any other I/O error.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{resolve, Resolved, Status};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/site"))?;
/// assert!(matches!(resolve(&root, "/index.html"), Ok(Resolved::File { .. })));
/// assert!(matches!(resolve(&root, "/%2e%2e/Cargo.toml"), Err((Status::Forbidden, _))));
/// assert!(matches!(resolve(&root, "/nope.html"), Err((Status::NotFound, _))));
/// # Ok(())
/// # }
/// ```
pub fn resolve(root: &Path, target: &str) -> Result<Resolved, Refusal> {
    let path_part = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path_part.as_bytes())?;
    let relative = confine(&decoded)?;
    let joined = root.join(&relative);

    let real = std::fs::canonicalize(&joined).map_err(|err| io_refusal(&err))?;
    if !real.starts_with(root) {
        return Err((Status::Forbidden, "path resolves outside the root"));
    }
    let (real, file, meta) = open_regular(real)?;
    if meta.is_dir() {
        if !decoded.ends_with(b"/") {
            // Built from the segments, not copied: `//host/dir` must not become a
            // scheme-relative `Location: //host/dir/` (CVE-2021-28861). Keeps the query.
            return Ok(Resolved::Redirect(directory_target(target)));
        }
        let named = joined.join("index.html");
        // index.html may itself be a symlink: resolve and check it like any other path.
        let index = match std::fs::canonicalize(real.join("index.html")) {
            Ok(index) => index,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err((Status::Forbidden, "directory has no index.html"))
            }
            Err(err) => return Err(io_refusal(&err)),
        };
        if !index.starts_with(root) {
            return Err((Status::Forbidden, "path resolves outside the root"));
        }
        let (path, file, meta) = open_regular(index)?;
        if !meta.is_file() {
            return Err((Status::Forbidden, "not a regular file"));
        }
        return Ok(Resolved::File {
            path,
            named,
            file,
            meta,
        });
    }
    if !meta.is_file() {
        return Err((Status::Forbidden, "not a regular file"));
    }
    Ok(Resolved::File {
        path: real,
        named: joined,
        file,
        meta,
    })
}

/// Opens `path` without blocking (a FIFO would otherwise wait for a writer) and without
/// following a symlink swapped in since it was resolved, and `fstat`s it.
fn open_regular(path: PathBuf) -> Result<(PathBuf, File, Metadata), Refusal> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|err| io_refusal(&err))?;
    let meta = file.metadata().map_err(|err| io_refusal(&err))?;
    Ok((path, file, meta))
}

/// Splits a decoded path into segments and keeps them below the root (rule 2).
pub(crate) fn confine(decoded: &[u8]) -> Result<PathBuf, Refusal> {
    let mut relative = PathBuf::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return Err((Status::Forbidden, "'..' in path")),
            name => relative.push(OsStr::from_bytes(name)),
        }
    }
    Ok(relative)
}

/// Decodes `%XX` escapes (rule 1). `+` stays `+`: it means a space only in form data.
pub(crate) fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                tail.first().and_then(|&h| hex(h)),
                tail.get(1).and_then(|&l| hex(l)),
            ) else {
                return Err((Status::BadRequest, "bad percent-escape in path"));
            };
            out.push((hi << 4) | lo);
            rest = &tail[2..];
        } else {
            out.push(b);
            rest = tail;
        }
    }
    if out.contains(&0) {
        return Err((Status::BadRequest, "NUL in path"));
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// An I/O error while resolving: missing is 404, not allowed is 403, the rest 500.
fn io_refusal(err: &io::Error) -> Refusal {
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => {
            (Status::NotFound, "no such file")
        }
        Some(libc::EACCES | libc::EPERM) => (Status::Forbidden, "permission denied"),
        // ELOOP: a symlink where O_NOFOLLOW forbids one, or a cycle.
        Some(libc::ELOOP) => (Status::Forbidden, "symlink refused"),
        _ => (Status::InternalServerError, "I/O error opening the file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"/a%20b").unwrap(), b"/a b");
        assert_eq!(percent_decode(b"/%2e%2E/").unwrap(), b"/../");
        assert_eq!(percent_decode(b"/a+b").unwrap(), b"/a+b");
        assert_eq!(percent_decode(b"/%zz").unwrap_err().0, Status::BadRequest);
        assert_eq!(percent_decode(b"/%4").unwrap_err().0, Status::BadRequest);
        assert_eq!(percent_decode(b"/a%00b").unwrap_err().0, Status::BadRequest);
    }

    #[test]
    fn confinement_drops_empty_and_dot_segments_and_refuses_dotdot() {
        assert_eq!(confine(b"//etc/passwd").unwrap(), Path::new("etc/passwd"));
        assert_eq!(confine(b"/./a/./b/").unwrap(), Path::new("a/b"));
        assert_eq!(confine(b"/").unwrap(), Path::new(""));
        for bad in [&b"/.."[..], b"/a/../../x", b"/a/..", b"../x"] {
            assert_eq!(confine(bad).unwrap_err().0, Status::Forbidden);
        }
    }
}
