//! The client side of the proxy: request heads in, answers out (from the cache, from an
//! error, or streamed by a fetch), HTTP/1.0 keep-alive, and the client's timeouts.
//!
//! Python: `BaseHTTPRequestHandler.handle_one_request` and `send_response` in a proxy's
//! handler. Each client is a small state machine in [`State::clients`]:
//!
//! ```text
//! Idle ──request──▶ Sending (hit, error) ───────────────┐
//!   │                                                    ▼
//!   ├──miss──▶ Fetching (its own fetch streams to it) ──▶ Sending ──▶ Idle (keep-alive) or close
//!   └──miss, URL in flight──▶ Waiting ──fetch done──▶ Sending (hit) ...
//! ```

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use log::{debug, info, log_enabled, Level};

use super::fetch::{self, FetchId};
use super::server::{ProxyStats, State};
use super::{head_end, parse_request, HeadError, Headers, RequestHead, Stored, Target};
use crate::event_loop::{ConnId, LoopContext, TimerHandle, Written};
use crate::http::{error_page, Status, HTML};
use crate::timeout::instant_after;

/// Bytes written to a client per step while sending a body: one read's worth, so a
/// large body reaches a slow client at the pace it reads, never all at once.
const STEP: usize = 64 * 1024;

/// What the proxy keeps of a client's request.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// `GET` or `HEAD`.
    pub(crate) method: String,
    pub(crate) target: Target,
    /// The cache key: the normalised absolute URL.
    pub(crate) key: String,
    /// The client's HTTP minor version (for `Via`).
    pub(crate) minor: u8,
    /// The end-to-end header fields (hop-by-hop ones and `Host` removed).
    pub(crate) headers: Headers,
    /// The client wants the connection kept after this response.
    pub(crate) keep_alive: bool,
    /// Go upstream without waiting for another request's fetch (a waiter released because
    /// that fetch could not serve it).
    pub(crate) no_collapse: bool,
    /// When the request was read, for the access log.
    pub(crate) started: Instant,
}

impl Request {
    /// Whether this request may share another's fetch, or have others share its own:
    /// a `GET` without credentials (Varnish's built-in rule passes those).
    pub(crate) fn collapsible(&self) -> bool {
        self.method == "GET"
            && !self.headers.contains("authorization")
            && !super::CacheControl::parse(&self.headers).no_store
            && !self.no_collapse
    }
}

pub(crate) enum Phase {
    /// Between requests, or reading a head.
    Idle,
    /// Waiting for another request's fetch of the same URL.
    Waiting {
        fetch: FetchId,
        request: Box<Request>,
    },
    /// Its own fetch streams the response to it.
    Fetching { fetch: FetchId },
    /// Sending `body[at..]` (its head is already written); then keep-alive or close.
    Sending {
        body: Arc<[u8]>,
        at: usize,
        keep_alive: bool,
    },
}

/// One client connection's state.
pub(crate) struct Client {
    /// Request bytes received and not yet parsed.
    buf: Vec<u8>,
    /// How much of `buf` was searched for the end of a head.
    scanned: usize,
    pub(crate) phase: Phase,
    /// Over the high-water mark: stop writing until `resume_writing`.
    pub(crate) write_paused: bool,
    /// Reading stopped because requests pile up while one is being answered.
    read_paused: bool,
    peer_eof: bool,
    closing: bool,
    timer: Option<(TimerHandle, Instant)>,
    /// When the current head began to arrive (or the connection opened).
    head_started: Option<Instant>,
    idle_since: Instant,
    waiting_since: Instant,
    last_unsent: u64,
    progress_at: Instant,
}

impl Client {
    pub(crate) fn new(now: Instant) -> Client {
        Client {
            buf: Vec::new(),
            scanned: 0,
            phase: Phase::Idle,
            write_paused: false,
            read_paused: false,
            peer_eof: false,
            closing: false,
            timer: None,
            head_started: Some(now),
            idle_since: now,
            waiting_since: now,
            last_unsent: 0,
            progress_at: now,
        }
    }
}

