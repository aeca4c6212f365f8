//! Port of `asyncio.Transport` for sockets (`_SelectorSocketTransport` in
//! Lib/asyncio/selector_events.py, with `_FlowControlMixin` from transports.py).
//!
//! A [`Transport`] is a short-lived view of one connection's state, lent to a callback:
//! write (at once if nothing is queued, the rest buffered, never blocking), write a file
//! region, close after flushing, abort, half-close, pause and resume reading, and the
//! write buffer's water marks. The state itself ([`StreamConn`]) lives in the loop; the
//! loop turns it into selector interest after every callback (see `EventLoop::settle`).

use std::fmt;
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use log::debug;

use super::protocol::Lost;
use super::stream::{Addr, Stream};
use super::write_queue::WriteQueue;
use super::{Action, ConnId, State};
use crate::event_loop::timers::TimerHandle;
use crate::timeout::instant_after;

/// What a successful [`Transport::write`] says about the write buffer.
///
/// Python: `write()` returns `None`; the protocol learns of pressure only through
/// `pause_writing()`. Returning it as well lets a producer that writes in a loop stop at
/// once (complaint: python/cpython#116279).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// At or below the high-water mark: keep producing.
    Flowing,
    /// Over the high-water mark: stop producing until
    /// [`Protocol::resume_writing`](super::Protocol::resume_writing).
    OverHighWater,
}

/// Why a write was refused. The bytes were not queued.
///
/// Python: asyncio drops writes to a lost connection silently (logging a warning after 5),
/// and raises `RuntimeError` after `write_eof()`. Here both are an error you can see.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The connection is closing, closed or lost, or the id names no connection.
    Closed,
    /// [`write_eof`](Transport::write_eof) was called: this side of the stream is over.
    EofWritten,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Closed => f.write_str("the connection is closed"),
            WriteError::EofWritten => f.write_str("cannot write after write_eof()"),
        }
    }
}

impl std::error::Error for WriteError {}

/// Water marks that break asyncio's rule `high >= low >= 0`.
///
/// Python: `ValueError: high (1) must be >= low (2) must be >= 0`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InvalidLimits {
    /// The high-water mark asked for.
    pub high: usize,
    /// The low-water mark asked for.
    pub low: usize,
}

impl fmt::Display for InvalidLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "high ({}) must be >= low ({}) must be >= 0",
            self.high, self.low
        )
    }
}

impl std::error::Error for InvalidLimits {}

/// When a close lingers: see [`Transport::set_lingering_close`].
///
/// Python: none (asyncio closes at once). nginx: the `lingering_close` directive, whose
/// values these are; Apache lingers on every close.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum LingeringClose {
    /// Close at once (the default): right for a protocol whose peer sends nothing after
    /// asking to close.
    #[default]
    Off,
    /// Linger only if input is likely waiting unread when the close happens, decided
    /// without a system call, as nginx decides: the last read filled the loop's buffer,
    /// or the socket was reported readable after it (while the close was flushing), or
    /// reading was paused. Only then one `read` looks, and the close lingers if it finds
    /// bytes. A close after a short last read with nothing reported since costs nothing
    /// more than a plain close. nginx's `lingering_close on`.
    ///
    /// The limit, nginx's too: a byte that arrives after the loop last looked (between
    /// the last read and the close, with no `select` in between) is not seen, and the
    /// kernel may answer it with a reset. A protocol that knows more is on its way (a body
    /// it refuses, bytes of a next request already received) asks for
    /// [`Always`](Self::Always) instead.
    On,
    /// Linger whatever: for a close decided while the peer is known to be still sending
    /// (a request body being refused). nginx's `lingering_close always`.
    Always,
}

