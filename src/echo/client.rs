//! Port of `docs/python/multiconn_client.py`: many echo connections from one thread and one
//! [`Selector`], every echoed byte checked.
//!
//! The client half of the course's multiplexed example, written directly on the selector so
//! it reads like the Python program: each connection is registered with its state as `data`,
//! and one loop services whichever sockets are ready. It is also how the tests drive the
//! three servers: a lost, repeated, reordered or misrouted byte fails the run.
//!
//! What a reader should notice, each explained where it happens:
//!
//! * **Non-blocking connect.** [`mio::net::TcpStream::connect`] returns at once, with the
//!   handshake still under way (Python: `connect_ex()` returning `EINPROGRESS`). The socket
//!   becomes writable when the handshake is over, and `take_error` (Python:
//!   `getsockopt(SO_ERROR)`) then says whether it worked; if not, the host's next address is
//!   tried.
//! * **Sending and receiving at the same time**, as the Python client does: a connection
//!   queues its next message as soon as the previous one is *sent*, and reads the echo while
//!   it sends. It does not wait for each echo (that would be ping-pong); and it does not
//!   send everything before reading, which could deadlock with the server, both blocked on
//!   full buffers.
//! * **Write interest only while there is something to send.** A connected socket is nearly
//!   always writable, so asking for `EVENT_WRITE` otherwise makes `select()` return at once,
//!   forever: a busy loop.
//! * **Bounded reads**: one read of at most [`RECV_SIZE`] bytes per event, so one busy
//!   connection cannot starve the others.
//! * **Patterned data** ([`make_message`]): every message of every connection starts at a
//!   different point of a 251-byte pattern, so a byte delivered to the wrong connection, or
//!   in the wrong order, does not match.
//! * **It cannot hang**: [`ClientOptions::timeout`] fails the run when nothing happens for
//!   that long (Python's `--timeout`), and [`ClientOptions::time_limit`] bounds it in all.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use log::{debug, warn};
use mio::net::TcpStream;

use super::check_echo;
use crate::os_errors::is_retry;
use crate::{Events, Selector, Token, EVENT_READ, EVENT_WRITE};

/// Bytes read per event at most. Python: `RECV_SIZE = 64 * 1024`.
pub const RECV_SIZE: usize = 64 * 1024;

/// Length of the byte pattern messages are cut from. Python: `PATTERN_PERIOD = 251`.
///
/// 251 is prime, so the pattern never lines up with power-of-two buffer sizes: a chunk
/// dropped or repeated at a 4 KiB or 64 KiB boundary shifts it and fails the check.
pub const PATTERN_PERIOD: usize = 251;

/// What [`run`] does: how many connections, how much data, how long to wait.
///
/// Python: `multiconn_client.py`'s command-line options; [`Default`] has its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Connections opened at once. Python: `--conns` (default 10).
    pub conns: usize,
    /// Messages sent on each connection; at least 1. Python: `--messages` (default 10).
    pub messages: usize,
    /// Bytes in each message; at least 1. Python: `--size` (default 1024).
    pub size: usize,
    /// Shut down the write side after sending, then expect the rest of the echo and the
    /// server's close (end of file). Python: `--half-close`.
    pub half_close: bool,
    /// Give up when no socket has been ready for this long. Python: `--timeout` (30 s).
    pub timeout: Duration,
    /// Give up once this long has passed in all, even if the server is still making
    /// progress (a server that echoes one byte a minute never trips `timeout`). Python has
    /// no such option. `None`: no limit.
    pub time_limit: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            conns: 10,
            messages: 10,
            size: 1024,
            half_close: false,
            timeout: Duration::from_secs(30),
            time_limit: None,
        }
    }
}

impl ClientOptions {
    /// Bytes each connection sends, and expects back. Python: `data.msg_total`.
    fn msg_total(&self) -> u64 {
        self.messages as u64 * self.size as u64
    }
}

