//! Helpers shared by the integration tests: socket pairs, a non-owning descriptor, logging.
//!
//! Each test file pulls this in with `mod common;`. Not every file uses every helper.
#![allow(dead_code)]

pub mod browser;
pub mod event_loop;
pub mod http;
pub mod proxy;
pub mod python;
pub mod sys;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Once;
use std::time::{Duration, Instant};

use mio_selectors::{Events, Selector, Token};

/// Sends the crate's `log` output to the test's captured stderr; `RUST_LOG=debug cargo test`
/// shows it.
pub fn init() {
    static LOGGER: Once = Once::new();
    LOGGER.call_once(|| {
        let _ = env_logger::builder().is_test(true).try_init();
    });
}

/// How long a test waits for something that takes milliseconds on an idle machine: long
/// enough for one whose two cores are both busy with other work (`cargo test` runs the
/// test binaries' threads side by side, and CI machines are shared), short enough that a
/// real hang still fails the test.
pub const LOADED: Duration = Duration::from_secs(30);

/// Calls `condition` every few milliseconds until it is true, and returns how long that
/// took; fails the test, naming `what`, if it is still false after `limit`.
///
/// This is how a test waits for an event it cannot be told of directly (a server closing
/// its side, a thread reaching a point, a counter moving): never a fixed sleep, which is
/// either too short on a busy machine or needlessly long on an idle one.
#[track_caller]
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if condition() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still waiting after {limit:?} for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A TCP connection's state in the kernel, from `/proc/net/tcp` (or `tcp6`): the socket
/// whose local address is `local` and whose peer is `remote`, or `None` if the table has
/// no such row: the socket is gone, or (see [`server_closed`]) the row was skipped.
///
/// The server's side of a connection, seen from the test: an open one is `ESTABLISHED`
/// or, after the client's FIN, `CLOSE_WAIT`; a closed one `FIN_WAIT1`, `LAST_ACK` and so
/// on, or gone.
pub fn tcp_state(local: SocketAddr, remote: SocketAddr) -> Option<TcpState> {
    let table = match local.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text =
        std::fs::read_to_string(table).unwrap_or_else(|err| panic!("cannot read {table}: {err}"));
    let (local, remote) = (proc_net_addr(local), proc_net_addr(remote));
    text.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace().skip(1); // "sl", the row number
        let (l, r, st) = (fields.next()?, fields.next()?, fields.next()?);
        (l == local && r == remote).then(|| TcpState(u8::from_str_radix(st, 16).unwrap_or(0)))
    })
}

/// A TCP state as the kernel numbers it (include/net/tcp_states.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpState(pub u8);

impl TcpState {
    pub const ESTABLISHED: TcpState = TcpState(1);
    pub const CLOSE_WAIT: TcpState = TcpState(8);

    /// Still open at the application's end: it has not called `close` (or `shutdown`
    /// for writing) on it.
    pub fn open(self) -> bool {
        self == TcpState::ESTABLISHED || self == TcpState::CLOSE_WAIT
    }
}

/// Whether the server at `server` has closed its end of `client`'s connection, as the
/// kernel shows it, without reading from `client` (which would let the server send what
/// it still holds): its socket is closing (`FIN_WAIT1`, `LAST_ACK`...; it closed with
/// output still queued), or it reset ours (`TCP_CLOSE`; it closed with input unread, or
/// aborted).
///
/// Both are positive evidence. A server socket simply missing from `/proc/net/tcp` is
/// not: the kernel prints that table a page at a time, and a row can be skipped while
/// other sockets come and go (the chat tests' thousand clients made it happen).
pub fn server_closed(server: SocketAddr, client: &TcpStream) -> bool {
    const TCP_CLOSE: u8 = 7;
    let client_addr = client.local_addr().expect("the client's address");
    let closing = tcp_state(server, client_addr).is_some_and(|state| !state.open());
    closing || sys::tcp_state(client).expect("TCP_INFO") == TCP_CLOSE
}

