//! Port of `http.server.ThreadingHTTPServer`: the server, one [`Protocol`] per connection on
//! the protocol layer's event loop.
//!
//! Python has a thread per connection blocking in `readline()`; here one loop serves every
//! connection, and each connection is a small state machine the loop calls back:
//!
//! ```text
//! data_received ──▶ RequestReader::feed ──▶ next_request ──▶ Site::respond ──▶ write + write_file
//!        ▲                                                                         │
//!        └──────────── keep-alive: wait for the next request ◀──────────────────────┘
//! ```
//!
//! What the loop does for us: reading into its one shared buffer, writing what the kernel
//! takes now and queueing the rest, `sendfile` for file regions, closing after the flush.
//! What this file adds: HTTP's rules for when to close, the timeouts (one timer per
//! connection, re-armed lazily), and the access log's lines (queued here, written by
//! `access_log.rs`'s thread, so that a stalled log never stalls the loop).

use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{debug, error, log_enabled, Level};

use super::access_log::{escape_log_field, AccessLog, ACCESS_LOG_TARGET};
use super::router::{self, Routed, Routes, Then};
use super::site::DirectoryRead;
use super::{
    app, closing_error_response, AccessControl, DateCache, Limits, Method, Request, RequestReader,
    Response, Site, Status, Verdict, SERVER,
};
use crate::event_loop::{
    self, Addr, Context, Done, EventLoop, LingeringClose, LoopStats, Lost, PoolError, PoolId,
    Protocol, TimerHandle, Written,
};
use crate::timeout::instant_after;
use crate::Stop;

/// The server's settings; [`ServerConfig::default`] is what the example uses.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Size limits on a request head (414, 431).
    pub limits: Limits,
    /// The longest a request head may take to arrive, from its first byte (or from the
    /// connection's opening, for the first request): then 408 and close. This is what stops
    /// slowloris, a client that trickles a head a byte at a time to hold a connection.
    pub head_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests before it is closed
    /// (silently: there is no request to answer), and how long a response may make no
    /// progress at all (a client that stopped reading) before it is aborted.
    pub idle_timeout: Duration,
    /// Connections open at once, at most. At the limit the keep-alive connection idle the
    /// longest is closed to make room; with none idle, the next is answered 503 and closed.
    pub max_connections: usize,
    /// `--auth PREFIX=FILE` rules: static paths that need Basic credentials. Shared by
    /// every worker's loop (so they share one cache of verified passwords).
    pub access: Option<Arc<Mutex<AccessControl>>>,
    /// The `/app/` demo (`--users`, `--session-max`, `--session-idle`); `None` serves
    /// `/app/` as static files. Shared by every worker's loop, so that a session is found
    /// whichever worker a connection lands on.
    pub app: Option<Arc<Mutex<app::Model>>>,
    /// Threads per loop for password checks (`--auth-workers`), when `access` or `app`
    /// is set.
    pub auth_workers: usize,
    /// Checks that may wait for those threads (`--auth-queue`), running ones not
    /// counted; one more is answered 503 with `Retry-After: 1` at once.
    pub auth_queue: usize,
    /// Where each answered request's line goes. `None` (the default): to the `log` crate
    /// at info (target [`ACCESS_LOG_TARGET`](super::ACCESS_LOG_TARGET)), through one
    /// logger thread the process's servers share, and nowhere when `RUST_LOG` turns info
    /// off. Lines never wait for the log: see [`AccessLog`].
    pub access_log: Option<AccessLog>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            limits: Limits::default(),
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            max_connections: 4096,
            access: None,
            app: None,
            auth_workers: 2,
            auth_queue: 256,
            access_log: None,
        }
    }
}

/// The HTTP/1.0 static-file server: a listener, a [`Site`], and an event loop.
///
/// Python: `http.server.ThreadingHTTPServer(addr, SimpleHTTPRequestHandler)`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{HttpServer, ServerConfig, Site};
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let site = Site::new(concat!(env!("CARGO_MANIFEST_DIR"), "/site"))?;
/// let server = HttpServer::new(TcpListener::bind("127.0.0.1:0")?, site, ServerConfig::default())?;
/// let addr = server.local_addr();
/// let stop = server.stop_handle();
/// let thread = std::thread::spawn(move || server.run());
///
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
/// let mut response = String::new();
/// client.read_to_string(&mut response)?; // HTTP/1.0: the server closes after the response
/// assert!(response.starts_with("HTTP/1.0 200 OK\r\n"));
///
/// stop.stop();
/// thread.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub struct HttpServer {
    lp: EventLoop<App>,
    local_addr: SocketAddr,
}

