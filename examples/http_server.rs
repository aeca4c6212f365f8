//! The HTTP/1.0 responder: serves a directory of static files to browsers, curl and ab.
//!
//! Mirrors `python3 -m http.server --bind 127.0.0.1 8080 --directory site` (the standard
//! library's `http.server`); the server itself is the library's [`mio_selectors::http`]
//! module on the protocol layer, and docs/http.md walks through it.
//!
//! Run (with no flags it serves the bundled tour of the server, `site/`):
//!
//! ```sh
//! cargo run --release --example http_server                 # http://127.0.0.1:8080/
//! cargo run --release --example http_server -- --root ~/www --port 8000 --workers 2
//! RUST_LOG=warn cargo run --release --example http_server   # no access log
//! ```
//!
//! Talk to it:
//!
//! ```sh
//! curl -v http://127.0.0.1:8080/
//! curl -I http://127.0.0.1:8080/logo.png
//! printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -N 127.0.0.1 8080
//! ab -n 10000 -c 50 http://127.0.0.1:8080/index.html
//! python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:8080/").status)'
//! ```
//!
//! Then open http://127.0.0.1:8080/ in a browser. Ctrl-C stops it cleanly: every worker's
//! loop ends and closes its connections.

mod common;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use clap::Parser;
use mio_selectors::http::{HttpServer, Limits, ServerConfig, Site};
use socket2::{Domain, Socket, Type};

/// HTTP/1.0 static-file server on Python's selectors API (GET and HEAD)
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Address to listen on (IPv4 or IPv6 literal, or a host name)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// TCP port (0: let the OS choose)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Directory to serve [default: the bundled tour, site/ in the crate]
    #[arg(long)]
    root: Option<PathBuf>,
    /// Threads, each with its own event loop and listening socket, sharing the port
    /// (SO_REUSEPORT: the kernel spreads new connections over them)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Connections open at once per worker; one more is answered 503
    #[arg(long, default_value_t = ServerConfig::default().max_connections)]
    max_conns: usize,
    /// Seconds a request head may take to arrive (then 408: stops slowloris)
    #[arg(long, default_value_t = ServerConfig::default().head_timeout.as_secs_f64())]
    head_timeout: f64,
    /// Seconds a kept-alive connection may idle between requests, or a response stall
    #[arg(long, default_value_t = ServerConfig::default().idle_timeout.as_secs_f64())]
    idle_timeout: f64,
    /// Listen backlog: connections the kernel queues before the server accepts them
    #[arg(long, default_value_t = 1024)]
    backlog: i32,
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
    let root = cli
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/site")));
    let config = ServerConfig {
        limits: Limits::default(),
        head_timeout: seconds(cli.head_timeout, "--head-timeout")?,
        idle_timeout: seconds(cli.idle_timeout, "--idle-timeout")?,
        max_connections: cli.max_conns,
    };
    let addr = (cli.host.as_str(), cli.port)
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {}: {err}", cli.host))?
        .next()
        .ok_or_else(|| format!("{}: no address found", cli.host))?;

    // Every worker binds its own socket to the same address (the first one fixes the port
    // when --port 0 asked the OS to choose) and runs its own loop in its own thread.
    let mut servers = Vec::new();
    let mut bound = addr;
    for _ in 0..cli.workers {
        let listener = listen(bound, cli.backlog, cli.workers > 1)
            .map_err(|err| format!("cannot listen on {bound}: {err}"))?;
        bound = listener.local_addr()?;
        servers.push(HttpServer::new(
            listener,
            Site::new(&root)?,
            config.clone(),
        )?);
    }
    eprintln!(
        "http_server: serving {} on http://{bound}/ ({} worker{})",
        root.display(),
        cli.workers,
        if cli.workers == 1 { "" } else { "s" }
    );
    stop_all_on_ctrl_c(servers.iter().map(HttpServer::stop_handle).collect())?;
    let workers = servers
        .into_iter()
        .enumerate()
        .map(|(i, server)| {
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || server.run())
        })
        .collect::<Result<Vec<_>, _>>()?;
    for worker in workers {
        worker.join().map_err(|_| "a worker panicked")??;
    }
    Ok(())
}

/// A listening socket with the backlog asked for, and SO_REUSEPORT when several workers
/// share the port (std's `TcpListener::bind` sets neither).
fn listen(addr: SocketAddr, backlog: i32, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // As std does: a restarted server may bind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("{flag}: {value} is not a duration"))
}

/// Stops every worker's loop on Ctrl-C or SIGTERM (examples/common has the one-loop form).
fn stop_all_on_ctrl_c(stops: Vec<mio_selectors::Stop>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                log::info!("signal {signal} received; stopping");
                stops.iter().for_each(mio_selectors::Stop::stop);
            }
        })?;
    Ok(())
}
