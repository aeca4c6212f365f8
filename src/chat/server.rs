//! Port of `ChatServer` in `docs/python/chat_server.py`, on the protocol layer: one
//! [`Protocol`] per connection, the [`Room`] in the loop's shared state.
//!
//! The Python program's loop, buffers and timers are the layer's here
//! ([`crate::event_loop`]); what is left is the protocol itself:
//!
//! * bytes in: cut into lines by a [`LineDecoder`] (bounded) and handed to the [`Room`];
//! * bytes out: the room's [`Outbox`] writes to each recipient by id. The layer queues
//!   writes to *other* connections and sends each one's once per loop iteration, so a
//!   broadcast costs an append per recipient, not a `send` per recipient per line;
//! * a recipient whose unsent output passes [`Config::max_pending`] is aborted on the spot:
//!   nobody waits for it, and its `connection_lost` (which tells the room it left) comes
//!   right after the current callback, as the layer promises, so a broadcast never runs
//!   inside another;
//! * leaving: end of file, `/quit`, the idle timeout and `connection_lost` all call
//!   [`Room::leave`], which announces a client once however many of them happen. A client
//!   that has left but never reads what it is still owed is dropped by the layer after one
//!   idle period without progress.

use std::io;
use std::net::{SocketAddr, TcpListener};

use log::{info, warn};

use super::{Config, Outbox, Room, GREETING};
use crate::event_loop::{
    self, ConnId, Connections, Context, EventLoop, Line, LineDecoder, LoopHandle, Lost, Protocol,
};
use crate::Stop;

/// The loop's application state, which every connection shares: the room and the limits
/// (see [`ChatServer::handle`]); its parts are private.
#[derive(Debug)]
pub struct ChatState {
    room: Room<ConnId>,
    config: Config,
}

/// One client: its line decoder; its nickname lives in the room.
struct Client {
    lines: LineDecoder,
    /// Whether it has joined (for the log line that says so, once).
    joined: bool,
}

/// The room's output, written into the connections' transports by id.
struct Out<'a, 'c> {
    conns: &'a mut Connections<'c, ChatState>,
    max_pending: usize,
    /// Set by `/quit`: the rest of this read is not handled.
    quit: bool,
}

impl Outbox<ConnId> for Out<'_, '_> {
    fn send(&mut self, to: ConnId, line: &[u8]) {
        let Some(mut transport) = self.conns.transport_of(to) else {
            return; // gone; its connection_lost is on its way
        };
        if transport.write(line).is_err() {
            return; // closing: it has left the room already, or is about to
        }
        // Bytes the kernel has not taken yet. A client that reads keeps this near zero
        // however much the room says; one that does not is dropped here, mid-broadcast,
        // and the broadcast goes on to the others.
        let pending = transport.get_write_buffer_size();
        if pending > self.max_pending {
            warn!(
                "{to}: {pending} bytes unsent, more than --max-pending {}: disconnecting",
                self.max_pending
            );
            transport.abort();
        }
    }

    fn close(&mut self, who: ConnId) {
        if let Some(mut transport) = self.conns.transport_of(who) {
            transport.close(); // "* bye" is queued: the layer sends it, then closes
        }
        self.quit = true;
    }
}

impl Client {
    /// Runs `f` with the room and an outbox, borrowed from the context side by side.
    /// Returns whether the client quit.
    fn with_room(
        ctx: &mut Context<'_, ChatState>,
        f: impl FnOnce(&mut Room<ConnId>, &mut Out<'_, '_>),
    ) -> bool {
        let (state, mut conns) = ctx.split();
        let mut out = Out {
            conns: &mut conns,
            max_pending: state.config.max_pending,
            quit: false,
        };
        f(&mut state.room, &mut out);
        out.quit
    }

    /// Logs the client's nickname once it has one.
    fn note_join(&mut self, ctx: &mut Context<'_, ChatState>) {
        if self.joined {
            return;
        }
        let me = ctx.id();
        if let Some(nick) = ctx.app().room.nick(me) {
            info!("{me}: joined as {}", nick.escape_ascii());
            self.joined = true;
        }
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
        for line in self.lines.feed(data) {
            let quit = Client::with_room(ctx, |room, out| match line {
                Line::Line(text) => room.line(me, &text, out),
                Line::TooLong => room.line_too_long(me, out),
            });
            if quit {
                break; // lines after /quit are not handled
            }
            self.note_join(ctx);
        }
    }

    /// End of input: every complete line before it has been handled (lines are handled as
    /// they arrive), so the client leaves now; the loop then sends what it is still owed
    /// and closes. A last piece without a newline is not a line: it is dropped.
    fn eof_received(&mut self, ctx: &mut Context<'_, ChatState>) -> bool {
        info!("{}: end of input", ctx.id());
        Client::leave(ctx);
        false
    }

    fn timed_out(&mut self, ctx: &mut Context<'_, ChatState>) {
        info!("{}: idle timeout", ctx.id());
        let _ = ctx.write(b"* idle timeout\n");
        Client::leave(ctx);
    }

    fn connection_lost(&mut self, ctx: &mut Context<'_, ChatState>, reason: Lost) {
        info!("{}: {reason}", ctx.id());
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
/// // The server is `Send`: build it here, and hand it to the thread that runs it.
/// let mut server = ChatServer::new(listener, Config::default())?;
/// let stop = server.stop_handle();
/// let thread = std::thread::spawn(move || server.run());
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
        };
        let mut lp = EventLoop::with_config(state, loop_config)?;
        lp.listen_tcp(listener, move || Client {
            lines: LineDecoder::new(max_line),
            joined: false,
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
