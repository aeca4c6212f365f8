//! Load generator for echo servers: how many messages per second, at what latency, with
//! every echoed byte checked.
//!
//! Opens `--conns` connections, then for `--duration` seconds keeps messages of `--size`
//! bytes going on each: one at a time (`--mode ping-pong`: send, wait for the whole echo,
//! send the next: round trips per second, as for request/response) or `--depth` at a time
//! (`--mode pipelined`: a new message as soon as an echo completes: throughput). Runs in one
//! thread, on the crate's selector; the engine is the library's
//! [`mio_selectors::echo::load`] module. Any echo server on any address works.
//!
//! Run it against each server (start the server first, in another terminal):
//!
//! ```sh
//! cargo run --release --example echo_server                 # the selector server, or:
//! cargo run --release --example echo_threads                # a thread per client
//! cargo run --release --example echo_raw_mio                # raw edge-triggered mio
//! python3 docs/python/echo_server.py                        # Python's selectors
//!
//! cargo run --release --example echo_load -- --conns 50 --size 64 --duration 3
//! cargo run --release --example echo_load -- --conns 500 --size 4096 --mode pipelined --depth 16
//! cargo run --release --example echo_load -- --host ::1 --port 9000 --warmup 1
//! ```
//!
//! For numbers worth comparing, pin the server and the load to different cores
//! (`taskset -c 0 ...` and `taskset -c 1 ...`); `scripts/bench-echo.sh` does that for every
//! server and prints one table.
//!
//! Output: one line,
//!
//! ```text
//! conns=50 size=64 mode=ping-pong secs=3.000 msgs=338725 msgs_per_s=112890 mb_per_s=7.22 p50_us=450.6 p99_us=704.5 errors=0
//! ```
//!
//! * `msgs`: messages whose whole echo came back and matched, counted from the end of the
//!   warm-up; `secs`: from then to the last of those echoes. `msgs_per_s` is their ratio,
//!   `mb_per_s` the same in megabytes of messages (10^6 bytes; each message counted once,
//!   not once per direction).
//! * `p50_us`, `p99_us`: latency percentiles in microseconds, from a message's first byte
//!   handed to the kernel to the arrival of its last echoed byte (within 3 %: a log-bucket
//!   histogram). Pipelined latency includes the queueing behind the other messages.
//! * `errors`: connections that failed (refused, reset, closed early, a wrong byte, an
//!   echo not back within `--grace` after the end). Each is logged as it fails.
//!
//! Exit status 1 on any error or mismatch, or if no message came back. The client's own
//! core can be the bottleneck: a loaded server at much less than 100 % CPU means the figure
//! is the client's, not the server's (hence `bench-echo.sh`'s server CPU per message).

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use common::{outln, Context, Failure};
use mio_selectors::echo::load::{self, LoadOptions, Mode};

/// Echo load generator: C connections, S-byte messages, D seconds, every byte verified.
///
/// Prints one summary line; exit status 0 only if every echo came back intact.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(
        mirrors = "no Python program: the load generator of scripts/bench-echo.sh",
        stop = done
    )
)]
struct Cli {
    #[command(flatten)]
    address: common::Address,
    /// Connections, all opened before the clock starts
    #[arg(long, default_value_t = 50, value_parser = common::at_least_one())]
    conns: usize,
    /// Bytes per message
    #[arg(long, default_value_t = 64, value_parser = common::at_least_one())]
    size: usize,
    /// Seconds of load (after the warm-up), such as 3 or 0.5
    #[arg(long, default_value = "3", value_parser = common::seconds)]
    duration: Duration,
    /// One message in flight per connection, or --depth of them
    #[arg(long, value_enum, default_value_t = CliMode::PingPong)]
    mode: CliMode,
    /// Messages in flight per connection when pipelined
    #[arg(long, default_value_t = 16, value_parser = common::at_least_one())]
    depth: usize,
    /// Seconds of load before counting starts
    #[arg(long, default_value = "0", value_parser = common::seconds)]
    warmup: Duration,
    /// Seconds to wait for one connect, and for the last echoes after the end
    #[arg(long, default_value = "5", value_parser = common::positive_seconds)]
    grace: Duration,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CliMode {
    PingPong,
    Pipelined,
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        let options = LoadOptions {
            conns: cli.conns,
            size: cli.size,
            duration: cli.duration,
            mode: match cli.mode {
                CliMode::PingPong => Mode::PingPong,
                CliMode::Pipelined => Mode::Pipelined,
            },
            depth: cli.depth,
            warmup: cli.warmup,
            grace: cli.grace,
        };
        let addrs = cli.address.resolve()?;
        let report =
            load::run(&addrs, &options).with_context(|| format!("cannot load {}", cli.address))?;
        outln!("{report}")?;
        if report.ok() {
            return Ok(());
        }
        Err(Failure::new(format!(
            "load on {} failed: {}",
            cli.address,
            match report.errors.first() {
                Some(first) => format!(
                    "{} of {} connections failed (first: {first})",
                    report.errors.len(),
                    report.conns
                ),
                None => "no message was echoed".to_string(),
            }
        )))
    })
}
