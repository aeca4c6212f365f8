//! Port of `asyncio.Protocol`, `asyncio.DatagramProtocol` and the `exc` argument of
//! `connection_lost` (Lib/asyncio/protocols.py).
//!
//! A protocol is the part of a server you write: it reacts to events on one connection.
//! The loop calls its methods, one at a time and never one inside another, in the order
//! asyncio documents:
//!
//! ```text
//! start -> connection_made -> data_received* -> eof_received? -> connection_lost -> end
//! ```
//!
//! (or `connection_failed` alone, for an outgoing connection that never opened), with
//! `pause_writing`/`resume_writing`, `timer_fired` and `timed_out` in between.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::context::{Context, DatagramContext};
use super::pool::Done;
use super::timers::TimerHandle;

/// Why a connection ended: the argument of [`Protocol::connection_lost`].
///
/// Python: `connection_lost(exc)` gets `None` for a clean close, end of file *and*
/// `abort()` alike, or the exception. The issue asks for the reason, so it is spelled out.
#[derive(Debug)]
pub enum Lost {
    /// The protocol closed the connection ([`Transport::close`](super::Transport::close)),
    /// and every byte it wrote was sent.
    Closed,
    /// The peer ended its side (end of file) and the protocol let the connection close
    /// ([`Protocol::eof_received`] returned `false`); everything written was sent.
    PeerClosed,
    /// The protocol (or another connection's callback) called
    /// [`Transport::abort`](super::Transport::abort): unsent bytes were dropped.
    Aborted,
    /// The peer reset the connection (`ECONNRESET`, `EPIPE`): unsent bytes were lost.
    Reset,
    /// The connection's idle timeout passed ([`Transport::set_idle_timeout`](super::Transport::set_idle_timeout)).
    TimedOut,
    /// Any other error reading or writing; the connection was closed at once.
    Error(io::Error),
}

impl Lost {
    /// True for the endings where every written byte reached the kernel: [`Lost::Closed`]
    /// and [`Lost::PeerClosed`].
    pub fn is_clean(&self) -> bool {
        matches!(self, Lost::Closed | Lost::PeerClosed)
    }

    /// The reason a read or write error ends a connection with.
    pub(crate) fn from_io(err: io::Error) -> Lost {
        match err.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => Lost::Reset,
            _ => Lost::Error(err),
        }
    }
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lost::Closed => f.write_str("closed"),
            Lost::PeerClosed => f.write_str("closed by the peer"),
            Lost::Aborted => f.write_str("aborted"),
            Lost::Reset => f.write_str("reset by the peer"),
            Lost::TimedOut => f.write_str("idle timeout"),
            Lost::Error(err) => write!(f, "error: {err}"),
        }
    }
}

/// The callbacks of a stream protocol (TCP or Unix-domain): what a server or client does
/// with one connection.
///
/// Python: `asyncio.Protocol`. `S` is the loop's application state, shared by every
/// connection and reached through [`Context::app`](super::LoopContext::app); `()` if you
/// need none.
///
/// Every method gets `ctx`, the [`Context`]: this connection's
/// [`transport`](Context::transport) (write, close, pause reading...), the shared state,
/// other connections by id, timers and `stop`. Only [`data_received`](Self::data_received)
/// must be written; the others default to what asyncio's base class does.
///
/// Callbacks are never re-entrant: a `write` that crosses the high-water mark does not call
/// [`pause_writing`](Self::pause_writing) from inside `write` (the protocol is busy); the loop
/// calls it as soon as the current callback returns, before any other event.
///
/// # Examples
///
/// ```
/// use mio_selectors::event_loop::{Context, Protocol};
///
/// /// Echo: every byte goes straight back.
/// struct Echo;
///
/// impl Protocol for Echo {
///     fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
///         let _ = ctx.write(data);
///     }
/// }
/// # let _ = Echo;
/// ```
pub trait Protocol<S = ()> {
    /// The connection is open; reading starts when this returns.
    ///
    /// Python: `connection_made(transport)`. A greeting written here is sent at once;
    /// [`pause_reading`](super::Transport::pause_reading) called here holds (gh-103607).
    fn connection_made(&mut self, ctx: &mut Context<'_, S>) {
        let _ = ctx;
    }

