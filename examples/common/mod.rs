//! What every example shares: logging, the `--host`/`--port` options, and Ctrl-C.
//!
//! Each example pulls this in with `mod common;`. Not every example uses every item.
#![allow(dead_code)]

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::thread;

use clap::Args;
use mio_selectors::Stop;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Where to listen or connect. Python: `HOST = "127.0.0.1"`, `PORT = 65432`.
#[derive(Args, Debug, Clone)]
pub struct Address {
    /// Host name or IP address (IPv4 or IPv6), resolved as Python's socket module does
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// TCP port
    #[arg(long, default_value_t = 65432)]
    pub port: u16,
}

impl Address {
    /// Every address the host name resolves to, in the resolver's order (getaddrinfo, as
    /// Python's `socket.create_connection` and `create_server` use). Binding and connecting
    /// try them in turn, so `--host localhost` works whether it means ::1 or 127.0.0.1.
    pub fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no address found", self.host),
            ));
        }
        Ok(addrs)
    }
}

/// Logs to stderr through `env_logger`; `RUST_LOG=debug` shows every connection. Without
/// `RUST_LOG`, the examples log at `info`: start, stop, and anything that went wrong.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
}

/// Stops the loop on Ctrl-C (SIGINT) or SIGTERM, from a small signal-handling thread.
///
/// Python gets this for free: Ctrl-C raises `KeyboardInterrupt` inside `select()`, and a
/// `finally:` closes the selector. A Rust process is simply killed by SIGINT unless it
/// installs a handler; this one turns the signal into a call to `stop`, so the loop ends,
/// closes its connections and returns normally.
pub fn stop_on_ctrl_c(stop: Stop) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                log::info!("signal {signal} received; stopping");
                stop.stop();
            }
        })?;
    Ok(())
}
