//! A raw, edge-triggered mio echo server: the benchmark baseline, not a teaching program.
//!
//! `scripts/bench-echo.sh` measures `echo_server` against this loop: the same work (echo
//! every byte, write at once, buffer what the kernel will not take, the same 64 KiB read
//! buffer, write interest only while output is pending), written straight on `mio::Poll`
//! with a `Slab` of connections and none of the selector's Python semantics. It is the
//! ceiling of a single-threaded mio loop; what `echo_server` costs above it is the price of
//! level triggers and of the `selectors` API.
//!
//! How it differs from `echo_server` (and why that one is the program to learn from):
//!
//! * **Edge-triggered.** mio reports a socket once per change, so each event must be
//!   drained: read until `WouldBlock` (as mio's docs require), accept until `WouldBlock`.
//!   Stop early and the socket is never reported again. Each message therefore costs one
//!   extra `read` that fails with `EAGAIN`; `echo_server` pays for level triggers with its
//!   `poll(2)` probe instead, once per `select()`.
//! * **No fairness bound.** Draining means one connection that floods is read until it
//!   pauses (or hits the high-water mark) while every other waits; `echo_server` reads one
//!   buffer per event and lets the others have their turn.
//! * **Minimal.** No logging per connection, no descriptor-exhaustion back-off (accept
//!   errors other than `WouldBlock` are logged and the listener is drained next edge), no
//!   statistics, no clean stop: Ctrl-C ends the process and the OS closes the sockets.
//!
//! Run it, then load it:
//!
//! ```sh
//! cargo run --release --example echo_raw_mio -- --port 65432
//! cargo run --release --example echo_load -- --conns 50 --size 64 --duration 3
//! ```

mod common;

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;
use std::process::ExitCode;

use clap::Parser;
use common::Context;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

/// The listener's token; connections use their slab index.
const LISTENER: Token = Token(usize::MAX);
/// Read buffer size, as `echo_server` (`Config::read_chunk`).
const READ_CHUNK: usize = 64 * 1024;
/// Stop reading a connection with this much output pending; resume below `LOW_WATER`.
const HIGH_WATER: usize = 1024 * 1024;
const LOW_WATER: usize = 256 * 1024;

/// Raw edge-triggered mio echo server (benchmark baseline)
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(
        mirrors = "no Python program: the benchmark's ceiling for docs/python/echo_server.py",
        stop = kill
    )
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen,
}

struct Conn {
    sock: TcpStream,
    /// Bytes read but not yet echoed, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
    /// Write interest is registered (only while `pending` has bytes).
    writing: bool,
    /// Reading paused by the high-water mark; no edge will come for what is already
    /// queued, so resuming must read at once.
    paused: bool,
    peer_done: bool,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| serve(cli.listen.tcp()?).context("the echo server failed"))
}

/// The whole server: returns only if the poller itself fails.
fn serve(listener: StdListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);

    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0; READ_CHUNK];

    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let id = event.token().0;
            let Some(conn) = conns.get_mut(id) else {
                continue;
            };
            let mut alive = true;
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                alive = conn.read_all(&mut buf);
            }
            if alive && (event.is_writable() || event.is_error()) && conn.sent < conn.pending.len()
            {
                alive = conn.flush(&mut buf);
            }
            let alive = alive && conn.update_interest(&poll, id);
            if !alive {
                let mut conn = conns.remove(id);
                let _ = poll.registry().deregister(&mut conn.sock);
            }
        }
    }
}

/// Accepts until `WouldBlock`: the listener's edge will not come again for those queued.
fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>) {
    loop {
        match listener.accept() {
            Ok((mut sock, _)) => {
                let entry = conns.vacant_entry();
                let token = Token(entry.key());
                match poll
                    .registry()
                    .register(&mut sock, token, Interest::READABLE)
                {
                    Ok(()) => {
                        entry.insert(Conn {
                            sock,
                            pending: Vec::new(),
                            sent: 0,
                            writing: false,
                            paused: false,
                            peer_done: false,
                        });
                    }
                    Err(err) => log::warn!("register: {err}"),
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                log::warn!("accept: {err}");
                return;
            }
        }
    }
}

impl Conn {
    /// Reads until `WouldBlock` (or end of file, or the high-water mark), echoing each
    /// chunk at once. False if the connection must close.
    fn read_all(&mut self, buf: &mut [u8]) -> bool {
        while !self.paused && !self.peer_done {
            match self.sock.read(buf) {
                Ok(0) => self.peer_done = true,
                Ok(n) => {
                    if !self.echo(&buf[..n]) {
                        return false;
                    }
                    self.paused = self.pending.len() - self.sent > HIGH_WATER;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Writes `data` at once if nothing is queued; queues what the kernel will not take.
    fn echo(&mut self, data: &[u8]) -> bool {
        let mut written = 0;
        if self.sent == self.pending.len() {
            match self.sock.write(data) {
                Ok(n) => written = n,
                Err(err) if is_retry(&err) => {}
                Err(_) => return false,
            }
            if written < data.len() {
                self.pending.clear();
                self.sent = 0;
            }
        }
        self.pending.extend_from_slice(&data[written..]);
        true
    }

    /// Writes pending bytes until done or `WouldBlock`; resumes reading below the low-water
    /// mark. False if the connection must close.
    fn flush(&mut self, buf: &mut [u8]) -> bool {
        while self.sent < self.pending.len() {
            match self.sock.write(&self.pending[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.sent == self.pending.len() {
            self.pending = Vec::new();
            self.sent = 0;
        } else if self.sent > self.pending.len() / 2 {
            self.pending.drain(..self.sent);
            self.sent = 0;
        }
        if self.paused && self.pending.len() - self.sent < LOW_WATER {
            self.paused = false;
            return self.read_all(buf); // what arrived meanwhile has no edge of its own
        }
        true
    }

    /// Write interest only while output is pending. False when the connection is finished.
    fn update_interest(&mut self, poll: &Poll, id: usize) -> bool {
        let waiting = self.sent < self.pending.len();
        if self.peer_done && !waiting {
            return false;
        }
        if waiting != self.writing {
            let interest = if waiting {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if poll
                .registry()
                .reregister(&mut self.sock, Token(id), interest)
                .is_err()
            {
                return false;
            }
            self.writing = waiting;
        }
        true
    }
}

fn is_retry(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