/// What every connection shares: the site (its cache and `Date` header), the routes, the
/// pool for password checks, and the one that reads large directories.
struct App {
    routes: Routes,
    pool: Option<PoolId>,
    /// One thread that reads directories in full, for a listing page or a variant index
    /// not kept from before: reading a 50,000-entry directory takes tens of milliseconds,
    /// which on the loop would stall every other connection.
    directories: Option<PoolId>,
}

/// Directories read at once (one thread: the work is mostly the read itself, and the
/// machine's other cores serve the loops) ...
const DIRECTORY_WORKERS: usize = 1;
/// ... and waiting for it; one more is answered 503 with `Retry-After: 1`.
const DIRECTORY_QUEUE: usize = 32;

impl HttpServer {
    /// A server for `site` on a bound `listener` (bind port 0 to let the OS choose).
    ///
    /// # Errors
    /// The OS error creating the loop or watching the listener.
    pub fn new(
        listener: std::net::TcpListener,
        site: Site,
        config: ServerConfig,
    ) -> io::Result<HttpServer> {
        let local_addr = listener.local_addr()?;
        let loop_config = event_loop::Config {
            max_connections: config.max_connections,
            full_message: full_message(),
            // nginx's `sendfile_max_chunk`: a large file costs a quarter of the trips through
            // the loop it would at the layer's default 256 KiB, and one 2 MiB sendfile on a
            // fast link still leaves the other connections their turn within a millisecond.
            file_step: 2 * 1024 * 1024,
            // One open file per connection, whatever it pipelines: the examples size their
            // cap at two descriptors a connection, the socket and the file being sent. So
            // the next request is answered only once the last response is wholly in the
            // kernel's hands (marks of 0: anything left unsent pauses), and its file, if
            // it had one, closed. With 64/16 KiB marks a client pipelining requests for
            // files just over SMALL_FILE without reading held three open. Nothing is lost
            // on the wire: the socket's own buffer still holds what went before, and it
            // also bounds a connection's memory to one response.
            high_water: 0,
            low_water: 0,
            ..event_loop::Config::default()
        };
        let routes = Routes {
            site,
            access: config.access.clone(),
            app: config.app.clone(),
            dates: DateCache::default(),
        };
        let mut lp = EventLoop::with_config(
            App {
                routes,
                pool: None,
                directories: None,
            },
            loop_config,
        )?;
        let directories = lp.add_pool(DIRECTORY_WORKERS, DIRECTORY_QUEUE)?;
        lp.app_mut().directories = Some(directories);
        if config.access.is_some() || config.app.is_some() {
            let pool = lp.add_pool(config.auth_workers.max(1), config.auth_queue)?;
            lp.app_mut().pool = Some(pool);
        }
        let mut config = config;
        if config.access_log.is_none() && log_enabled!(target: ACCESS_LOG_TARGET, Level::Info) {
            config.access_log = Some(AccessLog::shared_to_log()?);
        }
        let config = Arc::new(config);
        lp.listen_tcp(listener, move || Connection::new(Arc::clone(&config)))?;
        Ok(HttpServer { lp, local_addr })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The loop's counters, readable from any thread while it runs: connections, and the
    /// jobs its pools took ([`LoopStats::pool_jobs`]: password checks and directory reads)
    /// or refused.
    pub fn stats(&self) -> Arc<LoopStats> {
        self.lp.stats()
    }

    /// A handle that ends [`run`](Self::run) from another thread (tests, Ctrl-C).
    pub fn stop_handle(&self) -> Stop {
        self.lp.handle().stop_handle()
    }

    /// Serves until the stop handle is used; then every connection is closed.
    ///
    /// # Errors
    /// An error of the loop itself (see [`EventLoop::run`]); a failing connection is
    /// closed and logged, never fatal.
    pub fn run(mut self) -> io::Result<()> {
        debug!(
            "serving {} on http://{}",
            self.lp.app().routes.site.root().display(),
            self.local_addr
        );
        self.lp.run()
    }
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("local_addr", &self.local_addr)
            .field("root", &self.lp.app().routes.site.root())
            .finish_non_exhaustive()
    }
}

