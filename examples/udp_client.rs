//! The UDP echo client: N datagrams of S bytes, a timeout and retries, and a report of what
//! came back, what was lost and the round-trip times.
//!
//! No Python program: the course talks to its UDP server with `nc -u`. This client is the
//! library's [`mio_selectors::udp_echo::client`]: one blocking socket, no selector.
//!
//! Run it against `udp_echo` (Rust or Python):
//!
//! ```sh
//! cargo run --example udp_echo &                          # or: python3 docs/python/udp_echo.py &
//! cargo run --example udp_client                          # 10 datagrams of 64 bytes, lockstep
//! cargo run --example udp_client -- --count 100 --size 65507
//! cargo run --example udp_client -- --count 10000 --window 10000 --size 64 --timeout 0.2 --retries 30
//! kill %1
//! cargo run --example udp_echo -- --host ::1 &            # IPv6: a larger datagram fits
//! cargo run --example udp_client -- --host ::1 --size 65527
//! kill %1
//! ```
//!
//! The third command is a burst: all 10,000 datagrams at once. That overflows the socket
//! buffers (the kernel keeps a few hundred small datagrams per socket by default,
//! `/proc/sys/net/core/rmem_default`), and UDP drops what does not fit, telling no one.
//! Each round of resends gets a few hundred more through, so the burst needs `--retries
//! 30` where lockstep needs 3: with the default it reports thousands lost and exits 1,
//! which is UDP telling the truth. `tests/examples.rs` runs every command of this block.
//!
//! It prints one line, e.g. `datagrams=10 size=64 received=10 lost=0 resent=0 late=0
//! corrupt=0 refused=0 rtt_us=31/45/90/90 elapsed=0.001`, and exits 0 only if every
//! datagram came back intact.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::{outln, Context, Failure};
use mio_selectors::udp_echo::client::{self, ClientOptions};
use mio_selectors::udp_echo::DEFAULT_PORT;

/// UDP echo client: sends datagrams, retries the lost ones, reports losses and round trips.
///
/// Prints one summary line; exit status 0 only if every datagram came back intact.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(mirrors = "no Python program: the course uses nc -u", stop = done)
)]
struct Cli {
    #[command(flatten)]
    address: common::Address<DEFAULT_PORT>,
    /// Datagrams to send
    #[arg(long, default_value_t = 10, value_parser = common::at_least_one())]
    count: usize,
    /// Bytes per datagram (0 to 65,507; 65,527 over IPv6)
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to wait for each echo before sending again
    #[arg(long, default_value = "1", value_parser = common::positive_seconds)]
    timeout: Duration,
    /// Times a datagram is sent again before it counts as lost
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Datagrams in flight at once (1: lockstep; the count: a burst)
    #[arg(long, default_value_t = 1, value_parser = common::at_least_one())]
    window: usize,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        let address = cli.address;
        // The first address the name resolves to: UDP has no handshake to tell whether
        // another would have worked.
        let addr = address.resolve()?[0];
        let options = ClientOptions {
            count: cli.count,
            size: cli.size,
            timeout: cli.timeout,
            retries: cli.retries,
            window: cli.window,
        };
        let summary = client::run(addr, &options)
            .with_context(|| format!("cannot echo with {address} (udp)"))?;
        outln!("{summary}")?;
        if summary.ok() {
            return Ok(());
        }
        let nobody = if summary.refused > 0 && summary.received == 0 {
            " (connection refused: nobody is listening there)"
        } else {
            ""
        };
        Err(Failure::new(format!(
            "udp echo with {address} failed: {} of {} datagrams lost, {} corrupt{nobody}",
            summary.lost, summary.datagrams, summary.corrupt
        )))
    })
}
