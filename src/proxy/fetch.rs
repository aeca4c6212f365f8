//! The upstream side of the proxy: one fetch per upstream request, from resolving the name
//! to the end of the body, relayed to the client that started it and stored for the
//! requests that wait for it (collapsed forwarding).
//!
//! Python: `urllib.request.urlopen(url)` inside a proxy's `do_GET`, which blocks its thread;
//! here every step is a callback on the loop:
//!
//! ```text
//! start ─▶ resolve (off the loop) ─▶ connect ─▶ send request ─▶ head ─▶ body ─▶ complete
//!            │ 502                     │ 502                      │ 502/504  │ close early
//! ```
//!
//! Memory: a response that may be stored is kept whole (at most `--max-object`) and fed
//! to the client from that copy at the client's pace, so the upstream is read at its own
//! pace and waiters are not held up by a slow first client. Any other response streams:
//! at most one read is held here, and a client over its high-water mark pauses the
//! upstream read until it drains (Twisted's producer/consumer, protocol-layer-anchors.md).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::debug;

use super::client::{self, Phase, Request};
use super::server::{ProxyStats, State, UpstreamSide};
use super::{head_end, parse_response, storable, ChunkedDecoder, Framing, ResponseHead, Stored};
use crate::event_loop::{ConnId, LoopContext, TimerHandle, Written};
use crate::http::Status;
use crate::timeout::instant_after;

/// The largest response head accepted from an upstream.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Bytes written to the client per step.
const STEP: usize = 64 * 1024;

/// Names a fetch; ids are never reused (a slot plus a generation).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FetchId {
    slot: usize,
    generation: u64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Stage {
    Resolving,
    Connecting,
    Head,
    Body,
}

/// One upstream request and its response.
pub(crate) struct Fetch {
    generation: u64,
    request: Request,
    /// The request as sent upstream.
    wire: Vec<u8>,
    /// The client that started it, receiving the response as it comes.
    client: Option<ConnId>,
    /// Requests for the same URL waiting for this one.
    waiters: Vec<ConnId>,
    /// Registered in `State::in_flight` under `request.key`.
    registered: bool,
    upstream: Option<ConnId>,
    /// Addresses not yet tried.
    addrs: Vec<SocketAddr>,
    stage: Stage,
    head_buf: Vec<u8>,
    scanned: usize,
    head: Option<ResponseHead>,
    framing: Framing,
    remaining: u64,
    decoder: ChunkedDecoder,
    /// The client may keep its connection after this response.
    keep_alive: bool,
    /// The response may be stored: the whole body is kept in `body`.
    storing: bool,
    /// The body: all of it while `storing`, else what the client has not yet taken.
    body: Vec<u8>,
    /// How much of `body` the client has been given.
    sent: usize,
    /// Bytes of `body` counted in `State::in_transit`.
    counted: u64,
    /// The stale stored response this fetch revalidates.
    revalidating: Option<Arc<Stored>>,
    request_time: SystemTime,
    last_read: Instant,
    upstream_paused: bool,
    timer: Option<TimerHandle>,
}

impl State {
    fn fetch(&mut self, id: FetchId) -> Option<&mut Fetch> {
        self.fetches
            .get_mut(id.slot)
            .filter(|f| f.generation == id.generation)
    }
}

