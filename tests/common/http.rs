//! Helpers for the HTTP tests: a server on port 0 in a thread, raw-socket requests, a
//! response parser, temporary document roots, and the external clients (curl, python, ab).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio_selectors::http::{HttpServer, ServerConfig, Site};

/// How long any single read in a test may wait before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The bundled site, as the example serves it.
pub fn bundled_site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("site")
}

/// A server running in a thread; stopped and joined on drop.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// Starts a server for `root` on 127.0.0.1 port 0.
#[track_caller]
pub fn serve(root: &Path, config: ServerConfig) -> Running {
    serve_site(Site::new(root).expect("site"), config)
}

/// Starts a server for `site` on 127.0.0.1 port 0: a site made with options (`--cache`,
/// `--languages`, `--no-listing`), or on a root opened by the caller
/// (`Site::with_root(Root::open(..)?.walk_only())`).
#[track_caller]
pub fn serve_site(site: Site, config: ServerConfig) -> Running {
    start(site, config, HttpServer::run).0
}

/// Starts a server for `site` on 127.0.0.1 port 0, with `run` serving it on a thread of
/// its own: the one start-up every `serve*` helper shares.
#[track_caller]
fn start(
    site: Site,
    config: ServerConfig,
    run: impl FnOnce(HttpServer) -> io::Result<()> + Send + 'static,
) -> (
    Running,
    std::sync::Arc<mio_selectors::event_loop::LoopStats>,
) {
    super::init();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = HttpServer::new(listener, site, config).expect("server");
    let stats = server.stats();
    let addr = server.local_addr();
    let stop = server.stop_handle();
    let thread = std::thread::spawn(move || run(server));
    (
        Running {
            addr,
            stop: Some(Box::new(move || stop.stop())),
            thread: Some(thread),
        },
        stats,
    )
}

impl Running {
    /// Stops the server and returns what `run` returned.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let result = self.stop_inner();
        if !std::thread::panicking() {
            result.expect("server failed");
        }
    }
}

/// A blocking client socket with a read timeout, so that no test can hang.
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    sock.set_nodelay(true).unwrap();
    sock
}

/// Sends `request` on a fresh connection and reads until the server closes it.
#[track_caller]
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut sock = connect(addr);
    sock.write_all(request).expect("send request");
    read_to_close(&mut sock)
}

/// Reads until end of file (the server closed); a reset after some bytes counts as the end
/// too, since a server closing with unread input makes the kernel send one.
#[track_caller]
pub fn read_to_close(sock: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0; 64 * 1024];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return out,
            // A socket with a read timeout is never restarted after a signal handler ran
            // (signal(7)), whatever SA_RESTART says: a signal to the test process (a
            // child's exit, another test's handler) must not fail the read.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!("read failed after {} bytes: {err}", out.len()),
        }
    }
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub code: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Parsed {
    /// A header's value (the first, by case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }
}

/// Parses every response in `bytes` (as read from one connection). `head_only[i]` says the
/// i-th answered a HEAD (no body whatever Content-Length says); a 304 has no body either.
/// Panics on trailing garbage or a short body.
#[track_caller]
pub fn parse_responses(mut bytes: &[u8], head_only: &[bool]) -> Vec<Parsed> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        let len = match res.parse(bytes).expect("a valid response head") {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => panic!(
                "incomplete response head: {:?}",
                String::from_utf8_lossy(bytes)
            ),
        };
        assert_eq!(res.version, Some(0), "responses say HTTP/1.0");
        let code = res.code.unwrap();
        let headers: Vec<(String, String)> = res
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        let reason = res.reason.unwrap().to_owned();
        let no_body = head_only.get(out.len()).copied().unwrap_or(false) || code == 304;
        let body_len = if no_body {
            0
        } else {
            let value = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse::<usize>().unwrap())
                .expect("Content-Length");
            value
        };
        let rest = &bytes[len..];
        assert!(
            rest.len() >= body_len,
            "body short: {} of {body_len}",
            rest.len()
        );
        out.push(Parsed {
            code,
            reason,
            headers,
            body: rest[..body_len].to_vec(),
        });
        bytes = &rest[body_len..];
    }
    out
}

/// Sends `request` on a fresh connection and parses the one response.
#[track_caller]
pub fn get_one(addr: SocketAddr, request: &str) -> Parsed {
    let head_only = request.starts_with("HEAD");
    let bytes = exchange(addr, request.as_bytes());
    let mut all = parse_responses(&bytes, &[head_only]);
    assert_eq!(all.len(), 1, "one response expected");
    all.pop().unwrap()
}

