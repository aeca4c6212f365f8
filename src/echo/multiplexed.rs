//! Port of `docs/python/echo_server.py`: the multiplexed echo server, one thread and one
//! [`Selector`] for every connection.
//!
//! This is the course's third server (after the blocking and the threaded ones), written
//! directly on the selector so it reads like the Python program: the listener is registered
//! with no data (`None`), each connection with its state, and the loop dispatches on
//! `key.data`. It is also a real server: it survives slow readers, resets, floods and
//! running out of descriptors, with memory bounded per connection.
//!
//! What a reader should notice, each explained where it happens:
//!
//! * **Write interest only while output is pending.** The tutorial's server registers
//!   `EVENT_READ | EVENT_WRITE` forever; a writable socket is ready on every `select()`, so
//!   it spins at 100 % CPU while idle.
//! * **Echo at once, buffer the rest.** A read is answered by a write in the same event; only
//!   what the kernel would not take waits in the connection's buffer.
//! * **Bounded work per event** (one read of at most [`Config::read_chunk`] bytes, one
//!   write): level triggers report the socket again next time, after everyone else had a
//!   turn, so one flooding client cannot starve the others.
//! * **Backpressure.** A client that sends without reading fills its own buffer; above
//!   [`Config::high_water`] the server stops reading from it until the buffer drains below
//!   [`Config::low_water`]. Its TCP window then closes, and the client blocks, not the server.
//! * **Half-close.** A client that shuts down its sending side still gets every byte back
//!   before the server closes the connection.
//! * **Descriptor exhaustion.** When `accept` fails with `EMFILE`/`ENFILE`, the server stops
//!   watching the listener for [`Config::accept_backoff`] instead of spinning on it. It says
//!   so once, with the limit and what to do, then only counts (every
//!   [`OUT_OF_DESCRIPTORS_REPORT`]) until an accept succeeds again.
//! * **Limits.** At most [`Config::max_conns`] connections at once (the listener leaves the
//!   selector at the cap), and a connection with no event for [`Config::idle_timeout`] is
//!   closed, so clients that never read cannot pin memory and descriptors for ever.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};

use super::{Config, Stats};
use crate::os_errors::{is_listener_broken, is_out_of_resources, is_retry};
use crate::timeout::instant_after;
use crate::{Events, Selector, Stop, Token, EVENT_READ, EVENT_WRITE};

/// What the server registers. Python has one `socket.socket` type for both roles; in Rust a
/// listening socket and a connected one are different types, so the file object is an enum.
#[derive(Debug)]
enum Socket {
    Listening(TcpListener),
    Connected(TcpStream),
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Listening(sock) => sock.as_raw_fd(),
            Socket::Connected(sock) => sock.as_raw_fd(),
        }
    }
}

/// One client's state: Python's `types.SimpleNamespace(addr=addr, inb=b"", outb=b"")`.
///
/// There is no `inb`: every byte read is answered at once, so the only bytes a connection
/// keeps are those the kernel would not take yet.
struct Connection {
    addr: SocketAddr,
    /// Bytes read but not yet echoed: `outb`. Empty (and unallocated) while idle.
    pending: Vec<u8>,
    /// How much of `pending` has been written; the rest is still to go.
    sent: usize,
    /// The client has shut down its sending side (we read end-of-file).
    peer_done: bool,
    /// When this connection last had an event, for [`Config::idle_timeout`].
    last_event: Instant,
    /// Reading is paused by backpressure until `pending` drains below the low-water mark.
    paused: bool,
    /// This event's read returned `WouldBlock`: the kernel itself said the socket is empty.
    /// Passed on to the selector with `mark_drained`, so the next `select()` need not ask
    /// the kernel about this socket. A short read is *not* enough: a TCP read stops at the
    /// urgent mark with more bytes behind it (see `Selector::mark_drained`).
    read_dry: bool,
}

/// Why a connection ended, for the log.
enum Closed {
    /// The client finished sending and has every byte back.
    Done,
    /// A read or write failed: reset, broken pipe, ...
    Failed(io::Error),
    /// No event for [`Config::idle_timeout`].
    Idle(Duration),
}

/// How often a server that keeps running out of descriptors says so again, with a count:
/// once per back-off (ten times a second) would bury every other line of the log.
pub const OUT_OF_DESCRIPTORS_REPORT: Duration = Duration::from_secs(10);

