//! The chat server on the protocol layer: one [`Protocol`] per connection, the [`Room`] in
//! the loop's shared state.
//!
//! Python: `ChatServer` in `docs/python/chat_server.py`, whose loop, buffers and timers the
//! layer ([`crate::event_loop`]) provides here; what is left is the protocol itself:
//!
//! * bytes in: cut into lines by a [`LineDecoder`] (bounded) and handed to the [`Room`];
//! * bytes out: the room's [`Outbox`] gathers each recipient's lines for the rest of the
//!   loop iteration, then writes them with one `write` per recipient (see [`Batches`]);
//! * a recipient whose unsent output passes [`Config::max_pending`] is aborted on the spot:
//!   nobody waits for it, and its `connection_lost` (which tells the room it left) comes
//!   right after the current callback, as the layer promises, so a broadcast never runs
//!   inside another;
//! * leaving: end of file, `/quit`, the idle timeout and `connection_lost` all call
//!   [`Room::leave`], which announces a client once however many of them happen.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use log::{info, warn};

use super::{Config, Outbox, Room, GREETING};
use crate::event_loop::{
    self, ConnId, Connections, Context, EventLoop, Line, LineDecoder, LoopContext, LoopHandle,
    Lost, Protocol,
};
use crate::Stop;

/// A recipient's gathered lines are written as soon as they reach this many bytes, so a
/// batch never holds more than this plus one line.
const BATCH_LIMIT: usize = 16 * 1024;

/// What every connection shares: the room, the limits, and the output being gathered.
/// The loop's application state (see [`ChatServer::handle`]); its parts are private.
#[derive(Debug)]
pub struct ChatState {
    room: Room<ConnId>,
    config: Config,
    batches: Batches,
}

/// Lines for each recipient, gathered during one loop iteration and written at its end.
///
/// Why: a transport's `write` goes straight to the socket when nothing is queued (asyncio
/// does the same), which is right for a reply but costly for a broadcast: with 1,000
/// clients, each line would cost 999 `send` calls. Gathered instead, every line that the
/// iteration's reads produce for a recipient goes out in one `send`: in the load test
/// (1,000 clients, 20 lines each) that is a few calls per recipient, not 20,000.
///
/// Python: `chat_server.py` gets this by only appending to `outb` and sending when
/// `select()` says the socket is writable.
#[derive(Debug, Default)]
struct Batches {
    by_client: HashMap<ConnId, Vec<u8>>,
    /// A flush is due at the end of this iteration (a zero-delay timer is set).
    scheduled: bool,
}

/// One client: its line decoder; its nickname lives in the room.
struct Client {
    lines: LineDecoder,
}

/// The room's output: into the batches, and from there into the transports.
struct Out<'a, 'c> {
    batches: &'a mut Batches,
    conns: &'a mut Connections<'c, ChatState>,
    max_pending: usize,
    /// Set by `/quit`: the rest of this read is not handled.
    quit: bool,
}

impl Outbox<ConnId> for Out<'_, '_> {
    fn send(&mut self, to: ConnId, line: &[u8]) {
        let batch = self.batches.by_client.entry(to).or_default();
        batch.extend_from_slice(line);
        if batch.len() >= BATCH_LIMIT {
            flush_one(self.batches, self.conns, to, self.max_pending);
        }
    }

    fn close(&mut self, who: ConnId) {
        // "* bye" is in the batch: send it, then close (the layer flushes before closing).
        flush_one(self.batches, self.conns, who, self.max_pending);
        if let Some(mut transport) = self.conns.transport_of(who) {
            transport.close();
        }
        self.quit = true;
    }
}

/// Writes `to`'s gathered lines, and disconnects it if too much is waiting for it now.
fn flush_one(
    batches: &mut Batches,
    conns: &mut Connections<'_, ChatState>,
    to: ConnId,
    max_pending: usize,
) {
    let Some(batch) = batches.by_client.remove(&to) else {
        return;
    };
    let Some(mut transport) = conns.transport_of(to) else {
        return; // gone; its connection_lost is on its way
    };
    if transport.write(&batch).is_err() {
        return; // closing: it has left the room already, or is about to
    }
    // Only bytes the kernel would not take count, so a client that reads keeps this near
    // zero however much the room says.
    let pending = transport.get_write_buffer_size();
    if pending > max_pending {
        warn!("{to}: {pending} bytes unsent, more than --max-pending {max_pending}: disconnecting");
        transport.abort();
    }
}

/// Writes every gathered batch: the zero-delay timer set by [`Client::with_room`], which
/// the loop runs after this iteration's I/O.
fn flush_all(lp: &mut LoopContext<'_, ChatState>) {
    let (state, mut conns) = lp.split();
    state.batches.scheduled = false;
    let max_pending = state.config.max_pending;
    let ids: Vec<ConnId> = state.batches.by_client.keys().copied().collect();
    for id in ids {
        flush_one(&mut state.batches, &mut conns, id, max_pending);
    }
}

impl Client {
    /// Runs `f` with the room and an outbox, borrowed from the context side by side, then
    /// makes sure what it gathered is written by the end of the iteration.
    fn with_room(
        ctx: &mut Context<'_, ChatState>,
        f: impl FnOnce(&mut Room<ConnId>, &mut Out<'_, '_>),
    ) -> bool {
        let (state, mut conns) = ctx.split();
        let mut out = Out {
            batches: &mut state.batches,
            conns: &mut conns,
            max_pending: state.config.max_pending,
            quit: false,
        };
        f(&mut state.room, &mut out);
        let quit = out.quit;
        if !state.batches.by_client.is_empty() && !state.batches.scheduled {
            state.batches.scheduled = true;
            ctx.call_later(Duration::ZERO, flush_all);
        }
        quit
    }

