//! The chat server: line-based chat for many clients, one thread, on the protocol layer.
//!
//! Mirrors `docs/python/chat_server.py` (the same wire protocol, the same flags); the
//! server is the library's [`mio_selectors::chat`] module, which spells out the protocol
//! rule by rule. Read it side by side with the Python program.
//!
//! Run:
//!
//! ```sh
//! cargo run --example chat_server                         # 127.0.0.1:65433
//! RUST_LOG=debug cargo run --example chat_server -- --host ::1 --port 9000 --idle-timeout 60
//! python3 docs/python/chat_server.py                      # the Python one, same port
//! ```
//!
//! Talk to it, from two or more terminals:
//!
//! ```sh
//! nc 127.0.0.1 65433          # the greeting; type a nickname, then lines; /who, /quit
//! nc -C 127.0.0.1 65433       # \r\n line ends work too
//! ```
//!
//! Ctrl-C (or SIGTERM) stops it cleanly: the loop ends, every connection is closed.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::Context;
use mio_selectors::chat::{ChatServer, Config, DEFAULT_PORT};

/// Chat server: every line a client sends goes to every other client (nc is a client).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "docs/python/chat_server.py", stop = clean)
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen<DEFAULT_PORT>,
    /// Longest line in bytes, the newline not counted; longer ones are refused
    #[arg(long, default_value_t = Config::default().max_line, value_parser = common::at_least_one())]
    max_line: usize,
    /// Disconnect a client with more than this many bytes of output not yet sent
    #[arg(long, default_value_t = Config::default().max_pending, value_parser = common::at_least_one())]
    max_pending: usize,
    /// Close a client silent for this many seconds (0: never)
    #[arg(long, default_value = "300", value_parser = common::seconds_or_never)]
    // Spelled out in full, so that clap does not read it as "an optional flag".
    idle_timeout: ::std::option::Option<Duration>,
    /// Refuse connections beyond this many ("! server full")
    #[arg(long, default_value_t = Config::default().max_clients, value_parser = common::at_least_one())]
    max_clients: usize,
}

/// Descriptors the server needs beyond one per client: the listener, the selector, its
/// waker, stdio, and one spare so that a client over `--max-clients` can be told so.
const SPARE_DESCRIPTORS: u64 = 16;

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        // The default --max-clients (10,000) is far above a process's usual soft limit on
        // descriptors (1,024), one per client: raise it to the hard limit, and say so if
        // even that is short (clients past it would wait for a descriptor instead of
        // being told "! server full").
        let limit = mio_selectors::raise_fd_limit().context("cannot raise the descriptor limit")?;
        if (cli.max_clients as u64).saturating_add(SPARE_DESCRIPTORS) > limit {
            log::warn!(
                "--max-clients {} is more than the descriptor limit ({limit}) allows; \
                 clients past about {} will wait instead of getting \"! server full\"",
                cli.max_clients,
                limit.saturating_sub(SPARE_DESCRIPTORS)
            );
        } else {
            log::debug!("descriptor limit: {limit}");
        }
        let listener = cli.listen.tcp()?;
        let config = Config {
            max_line: cli.max_line,
            max_pending: cli.max_pending,
            idle_timeout: cli.idle_timeout,
            max_clients: cli.max_clients,
        };
        let mut server = ChatServer::new(listener, config).context("cannot start the server")?;
        common::stop_on_ctrl_c(server.stop_handle())?;
        server.run().context("the chat server failed")
    })
}