/// One stream connection's transport state, owned by the loop.
#[derive(Debug)]
pub(crate) struct StreamConn {
    pub(crate) stream: Stream,
    /// The peer's address as `accept` gave it (`None` for an outgoing connection: asked
    /// of the kernel when wanted).
    pub(crate) peer: Option<Addr>,
    pub(crate) queue: WriteQueue,
    /// The protocol wants to read (`pause_reading` clears it).
    pub(crate) reading: bool,
    /// The peer's end of file was read: reading is over for good.
    pub(crate) read_eof: bool,
    /// `close()` (or a failure) was called: no more reads or writes from the protocol.
    pub(crate) closing: bool,
    /// What `connection_lost` will say once the queue is flushed.
    pub(crate) close_reason: CloseReason,
    /// `write_eof()` was called; `eof_sent` once `shutdown(SHUT_WR)` happened.
    pub(crate) eof_pending: bool,
    pub(crate) eof_sent: bool,
    /// An outgoing connection still waiting for the kernel's answer.
    pub(crate) connecting: bool,
    /// `connection_made` has been called (reading starts only then).
    pub(crate) made: bool,
    /// The connection is over; `connection_lost` (or `connection_failed`) comes next.
    pub(crate) lost: Option<Lost>,
    /// The water marks, compared with everything still owed to the peer
    /// (`WriteQueue::unsent`: bytes in memory plus the unsent part of file regions).
    pub(crate) high: usize,
    pub(crate) low: usize,
    /// Over the high-water mark (asyncio's `_protocol_paused`), and what the protocol was
    /// last told; the loop calls pause/resume_writing when they differ.
    pub(crate) write_paused: bool,
    pub(crate) told_paused: bool,
    /// Idle timeout, the loop time of the last activity, and its timer. Activity is a read
    /// or, with `idle_counts_writes` ([`Transport::set_io_timeout`]), bytes sent too.
    pub(crate) idle: Option<Duration>,
    pub(crate) idle_counts_writes: bool,
    pub(crate) last_active: std::time::Instant,
    pub(crate) idle_timer: Option<TimerHandle>,
    /// While closing: what was left to send when the idle timer last fired, to see whether
    /// a slow peer is taking any of it.
    pub(crate) unsent_at_check: Option<u64>,
    pub(crate) connect_timer: Option<TimerHandle>,
    /// Whether a close lingers ([`Transport::set_lingering_close`]).
    pub(crate) lingering: LingeringClose,
    /// Input may be waiting unread: the last read filled the buffer, or the socket was
    /// reported readable since (or could not be, reading being paused), or nothing has
    /// been read yet. [`LingeringClose::On`] looks (one `read`) only when this is set; a
    /// short last read clears it. nginx: `c->read->ready`, which a short read clears.
    pub(crate) input_likely: bool,
    /// The close is flushed and `lingering` is not `Off`: the loop decides whether to
    /// linger when it next settles this connection (it needs the clock and the timers).
    pub(crate) linger_due: bool,
    /// Lingering: the write side is shut down, and what arrives is read and discarded.
    /// Boxed: rare, and every connection's state would otherwise carry its size.
    pub(crate) linger: Option<Box<Linger>>,
    /// Since when the protocol said the connection may be closed to make room
    /// ([`Transport::set_reusable`]); also the key of its entry in `State::reusable`.
    pub(crate) reusable_since: Option<std::time::Instant>,
    /// Already in the loop's list of connections to settle.
    pub(crate) dirty: bool,
    /// Bytes written by *other* connections' callbacks wait for the loop's end-of-iteration
    /// flush (see [`Transport::write`]); no write interest meanwhile.
    pub(crate) flush_pending: bool,
    /// Jobs of this connection on a worker pool whose results have not come back: no
    /// reading meanwhile, and the idle timeout waits.
    pub(crate) pending_work: usize,
    /// Set when the connection goes, so that its jobs still waiting for a worker are
    /// skipped. Made at its first job.
    pub(crate) work_cancelled: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// While a job runs the loop still watches the socket, peeking, to learn of a peer that
    /// leaves (end of file, reset); once it sees data waiting it stops watching (a
    /// level-triggered selector would report that data again and again) until the job is back.
    pub(crate) work_peeked: bool,
}

