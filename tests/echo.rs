//! The three echo servers and the multi-connection client, over real sockets on 127.0.0.1.
//!
//! Every server test is written once and run against each server (the `server_tests!`
//! table at the end of the server section): blocking, threaded and multiplexed each get a
//! fresh server on port 0, so tests running in parallel never share one. The blocking and
//! threaded servers have no way to stop, so their threads simply run until the test process
//! exits; the multiplexed one is stopped and joined when the test's `Server` is dropped.
//!
//! Then come the client's own tests (refused, silent, corrupting and cross-wired servers),
//! and the cross-language ones: the Python client against the Rust server, and the Rust
//! client against the Python server. Those run `python3`, which every machine that runs
//! these tests is expected to have; if it is missing they fail and say so.
//!
//! Everything is bounded in time: sockets have read and write timeouts, the client a time
//! limit, and child processes are killed after a deadline.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::KillOnDrop;
use mio_selectors::echo::client::{self, ClientOptions, Summary, PATTERN_PERIOD};
use mio_selectors::echo::protocol::EchoProtocolServer;
use mio_selectors::echo::{blocking, threaded, Config, EchoServer, Stats};
use mio_selectors::Stop;

/// How long any one socket call in a test may block before the test fails instead of
/// hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// The most bytes a test reads or writes per call.
const CHUNK: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// Starting a server
// ---------------------------------------------------------------------------------------

/// Which of the course's servers a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blocking,
    Threaded,
    Multiplexed,
    /// The same server on the protocol layer (`EchoProtocolServer`, examples/echo_protocol).
    Protocol,
}

/// A server running on a thread of its own, on 127.0.0.1 and a port the OS picked.
struct Server {
    kind: Kind,
    addr: SocketAddr,
    config: Config,
    stats: Arc<Stats>,
    /// The multiplexed server's stop handle and thread; the other two run until the test
    /// process exits.
    running: Option<Running>,
}

struct Running {
    stop: Stop,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// The server thread's kernel thread id (Linux), to read its CPU time.
    tid: Option<u32>,
}

/// Starts a `kind` server on port 0 in a thread; see [`Server`].
#[track_caller]
fn start(kind: Kind) -> Server {
    start_with(kind, Config::default())
}

/// [`start`], with a configuration of the test's own.
#[track_caller]
fn start_with(kind: Kind, config: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    let name = format!("{kind:?} server {addr}");
    let spawn = |body: Box<dyn FnOnce() -> io::Result<()> + Send>| {
        thread::Builder::new()
            .name(name.clone())
            .spawn(body)
            .expect("spawn the server thread")
    };
    match kind {
        Kind::Blocking | Kind::Threaded => {
            let stats = Arc::new(Stats::default());
            let (server_stats, server_config) = (Arc::clone(&stats), config.clone());
            // Detached: blocked in accept() forever, like the Python programs.
            drop(spawn(Box::new(move || match kind {
                Kind::Blocking => blocking::serve(listener, &server_config, &server_stats),
                _ => threaded::serve(listener, server_config, server_stats),
            })));
            Server {
                kind,
                addr,
                config,
                stats,
                running: None,
            }
        }
        Kind::Multiplexed | Kind::Protocol => {
            let (stats, stop, run): (_, _, Box<dyn FnOnce() -> io::Result<()> + Send>) = if kind
                == Kind::Multiplexed
            {
                let server = EchoServer::new(listener, config.clone()).expect("EchoServer::new");
                (
                    server.stats(),
                    server.stop_handle(),
                    Box::new(move || server.run()),
                )
            } else {
                let server = EchoProtocolServer::new(listener, config.clone())
                    .expect("EchoProtocolServer::new");
                (
                    server.stats(),
                    server.stop_handle(),
                    Box::new(move || server.run()),
                )
            };
            let (tid_tx, tid_rx) = mpsc::channel();
            let thread = spawn(Box::new(move || {
                let _ = tid_tx.send(current_tid());
                run()
            }));
            let tid = tid_rx
                .recv_timeout(common::LOADED)
                .expect("the server thread starts");
            Server {
                kind,
                addr,
                config,
                stats,
                running: Some(Running {
                    stop,
                    thread: Some(thread),
                    tid,
                }),
            }
        }
    }
}

