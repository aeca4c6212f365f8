//! Echo over a Unix-domain stream socket (the course's `AF_UNIX`), on the protocol layer.
//!
//! No Python program of its own: it is `echo_server.py` with `socket.AF_UNIX` and a path
//! instead of a host and port. The server is the library's [`mio_selectors::unix_echo`]
//! module, which explains the socket file's life: a stale one (nobody listening) is
//! removed at start, a live one or a file that is not a socket is an error and left
//! alone, and the server's own file is removed when it stops.
//!
//! Run:
//!
//! ```sh
//! cargo run --example unix_echo                           # ./mio-selectors-echo.sock
//! RUST_LOG=debug cargo run --example unix_echo -- --path /tmp/echo.sock
//! ```
//!
//! Talk to it:
//!
//! ```sh
//! nc -U ./mio-selectors-echo.sock                         # type lines, see them back
//! ```
//!
//! Ctrl-C (or SIGTERM) stops it cleanly and removes the socket file.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use common::Context;
use mio_selectors::unix_echo::{self, UnixEchoServer, DEFAULT_PATH};

/// Echo server on a Unix-domain socket: what you send comes back.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(
        mirrors = "docs/python/echo_server.py (with AF_UNIX and a path)",
        stop = "Ctrl-C or SIGTERM: the loop ends, connections close, the socket file is removed"
    )
)]
struct Cli {
    /// Path of the socket file
    #[arg(long, default_value = DEFAULT_PATH)]
    path: PathBuf,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        // Not common::listen_unix: binding here is also where a stale file is told from a
        // live socket (see the library module). Its errors start with the path, so
        // "cannot listen on " makes the usual line: `cannot listen on PATH: why`.
        let (listener, file) = unix_echo::bind(&cli.path)
            .map_err(|err| common::Failure::new(format!("cannot listen on {err}")))?;
        common::announce(format_args!("listening on {}", cli.path.display()));
        let mut server = UnixEchoServer::new(listener, file).context("cannot start the server")?;
        common::stop_on_ctrl_c(server.stop_handle())?;
        server.run().context("the Unix echo server failed")
    })
}