/// Starts a fetch for client `id`'s request; `revalidating` is the stale stored response
/// it makes conditional.
pub(crate) fn start(
    lp: &mut LoopContext<'_, State>,
    id: ConnId,
    request: Request,
    revalidating: Option<Arc<Stored>>,
) {
    let now = lp.now();
    let state = lp.app();
    let config = Arc::clone(&state.config);
    let wire = request_bytes(&request, revalidating.as_deref(), &config.via_name);
    let generation = state.next_generation;
    state.next_generation += 1;
    let collapsible = request.collapsible() && !state.in_flight.contains_key(&request.key);
    let (host, port) = (request.target.host.clone(), request.target.port);
    let slot = state.fetches.insert(Fetch {
        generation,
        request,
        wire,
        client: Some(id),
        waiters: Vec::new(),
        registered: collapsible,
        upstream: None,
        addrs: Vec::new(),
        stage: Stage::Resolving,
        head_buf: Vec::new(),
        scanned: 0,
        head: None,
        framing: Framing::Empty,
        remaining: 0,
        decoder: ChunkedDecoder::default(),
        keep_alive: false,
        storing: false,
        body: Vec::new(),
        sent: 0,
        counted: 0,
        revalidating,
        request_time: SystemTime::now(),
        last_read: now,
        upstream_paused: false,
        timer: None,
    });
    let fid = FetchId { slot, generation };
    if collapsible {
        let key = state.fetches[slot].request.key.clone();
        state.in_flight.insert(key, fid);
    }
    if let Some(client) = state.clients.get_mut(&id) {
        client.phase = Phase::Fetching { fetch: fid };
    }
    arm_timer(lp, fid, config.upstream_timeout);
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        // A numeric address needs no lookup (asyncio's `_ipaddr_info`); it goes on after
        // this callback, like every step, so no callback runs inside another.
        let addr = SocketAddr::new(ip, port);
        lp.call_later(Duration::ZERO, move |lp| resolved(lp, fid, Ok(vec![addr])));
    } else {
        // The one blocking call of a proxy, made on a worker thread (never on this one).
        let resolve = Arc::clone(&lp.app().resolve);
        let name = host.clone();
        let submitted = match lp.app().pool {
            Some(pool) => lp
                .run_in_executor(
                    pool,
                    move || resolve.resolve(&name, port),
                    move |lp, result| {
                        let result = result
                            .unwrap_or_else(|_| Err(io::Error::other("the name lookup panicked")));
                        resolved(lp, fid, result);
                    },
                )
                .map_err(|err| err.to_string()),
            None => Err("no resolver pool".to_owned()),
        };
        if let Err(err) = submitted {
            debug!("cannot resolve {host}: {err}");
            // After this callback, like every step, so no callback runs inside another.
            lp.call_later(Duration::ZERO, move |lp| {
                fail(
                    lp,
                    fid,
                    Status::ServiceUnavailable,
                    "too many name lookups at once; try again shortly",
                );
            });
        }
    }
}

/// The request line and headers sent upstream: HTTP/1.0 in origin form, `Host` from the
/// target, the client's end-to-end fields, `Via`, and `Connection: close` (one request per
/// upstream connection).
fn request_bytes(request: &Request, revalidating: Option<&Stored>, via_name: &str) -> Vec<u8> {
    let mut headers = request.headers.clone();
    if let Some(stored) = revalidating {
        // The cache's own validators replace the client's: the client's conditions are
        // evaluated against the refreshed response afterwards.
        for name in [
            "if-none-match",
            "if-modified-since",
            "if-match",
            "if-unmodified-since",
            "if-range",
        ] {
            headers.remove(name);
        }
        for (name, value) in stored.validators().iter() {
            headers.push(name, value);
        }
    }
    headers.append_via(if request.minor == 0 { "1.0" } else { "1.1" }, via_name);
    let mut out = format!(
        "{} {} HTTP/1.0\r\nHost: {}\r\n",
        request.method,
        request.target.path,
        request.target.host_header()
    )
    .into_bytes();
    headers.write_to(&mut out);
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

fn resolved(lp: &mut LoopContext<'_, State>, fid: FetchId, result: io::Result<Vec<SocketAddr>>) {
    let config = Arc::clone(&lp.app().config);
    let Some(fetch) = lp.app().fetch(fid) else {
        return; // given up meanwhile (timeout, client gone)
    };
    let (host, port) = (&fetch.request.target.host, fetch.request.target.port);
    let addrs = match result {
        Ok(addrs) if !addrs.is_empty() => addrs,
        Ok(_) => {
            return fail(
                lp,
                fid,
                Status::BadGateway,
                "the upstream name has no address",
            )
        }
        Err(err) => {
            debug!("cannot resolve {host}: {err}");
            return fail(
                lp,
                fid,
                Status::BadGateway,
                "the upstream name cannot be resolved",
            );
        }
    };
    // Checked on the very addresses connected to, so no second lookup can differ.
    let allowed: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| config.allow.allows_resolved(host, port, a.ip()))
        .collect();
    if allowed.is_empty() {
        debug!("{host} resolved to {addrs:?}, none of them allowed");
        return fail(
            lp,
            fid,
            Status::Forbidden,
            "the upstream name resolves to an address this proxy may not connect to",
        );
    }
    fetch.addrs = allowed;
    fetch.addrs.reverse(); // tried from the back: in the resolver's order
    fetch.stage = Stage::Connecting;
    connect_next(lp, fid);
}

