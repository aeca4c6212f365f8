//! What a callback can reach: the loop ([`LoopContext`]), and its own connection
//! ([`Context`]) or datagram socket ([`DatagramContext`]).
//!
//! Python: a protocol keeps the `transport` it was given in `connection_made` and finds
//! the loop with `asyncio.get_running_loop()`; shared state is any object it can reach. In
//! Rust the loop owns every connection, so each callback is lent a context instead: its own
//! transport, the application state `S`, and *other* connections by [`ConnId`], never their
//! protocol objects (that is what keeps the borrow checker, and the reader, sure that one
//! callback cannot run inside another). Facts several connections share (chat's nickname
//! table) belong in `S`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use slab::Slab;

use super::handle::LoopHandle;
use super::pool::{PoolConfig, PoolError, PoolId, WorkId, WorkPanicked};
use super::protocol::{DatagramProtocol, Protocol};
use super::timers::TimerHandle;
use super::transport::{Transport, WriteError, Written};
use super::{Action, ConnId, Core, Entry, ListenerId, State};
use crate::timeout::instant_after;

/// The loop as a callback sees it: application state, other connections, timers, stop.
///
/// Python: the `asyncio` event loop object (`loop.call_later`, `loop.stop`, ...), plus
/// whatever shared object the protocols were given.
pub struct LoopContext<'a, S = ()> {
    pub(crate) core: &'a mut Core<S>,
}

/// A stream connection's callback context: the loop, plus this connection's transport.
///
/// Dereferences to [`LoopContext`], so `ctx.app()`, `ctx.write_to(..)` and
/// `ctx.call_later(..)` work on it too.
pub struct Context<'a, S = ()> {
    pub(crate) lp: LoopContext<'a, S>,
    pub(crate) id: ConnId,
}

/// A datagram socket's callback context: the loop, plus `send_to` on this socket.
pub struct DatagramContext<'a, S = ()> {
    pub(crate) lp: LoopContext<'a, S>,
    pub(crate) id: ConnId,
}

/// Every connection's transport, by id, borrowed apart from the application state: see
/// [`LoopContext::split`].
pub struct Connections<'a, S> {
    pub(crate) entries: &'a mut Slab<Entry<S>>,
    pub(crate) state: &'a mut State,
}

impl<S: 'static> LoopContext<'_, S> {
    /// The application state shared by every callback. Python: whatever object the
    /// protocol factory closed over.
    pub fn app(&mut self) -> &mut S {
        &mut self.core.app
    }

    /// The application state and every connection at once, for a loop that writes to the
    /// connections named in the state (a chat broadcast) without collecting their ids first.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::event_loop::{ConnId, LoopContext};
    ///
    /// fn broadcast(ctx: &mut LoopContext<'_, Vec<ConnId>>, line: &[u8]) {
    ///     let (members, mut conns) = ctx.split();
    ///     for &id in members.iter() {
    ///         let _ = conns.write_to(id, line);
    ///     }
    /// }
    /// # let _ = broadcast;
    /// ```
    pub fn split(&mut self) -> (&mut S, Connections<'_, S>) {
        let core = &mut *self.core;
        (
            &mut core.app,
            Connections {
                entries: &mut core.entries,
                state: &mut core.state,
            },
        )
    }