/// A lingering close in progress: RFC 9112 §9.6's staged close, as nginx does it.
#[derive(Debug)]
pub(crate) struct Linger {
    /// The linger ends by then whatever arrives (`Config::lingering_time`).
    pub(crate) until: std::time::Instant,
    /// The last time bytes arrived; the linger ends `Config::lingering_timeout` after it.
    pub(crate) last_read: std::time::Instant,
    pub(crate) timer: TimerHandle,
}

/// The clean endings: what a flushed close reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    Closed,
    PeerClosed,
    TimedOut,
}

impl CloseReason {
    fn lost(self) -> Lost {
        match self {
            CloseReason::Closed => Lost::Closed,
            CloseReason::PeerClosed => Lost::PeerClosed,
            CloseReason::TimedOut => Lost::TimedOut,
        }
    }
}

impl StreamConn {
    pub(crate) fn new(
        stream: Stream,
        peer: Option<Addr>,
        state: &State,
        connecting: bool,
    ) -> StreamConn {
        StreamConn {
            stream,
            peer,
            queue: WriteQueue::default(),
            reading: true,
            read_eof: false,
            closing: false,
            close_reason: CloseReason::Closed,
            eof_pending: false,
            eof_sent: false,
            connecting,
            made: false,
            lost: None,
            high: state.config.high_water,
            low: state.config.low_water.min(state.config.high_water),
            write_paused: false,
            told_paused: false,
            idle: None,
            idle_counts_writes: false,
            last_active: state.now,
            idle_timer: None,
            unsent_at_check: None,
            connect_timer: None,
            lingering: LingeringClose::Off,
            input_likely: true,
            linger_due: false,
            linger: None,
            reusable_since: None,
            dirty: false,
            flush_pending: false,
            pending_work: 0,
            work_cancelled: None,
            work_peeked: false,
        }
    }

    /// True while the loop should read from the socket.
    pub(crate) fn wants_read(&self) -> bool {
        let reading = self.reading
            && self.made
            && !self.read_eof
            && !self.closing
            && (self.pending_work == 0 || !self.work_peeked);
        reading || self.linger.is_some()
    }

    /// True while the loop should keep the socket's read interest without reading: a
    /// close that may linger ([`LingeringClose::On`]) is flushing, and a readable report
    /// meanwhile is what says input came after the last read (`input_likely`). The first
    /// such report sets it and ends the watch, so a level-triggered selector does not
    /// report the unread bytes again and again.
    pub(crate) fn watches_input(&self) -> bool {
        self.closing
            && self.lingering == LingeringClose::On
            && !self.input_likely
            && self.made
            && !self.read_eof
            && self.lost.is_none()
            && self.linger.is_none()
            && !self.linger_due
    }

    /// True while the loop should wait for room to write (or, connecting, for the answer).
    pub(crate) fn wants_write(&self) -> bool {
        self.connecting || (self.lost.is_none() && !self.queue.is_empty() && !self.flush_pending)
    }

    /// Ends the connection now with `reason` (the first reason wins), dropping unsent bytes.
    /// Python: `_force_close(exc)`.
    pub(crate) fn fail(&mut self, reason: Lost) {
        if self.lost.is_none() {
            debug!("connection over: {reason}");
            self.lost = Some(reason);
        }
        self.closing = true;
        self.queue.clear();
    }

