//! The protocol layer: asyncio's event loop, `Protocol` and `Transport`, on the crate's
//! [`Selector`].
//!
//! Python: `asyncio` (Lib/asyncio/base_events.py, selector_events.py, protocols.py,
//! transports.py). Write a [`Protocol`], hand a listener and a protocol factory to an
//! [`EventLoop`], and call [`run`](EventLoop::run): the loop accepts, reads, writes,
//! buffers, applies backpressure, runs timers and bounds everything, once for every
//! protocol, as src/echo/multiplexed.rs does by hand for one.
//!
//! | file | Python | what it holds |
//! |---|---|---|
//! | `mod.rs` | `BaseEventLoop`, `_SelectorSocketTransport._read_ready` | [`EventLoop`], [`Config`], dispatch, `settle` (callbacks owed, interest) |
//! | `accept.rs` | `_accept_connection` | listeners, the connection limit, the EMFILE back-off |
//! | `connect.rs` | `create_connection`, `sock_connect` | outgoing TCP and Unix-domain connections |
//! | `datagram.rs` | `_SelectorDatagramTransport` | UDP sockets, `send_to` |
//! | `protocol.rs` | `asyncio.Protocol`, `DatagramProtocol` | [`Protocol`], [`DatagramProtocol`], [`Lost`] |
//! | `context.rs` | the loop object | [`LoopContext`], [`Context`], [`DatagramContext`] |
//! | `transport.rs` | `asyncio.Transport` | [`Transport`], water marks, [`Written`], [`WriteError`] |
//! | `write_queue.rs` | the transport's `_buffer` | bytes and file regions in one queue |
//! | `timers.rs` | `call_later`, `TimerHandle` | the timer heap, [`TimerHandle`] |
//! | `handle.rs` | `call_soon_threadsafe` | [`LoopHandle`] |
//! | `pool.rs` | `run_in_executor` | worker pools: [`PoolId`], [`Done`], [`PoolError`] |
//! | `lines.rs` | `StreamReader.readline`, `LineOnlyReceiver` | [`LineDecoder`] |
//! | `stream.rs` | `socket.socket` | TCP or Unix stream, [`Addr`] |
//!
//! docs/protocols.md ([the guide](crate::guide::protocols)) maps asyncio onto this API
//! side by side and builds a protocol step by step.
//!
//! # What the loop promises
//!
//! * **One callback at a time, never one inside another.** A callback that makes another
//!   connection's state change (a write that fails, an abort) has that connection's
//!   callbacks delivered right after it returns, before the next event.
//! * **Bounded work per event.** One read of at most [`Config::read_size`] bytes per
//!   readable event, one `writev` (or `sendfile`) per writable event, at most
//!   [`Config::accept_batch`] accepts per listener event: the selector is level-triggered,
//!   so what is left is reported again next time, after everyone else had a turn.
//! * **Bounded memory.** No read buffer per connection (the loop has one); a write buffer
//!   only while bytes wait, with water marks that tell the protocol to stop producing.
//! * **No idle wake-ups.** With no timer due, `select` waits until a socket is ready.
//! * **One send per recipient per iteration.** A connection's own `write` goes out at once;
//!   writes to *other* connections are queued and sent once, after the iteration's events
//!   ([`Transport::write`]).
//! * **A panicking protocol hurts only itself.** Its connection is aborted and the loop
//!   goes on (asyncio logs a callback's exception and goes on); a panicking protocol
//!   factory costs the connection it was making.
//! * **No RST on a close with input unread,** for protocols that ask: a
//!   [lingering close](Transport::set_lingering_close) half-closes and drains first.
//! * **Idle connections make room.** At [`Config::max_connections`] the connection marked
//!   [reusable](Transport::set_reusable) the longest ago is closed for a new one.
//! * **Slow work goes elsewhere.** A job too slow for the loop's thread (a password hash,
//!   a blocking name lookup) runs on a bounded worker pool ([`EventLoop::add_pool`]), and
//!   its result comes back as a callback on the loop; a full pool refuses at once.
//! * **Descriptor exhaustion is survived.** `EMFILE`/`ENFILE` on accept takes the listener
//!   off the selector for [`Config::accept_backoff`] instead of spinning on it.

mod accept;
mod connect;
mod context;
mod datagram;
mod handle;
mod lines;
mod pool;
mod protocol;
mod stream;
mod timers;
mod transport;
mod write_queue;

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{debug, error, trace, warn};
use slab::Slab;

pub use context::{Connections, Context, DatagramContext, LoopContext};
pub use handle::{LoopClosed, LoopHandle};
pub use lines::{Line, LineDecoder, Lines};
pub use pool::{Done, PoolConfig, PoolError, PoolId, WorkFailed, WorkId, WorkPanicked};
pub use protocol::{DatagramProtocol, Lost, Protocol};
pub use stream::Addr;
pub use timers::TimerHandle;
pub use transport::{InvalidLimits, LingeringClose, Transport, WriteError, Written};

use handle::{Job, Shared};
use pool::Pool;
use stream::Stream;
use timers::Timers;
use transport::{CloseReason, StreamConn};

use crate::timeout::instant_after;
use crate::{Events, Selector, Stop, Token, EVENT_READ, EVENT_WRITE};