    /// Bytes arrived. `data` borrows the loop's one read buffer: copy what you keep.
    ///
    /// Python: `data_received(data)`, which gets a fresh `bytes` object; here no
    /// connection owns a read buffer, so an idle connection costs no memory for one.
    fn data_received(&mut self, ctx: &mut Context<'_, S>, data: &[u8]);

    /// The peer shut down its sending side (end of file). Return `true` to keep the
    /// connection open for writing (half-close), `false` (the default) to close it once
    /// everything written has been sent; `connection_lost` then says [`Lost::PeerClosed`].
    ///
    /// Python: `eof_received()`; a false or `None` return closes the transport. Reading
    /// stops either way.
    fn eof_received(&mut self, ctx: &mut Context<'_, S>) -> bool {
        let _ = ctx;
        false
    }

    /// The connection is gone, and why. Called exactly once, last; the socket closes
    /// when it returns. Writes from here to *this* connection fail, to others work.
    ///
    /// Python: `connection_lost(exc)`, with [`Lost`] in place of `None`-or-exception.
    fn connection_lost(&mut self, ctx: &mut Context<'_, S>, reason: Lost) {
        let _ = (ctx, reason);
    }

    /// An outgoing connection ([`LoopContext::connect_tcp`](super::LoopContext::connect_tcp))
    /// could not be opened: refused, unreachable, or [`io::ErrorKind::TimedOut`] after its
    /// connect timeout. Called instead of `connection_made`, and nothing follows it.
    ///
    /// Python: none; `loop.create_connection()` raises the error from its `await`.
    fn connection_failed(&mut self, ctx: &mut Context<'_, S>, error: io::Error) {
        let _ = (ctx, error);
    }

    /// What is still owed to the peer ([`Transport::unsent_bytes`](super::Transport::unsent_bytes):
    /// bytes in memory plus queued file regions) went over the high-water mark: stop
    /// producing until [`resume_writing`](Self::resume_writing). Calls are paired.
    ///
    /// Python: `BaseProtocol.pause_writing()`. asyncio calls it from inside `write()`; here
    /// it comes right after the callback that wrote, and `write` itself returns
    /// [`Written::OverHighWater`](super::Written::OverHighWater) so a loop that writes in a
    /// tight loop can stop at once.
    fn pause_writing(&mut self, ctx: &mut Context<'_, S>) {
        let _ = ctx;
    }

    /// What is owed to the peer drained to the low-water mark or below: produce again.
    ///
    /// Python: `BaseProtocol.resume_writing()`.
    fn resume_writing(&mut self, ctx: &mut Context<'_, S>) {
        let _ = ctx;
    }

    /// A timer set with [`Context::set_timer`] fired.
    ///
    /// Python: none. asyncio would `loop.call_later(delay, self.on_timeout)`, a bound
    /// method; a Rust closure cannot hold `&mut self` past the callback, so the loop calls
    /// the protocol back with the handle `set_timer` returned instead.
    fn timer_fired(&mut self, ctx: &mut Context<'_, S>, timer: TimerHandle) {
        let _ = (ctx, timer);
    }

    /// Nothing was received for the connection's idle timeout
    /// ([`Transport::set_idle_timeout`](super::Transport::set_idle_timeout)), or nothing
    /// received nor sent ([`Transport::set_io_timeout`](super::Transport::set_io_timeout)). Write a
    /// farewell here if you like; when this returns the loop closes the connection
    /// (flushing first) and `connection_lost` says [`Lost::TimedOut`].
    ///
    /// Python: none; asyncio protocols build idle timeouts from `call_later`.
    fn timed_out(&mut self, ctx: &mut Context<'_, S>) {
        let _ = ctx;
    }

    /// A job this connection handed to a worker pool with
    /// [`Context::run_in_pool`](super::Context::run_in_pool) is done; [`Done::take`] gives
    /// its result. Reading has resumed (unless the protocol paused it, or another job is
    /// still out). Not called if the connection went away first.
    ///
    /// Python: `await loop.run_in_executor(None, func)` resuming the coroutine.
    fn work_done(&mut self, ctx: &mut Context<'_, S>, done: Done) {
        let _ = (ctx, done);
    }
}

/// The callbacks of a datagram (UDP) protocol.
///
/// Python: `asyncio.DatagramProtocol`.
///
/// # Examples
///
/// ```
/// use mio_selectors::event_loop::{DatagramContext, DatagramProtocol};
/// use std::net::SocketAddr;
///
/// /// UDP echo: every datagram goes back to its sender.
/// struct UdpEcho;
///
/// impl DatagramProtocol for UdpEcho {
///     fn datagram_received(&mut self, ctx: &mut DatagramContext<'_>, data: &[u8], addr: SocketAddr) {
///         let _ = ctx.send_to(data, addr); // a full socket buffer drops it: UDP is unreliable
///     }
/// }
/// # let _ = UdpEcho;
/// ```
pub trait DatagramProtocol<S = ()> {
    /// The socket is on the loop; datagrams are delivered from now on.
    ///
    /// Python: `connection_made(transport)`.
    fn connection_made(&mut self, ctx: &mut DatagramContext<'_, S>) {
        let _ = ctx;
    }

    /// One datagram arrived from `addr`. `data` borrows the loop's read buffer, which
    /// holds the largest UDP payload (65,527 bytes over IPv6), so nothing is truncated.
    ///
    /// Python: `datagram_received(data, addr)`.
    fn datagram_received(
        &mut self,
        ctx: &mut DatagramContext<'_, S>,
        data: &[u8],
        addr: SocketAddr,
    );

    /// A receive or an earlier send failed, for example `ECONNREFUSED` after an ICMP
    /// "port unreachable". Never fatal: the socket stays on the loop.
    ///
    /// Python: `error_received(exc)`.
    fn error_received(&mut self, ctx: &mut DatagramContext<'_, S>, error: io::Error) {
        let _ = (ctx, error);
    }

    /// The socket was closed ([`DatagramContext::close`]); called once, last.
    ///
    /// Python: `connection_lost(exc)`.
    fn connection_lost(&mut self, ctx: &mut DatagramContext<'_, S>, reason: Lost) {
        let _ = (ctx, reason);
    }
}