    /// Starts a close that reports `reason` once the queue is flushed. Python: `close()`.
    pub(crate) fn close_with(&mut self, reason: CloseReason) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.close_reason = reason;
        if self.queue.is_empty() {
            if self.connecting {
                self.lost = Some(reason.lost());
            } else {
                self.flushed_close();
            }
        }
    }

    /// A close has nothing left to send: it ends now, or lingers if asked to (the loop
    /// decides which in `Core::start_linger`, which has the clock and the timers).
    fn flushed_close(&mut self) {
        if self.linger.is_some() || self.linger_due {
            return;
        }
        if self.lingering == LingeringClose::Off || self.read_eof || self.lost.is_some() {
            self.lost.get_or_insert(self.close_reason.lost());
        } else {
            self.linger_due = true;
        }
    }

    /// Ends a linger (or a close that was to linger) the clean way.
    pub(crate) fn end_linger(&mut self) {
        self.linger_due = false;
        self.lost.get_or_insert(self.close_reason.lost());
    }

    /// One write attempt from the queue: a `writev` of up to 64 buffers or one `sendfile`.
    /// Python: `_write_ready` (`_write_sendmsg`).
    pub(crate) fn flush(&mut self, state: &mut State) {
        if self.lost.is_some() || self.connecting {
            return;
        }
        let before = self.queue.unsent();
        let step = state.config.file_step;
        if let Err(err) = self
            .queue
            .write_to(&mut self.stream, &mut state.file_buf, step)
        {
            self.fail(Lost::from_io(err));
            return;
        }
        if self.idle_counts_writes && self.queue.unsent() < before {
            self.last_active = state.now;
        }
        self.after_flush();
    }

    /// True if what is owed to the peer is over the high-water mark.
    ///
    /// The marks count the unsent part of queued file regions as well as bytes in memory:
    /// a protocol that queues a 1 GiB file is paused until most of it has gone, as one
    /// that wrote it through [`Transport::write`] would be. Memory stays bounded either way
    /// (file bytes are never read into it); what this bounds as well is the number of
    /// files a protocol holds open behind one slow reader.
    // Python: `loop.sendfile`'s fallback writes the file through the transport in chunks
    // and waits on `pause_writing`, so there the file counts too; the native path waits
    // for the buffer to empty instead.
    fn over_high(&self) -> bool {
        self.queue.unsent() > self.high as u64
    }

    /// What a write that took bytes off the queue may have changed: water marks, a close
    /// or half-close waiting for the flush.
    fn after_flush(&mut self) {
        if self.write_paused && self.queue.unsent() <= self.low as u64 {
            self.write_paused = false;
        }
        if !self.queue.is_empty() {
            return;
        }
        if self.closing {
            self.flushed_close();
        } else if self.eof_pending && !self.eof_sent {
            self.eof_sent = true;
            if let Err(err) = self.stream.shutdown_write() {
                self.fail(Lost::from_io(err));
            }
        }
    }

    /// Checks the marks after something was queued. Python: `_maybe_pause_protocol()`;
    /// every way of queueing goes through here (gh-127655: `writelines` once skipped it).
    fn after_enqueue(&mut self) -> Written {
        if self.over_high() {
            self.write_paused = true;
            Written::OverHighWater
        } else {
            Written::Flowing
        }
    }

    fn check_writable(&self) -> Result<(), WriteError> {
        if self.closing {
            Err(WriteError::Closed)
        } else if self.eof_pending {
            Err(WriteError::EofWritten)
        } else {
            Ok(())
        }
    }
}

/// One connection's transport, lent to a callback.
///
/// Python: `asyncio.Transport` (`WriteTransport` + `ReadTransport`). Get it from
/// [`Context::transport`](super::Context::transport) for the connection whose callback
/// is running, or [`LoopContext::transport_of`](super::LoopContext::transport_of) for
/// another one.
pub struct Transport<'a> {
    pub(crate) id: ConnId,
    pub(crate) conn: &'a mut StreamConn,
    pub(crate) state: &'a mut State,
    /// Lent for another connection than the one whose callback runs: writes wait for the
    /// end-of-iteration flush.
    pub(crate) deferred: bool,
}