/// The loop's settings; [`Config::default`] gives asyncio's values where asyncio has one.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bytes read per readable event at most, and the size of the loop's one read buffer.
    /// Python: `max_size = 256 * 1024`; 64 KiB is Twisted's and the echo server's.
    pub read_size: usize,
    /// Default high-water mark of each connection: the most it may owe its peer (bytes in
    /// memory plus unsent file regions, [`Transport::unsent_bytes`]) before
    /// `pause_writing`. Python: 64 KiB.
    pub high_water: usize,
    /// Default low-water mark. Python: `high // 4`, 16 KiB.
    pub low_water: usize,
    /// Stream connections open at once, at most; one more is accepted, sent
    /// [`full_message`](Self::full_message) and closed. Keep it well below the descriptor
    /// limit so that this path has a descriptor to work with.
    pub max_connections: usize,
    /// What a connection over [`max_connections`](Self::max_connections) is sent before it
    /// is closed (one non-blocking write; empty: nothing).
    pub full_message: Vec<u8>,
    /// At [`max_connections`](Self::max_connections), stop accepting instead: listeners
    /// leave the selector, new clients wait in the kernel's listen queue, and accepting
    /// resumes as soon as a connection closes (the echo server's `--max-conns`). `false`
    /// (the default) accepts, sends [`full_message`](Self::full_message) and closes (chat's
    /// `! server full`).
    pub wait_when_full: bool,
    /// Accepts per listener event, at most. Python: `backlog = 100` doubles as this.
    pub accept_batch: usize,
    /// How long a listener rests after `accept` fails with `EMFILE`/`ENFILE`/`ENOBUFS`/
    /// `ENOMEM`. Python: `ACCEPT_RETRY_DELAY = 1` second.
    pub accept_backoff: Duration,
    /// Jobs from other threads run per iteration, at most (calloop#200); the rest wait for
    /// the next iteration, which then does not block.
    pub max_jobs_per_iteration: usize,
    /// The most one `sendfile(2)` of a [`Transport::write_file`] region moves per writable
    /// event: bounded work per event, so one big download does not keep the others
    /// waiting. Bigger steps cost fewer system calls per byte (nginx's
    /// `sendfile_max_chunk` is 2 MiB). Default 256 KiB.
    pub file_step: usize,
    /// Set `TCP_NODELAY` on every TCP connection. Python: asyncio always does
    /// (`base_events._set_nodelay`): protocols write whole messages, and Nagle's algorithm
    /// would hold back a reply's last segment until the previous one is acknowledged.
    pub tcp_nodelay: bool,
    /// A lingering close ([`Transport::set_lingering_close`]) ends once nothing arrived
    /// for this long. nginx: `lingering_timeout 5s`.
    pub lingering_timeout: Duration,
    /// A lingering close ends after this long in all, whatever the peer still sends.
    /// nginx: `lingering_time 30s`.
    pub lingering_time: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            read_size: 64 * 1024,
            high_water: 64 * 1024,
            low_water: 16 * 1024,
            max_connections: 10_000,
            full_message: Vec::new(),
            wait_when_full: false,
            accept_batch: 100,
            accept_backoff: Duration::from_secs(1),
            max_jobs_per_iteration: 1024,
            file_step: 256 * 1024,
            tcp_nodelay: true,
            lingering_timeout: Duration::from_secs(5),
            lingering_time: Duration::from_secs(30),
        }
    }
}

/// Counters the loop keeps, readable from any thread while it runs (tests, logs).
#[derive(Debug, Default)]
pub struct LoopStats {
    select_calls: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    open: AtomicUsize,
    datagrams_dropped: AtomicU64,
    accept_pauses: AtomicU64,
    pool_threads: AtomicUsize,
    pool_jobs: AtomicU64,
    pool_rejected: AtomicU64,
    reclaimed: AtomicU64,
    lingering_closes: AtomicU64,
    linger_probes: AtomicU64,
}

impl LoopStats {
    /// Calls to `Selector::select`: one per loop iteration. An idle loop adds none.
    pub fn select_calls(&self) -> u64 {
        self.select_calls.load(Ordering::Relaxed)
    }
    /// Connections accepted from listeners (rejected ones not included).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Connections turned away by [`Config::max_connections`].
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
    /// Stream connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
    /// Datagrams dropped because the socket's send buffer was full.
    pub fn datagrams_dropped(&self) -> u64 {
        self.datagrams_dropped.load(Ordering::Relaxed)
    }
    /// Times a listener was rested after running out of descriptors.
    pub fn accept_pauses(&self) -> u64 {
        self.accept_pauses.load(Ordering::Relaxed)
    }
    /// Worker threads of the loop's pools alive now. After the loop is dropped this falls
    /// to 0 as each thread finishes the job it was running.
    pub fn pool_threads(&self) -> usize {
        self.pool_threads.load(Ordering::Relaxed)
    }
    /// Jobs the loop's pools took.
    pub fn pool_jobs(&self) -> u64 {
        self.pool_jobs.load(Ordering::Relaxed)
    }
    /// Jobs refused because their pool was full ([`PoolError::Full`]).
    pub fn pool_rejected(&self) -> u64 {
        self.pool_rejected.load(Ordering::Relaxed)
    }
    /// Reusable connections ([`Transport::set_reusable`]) closed at
    /// [`Config::max_connections`] to make room for a new one.
    pub fn reclaimed(&self) -> u64 {
        self.reclaimed.load(Ordering::Relaxed)
    }
    /// Closes that lingered ([`Transport::set_lingering_close`]): half-closed, then read
    /// and discarded what the peer still sent.
    pub fn lingering_closes(&self) -> u64 {
        self.lingering_closes.load(Ordering::Relaxed)
    }
    /// Closes with [`LingeringClose::On`] that made a `read` to decide whether to linger
    /// (input was likely unread). Every other such close decided without a system call.
    pub fn linger_probes(&self) -> u64 {
        self.linger_probes.load(Ordering::Relaxed)
    }
}

/// Names a connection (or a UDP socket) on a loop, for [`LoopContext::write_to`] and
/// [`LoopContext::transport_of`]. Copy it into your application state.
///
/// Ids are never reused: a slot number plus a generation, so an id kept after its
/// connection closed names nothing (lookups give `None`), never a newer connection.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(Id);

/// Names a listener, for [`LoopContext::close_listener`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(Id);

#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Id {
    slot: u32,
    generation: u32,
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnId({}#{})", self.0.slot, self.0.generation)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.0.slot, self.0.generation)
    }
}

impl fmt::Debug for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListenerId({}#{})", self.0.slot, self.0.generation)
    }
}

/// What a timer does when it fires. Closures live in `Core::calls`, so this stays small
/// and the timer heap knows nothing of the application's types.
#[derive(Debug)]
pub(crate) enum Action {
    Call(usize),
    Protocol(ConnId),
    Idle(ConnId),
    ConnectTimeout(ConnId),
    ResumeAccept(ListenerId),
    Linger(ConnId),
}

/// The loop's bookkeeping that transports may touch (not generic over `S`).
pub(crate) struct State {
    pub(crate) config: Config,
    /// When the last `select` returned: the loop's clock (Python: `loop.time()`).
    pub(crate) now: Instant,
    pub(crate) timers: Timers<Action>,
    /// Entries to look at once the current callback returns.
    pub(crate) dirty: Vec<ConnId>,
    /// Connections with writes from other connections' callbacks, sent once per iteration.
    pub(crate) to_flush: Vec<ConnId>,
    /// The buffer of the `pread` fallback of `write_file`; empty unless used.
    pub(crate) file_buf: Vec<u8>,
    pub(crate) stats: Arc<LoopStats>,
    pub(crate) open_streams: usize,
    /// Listeners off the selector because `max_connections` are open (`wait_when_full`).
    pub(crate) full_listeners: Vec<ListenerId>,
    /// Connections that may be closed to make room ([`Transport::set_reusable`]), the
    /// longest idle first.
    pub(crate) reusable: BTreeSet<(Instant, ConnId)>,
    /// When the loop last said it closes reusable connections to make room (at most once
    /// a second, as nginx).
    pub(crate) reclaim_logged: Option<Instant>,
    next_generation: u32,
    /// The last [`WorkId`] given out.
    pub(crate) last_work: u64,
}

