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
    /// Refuse connections beyond this many ("! server full") [default: 10000, lowered to
    /// fit the descriptor limit]
    #[arg(long, value_parser = common::at_least_one())]
    max_clients: Option<usize>,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        // One descriptor per client. Past the limit, clients would wait for a descriptor
        // instead of being told "! server full": the cap is sized to fit it.
        let cap = common::connection_cap(
            "--max-clients",
            cli.max_clients,
            Config::default().max_clients,
            1,
            1,
        )?;
        let listener = cli.listen.tcp()?;
        let config = Config {
            max_line: cli.max_line,
            max_pending: cli.max_pending,
            idle_timeout: cli.idle_timeout,
            max_clients: cap.take(),
        };
        let mut server = ChatServer::new(listener, config).context("cannot start the server")?;
        common::stop_on_ctrl_c(server.stop_handle())?;
        server.run().context("the chat server failed")
    })
}