impl Server {
    /// Stops the multiplexed server, waits at most `limit` for `run()` to return, and
    /// returns how long that took and what `run()` returned.
    #[track_caller]
    fn stop_and_join(&mut self, limit: Duration) -> (Duration, io::Result<()>) {
        let running = self
            .running
            .as_mut()
            .expect("only the multiplexed and protocol servers stop");
        let thread = running.thread.take().expect("not stopped yet");
        let started = Instant::now();
        running.stop.stop();
        while !thread.is_finished() {
            assert!(
                started.elapsed() < limit,
                "run() still running {limit:?} after stop()"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let took = started.elapsed();
        (took, thread.join().expect("the server thread panicked"))
    }

    /// The most a connection may make this server hold: the multiplexed server buffers up
    /// to its high-water mark plus one read; the others hold one read buffer at most.
    fn buffer_bound(&self) -> usize {
        match self.kind {
            Kind::Multiplexed | Kind::Protocol => self.config.max_buffered_per_connection(),
            Kind::Blocking | Kind::Threaded => self.config.read_chunk,
        }
    }
}

impl Drop for Server {
    /// Stops a multiplexed server that the test did not stop (it failed, say), waiting a
    /// little for it but never forever.
    fn drop(&mut self) {
        if let Some(running) = &mut self.running {
            running.stop.stop();
            if let Some(thread) = running.thread.take() {
                let deadline = Instant::now() + Duration::from_secs(5);
                while !thread.is_finished() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(5));
                }
                if thread.is_finished() {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// The calling thread's kernel id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// CPU time a thread of this process has used, in clock ticks: `utime + stime`, fields 14
/// and 15 of `/proc/self/task/<tid>/stat`.
#[track_caller]
fn thread_cpu_ticks(tid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .expect("read /proc/self/task/<tid>/stat");
    // Field 2, the thread's name, is in parentheses and may hold spaces: count from after it.
    let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `after_name` starts at field 3, so fields 14 and 15 are at indexes 11 and 12.
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a number of ticks");
    ticks(11) + ticks(12)
}

// ---------------------------------------------------------------------------------------
// Talking to a server
// ---------------------------------------------------------------------------------------

/// A blocking client socket whose every call gives up after [`IO_TIMEOUT`].
#[track_caller]
fn connect(addr: SocketAddr) -> TcpStream {
    let sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    sock
}

/// Sends `message` and reads back exactly as many bytes, which must be the same.
#[track_caller]
fn roundtrip(sock: &mut TcpStream, message: &[u8]) {
    sock.write_all(message).expect("send");
    let mut echo = vec![0; message.len()];
    sock.read_exact(&mut echo).expect("read the echo");
    assert_eq!(echo, message, "the echo differs from what was sent");
}

/// True once `condition` holds, checking every few milliseconds for at most `limit`.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The client's 251-byte pattern, for streams of any length: what a test sends, and so
/// what it expects back, at every offset.
struct Pattern {
    /// The pattern repeated, long enough to cut any `CHUNK` bytes from any phase.
    bytes: Vec<u8>,
}

impl Pattern {
    fn new() -> Pattern {
        let period = client::make_message(0, 0, 1, PATTERN_PERIOD);
        Pattern {
            bytes: period.repeat(CHUNK / PATTERN_PERIOD + 2),
        }
    }

    /// The `len` bytes (at most `CHUNK`) of the stream that start at `offset`.
    fn at(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PATTERN_PERIOD as u64) as usize;
        &self.bytes[start..start + len]
    }
}

/// Writes `total` bytes of the pattern, counting them in `written` as they go.
fn send_pattern(
    sock: &mut TcpStream,
    pattern: &Pattern,
    total: u64,
    written: &AtomicU64,
) -> io::Result<()> {
    let mut offset = 0;
    while offset < total {
        let len = (total - offset).min(CHUNK as u64) as usize;
        sock.write_all(pattern.at(offset, len))?;
        offset += len as u64;
        written.store(offset, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads `total` bytes and checks each against the pattern; panics at the first mismatch.
#[track_caller]
fn receive_pattern(sock: &mut TcpStream, pattern: &Pattern, total: u64) {
    let mut buf = vec![0; CHUNK];
    let mut offset = 0;
    while offset < total {
        let want = (total - offset).min(CHUNK as u64) as usize;
        let n = match sock.read(&mut buf[..want]) {
            Ok(0) => panic!("server closed after echoing {offset} of {total} bytes"),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => panic!("read failed after {offset} of {total} bytes: {err}"),
        };
        let expected = pattern.at(offset, n);
        if let Some(i) = (0..n).find(|&i| buf[i] != expected[i]) {
            panic!(
                "byte {}: sent {:#04x}, got back {:#04x}",
                offset + i as u64,
                expected[i],
                buf[i]
            );
        }
        offset += n as u64;
    }
}

/// Asserts that the server has closed `sock`: end of file, or a reset.
#[track_caller]
fn assert_closed_by_server(sock: &mut TcpStream) {
    match sock.read(&mut [0; 1]) {
        Ok(0) => {}
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            ) => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

/// Options for a client run that cannot take more than a minute, or 10 s without progress.
fn bounded(conns: usize, messages: usize, size: usize) -> ClientOptions {
    ClientOptions {
        conns,
        messages,
        size,
        half_close: false,
        timeout: Duration::from_secs(10),
        time_limit: Some(Duration::from_secs(60)),
    }
}

/// Runs the client and asserts that every byte came back.
#[track_caller]
fn run_client_ok(addrs: &[SocketAddr], options: &ClientOptions) -> Summary {
    let summary = client::run(addrs, options).expect("client::run");
    assert!(summary.ok(), "{summary}; errors: {:?}", summary.errors);
    assert_eq!(summary.bytes_verified, summary.bytes_expected());
    assert_eq!(summary.bytes_sent, summary.bytes_expected());
    summary
}

// ---------------------------------------------------------------------------------------
// The servers: each test body runs against every server (see `server_tests!` below)
// ---------------------------------------------------------------------------------------

fn echoes_a_message_back_unchanged(kind: Kind) {
    let server = start(kind);
    let mut sock = connect(server.addr);
    let messages: [&[u8]; 2] = [b"hello, echo", b"and again, with \x00 and \xff bytes\n"];
    for message in messages {
        roundtrip(&mut sock, message);
    }
    sock.shutdown(Shutdown::Write).unwrap();
    assert_closed_by_server(&mut sock);
    assert!(eventually(common::LOADED, || server.stats.open() == 0));
    assert_eq!(server.stats.accepted(), 1);
    let total: usize = messages.iter().map(|m| m.len()).sum();
    assert_echoed(&server.stats, total as u64);
}

/// Sends `total` bytes from one thread while this one reads the echo (with
/// `blocked_first`, only once the client is blocked, see [`wait_until_blocked`]); then
/// half-closes and expects the server's end of file.
/// Returns how many bytes the writer had managed to send when the reading began.
fn stream_through(server: &Server, total: u64, blocked_first: bool) -> u64 {
    let mut sock = connect(server.addr);
    let mut writer_sock = sock.try_clone().unwrap();
    let pattern = Arc::new(Pattern::new());
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (pattern, written) = (Arc::clone(&pattern), Arc::clone(&written));
        thread::spawn(move || {
            send_pattern(&mut writer_sock, &pattern, total, &written)?;
            writer_sock.shutdown(Shutdown::Write)
        })
    };
    if blocked_first {
        wait_until_blocked(server, &written, total);
    }
    let written_before_reading = written.load(Ordering::Relaxed);
    receive_pattern(&mut sock, &pattern, total);
    writer.join().unwrap().expect("the writer sends everything");
    assert_closed_by_server(&mut sock);
    written_before_reading
}

/// Waits until a client that sends without reading is blocked: the server holds what
/// it buffers for a connection (backpressure has engaged, for the servers that have it)
/// and the client's count of bytes sent has stopped moving, or it sent everything.
/// Waiting for that, not a fixed time, is what lets a server that absorbs everything show
/// it on a busy machine, and a correct one pass quickly on an idle one.
#[track_caller]
fn wait_until_blocked(server: &Server, written: &AtomicU64, total: u64) {
    let engaged = || match server.kind {
        Kind::Multiplexed | Kind::Protocol => {
            server.stats.peak_buffered() > server.config.high_water
        }
        Kind::Blocking | Kind::Threaded => server.stats.peak_buffered() > 0,
    };
    let mut last = (written.load(Ordering::Relaxed), Instant::now());
    common::wait_until(common::LOADED, "the client to be blocked", || {
        let now = written.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        now == total || (engaged() && last.1.elapsed() > Duration::from_millis(300))
    });
}

fn echoes_a_16_mib_message_sent_while_the_echo_is_read(kind: Kind) {
    let server = start(kind);
    let total = 16 << 20;
    stream_through(&server, total, false);
    assert!(eventually(common::LOADED, || server.stats.open() == 0));
    assert_echoed(&server.stats, total);
}

/// A short read is not an empty socket (issue 7). `abc`, an urgent `X` and `def` leave in
/// one corked segment, and the server's read stops at the urgent mark with `abc`; `def` is
/// still queued, with no new edge to announce it. The urgent byte is out of band, not part
/// of the stream, so the echo is `abcdef`, as from Python's `echo_server.py`.
fn echoes_the_bytes_behind_a_tcp_urgent_mark(kind: Kind) {
    let server = start(kind);
    send_across_an_urgent_mark(server.addr);
}

/// The body of [`echoes_the_bytes_behind_a_tcp_urgent_mark`], also run against Python's
/// server to show that it is the behaviour to match.
#[track_caller]
fn send_across_an_urgent_mark(addr: SocketAddr) {
    let mut sock = connect(addr);
    roundtrip(&mut sock, b"hi");
    common::sys::set_tcp_cork(&sock, true).expect("TCP_CORK on");
    sock.write_all(b"abc").expect("send");
    common::sys::send_urgent(&sock, b"X").expect("send MSG_OOB");
    sock.write_all(b"def").expect("send");
    common::sys::set_tcp_cork(&sock, false).expect("TCP_CORK off");
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut echo = [0; 6];
    sock.read_exact(&mut echo)
        .expect("all six bytes back within 2 s");
    assert_eq!(&echo, b"abcdef");
    roundtrip(&mut sock, b"still there");
}

fn echoes_bytes_that_arrive_one_at_a_time(kind: Kind) {
    let server = start(kind);
    let pattern = Pattern::new();
    let mut sock = connect(server.addr);
    sock.set_nodelay(true).unwrap();
    // One byte, its echo, the next byte...
    for i in 0..300u64 {
        roundtrip(&mut sock, pattern.at(i, 1));
    }
    // ...then 300 one-byte segments (TCP_NODELAY: no coalescing on our side) before reading:
    // the server sees them in reads of any size, and must echo them in order.
    for i in 0..300u64 {
        sock.write_all(pattern.at(i, 1)).unwrap();
    }
    receive_pattern(&mut sock, &pattern, 300);
    assert_echoed(&server.stats, 600);
}

fn echoes_everything_to_a_client_that_half_closes_then_closes(kind: Kind) {
    let server = start(kind);
    let pattern = Pattern::new();
    let mut sock = connect(server.addr);
    // Small enough to sit in the socket buffers while nobody reads it.
    let sent = pattern.at(7, CHUNK);
    sock.write_all(sent).unwrap();
    sock.shutdown(Shutdown::Write).unwrap(); // Python: s.shutdown(SHUT_WR)
    let mut echo = Vec::new();
    sock.read_to_end(&mut echo)
        .expect("read until the server closes");
    assert!(
        echo == sent,
        "the echo differs from the {} bytes sent",
        sent.len()
    );

    // The client's half-close mode: send everything, shut down, expect the rest and EOF.
    let options = ClientOptions {
        half_close: true,
        ..bounded(3, 5, 10_000)
    };
    run_client_ok(&[server.addr], &options);
}

/// The blocking server serves one client at a time, so 200 clients at once would only
/// measure the listen queue: it gets five, one after another, then five at once, which
/// it still serves one after another from its backlog.
fn serves_5_clients_of_50_messages_one_after_another(kind: Kind) {
    let server = start(kind);
    for _ in 0..5 {
        run_client_ok(&[server.addr], &bounded(1, 50, 1000));
    }
    run_client_ok(&[server.addr], &bounded(5, 50, 1000));
    assert_eq!(server.stats.accepted(), 10);
    assert!(eventually(common::LOADED, || server.stats.open() == 0));
    assert_echoed(&server.stats, 10 * 50 * 1000);
}

fn serves_200_concurrent_clients_of_50_messages_each(kind: Kind) {
    let server = start(kind);
    let summary = run_client_ok(&[server.addr], &bounded(200, 50, 1000));
    assert_eq!(summary.bytes_verified, 200 * 50 * 1000);
    assert_eq!(server.stats.accepted(), 200);
    assert!(
        eventually(common::LOADED, || server.stats.open() == 0),
        "{} connections still open",
        server.stats.open()
    );
    assert_echoed(&server.stats, 200 * 50 * 1000);
}

fn keeps_serving_others_after_a_client_resets(kind: Kind) {
    let server = start(kind);
    let mut reset = connect(server.addr);
    roundtrip(&mut reset, b"about to vanish");
    // Connected before the reset; the blocking server makes it wait in the backlog.
    let mut other = connect(server.addr);

    // Leave the server with bytes to echo that nobody reads, then abort with a RST.
    reset.set_nonblocking(true).unwrap();
    assert!(common::fill_until_would_block(&mut reset) > 0);
    common::sys::set_linger_zero(&reset).expect("SO_LINGER 0");
    drop(reset);

    for i in 0..10 {
        roundtrip(&mut other, format!("still here {i}").as_bytes());
    }
    drop(other);
    // And the server still accepts new clients.
    let mut late = connect(server.addr);
    roundtrip(&mut late, b"late");
    assert!(
        eventually(common::LOADED, || server.stats.open() == 1),
        "the reset connection was never closed: {} open",
        server.stats.open()
    );
    assert_eq!(server.stats.accepted(), 3);
}

fn bounds_what_it_buffers_for_a_client_that_sends_64_mib_before_reading(kind: Kind) {
    let server = start(kind);
    let total = 64 << 20;
    let written = stream_through(&server, total, true);
    log::info!("{kind:?}: the client had sent {written} of {total} bytes when it began reading");
    // The flood did not vanish into the server: the client was blocked by a full window.
    assert!(written < total, "the server absorbed all {total} bytes");
    let peak = server.stats.peak_buffered();
    assert!(
        peak <= server.buffer_bound(),
        "{kind:?} server held {peak} bytes for one connection (bound {})",
        server.buffer_bound()
    );
    if matches!(kind, Kind::Multiplexed | Kind::Protocol) {
        // Not vacuous: the client's bytes piled up in the server until backpressure paused it.
        assert!(
            peak > server.config.high_water,
            "peak {peak}: backpressure never engaged"
        );
    } else {
        assert!(peak > 0);
    }
    assert_echoed(&server.stats, total);
}

/// A paused connection must resume when its buffer drains to the low-water mark, even a
/// mark of 0; an early version waited for "below 0" and closed the client half-way.
fn resumes_reading_with_the_smallest_water_marks(kind: Kind) {
    let config = Config {
        high_water: 3,
        low_water: 0,
        ..Config::default()
    };
    let server = start_with(kind, config);
    // Enough to overflow loopback's socket buffers while the client is not reading, so
    // that the server really pauses (checked below) and must resume.
    let total = 32 << 20;
    stream_through(&server, total, true);
    assert!(
        server.stats.peak_buffered() > 3,
        "backpressure never engaged"
    );
    assert_echoed(&server.stats, total);
}

/// `--max-conns`: at the cap the server stops accepting; a client beyond it waits in the
/// listen queue, unanswered, and is served as soon as another connection closes.
fn accepts_at_most_max_conns_and_the_next_client_once_one_closes(kind: Kind) {
    let config = Config {
        max_conns: 2,
        ..Config::default()
    };
    let server = start_with(kind, config);
    let mut first = connect(server.addr);
    let mut second = connect(server.addr);
    roundtrip(&mut first, b"one");
    roundtrip(&mut second, b"two");

    // The kernel completes the third handshake, but the server does not accept it.
    let mut third = connect(server.addr);
    third.write_all(b"three").expect("send");
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut echo = [0; 5];
    let err = third.read_exact(&mut echo).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "no echo beyond the cap, got {err}"
    );
    assert_eq!((server.stats.accepted(), server.stats.open()), (2, 2));

    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    third
        .read_exact(&mut echo)
        .expect("served once a slot is free");
    assert_eq!(&echo, b"three");
    assert!(eventually(common::LOADED, || server.stats.open() == 2));
    assert_eq!(server.stats.accepted(), 3);
    roundtrip(&mut second, b"still served");
}

/// `--idle-timeout 1e19`: a timeout too long for the clock means "never", not a panic
/// (`Instant + Duration` overflows) nor a `select()` refusing the wait.
fn serves_with_an_idle_timeout_too_long_for_the_clock(kind: Kind) {
    let config = Config {
        idle_timeout: Some(Duration::MAX),
        ..Config::default()
    };
    let server = start_with(kind, config);
    let mut sock = connect(server.addr);
    roundtrip(&mut sock, b"hello");
    thread::sleep(Duration::from_millis(100)); // a select() or two with the far deadline
    roundtrip(&mut sock, b"still there");
}

/// `--idle-timeout`: a client that stays silent is closed after the timeout, one that keeps
/// talking is not, and one that floods the server but never reads its echo (backpressure
/// pauses it, so it has no more events) is closed too, freeing its buffer.
fn closes_connections_idle_for_longer_than_the_idle_timeout(kind: Kind) {
    // Long enough that a busy test machine does not stall `chatty` past it.
    let limit = Duration::from_millis(600);
    let config = Config {
        idle_timeout: Some(limit),
        high_water: 64 * 1024,
        low_water: 16 * 1024,
        ..Config::default()
    };
    let server = start_with(kind, config);
    let started = Instant::now();
    let mut silent = connect(server.addr);
    roundtrip(&mut silent, b"hello");
    let mut chatty = connect(server.addr);
    let flooding = connect(server.addr);
    flooding.set_nonblocking(true).unwrap();
    let mut flooded = 0;
    let chunk = [0x5a; CHUNK];
    while Instant::now() < started + Duration::from_millis(100) {
        match (&flooding).write(&chunk) {
            Ok(n) => flooded += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("flood: {e}"),
        }
    }
    assert!(
        flooded > 64 * 1024,
        "the flood must pass the high-water mark"
    );

    // `chatty` talks every 50 ms for 2 timeouts and stays open throughout.
    while started.elapsed() < 2 * limit {
        roundtrip(&mut chatty, b"still here");
        thread::sleep(Duration::from_millis(50));
    }
    let mut buf = [0; 16];
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(silent.read(&mut buf).expect("closed, not reset"), 0);
    assert!(started.elapsed() >= limit, "closed before its timeout");
    assert!(
        eventually(common::LOADED, || server.stats.open() == 1),
        "the silent and the flooding client are closed, the chatty one is not: {} open",
        server.stats.open()
    );
    roundtrip(&mut chatty, b"and served");
}

fn stops_within_2_s_with_clients_connected(kind: Kind) {
    let mut server = start(kind);
    let mut idle: Vec<TcpStream> = (0..2).map(|_| connect(server.addr)).collect();
    for sock in &mut idle {
        roundtrip(sock, b"accepted");
    }
    // A third client floods the server without reading, so it has output pending.
    let flooding = connect(server.addr);
    let mut flood_writer = flooding.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let written = AtomicU64::new(0);
        send_pattern(&mut flood_writer, &Pattern::new(), 1 << 30, &written)
    });
    assert!(eventually(common::LOADED, || {
        server.stats.peak_buffered() > 0
    }));

    let (took, result) = server.stop_and_join(Duration::from_secs(2));
    result.expect("run() returns Ok after stop()");
    log::info!("run() returned {took:?} after stop()");
    for sock in &mut idle {
        assert_closed_by_server(sock);
    }
    assert_eq!(server.stats.open(), 0, "run() closed every connection");
    // The flood ends with an error (reset, broken pipe) once the server has closed.
    assert!(writer.join().unwrap().is_err());
    flooding.shutdown(Shutdown::Both).ok();
}

#[cfg(target_os = "linux")]
fn uses_no_cpu_while_idle_with_connected_clients(kind: Kind) {
    let server = start(kind);
    let tid = server
        .running
        .as_ref()
        .and_then(|running| running.tid)
        .expect("the server thread's id, from /proc/thread-self");
    let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(server.addr)).collect();
    for sock in &mut clients {
        roundtrip(sock, b"now idle");
    }
    thread::sleep(Duration::from_millis(100));
    // Only the server's thread: other tests run in this process at the same time.
    let before = thread_cpu_ticks(tid);
    thread::sleep(Duration::from_secs(1));
    let used = thread_cpu_ticks(tid) - before;
    // Ticks are 1/100 s (USER_HZ). A loop spinning on always-writable sockets uses ~100.
    assert!(
        used < 30,
        "the idle server used {used} ticks of CPU in 1 s: a busy loop?"
    );
    assert_eq!(server.stats.open(), 3);
}

/// Runs each test body against the servers listed, in a module per server:
/// `multiplexed_server::echoes_a_message_back_unchanged`, and so on.
macro_rules! server_tests {
    ($every:tt; $($server:ident($kind:expr): [$($only:ident),* $(,)?];)+) => {
        $( server_tests!(@module $server, $kind, $every, [$($only),*]); )+
    };
    (@module $server:ident, $kind:expr, [$($test:ident),* $(,)?], [$($only:ident),*]) => {
        mod $server {
            use super::*;
            $(
                #[test]
                fn $test() {
                    common::init();
                    super::$test($kind);
                }
            )*
            $(
                #[test]
                fn $only() {
                    common::init();
                    super::$only($kind);
                }
            )*
        }
    };
}

server_tests! {
    [
        echoes_a_message_back_unchanged,
        echoes_a_16_mib_message_sent_while_the_echo_is_read,
        echoes_bytes_that_arrive_one_at_a_time,
        echoes_the_bytes_behind_a_tcp_urgent_mark,
        echoes_everything_to_a_client_that_half_closes_then_closes,
        keeps_serving_others_after_a_client_resets,
        bounds_what_it_buffers_for_a_client_that_sends_64_mib_before_reading,
    ];
    blocking_server(Kind::Blocking): [serves_5_clients_of_50_messages_one_after_another];
    threaded_server(Kind::Threaded): [serves_200_concurrent_clients_of_50_messages_each];
    multiplexed_server(Kind::Multiplexed): [
        serves_200_concurrent_clients_of_50_messages_each,
        resumes_reading_with_the_smallest_water_marks,
        stops_within_2_s_with_clients_connected,
        uses_no_cpu_while_idle_with_connected_clients,
        accepts_at_most_max_conns_and_the_next_client_once_one_closes,
        closes_connections_idle_for_longer_than_the_idle_timeout,
        serves_with_an_idle_timeout_too_long_for_the_clock,
    ];
    protocol_server(Kind::Protocol): [
        serves_200_concurrent_clients_of_50_messages_each,
        resumes_reading_with_the_smallest_water_marks,
        stops_within_2_s_with_clients_connected,
        uses_no_cpu_while_idle_with_connected_clients,
        accepts_at_most_max_conns_and_the_next_client_once_one_closes,
        closes_connections_idle_for_longer_than_the_idle_timeout,
        serves_with_an_idle_timeout_too_long_for_the_clock,
    ];
}

// ---------------------------------------------------------------------------------------
// IPv6 and host names
// ---------------------------------------------------------------------------------------

/// The examples take `--host ::1` and `--host localhost`: the server binds whatever the
/// name resolves to, and the client tries each resolved address in turn.
#[test]
fn server_and_client_work_over_ipv6_loopback_and_by_host_name() {
    common::init();
    use std::net::ToSocketAddrs;
    for host in ["::1", "localhost"] {
        let addrs: Vec<SocketAddr> = (host, 0).to_socket_addrs().expect("resolve").collect();
        let listener = TcpListener::bind(addrs.as_slice()).expect("bind");
        let port = listener.local_addr().unwrap().port();
        let server = EchoServer::new(listener, Config::default()).expect("EchoServer::new");
        let stop = server.stop_handle();
        let thread = thread::spawn(move || server.run());
        let targets: Vec<SocketAddr> = (host, port).to_socket_addrs().unwrap().collect();
        let summary = run_client_ok(&targets, &bounded(5, 10, 1000));
        assert_eq!(summary.conns, 5, "{host}");
        stop.stop();
        thread
            .join()
            .unwrap()
            .expect("run() returns Ok after stop()");
    }
}

// ---------------------------------------------------------------------------------------
// A listener that can never accept
// ---------------------------------------------------------------------------------------

/// A "listener" that is really a UDP socket: every `accept` fails with EOPNOTSUPP, as it
/// would for any socket that is not listening. Returns it and its address.
fn listener_that_cannot_accept() -> (TcpListener, SocketAddr) {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = udp.local_addr().expect("local_addr");
    (TcpListener::from(std::os::fd::OwnedFd::from(udp)), addr)
}

/// Retrying would fail the same way forever (and, level-triggered, be reported forever):
/// each server must stop and return the error instead.
#[test]
fn every_server_stops_with_the_error_when_its_listener_cannot_accept() {
    common::init();
    let config = Config::default();
    let stats = Stats::default();
    let (listener, _) = listener_that_cannot_accept();
    let err = blocking::serve(listener, &config, &stats).expect_err("blocking server stops");
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");
    let (listener, _) = listener_that_cannot_accept();
    let err = threaded::serve(listener, config.clone(), Arc::new(Stats::default()))
        .expect_err("threaded server stops");
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");

    // The multiplexed server only calls accept when the socket is readable: send it a
    // datagram, and run() must return instead of spinning.
    let (listener, addr) = listener_that_cannot_accept();
    let server = EchoServer::new(listener, config).expect("EchoServer::new");
    let thread = thread::spawn(move || server.run());
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|sock| sock.send_to(b"knock", addr))
        .expect("send a datagram");
    assert!(eventually(common::LOADED, || thread.is_finished()));
    let err = thread
        .join()
        .unwrap()
        .expect_err("multiplexed server stops");
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");

    // The same for the protocol layer's loop.
    let (listener, addr) = listener_that_cannot_accept();
    let server = EchoProtocolServer::new(listener, Config::default()).expect("new");
    let thread = thread::spawn(move || server.run());
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|sock| sock.send_to(b"knock", addr))
        .expect("send a datagram");
    assert!(eventually(common::LOADED, || thread.is_finished()));
    let err = thread.join().unwrap().expect_err("protocol server stops");
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");
}

// ---------------------------------------------------------------------------------------
// The client against servers that misbehave
// ---------------------------------------------------------------------------------------

/// An address on 127.0.0.1 that nothing listens on (bound, read, released).
fn unused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap()
}