fn connect_next(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let timeout = lp.app().config.upstream_timeout;
    loop {
        let Some(addr) = lp.app().fetch(fid).and_then(|f| f.addrs.pop()) else {
            return fail(
                lp,
                fid,
                Status::BadGateway,
                "cannot connect to the upstream",
            );
        };
        match lp.connect_tcp(addr, UpstreamSide { fetch: fid }, Some(timeout)) {
            Ok(conn) => {
                if let Some(fetch) = lp.app().fetch(fid) {
                    fetch.upstream = Some(conn);
                }
                return;
            }
            Err(err) => debug!("connect to {addr}: {err}"),
        }
    }
}

/// The upstream connection opened: send the request.
pub(crate) fn connected(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    fetch.stage = Stage::Head;
    let wire = std::mem::take(&mut fetch.wire);
    let Some(conn) = fetch.upstream else {
        return;
    };
    ProxyStats::add(&lp.app().stats.upstream_requests);
    let _ = lp.write_to(conn, &wire);
}

/// The upstream connection could not be opened: try the next address, or 502.
pub(crate) fn connect_failed(lp: &mut LoopContext<'_, State>, fid: FetchId, error: io::Error) {
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    debug!("upstream {}: {error}", fetch.request.target.host_header());
    fetch.upstream = None;
    connect_next(lp, fid);
}

/// Bytes from the upstream.
pub(crate) fn data_received(lp: &mut LoopContext<'_, State>, fid: FetchId, data: &[u8]) {
    let now = lp.now();
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    fetch.last_read = now;
    if fetch.stage == Stage::Body {
        return body_bytes(lp, fid, data);
    }
    fetch.head_buf.extend_from_slice(data);
    loop {
        let Some(fetch) = lp.app().fetch(fid) else {
            return;
        };
        let Some(end) = head_end(&fetch.head_buf, fetch.scanned) else {
            fetch.scanned = fetch.head_buf.len();
            if fetch.head_buf.len() > MAX_RESPONSE_HEAD {
                return fail(
                    lp,
                    fid,
                    Status::BadGateway,
                    "the upstream's response head is too large",
                );
            }
            return;
        };
        // The same bound whether the head trickled in or came in one read.
        if end > MAX_RESPONSE_HEAD {
            return fail(
                lp,
                fid,
                Status::BadGateway,
                "the upstream's response head is too large",
            );
        }
        let head = match parse_response(&fetch.head_buf[..end]) {
            Ok(head) => head,
            Err(err) => return fail(lp, fid, err.status, err.detail),
        };
        let rest = fetch.head_buf.split_off(end);
        fetch.head_buf = rest;
        fetch.scanned = 0;
        if head.status == 101 {
            return fail(
                lp,
                fid,
                Status::BadGateway,
                "the upstream switched protocols",
            );
        }
        if head.status < 200 {
            continue; // an interim response (100 Continue): the real one follows
        }
        let rest = std::mem::take(&mut fetch.head_buf);
        if on_head(lp, fid, head) {
            body_bytes(lp, fid, &rest);
        }
        return;
    }
}

