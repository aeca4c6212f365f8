//! Opening files *beneath* a directory, race-free: the HTTP server's document root.
//!
//! Python: no counterpart. `http.server` joins the request path to the root and opens the
//! result by name, so anything that can write inside the root can swap a directory for a
//! symlink between the check and the open. Here nothing is ever opened by a path from `/`:
//! the root is opened once, as a descriptor, and every lookup starts from that descriptor
//! (or from one found beneath it) with rules the kernel enforces at every step of the walk.
//!
//! * **The resolver.** `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` (Linux
//!   5.6): the kernel refuses any step that would leave the starting directory (`..` above
//!   it, an absolute symlink, a symlink whose target climbs out) and `/proc/*/fd`-style
//!   links, whatever a concurrent writer renames meanwhile. Where `openat2` does not exist
//!   (`ENOSYS`: an older kernel; `EPERM`: some seccomp profiles; probed once, when the
//!   first root is opened) the same walk is done here,
//!   one component at a time with `openat(O_PATH | O_NOFOLLOW)` from the root descriptor,
//!   never by path.
//! * **Symlinks** (one policy, whichever resolver runs): a *relative* symlink whose target
//!   stays beneath the root is followed, as Python's server and nginx's default do; an
//!   absolute symlink is refused even when it names a file inside the root (make it
//!   relative), and so is one that climbs above the root at any point, even if it would come
//!   back in (`../root/x`). The fallback walk follows symlinks itself (`readlinkat`, at most
//!   40, as the kernel does) and keeps its own stack of directory descriptors, so `..` can
//!   never step above the root: it cannot, because it never asks the kernel for `..`.
//! * **Type before open.** [`Root::lookup`] gives an `O_PATH` descriptor: it opens nothing
//!   (no device driver's `open` runs, no FIFO waits for a writer), and `fstat` on it says
//!   what the name is. Only a regular file is then opened for reading.
//! * **The readable open.** Linux cannot turn an `O_PATH` descriptor into a readable one (no
//!   `O_EMPTY_PATH`). [`Root::open_same`] opens the name a second time, with the same
//!   confinement, `O_NONBLOCK` and `O_NOCTTY`, and keeps the result only if `fstat` gives the
//!   device and inode the checked descriptor had; otherwise the name changed in between, and
//!   the caller treats it as gone. Chosen over reopening `/proc/self/fd/N` (libpathrs' way)
//!   because it needs no procfs and is the same code for both resolvers. What remains: for
//!   the instant of that second open a writer could have put a FIFO or socket at the name.
//!   A FIFO opened `O_RDONLY | O_NONBLOCK` returns at once and is closed unread (the identity
//!   check fails); a socket cannot be opened at all (`ENXIO`); a device node cannot be
//!   created without `CAP_MKNOD`, and a symlink to one is refused as leaving the root.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Set once `openat2` has said `ENOSYS`: every later lookup walks without asking again.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// How many symlinks one lookup may follow (the kernel's own limit, `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// A directory opened once, beneath which every lookup stays.
///
/// Python: none; `SimpleHTTPRequestHandler.translate_path` returns a path string and
/// `send_head` opens it, following whatever is at that path by then.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::Root;
/// use std::path::Path;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = Root::open(concat!(env!("CARGO_MANIFEST_DIR"), "/site"))?;
/// let found = root.lookup(Path::new("docs/index.html"))?;
/// assert!(root.stat(&found)?.is_file());
/// // Nothing above the root can be named.
/// assert!(root.lookup(Path::new("../Cargo.toml")).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Root {
    /// The root's real path, for messages and logs; never used to open anything.
    path: PathBuf,
    /// `O_PATH | O_DIRECTORY`: the start of every lookup.
    dir: OwnedFd,
    /// Walk even where `openat2` works ([`Root::walk_only`]).
    walk_only: bool,
}

/// Which resolver a lookup uses: the kernel's, or the walk (tests force the walk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolver {
    Openat2,
    Walk,
}