    /// Another connection's transport, or `None` if `id` names no open stream connection
    /// (it closed, or the id is stale: ids are never reused).
    pub fn transport_of(&mut self, id: ConnId) -> Option<Transport<'_>> {
        self.core.transport(id)
    }

    /// Writes to the connection `id`; see [`Transport::write`].
    ///
    /// # Errors
    /// [`WriteError::Closed`] if `id` names no open connection, else as [`Transport::write`].
    pub fn write_to(&mut self, id: ConnId, data: &[u8]) -> Result<Written, WriteError> {
        self.core
            .transport(id)
            .ok_or(WriteError::Closed)?
            .write(data)
    }

    /// Stream connections open now (accepted and outgoing).
    pub fn connections(&self) -> usize {
        self.core.state.open_streams
    }

    /// Runs `f` on the loop after `delay`. Python: `loop.call_later(delay, callback)`.
    ///
    /// The loop sleeps until the earliest timer is due; timers due at the same instant
    /// run in the order they were set. `f` runs once, after that iteration's I/O.
    pub fn call_later(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut LoopContext<'_, S>) + Send + 'static,
    ) -> TimerHandle {
        // Python: `loop.time() + delay`, the clock read afresh; here the loop's clock, read
        // once per iteration when select() returns (callbacks take microseconds).
        let when = instant_after(self.core.state.now, delay);
        self.call_at(when, f)
    }

    /// Runs `f` on the loop at `when` (a time on [`now`](Self::now)'s clock). Python:
    /// `loop.call_at(when, callback)`.
    ///
    /// A `when` already past is due at once: `f` runs at the loop's next pass over its
    /// timers, as with a zero `call_later`. For deadlines that must not drift however
    /// often they are re-armed (a request that must finish by a fixed time, a tick every
    /// second on the second), compute the next one from the last `when`, not from `now`.
    pub fn call_at(
        &mut self,
        when: Instant,
        f: impl FnOnce(&mut LoopContext<'_, S>) + Send + 'static,
    ) -> TimerHandle {
        let slot = self.core.calls.insert(Box::new(f));
        self.core.state.timers.insert(when, Action::Call(slot))
    }

    /// Cancels a timer; returns `false` if it already ran or was cancelled. Python:
    /// `TimerHandle.cancel()`.
    pub fn cancel(&mut self, timer: TimerHandle) -> bool {
        self.core.cancel_timer(timer)
    }

    /// The loop's clock: when this iteration's `select` returned. Python: `loop.time()`.
    pub fn now(&self) -> Instant {
        self.core.state.now
    }

    /// Stops the loop after this iteration. Python: `loop.stop()`.
    pub fn stop(&mut self) {
        self.core.shared.stop.stop();
    }

    /// A handle for other threads. Python: the loop object with `call_soon_threadsafe`.
    pub fn handle(&self) -> LoopHandle<S> {
        LoopHandle::new(&self.core.shared)
    }

    /// Starts a pool of `workers` threads for jobs too slow for the loop's thread, with
    /// room for `queue` jobs waiting beside the running ones; see [`run_in_executor`](Self::run_in_executor)
    /// and [`Context::run_in_pool`]. The pool stops when the loop is dropped.
    ///
    /// Python: `concurrent.futures.ThreadPoolExecutor(max_workers=workers)` passed to
    /// `loop.set_default_executor`; its queue has no bound.
    ///
    /// The threads run [`PoolConfig::DEFAULT_NICE`] nice levels below this thread, so
    /// the loop comes first when CPUs are short; [`add_pool_with`](Self::add_pool_with)
    /// chooses.
    ///
    /// # Errors
    /// `InvalidInput` for 0 workers; the OS error if a thread cannot be started.
    pub fn add_pool(&mut self, workers: usize, queue: usize) -> io::Result<PoolId> {
        self.add_pool_with(PoolConfig::new(workers, queue))
    }

    /// Starts a pool as `config` says: [`add_pool`](Self::add_pool) with a chosen
    /// priority ([`PoolConfig::nice`]).
    ///
    /// # Errors
    /// As [`add_pool`](Self::add_pool).
    pub fn add_pool_with(&mut self, config: PoolConfig) -> io::Result<PoolId> {
        self.core.add_pool(config)
    }

    /// Runs `job` on a thread of `pool`, then `done` with its result on the loop's thread,
    /// at a later iteration (never inside this call). If the loop is dropped first, `done`
    /// never runs.
    ///
    /// Python: `loop.run_in_executor(executor, job)`, with `done` as the future's done
    /// callback. For a job on behalf of one connection use [`Context::run_in_pool`], which
    /// also pauses the connection and forgets the result if it closes.
    ///
    /// # Errors
    /// [`PoolError::Full`] at once if `pool` already holds its `workers + queue` jobs
    /// (nothing runs; `done` is dropped), [`PoolError::Unknown`] for an id of another loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::event_loop::EventLoop;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut lp = EventLoop::new(0u64)?;
    /// let pool = lp.add_pool(2, 16)?;
    /// lp.context().run_in_executor(
    ///     pool,
    ///     || (1..=20u64).product::<u64>(), // runs on a worker thread
    ///     |ctx, result| {
    ///         *ctx.app() = result.unwrap(); // runs on the loop's thread
    ///         ctx.stop();
    ///     },
    /// )?;
    /// lp.run()?;
    /// assert_eq!(*lp.app(), 2_432_902_008_176_640_000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_in_executor<T, W, D>(
        &mut self,
        pool: PoolId,
        job: W,
        done: D,
    ) -> Result<(), PoolError>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        D: FnOnce(&mut LoopContext<'_, S>, Result<T, WorkPanicked>) + Send + 'static,
    {
        self.core.run_in_executor(pool, job, done)
    }

    /// Serves TCP connections from `listener`, each with a protocol from `factory`.
    ///
    /// Python: `loop.create_server(protocol_factory, sock=listener)`.
    ///
    /// # Errors
    /// The OS error making it non-blocking or watching it.
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

    /// Serves Unix-domain stream connections from `listener`. Python:
    /// `loop.create_unix_server(protocol_factory, sock=listener)`.
    ///
    /// # Errors
    /// As [`listen_tcp`](Self::listen_tcp).
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

    /// Stops accepting on a listener and closes it; returns `false` if it was not open.
    /// Connections it accepted stay. Python: `Server.close()`.
    pub fn close_listener(&mut self, id: ListenerId) -> bool {
        self.core.close_listener(id)
    }

    /// Runs a UDP socket with `protocol`. Python:
    /// `loop.create_datagram_endpoint(protocol_factory, sock=socket)`.
    ///
    /// # Errors
    /// As [`listen_tcp`](Self::listen_tcp).
    pub fn add_udp<D>(&mut self, socket: std::net::UdpSocket, protocol: D) -> io::Result<ConnId>
    where
        D: DatagramProtocol<S> + Send + 'static,
    {
        self.core.add_udp(socket, protocol)
    }

    /// Opens a TCP connection to `addr` without blocking. `protocol` gets
    /// `connection_made` once it is open, or `connection_failed` with the error if it is
    /// refused or `timeout` passes first (`io::ErrorKind::TimedOut`).
    ///
    /// Python: `loop.create_connection(protocol_factory, host, port)`, which raises instead
    /// of calling back.
    ///
    /// # Errors
    /// Only an error the OS reports at once (no socket, a bad address); refusal comes later,
    /// through `connection_failed`.
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

    /// Opens a Unix-domain stream connection to `path`. Python:
    /// `loop.create_unix_connection(protocol_factory, path)`.
    ///
    /// # Errors
    /// The OS error (no such socket, refused): a Unix-domain connect answers at once.
    pub fn connect_unix<P>(&mut self, path: impl AsRef<Path>, protocol: P) -> io::Result<ConnId>
    where
        P: Protocol<S> + Send + 'static,
    {
        self.core.connect_unix(path.as_ref(), protocol)
    }
}