/// Bytes from the client.
pub(crate) fn data_received(lp: &mut LoopContext<'_, State>, id: ConnId, data: &[u8]) {
    let now = lp.now();
    let max_head = lp.app().config.limits.max_head;
    let Some(client) = lp.app().clients.get_mut(&id) else {
        return;
    };
    if client.closing {
        return;
    }
    if client.buf.is_empty() && client.head_started.is_none() {
        client.head_started = Some(now);
    }
    client.buf.extend_from_slice(data);
    // Pipelined requests wait while one is answered; past a head's worth, stop reading
    // (the kernel's buffers and then the client's TCP window hold the rest).
    let busy = !matches!(client.phase, Phase::Idle);
    if busy && client.buf.len() > max_head && !client.read_paused {
        client.read_paused = true;
        if let Some(mut t) = lp.transport_of(id) {
            t.pause_reading();
        }
    }
    drive(lp, id);
}

/// The client shut down its sending side. Between requests: answer what it sent, then
/// close. While its request is upstream: it has gone (nginx's "client prematurely closed
/// connection"), so the fetch is let go.
pub(crate) fn eof_received(lp: &mut LoopContext<'_, State>, id: ConnId) -> bool {
    let Some(client) = lp.app().clients.get_mut(&id) else {
        return false;
    };
    client.peer_eof = true;
    match client.phase {
        Phase::Waiting { .. } | Phase::Fetching { .. } => {
            debug!("client {id:?} closed while its request was upstream");
            if let Some(mut t) = lp.transport_of(id) {
                t.abort();
            }
            false
        }
        Phase::Idle | Phase::Sending { .. } => {
            drive(lp, id);
            lp.app().clients.get(&id).is_some_and(|c| !c.closing)
        }
    }
}

/// The client's write buffer drained: send more.
pub(crate) fn resume_writing(lp: &mut LoopContext<'_, State>, id: ConnId) {
    let Some(client) = lp.app().clients.get_mut(&id) else {
        return;
    };
    client.write_paused = false;
    match client.phase {
        Phase::Fetching { fetch } => fetch::client_writable(lp, fetch),
        Phase::Sending { .. } => drive(lp, id),
        _ => {}
    }
}

/// The client's connection is gone: let go of what it was waiting for.
pub(crate) fn gone(lp: &mut LoopContext<'_, State>, id: ConnId) {
    let Some(client) = lp.app().clients.remove(&id) else {
        return;
    };
    if let Some((timer, _)) = client.timer {
        lp.cancel(timer);
    }
    match client.phase {
        Phase::Waiting { fetch, .. } => fetch::remove_waiter(lp, fetch, id),
        Phase::Fetching { fetch } => fetch::client_left(lp, fetch),
        _ => {}
    }
}

/// Moves the client along as far as it can go now: sends what is due, then answers the
/// next buffered request, and so on, until it waits for something (the network, a fetch).
pub(crate) fn drive(lp: &mut LoopContext<'_, State>, id: ConnId) {
    loop {
        let Some(client) = lp.app().clients.get_mut(&id) else {
            return;
        };
        if client.closing {
            return;
        }
        match client.phase {
            Phase::Idle => {
                if !next_request(lp, id) {
                    break;
                }
            }
            Phase::Sending { .. } => {
                if !pump(lp, id) {
                    break;
                }
            }
            Phase::Waiting { .. } | Phase::Fetching { .. } => break,
        }
    }
    // Between requests, with nothing half-received: at the connection limit the loop may
    // close this one (the longest idle first) to let a new client in, as nginx does.
    let idle = lp
        .app()
        .clients
        .get(&id)
        .is_some_and(|c| matches!(c.phase, Phase::Idle) && c.buf.is_empty() && !c.closing);
    if let Some(mut t) = lp.transport_of(id) {
        t.set_reusable(idle);
    }
    arm_timer(lp, id);
}