/// The 503 the loop sends, in one non-blocking write, to a connection over the limit. It is
/// built once, so it has no `Date` (RFC 9110 §6.6.1 allows that of a server without a clock
/// at hand; a cheap answer matters more here).
fn full_message() -> Vec<u8> {
    closing_error_response(
        Status::ServiceUnavailable,
        "the server is at its connection limit; try again shortly",
        Some(SERVER),
    )
}

/// A request waiting for work off the loop: its password check, or a directory read in full.
struct Checking {
    request: Request,
    awaited: Awaited,
    started: Instant,
}

/// What a waiting request waits for.
enum Awaited {
    /// A password check's [`Verdict`], then this.
    Verdict(Then),
    /// A directory read: a listing page or a variant index ([`DirectoryRead`]); `true`
    /// for an answer marked `Cache-Control: private` (a path under `--auth`).
    Directory(bool),
}

/// One client connection.
struct Connection {
    config: Arc<ServerConfig>,
    reader: RequestReader,
    /// The peer, for the access log (looked up only when that log is on).
    peer: Option<Addr>,
    /// When the current request head began to arrive (or the connection opened, before
    /// its first request): the head timeout counts from here.
    head_started: Option<Instant>,
    /// When the connection last became idle: its last response fully queued.
    idle_since: Instant,
    /// `unsent_bytes()` when the watchdog last looked, and when that figure last moved.
    last_unsent: u64,
    progress_at: Instant,
    /// The one watchdog timer, and when it is due.
    watchdog: Option<(TimerHandle, Instant)>,
    /// Requests are not answered while any of a response (bytes or a file region) is
    /// unsent: the server's water marks are 0. So one connection holds one file open at
    /// most, and one response in memory, whatever it pipelines without reading.
    write_paused: bool,
    /// The client shut down its sending side; close once what it asked for is answered.
    peer_eof: bool,
    /// A request whose password check or directory read runs on a pool: nothing else is
    /// answered (and the layer reads nothing) until its result is back.
    checking: Option<Checking>,
    /// The connection is closing: nothing more is answered.
    done: bool,
}

impl Connection {
    fn new(config: Arc<ServerConfig>) -> Connection {
        let now = Instant::now();
        Connection {
            reader: RequestReader::new(config.limits),
            config,
            peer: None,
            head_started: Some(now),
            idle_since: now,
            last_unsent: 0,
            progress_at: now,
            watchdog: None,
            write_paused: false,
            peer_eof: false,
            checking: None,
            done: false,
        }
    }