/// A protocol factory, type-erased.
type Factory<S> = Box<dyn FnMut() -> Box<dyn Protocol<S> + Send> + Send>;
/// A closure from `call_later`.
type Call<S> = Box<dyn FnOnce(&mut LoopContext<'_, S>) + Send>;

/// One registration of the loop: a listener, a stream connection or a UDP socket.
pub(crate) struct Entry<S> {
    generation: u32,
    fd: RawFd,
    /// The selector's token while registered; `None` while the entry wants no event.
    token: Option<Token>,
    interest: Events,
    kind: Kind<S>,
}

// Nearly every entry is a stream: the small variants (a few listeners and UDP sockets)
// waste little, and boxing the stream's state would cost an allocation and an indirection
// per connection to save nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kind<S> {
    Listener {
        socket: ListenSocket,
        factory: Factory<S>,
        /// Resting after `EMFILE`: off the selector until the timer puts it back.
        resting: bool,
        /// At the connection limit (`wait_when_full`): off the selector until one closes.
        full: bool,
    },
    Stream {
        conn: StreamConn,
        /// `None` while one of its callbacks runs (taken out, so that the callback can
        /// have `&mut` to it and the loop at once).
        protocol: Option<Box<dyn Protocol<S> + Send>>,
    },
    Datagram {
        socket: mio::net::UdpSocket,
        protocol: Option<Box<dyn DatagramProtocol<S> + Send>>,
        closing: bool,
        made: bool,
    },
}

pub(crate) enum ListenSocket {
    /// A TCP listener, and whether the sockets it accepts have `TCP_NODELAY` already
    /// (set on the listener, where the kernel passes it on).
    Tcp(mio::net::TcpListener, bool),
    Unix(mio::net::UnixListener),
}

/// Everything but the read buffer: what a callback's context borrows.
pub(crate) struct Core<S> {
    /// Watches descriptors only: the sockets themselves live in `entries`, so that a
    /// connection that wants no events (paused, nothing to write) can leave the selector
    /// and keep its id. The loop unregisters a descriptor before it closes its socket.
    sel: Selector<RawFd, usize>,
    pub(crate) entries: Slab<Entry<S>>,
    pub(crate) state: State,
    pub(crate) calls: Slab<Call<S>>,
    pub(crate) app: S,
    pub(crate) shared: Arc<Shared<S>>,
    /// The worker pools; dropped with the loop, which stops their threads.
    pub(crate) pools: Vec<Pool>,
}

/// An event loop that runs protocols: asyncio's loop, on the crate's level-triggered
/// [`Selector`].
///
/// Python: `asyncio.new_event_loop()` with `create_server`, `create_connection`,
/// `create_datagram_endpoint`, `call_later` and `run_forever`. `S` is the application
/// state every callback can reach ([`LoopContext::app`]); `()` if you need none.
///
/// One loop runs on one thread. For several cores, run one loop per thread, each with its
/// own listener bound with `SO_REUSEPORT`.
///
/// # Examples
///
/// ```
/// use mio_selectors::event_loop::{Context, EventLoop, Protocol};
/// use std::io::{Read, Write};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
///         let _ = ctx.write(data);
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut lp = EventLoop::new(())?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// lp.listen_tcp(listener, || Echo)?;
/// let handle = lp.handle();
/// let server = std::thread::spawn(move || lp.run());
///
/// let mut client = std::net::TcpStream::connect(addr)?;
/// client.write_all(b"hello")?;
/// let mut reply = [0; 5];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hello");
///
/// handle.stop();
/// server.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub struct EventLoop<S = ()> {
    core: Core<S>,
    /// The one read buffer, shared by every connection (lent to `data_received`).
    buf: Box<[u8]>,
    /// The due timers of the current iteration, run one by one (still cancellable).
    due: Vec<TimerHandle>,
    jobs: VecDeque<Job<S>>,
}

/// The largest UDP payload (65,527 bytes over IPv6) fits, so no datagram is truncated.
const MIN_READ_BUFFER: usize = 64 * 1024;

