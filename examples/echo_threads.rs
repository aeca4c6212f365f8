//! The threaded echo server: a thread per client.
//!
//! Mirrors `docs/python/echo_threads.py`, the course's second server; the loop itself is the
//! library's [`mio_selectors::echo::threaded`] module. The main thread only accepts; each
//! client gets a thread running the blocking server's loop, so clients no longer wait for
//! each other, at the price of a thread per connection. The selector server
//! (`echo_server`) serves the same clients from one thread.
//!
//! Run:
//!
//! ```sh
//! cargo run --example echo_threads                       # 127.0.0.1:65432
//! RUST_LOG=debug cargo run --example echo_threads -- --host ::1 --port 9000
//! ```
//!
//! Talk to it:
//!
//! ```sh
//! nc 127.0.0.1 65432                                      # type lines, see them back
//! cargo run --example echo_client -- --message hello --count 3
//! cargo run --example multiconn_client -- --conns 50 --messages 20 --size 4096
//! python3 docs/python/multiconn_client.py --conns 50 --messages 20 --size 4096
//! ```
//!
//! Ctrl-C ends the process: no handler is installed, so the default action of SIGINT
//! applies, and the OS closes every socket and ends every thread. (Python's version catches
//! `KeyboardInterrupt` in the main thread and shuts every connection down, which wakes the
//! workers blocked in `recv()` so that each closes its own socket before the process exits.)

mod common;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use common::Context;
use mio_selectors::echo::{threaded, Config, Stats};

/// Echo server with one thread per connection.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "docs/python/echo_threads.py", stop = kill)
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        // Python: open_listener(host, port, backlog): every resolved address in turn.
        let listener = cli.listen.tcp()?;
        threaded::serve(listener, Config::default(), Arc::new(Stats::default()))
            .context("the echo server failed")
    })
}