impl Root {
    /// Opens `path` as the root (symlinks in `path` itself are followed: the operator chose it).
    ///
    /// # Errors
    /// The OS error if `path` cannot be resolved or opened, `NotADirectory`-like
    /// (`ENOTDIR`) if it is not a directory; the message names the path.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Root> {
        let given = path.as_ref();
        let named = |err: io::Error| {
            io::Error::new(
                err.kind(),
                format!("document root {}: {err}", given.display()),
            )
        };
        let path = std::fs::canonicalize(given).map_err(named)?;
        let dir = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|err| named(err.into()))?;
        // Ask once whether openat2 works here. ENOSYS: a kernel before 5.6; EPERM: a
        // seccomp filter that refuses system calls it does not know (an O_PATH open of
        // "." has no other reason to be refused). Either way every lookup walks instead.
        let probe = rustix::fs::openat2(
            &dir,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        );
        if let Err(err @ (Errno::NOSYS | Errno::PERM)) = probe {
            if !NO_OPENAT2.swap(true, Ordering::Relaxed) {
                log::info!("openat2 is unavailable ({err}): files are looked up by a walk");
            }
        }
        Ok(Root {
            path,
            dir,
            walk_only: false,
        })
    }

    /// Looks every name up with the fallback walk (`openat(O_PATH | O_NOFOLLOW)` per
    /// component), as on a kernel without `openat2`, even where `openat2` works. The answers
    /// are the same, by design; this is how the tests check that on any kernel.
    #[must_use]
    pub fn walk_only(mut self) -> Root {
        self.walk_only = true;
        self
    }

    /// The root's real path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root directory itself, as a starting point for [`lookup_at`](Self::lookup_at).
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Finds `relative` beneath the root and returns an `O_PATH` descriptor for it: nothing
    /// is opened, and [`stat`](Self::stat) says what it is. An empty path is the root.
    ///
    /// # Errors
    /// `EXDEV` (shown as "Invalid cross-device link") when the name leads outside the root,
    /// `ELOOP` for too many symlinks, `ENOENT`, `ENOTDIR`, `EACCES` as for `open(2)`.
    pub fn lookup(&self, relative: &Path) -> io::Result<OwnedFd> {
        self.lookup_at(self.dir(), relative, false)
    }

    /// [`lookup`](Self::lookup) from `start` (the root, or a directory found beneath it), and
    /// with `directory`, `ENOTDIR` unless the name is a directory.
    ///
    /// # Errors
    /// As [`lookup`](Self::lookup).
    pub fn lookup_at(
        &self,
        start: BorrowedFd<'_>,
        relative: &Path,
        directory: bool,
    ) -> io::Result<OwnedFd> {
        let mut flags = OFlags::PATH | OFlags::CLOEXEC;
        if directory {
            flags |= OFlags::DIRECTORY;
        }
        open_beneath(start, relative, flags, self.resolver())
    }

    /// `fstat` of a descriptor.
    ///
    /// # Errors
    /// The OS error (none is expected for a descriptor this module returned).
    pub fn stat(&self, fd: &OwnedFd) -> io::Result<FileStat> {
        Ok(FileStat::from(&rustix::fs::fstat(fd)?))
    }

    /// Opens for reading the file that `checked` (from [`lookup_at`](Self::lookup_at) with
    /// the same `start` and `relative`) describes: a second confined open of the same name,
    /// kept only if it is the same file (device and inode). See the module docs for why.
    ///
    /// # Errors
    /// `ESTALE` ("Stale file handle") when the name now means another file; otherwise as
    /// [`lookup`](Self::lookup), plus `EACCES` when the file may not be read.
    pub fn open_same(
        &self,
        start: BorrowedFd<'_>,
        relative: &Path,
        checked: &FileStat,
    ) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = open_beneath(start, relative, flags, self.resolver())?;
        let now = FileStat::from(&rustix::fs::fstat(&fd)?);
        if (now.dev, now.ino) != (checked.dev, checked.ino) {
            return Err(Errno::STALE.into());
        }
        Ok(File::from(fd))
    }
}

