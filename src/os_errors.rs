//! Which I/O errors a socket loop retries, and which say that accepting cannot go on.
//!
//! Python: the tuples of errno values the course's servers test (`OUT_OF_RESOURCES` in
//! `docs/python/echo_server.py`); `BlockingIOError` and `InterruptedError` for "not now".
//! The selector's echo servers and the protocol layer both classify errors this way, so
//! it lives below both of them.

use std::io;

/// `WouldBlock` and `Interrupted` mean "not now", never "failed".
pub(crate) fn is_retry(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// The listening socket itself is unusable: every `accept` will fail the same way, so
/// retrying is a busy loop. (`EINVAL`: not listening; `EBADF`/`ENOTSOCK`: not a socket.)
pub(crate) fn is_listener_broken(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EINVAL | libc::EBADF | libc::ENOTSOCK | libc::EOPNOTSUPP)
    )
}

/// The process (`EMFILE`) or the system (`ENFILE`) is out of descriptors, or the kernel is
/// out of memory for sockets (`ENOBUFS`, `ENOMEM`): `accept` will keep failing until
/// something is freed. Python: `OUT_OF_RESOURCES` in `echo_server.py`.
pub(crate) fn is_out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
