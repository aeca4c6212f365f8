//! Port of `docs/python/udp_echo.py`: a UDP echo server, and [`client`], the client that
//! measures it.
//!
//! UDP has no connections: one socket receives datagrams from anyone, each with its
//! sender's address, and the server sends each one straight back. There is no accept, no
//! per-client state and no end of file. What the course's UDP lesson points out:
//!
//! * **A datagram comes whole or not at all.** One receive into a buffer of 64 KiB takes the
//!   largest one ([`MAX_PAYLOAD_V4`], [`MAX_PAYLOAD_V6`]); an empty datagram is a datagram
//!   too.
//! * **UDP is unreliable.** When the socket's send buffer is full, the reply is dropped (and
//!   counted), never queued and never waited for; the client retries if it cares.
//! * **Errors concern one peer**: an ICMP "port unreachable" from a vanished sender comes
//!   back as `ConnectionRefused` on a later call, and is logged, not fatal.
//! * **One datagram per event**, like the TCP servers' one read: the loop's level-triggered
//!   selector reports the socket again while more are queued.
//!
//! The server is a [`DatagramProtocol`] on the [`EventLoop`]: a few lines, because the
//! layer receives into its shared buffer and [`send_to`](DatagramContext::send_to) already
//! drops on a full buffer rather than queue or block.

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use log::{debug, info};

use crate::event_loop::{DatagramContext, DatagramProtocol, EventLoop, LoopHandle};
use crate::Stop;

pub mod client;

/// The examples' default port: echo is 65432, chat 65433, UDP echo 65434.
pub const DEFAULT_PORT: u16 = 65434;

/// The largest UDP payload over IPv4: 65,535 minus the 20-byte IP and 8-byte UDP headers.
pub const MAX_PAYLOAD_V4: usize = 65_507;

/// The largest UDP payload over IPv6: 65,535 minus the 8-byte UDP header (the IPv6 header
/// is not counted in its payload length).
pub const MAX_PAYLOAD_V6: usize = 65_527;

/// The largest payload to or from `addr`'s address family.
///
/// # Examples
///
/// ```
/// use mio_selectors::udp_echo::{max_payload, MAX_PAYLOAD_V6};
///
/// assert_eq!(max_payload(&"[::1]:9".parse().unwrap()), MAX_PAYLOAD_V6);
/// assert_eq!(max_payload(&"127.0.0.1:9".parse().unwrap()), 65_507);
/// ```
pub fn max_payload(addr: &std::net::SocketAddr) -> usize {
    if addr.is_ipv6() {
        MAX_PAYLOAD_V6
    } else {
        MAX_PAYLOAD_V4
    }
}

/// Counters the server keeps, readable from any thread while it runs.
///
/// Python: the `stats` dict of `udp_echo.py`, logged at exit.
#[derive(Debug, Default)]
pub struct Stats {
    received: AtomicU64,
    echoed: AtomicU64,
    dropped: AtomicU64,
}

impl Stats {
    /// Datagrams received.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
    /// Datagrams sent back.
    pub fn echoed(&self) -> u64 {
        self.echoed.load(Ordering::Relaxed)
    }
    /// Replies dropped: the send buffer was full, or sending failed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, echoed {}, dropped {}",
            self.received(),
            self.echoed(),
            self.dropped()
        )
    }
}

/// The protocol: every datagram straight back to where it came from.
struct Echo {
    stats: Arc<Stats>,
}

impl DatagramProtocol for Echo {
    fn datagram_received(&mut self, ctx: &mut DatagramContext<'_>, data: &[u8], addr: SocketAddr) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        debug!("{addr}: {} bytes", data.len());
        match ctx.send_to(data, addr) {
            Ok(true) => {
                self.stats.echoed.fetch_add(1, Ordering::Relaxed);
            }
            // Python: `except BlockingIOError`: UDP promises nothing, so drop the reply
            // rather than queue it or wait for room.
            Ok(false) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                debug!("{addr}: send buffer full, reply dropped");
            }
            Err(err) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                info!("{addr}: send_to: {err}");
            }
        }
    }

    fn error_received(&mut self, _ctx: &mut DatagramContext<'_>, error: io::Error) {
        // An ICMP error about an earlier reply (its sender went away): one peer's
        // problem, not the server's.
        info!("UDP error: {error}");
    }
}

/// The UDP echo server. Python: `docs/python/udp_echo.py`.
///
/// # Examples
///
/// ```
/// use mio_selectors::udp_echo::UdpEchoServer;
/// use std::net::UdpSocket;
///
/// # fn main() -> std::io::Result<()> {
/// let socket = UdpSocket::bind("127.0.0.1:0")?;
/// let addr = socket.local_addr()?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let thread = std::thread::spawn(move || -> std::io::Result<()> {
///     let mut server = UdpEchoServer::new(socket)?; // the loop is built on its own thread
///     tx.send(server.stop_handle()).unwrap();
///     server.run()
/// });
/// let stop = rx.recv().unwrap();
///
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
/// client.send_to(b"ping", addr)?;
/// let mut buf = [0; 16];
/// let (n, from) = client.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], addr));
///
/// stop.stop();
/// thread.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub struct UdpEchoServer {
    lp: EventLoop,
    addr: SocketAddr,
    stats: Arc<Stats>,
}

impl UdpEchoServer {
    /// A server on `socket`; it serves nothing until [`run`](Self::run).
    ///
    /// # Errors
    /// If the loop cannot be created or the socket registered.
    pub fn new(socket: UdpSocket) -> io::Result<UdpEchoServer> {
        let addr = socket.local_addr()?;
        let stats = Arc::new(Stats::default());
        let mut lp = EventLoop::new(())?;
        lp.add_udp(
            socket,
            Echo {
                stats: Arc::clone(&stats),
            },
        )?;
        Ok(UdpEchoServer { lp, addr, stats })
    }

    /// Where it receives.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its counters, shared: they stay readable after the server is gone.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// A handle that stops [`run`](Self::run) from any thread.
    pub fn stop_handle(&self) -> Stop {
        self.lp.handle().stop_handle()
    }

    /// The loop's handle.
    pub fn handle(&self) -> LoopHandle<()> {
        self.lp.handle()
    }

    /// Serves until stopped.
    ///
    /// # Errors
    /// Only if the selector fails.
    pub fn run(&mut self) -> io::Result<()> {
        self.lp.run()
    }
}

impl fmt::Debug for UdpEchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpEchoServer")
            .field("addr", &self.addr)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