impl Transport<'_> {
    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Writes `data`: straight to the socket if nothing is queued, and whatever the kernel
    /// does not take is copied into the write buffer, to go when the socket has room.
    /// Never blocks.
    ///
    /// Python: `transport.write(data)`, including its "try to send now" optimisation.
    ///
    /// One exception to "straight to the socket": a write to *another* connection (through
    /// [`LoopContext::write_to`](super::LoopContext::write_to),
    /// [`transport_of`](super::LoopContext::transport_of) or [`Connections`](super::Connections))
    /// is queued, and the loop sends each such connection's queue once, after the events of
    /// the iteration and before the next `select`. A chat line relayed to 1,000 clients, 20
    /// lines in one read, is then one `send` per client, not 20.
    // Python: asyncio always tries to send at once; its chat servers pay one send(2) per
    // recipient per line.
    ///
    /// # Errors
    /// * [`WriteError::Closed`] if the connection is closing or lost (Python drops such
    ///   writes and logs a warning after 5).
    /// * [`WriteError::EofWritten`] after [`write_eof`](Self::write_eof) (Python:
    ///   `RuntimeError`).
    ///
    /// A send that fails (a reset) gives [`WriteError::Closed`] too: the connection is
    /// marked lost, and `connection_lost` follows as soon as the current callback returns.
    pub fn write(&mut self, data: &[u8]) -> Result<Written, WriteError> {
        self.conn.check_writable()?;
        self.mark_dirty();
        let mut data = data;
        if self.conn.queue.is_empty() && !self.conn.connecting && !data.is_empty() {
            if self.deferred {
                self.conn.queue.push_bytes(data);
                self.schedule_flush();
                return Ok(self.conn.after_enqueue());
            }
            match self.conn.stream.write(data) {
                Ok(n) => {
                    if n > 0 && self.conn.idle_counts_writes {
                        self.conn.last_active = self.state.now;
                    }
                    data = &data[n..];
                }
                Err(err) if is_retry(&err) => {}
                Err(err) => {
                    // Python: `_fatal_error`, and write() returns None; here the caller
                    // hears at once that the bytes went nowhere.
                    self.conn.fail(Lost::from_io(err));
                    return Err(WriteError::Closed);
                }
            }
        }
        if !data.is_empty() {
            self.conn.queue.push_bytes(data);
        }
        Ok(self.conn.after_enqueue())
    }

    /// Queues `len` bytes of `file` from `offset`, to be sent after everything written
    /// before and before everything written after (so pipelined responses stay in order).
    /// Sent with `sendfile(2)` where the OS has it, else in chunks read with `pread`; either
    /// way the file's bytes never sit in memory.
    ///
    /// The region's unsent part counts toward the water marks, like bytes written: a region
    /// that takes what is owed to the peer over the high-water mark returns
    /// [`Written::OverHighWater`], and `pause_writing` follows; `resume_writing` comes once
    /// what is left is at the low-water mark or below. So a protocol that answers requests
    /// with files holds a bounded number of them open for a peer that does not read.
    ///
    /// Python: `loop.sendfile(transport, file, offset, count)`. Its fallback (chunks
    /// written through the transport) is paused by the marks the same way; its native
    /// `sendfile` path instead waits for the write buffer to empty and pauses reading.
    ///
    /// If the file turns out shorter than `offset + len`, the connection ends with
    /// [`Lost::Error`] (`UnexpectedEof`): the peer was promised bytes that do not exist.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn write_file(
        &mut self,
        file: impl Into<Arc<File>>,
        offset: u64,
        len: u64,
    ) -> Result<Written, WriteError> {
        self.conn.check_writable()?;
        self.mark_dirty();
        if len == 0 {
            return Ok(self.conn.after_enqueue());
        }
        let was_empty = self.conn.queue.is_empty();
        self.conn.queue.push_file(file.into(), offset, len);
        if was_empty && self.deferred {
            self.schedule_flush();
        } else if was_empty {
            // The same "send now" as `write`: one attempt, the rest when writable.
            self.conn.flush(self.state);
        }
        Ok(self.conn.after_enqueue())
    }

    /// Closes the connection once everything written has been sent; reading stops now.
    /// `connection_lost` then says [`Lost::Closed`]. Idempotent.
    ///
    /// Python: `transport.close()`.
    pub fn close(&mut self) {
        self.mark_dirty();
        self.conn.close_with(CloseReason::Closed);
    }

    /// Closes the connection now, dropping unsent bytes; `connection_lost` says
    /// [`Lost::Aborted`]. Idempotent.
    ///
    /// Python: `transport.abort()`.
    pub fn abort(&mut self) {
        self.mark_dirty();
        self.conn.fail(Lost::Aborted);
    }

    /// Like [`abort`](Self::abort), but the peer is sent a reset (RST) instead of an end of
    /// file. For a message whose end is the end of the connection (an HTTP/1.0 body
    /// without a length), end of file says "complete"; when the message was cut short the
    /// peer must read an error instead. Idempotent.
    ///
    /// Python: none in asyncio; `sock.setsockopt(SOL_SOCKET, SO_LINGER,
    /// struct.pack('ii', 1, 0))` then `transport.abort()`.
    pub fn reset(&mut self) {
        if let Stream::Tcp(stream) = &self.conn.stream {
            use std::os::fd::AsRawFd;
            if let Err(err) = crate::sys::set_linger_zero(stream.as_raw_fd()) {
                debug!("{:?}: cannot set SO_LINGER for a reset: {err}", self.id);
            }
        }
        self.abort();
    }

    /// Chooses whether [`close`](Self::close) (and the close after an idle timeout)
    /// lingers: once everything written has been sent, the loop shuts down the sending
    /// side (`shutdown(SHUT_WR)`, the peer reads end of file), then reads and discards what
    /// the peer still sends until it closes its side too, until nothing arrived for
    /// [`Config::lingering_timeout`](super::Config::lingering_timeout) (5 s), or for
    /// [`Config::lingering_time`](super::Config::lingering_time) (30 s) in all; only then
    /// the socket is closed and `connection_lost` called.
    ///
    /// Why: closing a socket that has unread input makes the kernel send RST at once and
    /// throw away what it had not yet sent, and the peer then loses the end of the answer
    /// (a response the HTTP server wrote before refusing the rest of a request). RFC 9112
    /// §9.6 prescribes this staged close. With [`LingeringClose::On`] the loop lingers only
    /// if input is likely waiting when the close happens (nginx's heuristic, decided from
    /// what the loop already knows: see [`LingeringClose::On`] and its limit), so an
    /// ordinary close costs no system call more than a plain one. A lingering connection counts toward
    /// [`Config::max_connections`](super::Config::max_connections) but is the first to go
    /// when room is needed (see [`set_reusable`](Self::set_reusable)).
    ///
    /// Python: none; asyncio closes at once. nginx: `lingering_close`, `lingering_time`,
    /// `lingering_timeout`.
    pub fn set_lingering_close(&mut self, when: LingeringClose) {
        if self.conn.closing && self.conn.lingering != when {
            // The read interest may already have been dropped for the close, so input
            // may have come unseen: look before deciding.
            self.conn.input_likely = true;
            self.mark_dirty();
        }
        self.conn.lingering = when;
    }

    /// Marks the connection as one the loop may close to make room for a new one: at
    /// [`Config::max_connections`](super::Config::max_connections), instead of turning a
    /// new client away, the loop closes the connection marked longest ago that has nothing
    /// left to send, and the new client takes its place. Its protocol gets
    /// `connection_lost` with [`Lost::Closed`], as if it had closed it itself.
    ///
    /// For a connection between requests: an HTTP keep-alive connection waiting for its
    /// next request is cheap to lose (its client reconnects), and at the limit it is better
    /// lost than a new client refused. Set it while idle, clear it (`false`) when work
    /// starts; a lingering close is reusable by itself. Idempotent.
    ///
    /// Python: none. nginx: `ngx_reusable_connection`, reclaimed by
    /// `ngx_drain_connections` ("worker_connections are not enough, reusing connections").
    pub fn set_reusable(&mut self, reusable: bool) {
        if reusable && !self.conn.closing {
            if self.conn.reusable_since.is_none() {
                let since = self.state.now;
                self.conn.reusable_since = Some(since);
                self.state.reusable.insert((since, self.id));
            }
        } else if let Some(since) = self.conn.reusable_since.take() {
            self.state.reusable.remove(&(since, self.id));
        }
    }

    /// Shuts down the sending side (`shutdown(SHUT_WR)`) once everything written has been
    /// sent; the peer reads end of file. Reading goes on. Later writes fail with
    /// [`WriteError::EofWritten`].
    ///
    /// Python: `transport.write_eof()`.
    pub fn write_eof(&mut self) {
        if self.conn.closing || self.conn.eof_pending {
            return;
        }
        self.mark_dirty();
        self.conn.eof_pending = true;
        if self.conn.queue.is_empty() && !self.conn.connecting {
            self.conn.after_flush();
        }
    }

    /// True if [`write_eof`](Self::write_eof) is possible. Python: `can_write_eof()`.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Stops reading: no `data_received` until [`resume_reading`](Self::resume_reading).
    /// The peer's sends then fill the kernel's buffers and its TCP window closes, which is
    /// backpressure on the peer. Idempotent; holds even when called in `connection_made`.
    ///
    /// Python: `transport.pause_reading()`.
    pub fn pause_reading(&mut self) {
        if self.conn.reading && !self.conn.closing {
            self.mark_dirty();
            self.conn.reading = false;
            // Unwatched from now on: what arrives is not seen until reading resumes.
            self.conn.input_likely = true;
        }
    }

    /// Reads again after [`pause_reading`](Self::pause_reading). Idempotent; does nothing
    /// once closing. Python: `transport.resume_reading()`.
    pub fn resume_reading(&mut self) {
        if !self.conn.reading && !self.conn.closing {
            self.mark_dirty();
            self.conn.reading = true;
        }
    }

    /// True while the loop reads from this connection: not paused, not closing, and no job
    /// of its out on a worker pool ([`Context::run_in_pool`](super::Context::run_in_pool)).
    /// Python: `is_reading()`.
    pub fn is_reading(&self) -> bool {
        self.conn.wants_read() && self.conn.pending_work == 0
    }

    /// True once `close`, `abort`, or a failure started ending it. Python: `is_closing()`.
    pub fn is_closing(&self) -> bool {
        self.conn.closing
    }

    /// Bytes in memory waiting to be sent (file regions not counted): the memory this
    /// connection's write buffer holds.
    ///
    /// Python: `get_write_buffer_size()`. The water marks compare a larger figure,
    /// [`unsent_bytes`](Self::unsent_bytes), which adds queued file regions; the two are
    /// equal unless [`write_file`](Self::write_file) was used.
    pub fn get_write_buffer_size(&self) -> usize {
        self.conn.queue.buffered()
    }

    /// Everything not yet handed to the kernel: buffered bytes plus the unsent part of
    /// queued file regions. 0 means fully flushed. This is the figure the water marks
    /// compare: `pause_writing` when it goes over the high mark, `resume_writing` when it
    /// is back at the low mark or below. An HTTP server's timer uses it to tell an idle
    /// connection from one still streaming a file, and whether a slow reader moves.
    ///
    /// Python: none (`get_write_buffer_size()` plus what `loop.sendfile` has left).
    pub fn unsent_bytes(&self) -> u64 {
        self.conn.queue.unsent()
    }

    /// Sets the water marks, which apply to [`unsent_bytes`](Self::unsent_bytes) (bytes in
    /// memory and queued file regions). `None` for `high` means 64 KiB, or `4 * low` if only `low`
    /// is given; `None` for `low` means `high / 4`. Python:
    /// `set_write_buffer_limits(high=None, low=None)`, same defaults and rule.
    ///
    /// # Errors
    /// [`InvalidLimits`] unless `high >= low` (Python: `ValueError`).
    pub fn set_write_buffer_limits(
        &mut self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> Result<(), InvalidLimits> {
        let (high, low) = match (high, low) {
            (None, None) => (64 * 1024, 16 * 1024),
            (None, Some(low)) => (low.saturating_mul(4), low),
            (Some(high), None) => (high, high / 4),
            (Some(high), Some(low)) => (high, low),
        };
        if high < low {
            return Err(InvalidLimits { high, low });
        }
        self.mark_dirty();
        self.conn.high = high;
        self.conn.low = low;
        // Python: `_maybe_pause_protocol()` only (python/asyncio#329); a lower mark is met
        // at the next flush, which resumes.
        if self.conn.over_high() {
            self.conn.write_paused = true;
        }
        Ok(())
    }

    /// The water marks as `(low, high)`, asyncio's order. Python: `get_write_buffer_limits()`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        (self.conn.low, self.conn.high)
    }

    /// Closes the connection if nothing is received for `timeout` (`None`: never, the
    /// default): [`Protocol::timed_out`](super::Protocol::timed_out) is called, then the
    /// connection closes with [`Lost::TimedOut`]. The clock restarts with every read; bytes
    /// sent do not count (a chat client that only listens is idle). To count them too, use
    /// [`set_io_timeout`](Self::set_io_timeout).
    ///
    /// A connection that is closing (after `close()`, end of file, or the timeout itself)
    /// while its peer takes none of what is left to send is dropped once a whole timeout
    /// passes without progress, so a peer that never reads cannot hold it open.
    ///
    /// Python: none; asyncio protocols use `call_later` and re-arm it on every read. Here
    /// one timer per connection checks the time of the last read when it fires and, if the
    /// connection was busy, re-arms for the remaining time (nginx's idea): a read costs a
    /// store, not a heap operation.
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.arm_idle(timeout, false);
    }

    /// Like [`set_idle_timeout`](Self::set_idle_timeout), but any progress counts: bytes
    /// received or bytes sent. A client that reads a long answer slowly stays; one that
    /// neither sends nor reads is closed (the echo server's `--idle-timeout`).
    ///
    /// Python: none (see `set_idle_timeout`).
    pub fn set_io_timeout(&mut self, timeout: Option<Duration>) {
        self.arm_idle(timeout, true);
    }

    fn arm_idle(&mut self, timeout: Option<Duration>, counts_writes: bool) {
        self.conn.idle = timeout;
        self.conn.idle_counts_writes = counts_writes;
        self.conn.last_active = self.state.now;
        if let Some(timer) = self.conn.idle_timer.take() {
            self.state.timers.cancel(timer);
        }
        if let Some(timeout) = timeout {
            let when = instant_after(self.state.now, timeout);
            self.conn.idle_timer = Some(self.state.timers.insert(when, Action::Idle(self.id)));
        }
    }

    /// The peer's address. Python: `get_extra_info('peername')`.
    ///
    /// For an accepted connection this is the address `accept` returned, kept from then
    /// on: no system call, and still known after the peer has gone (asyncio, too, asks
    /// `getpeername` once, when the transport is made, and keeps the answer). For an
    /// outgoing connection the kernel is asked (`getpeername`).
    ///
    /// # Errors
    /// For an outgoing connection, the OS error, e.g. `NotConnected` once the peer has
    /// gone; never for an accepted one.
    pub fn peer_addr(&self) -> io::Result<Addr> {
        match &self.conn.peer {
            Some(peer) => Ok(peer.clone()),
            None => self.conn.stream.peer_addr(),
        }
    }

    /// This end's address. Python: `get_extra_info('sockname')`.
    ///
    /// # Errors
    /// The OS error.
    pub fn local_addr(&self) -> io::Result<Addr> {
        self.conn.stream.local_addr()
    }

    /// Puts this connection on the loop's end-of-iteration flush list.
    fn schedule_flush(&mut self) {
        if !self.conn.flush_pending {
            self.conn.flush_pending = true;
            self.state.to_flush.push(self.id);
        }
    }

    /// Asks the loop to look at this connection once the current callback returns.
    fn mark_dirty(&mut self) {
        if !self.conn.dirty {
            self.conn.dirty = true;
            self.state.dirty.push(self.id);
        }
    }
}

impl fmt::Debug for Transport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("id", &self.id)
            .field("buffered", &self.conn.queue.buffered())
            .field("closing", &self.conn.closing)
            .finish_non_exhaustive()
    }
}

pub(crate) use crate::os_errors::is_retry;