/// What a [`run`] achieved. Its [`Display`](fmt::Display) is the Python client's summary
/// line.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::client::Summary;
/// use std::time::Duration;
///
/// let summary = Summary {
///     conns: 2,
///     messages: 3,
///     size: 10,
///     bytes_sent: 60,
///     bytes_verified: 60,
///     errors: Vec::new(),
///     elapsed: Duration::from_millis(1234),
/// };
/// assert!(summary.ok());
/// assert_eq!(
///     summary.to_string(),
///     "conns=2 messages=3 size=10 bytes_sent=60 bytes_verified=60 errors=0 elapsed=1.234"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Connections the run opened (or tried to).
    pub conns: usize,
    /// Messages per connection.
    pub messages: usize,
    /// Bytes per message.
    pub size: usize,
    /// Bytes the kernel took from us, over every connection.
    pub bytes_sent: u64,
    /// Echoed bytes that came back and matched what was sent, over every connection.
    pub bytes_verified: u64,
    /// One line per failed connection (at most one each): `conn 3: <why>`.
    pub errors: Vec<String>,
    /// Time from the first connect to the last close.
    pub elapsed: Duration,
}

impl Summary {
    /// Every byte of every connection was sent, came back and matched.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.bytes_verified == self.bytes_expected()
    }

    /// Bytes a fully successful run verifies: `conns * messages * size`.
    pub fn bytes_expected(&self) -> u64 {
        self.conns as u64 * self.messages as u64 * self.size as u64
    }
}

/// Python: `summary()`'s line, field for field.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conns={} messages={} size={} bytes_sent={} bytes_verified={} errors={} elapsed={:.3}",
            self.conns,
            self.messages,
            self.size,
            self.bytes_sent,
            self.bytes_verified,
            self.errors.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Message `index` of connection `conn`: the byte pattern from that message's own phase.
///
/// Python: `make_message(connid, index, messages, size)`. Numbering every message of every
/// connection gives each a different starting byte, so data delivered to the wrong
/// connection, or in the wrong order, does not match.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::client::make_message;
///
/// // Connection 0, message 1 of 2: phase 1, so the pattern 0, 1, 2, ... starts at 1.
/// assert_eq!(make_message(0, 1, 2, 4), [1, 2, 3, 4]);
/// // Connection 1, message 0 of 2: phase 2; the pattern wraps after 250.
/// assert_eq!(make_message(1, 0, 2, 3), [2, 3, 4]);
/// assert_eq!(make_message(0, 0, 1, 253)[249..], [249, 250, 0, 1]);
/// ```
pub fn make_message(conn: usize, index: usize, messages: usize, size: usize) -> Vec<u8> {
    let pattern = 0..=(PATTERN_PERIOD - 1) as u8;
    pattern
        .cycle()
        .skip(message_phase(conn, index, messages))
        .take(size)
        .collect()
}

/// Python: `(connid * messages + index) % PATTERN_PERIOD`, without overflow.
fn message_phase(conn: usize, index: usize, messages: usize) -> usize {
    let p = PATTERN_PERIOD;
    ((conn % p) * (messages % p) + index % p) % p
}

/// Opens `options.conns` connections to the first address of `addrs` that accepts them,
/// sends `options.messages` messages of `options.size` bytes on each, checks every byte
/// of the echo, and returns the [`Summary`].
///
/// Python: the whole of `multiconn_client.py`, minus the command line. `addrs` is what
/// `getaddrinfo` returned (`(host, port).to_socket_addrs()`): a connection whose connect
/// fails tries the next one.
///
/// A connection that fails (refused, reset, wrong echo, early close, timeout) is closed
/// and listed in [`Summary::errors`]; the others carry on. Check [`Summary::ok`].
///
/// # Errors
/// * [`io::ErrorKind::InvalidInput`] if `addrs` is empty, or `messages` or `size` is 0.
/// * The OS error if the selector cannot be created or fails to wait; the connections are
///   closed.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::client::{self, ClientOptions};
/// use mio_selectors::echo::{Config, EchoServer};
/// use std::net::TcpListener;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = EchoServer::new(TcpListener::bind("127.0.0.1:0")?, Config::default())?;
/// let addr = server.local_addr();
/// let stop = server.stop_handle();
/// let thread = std::thread::spawn(move || server.run());
///
/// let options = ClientOptions {
///     conns: 5,
///     messages: 3,
///     size: 1000,
///     time_limit: Some(Duration::from_secs(10)),
///     ..ClientOptions::default()
/// };
/// let summary = client::run(&[addr], &options)?;
/// assert!(summary.ok(), "{summary}: {:?}", summary.errors);
/// assert_eq!(summary.bytes_verified, 5 * 3 * 1000);
///
/// stop.stop();
/// thread.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub fn run(addrs: &[SocketAddr], options: &ClientOptions) -> io::Result<Summary> {
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to connect to",
        ));
    }
    if options.messages == 0 || options.size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "messages and size must be at least 1",
        ));
    }
    let start = Instant::now();
    let mut client = Client {
        sel: Selector::new()?,
        addrs,
        options,
        buf: vec![0; RECV_SIZE],
        pattern: repeated_pattern(PATTERN_PERIOD + RECV_SIZE),
        bytes_sent: 0,
        bytes_verified: 0,
        errors: Vec::new(),
    };
    client.start_connections();
    client.event_loop(start)?;
    // Python: close_all(sel). Every connection has finished or failed, and so has been
    // unregistered and closed already; dropping `client` closes the selector.
    Ok(Summary {
        conns: options.conns,
        messages: options.messages,
        size: options.size,
        bytes_sent: client.bytes_sent,
        bytes_verified: client.bytes_verified,
        errors: client.errors,
        elapsed: start.elapsed(),
    })
}

