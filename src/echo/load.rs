//! A load generator for echo servers: many connections, for a fixed time, every byte checked.
//!
//! The engine behind `examples/echo_load.rs` and `scripts/bench-echo.sh`. It opens
//! [`LoadOptions::conns`] connections, then for [`LoadOptions::duration`] keeps messages of
//! [`LoadOptions::size`] bytes in flight on each: one at a time ([`Mode::PingPong`]: send,
//! wait for the whole echo, send the next) or up to [`LoadOptions::depth`] at a time
//! ([`Mode::Pipelined`]). It measures what a client sees: messages echoed per second, and
//! the latency of each message, from the moment it is handed to the kernel to the arrival of
//! its last echoed byte.
//!
//! It is written on this crate's [`Selector`] (one thread, level-triggered), like the
//! [`client`](super::client), and checks every echoed byte against what was sent: message
//! `i` of connection `c` is a slice of a 251-byte pattern starting at its own phase, so a
//! byte lost, repeated, reordered or sent to the wrong connection does not match. A
//! connection that fails (reset, closed early, wrong byte, echo not back within
//! [`LoadOptions::grace`]) is closed and listed in [`LoadReport::errors`]; the others go on.
//!
//! Every phase is bounded in time: connecting by [`LoadOptions::grace`] per connection, the
//! load by `warmup + duration`, and waiting for the last echoes by `grace` after that.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use log::{debug, warn};
use mio::net::TcpStream;

use super::check_echo;
use super::client::{PATTERN_PERIOD, RECV_SIZE};
use crate::os_errors::is_retry;
use crate::{Events, Selector, Token, EVENT_READ, EVENT_WRITE};

/// How many messages a connection keeps in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One at a time: the next message is sent when the whole echo of the last is back. The
    /// rate is bound by round trips, as for a request/response protocol.
    PingPong,
    /// Up to [`LoadOptions::depth`] at a time: a new message is sent as soon as an echo
    /// completes. The rate is bound by throughput.
    Pipelined,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::PingPong => "ping-pong",
            Mode::Pipelined => "pipelined",
        })
    }
}

impl FromStr for Mode {
    type Err = String;

    /// `ping-pong` or `pipelined`, the spellings [`Display`](fmt::Display) prints.
    fn from_str(text: &str) -> Result<Mode, String> {
        match text {
            "ping-pong" => Ok(Mode::PingPong),
            "pipelined" => Ok(Mode::Pipelined),
            _ => Err(format!("unknown mode {text:?}: ping-pong or pipelined")),
        }
    }
}

/// What [`run`] does; [`Default`] is a short ping-pong run with 50 connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Connections, opened before the clock starts. At least 1.
    pub conns: usize,
    /// Bytes per message. At least 1.
    pub size: usize,
    /// How long to send new messages, after the warm-up. Only messages echoed from the end of
    /// the warm-up on are counted (including those that were in flight when `duration` ran
    /// out, and came back in the grace period).
    pub duration: Duration,
    /// One message in flight per connection, or [`depth`](Self::depth).
    pub mode: Mode,
    /// Messages in flight per connection in [`Mode::Pipelined`] (ignored in ping-pong). At
    /// least 1.
    pub depth: usize,
    /// Load sent before counting starts, to let both sides reach a steady state.
    pub warmup: Duration,
    /// How long to wait for one connect, and for the echoes still in flight when `duration`
    /// has run out; a connection whose echo is not back by then fails.
    pub grace: Duration,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            conns: 50,
            size: 64,
            duration: Duration::from_secs(3),
            mode: Mode::PingPong,
            depth: 16,
            warmup: Duration::ZERO,
            grace: Duration::from_secs(5),
        }
    }
}

impl LoadOptions {
    /// Messages in flight per connection: 1 in ping-pong, `depth` when pipelined.
    pub fn in_flight(&self) -> usize {
        match self.mode {
            Mode::PingPong => 1,
            Mode::Pipelined => self.depth,
        }
    }
}

/// Message latencies in log-spaced buckets: 32 per power of two, so any percentile is
/// within about 3 % of the truth, in 16 KiB however long the run.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

/// Buckets per power of two of nanoseconds.
const SUB_BUCKETS: u64 = 32;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; (64 * SUB_BUCKETS) as usize].into_boxed_slice(),
            total: 0,
        }
    }
}

