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

use clap::Parser;
use common::Context;
use mio_selectors::echo::protocol::EchoProtocolServer;

/// Echo server on the protocol layer: an asyncio-style Protocol on the selector's loop.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "docs/python/echo_server.py", stop = clean)
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen,
    #[command(flatten)]
    limits: common::EchoLimits,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        let cap = cli.limits.cap()?;
        let listener = cli.listen.tcp()?;
        let config = cli.limits.config(cap);
        let server =
            EchoProtocolServer::new(listener, config).context("cannot start the server")?;
        common::stop_on_ctrl_c(server.stop_handle())?;
        server.run().context("the echo server failed")
    })
}