#[test]
fn client_reports_each_refused_connection_as_an_error() {
    common::init();
    let addr = unused_addr();
    let summary = client::run(&[addr], &bounded(3, 2, 10)).expect("client::run");
    assert!(!summary.ok());
    assert_eq!(summary.errors.len(), 3, "{:?}", summary.errors);
    for error in &summary.errors {
        assert!(error.contains(&format!("connect to {addr}")), "{error}");
    }
    assert_eq!((summary.bytes_sent, summary.bytes_verified), (0, 0));
    assert!(summary.to_string().contains(" errors=3 "), "{summary}");
}

#[test]
fn client_tries_the_next_address_when_one_refuses() {
    common::init();
    let server = start(Kind::Multiplexed);
    run_client_ok(&[unused_addr(), server.addr], &bounded(4, 3, 100));
}

#[test]
fn client_gives_up_on_a_server_that_never_echoes_after_its_timeout() {
    common::init();
    // The kernel completes the handshake from the backlog; nobody ever reads.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let options = ClientOptions {
        timeout: Duration::from_millis(300),
        ..bounded(2, 1, 10)
    };
    let started = Instant::now();
    let summary = client::run(&[silent.local_addr().unwrap()], &options).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
    assert!(
        summary.errors[0].ends_with("no progress for 0.3 s"),
        "{:?}",
        summary.errors
    );
    assert_eq!(summary.bytes_sent, 20);
    assert_eq!(summary.bytes_verified, 0);
}

