//! Port of `docs/python/chat_server.py`: line-based chat for many clients on one loop.
//!
//! The course's echo server sends what a client says back to that client; a chat server
//! sends it to every *other* client, so one connection's input becomes many connections'
//! output, and a slow reader must not hold up the rest. The module is in three parts:
//!
//! | part | Python | what it does |
//! |---|---|---|
//! | [`LineDecoder`](crate::event_loop::LineDecoder) (the layer's) | `ChatServer.feed` | cuts lines out of the byte stream, at most `max_line + 1` bytes held |
//! | [`Room`] | `handle_line`, `choose_nick`, `leave` | nicknames, commands, broadcast: the rules, with no I/O |
//! | [`ChatServer`] | `ChatServer`'s loop | a [`Protocol`](crate::event_loop::Protocol) per connection on the [`EventLoop`](crate::event_loop::EventLoop): output limit, idle timeout, client limit |
//!
//! # The wire protocol
//!
//! Exactly this; a client (`nc` is one) can rely on it:
//!
//! * Lines are bytes ending in `\n`; a `\r` before the `\n` is dropped. Every line the
//!   server sends ends in `\n`. Lines are relayed as bytes (not required to be UTF-8).
//! * On connect the server sends one notice line starting with `* ` ([`GREETING`]) before
//!   anything else.
//! * The client's first line is its nickname: 1–32 bytes of `[A-Za-z0-9_-]`
//!   ([`is_valid_nickname`]). If valid and not in use, the server answers `* welcome NICK`
//!   and sends `* NICK joined` to every other joined client. If invalid it answers
//!   `! invalid nickname`, if in use `! nickname in use`, and waits for another.
//! * After that, every line `L` that does not start with `/` is sent to every *other*
//!   joined client as `<NICK> L`, in the order received; the sender gets nothing back.
//! * `/who` answers `* users: ` and the joined nicknames separated by spaces, sorted (as
//!   bytes). `/quit` answers `* bye`, flushes and closes; any other `/word` answers
//!   `! unknown command`. The command is the line's first word.
//! * When a joined client leaves for any reason (`/quit`, end of file, reset, timeout,
//!   being dropped), every other joined client gets `* NICK left`. Lines that arrived
//!   before a client's end of file are still delivered; a last piece with no newline is
//!   not a line, and is discarded.
//! * A line longer than [`Config::max_line`] bytes (not counting the newline) is
//!   discarded up to its newline and the sender gets `! line too long`; the connection
//!   stays open and memory stays bounded however long the line is.
//! * A client whose unsent output passes [`Config::max_pending`] bytes is disconnected;
//!   nobody else waits for it.
//! * A client silent for [`Config::idle_timeout`] gets `* idle timeout` and is closed. One
//!   that has left (`/quit`, end of input) gets as long again to read what it is still
//!   owed, then is disconnected: it cannot hold its socket forever by never reading.
//! * A connection beyond [`Config::max_clients`] gets `! server full` and is closed; the
//!   others are unaffected.

use std::time::Duration;

mod room;
mod server;

pub use room::{is_valid_nickname, Outbox, Room};
pub use server::{ChatServer, ChatState};

/// The example's default port: echo is 65432, chat 65433, UDP echo 65434.
pub const DEFAULT_PORT: u16 = 65433;

/// The first line every accepted client gets. Python: `GREETING`.
pub const GREETING: &[u8] = b"* hello! send your nickname (1-32 of A-Z a-z 0-9 _ -)\n";

/// The chat server's limits; [`Config::default`] has the example's defaults.
///
/// Python: `chat_server.py`'s command-line options, with the same defaults.
///
/// # Examples
///
/// ```
/// use mio_selectors::chat::Config;
/// use std::time::Duration;
///
/// let config = Config { idle_timeout: Some(Duration::from_secs(60)), ..Config::default() };
/// assert_eq!(config.max_line, 4096);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The longest line, in bytes, not counting the newline (or a `\r` before it).
    /// `--max-line`, default 4096.
    pub max_line: usize,
    /// Disconnect a client with more than this many bytes of output not yet sent.
    /// `--max-pending`, default 1 MiB.
    pub max_pending: usize,
    /// Close a client that has sent nothing for this long; `None` never does.
    /// `--idle-timeout`, default 300 s (0 on the command line means `None`).
    pub idle_timeout: Option<Duration>,
    /// Refuse connections beyond this many at once. `--max-clients`, default 10,000.
    pub max_clients: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_line: 4096,
            max_pending: 1024 * 1024,
            idle_timeout: Some(Duration::from_secs(300)),
            max_clients: 10_000,
        }
    }
}