/// One connection's state: Python's `types.SimpleNamespace(connid=..., outb=..., ...)`.
///
/// There is no `unverified` buffer: the bytes expected back are computed from their offset
/// in the stream, since the pattern says what every offset holds.
#[derive(Debug)]
struct Connection {
    id: usize,
    /// The address being connected to. Python: `data.sockaddr`.
    addr: SocketAddr,
    /// How many of the run's addresses this connection has tried; the rest are still to
    /// try. Python: `data.addresses`, popped from the front.
    addrs_tried: usize,
    connected: bool,
    messages_queued: usize,
    /// The message being sent. Python: `data.outb`, without `del outb[:sent]`.
    outb: Vec<u8>,
    /// How much of `outb` the kernel has taken.
    out_sent: usize,
    bytes_sent: u64,
    /// Echoed bytes verified so far. Python: `data.recv_total`.
    recv_total: u64,
    /// We have shut down our write side (half-close mode).
    write_closed: bool,
}

/// Why a connection left the selector.
enum Ended {
    /// Every byte came back (and, in half-close mode, the server then closed).
    Done,
    /// Something went wrong; the reason goes into [`Summary::errors`].
    Failed(String),
}

/// The run in progress: Python's module-level functions, which all take `sel`, become
/// methods.
struct Client<'a> {
    sel: Selector<TcpStream, Connection>,
    addrs: &'a [SocketAddr],
    options: &'a ClientOptions,
    /// The one read buffer, shared by every connection.
    buf: Vec<u8>,
    /// The pattern repeated, long enough to hold the expected bytes of any one read.
    pattern: Vec<u8>,
    // Python sums these over its list of connections at the end; here a connection's state
    // leaves the selector with it, so each adds its figures as it goes.
    bytes_sent: u64,
    bytes_verified: u64,
    errors: Vec<String>,
}