/// A complete response head: decide whether it may be stored, and relay it. Returns
/// whether a body follows.
fn on_head(lp: &mut LoopContext<'_, State>, fid: FetchId, mut head: ResponseHead) -> bool {
    let now = SystemTime::now();
    let state = lp.app();
    let config = Arc::clone(&state.config);
    let stats = Arc::clone(&state.stats);
    let State { fetches, cache, .. } = state;
    let Some(fetch) = fetches
        .get_mut(fid.slot)
        .filter(|f| f.generation == fid.generation)
    else {
        return false;
    };
    let framing = match head.framing(fetch.request.method == "HEAD") {
        Ok(framing) => framing,
        Err(err) => {
            fail(lp, fid, err.status, err.detail);
            return false;
        }
    };
    head.headers.remove_hop_by_hop();
    // RFC 9110 §6.6.1: a response without Date gets the time it arrived, before it is
    // forwarded or stored (its age is counted from there).
    if !head.headers.contains("date") {
        let date = httpdate::fmt_http_date(now);
        head.headers.push("Date", date);
    }
    if let Some(old) = fetch.revalidating.take() {
        if head.status == 304 && !old.selected_by(&head.headers) {
            // RFC 9111 §4.3.4: a 304 whose validator is not the stored response's says
            // nothing about it. Forget it, and let everyone ask again, unconditionally.
            debug!("{}: a 304 for another representation", fetch.request.key);
            cache.remove(&fetch.request.key);
            retry_without_the_entry(lp, fid);
            return false;
        }
        if head.status == 304 {
            // RFC 9111 §4.3.4: freshen the stored response and serve it.
            let fresh = Arc::new(old.refreshed(&head.headers, fetch.request_time, now));
            ProxyStats::add(&stats.revalidated);
            // The 304's fields now belong to the stored response: one that says
            // `no-store`, `private` or `Vary: Cookie`, or sets a cookie (meant for this
            // client alone), makes it one this cache must not keep or give to others.
            let shared = match storable(
                &fetch.request.method,
                &fetch.request.headers,
                fresh.status,
                &fresh.headers,
                Some(fresh.size()),
                config.max_object,
            ) {
                Ok(()) => {
                    cache.insert(fetch.request.key.clone(), Arc::clone(&fresh));
                    Some(Arc::clone(&fresh))
                }
                Err(why) => {
                    debug!("{}: dropped after its 304: {why}", fetch.request.key);
                    cache.remove(&fetch.request.key);
                    None
                }
            };
            finish(lp, fid, &fresh, shared, "REVALIDATED");
            return false;
        }
        // A full response replaces the stale one, whatever becomes of it.
        cache.remove(&fetch.request.key);
    }
    let length = match framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    fetch.storing = storable(
        &fetch.request.method,
        &fetch.request.headers,
        head.status,
        &head.headers,
        length,
        config.max_object,
    )
    .map_err(|why| debug!("{} not stored: {why}", fetch.request.key))
    .is_ok();
    fetch.framing = framing;
    fetch.remaining = length.unwrap_or(0);
    fetch.keep_alive =
        fetch.request.keep_alive && matches!(framing, Framing::Length(_) | Framing::Empty);
    fetch.stage = Stage::Body;

    // The client's head: the upstream's end-to-end fields, our Via, what the cache did.
    let mut out = format!("HTTP/1.0 {} {}\r\n", head.status, head.reason).into_bytes();
    let mut headers = head.headers.clone();
    match framing {
        Framing::Chunked => {
            headers.remove("content-length"); // decoded here; the body ends at the close
        }
        // One value, however the upstream spelled it (`7, 7`, or two fields).
        Framing::Length(n) => headers.set("Content-Length", n.to_string()),
        Framing::Empty | Framing::Close => {}
    }
    headers.append_via(
        if head.minor == 0 { "1.0" } else { "1.1" },
        &config.via_name,
    );
    headers.write_to(&mut out);
    out.extend_from_slice(b"X-Cache: MISS\r\n");
    out.extend_from_slice(client::connection_header(fetch.keep_alive));
    ProxyStats::add(&stats.misses);
    if let Some(client) = fetch.client {
        client::log_relayed(client, &fetch.request, head.status, "MISS");
        let _ = lp.write_to(client, &out);
    }
    let storing = lp.app().fetch(fid).is_some_and(|f| f.storing);
    if let Some(fetch) = lp.app().fetch(fid) {
        fetch.head = Some(head);
    }
    if !storing {
        release_waiters(lp, fid);
    }
    let upstream_timeout = config.upstream_timeout;
    arm_timer(lp, fid, upstream_timeout);
    if matches!(framing, Framing::Empty | Framing::Length(0)) {
        complete(lp, fid);
        return false;
    }
    true
}

