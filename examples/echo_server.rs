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

use std::process::ExitCode;

use clap::Parser;
use common::Context;
use mio_selectors::echo::EchoServer;

/// Echo server on Python's selectors API: one thread multiplexes every connection.
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
        // Python: open_listener(host, port, backlog), then lsock.setblocking(False).
        let cap = cli.limits.cap()?;
        let listener = cli.listen.tcp()?;
        let config = cli.limits.config(cap);
        let server = EchoServer::new(listener, config).context("cannot start the server")?;
        common::stop_on_ctrl_c(server.stop_handle())?;
        server.run().context("the echo server failed")
    })
}
