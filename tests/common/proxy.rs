//! Helpers for the proxy tests: a proxy on port 0 in a thread, and a small upstream that
//! counts requests and answers each as the test says (slow, garbage, early close, any
//! headers), one thread per connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio_selectors::proxy::{ProxyConfig, ProxyServer, ProxyStats, Resolve};

use super::http::{find, parse_responses, Parsed, READ_TIMEOUT};

/// What the upstream saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The request head, as text.
    pub head: String,
}

impl Seen {
    /// The request line.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The path of the request line.
    pub fn path(&self) -> &str {
        self.line().split(' ').nth(1).unwrap_or_default()
    }
}

/// How the upstream answers one request.
pub enum Reply {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// Wait, then the reply.
    After(Duration, Box<Reply>),
    /// `head`, then `total` bytes of body in `step`-sized writes with `pause` between, then
    /// close. The write that fails (the proxy closed) is counted in `closed_early`.
    Stream {
        head: Vec<u8>,
        total: usize,
        step: usize,
        pause: Duration,
    },
    /// Each part in turn (bytes written, or a gate waited for), then close: the test
    /// opens the gates when it has seen what it needs, so an order of events is a state
    /// it reaches, not a timing it hopes for.
    Gated(Vec<Part>),
    /// Nothing at all, until the proxy closes (or 30 s).
    Hang,
    /// Close at once.
    Close,
}

/// One step of a [`Reply::Gated`] answer.
pub enum Part {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Wait until the test opens this gate (at most 30 s, then go on: a test that forgot
    /// to open it fails on its own assertions, it does not hang).
    Wait(Gate),
}

/// A gate an upstream answer waits at until the test opens it.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    /// Lets whatever waits (or will wait) at it go on.
    pub fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }

    fn wait(&self) {
        let (open, changed) = &*self.0;
        let guard = open.lock().unwrap();
        let _ = changed
            .wait_timeout_while(guard, Duration::from_secs(30), |open| !*open)
            .unwrap();
    }
}

