//! Python's [`selectors`](https://docs.python.org/3/library/selectors.html) module, ported to
//! Rust on [mio], with the servers a networking course builds on it.
//!
//! # What it is, and for whom
//!
//! `selectors` lets one thread watch many sockets: `register(fileobj, events, data)`, then
//! `select(timeout)` returns the ready ones, and each key's `data` says what the socket is
//! for. Students learn non-blocking network programming with it. This crate is the same
//! module in Rust, with the same names and the same behaviour, including Python's
//! *level-triggered* readiness, which mio on its own does not give. It is written to be read:
//! every place it departs from Python says so, and why.
//!
//! # A first event loop
//!
//! Python's loop, `for key, mask in sel.select(): ...`, translates almost line by line.
//! `select()` hands back a [`Token`] for each ready key, so the body may register new
//! sockets while it walks the list:
//!
//! ```
//! use mio_selectors::{Selector, EVENT_READ};
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (mut peer, sock) = UnixStream::pair()?;
//! sock.set_nonblocking(true)?;
//! let mut sel = Selector::new()?;
//! sel.register(sock, EVENT_READ, "greeter")?;
//!
//! peer.write_all(b"hello")?;
//! for (token, mask) in sel.select(1.0)? {
//!     let key = sel.get_key_mut(token)?;
//!     assert!(mask.contains(EVENT_READ) && key.data == "greeter");
//!     let mut buf = [0; 64];
//!     let n = key.fileobj().read(&mut buf)?;
//!     key.fileobj().write_all(&buf[..n])?;
//! }
//! let mut reply = [0; 5];
//! peer.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! One idea per module, in the order Python's `Lib/selectors.py` introduces them:
//!
//! | module | Python | what it holds |
//! |---|---|---|
//! | [`events`](crate::Events) | `EVENT_READ`, `EVENT_WRITE` | the [`Events`] mask |
//! | `key` | `SelectorKey` | [`SelectorKey`], and the [`Token`] and [`Lookup`] that name one |
//! | `key_map` | `_fd_to_key`, `_SelectorMapping` | the registration table (no I/O) and its [`Mapping`] view |
//! | `selector` | `EpollSelector`, `DefaultSelector` | [`Selector`]: register, modify, select, close |
//! | `readiness` | `EpollSelector.select`'s mask fold | level triggers rebuilt on mio's edges |
//! | `timeout` | `select(timeout=...)` | [`Timeout`], and deadlines for EINTR retries |
//! | `error` | `ValueError`, `KeyError`, `RuntimeError`, `OSError` | [`Error`], [`RegisterError`] |
//! | `os_errors` | `BlockingIOError`, `OUT_OF_RESOURCES` | which I/O errors a loop retries, and which end accepting for now |
//! | `stop` | (`KeyboardInterrupt`) | [`Stop`]: ends a loop from another thread or a Ctrl-C handler |
//! | [`signal`] | `KeyboardInterrupt`, `loop.add_signal_handler` | Ctrl-C and SIGTERM stop a loop: [`signal::stop_on_ctrl_c`] |
//! | [`echo`] | `docs/python/echo_*.py`, `multiconn_client.py` | the course's blocking, threaded and multiplexed echo servers, and the multi-connection client |
//! | [`event_loop`] | `asyncio` (loop, `Protocol`, `Transport`, `call_later`) | the protocol layer: write a protocol, not a loop |
//! | [`chat`] | `docs/python/chat_server.py` | line-based chat: bounded line framing, the room's rules (no I/O), the server |
//! | [`udp_echo`] | `docs/python/udp_echo.py` | the UDP echo server, and a client that retries and measures round trips |
//! | [`unix_echo`] | `socket.AF_UNIX` | echo over a Unix-domain socket; stale socket files removed, live ones and other files left alone |
//! | [`http`] | `http.server` | the HTTP/1.0 responder: request reader, root-confined files, responses, the server on the protocol layer |
//! | [`proxy`] | `http.server` + `urllib.request` | the caching forward proxy: RFC 9111's shared-cache rules, names resolved off the loop, collapsed forwarding |
//! | `sys` | `resource.setrlimit` | the only `unsafe`: `poll(2)` and the calls mio does not wrap; [`raise_fd_limit`] |
//!
//! The [`guide`] module holds the prose: the Python-to-Rust mapping, the design notes, the
//! echo servers' walkthrough, the HTTP server's walkthrough and deployment, the caching
//! proxy, and the measurements,
//! with every Rust example in them compiled and run as a test.
//!
//! # Platforms
//!
//! Unix only, like the descriptor-based selectors it ports. Linux (epoll) is what the tests
//! run on; macOS and the BSDs (kqueue) compile through the same mio calls but are not
//! verified here.

#![doc(test(attr(deny(warnings))))]

#[cfg(not(unix))]
compile_error!("mio-selectors ports Python's descriptor-based selectors and needs a Unix OS");

pub mod chat;
pub mod echo;
mod error;
pub mod event_loop;
mod events;
pub mod guide;
pub mod http;
mod key;
mod key_map;
mod os_errors;
pub mod proxy;
mod readiness;
mod selector;
pub mod signal;
mod stop;
mod sys;
mod timeout;
pub mod udp_echo;
pub mod unix_echo;

pub use error::{Error, ModifyError, RegisterError, Result};
pub use events::{Events, EVENT_READ, EVENT_WRITE};
pub use key::{FileObjMut, Lookup, SelectorKey, Token, UnregisteredKey};
pub use key_map::Mapping;
pub use selector::{DefaultSelector, Selector};
pub use stop::Stop;
pub use sys::raise_fd_limit;
pub use timeout::Timeout;

/// The README's examples, compiled and run by `cargo test` so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