#[test]
fn client_time_limit_bounds_the_whole_run() {
    common::init();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let options = ClientOptions {
        timeout: Duration::from_secs(60),
        time_limit: Some(Duration::from_millis(300)),
        ..bounded(2, 1, 10)
    };
    let started = Instant::now();
    let summary = client::run(&[silent.local_addr().unwrap()], &options).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
    assert!(
        summary.errors[0].ends_with("time limit of 0.3 s reached"),
        "{:?}",
        summary.errors
    );
}

/// A one-connection echo server that flips one bit of byte `bad` of the stream.
fn corrupting_server(bad: u64) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || -> io::Result<()> {
        let (mut sock, _) = listener.accept()?;
        sock.set_read_timeout(Some(IO_TIMEOUT))?;
        let (mut buf, mut offset) = (vec![0; CHUNK], 0u64);
        loop {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            if (offset..offset + n as u64).contains(&bad) {
                buf[(bad - offset) as usize] ^= 0x10;
            }
            sock.write_all(&buf[..n])?;
            offset += n as u64;
        }
    });
    addr
}

#[test]
fn client_detects_a_corrupted_byte_and_says_which() {
    common::init();
    let addr = corrupting_server(1500);
    let summary = client::run(&[addr], &bounded(1, 2, 1000)).unwrap();
    assert!(!summary.ok());
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    // Byte 1500 is byte 500 of message 1, whose phase is 1: (1 + 500) % 251 = 250 = 0xfa.
    assert_eq!(
        summary.errors[0],
        "conn 0: byte 1500: sent 0xfa, got back 0xea"
    );
    assert!(summary.bytes_verified <= 1500);
}