impl<S: 'static> Context<'_, S> {
    /// This connection's id: store it (in `S`) to write to it from other callbacks.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// This connection's transport. Its writes go to the socket at once when nothing is
    /// queued (unlike writes to other connections, which wait for the end of the iteration).
    pub fn transport(&mut self) -> Transport<'_> {
        let mut transport = self
            .lp
            .core
            .transport(self.id)
            .expect("a connection's entry lives until its connection_lost returns");
        transport.deferred = false; // its own connection: send at once
        transport
    }

    /// Writes to this connection: `ctx.transport().write(data)`.
    ///
    /// # Errors
    /// As [`Transport::write`].
    pub fn write(&mut self, data: &[u8]) -> Result<Written, WriteError> {
        self.transport().write(data)
    }

    /// Closes this connection after flushing: `ctx.transport().close()`.
    pub fn close(&mut self) {
        self.transport().close();
    }

    /// Runs `job` on a thread of `pool` for this connection, and calls the protocol's
    /// [`work_done`](Protocol::work_done) with its result on the loop's thread.
    ///
    /// Until then the connection reads nothing (the peer's bytes wait in the kernel, so a
    /// pipelined request cannot overtake the one being checked) and its idle timeout does
    /// not run; writing works as usual. If the connection closes first, `work_done` is
    /// never called: a job still waiting for a worker is skipped, a running one finishes
    /// and its result is dropped.
    ///
    /// Python: `await loop.run_in_executor(executor, job)` in a coroutine that serves one
    /// connection.
    ///
    /// # Errors
    /// [`PoolError::Full`] at once if the pool holds its `workers + queue` jobs: nothing is
    /// queued and the connection reads on. [`PoolError::Unknown`] for an id of another loop.
    pub fn run_in_pool<T, W>(&mut self, pool: PoolId, job: W) -> Result<WorkId, PoolError>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
    {
        self.lp.core.run_in_pool(self.id, pool, job)
    }

    /// Calls this protocol's [`timer_fired`](Protocol::timer_fired) after `delay`, with the
    /// handle returned here (cancel it with [`cancel`](LoopContext::cancel)). A timer of a
    /// connection that has gone is not delivered, but it stays in the loop's heap until it
    /// is due (and wakes the loop then): cancel a far-off timer in `connection_lost`, as
    /// asyncio protocols cancel their `call_later` handles.
    ///
    /// Python: `loop.call_later(delay, self.method)`; see `timer_fired` for why.
    pub fn set_timer(&mut self, delay: Duration) -> TimerHandle {
        let when = instant_after(self.lp.core.state.now, delay);
        self.lp
            .core
            .state
            .timers
            .insert(when, Action::Protocol(self.id))
    }
}