impl Root {
    /// Opens the directory `relative` beneath the root for reading its entries (a listing,
    /// the variants of a negotiated name), with the same confinement as every lookup.
    ///
    /// # Errors
    /// As [`lookup`](Self::lookup); `ENOTDIR` when the name is not a directory, `EACCES`
    /// when it may not be read.
    pub fn open_dir(&self, relative: &Path) -> io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        open_beneath(self.dir(), relative, flags, self.resolver())
    }
}

impl Root {
    fn resolver(&self) -> Resolver {
        if self.walk_only || NO_OPENAT2.load(Ordering::Relaxed) {
            Resolver::Walk
        } else {
            Resolver::Openat2
        }
    }
}

/// What `fstat` says about a file, in the fields the server uses: what it is (`mode`), who
/// may read it (`mode`, `uid`, `gid`), which file it is (`dev`, `ino`) and which version of
/// it (`size`, `mtime`, and `ctime`, which every change to the file or its inode moves and
/// which no one can set back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStat {
    /// The device the file is on.
    pub dev: u64,
    /// Its inode number on that device.
    pub ino: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last modification of the contents: seconds and nanoseconds since 1970 (negative
    /// seconds before it).
    pub mtime: (i64, u32),
    /// Last change of the contents or the inode (permissions, owner, links, rename).
    pub ctime: (i64, u32),
}

impl FileStat {
    /// A regular file.
    pub fn is_file(&self) -> bool {
        FileType::from_raw_mode(self.mode) == FileType::RegularFile
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        FileType::from_raw_mode(self.mode) == FileType::Directory
    }

    /// The modification time as a [`SystemTime`].
    pub fn modified(&self) -> SystemTime {
        to_system_time(self.mtime)
    }

    /// The change time as a [`SystemTime`].
    pub fn changed(&self) -> SystemTime {
        to_system_time(self.ctime)
    }
}

// The field types of `struct stat` differ between architectures (`c_ulong` here, `u64`
// there); every value fits the wider type we store, so the casts cannot truncate.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
impl From<&rustix::fs::Stat> for FileStat {
    fn from(st: &rustix::fs::Stat) -> FileStat {
        FileStat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            size: st.st_size as u64,
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as u32),
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as u32),
        }
    }
}

/// Never panics: a file can be dated anywhere in `time_t` (tmpfs keeps its very ends),
/// and where `SystemTime` cannot say a time (a platform with a narrower one) the nearest
/// time it can is close enough for a server that clamps dates to [1970, 9999] anyway.
fn to_system_time((secs, nanos): (i64, u32)) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(nanos));
    let whole = Duration::from_secs(secs.unsigned_abs());
    let time = if secs >= 0 {
        UNIX_EPOCH.checked_add(whole)
    } else {
        UNIX_EPOCH.checked_sub(whole)
    };
    let time = time.unwrap_or(if secs >= 0 { far_future() } else { UNIX_EPOCH });
    time.checked_add(nanos).unwrap_or(time)
}

/// The latest time `SystemTime` can hold here, found by halving (no platform constant).
fn far_future() -> SystemTime {
    let mut time = UNIX_EPOCH;
    let mut step = Duration::from_secs(u64::MAX / 2);
    while step > Duration::ZERO {
        if let Some(later) = time.checked_add(step) {
            time = later;
        } else {
            step /= 2;
        }
    }
    time
}

