//! Port of `http.server.SimpleHTTPRequestHandler.translate_path` (and the opening half of
//! `send_head`): from a request target to a file under the root, and never outside it.
//!
//! Python's unquotes the path, drops `.` and `..` segments, joins the rest to the directory
//! and opens the result by name. It does not follow symlinks out of the root on purpose, but
//! does not stop them either; this does, and by construction rather than by a check made
//! before the open (see [`Root`](super::Root) for how the kernel keeps every lookup beneath
//! the root's descriptor while other processes rename things in it).
//!
//! The rules, in the order they are applied:
//!
//! 1. The query (`?...`) is dropped; the path is percent-decoded. A bad escape (`%zz`) or a
//!    decoded NUL is a 400: no file name contains them.
//! 2. The decoded path is split on `/` *after* decoding, so `%2e%2e%2f` is `../` and is
//!    treated exactly as `../`. Empty and `.` segments are dropped (so `//etc/passwd` is
//!    `etc/passwd` under the root); any `..` segment is a 403. There is no way to name an
//!    absolute path: every path is looked up below the root.
//! 3. The name is looked up beneath the root's descriptor (`openat2(RESOLVE_BENEATH)`, or a
//!    walk with the same rules): a relative symlink that stays inside is followed; an
//!    absolute one, or one that climbs out, is a 403, at whatever step it is met and
//!    whenever it was put there.
//! 4. What the name is, is decided on an `O_PATH` descriptor (`fstat`), before anything is
//!    opened: a FIFO, a socket or a device is a 403 and is never opened. A regular file is
//!    then opened for reading by a second confined lookup of the same name, kept only if it
//!    is the same file (device and inode).
//! 5. A path ending in `/` or `/.` must name a directory (404 otherwise, as nginx and Python
//!    answer `/page.html/`). A directory is served as its `index.html`, looked up beneath
//!    *that directory's* descriptor (so a swap of the directory after it was found changes
//!    nothing); asked for without its trailing slash it is a 301 to the slash form, so that
//!    the page's relative links work. Only search permission on the directory is needed,
//!    as for any path: a `0711` directory's readable `index.html` is served.
//!
//! Known limits, with their preconditions: a process that can *mount* inside the root (root,
//! or a user namespace owning the mount) can put anything there; the file's *contents* may
//! change while it is being sent (as with every server that does not copy files first); a
//! symlink is followed when it stays beneath the root, so a writer in the root can still make
//! one name serve another file *of the root*.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::location::directory_target;
use super::{FileStat, Root, Status};

/// What a request target names under the root.
#[derive(Debug)]
pub enum Resolved {
    /// A regular file, opened for reading.
    File {
        /// The path beneath the root that was looked up (`docs/index.html` for `/docs/`):
        /// what a cache looks up again, beneath the root, to see whether the name still
        /// means this file.
        relative: PathBuf,
        /// The open file.
        file: File,
        /// Its identity and version, from `fstat` before it was opened (and the open file
        /// is that same file).
        stat: FileStat,
    },
    /// A directory asked for without its trailing slash: redirect to this target, its
    /// slash form rebuilt from the confined path (`//docs?x` gives `/docs/?x`).
    Redirect(String),
}

/// The refusal of a directory that has no `index.html`: the site lists it instead, unless
/// listings are off.
pub(crate) const NO_INDEX: &str = "directory has no index.html";

/// A refusal: the status, and what to write in the log.
pub type Refusal = (Status, &'static str);

/// Finds the file `target` names beneath `root`, and opens it.
///
/// # Errors
/// 400 for a bad percent-escape or NUL, 403 for `..`, a path leading outside the root, a
/// directory with no `index.html`, a file that is not regular or may not be read, 404 for
/// a missing file (or a file named as a directory, `/page.html/`), 500 for any other I/O
/// error.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{resolve, Resolved, Root, Status};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = Root::open(concat!(env!("CARGO_MANIFEST_DIR"), "/site"))?;
/// assert!(matches!(resolve(&root, "/index.html"), Ok(Resolved::File { .. })));
/// assert!(matches!(resolve(&root, "/%2e%2e/Cargo.toml"), Err((Status::Forbidden, _))));
/// assert!(matches!(resolve(&root, "/nope.html"), Err((Status::NotFound, _))));
/// assert!(matches!(resolve(&root, "/index.html/"), Err((Status::NotFound, _))));
/// # Ok(())
/// # }
/// ```
pub fn resolve(root: &Root, target: &str) -> Result<Resolved, Refusal> {
    let path_part = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path_part.as_bytes())?;
    let relative = confine(&decoded)?;
    // `/page.html/` and `/page.html/.` name a directory: O_DIRECTORY makes a file ENOTDIR.
    let directory_form = decoded.ends_with(b"/") || decoded.ends_with(b"/.");

    let found = root
        .lookup_at(root.dir(), &relative, directory_form)
        .map_err(|err| io_refusal(&err))?;
    let stat = root.stat(&found).map_err(|err| io_refusal(&err))?;
    if stat.is_dir() {
        if !directory_form {
            // Built from the segments, not copied: `//host/dir` must not become a
            // scheme-relative `Location: //host/dir/` (CVE-2021-28861). Keeps the query.
            return Ok(Resolved::Redirect(directory_target(target)));
        }
        let index = Path::new("index.html");
        let found_index = match root.lookup_at(found.as_fd(), index, false) {
            Ok(fd) => fd,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err((Status::Forbidden, NO_INDEX))
            }
            Err(err) => return Err(io_refusal(&err)),
        };
        let stat = root.stat(&found_index).map_err(|err| io_refusal(&err))?;
        if !stat.is_file() {
            return Err((Status::Forbidden, "not a regular file"));
        }
        let file = root
            .open_same(found.as_fd(), index, &stat)
            .map_err(|err| io_refusal(&err))?;
        return Ok(Resolved::File {
            relative: relative.join(index),
            file,
            stat,
        });
    }
    if !stat.is_file() {
        // Decided on the O_PATH descriptor: a FIFO, socket or device is never opened.
        return Err((Status::Forbidden, "not a regular file"));
    }
    let file = root
        .open_same(root.dir(), &relative, &stat)
        .map_err(|err| io_refusal(&err))?;
    Ok(Resolved::File {
        relative,
        file,
        stat,
    })
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

/// An I/O error while resolving: missing is 404, not allowed or leading out is 403, the
/// rest 500.
fn io_refusal(err: &io::Error) -> Refusal {
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => {
            (Status::NotFound, "no such file")
        }
        Some(libc::EACCES | libc::EPERM) => (Status::Forbidden, "permission denied"),
        // EXDEV: RESOLVE_BENEATH (or the walk) met `..` above the root or an absolute symlink.
        Some(libc::EXDEV) => (Status::Forbidden, "path leads outside the root"),
        Some(libc::ELOOP) => (Status::Forbidden, "too many symlinks"),
        // ENXIO: a socket swapped in between the type check and the open.
        Some(libc::ENXIO) => (Status::Forbidden, "not a regular file"),
        // ESTALE: the name meant another file by the time it was opened (a writer in the
        // root renamed something meanwhile). What was checked is no longer there.
        Some(libc::ESTALE) => (Status::NotFound, "the file changed while it was opened"),
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