impl<S: 'static> DatagramContext<'_, S> {
    /// This socket's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Sends one datagram to `addr`, now. A full socket buffer drops it and returns
    /// `Ok(false)`: the loop never blocks and never queues datagrams.
    ///
    /// Python: `transport.sendto(data, addr)`, which buffers instead.
    ///
    /// # Errors
    /// The OS error (`EMSGSIZE` for a datagram too big, `ECONNREFUSED` reported for an
    /// earlier datagram...); the socket stays usable.
    // Python: asyncio buffers a datagram that would block; the issue wants it dropped and
    // counted, since UDP promises no delivery and a buffer would only add latency.
    pub fn send_to(&mut self, data: &[u8], addr: SocketAddr) -> io::Result<bool> {
        self.lp.core.send_to(self.id, data, addr)
    }

    /// The socket's own address. Python: `get_extra_info('sockname')`.
    ///
    /// # Errors
    /// The OS error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.lp.core.udp_local_addr(self.id)
    }

    /// Closes the socket after this callback; `connection_lost` follows. Python:
    /// `transport.close()`.
    pub fn close(&mut self) {
        self.lp.core.close_udp(self.id);
    }
}

impl<S: 'static> Connections<'_, S> {
    /// The transport of connection `id`, or `None`; see [`LoopContext::transport_of`].
    pub fn transport_of(&mut self, id: ConnId) -> Option<Transport<'_>> {
        super::transport_in(self.entries, self.state, id)
    }

    /// Writes to connection `id`; see [`LoopContext::write_to`].
    ///
    /// # Errors
    /// As [`LoopContext::write_to`].
    pub fn write_to(&mut self, id: ConnId, data: &[u8]) -> Result<Written, WriteError> {
        self.transport_of(id).ok_or(WriteError::Closed)?.write(data)
    }
}

impl<'a, S> Deref for Context<'a, S> {
    type Target = LoopContext<'a, S>;
    fn deref(&self) -> &LoopContext<'a, S> {
        &self.lp
    }
}

impl<S> DerefMut for Context<'_, S> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.lp
    }
}

impl<'a, S> Deref for DatagramContext<'a, S> {
    type Target = LoopContext<'a, S>;
    fn deref(&self) -> &LoopContext<'a, S> {
        &self.lp
    }
}

impl<S> DerefMut for DatagramContext<'_, S> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.lp
    }
}

impl<S> fmt::Debug for LoopContext<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopContext")
            .field("connections", &self.core.state.open_streams)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for Context<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for DatagramContext<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramContext")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for Connections<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections").finish_non_exhaustive()
    }
}