/// Opens `relative` beneath `start` with `flags`, by `resolver` (falling back to the walk
/// when the kernel lacks `openat2`).
fn open_beneath(
    start: BorrowedFd<'_>,
    relative: &Path,
    flags: OFlags,
    resolver: Resolver,
) -> io::Result<OwnedFd> {
    // `openat2` refuses an empty name; the root itself is ".".
    let relative = if relative.as_os_str().is_empty() {
        Path::new(".")
    } else {
        relative
    };
    if resolver == Resolver::Openat2 {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        // EAGAIN: a rename somewhere on the system raced a `..` step; the kernel asks for a
        // retry rather than risk a wrong answer (cap-std retries 4 times, then gives up).
        for _ in 0..4 {
            match rustix::fs::openat2(start, relative, flags, Mode::empty(), how) {
                Err(Errno::AGAIN) => continue,
                // Root::open probes for ENOSYS and seccomp's EPERM; this is for a kernel
                // swapped under a running process (checkpoint/restore).
                Err(Errno::NOSYS) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                    break;
                }
                result => return result.map_err(io::Error::from),
            }
        }
    }
    walk(start, relative, flags)
}

/// The fallback resolver: one component at a time, each opened `O_PATH | O_NOFOLLOW` from
/// the directory descriptor before it, symlinks read and expanded here, `..` popped off a
/// stack of descriptors that never goes above `start`. Same policy as `RESOLVE_BENEATH`.
fn walk(start: BorrowedFd<'_>, relative: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let step = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    // Directories entered so far, below `start`; the last is the current one.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    // Components still to resolve, in reverse (the next one last), so that a symlink's
    // target can be pushed in front of the rest.
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, relative.as_os_str())?;
    let mut links = 0;
    while let Some(name) = pending.pop() {
        let at = dirs.last().map_or(start, AsFd::as_fd);
        match name.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                // Popping the root itself would leave it: refused, as RESOLVE_BENEATH does.
                if dirs.pop().is_none() {
                    return Err(Errno::XDEV.into());
                }
                continue;
            }
            _ => {}
        }
        let fd = rustix::fs::openat(at, name.as_os_str(), step, Mode::empty())?;
        let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
        if kind == FileType::Symlink {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Errno::LOOP.into());
            }
            // Read the link the descriptor holds ("" with an O_PATH symlink descriptor),
            // not the name again: the name may have been swapped since.
            let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
            let target = OsString::from_vec(target.into_bytes());
            if target.as_bytes().starts_with(b"/") {
                return Err(Errno::XDEV.into());
            }
            push_components(&mut pending, &target)?;
            continue;
        }
        if kind == FileType::Directory {
            dirs.push(fd);
            continue;
        }
        // Not a directory: nothing may follow it, not even "/" or "/." (the kernel's rule).
        if !pending.is_empty() {
            return Err(Errno::NOTDIR.into());
        }
        if flags.contains(OFlags::DIRECTORY) {
            return Err(Errno::NOTDIR.into());
        }
        if flags.contains(OFlags::PATH) {
            return Ok(fd);
        }
        // A readable open of the last component, by name but never through a symlink, and
        // only if it is still the file just checked.
        let checked = rustix::fs::fstat(&fd)?;
        let opened = rustix::fs::openat(
            at,
            name.as_os_str(),
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        let now = rustix::fs::fstat(&opened)?;
        if (now.st_dev, now.st_ino) != (checked.st_dev, checked.st_ino) {
            return Err(Errno::STALE.into());
        }
        return Ok(opened);
    }
    // The name ended in a directory (or was empty): open the current one as asked.
    let at = dirs.last().map_or(start, AsFd::as_fd);
    rustix::fs::openat(at, ".", flags, Mode::empty()).map_err(io::Error::from)
}