/// Takes the next complete request head from the buffer and answers it. Returns whether
/// it did (false: no complete head yet, or the connection is closing).
fn next_request(lp: &mut LoopContext<'_, State>, id: ConnId) -> bool {
    let now = lp.now();
    let limits = lp.app().config.limits;
    let Some(client) = lp.app().clients.get_mut(&id) else {
        return false;
    };
    let Some(end) = head_end(&client.buf, client.scanned) else {
        client.scanned = client.buf.len();
        let line = client
            .buf
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(client.buf.len());
        let refused = if line > limits.max_request_line {
            Some((Status::UriTooLong, "request line too long"))
        } else if client.buf.len() > limits.max_head {
            Some((Status::HeaderFieldsTooLarge, "request head too large"))
        } else {
            None
        };
        if let Some((status, detail)) = refused {
            client.buf = Vec::new();
            respond_error(lp, id, status, detail, false);
            return true;
        }
        if client.peer_eof {
            // Every complete request is answered; a partial one never will be.
            close(lp, id);
        }
        return false;
    };
    let head: Vec<u8> = client.buf.drain(..end).collect();
    client.scanned = 0;
    client.head_started = (!client.buf.is_empty()).then_some(now);
    let parsed = parse_request(&head, &limits);
    handle_request(lp, id, parsed);
    true
}

/// Checks a request and serves it, or answers why not.
fn handle_request(
    lp: &mut LoopContext<'_, State>,
    id: ConnId,
    parsed: Result<RequestHead, HeadError>,
) {
    let state = lp.app();
    ProxyStats::add(&state.stats.requests);
    let head = match parsed {
        Ok(head) => head,
        Err(err) => {
            // The stream cannot be trusted past a bad head: answer and close.
            debug!("client {id:?}: bad request: {err}");
            return respond_error(lp, id, err.status, err.detail, false);
        }
    };
    let keep_alive = head.keep_alive;
    match head.method.as_str() {
        "GET" | "HEAD" => {}
        "CONNECT" => {
            return respond_error(
                lp,
                id,
                Status::NotImplemented,
                "CONNECT (tunnels, https://) is not supported by this proxy",
                false,
            )
        }
        _ => {
            return respond_error(
                lp,
                id,
                Status::MethodNotAllowed,
                "this proxy relays GET and HEAD only",
                keep_alive,
            )
        }
    }
    let target = match Target::parse(&head.target) {
        Ok(target) => target,
        Err(err) => return respond_error(lp, id, err.status, err.detail, keep_alive),
    };
    let config = Arc::clone(&lp.app().config);
    if !config.allow.allows_name(&target.host, target.port) {
        info!(
            "client {id:?}: {}:{} is not on the allow-list",
            target.host, target.port
        );
        return respond_error(
            lp,
            id,
            Status::Forbidden,
            "this proxy may not connect to that host and port (see --allow)",
            keep_alive,
        );
    }
    let mut headers = head.headers;
    // A request that already passed through this proxy is a forwarding loop (a URL that
    // names the proxy itself): going on would open connections until none are left.
    let ours = format!(" {}", config.via_name);
    if headers.list("via").any(|hop| hop.ends_with(&ours)) {
        return respond_error(
            lp,
            id,
            Status::Forbidden,
            "forwarding loop: the request already passed through this proxy",
            false,
        );
    }
    headers.remove_hop_by_hop();
    // RFC 9112 §3.2.2: the target's authority wins; Host is generated upstream.
    headers.remove("host");
    let request = Request {
        method: head.method,
        key: target.url(),
        target,
        minor: head.minor,
        headers,
        keep_alive,
        no_collapse: false,
        started: lp.now(),
    };
    serve(lp, id, request);
}