/// The longest `select` timeout the loop asks for. Python: `MAXIMUM_SELECT_TIMEOUT`.
const MAX_SELECT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl<S: 'static> EventLoop<S> {
    /// A loop with the default [`Config`] and `app` as the shared state.
    ///
    /// # Errors
    /// The OS error creating the selector or its waker.
    pub fn new(app: S) -> io::Result<EventLoop<S>> {
        EventLoop::with_config(app, Config::default())
    }

    /// A loop with `config`.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_config(app: S, mut config: Config) -> io::Result<EventLoop<S>> {
        // A read of 0 bytes returns 0, which is how end of file looks: every connection
        // would seem closed by its peer. One byte is the smallest read that means anything.
        config.read_size = config.read_size.max(1);
        let mut sel = Selector::new()?;
        let stop = Stop::new(&mut sel)?;
        let buf = vec![0; config.read_size.max(MIN_READ_BUFFER)].into_boxed_slice();
        Ok(EventLoop {
            core: Core {
                sel,
                entries: Slab::new(),
                state: State {
                    config,
                    now: Instant::now(),
                    timers: Timers::default(),
                    dirty: Vec::new(),
                    to_flush: Vec::new(),
                    file_buf: Vec::new(),
                    stats: Arc::default(),
                    open_streams: 0,
                    full_listeners: Vec::new(),
                    reusable: BTreeSet::new(),
                    reclaim_logged: None,
                    next_generation: 0,
                    last_work: 0,
                },
                calls: Slab::new(),
                app,
                shared: Arc::new(Shared {
                    queue: Mutex::new(VecDeque::new()),
                    closed: AtomicBool::new(false),
                    stop,
                }),
                pools: Vec::new(),
            },
            buf,
            due: Vec::new(),
            jobs: VecDeque::new(),
        })
    }

    /// The loop's context, to do from outside a callback what a callback can (add
    /// listeners, connect, set timers, write to a connection). What it changes takes
    /// effect when the loop next runs.
    pub fn context(&mut self) -> LoopContext<'_, S> {
        // Between runs the loop's clock stands still: set it, so that timers set from here
        // count from now.
        self.core.state.now = Instant::now();
        LoopContext {
            core: &mut self.core,
        }
    }

    /// Serves TCP connections from `listener`; see [`LoopContext::listen_tcp`].
    ///
    /// # Errors
    /// As [`LoopContext::listen_tcp`].
    pub fn listen_tcp<P, F>(
        &mut self,
        listener: std::net::TcpListener,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        P: Protocol<S> + Send + 'static,
        F: FnMut() -> P + Send + 'static,
    {
        self.core.listen_tcp(listener, factory)
    }

    /// Serves Unix-domain connections from `listener`; see [`LoopContext::listen_unix`].
    ///
    /// # Errors
    /// As [`LoopContext::listen_unix`].
    pub fn listen_unix<P, F>(
        &mut self,
        listener: UnixListener,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        P: Protocol<S> + Send + 'static,
        F: FnMut() -> P + Send + 'static,
    {
        self.core.listen_unix(listener, factory)
    }

    /// Runs a UDP socket; see [`LoopContext::add_udp`].
    ///
    /// # Errors
    /// As [`LoopContext::add_udp`].
    pub fn add_udp<D>(&mut self, socket: std::net::UdpSocket, protocol: D) -> io::Result<ConnId>
    where
        D: DatagramProtocol<S> + Send + 'static,
    {
        self.core.add_udp(socket, protocol)
    }

    /// Opens a TCP connection; see [`LoopContext::connect_tcp`].
    ///
    /// # Errors
    /// As [`LoopContext::connect_tcp`].
    pub fn connect_tcp<P>(
        &mut self,
        addr: SocketAddr,
        protocol: P,
        timeout: Option<Duration>,
    ) -> io::Result<ConnId>
    where
        P: Protocol<S> + Send + 'static,
    {
        self.core.connect_tcp(addr, protocol, timeout)
    }

    /// Runs `f` after `delay`; see [`LoopContext::call_later`].
    pub fn call_later(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut LoopContext<'_, S>) + Send + 'static,
    ) -> TimerHandle {
        self.context().call_later(delay, f)
    }

    /// Starts a worker pool; see [`LoopContext::add_pool`].
    ///
    /// # Errors
    /// As [`LoopContext::add_pool`].
    pub fn add_pool(&mut self, workers: usize, queue: usize) -> io::Result<PoolId> {
        self.add_pool_with(PoolConfig::new(workers, queue))
    }

    /// Starts a worker pool as `config` says; see [`LoopContext::add_pool_with`].
    ///
    /// # Errors
    /// As [`LoopContext::add_pool`].
    pub fn add_pool_with(&mut self, config: PoolConfig) -> io::Result<PoolId> {
        self.core.add_pool(config)
    }

    /// Runs `f` at `when`; see [`LoopContext::call_at`].
    ///
    /// Python: `loop.call_at(when, callback)`, `when` on `loop.time()`'s clock; here an
    /// [`Instant`], the clock of [`LoopContext::now`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::event_loop::EventLoop;
    /// use std::time::{Duration, Instant};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut lp = EventLoop::new(Vec::new())?;
    /// let start = Instant::now();
    /// // Set out of order: they run by deadline.
    /// lp.call_at(start + Duration::from_millis(40), |ctx| {
    ///     ctx.app().push("second");
    ///     ctx.stop();
    /// });
    /// lp.call_at(start + Duration::from_millis(20), |ctx| ctx.app().push("first"));
    /// lp.run()?;
    /// assert_eq!(*lp.app(), ["first", "second"]);
    /// assert!(start.elapsed() >= Duration::from_millis(40));
    /// # Ok(())
    /// # }
    /// ```
    pub fn call_at(
        &mut self,
        when: Instant,
        f: impl FnOnce(&mut LoopContext<'_, S>) + Send + 'static,
    ) -> TimerHandle {
        self.context().call_at(when, f)
    }

    /// A handle to call into the loop or stop it from other threads.
    pub fn handle(&self) -> LoopHandle<S> {
        LoopHandle::new(&self.core.shared)
    }

    /// Stops this loop on the first SIGINT (Ctrl-C) or SIGTERM, from a small thread:
    /// [`run`](Self::run) returns `Ok(())` and the program ends its own way. A second
    /// signal ends the process at once. See [`crate::signal`].
    ///
    /// Python: `loop.add_signal_handler(signal.SIGINT, loop.stop)` (and SIGTERM); or the
    /// `KeyboardInterrupt` that Ctrl-C raises in a plain `run_forever()`.
    ///
    /// # Errors
    /// The OS error installing the handlers or starting the thread.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mio_selectors::event_loop::EventLoop;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut lp = EventLoop::new(())?;
    /// // ... listen_tcp, connect_tcp ...
    /// lp.stop_on_ctrl_c()?;
    /// lp.run()?; // returns after Ctrl-C or `kill`
    /// println!("stopped; {} connections were open", lp.stats().open());
    /// # Ok(())
    /// # }
    /// ```
    pub fn stop_on_ctrl_c(&self) -> io::Result<()> {
        crate::signal::stop_on_ctrl_c(self.core.shared.stop.clone())
    }

    /// The loop's counters, shared: read them from any thread.
    pub fn stats(&self) -> Arc<LoopStats> {
        Arc::clone(&self.core.state.stats)
    }

    /// The application state.
    pub fn app(&self) -> &S {
        &self.core.app
    }

    /// The application state, to change between runs.
    pub fn app_mut(&mut self) -> &mut S {
        &mut self.core.app
    }

    /// Runs until stopped ([`LoopContext::stop`], [`LoopHandle::stop`]), then returns;
    /// connections stay open, and `run` may be called again. Dropping the loop closes
    /// every socket (without callbacks).
    ///
    /// Python: `loop.run_forever()`.
    ///
    /// # Errors
    /// An error of the selector itself (the kernel failing the wait), or a listener that
    /// can never accept (`EINVAL`, `ENOTSOCK`: not listening): that would fail the same way
    /// on every event, so the loop stops and says so.
    pub fn run(&mut self) -> io::Result<()> {
        let result = loop {
            if let Err(err) = self.run_once(true) {
                break Err(err);
            }
            if self.core.shared.stop.is_stopped() {
                break Ok(());
            }
        };
        self.core.shared.stop.reset();
        result
    }

    /// One iteration: wait for events (not at all if `block` is false, or if work is
    /// already waiting), handle them, run due timers and jobs from other threads.
    ///
    /// Python: `BaseEventLoop._run_once()`.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_once(&mut self, block: bool) -> io::Result<()> {
        // Whatever was done from outside a callback (context(), another thread's job) is
        // delivered first.
        self.core.settle();
        self.core.flush_deferred();
        let timeout = self.select_timeout(block);
        let ready = self.core.sel.select(timeout)?;
        self.core
            .state
            .stats
            .select_calls
            .fetch_add(1, Ordering::Relaxed);
        self.core.state.now = Instant::now();
        trace!("loop: {} ready, timeout {timeout:?}", ready.len());
        for (token, mask) in ready {
            // A key unregistered earlier in this batch is gone: skip it.
            let Ok(key) = self.core.sel.get_key(token) else {
                continue;
            };
            let slot = key.data;
            self.dispatch(slot, token, mask)?;
            self.core.settle();
        }
        self.run_timers();
        self.run_jobs();
        self.core.flush_deferred();
        Ok(())
    }

    /// How long `select` may wait: not at all while work is waiting; else until the next
    /// timer; else until a socket is ready (no idle wake-ups). Python: `_run_once` step 2.
    fn select_timeout(&mut self, block: bool) -> Option<Duration> {
        let busy = !block
            || !self.core.state.dirty.is_empty()
            || !self.core.state.to_flush.is_empty()
            || !self.jobs.is_empty()
            || self.core.shared.stop.is_stopped()
            || !self
                .core
                .shared
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty();
        if busy {
            return Some(Duration::ZERO);
        }
        let next = self.core.state.timers.next_deadline()?;
        Some(
            next.saturating_duration_since(Instant::now())
                .min(MAX_SELECT_TIMEOUT),
        )
    }

    /// Handles one `(token, mask)` from `select`.
    fn dispatch(&mut self, slot: usize, token: Token, mask: Events) -> io::Result<()> {
        let entry = &self.core.entries[slot];
        let id = Id {
            slot: slot as u32,
            generation: entry.generation,
        };
        match &entry.kind {
            Kind::Listener { .. } => self.core.accept(ListenerId(id), token)?,
            Kind::Stream { conn, .. } if conn.connecting => self.core.finish_connect(ConnId(id)),
            Kind::Stream { .. } => self.stream_ready(ConnId(id), token, mask),
            Kind::Datagram { .. } => self.datagram_ready(ConnId(id), token),
        }
        Ok(())
    }

    /// A stream is readable or writable: one read, one write at most (bounded work).
    fn stream_ready(&mut self, id: ConnId, token: Token, mask: Events) {
        let core = &mut self.core;
        let read_size = core.state.config.read_size;
        let now = core.state.now;
        let Some(conn) = core.stream_mut(id) else {
            return;
        };
        if conn.linger.is_some() {
            if mask.contains(EVENT_READ) {
                // Lingering: what arrives is read and thrown away, one read per event.
                match conn.stream.read(&mut self.buf[..read_size]) {
                    Ok(0) => conn.end_linger(),
                    Ok(_) => {
                        if let Some(linger) = &mut conn.linger {
                            linger.last_read = now;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        let _ = core.sel.mark_drained(token, EVENT_READ);
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => conn.fail(Lost::from_io(err)),
                }
                core.mark_dirty(id);
            }
            return;
        }
        if mask.contains(EVENT_READ) && conn.wants_read() {
            // While a job of the connection's runs on a pool, nothing is read: a peek tells
            // whether the peer left (end of file, reset) without taking a pipelined request.
            let peeking = conn.pending_work > 0;
            // Python: one recv(256 KiB) per event into a fresh bytes object; here one read of
            // `read_size` (64 KiB) into the loop's buffer, lent to data_received.
            let result = if peeking {
                conn.stream.peek(&mut self.buf[..1])
            } else {
                conn.stream.read(&mut self.buf[..read_size])
            };
            match result {
                // Python: `_read_ready__on_eof`. Reading stops either way; the protocol
                // decides whether the connection stays open for writing.
                Ok(0) => {
                    conn.read_eof = true;
                    let keep_open = core.call_stream(id, |p, ctx| p.eof_received(ctx));
                    if keep_open == Some(false) {
                        if let Some(conn) = core.stream_mut(id) {
                            conn.close_with(CloseReason::PeerClosed);
                        }
                    }
                }
                Ok(_) if peeking => {
                    conn.work_peeked = true;
                    core.mark_dirty(id);
                }
                Ok(n) => {
                    conn.last_active = now;
                    // A full buffer: more is likely behind it. A short read took what the
                    // kernel had (nginx clears `rev->ready` the same way); for exactness
                    // the selector still asks (see `mark_drained`), this is a heuristic.
                    conn.input_likely = n == read_size;
                    let data = &self.buf[..n];
                    core.call_stream(id, |p, ctx| p.data_received(ctx, data));
                }
                // The only proof that a socket is empty (a short read proves nothing:
                // urgent data and SCM_RIGHTS end a read early). Tell the selector, so
                // that its next select() need not ask the kernel about this socket.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    conn.input_likely = false;
                    let _ = core.sel.mark_drained(token, EVENT_READ);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    conn.fail(Lost::from_io(err));
                    core.mark_dirty(id);
                }
            }
        } else if mask.contains(EVENT_READ) {
            // Readable while not reading: a close watching for input (`watches_input`)
            // hears that some came after the last read. Noted, and the watch ends (the
            // interest is recomputed), so a level-triggered selector does not report the
            // same bytes on every call.
            conn.input_likely = true;
            core.mark_dirty(id);
        }
        if mask.contains(EVENT_WRITE) {
            let Core { entries, state, .. } = &mut *core;
            if let Some(conn) = stream_in(entries, id).filter(|conn| conn.wants_write()) {
                conn.flush(state);
                core.mark_dirty(id);
            }
        }
    }

    /// Runs every timer due now, in deadline order. Python: `_run_once` steps 4-5.
    fn run_timers(&mut self) {
        let mut due = std::mem::take(&mut self.due);
        self.core
            .state
            .timers
            .pop_due(self.core.state.now, &mut due);
        for handle in due.drain(..) {
            // Taken only now: a callback earlier in this batch may have cancelled it.
            // Python: `_run_once` skips `handle._cancelled` entries of `_ready`.
            let Some(action) = self.core.state.timers.take_due(handle) else {
                continue;
            };
            self.core.fire(handle, action);
            self.core.settle();
        }
        self.due = due;
    }

    /// Runs the jobs other threads sent, up to the per-iteration bound.
    fn run_jobs(&mut self) {
        if self.jobs.is_empty() {
            let mut queue = self
                .core
                .shared
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if queue.is_empty() {
                return;
            }
            std::mem::swap(&mut *queue, &mut self.jobs);
        }
        for _ in 0..self.core.state.config.max_jobs_per_iteration.max(1) {
            let Some(job) = self.jobs.pop_front() else {
                break;
            };
            let core = &mut self.core;
            if guarded(|| job(&mut LoopContext { core })).is_none() {
                error!("a job from another thread panicked; the loop goes on");
            }
            self.core.settle();
        }
    }
}

impl<S: 'static> Core<S> {
    /// What a timer does when it fires.
    fn fire(&mut self, handle: TimerHandle, action: Action) {
        match action {
            Action::Call(slot) => {
                let call = self.calls.remove(slot);
                if guarded(|| call(&mut LoopContext { core: self })).is_none() {
                    error!("a call_later callback panicked; the loop goes on");
                }
            }
            Action::Protocol(id) => {
                if self.stream_mut(id).is_some_and(|conn| conn.lost.is_none()) {
                    self.call_stream(id, |p, ctx| p.timer_fired(ctx, handle));
                }
            }
            Action::Idle(id) => self.check_idle(id, handle),
            Action::ConnectTimeout(id) => {
                if let Some(conn) = self.stream_mut(id) {
                    conn.connect_timer = None;
                    if conn.connecting {
                        conn.fail(Lost::Error(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "connect timed out",
                        )));
                        self.mark_dirty(id);
                    }
                }
            }
            Action::ResumeAccept(id) => self.resume_accepting(id),
            Action::Linger(id) => self.check_linger(id, handle),
        }
    }

    /// A close with `linger_due`: linger, or end it now if there is no call for it.
    fn start_linger(&mut self, id: ConnId) {
        let now = self.state.now;
        let Some(conn) = stream_in(&mut self.entries, id) else {
            return;
        };
        conn.linger_due = false;
        if conn.lingering == LingeringClose::On {
            // Is input waiting unread? nginx answers from what it knows (`rev->ready`,
            // which a short read clears), and so does the loop (`input_likely`): after a
            // short last read with nothing reported since, close at once, no system call.
            if !conn.input_likely {
                return conn.end_linger();
            }
            // Likely: one read finds out, and discards it if so.
            self.state
                .stats
                .linger_probes
                .fetch_add(1, Ordering::Relaxed);
            let mut probe = [0; 512];
            match conn.stream.read(&mut probe) {
                Ok(n) if n > 0 => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    // Nothing waiting: a plain close sends no RST.
                    return conn.end_linger();
                }
                Ok(_) => return conn.end_linger(), // the peer closed too
                Err(err) => return conn.fail(Lost::from_io(err)),
            }
        }
        // RFC 9112 §9.6: half-close first, so the peer reads end of file after our last
        // byte and closes its side, which we then read.
        if let Err(err) = conn.stream.shutdown_write() {
            return conn.fail(Lost::from_io(err));
        }
        if let Some(timer) = conn.idle_timer.take() {
            self.state.timers.cancel(timer);
        }
        let config = &self.state.config;
        let until = instant_after(now, config.lingering_time);
        let first = instant_after(now, config.lingering_timeout).min(until);
        let timer = self.state.timers.insert(first, Action::Linger(id));
        conn.linger = Some(Box::new(transport::Linger {
            until,
            last_read: now,
            timer,
        }));
        // A lingering close is the first to go when room is needed (nginx does the same).
        if conn.reusable_since.is_none() {
            conn.reusable_since = Some(now);
            self.state.reusable.insert((now, id));
        }
        self.state
            .stats
            .lingering_closes
            .fetch_add(1, Ordering::Relaxed);
        debug!("{id:?}: lingering close");
    }

    /// The linger's timer fired: end it if it is over, else look again when it could be.
    fn check_linger(&mut self, id: ConnId, handle: TimerHandle) {
        let now = self.state.now;
        let timeout = self.state.config.lingering_timeout;
        let Some(conn) = stream_in(&mut self.entries, id) else {
            return;
        };
        let Some(linger) = &mut conn.linger else {
            return;
        };
        if linger.timer != handle {
            return;
        }
        let quiet_until = instant_after(linger.last_read, timeout);
        if now >= linger.until || now >= quiet_until {
            debug!("{id:?}: lingering close over");
            conn.end_linger();
        } else {
            linger.timer = self
                .state
                .timers
                .insert(quiet_until.min(linger.until), Action::Linger(id));
            return;
        }
        self.mark_dirty(id);
    }

    /// The idle timer fired. If the connection was active since it was set, set it again
    /// for the time that is left (no timer work per read); else time it out.
    fn check_idle(&mut self, id: ConnId, handle: TimerHandle) {
        let now = self.state.now;
        let Some(conn) = stream_in(&mut self.entries, id) else {
            return;
        };
        if conn.idle_timer != Some(handle) {
            return; // replaced (set_idle_timeout again) since it was set: not ours to act on
        }
        conn.idle_timer = None;
        let Some(idle) = conn.idle else {
            return;
        };
        if conn.closing {
            // Closing, with bytes still to send: fine while the peer takes them, dropped
            // after a whole period in which it took none (else a peer that never reads
            // would hold the connection, and its buffer, forever).
            if conn.lost.is_none() {
                let unsent = conn.queue.unsent();
                if conn.unsent_at_check == Some(unsent) {
                    debug!("{id:?}: closing, and nothing sent for {idle:?}: dropped");
                    conn.fail(Lost::TimedOut);
                    self.mark_dirty(id);
                } else {
                    conn.unsent_at_check = Some(unsent);
                    conn.idle_timer = Some(
                        self.state
                            .timers
                            .insert(instant_after(now, idle), Action::Idle(id)),
                    );
                }
            }
            return;
        }
        // Waiting for its pool job is not idleness: the connection does not read meanwhile,
        // through no fault of the peer's.
        let last_active = if conn.pending_work > 0 {
            now
        } else {
            conn.last_active
        };
        let deadline = instant_after(last_active, idle);
        if deadline > now {
            conn.idle_timer = Some(self.state.timers.insert(deadline, Action::Idle(id)));
            return;
        }
        debug!("{id:?}: idle for {idle:?}");
        self.call_stream(id, |p, ctx| p.timed_out(ctx));
        if let Some(conn) = stream_in(&mut self.entries, id) {
            conn.close_with(CloseReason::TimedOut);
            if conn.lost.is_none() {
                // The farewell (or what was queued) could not all go yet: one more period.
                conn.unsent_at_check = Some(conn.queue.unsent());
                conn.idle_timer = Some(
                    self.state
                        .timers
                        .insert(instant_after(now, idle), Action::Idle(id)),
                );
            }
        }
    }
}

