//! The few system calls the tests need that std does not offer, each behind a safe function.
//!
//! The crate itself denies `unsafe` (Cargo.toml `[lints]`); this test-only module allows it,
//! with a `// SAFETY:` comment on every block, as src/sys.rs does.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;

/// Sets `SO_LINGER` to "on, 0 seconds": closing the socket then aborts the connection with a
/// TCP RST instead of a FIN. std has no stable API for it (`TcpStream::set_linger` is
/// unstable).
pub fn set_linger_zero(socket: &impl AsFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is open (we borrow it through `AsFd`); setsockopt only reads
    // `size_of::<linger>()` bytes from the pointer, which points at a live local.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Duplicates `fd` onto the lowest free descriptor number that is `>= min`
/// (`fcntl(F_DUPFD_CLOEXEC)`).
///
/// Tests that close a descriptor behind the selector's back use a high number, far above
/// the ones the kernel hands to other tests running in parallel threads, so that nobody
/// else reuses it by accident.
pub fn dup_at_or_above(fd: &impl AsFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int argument and creates a new descriptor; the
    // source is open because we borrow it through `AsFd`.
    let new = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just created by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Makes the descriptor number of `target` refer to `source`'s open file, atomically
/// (`dup2`): `target`'s old file is closed in the same step, so no other thread can be
/// handed that number in between. Returns the number, now owning `source`'s file.
pub fn replace_fd(source: &impl AsFd, target: OwnedFd) -> io::Result<OwnedFd> {
    let number = target.as_raw_fd();
    // SAFETY: both descriptors are open: `source` is borrowed, `target` is owned by us, so
    // closing its old file inside dup2 closes nothing that anyone else owns.
    let rc = unsafe { libc::dup2(source.as_fd().as_raw_fd(), number) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // dup2 already closed the old file; `target` must not close the number again.
    std::mem::forget(target);
    // SAFETY: `number` now refers to a new reference to `source`'s file, created by dup2,
    // and is owned by nobody else (we owned the number and gave it up just above).
    Ok(unsafe { OwnedFd::from_raw_fd(number) })
}

/// Sends signal `signal` to the thread behind `thread` (`pthread_kill`), so that it, and no
/// other thread of the test harness, is interrupted.
pub fn signal_thread<T>(thread: &JoinHandle<T>, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: a thread's pthread_t stays valid until it is joined or detached, even after
    // it has finished; we borrow its JoinHandle, so neither can happen during this call.
    let rc = unsafe { libc::pthread_kill(thread.as_pthread_t(), signal) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Sets this process's soft limit on open descriptors; returns the previous soft limit.
/// (`mio_selectors::raise_fd_limit` only raises it; the exhaustion test needs to lower it.)
pub fn set_fd_limit(soft: u64) -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through the pointer, which points at a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let previous = limit.rlim_cur;
    limit.rlim_cur = soft.min(limit.rlim_max);
    // SAFETY: setrlimit only reads the `rlimit` the pointer points at, a live local.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(previous)
}

/// Calls `listen(2)` again with a new `backlog`: `listen(fd, 0)` leaves room for one
/// queued connection, so the SYN of the next is dropped and its `connect` hangs (the
/// loopback way to make a connect time out).
pub fn set_backlog(listener: &impl AsFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: listen(2) takes a descriptor we borrow (open) and an int; no memory.
    if unsafe { libc::listen(listener.as_fd().as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks `poll(2)`, without waiting, whether any of `fds` can be read: the call the selector's
/// level-trigger probe makes. Returns how many can, or the kernel's error.
pub fn poll_readable_now(fds: &[RawFd]) -> io::Result<usize> {
    let mut entries: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `entries` is a live, exclusively borrowed buffer of `entries.len()` pollfd
    // structs; poll(2) writes only their `revents` and keeps no pointer after returning.
    let n = unsafe { libc::poll(entries.as_mut_ptr(), entries.len() as libc::nfds_t, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Turns `TCP_CORK` on or off: while on, the kernel holds back partial segments, so the
/// writes that follow leave as one segment when it is turned off.
pub fn set_tcp_cork(socket: &impl AsFd, on: bool) -> io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: the descriptor is open (borrowed through `AsFd`); setsockopt only reads
    // `size_of::<c_int>()` bytes from the pointer, which points at a live local.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `data` as TCP urgent ("out-of-band") data (`send(MSG_OOB)`): the receiver's reads
/// stop at the urgent mark, with the bytes after it still queued.
pub fn send_urgent(socket: &impl AsFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: the descriptor is open (borrowed through `AsFd`); send only reads
    // `data.len()` bytes from `data`, a live slice.
    let n = unsafe {
        libc::send(
            socket.as_fd().as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_OOB,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Sends `data` over a Unix socket with a copy of descriptor `fd` attached (`SCM_RIGHTS`):
/// the receiver's reads stop after this message, with later bytes still queued.
pub fn send_with_fd(socket: &impl AsFd, data: &[u8], fd: &impl AsFd) -> io::Result<usize> {
    let raw: libc::c_int = fd.as_fd().as_raw_fd();
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // Room for one control message holding one descriptor, aligned as cmsghdr wants.
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is a valid "no name, no data, no control" header; the
    // fields that matter are set just below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at `control`, which has room for CMSG_SPACE(sizeof(int)) bytes,
    // so CMSG_FIRSTHDR returns a pointer inside it, and CMSG_DATA of that header has room
    // for one int. sendmsg reads `iov` (pointing at the live `data`) and `control`, both
    // alive for the call, and keeps no pointer afterwards.
    let n = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), raw);
        libc::sendmsg(socket.as_fd().as_raw_fd(), &msg, 0)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Sends `signal` to process `pid` (`kill(2)`): SIGTERM to a child server, as a service
/// manager would. std's `Child::kill` only sends SIGKILL.
pub fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: kill takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's TCP state of our own socket (`getsockopt(TCP_INFO)`, its first field,
/// `tcpi_state`, numbered as in include/net/tcp_states.h): `7` (`TCP_CLOSE`) once the peer
/// has reset the connection. Unlike a lookup in `/proc/net/tcp`, which the kernel prints
/// a page at a time and which can skip a row while other sockets come and go, this asks
/// about one socket directly.
pub fn tcp_state(socket: &impl AsFd) -> io::Result<u8> {
    let mut state = [0u8; 1];
    let mut len = state.len() as libc::socklen_t;
    // SAFETY: the descriptor is open (borrowed through `AsFd`); getsockopt writes at most
    // `len` bytes (here 1: the kernel copies min(len, sizeof(tcp_info))) into `state`, a
    // live local, and updates `len`, another.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            state.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(state[0])
}