#[test]
fn client_detects_echoes_crossed_between_connections() {
    common::init();
    // Echoes each of two connections' first 100 bytes to the other one.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || -> io::Result<()> {
        let (mut a, _) = listener.accept()?;
        let (mut b, _) = listener.accept()?;
        let (mut from_a, mut from_b) = ([0; 100], [0; 100]);
        a.set_read_timeout(Some(IO_TIMEOUT))?;
        b.set_read_timeout(Some(IO_TIMEOUT))?;
        a.read_exact(&mut from_a)?;
        b.read_exact(&mut from_b)?;
        a.write_all(&from_b)?;
        b.write_all(&from_a)?;
        thread::sleep(Duration::from_millis(500)); // let the client read before we close
        Ok(())
    });
    let summary = client::run(&[addr], &bounded(2, 1, 100)).unwrap();
    assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
    for error in &summary.errors {
        assert!(error.contains(": byte 0: sent "), "{error}");
    }
    assert_eq!(summary.bytes_verified, 0);
}

// ---------------------------------------------------------------------------------------
// Across languages: docs/python/ against the Rust code
// ---------------------------------------------------------------------------------------

fn python_program(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "docs", "python", name]
        .iter()
        .collect()
}

/// `python3 docs/python/<program> <args>`, ready to spawn. python3 must be installed: this
/// fails the test, saying so, rather than skipping it.
#[track_caller]
fn spawn_python(program: &str, args: &[String], stdout: Stdio, stderr: Stdio) -> Child {
    Command::new("python3")
        .arg(python_program(program))
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run `python3 docs/python/{program}`: {err}. The cross-language tests \
                 need python3 (3.11 or later) on PATH."
            )
        })
}

