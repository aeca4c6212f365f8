//! The protocol layer: asyncio's event loop, `Protocol` and `Transport`, on the crate's
//! [`Selector`](crate::Selector).
//!
//! Python: `asyncio` (Lib/asyncio/base_events.py, selector_events.py, protocols.py,
//! transports.py). Write a [`Protocol`], hand a listener and a protocol factory to an
//! [`EventLoop`], and call [`run`](EventLoop::run): the loop accepts, reads, writes,
//! buffers, applies backpressure, runs timers and bounds everything, once for every
//! protocol, as src/echo/multiplexed.rs does by hand for one.
//!
//! | file | Python | what it holds |
//! |---|---|---|
//! | `mod.rs` | `BaseEventLoop`, `_SelectorSocketTransport._read_ready` | [`EventLoop`], [`Config`], dispatch, accept, connect |
//! | `protocol.rs` | `asyncio.Protocol`, `DatagramProtocol` | [`Protocol`], [`DatagramProtocol`], [`Lost`] |
//! | `context.rs` | the loop object | [`LoopContext`], [`Context`], [`DatagramContext`] |
//! | `transport.rs` | `asyncio.Transport` | [`Transport`], water marks, [`Written`], [`WriteError`] |
//! | `write_queue.rs` | the transport's `_buffer` | bytes and file regions in one queue |
//! | `timers.rs` | `call_later`, `TimerHandle` | the timer heap, [`TimerHandle`] |
//! | `handle.rs` | `call_soon_threadsafe` | [`LoopHandle`] |
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
//! * **Descriptor exhaustion is survived.** `EMFILE`/`ENFILE` on accept takes the listener
//!   off the selector for [`Config::accept_backoff`] instead of spinning on it.

mod context;
mod handle;
mod lines;
mod protocol;
mod stream;
mod timers;
mod transport;
mod write_queue;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{debug, error, info, trace, warn};
use slab::Slab;

pub use context::{Connections, Context, DatagramContext, LoopContext};
pub use handle::{LoopClosed, LoopHandle};
pub use lines::{Line, LineDecoder, Lines};
pub use protocol::{DatagramProtocol, Lost, Protocol};
pub use stream::Addr;
pub use timers::TimerHandle;
pub use transport::{InvalidLimits, Transport, WriteError, Written};

use handle::{Job, Shared};
use stream::Stream;
use timers::Timers;
use transport::{is_retry, CloseReason, StreamConn};

use crate::{Events, Selector, Stop, Token, EVENT_READ, EVENT_WRITE};

/// The loop's settings; [`Config::default`] gives asyncio's values where asyncio has one.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bytes read per readable event at most, and the size of the loop's one read buffer.
    /// Python: `max_size = 256 * 1024`; 64 KiB is Twisted's and the echo server's.
    pub read_size: usize,
    /// Default high-water mark of each write buffer. Python: 64 KiB.
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
    /// Accepts per listener event, at most. Python: `backlog = 100` doubles as this.
    pub accept_batch: usize,
    /// How long a listener rests after `accept` fails with `EMFILE`/`ENFILE`/`ENOBUFS`/
    /// `ENOMEM`. Python: `ACCEPT_RETRY_DELAY = 1` second.
    pub accept_backoff: Duration,
    /// Jobs from other threads run per iteration, at most (calloop#200); the rest wait for
    /// the next iteration, which then does not block.
    pub max_jobs_per_iteration: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            read_size: 64 * 1024,
            high_water: 64 * 1024,
            low_water: 16 * 1024,
            max_connections: 10_000,
            full_message: Vec::new(),
            accept_batch: 100,
            accept_backoff: Duration::from_secs(1),
            max_jobs_per_iteration: 1024,
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
}

/// The loop's bookkeeping that transports may touch (not generic over `S`).
pub(crate) struct State {
    pub(crate) config: Config,
    /// When the last `select` returned: the loop's clock (Python: `loop.time()`).
    pub(crate) now: Instant,
    pub(crate) timers: Timers<Action>,
    /// Entries to look at once the current callback returns.
    pub(crate) dirty: Vec<ConnId>,
    /// The buffer of the `pread` fallback of `write_file`; empty unless used.
    pub(crate) file_buf: Vec<u8>,
    pub(crate) stats: Arc<LoopStats>,
    pub(crate) open_streams: usize,
    next_generation: u32,
}

