//! Helpers shared by the integration tests: socket pairs, a non-owning descriptor, logging.
//!
//! Each test file pulls this in with `mod common;`. Not every file uses every helper.
#![allow(dead_code)]

pub mod python;
pub mod sys;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Once;
use std::time::{Duration, Instant};

use mio_selectors::{Events, Selector, Token};

/// Sends the crate's `log` output to the test's captured stderr; `RUST_LOG=debug cargo test`
/// shows it.
pub fn init() {
    static LOGGER: Once = Once::new();
    LOGGER.call_once(|| {
        let _ = env_logger::builder().is_test(true).try_init();
    });
}

/// Python's `socket.socketpair()`: two connected Unix stream sockets, both non-blocking.
#[track_caller]
pub fn socketpair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("set_nonblocking");
    b.set_nonblocking(true).expect("set_nonblocking");
    (a, b)
}

/// A connected TCP pair on 127.0.0.1: `(client, server)`, both non-blocking.
#[track_caller]
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.set_nonblocking(true).expect("set_nonblocking");
    server.set_nonblocking(true).expect("set_nonblocking");
    (client, server)
}

/// A bare descriptor number that the key does not own: Python's `sel.register(fd_int, ...)`.
///
/// Dropping it closes nothing, so a test can close the real socket behind the selector's
/// back, as CPython's `test_unregister_after_fd_close` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFdObj(pub RawFd);

impl AsRawFd for RawFdObj {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Selects (waiting at most `timeout` in all) until `token` is reported, and returns its mask.
#[track_caller]
pub fn select_until<S: AsRawFd, T>(
    sel: &mut Selector<S, T>,
    token: Token,
    timeout: Duration,
) -> Events {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ready = sel.select(left).expect("select");
        if let Some(&(_, mask)) = ready.iter().find(|(t, _)| *t == token) {
            return mask;
        }
        assert!(
            Instant::now() < deadline,
            "{token:?} not reported within {timeout:?}"
        );
    }
}

/// Reads whatever is available now (up to `max` bytes) from a non-blocking stream.
#[track_caller]
pub fn read_available(stream: &mut impl Read, max: usize) -> Vec<u8> {
    let mut buf = vec![0; max];
    match stream.read(&mut buf) {
        Ok(n) => buf.truncate(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => buf.clear(),
        Err(e) => panic!("read failed: {e}"),
    }
    buf
}

/// Writes into a non-blocking stream until the kernel's buffers are full; returns the bytes written.
#[track_caller]
pub fn fill_until_would_block(stream: &mut impl Write) -> usize {
    let chunk = [0x5a; 64 * 1024];
    let mut total = 0;
    loop {
        match stream.write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("write failed: {e}"),
        }
        assert!(total < 1 << 30, "socket buffer never filled");
    }
}

/// A process's resident memory in bytes, from the `VmRSS:` line of a `/proc/<pid>/status`
/// file (`/proc/self/status` for this process).
#[track_caller]
pub fn rss_of(status_path: &str) -> u64 {
    let status = std::fs::read_to_string(status_path)
        .unwrap_or_else(|err| panic!("read {status_path}: {err}"));
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS in {status_path}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("bad VmRSS line {line:?}"));
    kib * 1024
}
