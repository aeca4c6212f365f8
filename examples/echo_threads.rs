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

use std::net::TcpListener;
use std::sync::Arc;

use clap::Parser;
use mio_selectors::echo::{threaded, Config, Stats};

/// Echo server with one thread per connection.
///
/// Mirrors docs/python/echo_threads.py. Ctrl-C ends the process. Logs: RUST_LOG (default
/// info).
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    address: common::Address,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    common::init_logging();
    // Python: open_listener(host, port). std tries every resolved address in turn.
    let listener = TcpListener::bind(cli.address.resolve()?.as_slice())?;
    threaded::serve(listener, Config::default(), Arc::new(Stats::default()))?;
    Ok(())
}