/// Serves a valid request: from the cache when a stored response may be used, else by
/// waiting for a fetch of the same URL already in flight, else by a fetch of its own
/// (conditional when a stale stored response has validators).
pub(crate) fn serve(lp: &mut LoopContext<'_, State>, id: ConnId, request: Request) {
    let now = SystemTime::now();
    let state = lp.app();
    let stored = state
        .cache
        .get(&request.key)
        .filter(|stored| stored.matches_vary(&request.headers));
    if let Some(stored) = &stored {
        if stored.usable_for(&request.headers, now) {
            ProxyStats::add(&state.stats.hits);
            return respond_from_cache(lp, id, &request, stored, "HIT");
        }
    }
    if request.collapsible() {
        if let Some(&fetch) = state.in_flight.get(&request.key) {
            if fetch::add_waiter(lp, fetch, id) {
                ProxyStats::add(&lp.app().stats.collapsed);
                let now = lp.now();
                if let Some(client) = lp.app().clients.get_mut(&id) {
                    client.waiting_since = now;
                    client.phase = Phase::Waiting {
                        fetch,
                        request: Box::new(request),
                    };
                }
                return;
            }
        }
    }
    let revalidate = stored.filter(|s| request.method == "GET" && !s.validators().is_empty());
    fetch::start(lp, id, request, revalidate);
}

/// A waiter's fetch is over. `stored` is what it fetched (`None`: nothing usable), which
/// is served whatever its freshness: it is as new as a response can be. Otherwise the
/// waiter goes upstream on its own.
pub(crate) fn fetch_done_for_waiter(
    lp: &mut LoopContext<'_, State>,
    id: ConnId,
    stored: Option<&Arc<Stored>>,
) {
    let Some(client) = lp.app().clients.get_mut(&id) else {
        return;
    };
    let Phase::Waiting { request, .. } = std::mem::replace(&mut client.phase, Phase::Idle) else {
        return;
    };
    let mut request = *request;
    match stored {
        Some(stored) if stored.matches_vary(&request.headers) => {
            ProxyStats::add(&lp.app().stats.hits);
            respond_from_cache(lp, id, &request, stored, "HIT");
        }
        _ => {
            request.no_collapse = true;
            serve(lp, id, request);
        }
    }
    drive(lp, id);
}

/// Answers from a stored response: its head with `Age`, `Via` and `X-Cache: {label}`,
/// then its body (none for `HEAD`); or 304 if the client's own condition matches.
pub(crate) fn respond_from_cache(
    lp: &mut LoopContext<'_, State>,
    id: ConnId,
    request: &Request,
    stored: &Stored,
    label: &str,
) {
    let state = lp.app();
    let not_modified = stored.client_condition_matches(&request.headers);
    let age = stored.current_age(SystemTime::now()).as_secs();
    let mut head = Vec::with_capacity(512);
    let (status, reason) = if not_modified {
        (304, "Not Modified")
    } else {
        (stored.status, stored.reason.as_str())
    };
    head.extend_from_slice(format!("HTTP/1.0 {status} {reason}\r\n").as_bytes());
    let mut headers = if not_modified {
        // RFC 9110 §15.4.5: what a 200 would have said about caching and validators.
        let mut kept = Headers::new();
        for (name, value) in stored.headers.iter() {
            if [
                "date",
                "etag",
                "last-modified",
                "cache-control",
                "expires",
                "vary",
                "content-location",
            ]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
            {
                kept.push(name, value);
            }
        }
        kept
    } else {
        stored.headers.clone()
    };
    headers.set("Age", age.to_string());
    headers.append_via(
        if stored.minor == 0 { "1.0" } else { "1.1" },
        &state.config.via_name,
    );
    headers.write_to(&mut head);
    head.extend_from_slice(format!("X-Cache: {label}\r\n").as_bytes());
    head.extend_from_slice(connection_header(request.keep_alive));
    let body: Arc<[u8]> = if not_modified || request.method == "HEAD" {
        Arc::from(&[][..])
    } else {
        Arc::clone(&stored.body)
    };
    log_access(id, request, status, body.len(), label);
    let _ = lp.write_to(id, &head);
    start_sending(lp, id, body, request.keep_alive);
}