impl Histogram {
    /// Counts one sample.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latency below which `quantile` (0 to 1) of the samples fall, rounded up to the
    /// top of its bucket; `None` with no samples.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::echo::load::Histogram;
    /// use std::time::Duration;
    ///
    /// let mut hist = Histogram::default();
    /// for micros in 1..=100 {
    ///     hist.record(Duration::from_micros(micros));
    /// }
    /// let p50 = hist.quantile(0.5).unwrap().as_secs_f64() * 1e6;
    /// assert!((50.0..=52.0).contains(&p50), "{p50}");
    /// let p99 = hist.quantile(0.99).unwrap().as_secs_f64() * 1e6;
    /// assert!((99.0..=102.0).contains(&p99), "{p99}");
    /// ```
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_nanos(bucket_top(bucket)));
            }
        }
        Some(Duration::from_nanos(u64::MAX))
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

/// Below 32 ns one bucket per nanosecond; above, 32 buckets per power of two.
fn bucket_of(nanos: u64) -> usize {
    if nanos < SUB_BUCKETS {
        return nanos as usize;
    }
    let octave = 63 - nanos.leading_zeros(); // >= SUB_BITS
    let shift = octave - SUB_BITS;
    let within = (nanos >> shift) - SUB_BUCKETS; // 0..SUB_BUCKETS
    ((u64::from(shift) + 1) * SUB_BUCKETS + within) as usize
}

/// The largest value that falls in `bucket`.
fn bucket_top(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let shift = bucket / SUB_BUCKETS - 1;
    let within = bucket % SUB_BUCKETS;
    let top = u128::from(SUB_BUCKETS + within + 1) << shift;
    u64::try_from(top - 1).unwrap_or(u64::MAX)
}

/// What a [`run`] measured. Its [`Display`](fmt::Display) is `echo_load`'s summary line.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::load::{Histogram, LoadReport, Mode};
/// use std::time::Duration;
///
/// let mut latency = Histogram::default();
/// latency.record(Duration::from_micros(40));
/// let report = LoadReport {
///     conns: 2,
///     size: 1000,
///     mode: Mode::PingPong,
///     elapsed: Duration::from_secs(2),
///     msgs: 5000,
///     latency,
///     errors: Vec::new(),
/// };
/// assert!(report.ok());
/// // Latencies are reported at the top of their bucket: 40 µs is in 39.94..40.96 µs.
/// assert_eq!(
///     report.to_string(),
///     "conns=2 size=1000 mode=ping-pong secs=2.000 msgs=5000 msgs_per_s=2500 mb_per_s=2.50 \
///      p50_us=41.0 p99_us=41.0 errors=0"
/// );
///
/// // Nothing echoed: no latency, and not a success.
/// let empty = LoadReport { msgs: 0, latency: Histogram::default(), ..report };
/// assert!(!empty.ok());
/// assert!(empty.to_string().contains("p50_us=n/a p99_us=n/a"), "{empty}");
/// ```
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// Connections asked for.
    pub conns: usize,
    /// Bytes per message.
    pub size: usize,
    /// Ping-pong or pipelined.
    pub mode: Mode,
    /// From the end of the warm-up to the last echo counted.
    pub elapsed: Duration,
    /// Messages whose whole echo came back, and matched, within `elapsed`.
    pub msgs: u64,
    /// Latency of each counted message: from its first byte handed to the kernel to the
    /// arrival of its last echoed byte.
    pub latency: Histogram,
    /// One line per failed connection: `conn 3: <why>`.
    pub errors: Vec<String>,
}

impl LoadReport {
    /// No connection failed, and at least one message was echoed.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.msgs > 0
    }

    /// Messages echoed per second.
    pub fn msgs_per_sec(&self) -> f64 {
        self.msgs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Megabytes (10^6 bytes) of messages echoed per second, counted once (not sent plus
    /// received).
    pub fn mb_per_sec(&self) -> f64 {
        self.msgs_per_sec() * self.size as f64 / 1e6
    }
}

/// `conns=.. size=.. mode=.. secs=.. msgs=.. msgs_per_s=.. mb_per_s=.. p50_us=.. p99_us=.. errors=..`
///
/// With no message echoed there is no latency to report: the percentiles read `n/a`
/// (not `NaN`, which looks like a bug in the measurement rather than an empty one).
impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = |q| {
            self.latency.quantile(q).map_or("n/a".to_string(), |d| {
                format!("{:.1}", d.as_secs_f64() * 1e6)
            })
        };
        write!(
            f,
            "conns={} size={} mode={} secs={:.3} msgs={} msgs_per_s={:.0} mb_per_s={:.2} p50_us={} p99_us={} errors={}",
            self.conns,
            self.size,
            self.mode,
            self.elapsed.as_secs_f64(),
            self.msgs,
            self.msgs_per_sec(),
            self.mb_per_sec(),
            micros(0.5),
            micros(0.99),
            self.errors.len()
        )
    }
}

