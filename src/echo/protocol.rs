//! Port of `asyncio`'s echo server from its docs (`class EchoServerProtocol`, whose
//! `data_received` writes the data back), run like `docs/python/echo_server.py`: the loop
//! is the library's, and the server is the few lines of [`Echo`].
//!
//! Compare it with [`multiplexed`](super::multiplexed), which does by hand what
//! [`EventLoop`] does here for every protocol: accept, buffer, backpressure, half-close,
//! fairness, descriptor exhaustion, stop. It behaves the same, and the same tests run
//! against both (tests/echo.rs).

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use log::{debug, info};

use super::{Config, Stats};
use crate::event_loop::{self, Context, EventLoop, Lost, Protocol};
use crate::Stop;

/// Echo: every byte read is written back.
///
/// Python: `data_received(self, data): self.transport.write(data)`. The rest is
/// backpressure: when a client sends faster than it reads, its echo piles up in the write
/// buffer; over the high-water mark the loop calls `pause_writing`, and the protocol stops
/// reading from that client until the buffer drains. The client's TCP window then closes:
/// the client waits, not the server. End of file needs no code: `eof_received` returns
/// `false` by default, so the connection closes once every byte has gone back.
#[derive(Debug)]
pub struct Echo {
    stats: Arc<Stats>,
    idle_timeout: Option<Duration>,
}

impl Echo {
    /// An echo protocol that counts into `stats`.
    pub fn new(stats: Arc<Stats>) -> Echo {
        Echo {
            stats,
            idle_timeout: None,
        }
    }

    /// Closes a connection after `timeout` with no progress either way (nothing received,
    /// nothing sent), as [`Config::idle_timeout`] does for [`EchoServer`](super::EchoServer).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Echo {
        self.idle_timeout = timeout;
        self
    }
}

impl<S: 'static> Protocol<S> for Echo {
    fn connection_made(&mut self, ctx: &mut Context<'_, S>) {
        if self.idle_timeout.is_some() {
            // Sending counts as activity: a client reading a long echo slowly is not idle.
            ctx.transport().set_io_timeout(self.idle_timeout);
        }
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        debug!("{:?}: connected", ctx.id());
    }

    fn data_received(&mut self, ctx: &mut Context<'_, S>, data: &[u8]) {
        let mut transport = ctx.transport();
        if transport.write(data).is_ok() {
            let stats = &self.stats;
            stats
                .bytes_echoed
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            stats
                .peak_buffered
                .fetch_max(transport.get_write_buffer_size(), Ordering::Relaxed);
        }
    }

    fn pause_writing(&mut self, ctx: &mut Context<'_, S>) {
        ctx.transport().pause_reading();
    }

    fn resume_writing(&mut self, ctx: &mut Context<'_, S>) {
        ctx.transport().resume_reading();
    }

    fn connection_lost(&mut self, ctx: &mut Context<'_, S>, reason: Lost) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
        debug!("{:?}: {reason}", ctx.id());
    }
}

/// An [`EventLoop`] serving [`Echo`] on one listener, with the same interface as
/// [`EchoServer`](super::EchoServer), so examples, tests and benchmarks can swap them.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::protocol::EchoProtocolServer;
/// use mio_selectors::echo::Config;
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = EchoProtocolServer::new(TcpListener::bind("127.0.0.1:0")?, Config::default())?;
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
pub struct EchoProtocolServer {
    lp: EventLoop,
    stats: Arc<Stats>,
    local_addr: SocketAddr,
}

impl EchoProtocolServer {
    /// Prepares the server on a bound listener (port 0 lets the OS pick).
    ///
    /// # Errors
    /// The OS error if the loop cannot be created or the listener watched.
    pub fn new(listener: TcpListener, config: Config) -> io::Result<EchoProtocolServer> {
        let local_addr = listener.local_addr()?;
        let mut lp = EventLoop::with_config(
            (),
            event_loop::Config {
                read_size: config.read_chunk,
                high_water: config.high_water,
                low_water: config.low_water,
                accept_backoff: config.accept_backoff,
                // At the cap, clients wait in the listen queue, as EchoServer's do.
                max_connections: config.max_conns.max(1),
                wait_when_full: true,
                ..event_loop::Config::default()
            },
        )?;
        let stats = Arc::new(Stats::default());
        let counters = Arc::clone(&stats);
        let idle_timeout = config.idle_timeout;
        lp.listen_tcp(listener, move || {
            Echo::new(Arc::clone(&counters)).idle_timeout(idle_timeout)
        })?;
        Ok(EchoProtocolServer {
            lp,
            stats,
            local_addr,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that ends [`run`](Self::run) from another thread (tests, Ctrl-C).
    pub fn stop_handle(&self) -> Stop {
        self.lp.handle().stop_handle()
    }

    /// The server's counters, shared with the running loop.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Serves until stopped, then closes every connection.
    ///
    /// # Errors
    /// As [`EventLoop::run`].
    pub fn run(mut self) -> io::Result<()> {
        // Debug, not info: the program says where it listens.
        debug!(
            "echo server (protocol layer) listening on {}",
            self.local_addr
        );
        let result = self.lp.run();
        info!(
            "echo server stopping; closing {} connections",
            self.stats.open()
        );
        drop(self.lp); // closes every socket
        self.stats.open.store(0, Ordering::Relaxed);
        result
    }
}

impl fmt::Debug for EchoProtocolServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoProtocolServer")
            .field("local_addr", &self.local_addr)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
