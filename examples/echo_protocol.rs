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

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::Context;
use mio_selectors::echo::protocol::EchoProtocolServer;
use mio_selectors::echo::Config;

/// Echo server on the protocol layer: an asyncio-style Protocol on the selector's loop.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "docs/python/echo_server.py", stop = clean)
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen,
    /// Stop reading from a client while this many bytes wait to go back to it
    #[arg(long, default_value_t = Config::default().high_water)]
    high_water: usize,
    /// Most connections at once; at the cap, new clients wait until one closes
    #[arg(long, default_value_t = Config::default().max_conns)]
    max_conns: usize,
    /// Close a connection after this many seconds without progress (0: never)
    #[arg(long, default_value = "300", value_parser = common::seconds_or_never)]
    // Spelled out in full, so that clap does not read it as "an optional flag".
    idle_timeout: ::std::option::Option<Duration>,
    /// Raise the limit on open descriptors first (for thousands of connections)
    #[arg(long)]
    raise_fd_limit: bool,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        if cli.raise_fd_limit {
            let limit =
                mio_selectors::raise_fd_limit().context("cannot raise the descriptor limit")?;
            log::info!("descriptor limit: {limit}");
        }
        let listener = cli.listen.tcp()?;
        let config = Config {
            high_water: cli.high_water,
            low_water: cli.high_water / 4,
            max_conns: cli.max_conns,
            idle_timeout: cli.idle_timeout,
            ..Config::default()
        };
        let server =
            EchoProtocolServer::new(listener, config).context("cannot start the server")?;
        common::stop_on_ctrl_c(server.stop_handle())?;
        server.run().context("the echo server failed")
    })
}