    /// Answers every complete request buffered, in order, until one closes the connection,
    /// what is owed to the client passes the high-water mark, or one waits for work off the
    /// loop (a password check or a directory read).
    fn answer(&mut self, ctx: &mut Context<'_, App>) {
        while !self.done && !self.write_paused && self.checking.is_none() {
            let started = Instant::now();
            let (request, response) = match self.reader.next_request() {
                Ok(None) => break,
                Ok(Some(request)) => {
                    let now = ctx.now();
                    match router::route(&mut ctx.app().routes, &request, now) {
                        Routed::Now(response) => (Some(request), response),
                        Routed::Check(check, then) => {
                            let Some(pool) = ctx.app().pool else {
                                unreachable!("a check is routed only where a pool was made");
                            };
                            match ctx.run_in_pool(pool, move || check.run()) {
                                Ok(_) => {
                                    // The layer reads nothing more until the verdict;
                                    // answering resumes in work_done.
                                    self.checking = Some(Checking {
                                        request,
                                        awaited: Awaited::Verdict(then),
                                        started,
                                    });
                                    break;
                                }
                                Err(err) => {
                                    if let PoolError::Full { limit } = err {
                                        debug!("password checks: pool full ({limit})");
                                    }
                                    let response = router::busy(&mut ctx.app().routes, &request);
                                    (Some(request), response)
                                }
                            }
                        }
                        Routed::Directory(job, private) => {
                            let Some(pool) = ctx.app().directories else {
                                unreachable!("every server makes its directory pool");
                            };
                            match ctx.run_in_pool(pool, move || job.build()) {
                                Ok(_) => {
                                    // As for a password check: nothing more is read or
                                    // answered until the directory is read, in work_done.
                                    self.checking = Some(Checking {
                                        request,
                                        awaited: Awaited::Directory(private),
                                        started,
                                    });
                                    break;
                                }
                                Err(err) => {
                                    if let PoolError::Full { limit } = err {
                                        debug!("directories: pool full ({limit})");
                                    }
                                    let response =
                                        router::directories_busy(&mut ctx.app().routes, &request);
                                    (Some(request), response)
                                }
                            }
                        }
                    }
                }
                Err(err) => {
                    // The stream cannot be trusted past a bad head: answer and close.
                    debug!("{}: bad request: {err}", self.peer_name());
                    let head_only = err.method == Some(Method::Head);
                    let routes = &mut ctx.app().routes;
                    let mut response = routes.site.error(err.status, err.detail, false, head_only);
                    router::refused_app_response(
                        routes,
                        self.reader.request_target(),
                        &mut response.bytes,
                    );
                    (None, response)
                }
            };
            if !self.send(ctx, request.as_ref(), response, started) {
                break;
            }
        }
        self.after_answers(ctx);
    }

    /// Queues one response; false if the connection closes after it.
    fn send(
        &mut self,
        ctx: &mut Context<'_, App>,
        request: Option<&Request>,
        response: Response,
        started: Instant,
    ) -> bool {
        {
            let mut transport = ctx.transport();
            let mut written = transport.write(&response.bytes);
            if let Some((file, offset, len)) = response.file {
                written = transport.write_file(file, offset, len);
            }
            match written {
                Ok(Written::Flowing) => {}
                Ok(Written::OverHighWater) => self.write_paused = true,
                Err(_) => self.done = true, // lost meanwhile; connection_lost follows
            }
            // Logged once queued: the duration covers parsing, the file system and the write.
            match request {
                Some(request) => self.log(request, &response.status, response.body_len, started),
                None => self.log_error(response.status, response.body_len, started),
            }
            if !response.keep_alive {
                self.done = true;
                if request.is_none() || self.reader.buffered() > 0 {
                    // A refused head: its body (or the rest of a flood) is likely still
                    // on its way, and closing on it unread would reset the connection
                    // before the client reads why (RFC 9112 §9.6; nginx lingers here too).
                    // Likewise bytes of a next request already here (pipelined behind a
                    // `Connection: close`): the rest of it is on its way, and may arrive
                    // after the queue has emptied, when the socket is found empty.
                    transport.set_lingering_close(LingeringClose::Always);
                }
                transport.close();
                return false;
            }
        }
        let now = ctx.now();
        self.idle_since = now;
        self.head_started = self.reader.in_request().then_some(now);
        true
    }

    /// After a round of answers: hold reading while paused, close after a half-close, and
    /// set the watchdog.
    fn after_answers(&mut self, ctx: &mut Context<'_, App>) {
        if self.write_paused {
            ctx.transport().pause_reading();
        }
        if self.peer_eof && !self.done && !self.write_paused && self.checking.is_none() {
            // Every complete request is answered; a partial one never will be.
            self.done = true;
            ctx.close();
            return;
        }
        // Between requests, with nothing half-received: at the connection limit the loop
        // may close this one (the longest idle first) to let a new client in, as nginx does.
        // One waiting for work off the loop is not idle: its answer is on the way.
        let idle = !self.done && !self.reader.in_request() && self.checking.is_none();
        ctx.transport().set_reusable(idle);
        self.arm_watchdog(ctx);
    }

    /// Sets the watchdog for the earliest deadline that applies now, unless it is already
    /// due by then. Re-arming only when the deadline moves *earlier* keeps timer churn off
    /// the common path (nginx's lazy timers): a late watchdog just re-arms when it fires.
    fn arm_watchdog(&mut self, ctx: &mut Context<'_, App>) {
        self.observe_unsent(ctx);
        let due = self.deadline();
        if let Some((timer, at)) = self.watchdog {
            if at <= due {
                return;
            }
            ctx.cancel(timer);
        }
        let delay = due.saturating_duration_since(ctx.now());
        self.watchdog = Some((ctx.set_timer(delay), due));
    }