/// Reads one response from a kept-alive connection (head, then Content-Length bytes).
#[track_caller]
pub fn read_response(sock: &mut TcpStream, head_only: bool) -> Parsed {
    let mut bytes = Vec::new();
    let mut buf = [0; 16 * 1024];
    loop {
        if let Some(end) = find(&bytes, b"\r\n\r\n") {
            let head = parse_head_only(&bytes[..end + 4]);
            let want = if head_only || head.code == 304 {
                0
            } else {
                head.header("content-length").unwrap().parse().unwrap()
            };
            while bytes.len() < end + 4 + want {
                let n = sock.read(&mut buf).expect("read body");
                assert!(n > 0, "closed mid-body");
                bytes.extend_from_slice(&buf[..n]);
            }
            assert_eq!(bytes.len(), end + 4 + want, "more bytes than one response");
            return Parsed {
                body: bytes[end + 4..].to_vec(),
                ..head
            };
        }
        let n = sock.read(&mut buf).expect("read head");
        assert!(
            n > 0,
            "closed before a full head: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..n]);
    }
}

fn parse_head_only(head: &[u8]) -> Parsed {
    let mut all = parse_responses(head, &[true]);
    all.pop().unwrap()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Asserts that the server closes `sock` (end of file) within `limit`, sending nothing.
#[track_caller]
pub fn assert_closed_within(sock: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0; 1024];
    match sock.read(&mut buf) {
        Ok(0) => start.elapsed(),
        Ok(n) => panic!(
            "expected a close, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(err) if err.kind() == io::ErrorKind::ConnectionReset => start.elapsed(),
        Err(err) => panic!("not closed within {limit:?}: {err}"),
    }
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), tag)
    }

    /// A temporary directory under `base` (`/dev/shm` for tmpfs, whose file times range
    /// far beyond ext4's 1901–2446).
    pub fn new_in(base: &Path, tag: &str) -> TempDir {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = base.join(format!("mio-selectors-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic bytes for large-file tests: position-dependent, so a skipped or repeated
/// chunk shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// Whether an external tool is available; under CI (`CI` set) a missing tool fails the
/// test instead, since .ci/run installs them.
pub fn have_tool(name: &str, version_arg: &str) -> bool {
    let found = Command::new(name)
        .arg(version_arg)
        .output()
        .map(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing under CI: .ci/run should install it"
        );
        eprintln!("SKIPPED: {name} is not installed (apt-get install it to run this test)");
    }
    found
}

/// Runs `program` with `args` under coreutils' `timeout`, so that a hung client is killed
/// after `limit` (and the test fails on its exit status) instead of hanging the suite.
#[track_caller]
pub fn run_bounded(limit: Duration, program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("--kill-after=2")
        .arg(format!("{}", limit.as_secs().max(1)))
        .arg(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"))
}

/// `target/<profile>/examples/http_server`, which a plain `cargo test` builds; `None` when
/// only some test targets were built (`cargo test --test NAME`).
pub fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?; // target/debug/deps/NAME-<hash> -> target/debug
    let bin = profile_dir.join("examples").join("http_server");
    bin.exists().then_some(bin)
}

/// [`example_binary`] for a test that needs it: `None` after a `SKIPPED` line where only
/// some test targets were built; under CI (`CI` set), where `cargo test` builds it, a
/// missing binary fails the test instead.
#[track_caller]
pub fn example_binary_or_skip() -> Option<PathBuf> {
    let bin = example_binary();
    if bin.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "examples/http_server was not built"
        );
        eprintln!("SKIPPED: examples/http_server is not built (a plain `cargo test` builds it)");
    }
    bin
}

/// `examples/http_server` running as a process of its own; killed (SIGKILL) on drop.
pub struct ExampleServer {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// Every stderr line after the "serving" line, collected by a thread.
    pub log: std::sync::mpsc::Receiver<String>,
}