/// Loads the echo server at the first of `addrs` that accepts, as [`LoadOptions`] says, and
/// returns what it measured.
///
/// # Errors
/// * [`io::ErrorKind::InvalidInput`] if `addrs` is empty, or `conns`, `size` or `depth` is 0.
/// * The OS error if the selector cannot be created or fails to wait.
///
/// A failing connection is not an error of the run: it is listed in
/// [`LoadReport::errors`]. Check [`LoadReport::ok`].
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::load::{self, LoadOptions, Mode};
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
/// let options = LoadOptions {
///     conns: 4,
///     size: 100,
///     mode: Mode::Pipelined,
///     depth: 8,
///     duration: Duration::from_millis(100),
///     ..LoadOptions::default()
/// };
/// let report = load::run(&[addr], &options)?;
/// assert!(report.ok(), "{report}: {:?}", report.errors);
/// assert_eq!(report.latency.count(), report.msgs);
///
/// stop.stop();
/// thread.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub fn run(addrs: &[SocketAddr], options: &LoadOptions) -> io::Result<LoadReport> {
    if addrs.is_empty() {
        return Err(invalid("no address to connect to"));
    }
    if options.conns == 0 || options.size == 0 || options.depth == 0 {
        return Err(invalid("conns, size and depth must be at least 1"));
    }
    let mut load = Load {
        sel: Selector::new()?,
        options,
        in_flight: options.in_flight() as u64,
        buf: vec![0; RECV_SIZE],
        scratch: Vec::new(),
        pattern: (0..PATTERN_PERIOD + options.size.max(RECV_SIZE))
            .map(|i| (i % PATTERN_PERIOD) as u8)
            .collect(),
        sending: true,
        count_from: None,
        last_echo: None,
        msgs: 0,
        latency: Histogram::default(),
        errors: Vec::new(),
    };
    load.connect_all(addrs);
    let start = Instant::now();
    let count_from = start + options.warmup;
    let stop_sending = count_from + options.duration;
    let give_up = stop_sending + options.grace;
    // Start every connection's first messages, then serve events until time is up.
    let tokens: Vec<Token> = load.sel.get_map().values().map(|k| k.token()).collect();
    for token in tokens {
        load.service(token, Events::empty(), start)?;
    }
    loop {
        let now = Instant::now();
        if load.count_from.is_none() && now >= count_from {
            load.count_from = Some(now);
        }
        if load.sending && now >= stop_sending {
            load.sending = false;
            load.close_finished()?;
        }
        if load.sel.get_map().is_empty() {
            break;
        }
        if now >= give_up {
            load.fail_all(&format!(
                "echo not back {} s after the end of the run",
                options.grace.as_secs_f64()
            ))?;
            break;
        }
        let until = if load.sending { stop_sending } else { give_up };
        let wait = until.saturating_duration_since(now);
        let wait = match load.count_from {
            None => wait.min(count_from.saturating_duration_since(now)),
            Some(_) => wait,
        };
        for (token, mask) in load.sel.select(wait)? {
            load.service(token, mask, Instant::now())?;
        }
    }
    let count_from = load.count_from.unwrap_or(stop_sending);
    let end = load.last_echo.unwrap_or(count_from).max(count_from);
    Ok(LoadReport {
        conns: options.conns,
        size: options.size,
        mode: options.mode,
        elapsed: end - count_from,
        msgs: load.msgs,
        latency: load.latency,
        errors: load.errors,
    })
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// One connection: a stream of messages out, the same stream back.
struct Conn {
    id: u64,
    /// Messages handed to the stream so far, and how many of them are fully echoed.
    started: u64,
    completed: u64,
    /// Bytes of the stream written, and bytes of the echo received and verified.
    sent: u64,
    received: u64,
    /// When each message in flight was started, oldest first.
    started_at: VecDeque<Instant>,
}

