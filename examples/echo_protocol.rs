//! The echo server on the protocol layer: the same server as `echo_server`, but the loop is
//! the library's `EventLoop` and the server is a few lines of `Protocol`.
//!
//! Mirrors asyncio's echo server (`EchoServerProtocol` in the asyncio docs), and behaves
//! like `docs/python/echo_server.py`: bounded buffers, half-close echoes what came then
//! closes, resets hurt nobody else. The protocol is the library's
//! [`mio_selectors::echo::protocol::Echo`]; read it next to `src/echo/multiplexed.rs`, which
//! does the loop's work by hand.
//!
//! Run:
//!
//! ```sh
//! cargo run --example echo_protocol                       # 127.0.0.1:65432
//! RUST_LOG=debug cargo run --example echo_protocol -- --host ::1 --port 9000
//! ```
//!
//! Talk to it:
//!
//! ```sh
//! nc 127.0.0.1 65432                                      # type lines, see them back
//! cargo run --example echo_client -- --message hello      # one message, verified
//! cargo run --example multiconn_client -- --conns 50 --messages 100
//! ```
//!
//! Ctrl-C (or SIGTERM) stops it cleanly: the loop ends, every connection is closed.

mod common;

use clap::Parser;
use mio_selectors::echo::protocol::EchoProtocolServer;
use mio_selectors::echo::Config;
use std::net::TcpListener;

/// Echo server on the protocol layer: an asyncio-style Protocol on the selector's loop.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    address: common::Address,
    /// Stop reading from a client while this many bytes wait to go back to it
    #[arg(long, default_value_t = Config::default().high_water)]
    high_water: usize,
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
    let listener = TcpListener::bind(cli.address.resolve()?.as_slice())?;
    let config = Config {
        high_water: cli.high_water,
        low_water: cli.high_water / 4,
        ..Config::default()
    };
    let server = EchoProtocolServer::new(listener, config)?;
    common::stop_on_ctrl_c(server.stop_handle())?;
    server.run()?;
    Ok(())
}
