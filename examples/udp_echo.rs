//! The UDP echo server: every datagram back to its sender, on the protocol layer.
//!
//! Mirrors `docs/python/udp_echo.py`; the server is the library's
//! [`mio_selectors::udp_echo`] module: a datagram protocol of a few lines.
//!
//! Run:
//!
//! ```sh
//! cargo run --example udp_echo                            # 127.0.0.1:65434
//! RUST_LOG=debug cargo run --example udp_echo -- --host ::1 --port 9000
//! ```
//!
//! Talk to it:
//!
//! ```sh
//! nc -u 127.0.0.1 65434                                   # each line comes back
//! cargo run --example udp_client -- --count 100 --size 1472
//! cargo run --example udp_client -- --count 10000 --window 10000 --size 64 --timeout 0.2 --retries 30
//! ```
//!
//! The last is a burst, which overflows the socket buffers: see `examples/udp_client.rs`
//! for why it needs `--retries 30`.
//!
//! Ctrl-C (or SIGTERM) stops it cleanly, and it logs what it received, echoed and dropped.

mod common;

use std::process::ExitCode;

use clap::Parser;
use common::Context;
use mio_selectors::udp_echo::{UdpEchoServer, DEFAULT_PORT};

/// UDP echo server: every datagram, up to 65,507 bytes (65,527 over IPv6), back to its sender.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "docs/python/udp_echo.py", stop = clean)
)]
struct Cli {
    #[command(flatten)]
    address: common::Address<DEFAULT_PORT>,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        // Listen::udp ignores the backlog: UDP has none (and so no --backlog flag here).
        let listen = common::Listen {
            address: cli.address,
            backlog: common::DEFAULT_BACKLOG,
        };
        let socket = listen.udp()?;
        let mut server = UdpEchoServer::new(socket).context("cannot start the server")?;
        common::stop_on_ctrl_c(server.stop_handle())?;
        let stats = server.stats();
        let result = server.run().context("the UDP echo server failed");
        log::info!("{stats}");
        result
    })
}