/// An address as `/proc/net/tcp` prints it: each 32-bit word of the IP address in host
/// byte order, then the port, in upper-case hex (`0100007F:1F90` for 127.0.0.1:8080).
fn proc_net_addr(addr: SocketAddr) -> String {
    let octets = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    let words: String = octets
        .chunks(4)
        .map(|word| format!("{:08X}", u32::from_ne_bytes(word.try_into().unwrap())))
        .collect();
    format!("{words}:{:04X}", addr.port())
}

/// Python's `socket.socketpair()`: two connected Unix stream sockets, both non-blocking.
#[track_caller]
pub fn socketpair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("set_nonblocking");
    b.set_nonblocking(true).expect("set_nonblocking");
    (a, b)
}

/// A connected TCP pair on 127.0.0.1: `(client, server)`, both non-blocking.
#[track_caller]
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.set_nonblocking(true).expect("set_nonblocking");
    server.set_nonblocking(true).expect("set_nonblocking");
    (client, server)
}

/// A bare descriptor number that the key does not own: Python's `sel.register(fd_int, ...)`.
///
/// Dropping it closes nothing, so a test can close the real socket behind the selector's
/// back, as CPython's `test_unregister_after_fd_close` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFdObj(pub RawFd);

impl AsRawFd for RawFdObj {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Selects (waiting at most `timeout` in all) until `token` is reported, and returns its mask.
#[track_caller]
pub fn select_until<S: AsRawFd, T>(
    sel: &mut Selector<S, T>,
    token: Token,
    timeout: Duration,
) -> Events {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ready = sel.select(left).expect("select");
        if let Some(&(_, mask)) = ready.iter().find(|(t, _)| *t == token) {
            return mask;
        }
        assert!(
            Instant::now() < deadline,
            "{token:?} not reported within {timeout:?}"
        );
    }
}

/// Reads whatever is available now (up to `max` bytes) from a non-blocking stream.
#[track_caller]
pub fn read_available(stream: &mut impl Read, max: usize) -> Vec<u8> {
    let mut buf = vec![0; max];
    match stream.read(&mut buf) {
        Ok(n) => buf.truncate(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => buf.clear(),
        Err(e) => panic!("read failed: {e}"),
    }
    buf
}

/// Writes into a non-blocking stream until the kernel's buffers are full; returns the bytes written.
#[track_caller]
pub fn fill_until_would_block(stream: &mut impl Write) -> usize {
    let chunk = [0x5a; 64 * 1024];
    let mut total = 0;
    loop {
        match stream.write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("write failed: {e}"),
        }
        assert!(total < 1 << 30, "socket buffer never filled");
    }
}

/// A process's resident memory in bytes, from the `VmRSS:` line of a `/proc/<pid>/status`
/// file (`/proc/self/status` for this process).
#[track_caller]
pub fn rss_of(status_path: &str) -> u64 {
    let status = std::fs::read_to_string(status_path)
        .unwrap_or_else(|err| panic!("read {status_path}: {err}"));
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS in {status_path}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("bad VmRSS line {line:?}"));
    kib * 1024
}

