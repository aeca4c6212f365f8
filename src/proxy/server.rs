//! The proxy server: its settings, its shared state, and the two protocols on the loop, one
//! for each client connection and one for each upstream connection.
//!
//! Python: `http.server.ThreadingHTTPServer` with a handler whose `do_GET` opens a
//! `urllib.request` to the URL (docs/python/http_proxy.py). Both protocols here are thin:
//! every decision lives in `client.rs` (requests, answers from the cache) and `fetch.rs`
//! (the upstream exchange, collapsed forwarding), as functions over the loop's state,
//! because a fetch must reach its client and its waiters, and the layer lends a callback
//! only its own connection's protocol.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use log::debug;
use slab::Slab;

use super::client::{self, Client};
use super::fetch::{self, Fetch, FetchId};
use super::resolve::{Resolve, SystemResolver};
use super::{AllowList, Cache};
use crate::event_loop::{self, ConnId, Context, EventLoop, LingeringClose, Lost, PoolId, Protocol};
use crate::http::{closing_error_response, DateCache, Limits, Status};
use crate::Stop;

/// The proxy's settings; [`ProxyConfig::default`] is what the example uses.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Size limits on a client's request head (414, 431).
    pub limits: Limits,
    /// Upstreams that may be reached (`--allow`); loopback only by default.
    pub allow: AllowList,
    /// Body bytes the cache holds at most (`--cache-bytes`).
    pub cache_bytes: u64,
    /// The largest body stored (`--max-object`); larger ones are relayed, not stored.
    pub max_object: u64,
    /// How long the upstream may take to send a complete response head, from the request
    /// (resolution and connect included): then 504. Also how long an upstream body may
    /// stall, and how long a request waits for another's fetch of the same URL.
    pub upstream_timeout: Duration,
    /// How long a client's request head may take to arrive: then 408.
    pub head_timeout: Duration,
    /// How long a kept-alive client may idle between requests, or a response to it stall.
    pub idle_timeout: Duration,
    /// Connections open at once (clients and upstreams), at most.
    pub max_connections: usize,
    /// This proxy's name in `Via` (RFC 9110 §7.6.3 allows a pseudonym).
    pub via_name: String,
    /// Threads of the worker pool that resolves names (the layer's pool: names never
    /// resolve on the loop's thread).
    pub resolver_threads: usize,
    /// Lookups that may wait for a resolver thread; past that, requests for names get 503.
    pub resolver_queue: usize,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            limits: Limits::default(),
            allow: AllowList::loopback(),
            cache_bytes: 64 * 1024 * 1024,
            max_object: 8 * 1024 * 1024,
            upstream_timeout: Duration::from_secs(10),
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            max_connections: 4096,
            via_name: "mio-proxy".to_owned(),
            resolver_threads: 4,
            resolver_queue: 1024,
        }
    }
}

/// Counters, readable from any thread while the proxy runs (tests, logs).
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub(crate) requests: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) revalidated: AtomicU64,
    pub(crate) collapsed: AtomicU64,
    pub(crate) upstream_requests: AtomicU64,
}

impl ProxyStats {
    /// Requests answered or forwarded (bad ones included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Responses served from the cache without asking the upstream (`X-Cache: HIT`).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
    /// Responses relayed from the upstream (`X-Cache: MISS`).
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
    /// Stored responses the upstream confirmed with a 304 (`X-Cache: REVALIDATED`).
    pub fn revalidated(&self) -> u64 {
        self.revalidated.load(Ordering::Relaxed)
    }
    /// Requests that waited for another request's fetch of the same URL.
    pub fn collapsed(&self) -> u64 {
        self.collapsed.load(Ordering::Relaxed)
    }
    /// Requests sent upstream.
    pub fn upstream_requests(&self) -> u64 {
        self.upstream_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What every connection of the loop shares.
pub(crate) struct State {
    pub(crate) config: Arc<ProxyConfig>,
    pub(crate) cache: Cache,
    pub(crate) clients: HashMap<ConnId, Client>,
    pub(crate) fetches: Slab<Fetch>,
    pub(crate) next_generation: u64,
    /// Fetches others may wait for, by cache key (collapsed forwarding).
    pub(crate) in_flight: HashMap<String, FetchId>,
    /// Body bytes held by fetches whose response may be stored, all together: at most
    /// `cache_bytes`, or the fetch that would pass it streams instead.
    pub(crate) in_transit: u64,
    pub(crate) dates: DateCache,
    /// The lookup, and the worker pool it runs on.
    pub(crate) resolve: Arc<dyn Resolve>,
    pub(crate) pool: Option<PoolId>,
    pub(crate) stats: Arc<ProxyStats>,
}

/// The caching forward proxy: a listener, a cache, and an event loop.
///
/// Python: `http.server.ThreadingHTTPServer` with a handler that fetches `self.path` with
/// `urllib.request` (docs/proxy.md).
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{HttpServer, ServerConfig, Site};
/// use mio_selectors::proxy::{ProxyConfig, ProxyServer};
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let site = Site::new(concat!(env!("CARGO_MANIFEST_DIR"), "/site"))?;
/// let origin = HttpServer::new(TcpListener::bind("127.0.0.1:0")?, site, ServerConfig::default())?;
/// let origin_addr = origin.local_addr();
/// let origin_stop = origin.stop_handle();
/// let origin_thread = std::thread::spawn(move || origin.run());
///
/// let proxy = ProxyServer::new(TcpListener::bind("127.0.0.1:0")?, ProxyConfig::default())?;
/// let proxy_addr = proxy.local_addr();
/// let proxy_stop = proxy.stop_handle();
/// let proxy_thread = std::thread::spawn(move || proxy.run());
///
/// let mut client = TcpStream::connect(proxy_addr)?;
/// write!(client, "GET http://{origin_addr}/index.html HTTP/1.0\r\n\r\n")?;
/// let mut response = String::new();
/// client.read_to_string(&mut response)?;
/// assert!(response.starts_with("HTTP/1.0 200 OK\r\n"));
/// assert!(response.contains("\r\nX-Cache: MISS\r\n"));
///
/// proxy_stop.stop();
/// origin_stop.stop();
/// proxy_thread.join().unwrap()?;
/// origin_thread.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub struct ProxyServer {
    lp: EventLoop<State>,
    local_addr: SocketAddr,
    stats: Arc<ProxyStats>,
}

impl ProxyServer {
    /// A proxy on a bound `listener` that resolves names with the system's resolver.
    ///
    /// # Errors
    /// The OS error creating the loop or watching the listener.
    pub fn new(listener: std::net::TcpListener, config: ProxyConfig) -> io::Result<ProxyServer> {
        ProxyServer::with_resolver(listener, config, Arc::new(SystemResolver))
    }

