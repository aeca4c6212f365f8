//! The multiplexed echo server: one thread, one selector, every connection.
//!
//! Mirrors `docs/python/echo_server.py`, the course's third server; the loop itself is the
//! library's [`mio_selectors::echo`] module, so that tests can run it in-process. Read that
//! module side by side with the Python program (docs/echo.md walks through both).
//!
//! Run:
//!
//! ```sh
//! cargo run --example echo_server                        # 127.0.0.1:65432
//! RUST_LOG=debug cargo run --example echo_server -- --host ::1 --port 9000
//! ```
//!
//! Talk to it:
//!
//! ```sh
//! nc 127.0.0.1 65432                                      # type lines, see them back
//! cargo run --example echo_client -- --message hello      # one message, verified
//! cargo run --example multiconn_client -- --conns 50 --messages 100
//! python3 docs/python/multiconn_client.py --conns 50
//! ```
//!
//! Ctrl-C stops it cleanly: the loop ends, every connection is closed.

mod common;

use clap::Parser;
use mio_selectors::echo::{Config, EchoServer};
use std::net::TcpListener;
use std::time::Duration;

/// Echo server on Python's selectors API: one thread multiplexes every connection.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    address: common::Address,
    /// Stop reading from a client while this many bytes wait to go back to it
    #[arg(long, default_value_t = Config::default().high_water)]
    high_water: usize,
    /// Most connections at once; at the cap, new clients wait until one closes
    #[arg(long, default_value_t = Config::default().max_conns)]
    max_conns: usize,
    /// Close a connection after this many seconds without an event (0: never)
    #[arg(long, default_value = "300", value_parser = parse_idle_timeout)]
    // Spelled out in full, so that clap does not read it as "an optional flag".
    idle_timeout: ::std::option::Option<Duration>,
    /// Raise the limit on open descriptors first (for thousands of connections)
    #[arg(long)]
    raise_fd_limit: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    common::init_logging();
    if cli.raise_fd_limit {
        log::info!("descriptor limit: {}", mio_selectors::raise_fd_limit()?);
    }
    // Python: lsock.bind((host, port)); lsock.listen(). std tries every resolved address.
    let listener = TcpListener::bind(cli.address.resolve()?.as_slice())?;
    let config = Config {
        high_water: cli.high_water,
        low_water: cli.high_water / 4,
        max_conns: cli.max_conns,
        idle_timeout: cli.idle_timeout,
        ..Config::default()
    };
    let server = EchoServer::new(listener, config)?;
    common::stop_on_ctrl_c(server.stop_handle())?;
    server.run()?;
    Ok(())
}

/// `--idle-timeout`: seconds, `0` for never; NaN, negative or huge values are refused.
fn parse_idle_timeout(arg: &str) -> Result<Option<Duration>, String> {
    let secs: f64 = arg.parse().map_err(|err| format!("{err}"))?;
    if secs == 0.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|err| format!("{err}"))
}