impl Client<'_> {
    /// Python: `start_connections(sel, addresses, args)`.
    fn start_connections(&mut self) {
        for id in 0..self.options.conns {
            let conn = Connection {
                id,
                addr: self.addrs[0],
                addrs_tried: 0,
                connected: false,
                messages_queued: 0,
                outb: Vec::new(),
                out_sent: 0,
                bytes_sent: 0,
                recv_total: 0,
                write_closed: false,
            };
            self.connect_next(conn, String::new());
        }
    }

    /// Python: `connect_next(sel, data)`. Starts connecting to the next address not yet
    /// tried, or records the connection as failed with `last_error` if none is left.
    fn connect_next(&mut self, mut conn: Connection, mut last_error: String) {
        while let Some(&addr) = self.addrs.get(conn.addrs_tried) {
            conn.addrs_tried += 1;
            // Returns at once: the handshake goes on in the kernel. Python: connect_ex()
            // returning EINPROGRESS. (mio's accept and connect make the socket
            // non-blocking: Python's sock.setblocking(False).)
            let sock = match TcpStream::connect(addr) {
                Ok(sock) => sock,
                Err(err) => {
                    last_error = format!("connect to {addr}: {err}");
                    continue;
                }
            };
            debug!("conn {}: connecting to {addr}", conn.id);
            conn.addr = addr;
            // Writable means the handshake is over, successfully or not.
            match self.sel.register(sock, EVENT_WRITE, conn) {
                Ok(_) => return,
                Err(failed) => {
                    // The kernel will not watch one more socket: `failed.fileobj` is closed
                    // when `failed` goes out of scope.
                    last_error = format!("cannot watch the connection to {addr}: {failed}");
                    conn = failed.data;
                }
            }
        }
        self.fail(conn, last_error);
    }

    /// Python: `run(sel, timeout)`. Runs until every connection has finished or failed.
    fn event_loop(&mut self, start: Instant) -> io::Result<()> {
        let timeout = self.options.timeout;
        let deadline = self.options.time_limit.map(|limit| start + limit);
        // Python: while sel.get_map(): some socket is still registered.
        while !self.sel.get_map().is_empty() {
            let mut wait = timeout;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let limit = self.options.time_limit.unwrap_or_default();
                    return self
                        .fail_all(&format!("time limit of {} s reached", limit.as_secs_f64()));
                }
                wait = wait.min(left);
            }
            let events = self.sel.select(wait)?;
            if events.is_empty() {
                if wait < timeout {
                    continue; // the time limit, not the timeout: the next turn says so
                }
                return self.fail_all(&format!("no progress for {} s", timeout.as_secs_f64()));
            }
            for (token, mask) in events {
                self.service_connection(token, mask)?;
            }
        }
        Ok(())
    }

    /// Python: `service_connection(sel, key, mask)`.
    fn service_connection(&mut self, token: Token, mask: Events) -> io::Result<()> {
        let key = self.sel.get_key_mut(token)?;
        if !key.data.connected {
            return self.finish_connect(token);
        }
        let (sock, conn) = key.fileobj_and_data();
        let next = conn.on_ready(sock, mask, &mut self.buf, &self.pattern, self.options);
        match next {
            Ok(events) if events == key.events() => {}
            // Python: update_interest(sel, key)
            Ok(events) => {
                self.sel.modify_events(token, events)?;
            }
            Err(ended) => {
                // Python: sel.unregister(sock); sock.close(). Dropping the key's socket
                // closes it; its state is ours again.
                let conn = self.sel.unregister(token)?.data;
                match ended {
                    Ended::Done => self.finish(conn),
                    Ended::Failed(reason) => self.fail(conn, reason),
                }
            }
        }
        Ok(())
    }

    /// Python: `finish_connect(sel, sock, data)`. The socket became writable: did the
    /// handshake succeed?
    fn finish_connect(&mut self, token: Token) -> io::Result<()> {
        let key = self.sel.get_key_mut(token)?;
        match handshake_result(key.fileobj()) {
            Ok(false) => Ok(()), // not over yet (a spurious wake-up): wait again
            Ok(true) => {
                key.data.connected = true;
                debug!("conn {}: connected", key.data.id);
                // From now on we send and receive at the same time.
                self.sel.modify_events(token, EVENT_READ | EVENT_WRITE)?;
                Ok(())
            }
            Err(err) => {
                let (sock, conn) = self.sel.unregister(token)?.into_parts();
                drop(sock); // Python: sock.close()
                let reason = format!("connect to {}: {err}", conn.addr);
                debug!("conn {}: {reason}", conn.id);
                self.connect_next(conn, reason); // the host's next address, if any
                Ok(())
            }
        }
    }

    /// Python: `finish(sel, sock, data)`, after the caller unregistered and closed the
    /// socket.
    fn finish(&mut self, conn: Connection) {
        debug!(
            "conn {}: all {} bytes echoed, closing",
            conn.id, conn.recv_total
        );
        self.add_up(&conn);
    }

    /// Python: `fail(sel, sock, data, reason)`, after the caller unregistered and closed
    /// the socket (if it had one).
    fn fail(&mut self, conn: Connection, reason: String) {
        warn!("conn {}: {reason}", conn.id);
        self.errors.push(format!("conn {}: {reason}", conn.id));
        self.add_up(&conn);
    }

    fn add_up(&mut self, conn: &Connection) {
        self.bytes_sent += conn.bytes_sent;
        self.bytes_verified += conn.recv_total;
    }

    /// Python: the `if not events:` branch of `run()`: every connection still open fails.
    fn fail_all(&mut self, reason: &str) -> io::Result<()> {
        let tokens: Vec<Token> = self.sel.get_map().values().map(|key| key.token()).collect();
        for token in tokens {
            let conn = self.sel.unregister(token)?.data;
            self.fail(conn, reason.to_owned());
        }
        Ok(())
    }
}

