//! Many echo connections from one thread, on the selector, every echoed byte verified.
//!
//! Mirrors `docs/python/multiconn_client.py`; the event loop itself is the library's
//! [`mio_selectors::echo::client`] module, so that tests can run it in-process. It opens
//! `--conns` connections at once without blocking, sends `--messages` messages of `--size`
//! bytes on each while reading the echo, checks every byte, and prints one summary line,
//! the same as Python's:
//!
//! ```text
//! conns=C messages=M size=S bytes_sent=X bytes_verified=Y errors=E elapsed=T
//! ```
//!
//! Exit status 1 if any byte differed, any connection failed, nothing happened for
//! `--timeout` seconds, or `--time-limit` ran out. Any echo server works: ours, the Python
//! ones, or another.
//!
//! Run it (with one of the echo servers running: `cargo run --example echo_server`):
//!
//! ```sh
//! cargo run --example multiconn_client -- --conns 50 --messages 20 --size 4096
//! cargo run --example multiconn_client -- --conns 1 --messages 1 --size 16777216
//! cargo run --example multiconn_client -- --host ::1 --port 9000 --half-close
//! RUST_LOG=debug cargo run --example multiconn_client -- --conns 2 --messages 2 --size 10
//! python3 docs/python/echo_server.py & cargo run --example multiconn_client   # vs Python
//! ```
//!
//! Ctrl-C ends it at once (the default action of SIGINT); the OS closes the sockets.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::{outln, Context, Failure};
use mio_selectors::echo::client::{self, ClientOptions};

/// Echo client: many non-blocking connections in one thread, every echoed byte verified.
///
/// Prints one summary line; exit status 0 only if every byte came back.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "docs/python/multiconn_client.py", stop = done)
)]
struct Cli {
    #[command(flatten)]
    address: common::Address,
    /// Connections to open at once
    #[arg(long, default_value_t = 10, value_parser = common::at_least_one())]
    conns: usize,
    /// Messages per connection
    #[arg(long, default_value_t = 10, value_parser = common::at_least_one())]
    messages: usize,
    /// Bytes per message
    #[arg(long, default_value_t = 1024, value_parser = common::at_least_one())]
    size: usize,
    /// Shut down the write side after sending, then expect the whole echo and the
    /// server's close
    #[arg(long)]
    half_close: bool,
    /// Give up after this many seconds without any event
    #[arg(long, default_value = "30", value_parser = common::positive_seconds)]
    timeout: Duration,
    /// Give up after this many seconds in all (default: no limit)
    #[arg(long, value_parser = common::positive_seconds)]
    time_limit: Option<Duration>,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        let options = ClientOptions {
            conns: cli.conns,
            messages: cli.messages,
            size: cli.size,
            half_close: cli.half_close,
            timeout: cli.timeout,
            time_limit: cli.time_limit,
        };
        // Python: socket.getaddrinfo(host, port): each connection tries these in turn.
        let addrs = cli.address.resolve()?;
        let summary = client::run(&addrs, &options)
            .with_context(|| format!("cannot echo with {}", cli.address))?;
        // Each failed connection has been logged as it failed; the line sums them up.
        outln!("{summary}")?;
        if summary.ok() {
            return Ok(());
        }
        // The last line on stderr says what was tried and why it failed, for a reader
        // who does not want to count the warnings above it.
        Err(Failure::new(format!(
            "echo with {} failed: {}",
            cli.address,
            match summary.errors.first() {
                Some(first) => format!(
                    "{} of {} connections failed (first: {first})",
                    summary.errors.len(),
                    summary.conns
                ),
                None => format!(
                    "{} of {} bytes came back",
                    summary.bytes_verified,
                    summary.bytes_expected()
                ),
            }
        )))
    })
}
