//! The course's three echo servers (blocking, a thread per client, one selector for all) and
//! the multi-connection client that drives them.
//!
//! Python programs in `docs/python/`, ported one per file:
//!
//! | module | Python | what it teaches |
//! |---|---|---|
//! | [`blocking`] | `echo_blocking.py` | the socket calls; one client at a time |
//! | [`threaded`] | `echo_threads.py` | concurrency by threads: simple, but a thread (and its stack) per client |
//! | [`multiplexed`] | `echo_server.py` | one thread watching every socket with the selector |
//! | [`protocol`] | asyncio's `EchoServerProtocol` | the same server on the protocol layer: a protocol, not a loop |
//! | [`client`] | `multiconn_client.py` | the client side: many non-blocking connections from one selector, every echoed byte checked |
//! | [`load`] | (none) | the load generator the benchmarks use: ping-pong or pipelined messages for a fixed time, latency percentiles, every byte checked |
//!
//! All three echo every byte in order, survive a client that resets or vanishes, and bound
//! what one connection can make them buffer ([`Stats::peak_buffered`]). docs/echo.md walks
//! through them side by side with the Python: [the echo guide](crate::guide::echo).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

pub mod blocking;
pub mod client;
pub mod load;
pub mod multiplexed;
pub mod protocol;
pub mod threaded;

pub use multiplexed::EchoServer;

/// Tuning knobs; [`Config::default`] is what the examples use.
///
/// Python: the constants at the top of `echo_server.py` (`RECV_SIZE`, `HIGH_WATER`,
/// `LOW_WATER`, `ACCEPT_PAUSE`), with the same values.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::Config;
///
/// let config = Config { high_water: 64 * 1024, low_water: 16 * 1024, ..Config::default() };
/// assert_eq!(config.max_buffered_per_connection(), 64 * 1024 + config.read_chunk);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Bytes read per event at most; also the size of the loop's one shared read buffer.
    pub read_chunk: usize,
    /// Stop reading from a connection while more than this many bytes wait to be echoed.
    pub high_water: usize,
    /// Resume reading once the waiting bytes drop below this.
    pub low_water: usize,
    /// How long to stop accepting after the process runs out of descriptors (or after the
    /// kernel refuses to watch the listener again).
    pub accept_backoff: Duration,
    /// The most connections [`EchoServer`] keeps open at once. At the cap it stops
    /// accepting (the listener leaves the selector, and new clients wait in the kernel's
    /// listen queue) until a connection closes. With backpressure this bounds the server's
    /// memory: about `max_conns` × [`max_buffered_per_connection`](Self::max_buffered_per_connection).
    /// Python: `echo_server.py` has no cap.
    pub max_conns: usize,
    /// [`EchoServer`] closes a connection that has had no event for this long: a client
    /// that neither sends nor reads (one that only sends, but never reads its echo, stops
    /// having events once backpressure pauses it). `None`: never. Checked a few times per
    /// timeout, so a connection closes between one and about 1.25 timeouts after its last
    /// event. Python: `echo_server.py` has no timeout.
    pub idle_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            read_chunk: 64 * 1024,
            high_water: 1024 * 1024,
            low_water: 256 * 1024,
            accept_backoff: Duration::from_millis(100),
            // 1024 connections that each fill their buffer hold about 1.1 GiB: the most a
            // teaching server should ever take. Raise it (and the descriptor limit) for load
            // tests.
            max_conns: 1024,
            idle_timeout: Some(Duration::from_secs(300)),
        }
    }
}

impl Config {
    /// The most bytes one connection can ever hold: a read may land just below the
    /// high-water mark and add one more chunk.
    pub fn max_buffered_per_connection(&self) -> usize {
        self.high_water + self.read_chunk
    }
}

/// Counters a server keeps, readable from any thread while it runs.
///
/// Python: none; the Python servers only log. The tests read these to check that a server
/// kept its promises (every byte echoed, memory bounded), and [`EchoServer`]'s example
/// shows them in use.
#[derive(Debug, Default)]
pub struct Stats {
    accepted: AtomicU64,
    open: AtomicUsize,
    bytes_echoed: AtomicU64,
    peak_buffered: AtomicUsize,
}

impl Stats {
    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Bytes written back to clients since start.
    pub fn bytes_echoed(&self) -> u64 {
        self.bytes_echoed.load(Ordering::Relaxed)
    }

    /// The most bytes any one connection has had waiting to be echoed: the figure
    /// backpressure bounds by [`Config::max_buffered_per_connection`].
    pub fn peak_buffered(&self) -> usize {
        self.peak_buffered.load(Ordering::Relaxed)
    }
}

/// Compares echoed bytes with the bytes sent at the same place in the stream; the error
/// names the first byte that differs by its `offset` in the stream, as the Python clients
/// do (`describe_mismatch` in `multiconn_client.py`).
fn check_echo(offset: u64, sent: &[u8], got: &[u8]) -> Result<(), String> {
    match sent.iter().zip(got).position(|(s, g)| s != g) {
        None => Ok(()),
        Some(i) => Err(format!(
            "byte {}: sent {:#04x}, got back {:#04x}",
            offset + i as u64,
            sent[i],
            got[i]
        )),
    }
}