/// A run of failed accepts for want of descriptors (or memory), from the first until an
/// accept succeeds: what the log needs to say it once, then count.
#[derive(Clone, Copy, Debug)]
struct OutOfDescriptors {
    since: Instant,
    failed: u64,
    /// When the last line was logged, and `failed` then.
    reported_at: Instant,
    reported: u64,
}

/// When a listener taken out of the selector goes back in.
#[derive(Clone, Copy, Debug)]
enum Resume {
    /// At this time: after running out of descriptors, or after the kernel refused to
    /// watch the listener again.
    At(Instant),
    /// As soon as a connection closes: [`Config::max_conns`] are open.
    BelowCap,
}

/// The echo server: a listener and its connections on one selector.
///
/// Python: the `while True: for key, mask in sel.select(): ...` program of
/// `docs/python/echo_server.py`.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::{Config, EchoServer};
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = EchoServer::new(TcpListener::bind("127.0.0.1:0")?, Config::default())?;
/// let addr = server.local_addr();
/// let stop = server.stop_handle();
/// let stats = server.stats();
/// let thread = std::thread::spawn(move || server.run());
///
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"hello")?;
/// let mut reply = [0; 5];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hello");
///
/// stop.stop();
/// thread.join().unwrap()?;
/// assert_eq!((stats.accepted(), stats.bytes_echoed(), stats.open()), (1, 5, 0));
/// # Ok(())
/// # }
/// ```
pub struct EchoServer {
    sel: Selector<Socket, Option<Connection>>,
    config: Config,
    /// The one read buffer, shared by every connection: a connection needs bytes of its own
    /// only for output the kernel has not taken yet.
    buf: Box<[u8]>,
    stop: Stop,
    stats: Arc<Stats>,
    local_addr: SocketAddr,
    /// While accepting is paused (out of descriptors, or at the connection cap): the
    /// listener, taken out of the selector, and when to put it back.
    paused_listener: Option<(TcpListener, Resume)>,
    /// Since when accepts have failed for want of descriptors, if they do.
    out_of_descriptors: Option<OutOfDescriptors>,
    /// The time `select()` last returned: one clock read per call, not one per event, is
    /// what idle times are measured against.
    now: Instant,
    /// When to look for idle connections next.
    next_sweep: Instant,
}

