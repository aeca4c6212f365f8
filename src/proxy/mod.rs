//! A caching HTTP/1.0 forward proxy on the protocol layer: the course's caching proxy,
//! with the shared-cache rules of RFC 9111.
//!
//! Python: no one module; a proxy in Python is `http.server.BaseHTTPRequestHandler` whose
//! `do_GET` fetches `self.path` with `urllib.request` (docs/proxy.md sketches it). Here one
//! loop thread does both sides: each request opens an outgoing connection whose bytes flow
//! to the incoming one, with backpressure both ways, and names are resolved on other
//! threads so the loop never blocks.
//!
//! | module | what it holds |
//! |---|---|
//! | `target` | [`Target`]: the absolute-form URL a proxy is sent, taken apart |
//! | `allow` | [`AllowList`]: which upstreams may be reached (`--allow`) |
//! | `headers` | [`Headers`]: fields in order; hop-by-hop removal, `Via` |
//! | `message` | [`parse_request`], [`parse_response`], [`Framing`]: heads with every field kept |
//! | `chunked` | [`ChunkedDecoder`]: for upstreams that answer HTTP/1.0 with chunks |
//! | `cache` | [`storable`], [`Stored`] (age, freshness, validators), [`Cache`] (LRU by bytes) |
//! | `resolve` | [`Resolve`]: the name lookup, run on the layer's worker pool |
//! | `server` | [`ProxyServer`], [`ProxyConfig`]: the two protocols on the loop |
//! | `client` | the client side: requests, answers from the cache, keep-alive, timeouts |
//! | `fetch` | the upstream side: one fetch per request, collapsed forwarding, backpressure |
//!
//! [The proxy guide](crate::guide::proxy) walks through it with `curl -v -x` transcripts.

mod allow;
mod cache;
mod chunked;
mod client;
mod fetch;
mod headers;
mod message;
mod resolve;
mod server;
mod target;

pub use allow::{AllowList, BadRule, Rule};
pub use cache::{storable, Cache, CacheControl, NotStorable, RequestRules, Stored};
pub use chunked::{ChunkedDecoder, ChunkedError};
pub use headers::{split_list, Headers, HOP_BY_HOP};
pub use message::{
    head_end, parse_request, parse_response, Framing, HeadError, RequestHead, ResponseHead,
};
pub use resolve::{Resolve, SystemResolver};
pub use server::{ProxyConfig, ProxyServer, ProxyStats};
pub use target::{Target, TargetError};