/// A response: `HTTP/1.1 {status}`, the headers, `Content-Length` unless given, the body.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    }) {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    Reply::Raw(out)
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The test upstream: one thread accepting, one per connection.
pub struct Upstream {
    pub addr: SocketAddr,
    count: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    active: Arc<AtomicUsize>,
    max_active: Arc<AtomicUsize>,
    closed_early: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    /// An upstream on `ip` port 0 whose `handler` gets each request and how many came
    /// before it.
    #[track_caller]
    pub fn start(
        ip: &str,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        super::init();
        let listener = TcpListener::bind((ip, 0)).expect("bind the test upstream");
        let addr = listener.local_addr().unwrap();
        let handler: Arc<Handler> = Arc::new(handler);
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let active = Arc::new(AtomicUsize::new(0));
        let max_active = Arc::new(AtomicUsize::new(0));
        let closed_early = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (count, seen, active, max_active, closed_early, stop) = (
                Arc::clone(&count),
                Arc::clone(&seen),
                Arc::clone(&active),
                Arc::clone(&max_active),
                Arc::clone(&closed_early),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (handler, count, seen, active, max_active, closed_early, stop) = (
                        Arc::clone(&handler),
                        Arc::clone(&count),
                        Arc::clone(&seen),
                        Arc::clone(&active),
                        Arc::clone(&max_active),
                        Arc::clone(&closed_early),
                        Arc::clone(&stop),
                    );
                    std::thread::spawn(move || {
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        max_active.fetch_max(now, Ordering::SeqCst);
                        serve_one(conn, &*handler, &count, &seen, &closed_early, &stop);
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
        };
        Upstream {
            addr,
            count,
            seen,
            active,
            max_active,
            closed_early,
            stop,
            thread: Some(thread),
        }
    }

    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The most connections it served at once.
    pub fn max_active(&self) -> usize {
        self.max_active.load(Ordering::SeqCst)
    }

    /// Connections it is serving now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Replies cut short because the proxy closed the connection.
    pub fn closed_early(&self) -> usize {
        self.closed_early.load(Ordering::SeqCst)
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wakes the accept
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_one(
    mut conn: TcpStream,
    handler: &Handler,
    count: &AtomicUsize,
    seen: &Mutex<Vec<Seen>>,
    closed_early: &AtomicUsize,
    stop: &AtomicBool,
) {
    conn.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut head = Vec::new();
    let mut buf = [0; 4096];
    while find(&head, b"\r\n\r\n").is_none() {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return, // the wake-up connect, or a client that gave up
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let request = Seen {
        head: String::from_utf8_lossy(&head).into_owned(),
    };
    let nth = count.fetch_add(1, Ordering::SeqCst);
    seen.lock().unwrap().push(request.clone());
    let reply = handler(&request, nth);
    send(&mut conn, reply, closed_early, stop);
}

fn send(conn: &mut TcpStream, reply: Reply, closed_early: &AtomicUsize, stop: &AtomicBool) {
    match reply {
        Reply::Raw(bytes) => {
            let _ = conn.write_all(&bytes);
        }
        Reply::After(delay, reply) => {
            std::thread::sleep(delay);
            send(conn, *reply, closed_early, stop);
        }
        Reply::Stream {
            head,
            total,
            step,
            pause,
        } => {
            if conn.write_all(&head).is_err() {
                closed_early.fetch_add(1, Ordering::SeqCst);
                return;
            }
            let chunk = vec![b'x'; step];
            let mut sent = 0;
            while sent < total {
                let n = step.min(total - sent);
                if conn.write_all(&chunk[..n]).is_err() {
                    closed_early.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                sent += n;
                if !pause.is_zero() {
                    std::thread::sleep(pause);
                }
            }
        }
        Reply::Gated(parts) => {
            for part in parts {
                match part {
                    Part::Send(bytes) => {
                        if conn.write_all(&bytes).is_err() {
                            closed_early.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                    Part::Wait(gate) => gate.wait(),
                }
            }
        }
        Reply::Hang => {
            // Until the proxy closes (read gives 0 or an error) or 30 s pass.
            conn.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut buf = [0; 64];
            while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
                match conn.read(&mut buf) {
                    Ok(0) => {
                        closed_early.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Err(err)
                        if err.kind() == io::ErrorKind::WouldBlock
                            || err.kind() == io::ErrorKind::TimedOut => {}
                    _ => {
                        closed_early.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
        Reply::Close => {}
    }
}

/// A proxy running in a thread of this process; stopped on drop.
pub struct Proxy {
    pub addr: SocketAddr,
    pub stats: Arc<ProxyStats>,
    stop: mio_selectors::Stop,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// Starts a proxy with `config` on 127.0.0.1 port 0.
#[track_caller]
pub fn start_proxy(config: ProxyConfig) -> Proxy {
    start(ProxyServer::new(bind(), config).expect("proxy"))
}

/// Starts a proxy whose names resolve through `resolve`.
#[track_caller]
pub fn start_proxy_with(config: ProxyConfig, resolve: Arc<dyn Resolve>) -> Proxy {
    start(ProxyServer::with_resolver(bind(), config, resolve).expect("proxy"))
}

fn bind() -> TcpListener {
    super::init();
    TcpListener::bind("127.0.0.1:0").expect("bind the proxy")
}

fn start(server: ProxyServer) -> Proxy {
    let addr = server.local_addr();
    let stats = server.stats();
    let stop = server.stop_handle();
    let thread = std::thread::spawn(move || server.run());
    Proxy {
        addr,
        stats,
        stop,
        thread: Some(thread),
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !std::thread::panicking() {
                result
                    .expect("proxy thread panicked")
                    .expect("proxy failed");
            }
        }
    }
}

/// Sends `GET url HTTP/1.0` (or another method) with `headers` to the proxy on a new
/// connection and parses the one response (read until the proxy closes).
#[track_caller]
pub fn request(proxy: SocketAddr, method: &str, url: &str, headers: &[(&str, &str)]) -> Parsed {
    let bytes = request_bytes(proxy, method, url, headers);
    let mut all = parse_responses(&bytes, &[method == "HEAD"]);
    assert_eq!(all.len(), 1, "one response expected");
    all.pop().unwrap()
}

/// `GET url` through the proxy.
#[track_caller]
pub fn get(proxy: SocketAddr, url: &str) -> Parsed {
    request(proxy, "GET", url, &[])
}

/// The raw bytes of the response to one request (read until close or reset).
#[track_caller]
pub fn request_bytes(
    proxy: SocketAddr,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut text = format!("{method} {url} HTTP/1.0\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    super::http::exchange(proxy, text.as_bytes())
}

/// Reads from `sock` into `got` until `enough(got)` holds; panics with `what` if the
/// connection ends or nothing comes for `READ_TIMEOUT` first.
#[track_caller]
pub fn read_until(
    sock: &mut TcpStream,
    got: &mut Vec<u8>,
    what: &str,
    enough: impl Fn(&[u8]) -> bool,
) {
    sock.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut buf = [0; 4096];
    while !enough(got) {
        match sock.read(&mut buf) {
            Ok(0) => panic!(
                "the connection ended before {what}, after {} bytes",
                got.len()
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!("waiting for {what}: {err}, after {} bytes", got.len()),
        }
    }
}

/// Waits until `condition` holds, at most `limit`; panics with `what` otherwise.
#[track_caller]
pub fn wait_for(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