impl EchoServer {
    /// Prepares a server on a bound listener (bind port 0 to let the OS pick a port).
    ///
    /// # Errors
    /// The OS error if the listener cannot be made non-blocking or the selector cannot be
    /// created.
    pub fn new(listener: std::net::TcpListener, config: Config) -> io::Result<EchoServer> {
        // Python: lsock.setblocking(False). A blocking listener would stall the whole loop
        // in accept() whenever a client gives up between select() and accept().
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let mut sel = Selector::new()?;
        let stop = Stop::new(&mut sel)?;
        // Python: sel.register(lsock, selectors.EVENT_READ, data=None)
        let listener = Socket::Listening(TcpListener::from_std(listener));
        sel.register(listener, EVENT_READ, None)?;
        let now = Instant::now();
        let next_sweep = instant_after(now, config_sweep_period(&config));
        Ok(EchoServer {
            sel,
            buf: vec![0; config.read_chunk.max(1)].into_boxed_slice(),
            config,
            stop,
            stats: Arc::default(),
            local_addr,
            paused_listener: None,
            out_of_descriptors: None,
            now,
            next_sweep,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that ends [`run`](Self::run) from another thread (tests, Ctrl-C).
    pub fn stop_handle(&self) -> Stop {
        self.stop.clone()
    }

    /// The server's counters, shared with the running loop.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Serves clients until the stop handle is used, then closes every connection.
    ///
    /// # Errors
    /// An error of the selector itself (the kernel failing `epoll_wait`), or of a listener
    /// that can never accept (not a listening socket). A failing connection is closed and
    /// logged; a failing `accept` is logged and retried, after a pause if the process is out
    /// of descriptors.
    pub fn run(mut self) -> io::Result<()> {
        // Debug, not info: the program says where it listens (a log filter could hide it),
        // and a library should not repeat that on every start.
        debug!("echo server listening on {}", self.local_addr);
        let result = self.serve_until_stopped();
        info!(
            "echo server stopping; closing {} connections",
            self.stats.open()
        );
        // Python: close_all(sel). The selector owns every socket, so closing it closes them
        // all (dropping `self` would too). The stats outlive the server: `open()` must now
        // say 0, not the count from before the stop.
        self.sel.close();
        self.stats.open.store(0, Ordering::Relaxed);
        result
    }

    /// The loop of [`run`](Self::run), until the stop handle is used or the selector fails.
    fn serve_until_stopped(&mut self) -> io::Result<()> {
        while !self.stop.is_stopped() {
            // Python: events = sel.select(timeout=None). Wake up in time to resume a paused
            // listener or to close idle connections.
            let timeout = self.next_wakeup().map(|at| {
                at.saturating_duration_since(Instant::now())
                    .min(LONGEST_WAIT)
            });
            let ready = self.sel.select(timeout)?;
            self.now = Instant::now();
            for (token, mask) in ready {
                // Python: if key.data is None: accept_wrapper(key.fileobj)
                match self.sel.get_key(token).map(|key| key.data.is_none()) {
                    Ok(true) => self.accept(token)?,
                    Ok(false) => self.service(token, mask)?,
                    Err(_) => {} // unregistered earlier in this batch
                }
            }
            self.resume_accepting_when_due();
            self.close_idle_connections()?;
        }
        Ok(())
    }

    /// The earliest time the loop must wake up without any event: to put a listener paused
    /// for a while back, or to look for idle connections. `None`: wait for events only.
    fn next_wakeup(&self) -> Option<Instant> {
        let resume = match self.paused_listener {
            Some((_, Resume::At(at))) => Some(at),
            _ => None,
        };
        let sweep = (self.config.idle_timeout.is_some() && self.stats.open() > 0)
            .then_some(self.next_sweep);
        resume.into_iter().chain(sweep).min()
    }

    fn max_conns(&self) -> usize {
        self.config.max_conns.max(1)
    }

    /// Python: `accept_wrapper(sock)`. Accepts one connection per event, as Python does;
    /// if more are queued, the level-triggered listener is reported again next time.
    fn accept(&mut self, token: Token) -> io::Result<()> {
        let Socket::Listening(listener) = self.sel.get_key(token)?.fileobj() else {
            unreachable!("only the listener is registered without data");
        };
        match listener.accept() {
            Ok((conn, addr)) => {
                // mio's accept already made `conn` non-blocking (Python: conn.setblocking(False)).
                let state = Connection {
                    addr,
                    pending: Vec::new(),
                    sent: 0,
                    peer_done: false,
                    paused: false,
                    read_dry: false,
                    last_event: self.now,
                };
                match self
                    .sel
                    .register(Socket::Connected(conn), EVENT_READ, Some(state))
                {
                    Ok(_) => {
                        if let Some(run) = self.out_of_descriptors.take() {
                            info!(
                                "descriptors free again after {:.1?} ({} accepts failed); \
                                 accepting",
                                run.since.elapsed(),
                                run.failed
                            );
                        }
                        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                        self.stats.open.fetch_add(1, Ordering::Relaxed);
                        debug!("accepted connection from {addr}");
                        if self.stats.open() >= self.max_conns() {
                            // New clients wait in the kernel's listen queue meanwhile.
                            info!(
                                "{} connections open, the most allowed: not accepting until one closes",
                                self.stats.open()
                            );
                            self.pause_listener(token, Resume::BelowCap)?;
                        }
                    }
                    // The kernel refused to watch one more socket (epoll's max_user_watches,
                    // or no memory): drop this client and keep serving the others.
                    Err(err) => warn!("cannot watch the connection from {addr}: {err}; closing it"),
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {} // the client gave up
            Err(err) if is_out_of_resources(&err) => {
                self.report_out_of_descriptors(&err);
                let until = instant_after(Instant::now(), self.config.accept_backoff);
                self.pause_listener(token, Resume::At(until))?;
            }
            // The listener itself is broken (not a socket, not listening): it would fail the
            // same way every time, and being level-triggered, be reported every time. Stop,
            // and say why.
            Err(err) if is_listener_broken(&err) => return Err(err),
            // ECONNABORTED and the like concern one client that is gone already.
            Err(err) => warn!("accept failed: {err}; continuing"),
        }
        Ok(())
    }

    /// Says that accepting failed for want of descriptors: the first time in a run, one
    /// line with the limit and what to do; then a count every [`OUT_OF_DESCRIPTORS_REPORT`]
    /// (a failure every back-off, ten a second, would otherwise be ten lines a second).
    fn report_out_of_descriptors(&mut self, err: &io::Error) {
        let now = Instant::now();
        let open = self.stats.open();
        let Some(run) = &mut self.out_of_descriptors else {
            let backoff = self.config.accept_backoff;
            if err.raw_os_error() == Some(libc::EMFILE) {
                let limit = crate::sys::fd_limit()
                    .map_or_else(|_| "unknown".to_string(), |limit| limit.to_string());
                warn!(
                    "out of descriptors: accept failed: {err}, with {open} connections open; \
                     this process may open {limit} (its limit, `ulimit -n`), and the \
                     connection cap (max_conns) is {}. Raise the limit to the cap plus a few \
                     (`ulimit -n`, up to the hard limit `ulimit -Hn`) or lower the cap below \
                     it. New clients wait in the listen queue; retrying every {backoff:?}, \
                     with a count every {OUT_OF_DESCRIPTORS_REPORT:?} until it clears",
                    self.max_conns()
                );
            } else {
                warn!(
                    "out of resources: accept failed: {err}, with {open} connections open; \
                     the whole system is short of descriptors or memory, not just this \
                     process. New clients wait in the listen queue; retrying every \
                     {backoff:?}, with a count every {OUT_OF_DESCRIPTORS_REPORT:?} until it \
                     clears"
                );
            }
            self.out_of_descriptors = Some(OutOfDescriptors {
                since: now,
                failed: 1,
                reported_at: now,
                reported: 1,
            });
            return;
        };
        run.failed += 1;
        if now.duration_since(run.reported_at) >= OUT_OF_DESCRIPTORS_REPORT {
            warn!(
                "still out of descriptors: {} accepts failed in the last {:.0?} ({} since \
                 {:.0?} ago), {open} connections open",
                run.failed - run.reported,
                now.duration_since(run.reported_at),
                run.failed,
                now.duration_since(run.since)
            );
            run.reported_at = now;
            run.reported = run.failed;
        }
    }

    /// Stops watching the listener until `resume`. Out of descriptors, every `accept` would
    /// fail at once, and since the listener stays readable, a level-triggered loop would
    /// spin; closing connections free descriptors in the meantime. At the connection cap,
    /// the listener waits for a connection to close.
    fn pause_listener(&mut self, token: Token, resume: Resume) -> io::Result<()> {
        let Socket::Listening(listener) = self.sel.unregister(token)?.into_fileobj() else {
            unreachable!("only the listener is registered without data");
        };
        self.paused_listener = Some((listener, resume));
        Ok(())
    }

    /// Puts a paused listener back once its time has come. If the kernel refuses to watch
    /// it (out of memory, say), the server keeps serving the connections it has and tries
    /// again after [`Config::accept_backoff`]: a failure here must not end the server.
    fn resume_accepting_when_due(&mut self) {
        let (due, after_backoff) = match self.paused_listener {
            Some((_, Resume::At(at))) => (self.now >= at, true),
            Some((_, Resume::BelowCap)) => (self.stats.open() < self.max_conns(), false),
            None => (false, false),
        };
        if !due {
            return;
        }
        let (listener, _) = self.paused_listener.take().expect("checked above");
        match self
            .sel
            .register(Socket::Listening(listener), EVENT_READ, None)
        {
            // After a back-off, the next accept says whether it worked (see `accept`).
            Ok(_) if after_backoff => debug!("watching the listener again"),
            Ok(_) => info!("accepting connections again"),
            Err(failed) => {
                let retry = self.config.accept_backoff;
                warn!(
                    "cannot watch the listener again: {}; retrying in {retry:?}",
                    failed.error
                );
                let Socket::Listening(listener) = failed.fileobj else {
                    unreachable!("we registered the listener");
                };
                self.paused_listener =
                    Some((listener, Resume::At(instant_after(Instant::now(), retry))));
            }
        }
    }

    /// Closes every connection that has had no event for [`Config::idle_timeout`]. Looks a
    /// few times per timeout, not on every loop: one pass costs a look at every connection.
    fn close_idle_connections(&mut self) -> io::Result<()> {
        let Some(limit) = self.config.idle_timeout else {
            return Ok(());
        };
        let now = self.now;
        if now < self.next_sweep {
            return Ok(());
        }
        self.next_sweep = instant_after(now, config_sweep_period(&self.config));
        let idle: Vec<Token> = self
            .sel
            .get_map()
            .values()
            .filter(|key| {
                key.data
                    .as_ref()
                    .is_some_and(|conn| now.saturating_duration_since(conn.last_event) >= limit)
            })
            .map(|key| key.token())
            .collect();
        for token in idle {
            self.close(token, Closed::Idle(limit))?;
        }
        Ok(())
    }

    /// Python: `service_connection(key, mask)`: one read and one write at most, then decide
    /// what to wait for next.
    fn service(&mut self, token: Token, mask: Events) -> io::Result<()> {
        let now = self.now;
        let key = self.sel.get_key_mut(token)?;
        let registered = key.events();
        let (Socket::Connected(sock), Some(conn)) = key.fileobj_and_data() else {
            unreachable!("connections are registered with data");
        };
        conn.last_event = now;
        let outcome = conn.on_ready(sock, mask, &mut self.buf, &self.config, &self.stats);
        if std::mem::take(&mut conn.read_dry) {
            // The kernel said `WouldBlock`, so the selector can skip asking it about this
            // socket next time (see `Selector::mark_drained`).
            self.sel.mark_drained(token, EVENT_READ)?;
        }
        let why = match outcome {
            Ok(events) if events == registered => return Ok(()),
            Ok(events) => match self.sel.modify_events(token, events) {
                Ok(_) => return Ok(()),
                // The kernel refusing to change one socket's interest (out of memory, say)
                // is that connection's problem: close it rather than stop serving everyone.
                Err(err) => Closed::Failed(err.into()),
            },
            Err(why) => why,
        };
        self.close(token, why)
    }

    /// Python: `sel.unregister(sock); sock.close()`.
    fn close(&mut self, token: Token, why: Closed) -> io::Result<()> {
        let key = self.sel.unregister(token)?;
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
        let Some(Connection { addr, .. }) = key.data else {
            unreachable!("connections are registered with data");
        };
        match why {
            Closed::Done => debug!("closing connection to {addr}"),
            Closed::Failed(err) => debug!("closing connection to {addr}: {err}"),
            Closed::Idle(limit) => debug!("closing connection to {addr}: no event for {limit:?}"),
        }
        Ok(()) // dropping `key` closes the socket: unregister, then close
    }
}

/// The longest the loop sleeps without an event, as asyncio's `MAXIMUM_SELECT_TIMEOUT`:
/// waking once a day costs nothing, and a deadline further off than `select()` accepts
/// (say `--idle-timeout 1e19`) is then just a long wait, not an error.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// How often to look for idle connections: a quarter of the timeout, so that a connection
/// closes at most a quarter late, and a pass over every connection stays rare.
fn config_sweep_period(config: &Config) -> Duration {
    config
        .idle_timeout
        .map_or(Duration::from_secs(3600), |limit| limit / 4)
        .max(Duration::from_millis(10))
}

impl Connection {
    /// Does this event's I/O and returns the events to wait for next, or why to close.
    fn on_ready(
        &mut self,
        mut sock: &TcpStream,
        mask: Events,
        buf: &mut [u8],
        config: &Config,
        stats: &Stats,
    ) -> Result<Events, Closed> {
        if mask.contains(EVENT_READ) && !self.paused && !self.peer_done {
            match sock.read(buf) {
                // Python: `if not recv_data:` the client shut down its side. Keep the
                // connection until everything it sent has gone back.
                Ok(0) => self.peer_done = true,
                // However short, a read proves nothing about what is left: the selector's
                // level trigger reports the socket again if more is waiting.
                Ok(n) => self.echo(sock, &buf[..n], stats)?,
                // "Ready" is a hint, not a promise (a spurious wake-up): try again later.
                Err(err) if is_retry(&err) => self.read_dry = true,
                Err(err) => return Err(Closed::Failed(err)),
            }
        }
        if mask.contains(EVENT_WRITE) && self.sent < self.pending.len() {
            self.flush(sock, stats)?;
        }
        let waiting = self.pending.len() - self.sent;
        stats.peak_buffered.fetch_max(waiting, Ordering::Relaxed);

        // Backpressure with hysteresis: pause above the high-water mark, resume only below
        // the low one, so a slow reader does not flip the registration on every event.
        // Resume at `<= low_water` (not `<`) so that even a low-water mark of 0 resumes once
        // the buffer is empty, and never above the high-water mark, whatever the config says.
        self.paused = if self.paused {
            waiting > config.low_water.min(config.high_water)
        } else {
            waiting > config.high_water
        };
        let reading = !self.paused && !self.peer_done;
        // The trap the tutorial falls into: ask for EVENT_WRITE only while there is something
        // to write, or a writable socket is reported on every call and the loop spins.
        let writing = waiting > 0;
        match (reading, writing) {
            (true, true) => Ok(EVENT_READ | EVENT_WRITE),
            (true, false) => Ok(EVENT_READ),
            (false, true) => Ok(EVENT_WRITE),
            (false, false) => Err(Closed::Done),
        }
    }

    /// Sends `data` back: straight away if nothing is queued (the common case, with no copy),
    /// and queues what the kernel would not take. Never writes around queued bytes, which
    /// would reorder the echo.
    fn echo(&mut self, sock: &TcpStream, data: &[u8], stats: &Stats) -> Result<(), Closed> {
        let written = if self.sent == self.pending.len() {
            write_some(sock, data, stats)?
        } else {
            0
        };
        if written < data.len() {
            if self.sent == self.pending.len() {
                // Start the queue afresh rather than after bytes already sent.
                self.pending.clear();
                self.sent = 0;
            }
            self.pending.extend_from_slice(&data[written..]);
        }
        Ok(())
    }

    /// Python: `sent = sock.send(data.outb); data.outb = data.outb[sent:]`, without the copy.
    fn flush(&mut self, sock: &TcpStream, stats: &Stats) -> Result<(), Closed> {
        self.sent += write_some(sock, &self.pending[self.sent..], stats)?;
        if self.sent == self.pending.len() {
            // All gone: give the memory back, so an idle connection holds no buffer.
            self.pending = Vec::new();
            self.sent = 0;
        } else if self.sent > self.pending.len() / 2 {
            // Keep the queue from growing at the front: drop what was sent once it is the
            // larger part (each byte is moved at most once on average).
            self.pending.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }
}

/// One `send`: returns how much the kernel took, 0 if it would block.
///
/// It takes `&TcpStream`: mio (like std) implements `Read` and `Write` for a shared
/// reference to a socket, since the kernel, not the Rust value, holds its state. That is
/// all the selector lends out ([`SelectorKey::fileobj`](crate::SelectorKey::fileobj)).
fn write_some(mut sock: &TcpStream, data: &[u8], stats: &Stats) -> Result<usize, Closed> {
    match sock.write(data) {
        Ok(n) => {
            stats.bytes_echoed.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
        Err(err) if is_retry(&err) => Ok(0),
        // A reset or a broken pipe ends this connection only.
        Err(err) => Err(Closed::Failed(err)),
    }
}

impl fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoServer")
            .field("local_addr", &self.local_addr)
            .field("stats", &self.stats)
            .field("accepting", &self.paused_listener.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> EchoServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        EchoServer::new(listener, Config::default()).expect("EchoServer::new")
    }

    fn listener_token(server: &EchoServer) -> Token {
        let map = server.sel.get_map();
        let key = map.values().find(|key| key.data.is_none());
        key.expect("the listener is registered").token()
    }

    #[test]
    fn a_paused_listener_goes_back_into_the_selector_when_due() {
        let mut server = server();
        let token = listener_token(&server);
        server
            .pause_listener(token, Resume::At(Instant::now()))
            .unwrap();
        assert!(server.sel.get_map().is_empty());
        server.now = Instant::now();
        server.resume_accepting_when_due();
        assert!(server.paused_listener.is_none());
        assert_eq!(server.sel.get_map().len(), 1);
    }

    /// The kernel refusing the listener again must not end the server (it used to, through
    /// `?`): the listener is kept, and tried again after the backoff.
    #[test]
    fn a_listener_the_selector_refuses_is_kept_and_retried_later() {
        let mut server = server();
        let token = listener_token(&server);
        server
            .pause_listener(token, Resume::At(Instant::now()))
            .unwrap();
        // The simplest refusal to arrange: a closed selector refuses every registration.
        server.sel.close();
        server.now = Instant::now();
        server.resume_accepting_when_due();
        match server.paused_listener {
            Some((_, Resume::At(at))) => assert!(at > server.now, "retried later, not now"),
            other => panic!("the listener must be kept for a retry: {other:?}"),
        }
    }
}