    /// When this connection is next due for a check: the head timeout while a head is
    /// arriving, the idle timeout while waiting, or the stall limit while sending.
    fn deadline(&self) -> Instant {
        if self.last_unsent > 0 {
            instant_after(self.progress_at, self.config.idle_timeout)
        } else if let Some(started) = self.head_started {
            instant_after(started, self.config.head_timeout)
        } else {
            instant_after(self.idle_since, self.config.idle_timeout)
        }
    }

    /// Notes whether the output queue moved since last looked at: a response queued or
    /// bytes sent both count as progress, and an emptied queue starts the idle time.
    fn observe_unsent(&mut self, ctx: &mut Context<'_, App>) {
        let unsent = ctx.transport().unsent_bytes();
        if unsent != self.last_unsent {
            let now = ctx.now();
            if unsent == 0 {
                self.idle_since = now;
            }
            self.last_unsent = unsent;
            self.progress_at = now;
        }
    }

    /// The watchdog fired: act on whichever timeout has passed, or re-arm.
    ///
    /// A connection that is closing (`done`) is still watched while it has output queued:
    /// its last response may be a file going to a client that stopped reading, and the
    /// close would otherwise wait for that flush forever.
    fn watchdog_fired(&mut self, ctx: &mut Context<'_, App>) {
        self.watchdog = None;
        if self.checking.is_some() {
            // Waiting for work off the loop is the server's doing, not the client's: no
            // timeout counts it (the pool's bound keeps the wait finite).
            let now = ctx.now();
            self.head_started = Some(now);
            self.progress_at = now;
            self.arm_watchdog(ctx);
            return;
        }
        self.observe_unsent(ctx);
        let unsent = self.last_unsent;
        if self.done && unsent == 0 {
            return; // closing, and nothing left to send: the layer finishes it
        }
        let now = ctx.now();
        if now < self.deadline() {
            self.arm_watchdog(ctx);
            return;
        }
        if unsent > 0 {
            debug!(
                "{}: no progress sending for {:?}; aborting",
                self.peer_name(),
                self.config.idle_timeout
            );
            ctx.transport().abort();
        } else if self.reader.in_request() {
            debug!("{}: request head timed out", self.peer_name());
            let head_only = self.reader.pending_method() == Some(Method::Head);
            let routes = &mut ctx.app().routes;
            let mut response = routes.site.error(
                Status::RequestTimeout,
                "the request head did not arrive in time",
                false,
                head_only,
            );
            router::refused_app_response(routes, self.reader.request_target(), &mut response.bytes);
            self.log_error(Status::RequestTimeout, response.body_len, now);
            let _ = ctx.write(&response.bytes);
            ctx.close();
        } else {
            debug!("{}: idle; closing", self.peer_name());
            ctx.close();
        }
        self.done = true;
    }

    /// Queues the access-log line of an answered request: `peer [(for X-Forwarded-For)]
    /// "METHOD target" status bytes duration`, the client's parts escaped.
    fn log(&self, request: &Request, status: &Status, bytes: u64, started: Instant) {
        if let Some(log) = &self.config.access_log {
            let mut line = self.peer_name();
            if let Some(forwarded) = &request.forwarded_for {
                line.push_str(" (for ");
                escape_log_field(&mut line, forwarded.as_bytes());
                line.push(')');
            }
            line.push_str(" \"");
            line.push_str(request.method.as_str());
            line.push(' ');
            escape_log_field(&mut line, request.target.as_bytes());
            let _ = write!(line, "\" {} {bytes} {:?}", status.code(), started.elapsed());
            log.log(line);
        }
    }

    fn log_error(&self, status: Status, bytes: u64, started: Instant) {
        if let Some(log) = &self.config.access_log {
            log.log(format!(
                "{} \"-\" {} {bytes} {:?}",
                self.peer_name(),
                status.code(),
                started.elapsed()
            ));
        }
    }

    fn peer_name(&self) -> String {
        self.peer
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string)
    }
}