fn body_bytes(lp: &mut LoopContext<'_, State>, fid: FetchId, data: &[u8]) {
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    if data.is_empty() {
        return;
    }
    let done = match fetch.framing {
        Framing::Empty => true,
        Framing::Length(_) => {
            let n = usize::try_from(fetch.remaining)
                .unwrap_or(usize::MAX)
                .min(data.len());
            fetch.body.extend_from_slice(&data[..n]);
            fetch.remaining -= n as u64;
            fetch.remaining == 0
        }
        Framing::Close => {
            fetch.body.extend_from_slice(data);
            false
        }
        Framing::Chunked => match fetch.decoder.feed(data, &mut fetch.body) {
            Ok(done) => done,
            Err(err) => {
                debug!("{}: bad chunked body: {err}", fetch.request.key);
                return fail_mid_body(lp, fid);
            }
        },
    };
    let (max_object, cache_bytes) = {
        let config = &lp.app().config;
        (config.max_object, config.cache_bytes)
    };
    let State {
        fetches,
        in_transit,
        ..
    } = lp.app();
    if let Some(fetch) = fetches
        .get_mut(fid.slot)
        .filter(|f| f.generation == fid.generation && f.storing)
    {
        // Count what this fetch holds toward the bound on all of them.
        let held = fetch.body.len() as u64;
        *in_transit += held - fetch.counted;
        fetch.counted = held;
        let why = if held > max_object {
            Some("larger than --max-object")
        } else if *in_transit > cache_bytes {
            Some("responses in transit hold --cache-bytes already")
        } else {
            None
        };
        if let Some(why) = why {
            debug!("{}: {why}; relayed, not stored", fetch.request.key);
            *in_transit -= std::mem::take(&mut fetch.counted);
            fetch.storing = false;
            release_waiters(lp, fid);
        }
    }
    pump(lp, fid);
    if done {
        complete(lp, fid);
    }
}

/// Gives the client what it can take of the body, and pauses the upstream while a
/// streaming client is over its high-water mark.
fn pump(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let (state, mut conns) = lp.split();
    let Some(fetch) = state
        .fetches
        .get_mut(fid.slot)
        .filter(|f| f.generation == fid.generation)
    else {
        return;
    };
    let mut client_paused = true;
    if let Some(client_id) = fetch.client {
        if let Some(client) = state.clients.get_mut(&client_id) {
            while fetch.sent < fetch.body.len() && !client.write_paused {
                let end = fetch.body.len().min(fetch.sent + STEP);
                match conns.write_to(client_id, &fetch.body[fetch.sent..end]) {
                    Ok(Written::Flowing) => fetch.sent = end,
                    Ok(Written::OverHighWater) => {
                        fetch.sent = end;
                        client.write_paused = true;
                    }
                    Err(_) => break,
                }
            }
            client_paused = client.write_paused;
        }
    }
    if !fetch.storing {
        fetch.body.drain(..fetch.sent);
        fetch.sent = 0;
        // Backpressure: a slow client pauses the upstream read, so a large download
        // holds one read's worth here, not the whole file.
        let want_pause = client_paused && fetch.client.is_some();
        if want_pause != fetch.upstream_paused {
            fetch.upstream_paused = want_pause;
            if let Some(mut upstream) = fetch.upstream.and_then(|u| conns.transport_of(u)) {
                if want_pause {
                    upstream.pause_reading();
                } else {
                    upstream.resume_reading();
                }
            }
        }
    }
    let client = fetch.client;
    if client_paused {
        if let Some(client) = client {
            client::arm_timer(lp, client); // watch for a client that stopped reading
        }
    }
}

/// The starting client can take more.
pub(crate) fn client_writable(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    pump(lp, fid);
}

/// The body is complete: store it, hand the rest to the client, serve the waiters.
fn complete(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let now = SystemTime::now();
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    let body: Arc<[u8]> = Arc::from(std::mem::take(&mut fetch.body));
    let stored = match (&fetch.head, fetch.storing) {
        (Some(head), true) => {
            let mut head = head.clone();
            // Stored with its length, so hits are served with keep-alive even when it
            // came delimited by close or in chunks.
            head.headers.set("Content-Length", body.len().to_string());
            let stored = Arc::new(Stored::new(
                head,
                Arc::clone(&body),
                &fetch.request.headers,
                fetch.request_time,
                now,
            ));
            let key = fetch.request.key.clone();
            let evicted = lp.app().cache.insert(key, Arc::clone(&stored));
            for key in evicted {
                debug!("evicted {key}");
            }
            Some(stored)
        }
        _ => None,
    };
    close_upstream(lp, fid);
    let Some(fetch) = remove(lp, fid) else {
        return;
    };
    if let Some(client) = fetch.client {
        let keep_alive = fetch.keep_alive;
        client::start_sending_at(lp, client, body, fetch.sent, keep_alive);
        client::drive(lp, client);
    }
    for waiter in fetch.waiters {
        client::fetch_done_for_waiter(lp, waiter, stored.as_ref());
    }
}