/// The run in progress.
struct Load<'a> {
    sel: Selector<TcpStream, Conn>,
    options: &'a LoadOptions,
    in_flight: u64,
    /// The one read buffer, and where a write that spans messages is assembled.
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// 0, 1, ..., 250, 0, 1, ... long enough for any one message or read.
    pattern: Vec<u8>,
    /// False once `duration` is over: no new messages, only the echoes still due.
    sending: bool,
    /// When counting started (the end of the warm-up), and the last echo counted.
    count_from: Option<Instant>,
    last_echo: Option<Instant>,
    msgs: u64,
    latency: Histogram,
    errors: Vec<String>,
}

impl Load<'_> {
    /// Connects every connection, one after the other, each trying `addrs` in turn.
    fn connect_all(&mut self, addrs: &[SocketAddr]) {
        for id in 0..self.options.conns {
            let mut last_error = String::new();
            let sock = addrs.iter().find_map(|addr| {
                match std::net::TcpStream::connect_timeout(addr, self.options.grace).and_then(
                    |sock| {
                        // Small messages must not wait for the previous one's ACK (Nagle).
                        sock.set_nodelay(true)?;
                        sock.set_nonblocking(true)?;
                        Ok(sock)
                    },
                ) {
                    Ok(sock) => Some(sock),
                    Err(err) => {
                        last_error = format!("connect to {addr}: {err}");
                        None
                    }
                }
            });
            let Some(sock) = sock else {
                self.fail(id as u64, last_error);
                continue;
            };
            let conn = Conn {
                id: id as u64,
                started: 0,
                completed: 0,
                sent: 0,
                received: 0,
                started_at: VecDeque::with_capacity(self.in_flight as usize),
            };
            if let Err(err) = self
                .sel
                .register(TcpStream::from_std(sock), EVENT_READ, conn)
            {
                self.fail(id as u64, format!("cannot watch the connection: {err}"));
            }
        }
        debug!("{} connections open", self.sel.get_map().len());
    }

    /// One event on one connection: read once, start new messages, write once, then decide
    /// what to wait for (or close the connection).
    fn service(&mut self, token: Token, mask: Events, now: Instant) -> io::Result<()> {
        let outcome = self.step(token, mask, now);
        let key = self.sel.get_key_mut(token)?;
        match outcome {
            Ok(events) if events == key.events() => Ok(()),
            Ok(events) => self
                .sel
                .modify_events(token, events)
                .map(drop)
                .map_err(Into::into),
            Err(why) => {
                let conn = self.sel.unregister(token)?.data;
                if let Some(why) = why {
                    self.fail(conn.id, why);
                }
                Ok(())
            }
        }
    }

    /// The I/O of [`service`](Self::service): the events to wait for next, or `Err` to close
    /// the connection (`Some(why)` if it failed, `None` if it is simply finished).
    fn step(&mut self, token: Token, mask: Events, now: Instant) -> Result<Events, Option<String>> {
        let size = self.options.size as u64;
        let key = self
            .sel
            .get_key_mut(token)
            .map_err(|e| Some(e.to_string()))?;
        let (mut sock, conn) = key.fileobj_and_data();
        if mask.contains(EVENT_READ) {
            let n = match sock.read(&mut self.buf) {
                Ok(0) => return Err(Some(format!("server closed after {} bytes", conn.received))),
                Ok(n) => n,
                Err(err) if is_retry(&err) => 0,
                Err(err) => return Err(Some(format!("recv: {err}"))),
            };
            verify(conn, &self.buf[..n], &self.pattern, size)?;
            conn.received += n as u64;
            while conn.received >= (conn.completed + 1) * size {
                conn.completed += 1;
                let sent_at = conn.started_at.pop_front().expect("a message in flight");
                if self.count_from.is_some() {
                    self.msgs += 1;
                    self.latency.record(now.saturating_duration_since(sent_at));
                    self.last_echo = Some(now);
                }
            }
        }
        if self.sending {
            while conn.started - conn.completed < self.in_flight {
                conn.started += 1;
                conn.started_at.push_back(now);
            }
        } else if conn.completed == conn.started {
            return Err(None); // finished: every echo is back
        }
        let end = conn.started * size;
        if conn.sent < end {
            // Write what is due in one call: straight from the pattern if it is all one
            // message, else assembled in `scratch` (up to one read buffer's worth).
            let len = (end - conn.sent).min(RECV_SIZE as u64) as usize;
            let data = if conn.sent / size == (conn.sent + len as u64 - 1) / size {
                &self.pattern[pattern_at(conn.id, conn.sent, size)..][..len]
            } else {
                self.scratch.clear();
                let mut at = conn.sent;
                while self.scratch.len() < len {
                    let run = (size - at % size).min((len - self.scratch.len()) as u64) as usize;
                    let start = pattern_at(conn.id, at, size);
                    self.scratch
                        .extend_from_slice(&self.pattern[start..][..run]);
                    at += run as u64;
                }
                &self.scratch[..]
            };
            match sock.write(data) {
                Ok(n) => conn.sent += n as u64,
                Err(err) if is_retry(&err) => {}
                Err(err) => return Err(Some(format!("send: {err}"))),
            }
        }
        Ok(if conn.sent < end {
            EVENT_READ | EVENT_WRITE
        } else {
            EVENT_READ
        })
    }

    /// When sending stops: close the connections that have every echo back already.
    fn close_finished(&mut self) -> io::Result<()> {
        let done: Vec<Token> = self
            .sel
            .get_map()
            .values()
            .filter(|key| key.data.completed == key.data.started)
            .map(|key| key.token())
            .collect();
        for token in done {
            drop(self.sel.unregister(token)?);
        }
        Ok(())
    }

    fn fail_all(&mut self, why: &str) -> io::Result<()> {
        let tokens: Vec<Token> = self.sel.get_map().values().map(|k| k.token()).collect();
        for token in tokens {
            let conn = self.sel.unregister(token)?.data;
            let missing = conn.started - conn.completed;
            self.fail(conn.id, format!("{why}: {missing} message(s) missing"));
        }
        Ok(())
    }

    fn fail(&mut self, id: u64, why: String) {
        warn!("conn {id}: {why}");
        self.errors.push(format!("conn {id}: {why}"));
    }
}