impl ExampleServer {
    /// Starts the example with `args` and waits for its "serving ... on http://ADDR/" line.
    #[track_caller]
    pub fn start(bin: &Path, args: &[&str]) -> ExampleServer {
        use std::io::BufRead;
        let (child, addr, line, stderr) = ExampleServer::spawn(bin, args);
        let (tx, log) = std::sync::mpsc::channel();
        let first = line.clone();
        std::thread::spawn(move || {
            let _ = tx.send(first);
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ExampleServer { child, addr, log }
    }

    /// Starts the example with `args`, reads its stderr up to the "serving ... on
    /// http://ADDR/" line, and returns the child, the address, that line and the rest of
    /// stderr, not yet read.
    #[track_caller]
    pub fn spawn(
        bin: &Path,
        args: &[&str],
    ) -> (
        std::process::Child,
        SocketAddr,
        String,
        std::io::BufReader<std::process::ChildStderr>,
    ) {
        use std::io::BufRead;
        let mut child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "info") // the access log, whatever the tests run with
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start examples/http_server");
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        // "http_server: listening on 127.0.0.1:PORT (backlog 4096)", then
        // "http_server: serving /.../site on http://127.0.0.1:PORT/ (2 workers)"
        let mut line = String::new();
        while !line.contains("serving") {
            line.clear();
            let n = stderr.read_line(&mut line).unwrap();
            assert!(n > 0, "the example ended before saying where it serves");
        }
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        (child, addr, line, stderr)
    }

    /// Kills the process with SIGKILL, as a crash or the OOM killer would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `METHOD path HTTP/1.0` with `headers`, on a fresh connection; the one response, parsed
/// (no body for HEAD).
#[track_caller]
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Parsed {
    let mut text = format!("{method} {path} HTTP/1.0\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    get_one(addr, &text)
}

/// `GET path` with `headers`.
#[track_caller]
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Parsed {
    request(addr, "GET", path, headers)
}

/// `HEAD path` with `headers`.
#[track_caller]
pub fn head(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Parsed {
    request(addr, "HEAD", path, headers)
}

/// The header names of a response, lower case, in order.
pub fn header_names(res: &Parsed) -> Vec<String> {
    res.headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect()
}

/// Sets a file's modification time with `touch -d`, to the nanosecond (`date` in UTC).
#[track_caller]
pub fn touch(path: &Path, date: &str) {
    let ok = Command::new("touch")
        .env("TZ", "UTC")
        .arg("-d")
        .arg(date)
        .arg(path)
        .status()
        .expect("touch")
        .success();
    assert!(ok, "touch -d {date} failed");
}

/// [`serve`], but the server's thread cannot bypass file permissions: capabilities are per
/// thread on Linux, so a test process running as root drops `CAP_DAC_OVERRIDE`,
/// `CAP_DAC_READ_SEARCH` and `CAP_FOWNER` from that thread's effective set, and mode bits
/// bind it as they bind any user (as the owner, for files the test created). Elsewhere the
/// server already runs as an ordinary user.
#[track_caller]
pub fn serve_unprivileged(root: &Path, config: ServerConfig) -> Running {
    let site = Site::new(root).expect("site");
    start(site, config, |server| {
        use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
        let mut caps = capabilities(None)?;
        caps.effective -=
            CapabilitySet::DAC_OVERRIDE | CapabilitySet::DAC_READ_SEARCH | CapabilitySet::FOWNER;
        set_capabilities(None, caps)?;
        server.run()
    })
    .0
}

/// Waits (at most 5 s) until `path` was last modified and changed more than 2 s ago, so
/// that the server's small-file cache will keep it (a file changed more recently than that
/// when read is never cached: the "racily clean" rule).
#[track_caller]
pub fn wait_until_settled(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).expect("stat");
    let newest = meta.mtime().max(meta.ctime());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        if now > newest as f64 + 3.0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not settle",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- Access control, sessions and the /app/ demo (issue 16) ----

/// An htpasswd file of `users` (name, password) at bcrypt `cost`, written by Apache's own
/// `htpasswd -B` (apache2-utils) where it is installed, else by the bcrypt crate.
pub fn htpasswd(dir: &TempDir, name: &str, users: &[(&str, &str)], cost: u32) -> PathBuf {
    let path = dir.0.join(name);
    let mut text = String::from("# written by the tests\n");
    let tool = have_tool("htpasswd", "-h");
    for (user, password) in users {
        let line = if tool {
            let out = Command::new("htpasswd")
                .args(["-nbB", "-C", &cost.to_string(), user, password])
                .output()
                .expect("run htpasswd");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        } else {
            format!("{user}:{}", bcrypt::hash(password, cost).unwrap())
        };
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// [`serve`], with the server's loop counters.
#[track_caller]
pub fn serve_with_stats(
    root: &Path,
    config: ServerConfig,
) -> (
    Running,
    std::sync::Arc<mio_selectors::event_loop::LoopStats>,
) {
    start(Site::new(root).expect("site"), config, HttpServer::run)
}

/// A config with the `/app/` demo on, its users from `users`, at most `max` sessions
/// living `idle` unused.
pub fn app_config(users: &Path, max: usize, idle: Duration) -> ServerConfig {
    use mio_selectors::http::{app, PasswordFile, Sessions};
    let model = app::Model::new(
        PasswordFile::load(users).expect("users file"),
        Sessions::new(max, idle),
    );
    ServerConfig {
        app: Some(std::sync::Arc::new(std::sync::Mutex::new(model))),
        ..ServerConfig::default()
    }
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// One HTTP/1.0 request on a fresh connection, with `Host`, `headers` and `body` (a
/// `Content-Length` is added for a POST or a non-empty body); the one response, parsed.
#[track_caller]
pub fn request_with_body(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Parsed {
    let mut wire = format!("{method} {target} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        wire.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" || !body.is_empty() {
        wire.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    wire.push_str("\r\n");
    let mut wire = wire.into_bytes();
    wire.extend_from_slice(body);
    let bytes = exchange(addr, &wire);
    let mut all = parse_responses(&bytes, &[method == "HEAD"]);
    assert_eq!(all.len(), 1, "one response to {method} {target}");
    all.pop().unwrap()
}

/// The `sid` a response's `Set-Cookie` gives (`Some("")` for a removal), if any.
pub fn sid_of(res: &Parsed) -> Option<String> {
    let cookie = res.header("set-cookie")?;
    let value = cookie.split(';').next()?.strip_prefix("sid=")?;
    Some(value.to_owned())
}