impl<S> Drop for EventLoop<S> {
    fn drop(&mut self) {
        // Jobs sent from other threads and not yet run are dropped here, with the loop,
        // not kept alive by the handles' share of the queue; later sends get `LoopClosed`.
        self.core.shared.close();
    }
}

impl<S> fmt::Debug for EventLoop<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("entries", &self.core.entries.len())
            .field("open_streams", &self.core.state.open_streams)
            .field("timers", &self.core.state.timers.len())
            .finish_non_exhaustive()
    }
}

impl<S: 'static> Core<S> {
    pub(crate) fn transport(&mut self, id: ConnId) -> Option<Transport<'_>> {
        transport_in(&mut self.entries, &mut self.state, id)
    }

    pub(crate) fn cancel_timer(&mut self, timer: TimerHandle) -> bool {
        match self.state.timers.cancel(timer) {
            Some(Action::Call(slot)) => {
                drop(self.calls.remove(slot));
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    fn entry_mut(&mut self, id: Id) -> Option<&mut Entry<S>> {
        entry_in(&mut self.entries, id)
    }

    fn stream_mut(&mut self, id: ConnId) -> Option<&mut StreamConn> {
        stream_in(&mut self.entries, id)
    }

    /// Adds an entry (not yet on the selector) and returns its id.
    fn insert(&mut self, fd: RawFd, kind: Kind<S>) -> Id {
        let generation = self.state.next_generation;
        self.state.next_generation = generation.wrapping_add(1);
        if matches!(kind, Kind::Stream { .. }) {
            self.state.open_streams += 1;
            self.state
                .stats
                .open
                .store(self.state.open_streams, Ordering::Relaxed);
        }
        let slot = self.entries.insert(Entry {
            generation,
            fd,
            token: None,
            interest: Events::empty(),
            kind,
        });
        let slot = u32::try_from(slot).expect("more than 4 billion connections");
        Id { slot, generation }
    }

    /// Takes an entry off the selector, then drops it, closing its socket (in that order:
    /// the kernel must not watch a descriptor number that is about to be reused).
    fn remove(&mut self, id: Id) {
        let Some(entry) = self.entry_mut(id) else {
            return;
        };
        if let Some(token) = entry.token.take() {
            let forgotten = match entry.kind {
                // A stream's socket was made by mio inside the loop and never duplicated
                // (protocols never see it): closing it takes it out of epoll, so the
                // `epoll_ctl(DEL)` of a plain unregister would be a wasted system call.
                Kind::Stream { .. } => self.sel.unregister_for_close(token),
                // Listeners and UDP sockets came from the caller, who may hold a `dup`.
                _ => self.sel.unregister(token).map(drop),
            };
            if let Err(err) = forgotten {
                debug!("unregister {token}: {err}");
            }
        }
        let entry = self.entries.remove(id.slot as usize);
        if let Kind::Stream { conn, .. } = entry.kind {
            self.state.open_streams -= 1;
            self.state
                .stats
                .open
                .store(self.state.open_streams, Ordering::Relaxed);
            if self.state.open_streams < self.state.config.max_connections {
                self.resume_full_listeners();
            }
            let linger = conn.linger.as_ref().map(|linger| linger.timer);
            for timer in [conn.idle_timer, conn.connect_timer, linger]
                .into_iter()
                .flatten()
            {
                self.state.timers.cancel(timer);
            }
            if let Some(cancelled) = &conn.work_cancelled {
                // Its jobs still waiting for a worker are skipped; results of running
                // ones find no connection and are dropped.
                cancelled.store(true, Ordering::Release);
            }
            if let Some(since) = conn.reusable_since {
                self.state.reusable.remove(&(since, ConnId(id)));
            }
        }
    }

    /// Sends what other connections' callbacks wrote to each connection this iteration:
    /// one `writev` per connection, however many writes made it up.
    fn flush_deferred(&mut self) {
        let mut ids = std::mem::take(&mut self.state.to_flush);
        for &id in &ids {
            let Core { entries, state, .. } = &mut *self;
            if let Some(conn) = stream_in(entries, id) {
                conn.flush_pending = false;
                conn.flush(state);
                self.mark_dirty(id);
            }
        }
        ids.clear();
        self.state.to_flush = ids; // empty, and keeps its capacity

        // Callbacks that `settle` delivers (resume_writing, connection_lost) may write to
        // others again: those are sent at the start of the next iteration, which then does
        // not wait.
        self.settle();
    }

    /// Puts `id` on the list `settle` works through.
    fn mark_dirty(&mut self, id: ConnId) {
        if let Some(conn) = self.stream_mut(id) {
            if std::mem::replace(&mut conn.dirty, true) {
                return;
            }
        }
        self.state.dirty.push(id);
    }

    /// Calls one of a stream protocol's methods with its context. The protocol is taken
    /// out of its entry for the call, so that it and the loop can both be borrowed.
    fn call_stream<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut dyn Protocol<S>, &mut Context<'_, S>) -> R,
    ) -> Option<R> {
        let Some(Entry {
            kind: Kind::Stream { protocol, .. },
            ..
        }) = self.entry_mut(id.0)
        else {
            return None;
        };
        let mut protocol = protocol.take()?;
        let result = guarded(|| {
            f(
                &mut *protocol,
                &mut Context {
                    lp: LoopContext { core: self },
                    id,
                },
            )
        });
        if let Some(Entry {
            kind: Kind::Stream {
                protocol: slot,
                conn,
            },
            ..
        }) = self.entry_mut(id.0)
        {
            match result {
                Some(_) => *slot = Some(protocol),
                None => {
                    // The protocol's state is whatever the panic left: drop it, and the
                    // connection with it (without further callbacks); the others go on.
                    error!("{id:?}: the protocol panicked; aborting its connection");
                    conn.fail(Lost::Aborted);
                }
            }
        }
        self.mark_dirty(id);
        result
    }

    /// Delivers what the last callback left to deliver, until nothing is left: protocol
    /// callbacks owed to connections (made, pause/resume writing, lost), and selector
    /// interest brought in line with each connection's state. Runs after every callback,
    /// so effects on other connections come before the next event, never inside a callback.
    pub(crate) fn settle(&mut self) {
        let mut i = 0;
        while i < self.state.dirty.len() {
            let id = self.state.dirty[i];
            i += 1;
            self.settle_one(id);
        }
        self.state.dirty.clear();
    }

    fn settle_one(&mut self, id: ConnId) {
        if self.stream_mut(id).is_some_and(|conn| conn.linger_due) {
            self.start_linger(id);
        }
        let Some(entry) = self.entry_mut(id.0) else {
            return; // closed since it was marked
        };
        match &mut entry.kind {
            Kind::Stream { conn, .. } => {
                conn.dirty = false;
                if conn.lost.is_some() {
                    return self.finish_stream(id);
                }
                if !conn.made && !conn.connecting {
                    // Python: `call_soon(protocol.connection_made, self)`, then
                    // `call_soon(self._add_reader, ...)`: reading starts after it returns,
                    // below, so a pause_reading() in connection_made holds.
                    conn.made = true;
                    self.call_stream(id, |p, ctx| p.connection_made(ctx));
                } else if conn.write_paused != conn.told_paused && !conn.closing {
                    // Python: asyncio calls pause_writing() from inside write(); the writer's
                    // protocol is borrowed by its callback here, so the loop calls it now,
                    // right after. A closing connection is told nothing (Kludex/zuvloop#33).
                    conn.told_paused = conn.write_paused;
                    let pause = conn.write_paused;
                    self.call_stream(id, |p, ctx| {
                        if pause {
                            p.pause_writing(ctx);
                        } else {
                            p.resume_writing(ctx);
                        }
                    });
                }
            }
            Kind::Datagram { made, closing, .. } => {
                if *closing {
                    return self.finish_datagram(id);
                }
                if !std::mem::replace(made, true) {
                    self.call_datagram(id, |p, ctx| p.connection_made(ctx));
                }
            }
            Kind::Listener { .. } => {}
        }
        if let Err(err) = self.apply_interest(id.0) {
            warn!("cannot watch {id:?}: {err}; closing it");
            match self.stream_mut(id) {
                Some(conn) => {
                    conn.fail(Lost::Error(err.into()));
                    self.mark_dirty(id);
                }
                None => self.remove(id.0),
            }
        }
    }

    /// Tells the selector what the entry waits for now. An entry that waits for nothing
    /// (reading paused, nothing to write) leaves the selector: a level-triggered selector
    /// would otherwise report it on every call, and `select` cannot watch "no events".
    fn apply_interest(&mut self, id: Id) -> crate::Result<()> {
        let Some(entry) = entry_in(&mut self.entries, id) else {
            return Ok(());
        };
        let wanted = entry.wanted();
        if wanted == entry.interest {
            return Ok(());
        }
        match entry.token {
            Some(token) if wanted.is_empty() => {
                self.sel.unregister(token)?;
                entry.token = None;
            }
            Some(token) => {
                self.sel.modify_events(token, wanted)?;
            }
            None => {
                // Every socket of the loop is non-blocking: mio made the accepted and
                // connected ones so, and the loop set the listeners and UDP sockets.
                let token = self
                    .sel
                    .register_nonblocking(entry.fd, wanted, id.slot as usize)
                    .map_err(|err| err.error)?;
                entry.token = Some(token);
            }
        }
        entry.interest = wanted;
        Ok(())
    }

    /// Delivers `connection_lost` (or `connection_failed`) and closes the connection.
    fn finish_stream(&mut self, id: ConnId) {
        let Some(conn) = self.stream_mut(id) else {
            return;
        };
        let reason = conn.lost.take().unwrap_or(Lost::Closed);
        conn.closing = true;
        if conn.connecting {
            // Python: create_connection() raises; a callback has no exception to catch.
            let error = match reason {
                Lost::Error(err) => err,
                other => io::Error::new(io::ErrorKind::ConnectionAborted, other.to_string()),
            };
            debug!("{id:?}: connection failed: {error}");
            self.call_stream(id, |p, ctx| p.connection_failed(ctx, error));
        } else if conn.made {
            debug!("{id:?}: connection lost: {reason}");
            self.call_stream(id, |p, ctx| p.connection_lost(ctx, reason));
        }
        self.remove(id.0);
    }

    /// A stream connection was accepted or connected: add it, with connection_made owed.
    fn add_stream(
        &mut self,
        stream: Stream,
        peer: Option<Addr>,
        protocol: Box<dyn Protocol<S> + Send>,
        connecting: bool,
        nodelay_set: bool,
    ) -> ConnId {
        if let (Stream::Tcp(tcp), true, false) =
            (&stream, self.state.config.tcp_nodelay, nodelay_set)
        {
            if let Err(err) = tcp.set_nodelay(true) {
                debug!("TCP_NODELAY: {err}");
            }
        }
        let fd = stream.as_raw_fd();
        let conn = StreamConn::new(stream, peer, &self.state, connecting);
        let id = ConnId(self.insert(
            fd,
            Kind::Stream {
                conn,
                protocol: Some(protocol),
            },
        ));
        self.mark_dirty(id);
        id
    }
}

impl<S> Entry<S> {
    /// The events this entry should be registered for, from its state.
    fn wanted(&self) -> Events {
        match &self.kind {
            Kind::Listener {
                resting: false,
                full: false,
                ..
            } => EVENT_READ,
            Kind::Listener { .. } => Events::empty(),
            Kind::Stream { conn, .. } => {
                let mut events = Events::empty();
                if conn.wants_read() || conn.watches_input() {
                    events |= EVENT_READ;
                }
                if conn.wants_write() {
                    events |= EVENT_WRITE;
                }
                events
            }
            Kind::Datagram { closing: false, .. } => EVENT_READ,
            Kind::Datagram { closing: true, .. } => Events::empty(),
        }
    }
}

/// Runs a callback, catching a panic so that one protocol's bug ends its own connection,
/// not every connection on the loop. The panic's message has been printed by then (the
/// panic hook runs first); `None` says it happened.
// Python: asyncio catches a callback's exception, logs it through the loop's exception
// handler, and goes on; a Rust panic is the closest thing.
fn guarded<R>(f: impl FnOnce() -> R) -> Option<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// The entry `id` names, if it is still there (same slot, same generation).
fn entry_in<S>(entries: &mut Slab<Entry<S>>, id: Id) -> Option<&mut Entry<S>> {
    entries
        .get_mut(id.slot as usize)
        .filter(|entry| entry.generation == id.generation)
}

fn stream_in<S>(entries: &mut Slab<Entry<S>>, id: ConnId) -> Option<&mut StreamConn> {
    match &mut entry_in(entries, id.0)?.kind {
        Kind::Stream { conn, .. } => Some(conn),
        _ => None,
    }
}

/// The transport of stream connection `id` in `entries`, if it is there.
pub(crate) fn transport_in<'a, S>(
    entries: &'a mut Slab<Entry<S>>,
    state: &'a mut State,
    id: ConnId,
) -> Option<Transport<'a>> {
    let entry = entries.get_mut(id.0.slot as usize)?;
    if entry.generation != id.0.generation {
        return None;
    }
    match &mut entry.kind {
        Kind::Stream { conn, .. } => Some(Transport {
            id,
            conn,
            state,
            deferred: true,
        }),
        _ => None,
    }
}