/// Answers with an error page of the proxy's own.
pub(crate) fn respond_error(
    lp: &mut LoopContext<'_, State>,
    id: ConnId,
    status: Status,
    detail: &str,
    keep_alive: bool,
) {
    let page = error_page(status, detail);
    let date = lp.app().dates.now().to_owned();
    let mut out = format!(
        "HTTP/1.0 {status}\r\nDate: {date}\r\nContent-Type: {HTML}\r\nContent-Length: {}\r\n",
        page.len()
    );
    if status == Status::MethodNotAllowed {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("X-Cache: MISS\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(connection_header(keep_alive));
    out.extend_from_slice(page.as_bytes());
    if log_enabled!(Level::Info) {
        info!("client {id:?}: {status} ({detail})");
    }
    start_sending(lp, id, Arc::from(out), keep_alive);
}

/// The `Connection` header that goes with a response: HTTP/1.0's rule (RFC 9112 §9.3),
/// stated either way so that 1.1 clients read it too.
pub(crate) fn connection_header(keep_alive: bool) -> &'static [u8] {
    if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    }
}

/// Puts the client into `Sending` for `body` (its head already written).
pub(crate) fn start_sending(
    lp: &mut LoopContext<'_, State>,
    id: ConnId,
    body: Arc<[u8]>,
    keep_alive: bool,
) {
    start_sending_at(lp, id, body, 0, keep_alive);
}

/// Puts the client into `Sending` for `body[at..]`.
pub(crate) fn start_sending_at(
    lp: &mut LoopContext<'_, State>,
    id: ConnId,
    body: Arc<[u8]>,
    at: usize,
    keep_alive: bool,
) {
    if let Some(client) = lp.app().clients.get_mut(&id) {
        client.phase = Phase::Sending {
            body,
            at,
            keep_alive,
        };
    }
}

/// Writes the body being sent, a step at a time, until the write buffer is over its
/// high-water mark. Returns whether the client may go on to its next request.
fn pump(lp: &mut LoopContext<'_, State>, id: ConnId) -> bool {
    let now = lp.now();
    let (state, mut conns) = lp.split();
    let Some(client) = state.clients.get_mut(&id) else {
        return false;
    };
    let Phase::Sending {
        body,
        at,
        keep_alive,
    } = &mut client.phase
    else {
        return false;
    };
    while *at < body.len() && !client.write_paused {
        let end = body.len().min(*at + STEP);
        match conns.write_to(id, &body[*at..end]) {
            Ok(Written::Flowing) => *at = end,
            Ok(Written::OverHighWater) => {
                *at = end;
                client.write_paused = true;
            }
            Err(_) => return false, // gone; connection_lost follows
        }
    }
    if *at < body.len() {
        return false;
    }
    // After a half-close, go on only for requests already received.
    if !*keep_alive || client.peer_eof && client.buf.is_empty() {
        close(lp, id);
        return false;
    }
    client.phase = Phase::Idle;
    client.idle_since = now;
    if std::mem::take(&mut client.read_paused) {
        if let Some(mut t) = conns.transport_of(id) {
            t.resume_reading();
        }
    }
    true
}

/// Closes the client once what is queued has been sent.
pub(crate) fn close(lp: &mut LoopContext<'_, State>, id: ConnId) {
    if let Some(client) = lp.app().clients.get_mut(&id) {
        client.closing = true;
    }
    if let Some(mut t) = lp.transport_of(id) {
        t.close();
    }
}