/// A revalidation ended in 304: the client that asked is served the freshened response;
/// the waiters too if it may be `shared` (it is still storable), else they go upstream.
fn finish(
    lp: &mut LoopContext<'_, State>,
    fid: FetchId,
    fresh: &Stored,
    shared: Option<Arc<Stored>>,
    label: &str,
) {
    close_upstream(lp, fid);
    let Some(fetch) = remove(lp, fid) else {
        return;
    };
    if let Some(client) = fetch.client {
        client::respond_from_cache(lp, client, &fetch.request, fresh, label);
        client::drive(lp, client);
    }
    for waiter in fetch.waiters {
        client::fetch_done_for_waiter(lp, waiter, shared.as_ref());
    }
}

/// A revalidation that could not be used: the client that started it and the waiters
/// all go upstream again, each on its own (nothing is stored for them to wait for).
fn retry_without_the_entry(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let Some(fetch) = remove(lp, fid) else {
        return;
    };
    let mut everyone = fetch.waiters;
    if let Some(client) = fetch.client {
        if let Some(c) = lp.app().clients.get_mut(&client) {
            c.phase = Phase::Waiting {
                fetch: fid,
                request: Box::new(fetch.request),
            };
            everyone.insert(0, client);
        }
    }
    for id in everyone {
        client::fetch_done_for_waiter(lp, id, None);
    }
}

/// The fetch failed before a response head reached anyone: everyone waiting on it gets
/// the error (Squid's collapsed forwarding does the same).
fn fail(lp: &mut LoopContext<'_, State>, fid: FetchId, status: Status, detail: &str) {
    let Some(fetch) = remove(lp, fid) else {
        return;
    };
    debug!("{}: {status}: {detail}", fetch.request.key);
    let waiting = fetch
        .client
        .into_iter()
        .map(|c| (c, fetch.request.keep_alive));
    let mut everyone: Vec<(ConnId, bool)> = waiting.collect();
    for waiter in &fetch.waiters {
        let keep_alive = lp
            .app()
            .clients
            .get(waiter)
            .and_then(|c| match &c.phase {
                Phase::Waiting { request, .. } => Some(request.keep_alive),
                _ => None,
            })
            .unwrap_or(false);
        everyone.push((*waiter, keep_alive));
    }
    for (client, keep_alive) in everyone {
        client::respond_error(lp, client, status, detail, keep_alive);
        client::drive(lp, client);
    }
}

/// The body broke off (the upstream closed early, stalled, or sent bad chunks): the
/// client's connection is cut so that it cannot take the part for the whole, nothing is
/// stored, and the waiters go upstream themselves.
fn fail_mid_body(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let Some(fetch) = remove(lp, fid) else {
        return;
    };
    debug!("{}: the upstream body broke off", fetch.request.key);
    if let Some(client) = fetch.client {
        client::close(lp, client);
        // A reset, not an end of file: a body delimited by close (relayed from one, or
        // from chunks) would otherwise end cleanly and look complete.
        if let Some(mut t) = lp.transport_of(client) {
            t.reset();
        }
    }
    for waiter in fetch.waiters {
        client::fetch_done_for_waiter(lp, waiter, None);
    }
}

/// The upstream ended (end of file, `error` set if it was not clean).
pub(crate) fn upstream_closed(
    lp: &mut LoopContext<'_, State>,
    fid: FetchId,
    error: Option<String>,
) {
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    fetch.upstream = None;
    match fetch.stage {
        Stage::Resolving | Stage::Connecting => {}
        Stage::Head => {
            debug!("upstream closed before a complete head: {error:?}");
            fail(
                lp,
                fid,
                Status::BadGateway,
                "the upstream closed the connection without a complete response",
            );
        }
        Stage::Body => {
            if fetch.framing == Framing::Close && error.is_none() {
                complete(lp, fid);
            } else {
                debug!("upstream closed mid-body: {error:?}");
                fail_mid_body(lp, fid);
            }
        }
    }
}

/// Adds a waiter; false if the fetch can no longer take one (its response will not be
/// stored).
pub(crate) fn add_waiter(lp: &mut LoopContext<'_, State>, fid: FetchId, id: ConnId) -> bool {
    match lp.app().fetch(fid) {
        Some(fetch) if fetch.registered => {
            fetch.waiters.push(id);
            true
        }
        _ => false,
    }
}