/// `target/<profile>/examples/<name>`, built first (`cargo test --test X` alone does not
/// build the examples), with the profile of the running test.
#[track_caller]
pub fn example(name: &str) -> std::path::PathBuf {
    use std::path::Path;
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--example", name, "--manifest-path"]);
    build.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    if profile_dir.file_name().is_some_and(|dir| dir == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build --example");
    assert!(status.success(), "cargo build --example {name} failed");
    profile_dir.join("examples").join(name)
}

/// An example server started as a child process, killed (if still running) when dropped.
#[derive(Debug)]
pub struct ExampleServer {
    pub child: std::process::Child,
    /// What followed `listening on ` in its announcement (`127.0.0.1:PORT`, or a path),
    /// without a `udp ` prefix or a `(backlog N)` suffix.
    pub listening_on: String,
}

impl ExampleServer {
    /// Starts `example(name) args` and waits (at most [`LOADED`]) for its `listening on` line;
    /// the rest of its stderr goes to the test's.
    #[track_caller]
    pub fn start(name: &str, args: &[&str]) -> ExampleServer {
        let mut command = std::process::Command::new(example(name));
        command.args(args);
        ExampleServer::spawn(name, command)
    }

    /// [`start`](Self::start), with the soft limit on open descriptors (`ulimit -Sn`) set
    /// to `soft` for the server, as a login shell would leave it (often 1024), whatever
    /// this process raised its own to. The hard limit stays.
    #[track_caller]
    pub fn start_with_soft_fd_limit(name: &str, args: &[&str], soft: u64) -> ExampleServer {
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -Sn {soft} && exec \"$0\" \"$@\""))
            .arg(example(name))
            .args(args);
        ExampleServer::spawn(name, command)
    }

    #[track_caller]
    fn spawn(name: &str, mut command: std::process::Command) -> ExampleServer {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = command
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {name}: {err}"));
        let stderr = io::BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let label = name.to_string();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("[{label}] {line}");
                if let Some((_, rest)) = line.split_once("listening on ") {
                    let rest = rest.strip_prefix("udp ").unwrap_or(rest);
                    let what = rest.split(" (backlog").next().unwrap_or(rest).to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(what);
                    }
                }
            }
        });
        match rx.recv_timeout(LOADED) {
            Ok(listening_on) => ExampleServer {
                child,
                listening_on,
            },
            Err(_) => {
                let _ = child.kill();
                panic!("{name} did not say where it listens within {LOADED:?}")
            }
        }
    }

    /// Sends `signal`, and waits at most [`LOADED`] for the exit status.
    #[track_caller]
    pub fn signal_and_wait(&mut self, signal: libc::c_int) -> std::process::ExitStatus {
        sys::kill(self.child.id(), signal).expect("kill(2)");
        let deadline = Instant::now() + LOADED;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {LOADED:?} after signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A library server running its loop on a thread of this process; stopped, and joined
/// (at most [`LOADED`]), when dropped, failing the test if `run` failed.
#[derive(Debug)]
pub struct ServerThread {
    stop: mio_selectors::Stop,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl ServerThread {
    /// Runs `body` on a new thread named `name`: `body` builds the server there (so that a
    /// server that fails to start fails on its own thread, with its error), sends its stop
    /// handle (and anything else the test wants, `T`) through the channel it is given, then
    /// runs it. Returns once the handle
    /// has arrived (at most [`LOADED`]).
    #[track_caller]
    pub fn spawn<T: Send + 'static>(
        name: &str,
        body: impl FnOnce(std::sync::mpsc::Sender<(mio_selectors::Stop, T)>) -> io::Result<()>
            + Send
            + 'static,
    ) -> (ServerThread, T) {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || body(tx))
            .expect("spawn the server thread");
        match rx.recv_timeout(LOADED) {
            Ok((stop, extra)) => (
                ServerThread {
                    stop,
                    thread: Some(thread),
                },
                extra,
            ),
            Err(_) => match thread.join() {
                Ok(Err(err)) => panic!("{name} did not start: {err}"),
                _ => panic!("{name} did not start within {LOADED:?}"),
            },
        }
    }

    /// Stops the loop and returns what `run` returned (waiting at most [`LOADED`]).
    #[track_caller]
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_and_join().expect("the server thread")
    }

    fn stop_and_join(&mut self) -> Option<io::Result<()>> {
        self.stop.stop();
        let thread = self.thread.take()?;
        let deadline = Instant::now() + LOADED;
        while !thread.is_finished() {
            if Instant::now() > deadline {
                return Some(Err(io::Error::other(
                    "run() did not return within LOADED (30 s) of stop()",
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Some(match thread.join() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the server thread panicked")),
        })
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(result) = self.stop_and_join() {
            if !std::thread::panicking() {
                result.expect("the server's run() failed");
            }
        }
    }
}

/// Kills the child process when dropped (and reaps it), even if the test panics first.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