/// Sets the client's one timer for the earliest deadline that applies now (lazily: only
/// when it moves earlier than the timer already set, as the HTTP server does).
pub(crate) fn arm_timer(lp: &mut LoopContext<'_, State>, id: ConnId) {
    observe_unsent(lp, id);
    let config = Arc::clone(&lp.app().config);
    let Some(client) = lp.app().clients.get_mut(&id) else {
        return;
    };
    let Some(due) = deadline(client, &config) else {
        return;
    };
    if let Some((timer, at)) = client.timer {
        if at <= due {
            return;
        }
        client.timer = None;
        lp.cancel(timer);
    }
    let delay = due.saturating_duration_since(lp.now());
    let timer = lp.call_later(delay, move |lp| timer_fired(lp, id));
    if let Some(client) = lp.app().clients.get_mut(&id) {
        client.timer = Some((timer, due));
    }
}

fn deadline(client: &Client, config: &super::ProxyConfig) -> Option<Instant> {
    if client.last_unsent > 0 {
        return Some(instant_after(client.progress_at, config.idle_timeout));
    }
    match client.phase {
        Phase::Idle => Some(match client.head_started {
            Some(started) => instant_after(started, config.head_timeout),
            None => instant_after(client.idle_since, config.idle_timeout),
        }),
        Phase::Waiting { .. } => Some(instant_after(client.waiting_since, config.upstream_timeout)),
        // The fetch's own timer watches the upstream; nothing is owed to the client yet.
        Phase::Fetching { .. } | Phase::Sending { .. } => None,
    }
}

/// Notes whether what is owed to the client moved since last looked at.
fn observe_unsent(lp: &mut LoopContext<'_, State>, id: ConnId) {
    let now = lp.now();
    let Some(unsent) = lp.transport_of(id).map(|t| t.unsent_bytes()) else {
        return;
    };
    if let Some(client) = lp.app().clients.get_mut(&id) {
        if unsent != client.last_unsent {
            client.last_unsent = unsent;
            client.progress_at = now;
        }
    }
}

fn timer_fired(lp: &mut LoopContext<'_, State>, id: ConnId) {
    observe_unsent(lp, id);
    let now = lp.now();
    let config = Arc::clone(&lp.app().config);
    let Some(client) = lp.app().clients.get_mut(&id) else {
        return;
    };
    client.timer = None;
    let Some(due) = deadline(client, &config) else {
        return;
    };
    if now < due {
        return arm_timer(lp, id);
    }
    if client.last_unsent > 0 {
        debug!(
            "client {id:?}: no progress sending for {:?}; aborting",
            config.idle_timeout
        );
        client.closing = true;
        if let Some(mut t) = lp.transport_of(id) {
            t.abort();
        }
        return;
    }
    match &client.phase {
        Phase::Idle if !client.buf.is_empty() => {
            debug!("client {id:?}: request head timed out");
            client.buf = Vec::new();
            respond_error(
                lp,
                id,
                Status::RequestTimeout,
                "the request head did not arrive in time",
                false,
            );
            drive(lp, id);
        }
        Phase::Idle => close(lp, id),
        Phase::Waiting { fetch, .. } => {
            // nginx's proxy_cache_lock_timeout: stop waiting, go upstream alone.
            let fetch = *fetch;
            debug!(
                "client {id:?}: waited {:?} for another fetch",
                config.upstream_timeout
            );
            fetch::remove_waiter(lp, fetch, id);
            fetch_done_for_waiter(lp, id, None);
        }
        Phase::Fetching { .. } | Phase::Sending { .. } => {}
    }
}

fn log_access(id: ConnId, request: &Request, status: u16, bytes: usize, label: &str) {
    if log_enabled!(Level::Info) {
        info!(
            "client {id:?} \"{} {}\" {status} {bytes} {label} {:?}",
            request.method,
            request.key,
            request.started.elapsed()
        );
    }
}

/// Logs a relayed response (the fetch knows its status; the client's request its URL).
pub(crate) fn log_relayed(id: ConnId, request: &Request, status: u16, label: &str) {
    if log_enabled!(Level::Info) {
        info!(
            "client {id:?} \"{} {}\" {status} - {label} {:?}",
            request.method,
            request.key,
            request.started.elapsed()
        );
    }
}