/// mio's recipe for a non-blocking connect (see [`TcpStream::connect`]): `Ok(true)` once
/// connected, `Ok(false)` if the handshake is still under way, or why it failed.
fn handshake_result(sock: &TcpStream) -> io::Result<bool> {
    // Python: err = sock.getsockopt(SOL_SOCKET, SO_ERROR)
    if let Some(err) = sock.take_error()? {
        return Err(err);
    }
    match sock.peer_addr() {
        Ok(_) => Ok(true),
        Err(err)
            if err.kind() == io::ErrorKind::NotConnected
                || err.raw_os_error() == Some(libc::EINPROGRESS) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

impl Connection {
    /// Does this event's I/O and returns the events to wait for next, or why to close.
    ///
    /// Python: the body of `service_connection` after the connect, with `update_interest`.
    fn on_ready(
        &mut self,
        sock: &TcpStream,
        mask: Events,
        buf: &mut [u8],
        pattern: &[u8],
        options: &ClientOptions,
    ) -> Result<Events, Ended> {
        if mask.contains(EVENT_READ) {
            self.read_some(sock, buf, pattern, options)?;
        }
        if mask.contains(EVENT_WRITE) {
            self.write_some(sock, options)?;
        }
        // Python: update_interest. Until we are done an echo is always due, so always
        // read; write only while there is something to send, or a connected socket (nearly
        // always writable) makes select() return at once, forever: a busy loop.
        if self.wants_to_send(options) {
            Ok(EVENT_READ | EVENT_WRITE)
        } else {
            Ok(EVENT_READ)
        }
    }

    /// Python: `wants_to_send(data)`.
    fn wants_to_send(&self, options: &ClientOptions) -> bool {
        self.out_sent < self.outb.len() || self.messages_queued < options.messages
    }

    /// Python: `write_some(sock, data)`. Queues the next message once the last one is
    /// sent, then makes one `send`.
    fn write_some(&mut self, mut sock: &TcpStream, options: &ClientOptions) -> Result<(), Ended> {
        if self.out_sent == self.outb.len() && self.messages_queued < options.messages {
            self.outb = make_message(
                self.id,
                self.messages_queued,
                options.messages,
                options.size,
            );
            self.out_sent = 0;
            self.messages_queued += 1;
        }
        if self.out_sent < self.outb.len() {
            match sock.write(&self.outb[self.out_sent..]) {
                // The kernel may take only part of it.
                Ok(n) => {
                    self.out_sent += n;
                    self.bytes_sent += n as u64;
                }
                // Readiness is a hint, not a promise.
                Err(err) if is_retry(&err) => return Ok(()),
                Err(err) => return Err(Ended::Failed(format!("send: {err}"))),
            }
        }
        if options.half_close && !self.wants_to_send(options) && !self.write_closed {
            // Everything is sent: tell the server no more is coming. It must still echo
            // what it has, then close (read_some sees end of file).
            sock.shutdown(Shutdown::Write)
                .map_err(|err| Ended::Failed(format!("shutdown: {err}")))?;
            self.write_closed = true;
            debug!("conn {}: write side shut down", self.id);
        }
        Ok(())
    }

    /// Python: `read_some(sel, sock, data)`. One `recv`, checked against the bytes sent.
    /// `Err(Ended::Done)` once every byte is back.
    fn read_some(
        &mut self,
        mut sock: &TcpStream,
        buf: &mut [u8],
        pattern: &[u8],
        options: &ClientOptions,
    ) -> Result<(), Ended> {
        let n = match sock.read(buf) {
            Ok(n) => n,
            Err(err) if is_retry(&err) => return Ok(()),
            Err(err) => return Err(Ended::Failed(format!("recv: {err}"))),
        };
        let msg_total = options.msg_total();
        if n == 0 {
            // The server closed its side.
            return Err(if options.half_close && self.recv_total == msg_total {
                Ended::Done // as expected: everything echoed, then end of file
            } else {
                Ended::Failed(format!(
                    "server closed after echoing {} of {msg_total} bytes",
                    self.recv_total
                ))
            });
        }
        self.verify(&buf[..n], pattern, options)
            .map_err(Ended::Failed)?;
        self.recv_total += n as u64;
        // With half-close, wait for the server's end of file instead.
        if self.recv_total == msg_total && !options.half_close {
            return Err(Ended::Done);
        }
        Ok(())
    }

    /// Checks `chunk`, the next bytes of the echo, against what was sent at those offsets;
    /// the error says where it first differs. Python: `chunk != expected` and
    /// `describe_mismatch`.
    fn verify(&self, chunk: &[u8], pattern: &[u8], options: &ClientOptions) -> Result<(), String> {
        let end = self.recv_total + chunk.len() as u64;
        if end > self.bytes_sent {
            return Err(format!(
                "server echoed {} bytes more than we sent",
                end - self.bytes_sent
            ));
        }
        let size = options.size as u64;
        let mut checked = 0;
        // One comparison per message the chunk overlaps: each starts at its own phase.
        while checked < chunk.len() {
            let offset = self.recv_total + checked as u64;
            let index = (offset / size) as usize;
            let within = offset % size;
            let len = (chunk.len() - checked).min((size - within) as usize);
            let phase = message_phase(self.id, index, options.messages);
            let start = (phase + (within % PATTERN_PERIOD as u64) as usize) % PATTERN_PERIOD;
            check_echo(
                offset,
                &pattern[start..start + len],
                &chunk[checked..checked + len],
            )?;
            checked += len;
        }
        Ok(())
    }
}

/// The pattern 0, 1, ..., 250, 0, 1, ... for `len` bytes.
fn repeated_pattern(len: usize) -> Vec<u8> {
    make_message(0, 0, 1, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: usize) -> Connection {
        Connection {
            id,
            addr: ([127, 0, 0, 1], 1).into(),
            addrs_tried: 1,
            connected: true,
            messages_queued: 0,
            outb: Vec::new(),
            out_sent: 0,
            bytes_sent: 0,
            recv_total: 0,
            write_closed: false,
        }
    }

    #[test]
    fn messages_match_the_python_formula() {
        // (PATTERN * repeats)[phase:phase + size], phase = (connid * messages + index) % 251
        let python = |connid: usize, index: usize, messages: usize, size: usize| {
            let phase = (connid * messages + index) % PATTERN_PERIOD;
            (0..size)
                .map(|i| ((phase + i) % PATTERN_PERIOD) as u8)
                .collect::<Vec<u8>>()
        };
        for (c, i, m, s) in [(0, 0, 1, 1), (3, 7, 10, 600), (199, 49, 50, 1000)] {
            assert_eq!(make_message(c, i, m, s), python(c, i, m, s));
        }
    }

    #[test]
    fn verify_accepts_the_stream_split_anywhere_and_names_the_first_bad_byte() {
        let options = ClientOptions {
            messages: 3,
            size: 300,
            ..ClientOptions::default()
        };
        let pattern = repeated_pattern(PATTERN_PERIOD + RECV_SIZE);
        let stream: Vec<u8> = (0..3).flat_map(|i| make_message(7, i, 3, 300)).collect();
        let mut c = conn(7);
        c.bytes_sent = stream.len() as u64;
        for piece in stream.chunks(170) {
            assert!(c.verify(piece, &pattern, &options).is_ok());
            c.recv_total += piece.len() as u64;
        }

        let mut bad = stream.clone();
        bad[450] ^= 1;
        let mut c = conn(7);
        c.bytes_sent = bad.len() as u64;
        let err = c.verify(&bad, &pattern, &options).unwrap_err();
        assert!(err.starts_with("byte 450: "), "{err}");

        // Another connection's bytes do not pass.
        let mut other = conn(8);
        other.bytes_sent = stream.len() as u64;
        assert!(other.verify(&stream, &pattern, &options).is_err());

        // Nor do more bytes than were sent.
        let mut c = conn(7);
        c.bytes_sent = 10;
        let err = c.verify(&stream[..11], &pattern, &options).unwrap_err();
        assert_eq!(err, "server echoed 1 bytes more than we sent");
    }
}