/// A protocol factory, type-erased.
type Factory<S> = Box<dyn FnMut() -> Box<dyn Protocol<S>>>;
/// A closure from `call_later`.
type Call<S> = Box<dyn FnOnce(&mut LoopContext<'_, S>)>;

/// One registration of the loop: a listener, a stream connection or a UDP socket.
pub(crate) struct Entry<S> {
    generation: u32,
    fd: RawFd,
    /// The selector's token while registered; `None` while the entry wants no event.
    token: Option<Token>,
    interest: Events,
    kind: Kind<S>,
}

pub(crate) enum Kind<S> {
    Listener {
        socket: ListenSocket,
        factory: Factory<S>,
        /// Resting after `EMFILE`: off the selector until the timer puts it back.
        resting: bool,
    },
    Stream {
        conn: StreamConn,
        /// `None` while one of its callbacks runs (taken out, so that the callback can
        /// have `&mut` to it and the loop at once).
        protocol: Option<Box<dyn Protocol<S>>>,
    },
    Datagram {
        socket: mio::net::UdpSocket,
        protocol: Option<Box<dyn DatagramProtocol<S>>>,
        closing: bool,
    },
}

pub(crate) enum ListenSocket {
    Tcp(mio::net::TcpListener),
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
    due: Vec<(TimerHandle, Action)>,
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
    pub fn with_config(app: S, config: Config) -> io::Result<EventLoop<S>> {
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
                    file_buf: Vec::new(),
                    stats: Arc::default(),
                    open_streams: 0,
                    next_generation: 0,
                },
                calls: Slab::new(),
                app,
                shared: Arc::new(Shared {
                    queue: Mutex::new(VecDeque::new()),
                    closed: AtomicBool::new(false),
                    stop,
                }),
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
        P: Protocol<S> + 'static,
        F: FnMut() -> P + 'static,
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
        P: Protocol<S> + 'static,
        F: FnMut() -> P + 'static,
    {
        self.core.listen_unix(listener, factory)
    }

    /// Runs a UDP socket; see [`LoopContext::add_udp`].
    ///
    /// # Errors
    /// As [`LoopContext::add_udp`].
    pub fn add_udp<D>(&mut self, socket: std::net::UdpSocket, protocol: D) -> io::Result<ConnId>
    where
        D: DatagramProtocol<S> + 'static,
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
        P: Protocol<S> + 'static,
    {
        self.core.connect_tcp(addr, protocol, timeout)
    }

    /// Runs `f` after `delay`; see [`LoopContext::call_later`].
    pub fn call_later(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut LoopContext<'_, S>) + 'static,
    ) -> TimerHandle {
        self.context().call_later(delay, f)
    }

    /// A handle to call into the loop or stop it from other threads.
    pub fn handle(&self) -> LoopHandle<S> {
        LoopHandle::new(&self.core.shared)
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
        todo!("{block}")
    }
}

impl<S> Drop for EventLoop<S> {
    fn drop(&mut self) {
        self.core.shared.closed.store(true, Ordering::Release);
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

    /// Like `transport`, also for a connection that is closing (its own callbacks).
    pub(crate) fn transport_any(&mut self, id: ConnId) -> Option<Transport<'_>> {
        transport_in(&mut self.entries, &mut self.state, id)
    }

    pub(crate) fn cancel_timer(&mut self, timer: TimerHandle) -> bool {
        match self.state.timers.cancel(timer) {
            Some(Action::Call(slot)) => {
                self.calls.remove(slot);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    pub(crate) fn listen_tcp<P, F>(
        &mut self,
        listener: std::net::TcpListener,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        P: Protocol<S> + 'static,
        F: FnMut() -> P + 'static,
    {
        todo!()
    }

    pub(crate) fn listen_unix<P, F>(
        &mut self,
        listener: UnixListener,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        P: Protocol<S> + 'static,
        F: FnMut() -> P + 'static,
    {
        todo!()
    }

    pub(crate) fn close_listener(&mut self, id: ListenerId) -> bool {
        todo!()
    }

    pub(crate) fn add_udp<D>(
        &mut self,
        socket: std::net::UdpSocket,
        protocol: D,
    ) -> io::Result<ConnId>
    where
        D: DatagramProtocol<S> + 'static,
    {
        todo!()
    }

    pub(crate) fn connect_tcp<P>(
        &mut self,
        addr: SocketAddr,
        protocol: P,
        timeout: Option<Duration>,
    ) -> io::Result<ConnId>
    where
        P: Protocol<S> + 'static,
    {
        todo!()
    }

    pub(crate) fn connect_unix<P>(&mut self, path: &Path, protocol: P) -> io::Result<ConnId>
    where
        P: Protocol<S> + 'static,
    {
        todo!()
    }

    pub(crate) fn send_to(
        &mut self,
        id: ConnId,
        data: &[u8],
        addr: SocketAddr,
    ) -> io::Result<bool> {
        todo!()
    }

    pub(crate) fn udp_local_addr(&self, id: ConnId) -> io::Result<SocketAddr> {
        todo!()
    }

    pub(crate) fn close_udp(&mut self, id: ConnId) {
        todo!()
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
        Kind::Stream { conn, .. } => Some(Transport { id, conn, state }),
        _ => None,
    }
}