    /// A proxy that resolves names with `resolve` (a test's fake directory, say).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_resolver(
        listener: std::net::TcpListener,
        config: ProxyConfig,
        resolve: Arc<dyn Resolve>,
    ) -> io::Result<ProxyServer> {
        let local_addr = listener.local_addr()?;
        let loop_config = event_loop::Config {
            max_connections: config.max_connections,
            full_message: full_message(),
            ..event_loop::Config::default()
        };
        let stats = Arc::new(ProxyStats::default());
        let (threads, queue) = (config.resolver_threads, config.resolver_queue);
        let state = State {
            cache: Cache::new(config.cache_bytes),
            config: Arc::new(config),
            clients: HashMap::new(),
            fetches: Slab::new(),
            next_generation: 0,
            in_flight: HashMap::new(),
            in_transit: 0,
            dates: DateCache::default(),
            resolve,
            pool: None,
            stats: Arc::clone(&stats),
        };
        let mut lp = EventLoop::with_config(state, loop_config)?;
        let pool = lp.add_pool(threads.max(1), queue)?;
        lp.app_mut().pool = Some(pool);
        lp.listen_tcp(listener, || ClientSide)?;
        Ok(ProxyServer {
            lp,
            local_addr,
            stats,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that ends [`run`](Self::run) from another thread (tests, Ctrl-C).
    pub fn stop_handle(&self) -> Stop {
        self.lp.handle().stop_handle()
    }

    /// The proxy's counters.
    pub fn stats(&self) -> Arc<ProxyStats> {
        Arc::clone(&self.stats)
    }

    /// Serves until the stop handle is used.
    ///
    /// # Errors
    /// An error of the loop itself; a failing connection is closed and logged, never fatal.
    pub fn run(mut self) -> io::Result<()> {
        debug!("proxy on http://{}", self.local_addr);
        self.lp.run()
    }
}

impl fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// The 503 sent to a connection over the limit.
fn full_message() -> Vec<u8> {
    closing_error_response(
        Status::ServiceUnavailable,
        "the proxy is at its connection limit; try again shortly",
        None,
    )
}

/// A client connection's protocol; its state lives in [`State::clients`].
struct ClientSide;

impl Protocol<State> for ClientSide {
    fn connection_made(&mut self, ctx: &mut Context<'_, State>) {
        let id = ctx.id();
        let now = ctx.now();
        // A close (Connection: close, a refused request, a timeout) may find input unread;
        // then the layer lingers rather than reset the connection and lose the answer.
        ctx.transport().set_lingering_close(LingeringClose::On);
        ctx.app().clients.insert(id, Client::new(now));
        client::arm_timer(ctx, id);
    }

    fn data_received(&mut self, ctx: &mut Context<'_, State>, data: &[u8]) {
        let id = ctx.id();
        client::data_received(ctx, id, data);
    }

    fn eof_received(&mut self, ctx: &mut Context<'_, State>) -> bool {
        let id = ctx.id();
        client::eof_received(ctx, id)
    }

    fn pause_writing(&mut self, ctx: &mut Context<'_, State>) {
        let id = ctx.id();
        if let Some(client) = ctx.app().clients.get_mut(&id) {
            client.write_paused = true;
        }
    }

    fn resume_writing(&mut self, ctx: &mut Context<'_, State>) {
        let id = ctx.id();
        client::resume_writing(ctx, id);
    }

    fn connection_lost(&mut self, ctx: &mut Context<'_, State>, reason: Lost) {
        let id = ctx.id();
        if !reason.is_clean() {
            debug!("client {id:?}: {reason}");
        }
        client::gone(ctx, id);
    }
}

/// An upstream connection's protocol; its state lives in the [`Fetch`] it serves.
pub(crate) struct UpstreamSide {
    pub(crate) fetch: FetchId,
}

impl Protocol<State> for UpstreamSide {
    fn connection_made(&mut self, ctx: &mut Context<'_, State>) {
        fetch::connected(ctx, self.fetch);
    }

    fn data_received(&mut self, ctx: &mut Context<'_, State>, data: &[u8]) {
        fetch::data_received(ctx, self.fetch, data);
    }

    fn eof_received(&mut self, ctx: &mut Context<'_, State>) -> bool {
        fetch::upstream_closed(ctx, self.fetch, None);
        false
    }

    fn connection_failed(&mut self, ctx: &mut Context<'_, State>, error: io::Error) {
        fetch::connect_failed(ctx, self.fetch, error);
    }

    fn connection_lost(&mut self, ctx: &mut Context<'_, State>, reason: Lost) {
        let error = (!reason.is_clean()).then(|| reason.to_string());
        fetch::upstream_closed(ctx, self.fetch, error);
    }
}