impl Protocol<App> for Connection {
    fn connection_made(&mut self, ctx: &mut Context<'_, App>) {
        // Python: `self.client_address`. The layer kept it from `accept`, so asking costs
        // no system call; it is kept here for the access log's lines.
        if self.config.access_log.is_some() {
            self.peer = ctx.transport().peer_addr().ok();
        }
        // A close (Connection: close, a timeout) may find input unread, pipelined or
        // stray; then the layer lingers instead of resetting the connection and losing the
        // end of the response. It decides from what it already knows (the last read was
        // short, nothing reported since), so an ordinary close costs no system call more;
        // what this server knows better (a body refused, bytes buffered) asks for Always.
        ctx.transport().set_lingering_close(LingeringClose::On);
        let now = ctx.now();
        self.head_started = Some(now);
        self.idle_since = now;
        self.progress_at = now;
        self.arm_watchdog(ctx);
    }

    fn data_received(&mut self, ctx: &mut Context<'_, App>, data: &[u8]) {
        if self.done {
            return;
        }
        if self.head_started.is_none() {
            self.head_started = Some(ctx.now());
        }
        // Busy again: no longer idle (answer() marks it again, with a fresh time).
        ctx.transport().set_reusable(false);
        self.reader.feed(data);
        self.answer(ctx);
    }

    /// A client may send its requests and then shut down its side (`curl --no-keepalive`
    /// does not, but `nc -N` and scripts do): keep the connection open until every request
    /// already received is answered.
    fn eof_received(&mut self, ctx: &mut Context<'_, App>) -> bool {
        self.peer_eof = true;
        if self.done {
            return false;
        }
        self.answer(ctx);
        !self.done
    }

    fn pause_writing(&mut self, ctx: &mut Context<'_, App>) {
        self.write_paused = true;
        ctx.transport().pause_reading();
    }

    fn resume_writing(&mut self, ctx: &mut Context<'_, App>) {
        self.write_paused = false;
        if !self.done {
            ctx.transport().resume_reading();
            self.answer(ctx);
        }
    }

    /// A password check or a directory read is back: answer its request, then whatever was
    /// pipelined behind it.
    fn work_done(&mut self, ctx: &mut Context<'_, App>, done: Done) {
        let Some(Checking {
            request,
            awaited,
            started,
        }) = self.checking.take()
        else {
            return;
        };
        let now = ctx.now();
        let response = match awaited {
            Awaited::Verdict(then) => match done.take::<Verdict>() {
                Ok(verdict) => router::resume(&mut ctx.app().routes, &request, then, &verdict, now),
                Err(err) => {
                    error!("{}: password check: {err}", self.peer_name());
                    router::failed(&mut ctx.app().routes, &request)
                }
            },
            Awaited::Directory(private) => match done.take::<DirectoryRead>() {
                Ok(read) => {
                    let response = ctx.app().routes.site.directory_read(&request, read);
                    if private {
                        router::private(response)
                    } else {
                        response
                    }
                }
                Err(err) => {
                    error!("{}: reading a directory: {err}", self.peer_name());
                    ctx.app().routes.site.error(
                        Status::InternalServerError,
                        "reading the directory failed",
                        request.keep_alive,
                        request.method == Method::Head,
                    )
                }
            },
        };
        if self.done {
            return;
        }
        if self.send(ctx, Some(&request), response, started) {
            self.answer(ctx);
        } else {
            self.after_answers(ctx);
        }
    }

    fn timer_fired(&mut self, ctx: &mut Context<'_, App>, timer: TimerHandle) {
        if self.watchdog.is_some_and(|(t, _)| t == timer) {
            self.watchdog_fired(ctx);
        }
    }

    fn connection_lost(&mut self, ctx: &mut Context<'_, App>, reason: Lost) {
        self.done = true;
        // The loop does not know which timers a protocol set (nor does asyncio's): left
        // armed, the watchdog would sit in the heap for a whole timeout after every
        // request and wake the idle loop when it came due.
        if let Some((timer, _)) = self.watchdog.take() {
            ctx.cancel(timer);
        }
        match reason {
            Lost::Closed | Lost::PeerClosed | Lost::TimedOut => {}
            other => debug!("{}: connection lost: {other}", self.peer_name()),
        }
    }
}
