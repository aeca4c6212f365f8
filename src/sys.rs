//! The system calls mio does not wrap, and the only `unsafe` code in the crate.
//!
//! * `poll(2)` with a zero timeout: the level-trigger probe (see [`crate::readiness`]).
//! * `fcntl(F_GETFL)`: to warn when a registered descriptor is still in blocking mode.
//! * `getrlimit`/`setrlimit(RLIMIT_NOFILE)`: [`raise_fd_limit`], for servers that hold
//!   thousands of connections.
//! * `setsockopt(SO_LINGER)`: [`Transport::reset`](crate::event_loop::Transport::reset),
//!   a close the peer reads as a reset.
//! * `sendfile(2)`: the protocol layer's [`write_file`](crate::event_loop::Transport::write_file),
//!   file bytes sent by the kernel without passing through our memory.
//!
//! Both take raw descriptors that the caller may already have closed. That is fine for
//! the kernel (`poll` reports `POLLNVAL`, `fcntl` fails with `EBADF`) but rules out the safe
//! wrappers in rustix and nix, which want a `BorrowedFd` and so a promise that the descriptor
//! is open. Neither call touches memory other than the slice it is handed.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// One `pollfd` entry: `fd`, the `events` asked for, and the `revents` the kernel fills in.
pub(crate) type PollFd = libc::pollfd;

/// Asks the kernel which of `fds` are ready right now, without waiting.
///
/// Fills in each entry's `revents` and returns how many are non-zero. Retries on `EINTR`,
/// which a zero-timeout poll can still see if a signal arrives during the call.
pub(crate) fn poll_now(fds: &mut [PollFd]) -> io::Result<usize> {
    // `nfds_t` is an unsigned long on Linux and an unsigned int on the BSDs; our slices hold
    // one entry per registered descriptor, far below either limit.
    let len = fds.len() as libc::nfds_t;
    loop {
        // SAFETY: `fds` is a live, exclusively borrowed slice of `len` initialised `pollfd`
        // structs; poll(2) reads `fd` and `events` and writes only `revents` within it, and
        // keeps no pointer after returning. Stale descriptors are reported as POLLNVAL.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), len, 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// True if `fd` is in blocking mode (`O_NONBLOCK` clear).
pub(crate) fn is_blocking(fd: RawFd) -> io::Result<bool> {
    // SAFETY: F_GETFL takes no third argument and only reads the descriptor's flags; an
    // invalid descriptor makes it return -1 with EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags & libc::O_NONBLOCK == 0)
}

/// Raises this process's limit on open descriptors as far as it may go, and returns the new
/// limit.
///
/// Python: `resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))`.
///
/// A process starts with a *soft* limit (often 1024) below its *hard* limit; a server that
/// will hold thousands of connections, each one a descriptor, raises the soft limit first.
///
/// # Errors
/// * The OS error from `getrlimit` or `setrlimit`.
///
/// # Examples
///
/// ```
/// let limit = mio_selectors::raise_fd_limit()?;
/// assert!(limit >= 3);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = nofile_limit()?;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the `rlimit` the pointer points at, a live local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // `rlim_t` is `u64` on Linux but narrower or signed elsewhere; the cast is for them.
    #[allow(clippy::unnecessary_cast)]
    Ok(limit.rlim_cur as u64)
}

/// `getrlimit(RLIMIT_NOFILE)`: the soft and the hard limit on open descriptors.
fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through the pointer, which points at a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

/// Makes the next `close` of the socket `fd` send a reset (RST) instead of an end of file,
/// and drop what is still unsent: `SO_LINGER` on with a zero timeout.
///
/// Python: `sock.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack('ii', 1, 0))`.
pub(crate) fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt only reads `size_of::<linger>()` bytes from the pointer, a live
    // local of exactly that type; an invalid or non-socket descriptor makes it fail with
    // EBADF or ENOTSOCK.
    let done = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends up to `count` bytes of the file `in_fd`, from `offset`, to the socket `out_fd`,
/// inside the kernel (`sendfile(2)`), and returns how many went; 0 means the file ended.
///
/// Python: `os.sendfile(out_fd, in_fd, offset, count)`. The file's position is not moved,
/// so several connections may send from one open file at once.
#[cfg(target_os = "linux")]
pub(crate) fn sendfile(
    out_fd: RawFd,
    in_fd: RawFd,
    offset: u64,
    count: usize,
) -> io::Result<usize> {
    let mut offset = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    // SAFETY: sendfile(2) reads from `in_fd` and writes to `out_fd`, descriptors the caller
    // owns (an invalid one fails with EBADF); the only memory it touches is `offset`, a
    // live local it reads and updates before returning.
    let sent = unsafe { libc::sendfile(out_fd, in_fd, &mut offset, count) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Where `sendfile(2)` has another signature (the BSDs, macOS) the protocol layer falls
/// back to `pread` + `write`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sendfile(
    _out_fd: RawFd,
    _in_fd: RawFd,
    _offset: u64,
    _count: usize,
) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The process's soft limit on open descriptors (`getrlimit(RLIMIT_NOFILE)`), for a
/// message that says which limit was met. No descriptor is needed to ask, so it works
/// when the process is out of them (reading `/proc/self/limits` would not).
pub(crate) fn fd_limit() -> io::Result<u64> {
    // `rlim_t` is `u64` on Linux but narrower or signed elsewhere; the cast is for them.
    #[allow(clippy::unnecessary_cast)]
    Ok(nofile_limit()?.rlim_cur as u64)
}
