//! The blocking echo server: one client at a time.
//!
//! Mirrors `docs/python/echo_blocking.py`, the course's first server; the loop itself is the
//! library's [`mio_selectors::echo::blocking`] module. Every call blocks, so while one client
//! is connected the next one waits in the listen queue: connect two clients and see the
//! second get no echo until the first disconnects. The threaded server (`echo_threads`) and
//! the selector server (`echo_server`) fix that in two different ways.
//!
//! Run:
//!
//! ```sh
//! cargo run --example echo_blocking                      # 127.0.0.1:65432
//! RUST_LOG=debug cargo run --example echo_blocking -- --host ::1 --port 9000
//! ```
//!
//! Talk to it:
//!
//! ```sh
//! nc 127.0.0.1 65432                                      # type lines, see them back
//! cargo run --example echo_client -- --message hello --count 3
//! cargo run --example multiconn_client -- --conns 5 --messages 10 --size 4096
//! python3 docs/python/echo_client.py --message hello
//! ```
//!
//! (`multiconn_client` opens its connections at once; this server still serves them one
//! after another, which is the point.)
//!
//! Ctrl-C ends the process: no handler is installed, so the default action of SIGINT
//! applies, and the OS closes the listener and the connection. (Python's version catches
//! `KeyboardInterrupt` to the same effect.) The thread is blocked in `accept` or `read`,
//! with no loop to notice a stop flag, so a clean stop would need more machinery than the
//! lesson is about.

mod common;

use std::process::ExitCode;

use clap::Parser;
use common::Context;
use mio_selectors::echo::{blocking, Config, Stats};

/// Blocking echo server: serves one client at a time.
///
/// Other clients wait in the listen queue until the current one disconnects.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "docs/python/echo_blocking.py", stop = kill)
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        // Python: open_listener(host, port, backlog): every resolved address in turn.
        let listener = cli.listen.tcp()?;
        blocking::serve(listener, &Config::default(), &Stats::default())
            .context("the echo server failed")
    })
}