/// Pushes the components of `path` onto `pending` so that the first pops first.
fn push_components(pending: &mut Vec<OsString>, path: &OsStr) -> io::Result<()> {
    let parts: Vec<&[u8]> = path.as_bytes().split(|&b| b == b'/').collect();
    if pending.len() + parts.len() > 4096 {
        return Err(Errno::NAMETOOLONG.into());
    }
    for part in parts.into_iter().rev() {
        pending.push(OsStr::from_bytes(part).to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree with every kind of name a lookup meets, and an outside it must never reach.
    struct Tree {
        base: PathBuf,
        root: Root,
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    fn tree(tag: &str) -> Tree {
        use std::os::unix::fs::symlink;
        let base = std::env::temp_dir().join(format!(
            "mio-selectors-beneath-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/d/e")).unwrap();
        std::fs::write(base.join("secret"), b"SECRET").unwrap();
        std::fs::write(base.join("root/f"), b"f").unwrap();
        std::fs::write(base.join("root/d/e/g"), b"g").unwrap();
        symlink("d/e/g", base.join("root/rel")).unwrap();
        symlink("e/../e/g", base.join("root/d/dotdot-in")).unwrap();
        symlink("../../secret", base.join("root/d/out")).unwrap();
        symlink(base.join("root/f"), base.join("root/abs-in")).unwrap();
        symlink("/etc", base.join("root/etc")).unwrap();
        symlink("d", base.join("root/dirlink")).unwrap();
        symlink("loop2", base.join("root/loop1")).unwrap();
        symlink("loop1", base.join("root/loop2")).unwrap();
        symlink("../root/f", base.join("root/back-in")).unwrap();
        let root = Root::open(base.join("root")).unwrap();
        Tree { base, root }
    }

    fn outcome(root: &Root, path: &str, resolver: Resolver) -> Result<Vec<u8>, i32> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match open_beneath(root.dir(), Path::new(path), flags, resolver) {
            Ok(fd) => {
                let mut file = File::from(fd);
                let mut out = Vec::new();
                match std::io::Read::read_to_end(&mut file, &mut out) {
                    Ok(_) => Ok(out),
                    Err(err) => Ok(format!("dir:{}", err.raw_os_error().unwrap()).into_bytes()),
                }
            }
            Err(err) => Err(err.raw_os_error().unwrap()),
        }
    }

    #[test]
    fn the_walk_and_openat2_agree_on_every_kind_of_name() {
        let t = tree("agree");
        let xdev = Errno::XDEV.raw_os_error();
        let cases: &[(&str, Result<&[u8], i32>)] = &[
            ("f", Ok(b"f")),
            ("d/e/g", Ok(b"g")),
            ("rel", Ok(b"g")),
            ("d/dotdot-in", Ok(b"g")),
            ("dirlink/e/g", Ok(b"g")),
            ("d/e/../e/g", Ok(b"g")),
            ("d/out", Err(xdev)),
            ("abs-in", Err(xdev)),
            ("etc/passwd", Err(xdev)),
            ("..", Err(xdev)),
            ("../secret", Err(xdev)),
            ("back-in", Err(xdev)),
            ("d/../../root/f", Err(xdev)),
            ("loop1", Err(Errno::LOOP.raw_os_error())),
            ("missing", Err(Errno::NOENT.raw_os_error())),
            ("f/x", Err(Errno::NOTDIR.raw_os_error())),
        ];
        for &(path, ref want) in cases {
            for resolver in [Resolver::Openat2, Resolver::Walk] {
                let got = outcome(&t.root, path, resolver);
                let got = got.as_ref().map(Vec::as_slice).map_err(|e| *e);
                assert_eq!(got, *want, "{path} by {resolver:?}");
            }
        }
        // Directories: both give one, with O_DIRECTORY too; a file with O_DIRECTORY is ENOTDIR.
        for resolver in [Resolver::Openat2, Resolver::Walk] {
            for (path, dir) in [
                ("d", true),
                ("d/.", true),
                ("dirlink", true),
                ("", true),
                ("f", false),
            ] {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                let got = open_beneath(t.root.dir(), Path::new(path), flags, resolver);
                assert_eq!(got.is_ok(), dir, "{path:?} by {resolver:?}");
            }
        }
    }

    #[test]
    fn lookup_gives_the_type_without_opening() {
        let t = tree("type");
        let fifo = t.base.join("root/fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        for resolver in [Resolver::Openat2, Resolver::Walk] {
            let flags = OFlags::PATH | OFlags::CLOEXEC;
            // An O_PATH open of a FIFO with no writer returns at once: nothing is opened.
            let fd = open_beneath(t.root.dir(), Path::new("fifo"), flags, resolver).unwrap();
            let st = t.root.stat(&fd).unwrap();
            assert!(!st.is_file() && !st.is_dir(), "{resolver:?}");
        }
        let fd = t.root.lookup(Path::new("rel")).unwrap();
        let st = t.root.stat(&fd).unwrap();
        assert!(st.is_file());
        assert_eq!(st.size, 1);
        let file = t
            .root
            .open_same(t.root.dir(), Path::new("rel"), &st)
            .unwrap();
        assert_eq!(FileStat::from(&rustix::fs::fstat(&file).unwrap()), st);
        // Another file at the name since the check: refused.
        let other = t
            .root
            .stat(&t.root.lookup(Path::new("f")).unwrap())
            .unwrap();
        let err = t
            .root
            .open_same(t.root.dir(), Path::new("rel"), &other)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::STALE.raw_os_error()));
    }

    /// The walk and openat2 alike, with a writer swapping `d/` and `alt -> <outside>` as fast
    /// as it can: every open of `d/g` is `d/g` or a refusal, never the outside file.
    #[test]
    fn both_resolvers_hold_under_a_concurrent_swap() {
        use std::sync::Arc;
        let t = tree("swap");
        std::fs::create_dir(t.base.join("outside")).unwrap();
        std::fs::write(t.base.join("outside/g"), b"SECRET").unwrap();
        std::fs::write(t.base.join("root/d/g"), b"g").unwrap();
        std::os::unix::fs::symlink(t.base.join("outside"), t.base.join("root/alt")).unwrap();
        for resolver in [Resolver::Openat2, Resolver::Walk] {
            let stop = Arc::new(AtomicBool::new(false));
            let swapper = {
                let stop = Arc::clone(&stop);
                let (d, alt) = (t.base.join("root/d"), t.base.join("root/alt"));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        rustix::fs::renameat_with(
                            rustix::fs::CWD,
                            &d,
                            rustix::fs::CWD,
                            &alt,
                            rustix::fs::RenameFlags::EXCHANGE,
                        )
                        .unwrap();
                    }
                })
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            let (mut opened, mut refused) = (0, 0);
            while std::time::Instant::now() < deadline && opened + refused < 200_000 {
                match outcome(&t.root, "d/g", resolver) {
                    Ok(bytes) => {
                        assert_eq!(bytes, b"g", "{resolver:?} opened the outside file");
                        opened += 1;
                    }
                    Err(_) => refused += 1,
                }
            }
            stop.store(true, Ordering::Relaxed);
            swapper.join().unwrap();
            assert!(
                opened > 0 && refused > 0,
                "{resolver:?}: the race was not exercised ({opened} opened, {refused} refused)"
            );
        }
    }

    #[test]
    fn a_root_that_is_not_a_directory_is_a_clear_error() {
        let t = tree("not-dir");
        let err = Root::open(t.base.join("secret")).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("document root "), "{message}");
        assert!(
            message.contains("secret") && message.contains("Not a directory"),
            "{message}"
        );
        let err = Root::open(t.base.join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn times_before_1970_convert() {
        assert_eq!(to_system_time((0, 5)), UNIX_EPOCH + Duration::from_nanos(5));
        assert_eq!(
            to_system_time((-2, 500_000_000)),
            UNIX_EPOCH - Duration::from_millis(1500)
        );
        // The ends of time_t, which tmpfs keeps: no panic.
        assert!(to_system_time((i64::MAX, 999_999_999)) > UNIX_EPOCH);
        assert!(to_system_time((i64::MIN, 0)) < UNIX_EPOCH);
    }
}