    /// Writes this client's own gathered lines now, before the layer closes it or writes
    /// a notice of its own.
    fn flush_mine(ctx: &mut Context<'_, ChatState>) {
        let me = ctx.id();
        let (state, mut conns) = ctx.split();
        let max_pending = state.config.max_pending;
        flush_one(&mut state.batches, &mut conns, me, max_pending);
    }

    fn leave(ctx: &mut Context<'_, ChatState>) {
        let me = ctx.id();
        Client::with_room(ctx, |room, out| room.leave(me, out));
    }
}

impl Protocol<ChatState> for Client {
    fn connection_made(&mut self, ctx: &mut Context<'_, ChatState>) {
        let idle = ctx.app().config.idle_timeout;
        let mut transport = ctx.transport();
        transport.set_idle_timeout(idle);
        if let Ok(peer) = transport.peer_addr() {
            info!("{}: connected from {peer}", transport.id());
        }
        let _ = transport.write(GREETING);
    }

    fn data_received(&mut self, ctx: &mut Context<'_, ChatState>, data: &[u8]) {
        let me = ctx.id();
        let mut lines = self.lines.feed(data);
        while let Some(line) = lines.next_line() {
            let quit = Client::with_room(ctx, |room, out| match line {
                Line::Line(text) => room.line(me, text, out),
                Line::TooLong => room.line_too_long(me, out),
            });
            if quit {
                break; // lines after /quit are not handled
            }
        }
    }

    /// End of input: every complete line before it has been handled (lines are handled as
    /// they arrive), so the client leaves now; the loop then sends what it is still owed
    /// and closes. A last piece without a newline is not a line: it is dropped.
    fn eof_received(&mut self, ctx: &mut Context<'_, ChatState>) -> bool {
        info!("{}: end of input", ctx.id());
        Client::leave(ctx);
        Client::flush_mine(ctx);
        false
    }

    fn timed_out(&mut self, ctx: &mut Context<'_, ChatState>) {
        info!("{}: idle timeout", ctx.id());
        Client::flush_mine(ctx);
        let _ = ctx.write(b"* idle timeout\n");
        Client::leave(ctx);
    }

    fn connection_lost(&mut self, ctx: &mut Context<'_, ChatState>, reason: Lost) {
        info!("{}: {reason}", ctx.id());
        let me = ctx.id();
        ctx.app().batches.by_client.remove(&me);
        Client::leave(ctx);
    }
}

/// The chat server: a loop, a listener, and a chat protocol object per connection.
///
/// Python: `ChatServer` in `docs/python/chat_server.py`.
///
/// # Examples
///
/// ```
/// use mio_selectors::chat::{ChatServer, Config};
/// use std::io::{BufRead, BufReader, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// # fn main() -> std::io::Result<()> {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let thread = std::thread::spawn(move || -> std::io::Result<()> {
///     // The loop is not `Send`: build it on the thread that runs it.
///     let mut server = ChatServer::new(listener, Config::default())?;
///     tx.send(server.stop_handle()).unwrap();
///     server.run()
/// });
/// let stop = rx.recv().unwrap();
///
/// let mut alice = BufReader::new(TcpStream::connect(addr)?);
/// let mut line = String::new();
/// alice.read_line(&mut line)?; // the greeting
/// alice.get_mut().write_all(b"alice\n")?;
/// line.clear();
/// alice.read_line(&mut line)?;
/// assert_eq!(line, "* welcome alice\n");
///
/// stop.stop();
/// thread.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub struct ChatServer {
    lp: EventLoop<ChatState>,
    addr: SocketAddr,
}

impl ChatServer {
    /// A chat server on `listener` (any blocking or non-blocking `TcpListener`), with the
    /// limits of `config`. It serves nothing until [`run`](Self::run).
    ///
    /// # Errors
    /// If the loop cannot be created or the listener registered.
    pub fn new(listener: TcpListener, config: Config) -> io::Result<ChatServer> {
        let addr = listener.local_addr()?;
        let loop_config = event_loop::Config {
            max_connections: config.max_clients,
            full_message: b"! server full\n".to_vec(),
            ..event_loop::Config::default()
        };
        let max_line = config.max_line;
        let state = ChatState {
            room: Room::new(),
            config,
            batches: Batches::default(),
        };
        let mut lp = EventLoop::with_config(state, loop_config)?;
        lp.listen_tcp(listener, move || Client {
            lines: LineDecoder::new(max_line),
        })?;
        Ok(ChatServer { lp, addr })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops [`run`](Self::run) from any thread (or a Ctrl-C handler).
    pub fn stop_handle(&self) -> Stop {
        self.lp.handle().stop_handle()
    }

    /// The loop's handle: stop it, or run code on it from another thread.
    pub fn handle(&self) -> LoopHandle<ChatState> {
        self.lp.handle()
    }

    /// Serves until stopped; then every connection is closed.
    ///
    /// # Errors
    /// Only if the selector fails, or the listener can never accept again.
    pub fn run(&mut self) -> io::Result<()> {
        self.lp.run()
    }
}

impl std::fmt::Debug for ChatServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatServer")
            .field("addr", &self.addr)
            .field("joined", &self.lp.app().room.len())
            .finish_non_exhaustive()
    }
}