/// Runs a Python program to completion, killing it if it takes longer than `limit`.
#[track_caller]
fn run_python(program: &str, args: &[String], limit: Duration) -> Output {
    let mut child = KillOnDrop(spawn_python(program, args, Stdio::piped(), Stdio::piped()));
    // Drain both pipes on threads, so a chatty child can never block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let mut pipe = pipe.expect("piped");
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(child.0.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.0.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for python3") {
            break status;
        }
        if Instant::now() >= deadline {
            drop(child); // kills it, which closes the pipes
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!(
                "python3 docs/python/{program} did not finish within {limit:?}; stderr:\n{stderr}"
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Parses the clients' summary line into a [`Summary`] (with no error texts, only their
/// number), panicking with the line if it is not one.
#[track_caller]
fn parse_summary(line: &str) -> (Summary, usize) {
    let mut fields = std::collections::HashMap::new();
    for field in line.split(' ') {
        let (name, value) = field
            .split_once('=')
            .unwrap_or_else(|| panic!("not a summary line: {line:?}"));
        fields.insert(name, value);
    }
    let number = |name: &str| -> u64 {
        fields
            .get(name)
            .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
            .parse()
            .unwrap_or_else(|err| panic!("{name}= in {line:?}: {err}"))
    };
    let elapsed: f64 = fields["elapsed"].parse().expect("elapsed= is seconds");
    let summary = Summary {
        conns: number("conns") as usize,
        messages: number("messages") as usize,
        size: number("size") as usize,
        bytes_sent: number("bytes_sent"),
        bytes_verified: number("bytes_verified"),
        errors: Vec::new(),
        elapsed: Duration::from_secs_f64(elapsed),
    };
    (summary, number("errors") as usize)
}

#[test]
fn python_multiconn_client_gets_every_byte_back_from_the_rust_server() {
    common::init();
    let server = start(Kind::Multiplexed);
    for half_close in [false, true] {
        let mut args: Vec<String> = [
            "--port",
            &server.addr.port().to_string(),
            "--conns",
            "50",
            "--messages",
            "10",
            "--size",
            "4096",
            "--timeout",
            "10",
        ]
        .map(String::from)
        .into();
        if half_close {
            args.push("--half-close".into());
        }
        let output = run_python("multiconn_client.py", &args, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "python client failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
        let line = stdout.trim_end();
        let (summary, errors) = parse_summary(line);
        assert_eq!(errors, 0, "{line}");
        assert_eq!(summary.bytes_verified, 50 * 10 * 4096, "{line}");
        assert!(summary.ok(), "{line}");
        // The Rust client prints the very same line for the same figures.
        assert_eq!(summary.to_string(), line);
    }
    assert_eq!(server.stats.accepted(), 100);
    assert_echoed(&server.stats, 2 * 50 * 10 * 4096);
}

#[test]
fn rust_client_gets_every_byte_back_from_the_python_selectors_server() {
    common::init();
    // A free port: bind port 0, note the port, let it go for the Python server to take.
    let addr = unused_addr();
    let mut python = KillOnDrop(spawn_python(
        "echo_server.py",
        &["--port".into(), addr.port().to_string()],
        Stdio::null(),
        Stdio::inherit(),
    ));
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = python.0.try_wait().unwrap() {
            panic!("python3 docs/python/echo_server.py exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "python3 docs/python/echo_server.py not accepting on {addr} after 15 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
    run_client_ok(&[addr], &bounded(50, 10, 4096));
    let options = ClientOptions {
        half_close: true,
        ..bounded(10, 5, 100_000)
    };
    run_client_ok(&[addr], &options);
    // Its one big message: 16 MiB through the Python server's backpressure.
    run_client_ok(&[addr], &bounded(1, 1, 16 << 20));
    // Python's selectors report the bytes behind a TCP urgent mark, as ours must.
    send_across_an_urgent_mark(addr);
    assert!(
        python.0.try_wait().unwrap().is_none(),
        "the Python server died"
    );
}

/// Asserts that the server has counted `expected` bytes echoed. The count is the server
/// thread's, made just after each `send` returns, so a client can hold the last bytes a
/// moment before the count includes them: wait for it to settle (at most
/// [`common::LOADED`]).
#[track_caller]
fn assert_echoed(stats: &Stats, expected: u64) {
    let deadline = Instant::now() + common::LOADED;
    while stats.bytes_echoed() < expected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(stats.bytes_echoed(), expected);
}

// ---------------------------------------------------------------------------------------
// Issue 13 item 7: the connection cap follows the descriptor limit
// ---------------------------------------------------------------------------------------

/// 2,000 clients connected at once to `echo_server` and `echo_protocol` started with
/// default flags under a soft descriptor limit of 1024 (and this machine's hard limit):
/// every one is served. The servers raise the soft limit and size their cap to it; a
/// cap of 1024, or a limit of 1024, would leave the last ones waiting in the listen queue.
#[test]
fn two_thousand_clients_are_all_served_at_default_flags_under_a_soft_limit_of_1024() {
    common::init();
    const CLIENTS: usize = 2000;
    // This process holds the clients' descriptors; the servers need one each plus their
    // reserve, under the same hard limit.
    let limit = mio_selectors::raise_fd_limit().expect("raise the descriptor limit");
    assert!(
        limit >= 2 * CLIENTS as u64 + 200,
        "the test needs a hard descriptor limit of {} (ulimit -Hn is {limit})",
        2 * CLIENTS + 200
    );
    for name in ["echo_server", "echo_protocol"] {
        let server = common::ExampleServer::start_with_soft_fd_limit(name, &["--port", "0"], 1024);
        let addr: SocketAddr = server.listening_on.parse().expect("a TCP address");
        let mut clients = Vec::with_capacity(CLIENTS);
        for i in 0..CLIENTS {
            let sock = TcpStream::connect(addr)
                .unwrap_or_else(|err| panic!("{name}: connect #{i}: {err}"));
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            sock.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
            clients.push(sock);
        }
        // All connected at once (the kernel completes the handshake of a client still in
        // the listen queue too): each must now be *served*.
        for sock in &mut clients {
            sock.write_all(b"x").unwrap();
        }
        for (i, sock) in clients.iter_mut().enumerate() {
            let mut byte = [0; 1];
            if let Err(err) = sock.read_exact(&mut byte) {
                panic!("{name}: client #{i} of {CLIENTS} was not served: {err}");
            }
            assert_eq!(&byte, b"x");
        }
    }
}
