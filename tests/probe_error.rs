//! A failing level-trigger probe must not lose the events `select()` has already collected
//! (issue 7, defect 4).
//!
//! A test binary of its own: it lowers the whole process's descriptor limit, which would
//! break any test running beside it.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use common::{socketpair, sys};
use mio_selectors::{Selector, EVENT_READ, EVENT_WRITE};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Restores the descriptor limit even if an assertion fails, so the failure message can
/// still be printed.
struct Limit(u64);

impl Drop for Limit {
    fn drop(&mut self) {
        sys::set_fd_limit(self.0).expect("restore RLIMIT_NOFILE");
    }
}

#[test]
fn an_edge_collected_before_a_failing_probe_is_still_reported() -> TestResult {
    common::init();
    const WRITERS: usize = 40;
    let mut sel: Selector<UnixStream, usize> = Selector::new()?;
    let mut peers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..WRITERS {
        let (sock, peer) = socketpair();
        writers.push(sel.register(sock, EVENT_WRITE, i)?.token());
        peers.push(peer);
    }
    let (reader, mut reader_peer) = socketpair();
    let reader_fd = reader.as_raw_fd();
    let reader = sel.register(reader, EVENT_READ, WRITERS)?.token();

    // All 40 are writable: reported now, so the next select() must probe all 40.
    let ready = sel.select(1.0)?;
    assert_eq!(ready.len(), WRITERS);
    assert!(ready
        .iter()
        .all(|&(t, mask)| writers.contains(&t) && mask == EVENT_WRITE));

    // A fresh edge for the reader, which the next select() collects before it probes.
    reader_peer.write_all(b"ping")?;

    // poll(2) refuses more descriptors than RLIMIT_NOFILE: with the limit below 40 the
    // probe fails with EINVAL. Check that it really does, or this test proves nothing.
    let writer_fds: Vec<_> = writers
        .iter()
        .map(|&t| sel.get_key(t).map(|k| k.fd()))
        .collect::<Result<_, _>>()?;
    let limit = Limit(sys::set_fd_limit(WRITERS as u64 / 2)?);
    let refused = sys::poll_readable_now(&writer_fds).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EINVAL), "{refused}");

    // Python's EpollSelector reports the reader and the 40 writers; so must we.
    let ready = sel.select(0.3)?;
    drop(limit);
    assert!(
        ready.contains(&(reader, EVENT_READ)),
        "the reader's edge was lost: {ready:?}"
    );
    assert_eq!(
        ready.len(),
        WRITERS + 1,
        "every still-writable key too: {ready:?}"
    );

    // And level triggering carries on normally once the limit is back.
    let ready = sel.select(0)?;
    assert!(ready.contains(&(reader, EVENT_READ)), "{ready:?}");
    assert_eq!(ready.len(), WRITERS + 1);
    assert_eq!(sys::poll_readable_now(&[reader_fd])?, 1);
    Ok(())
}