/// A waiter left (gone, or tired of waiting).
pub(crate) fn remove_waiter(lp: &mut LoopContext<'_, State>, fid: FetchId, id: ConnId) {
    if let Some(fetch) = lp.app().fetch(fid) {
        fetch.waiters.retain(|&w| w != id);
        if fetch.client.is_none() && fetch.waiters.is_empty() {
            abandon(lp, fid);
        }
    }
}

/// The client that started the fetch has gone. The fetch goes on while others wait for
/// a response that may be stored (Squid's quick_abort, Varnish's background fetch);
/// otherwise the upstream connection is closed.
pub(crate) fn client_left(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    fetch.client = None;
    let useful = !fetch.waiters.is_empty() && (fetch.storing || fetch.stage != Stage::Body);
    if !useful {
        return abandon(lp, fid);
    }
    if std::mem::take(&mut fetch.upstream_paused) {
        if let Some(mut t) = fetch.upstream.and_then(|u| lp.transport_of(u)) {
            t.resume_reading();
        }
    }
}

/// Nobody wants the fetch any more: close the upstream and forget it.
fn abandon(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    if let Some(fetch) = remove(lp, fid) {
        debug!("{}: abandoned", fetch.request.key);
    }
}

/// The response will not be stored: the waiters go upstream now, each on its own and all
/// at once (Varnish's hit-for-miss: waiting in turn would serialise them).
fn release_waiters(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    let waiters = std::mem::take(&mut fetch.waiters);
    let (registered, key) = (fetch.registered, fetch.request.key.clone());
    fetch.registered = false;
    if registered && lp.app().in_flight.get(&key) == Some(&fid) {
        lp.app().in_flight.remove(&key);
    }
    for waiter in waiters {
        client::fetch_done_for_waiter(lp, waiter, None);
    }
    if lp.app().fetch(fid).is_some_and(|f| f.client.is_none()) {
        abandon(lp, fid);
    }
}

/// Done with the upstream: a plain close (FIN), not the reset a failure gets.
fn close_upstream(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    if let Some(upstream) = lp.app().fetch(fid).and_then(|f| f.upstream.take()) {
        if let Some(mut t) = lp.transport_of(upstream) {
            t.close();
        }
    }
}

/// Takes the fetch out of the state, unregisters it, resets its upstream connection (if
/// [`close_upstream`] has not closed it) and cancels its timer.
fn remove(lp: &mut LoopContext<'_, State>, fid: FetchId) -> Option<Fetch> {
    lp.app().fetch(fid)?;
    let fetch = lp.app().fetches.remove(fid.slot);
    lp.app().in_transit -= fetch.counted;
    if fetch.registered && lp.app().in_flight.get(&fetch.request.key) == Some(&fid) {
        lp.app().in_flight.remove(&fetch.request.key);
    }
    if let Some(timer) = fetch.timer {
        lp.cancel(timer);
    }
    if let Some(mut upstream) = fetch.upstream.and_then(|u| lp.transport_of(u)) {
        upstream.abort();
    }
    Some(fetch)
}

/// (Re)sets the fetch's timer to fire after `delay`.
fn arm_timer(lp: &mut LoopContext<'_, State>, fid: FetchId, delay: Duration) {
    if let Some(old) = lp.app().fetch(fid).and_then(|f| f.timer.take()) {
        lp.cancel(old);
    }
    let timer = lp.call_later(delay, move |lp| timer_fired(lp, fid));
    if let Some(fetch) = lp.app().fetch(fid) {
        fetch.timer = Some(timer);
    }
}

/// No head within the upstream timeout: 504. A body that stalls as long (while the
/// client is keeping up): cut off.
fn timer_fired(lp: &mut LoopContext<'_, State>, fid: FetchId) {
    let now = lp.now();
    let timeout = lp.app().config.upstream_timeout;
    let Some(fetch) = lp.app().fetch(fid) else {
        return;
    };
    fetch.timer = None;
    match fetch.stage {
        Stage::Resolving | Stage::Connecting | Stage::Head => fail(
            lp,
            fid,
            Status::GatewayTimeout,
            "the upstream did not answer in time",
        ),
        Stage::Body => {
            let due = instant_after(fetch.last_read, timeout);
            if fetch.upstream_paused {
                // Waiting for the client, not the upstream: the client's timer decides.
                fetch.last_read = now;
                arm_timer(lp, fid, timeout);
            } else if now >= due {
                fail_mid_body(lp, fid);
            } else {
                arm_timer(lp, fid, due - now);
            }
        }
    }
}