/// Where in the pattern the stream byte at `offset` of connection `id` sits: message
/// `offset / size` starts at phase `(id * 97 + message) % 251`.
fn pattern_at(id: u64, offset: u64, size: u64) -> usize {
    let period = PATTERN_PERIOD as u64;
    let phase = (id % period * 97 + offset / size % period) % period;
    ((phase + offset % size % period) % period) as usize
}

/// Checks `chunk`, the next bytes of the echo, against what was sent at those offsets.
fn verify(conn: &Conn, chunk: &[u8], pattern: &[u8], size: u64) -> Result<(), Option<String>> {
    let end = conn.received + chunk.len() as u64;
    if end > conn.sent {
        return Err(Some(format!(
            "server echoed {} bytes more than we sent",
            end - conn.sent
        )));
    }
    let mut checked = 0;
    while checked < chunk.len() {
        let offset = conn.received + checked as u64;
        let len = (chunk.len() - checked).min((size - offset % size) as usize);
        let want = &pattern[pattern_at(conn.id, offset, size)..][..len];
        check_echo(offset, want, &chunk[checked..checked + len]).map_err(Some)?;
        checked += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for nanos in (0..100_000).chain([u32::MAX as u64, u64::MAX / 3]) {
            let bucket = bucket_of(nanos);
            assert!(bucket >= last, "{nanos}");
            last = bucket;
            let top = bucket_top(bucket);
            assert!(top >= nanos, "{nanos}: top {top}");
            assert!(top - nanos <= nanos / 31 + 1, "{nanos}: top {top}");
        }
        assert!(bucket_of(u64::MAX) < 64 * SUB_BUCKETS as usize);
    }

    #[test]
    fn the_stream_is_verified_across_message_boundaries() {
        let size = 300;
        let pattern: Vec<u8> = (0..PATTERN_PERIOD + 1000)
            .map(|i| (i % PATTERN_PERIOD) as u8)
            .collect();
        let stream: Vec<u8> = (0..4 * size)
            .map(|o| pattern[pattern_at(5, o, size)])
            .collect();
        let mut conn = Conn {
            id: 5,
            started: 4,
            completed: 0,
            sent: stream.len() as u64,
            received: 0,
            started_at: VecDeque::new(),
        };
        for piece in stream.chunks(170) {
            assert!(verify(&conn, piece, &pattern, size).is_ok());
            conn.received += piece.len() as u64;
        }
        conn.received = 0;
        let mut bad = stream.clone();
        bad[450] ^= 1;
        let err = verify(&conn, &bad, &pattern, size).unwrap_err().unwrap();
        assert!(err.starts_with("byte 450: "), "{err}");
        conn.id = 6; // another connection's stream
        assert!(verify(&conn, &stream, &pattern, size).is_err());
    }
}
