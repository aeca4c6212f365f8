//! A caching HTTP/1.0 forward proxy on the protocol layer: the course's caching proxy,
//! with the shared-cache rules of RFC 9111.
//!
//! Python: no one module; a proxy in Python is `http.server.BaseHTTPRequestHandler` whose
//! `do_GET` fetches `self.path` with `urllib.request` (docs/python/http_proxy.py is that
//! program). Here one loop thread does both sides: each request opens an outgoing
//! connection whose bytes flow to the incoming one, with backpressure both ways, and names
//! are resolved on other threads so the loop never blocks.
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

/// Hostile input: random bytes, and valid messages with bytes flipped, through every
/// parser. Each must answer (a value or an error), never panic.
#[cfg(test)]
mod hostile {
    use super::*;
    use crate::http::Limits;

    /// xorshift64*: reproducible noise without a dependency.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let len = (self.next() % max as u64) as usize;
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    const SEEDS: &[&[u8]] = &[
        b"GET http://h:80/a?b HTTP/1.1\r\nHost: h\r\nCache-Control: max-age=5, no-cache=\"x, y\"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVary: Accept-Encoding\r\nETag: W/\"x\"\r\n\r\nhello",
        b"HTTP/1.0 304 NM\r\nTransfer-Encoding: chunked\r\nContent-Length: 1, 2\r\n\r\n",
        b"5;a=b\r\nhello\r\n0\r\nT: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nAge: 18446744073709551615\r\nDate: Mon, 01 Jan 1900 00:00:00 GMT\r\nExpires: Fri, 31 Dec 9999 23:59:59 GMT\r\n\r\n",
    ];

    fn exercise(input: &[u8]) {
        let limits = Limits::default();
        let _ = head_end(input, input.len() / 2);
        if let Ok(head) = parse_request(input, &limits) {
            let _ = Target::parse(&head.target);
            let _ = RequestRules::parse(&head.headers);
        }
        if let Ok(head) = parse_response(input) {
            let _ = head.framing(false);
            let _ = storable(
                "GET",
                &Headers::new(),
                head.status,
                &head.headers,
                Some(1),
                10,
            );
            let now = std::time::SystemTime::now();
            let stored = Stored::new(head, input.to_vec().into(), &Headers::new(), now, now);
            let _ = (
                stored.is_fresh(now),
                stored.freshness_lifetime(),
                stored.validators(),
            );
            let _ = stored.refreshed(&stored.headers, now, now);
        }
        let text = String::from_utf8_lossy(input);
        let _ = Target::parse(&text);
        let _ = split_list(&text).count();
        let _ = ChunkedDecoder::default().feed(input, &mut Vec::new());
    }

    #[test]
    fn no_input_panics_a_parser() {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            exercise(&noise.bytes(300));
        }
        for seed in SEEDS {
            for _ in 0..2000 {
                let mut input = seed.to_vec();
                for _ in 0..=noise.next() % 4 {
                    let at = (noise.next() % input.len() as u64) as usize;
                    input[at] = noise.next() as u8;
                }
                let cut = (noise.next() % (input.len() as u64 + 1)) as usize;
                exercise(&input[..cut]);
                exercise(&input);
            }
        }
    }
}
