//! A caching HTTP/1.0 forward proxy: what `curl -x` and a browser's proxy setting talk to.
//!
//! Mirrors docs/python/http_proxy.py (`http.server` whose `do_GET` fetches the URL with
//! `urllib.request`, and a dictionary for a cache), with a shared cache that follows
//! RFC 9111; the
//! proxy itself is the library's [`mio_selectors::proxy`] module on the protocol layer.
//! Names are resolved on other threads, never on the loop's.
//!
//! Run it next to the HTTP server, then fetch through it:
//!
//! ```sh
//! cargo run --release --example http_server &                  # the upstream, :8080
//! cargo run --release --example http_proxy                     # the proxy, :8081
//! curl -v -x http://127.0.0.1:8081 http://127.0.0.1:8080/       # X-Cache: MISS, then HIT
//! curl -I -x http://127.0.0.1:8081 http://127.0.0.1:8080/       # HEAD, from the stored GET
//! curl -x http://127.0.0.1:8081 -H 'Cache-Control: no-cache' http://127.0.0.1:8080/   # REVALIDATED
//! python3 -c 'import urllib.request as u; o = u.build_opener(u.ProxyHandler({"http": "http://127.0.0.1:8081"})); print(o.open("http://127.0.0.1:8080/").headers["X-Cache"])'
//! cargo run --release --example http_proxy -- --allow 127.0.0.2:8080 --cache-bytes 1048576
//! ab -k -X 127.0.0.1:8081 -n 10000 -c 10 http://127.0.0.1:8080/index.html
//! kill %1
//! ```
//!
//! docs/proxy.md walks through it: the cache's rules with transcripts, and why names are
//! resolved on a worker thread.
//!
//! By default only loopback upstreams (`localhost`, 127.0.0.0/8, `::1`) may be reached:
//! an open proxy reaches whatever its host can. Ctrl-C stops it cleanly.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::{Context, Failure};
use mio_selectors::http::Limits;
use mio_selectors::proxy::{AllowList, ProxyConfig, ProxyServer, Rule};

/// Caching HTTP/1.0 forward proxy (GET and HEAD) on Python's selectors API
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(
        mirrors = "docs/python/http_proxy.py",
        stop = clean
    )
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen<8081>,
    /// Upstream that may be reached, HOST[:PORT] (repeatable; names are resolved now, and
    /// a request's address must be one of theirs) [default: localhost, 127.0.0.0/8, ::1]
    #[arg(long, value_name = "HOST[:PORT]")]
    allow: Vec<String>,
    /// Body bytes the cache holds at most (least recently used evicted first)
    #[arg(long, default_value_t = ProxyConfig::default().cache_bytes)]
    cache_bytes: u64,
    /// The largest body stored, in bytes; larger ones are relayed, not stored
    #[arg(long, default_value_t = ProxyConfig::default().max_object)]
    max_object: u64,
    /// Seconds the upstream may take to send a response head, name lookup and connect
    /// included (then 504); also how long a body may stall (then the client's connection
    /// is cut), and how long a request waits for another's fetch of the same URL
    #[arg(long, default_value = "10", value_parser = common::positive_seconds)]
    upstream_timeout: Duration,
    /// Threads per worker that resolve names (getaddrinfo blocks, so never on the loop's
    /// thread)
    #[arg(long, default_value_t = ProxyConfig::default().resolver_threads as u16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    resolver_threads: u16,
    /// Name lookups that may wait for those threads; one more is answered 503
    #[arg(long, default_value_t = ProxyConfig::default().resolver_queue)]
    resolver_queue: usize,
    /// Threads, each with its own event loop, listening socket and cache, sharing the port
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Connections open at once per worker, clients and upstreams together (a miss holds
    /// two); at the cap an idle keep-alive client is closed to make room, else the newcomer
    /// is answered 503 [default: 10000, lowered to fit the descriptor limit at two
    /// descriptors per client]
    #[arg(long, value_parser = common::at_least_one())]
    max_conns: Option<usize>,
    /// Seconds a request head may take to arrive, then 408: stops slowloris (0: never)
    // The defaults are ProxyConfig::default()'s, written out: clap shows a text default.
    #[arg(long, default_value = "10", value_parser = common::seconds_or_never)]
    // Spelled out in full, so that clap does not read it as "an optional flag".
    head_timeout: ::std::option::Option<Duration>,
    /// Seconds a kept-alive connection may idle between requests, or a response stall
    /// (0: never)
    #[arg(long, default_value = "15", value_parser = common::seconds_or_never)]
    idle_timeout: ::std::option::Option<Duration>,
}

/// Descriptors one client may hold: its socket and, on a miss, its upstream's.
const FDS_PER_CONNECTION: u64 = 2;

fn main() -> ExitCode {
    common::run(|cli: Cli| -> common::Result {
        let cap = common::connection_cap(
            "--max-conns",
            cli.max_conns,
            common::DEFAULT_MAX_CONNS,
            FDS_PER_CONNECTION,
            u64::from(cli.workers),
        )?;
        let allow = if cli.allow.is_empty() {
            AllowList::loopback()
        } else {
            let rules = cli
                .allow
                .iter()
                .map(|text| Rule::parse(text).map_err(Failure::usage))
                .collect::<Result<Vec<_>, _>>()?;
            AllowList::new(rules)
        };
        // One listening socket per worker, all on one address; the cap is taken (and its
        // lowering logged) only once they listen, so a busy port is the one line printed.
        let listeners = cli.listen.tcp_shared(usize::from(cli.workers))?;
        let config = ProxyConfig {
            limits: Limits::default(),
            allow,
            cache_bytes: cli.cache_bytes,
            max_object: cli.max_object,
            upstream_timeout: cli.upstream_timeout,
            resolver_threads: usize::from(cli.resolver_threads),
            resolver_queue: cli.resolver_queue,
            // "Never" is the longest wait: the deadlines saturate (src/timeout.rs).
            head_timeout: cli.head_timeout.unwrap_or(Duration::MAX),
            idle_timeout: cli.idle_timeout.unwrap_or(Duration::MAX),
            max_connections: cap.take(),
            ..ProxyConfig::default()
        };
        let bound = listeners[0]
            .local_addr()
            .context("cannot read the listener's address")?;
        let mut proxies = Vec::new();
        for listener in listeners {
            let proxy =
                ProxyServer::new(listener, config.clone()).context("cannot start the proxy")?;
            proxies.push(proxy);
        }
        common::announce(format_args!(
            "proxy on http://{bound}/ ({} worker{}); try: curl -x http://{bound} http://127.0.0.1:8080/",
            cli.workers,
            if cli.workers == 1 { "" } else { "s" }
        ));
        common::run_workers(
            proxies,
            ProxyServer::stop_handle,
            ProxyServer::run,
            "the proxy",
        )
    })
}
