//! The protocol layer (src/event_loop/) over real sockets on 127.0.0.1 and Unix-domain
//! sockets: the order and reason of every callback, backpressure, pause/resume reading,
//! timers, the thread-safe handle, stop, the connection limit, file regions, UDP.
//!
//! Each test runs its own loop on a thread of its own ([`Running`]) with listeners on port
//! 0; the test plays the client with blocking std sockets, every call bounded by a timeout.
//! Protocols record what happened into a shared [`Log`], which the test then reads.

mod common;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio_selectors::event_loop::{
    Config, ConnId, Context, DatagramContext, DatagramProtocol, EventLoop, Lost, Protocol, Written,
};

use common::event_loop::{connect, Log, Running, IO_TIMEOUT};

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Reads until end of file (bounded by the read timeout).
fn read_to_end(stream: &mut impl Read) -> Vec<u8> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("read to end of file");
    all
}

// ---------------------------------------------------------------------------------------
// Callbacks: order and reasons
// ---------------------------------------------------------------------------------------

/// What a `Recorder` does on `data_received`.
#[derive(Clone, Copy, PartialEq)]
enum OnData {
    Echo,
    /// Close once the line `close\n` arrives (after echoing it).
    CloseOnCommand,
    /// Abort once `abort` arrives.
    AbortOnCommand,
}

/// Logs every callback; echoes; `keep_open` answers `eof_received`.
struct Recorder {
    log: Log,
    on_data: OnData,
    keep_open: bool,
}

impl Recorder {
    fn new(log: &Log) -> Recorder {
        Recorder {
            log: log.clone(),
            on_data: OnData::Echo,
            keep_open: false,
        }
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, ctx: &mut Context<'_>) {
        let peer = ctx.transport().peer_addr().map(|a| a.to_string());
        self.log.push(format!("made peer={}", peer.is_ok()));
    }
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        self.log
            .push(format!("data {}", String::from_utf8_lossy(data)));
        let _ = ctx.write(data);
        match self.on_data {
            OnData::CloseOnCommand if data.ends_with(b"close\n") => ctx.close(),
            OnData::AbortOnCommand if data.ends_with(b"abort\n") => ctx.transport().abort(),
            _ => {}
        }
    }
    fn eof_received(&mut self, ctx: &mut Context<'_>) -> bool {
        self.log.push("eof");
        if self.keep_open {
            // Half-close: still writing after the peer finished.
            let _ = ctx.write(b"after eof\n");
        }
        self.keep_open
    }
    fn connection_lost(&mut self, ctx: &mut Context<'_>, reason: Lost) {
        // Writes to a lost connection are refused, visibly.
        let refused = ctx.write(b"too late").is_err();
        self.log
            .push(format!("lost {} refused={refused}", reason_name(&reason)));
    }
    fn connection_failed(&mut self, _ctx: &mut Context<'_>, error: io::Error) {
        self.log.push(format!("failed {:?}", error.kind()));
    }
    fn timed_out(&mut self, ctx: &mut Context<'_>) {
        self.log.push("timed out");
        let _ = ctx.write(b"* idle timeout\n");
    }
}

fn reason_name(reason: &Lost) -> String {
    match reason {
        Lost::Closed => "Closed".into(),
        Lost::PeerClosed => "PeerClosed".into(),
        Lost::Aborted => "Aborted".into(),
        Lost::Reset => "Reset".into(),
        Lost::TimedOut => "TimedOut".into(),
        Lost::Error(err) => format!("Error({:?})", err.kind()),
    }
}

fn serve(log: &Log, tune: impl Fn(&mut Recorder) + Send + 'static) -> (Running, SocketAddr) {
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let log = log.clone();
    lp.listen_tcp(l, move || {
        let mut r = Recorder::new(&log);
        tune(&mut r);
        r
    })
    .unwrap();
    (Running::start(lp), addr)
}

/// A loop with `config` serving `factory`'s protocols on 127.0.0.1 port 0, running on its
/// own thread; and the address it listens on.
fn serve_tcp<P: Protocol + Send + 'static>(
    config: Config,
    factory: impl FnMut() -> P + Send + 'static,
) -> (Running, SocketAddr) {
    let (l, addr) = listener();
    let mut lp = EventLoop::with_config((), config).unwrap();
    lp.listen_tcp(l, factory).unwrap();
    (Running::start(lp), addr)
}

#[test]
fn end_of_file_closes_after_the_echo_and_reports_peer_closed() {
    common::init();
    let log = Log::default();
    let (_running, addr) = serve(&log, |_| {});
    let mut client = connect(addr);
    client.write_all(b"hello").unwrap();
    let mut reply = [0; 5];
    client.read_exact(&mut reply).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"");
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert_eq!(
        lines,
        [
            "made peer=true",
            "data hello",
            "eof",
            "lost PeerClosed refused=true"
        ]
    );
}

#[test]
fn a_protocol_that_keeps_the_connection_open_after_eof_can_still_write() {
    common::init();
    let log = Log::default();
    let (_running, addr) = serve(&log, |r| {
        r.keep_open = true;
        r.on_data = OnData::CloseOnCommand;
    });
    let mut client = connect(addr);
    client.write_all(b"one\n").unwrap();
    let mut reply = [0; 4];
    client.read_exact(&mut reply).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut after = [0; 10];
    client.read_exact(&mut after).unwrap();
    assert_eq!(&after, b"after eof\n");
    // Still open: nothing more, and no end of file, until the server decides.
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = client
        .read(&mut [0; 1])
        .expect_err("the connection stays open");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(log.lines(), ["made peer=true", "data one\n", "eof"]);
}

#[test]
fn close_flushes_then_reports_closed() {
    common::init();
    let log = Log::default();
    let (_running, addr) = serve(&log, |r| r.on_data = OnData::CloseOnCommand);
    let mut client = connect(addr);
    client.write_all(b"close\n").unwrap();
    assert_eq!(read_to_end(&mut client), b"close\n");
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert_eq!(lines.last().unwrap(), "lost Closed refused=true");
}

#[test]
fn abort_reports_aborted() {
    common::init();
    let log = Log::default();
    let (_running, addr) = serve(&log, |r| r.on_data = OnData::AbortOnCommand);
    let mut client = connect(addr);
    client.write_all(b"abort\n").unwrap();
    let _ = read_to_end(&mut client);
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert_eq!(lines.last().unwrap(), "lost Aborted refused=true");
}

#[test]
fn a_reset_by_the_peer_reports_reset_and_others_keep_being_served() {
    common::init();
    let log = Log::default();
    let (_running, addr) = serve(&log, |_| {});
    let mut other = connect(addr);
    let client = connect(addr);
    (&client).write_all(b"x").unwrap();
    log.wait_for("data", |l| l == "data x");
    common::sys::set_linger_zero(&client).unwrap();
    drop(client); // RST
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert!(
        lines.contains(&"lost Reset refused=true".to_string()),
        "{lines:?}"
    );
    other.write_all(b"still here").unwrap();
    let mut reply = [0; 10];
    other.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"still here");
}

#[test]
fn an_idle_connection_times_out_with_a_farewell_and_a_busy_one_does_not() {
    common::init();
    let log = Log::default();
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    struct Idle(Recorder);
    impl Protocol for Idle {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            ctx.transport()
                .set_idle_timeout(Some(Duration::from_millis(300)));
            self.0.connection_made(ctx);
        }
        fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
            self.0.data_received(ctx, data);
        }
        fn timed_out(&mut self, ctx: &mut Context<'_>) {
            self.0.timed_out(ctx);
        }
        fn connection_lost(&mut self, ctx: &mut Context<'_>, reason: Lost) {
            self.0.connection_lost(ctx, reason);
        }
    }
    lp.listen_tcp(l, move || Idle(Recorder::new(&plog)))
        .unwrap();
    let _running = Running::start(lp);

    let started = Instant::now();
    let mut idle = connect(addr);
    let mut busy = connect(addr);
    // The busy client talks every 100 ms for 1.5 s: two and a half idle periods, with room
    // for a loaded machine to be late.
    for _ in 0..15 {
        busy.write_all(b".").unwrap();
        busy.read_exact(&mut [0; 1]).unwrap();
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(read_to_end(&mut idle), b"* idle timeout\n");
    assert!(started.elapsed() >= Duration::from_millis(600));
    let lines = log.lines();
    assert_eq!(
        lines.iter().filter(|l| *l == "timed out").count(),
        1,
        "{lines:?}"
    );
    assert!(
        lines.contains(&"lost TimedOut refused=true".to_string()),
        "{lines:?}"
    );
    // The busy one is still open.
    busy.write_all(b"!").unwrap();
    busy.read_exact(&mut [0; 1]).unwrap();
}

// ---------------------------------------------------------------------------------------
// Outgoing connections
// ---------------------------------------------------------------------------------------

struct Client {
    log: Log,
}

impl Protocol for Client {
    fn connection_made(&mut self, ctx: &mut Context<'_>) {
        self.log.push("made");
        let _ = ctx.write(b"ping\n");
    }
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        self.log
            .push(format!("data {}", String::from_utf8_lossy(data)));
        ctx.close();
    }
    fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
        self.log.push(format!("lost {}", reason_name(&reason)));
    }
    fn connection_failed(&mut self, _ctx: &mut Context<'_>, error: io::Error) {
        self.log.push(format!("failed {:?}", error.kind()));
    }
}

#[test]
fn an_outgoing_connection_gets_made_data_and_lost() {
    common::init();
    let log = Log::default();
    let (server_log, (server, addr)) = {
        let l = Log::default();
        let s = serve(&l, |_| {});
        (l, s)
    };
    let mut lp = EventLoop::new(()).unwrap();
    lp.connect_tcp(addr, Client { log: log.clone() }, Some(IO_TIMEOUT))
        .unwrap();
    let _running = Running::start(lp);
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert_eq!(lines, ["made", "data ping\n", "lost Closed"]);
    server_log.wait_for("server side lost", |l| l.starts_with("lost"));
    drop(server);
}

#[test]
fn a_refused_connection_reports_connection_failed_only() {
    common::init();
    let log = Log::default();
    let addr = listener().1; // bound, then closed: nobody listens there
    let mut lp = EventLoop::new(()).unwrap();
    lp.connect_tcp(addr, Client { log: log.clone() }, Some(IO_TIMEOUT))
        .unwrap();
    let _running = Running::start(lp);
    let lines = log.wait_for("failed", |l| l.starts_with("failed"));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(log.lines(), ["failed ConnectionRefused"], "{lines:?}");
}

#[test]
fn a_connect_that_gets_no_answer_fails_with_timed_out_after_its_timeout() {
    common::init();
    let log = Log::default();
    let (l, addr) = listener();
    // Backlog 0: one connection fills the queue, and the next SYN is dropped.
    common::sys::set_backlog(&l, 0).unwrap();
    let _first = connect(addr);
    let mut lp = EventLoop::new(()).unwrap();
    let started = Instant::now();
    lp.connect_tcp(
        addr,
        Client { log: log.clone() },
        Some(Duration::from_millis(300)),
    )
    .unwrap();
    let _running = Running::start(lp);
    let lines = log.wait_for("failed", |l| l.starts_with("failed"));
    let took = started.elapsed();
    assert_eq!(lines, ["failed TimedOut"]);
    assert!(took >= Duration::from_millis(300), "failed after {took:?}");
    assert!(took < Duration::from_secs(3), "failed after {took:?}");
    drop(l);
}

// ---------------------------------------------------------------------------------------
// Backpressure
// ---------------------------------------------------------------------------------------

/// Writes 4 MiB in 64 KiB pieces as fast as the marks allow, logging the buffer size at
/// each pause/resume.
struct Producer {
    log: Log,
    left: usize,
    paused: bool,
}

impl Producer {
    fn produce(&mut self, ctx: &mut Context<'_>) {
        let piece = [b'p'; 64 * 1024];
        while self.left > 0 && !self.paused {
            let n = piece.len().min(self.left);
            self.left -= n;
            match ctx.write(&piece[..n]) {
                Ok(Written::OverHighWater) => {
                    self.log.push("over high water");
                    break;
                }
                Ok(Written::Flowing) => {}
                Err(err) => panic!("write: {err}"),
            }
        }
        if self.left == 0 {
            ctx.close();
        }
    }
}

impl Protocol for Producer {
    fn connection_made(&mut self, ctx: &mut Context<'_>) {
        self.produce(ctx);
    }
    fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
    fn pause_writing(&mut self, ctx: &mut Context<'_>) {
        let size = ctx.transport().get_write_buffer_size();
        self.log.push(format!("pause {}", size > 64 * 1024));
        self.paused = true;
    }
    fn resume_writing(&mut self, ctx: &mut Context<'_>) {
        let size = ctx.transport().get_write_buffer_size();
        self.log.push(format!("resume {}", size <= 16 * 1024));
        self.paused = false;
        self.produce(ctx);
    }
}

#[test]
fn water_marks_pause_and_resume_the_producer_in_pairs() {
    common::init();
    let log = Log::default();
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    // 16 MiB: more than the kernel can hold for a peer that does not read (a send buffer
    // of up to 4 MiB, net.ipv4.tcp_wmem, plus the peer's receive window), so the loop's own
    // buffer must fill. With 4 MiB the kernel sometimes took it all and nothing paused.
    lp.listen_tcp(l, move || Producer {
        log: plog.clone(),
        left: 16 << 20,
        paused: false,
    })
    .unwrap();
    let _running = Running::start(lp);
    let mut client = connect(addr);
    // Not reading yet: the server's buffer fills and the producer is paused.
    let lines = log.wait_for("pause", |l| l.starts_with("pause"));
    assert_eq!(lines, ["over high water", "pause true"]);
    let got = read_to_end(&mut client);
    assert_eq!(got.len(), 16 << 20);
    let lines = log.lines();
    let pauses = lines.iter().filter(|l| l.starts_with("pause")).count();
    let resumes = lines.iter().filter(|l| l.starts_with("resume")).count();
    assert!(pauses >= 1 && pauses == resumes, "{lines:?}");
    assert!(lines.iter().all(|l| !l.ends_with("false")), "{lines:?}");
    // Paired: pause, (over), resume, ... never two pauses in a row.
    let flow: Vec<&String> = lines.iter().filter(|l| !l.starts_with("over")).collect();
    for pair in flow.chunks(2) {
        assert!(pair[0].starts_with("pause"), "{flow:?}");
        assert!(pair.len() < 2 || pair[1].starts_with("resume"), "{flow:?}");
    }
}

#[test]
fn pause_reading_in_connection_made_holds_until_resume() {
    common::init();
    let log = Log::default();
    struct Slow(Log);
    impl Protocol for Slow {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            ctx.transport().pause_reading();
            assert!(!ctx.transport().is_reading());
            let id = ctx.id();
            let log = self.0.clone();
            ctx.call_later(Duration::from_millis(300), move |lp| {
                log.push("resume");
                lp.transport_of(id).unwrap().resume_reading();
            });
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, data: &[u8]) {
            self.0.push(format!("data {}", data.len()));
        }
    }
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Slow(plog.clone())).unwrap();
    let _running = Running::start(lp);
    let mut client = connect(addr);
    client.write_all(b"12345").unwrap();
    thread::sleep(Duration::from_millis(150));
    assert!(
        log.lines().is_empty(),
        "read while paused: {:?}",
        log.lines()
    );
    let lines = log.wait_for("data", |l| l.starts_with("data"));
    assert_eq!(lines, ["resume", "data 5"]);
}

// ---------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------

#[test]
fn timers_run_in_deadline_order_ties_first_come_and_cancelled_ones_never() {
    common::init();
    let log = Log::default();
    let mut lp = EventLoop::new(()).unwrap();
    let mut ctx = lp.context();
    let now = ctx.now();
    for (name, ms) in [("c", 60), ("a", 20), ("b1", 40), ("b2", 40), ("x", 30)] {
        let log = log.clone();
        let handle = ctx.call_at(now + Duration::from_millis(ms), move |_| log.push(name));
        if name == "x" {
            assert!(ctx.cancel(handle));
            assert!(!ctx.cancel(handle));
        }
    }
    let done = log.clone();
    ctx.call_later(Duration::from_millis(80), move |lp| {
        done.push("stop");
        lp.stop();
    });
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert_eq!(log.lines(), ["a", "b1", "b2", "c", "stop"]);
}

#[test]
fn an_idle_loop_does_not_wake_up() {
    common::init();
    let (l, addr) = listener();
    let log = Log::default();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Recorder::new(&plog)).unwrap();
    // One timer far away: the loop must sleep until it, not tick.
    lp.call_later(Duration::from_secs(3600), |_| {});
    let running = Running::start(lp);
    let mut client = connect(addr);
    client.write_all(b"hi").unwrap();
    client.read_exact(&mut [0; 2]).unwrap();
    thread::sleep(Duration::from_millis(50));
    let before = running.stats.select_calls();
    thread::sleep(Duration::from_millis(500));
    let after = running.stats.select_calls();
    assert_eq!(
        after,
        before,
        "the loop woke {} times while idle",
        after - before
    );
    // And it still answers at once.
    client.write_all(b"yo").unwrap();
    client.read_exact(&mut [0; 2]).unwrap();
    running.stop().unwrap();
}

#[test]
fn a_timer_wakes_the_loop_once_not_repeatedly() {
    common::init();
    let log = Log::default();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.call_later(Duration::from_millis(200), move |_| plog.push("fired"));
    let running = Running::start(lp);
    log.wait_for("fired", |l| l == "fired");
    thread::sleep(Duration::from_millis(100));
    // First iteration, the wait for the timer (perhaps split by epoll's rounding), and
    // nothing after it.
    let calls = running.stats.select_calls();
    assert!(calls <= 4, "{calls} select calls for one timer");
}

// ---------------------------------------------------------------------------------------
// Other threads, stop, limits
// ---------------------------------------------------------------------------------------

#[test]
fn jobs_from_other_threads_run_in_order_on_the_loop_thread() {
    common::init();
    let mut lp = EventLoop::new(Vec::<u32>::new()).unwrap();
    let handle = lp.handle();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let handle = handle.clone();
            thread::spawn(move || {
                for i in 0..250 {
                    handle
                        .call_soon_threadsafe(move |ctx| ctx.app().push(t * 1000 + i))
                        .unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let loop_thread = thread::current().id();
    handle
        .call_soon_threadsafe(move |ctx| {
            assert_eq!(thread::current().id(), loop_thread);
            ctx.stop();
        })
        .unwrap();
    lp.run().unwrap();
    let got = lp.app();
    assert_eq!(got.len(), 1000);
    for t in 0..4 {
        let mine: Vec<u32> = got.iter().copied().filter(|v| v / 1000 == t).collect();
        assert_eq!(mine, (0..250).map(|i| t * 1000 + i).collect::<Vec<_>>());
    }
    drop(lp);
    assert!(
        handle.call_soon_threadsafe(|_| {}).is_err(),
        "a dropped loop takes no jobs"
    );
}

#[test]
fn stop_from_another_thread_returns_from_run_promptly_and_run_can_resume() {
    common::init();
    let mut lp = EventLoop::new(0u32).unwrap();
    let handle = lp.handle();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        handle.stop();
    });
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    stopper.join().unwrap();
    // Again: the stop was consumed, so run() waits for the next one.
    lp.call_later(Duration::from_millis(50), |ctx| {
        *ctx.app() += 1;
        ctx.stop();
    });
    lp.run().unwrap();
    assert_eq!(*lp.app(), 1);
}

#[test]
fn connections_over_the_limit_get_the_full_message_and_others_are_unaffected() {
    common::init();
    let log = Log::default();
    let config = Config {
        max_connections: 2,
        full_message: b"! server full\n".to_vec(),
        ..Config::default()
    };
    let plog = log.clone();
    let (running, addr) = serve_tcp(config, move || Recorder::new(&plog));
    let mut a = connect(addr);
    let mut b = connect(addr);
    for c in [&mut a, &mut b] {
        c.write_all(b"in").unwrap();
        c.read_exact(&mut [0; 2]).unwrap();
    }
    let mut c = connect(addr);
    assert_eq!(read_to_end(&mut c), b"! server full\n");
    assert_eq!(running.stats.rejected(), 1);
    a.write_all(b"ok").unwrap();
    a.read_exact(&mut [0; 2]).unwrap();
    // A place frees up: the next one is served.
    drop(b);
    log.wait_for("lost", |l| l.starts_with("lost"));
    let mut d = connect(addr);
    d.write_all(b"me").unwrap();
    d.read_exact(&mut [0; 2]).unwrap();
    assert_eq!(running.stats.accepted(), 3);
}

// ---------------------------------------------------------------------------------------
// Several listeners, other connections, files
// ---------------------------------------------------------------------------------------

/// Relays each line to every other connection (chat's core) through the app state.
struct Relay;

impl Protocol<Vec<ConnId>> for Relay {
    fn connection_made(&mut self, ctx: &mut Context<'_, Vec<ConnId>>) {
        let id = ctx.id();
        ctx.app().push(id);
        let _ = ctx.write(b"welcome\n");
    }
    fn data_received(&mut self, ctx: &mut Context<'_, Vec<ConnId>>, data: &[u8]) {
        let me = ctx.id();
        let (members, mut conns) = ctx.split();
        for &id in members.iter().filter(|&&id| id != me) {
            conns.write_to(id, data).unwrap();
        }
    }
    fn connection_lost(&mut self, ctx: &mut Context<'_, Vec<ConnId>>, _reason: Lost) {
        let me = ctx.id();
        ctx.app().retain(|&id| id != me);
        // During connection_lost the transport is still there, but closing: writes fail.
        assert!(ctx.transport_of(me).is_some_and(|t| t.is_closing()));
    }
}

#[test]
fn tcp_and_unix_listeners_on_one_loop_relay_to_each_other_by_id() {
    common::init();
    let dir = std::env::temp_dir().join(format!("mio-selectors-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("relay.sock");
    let _ = std::fs::remove_file(&path);
    let (tcp, addr) = listener();
    let unix = UnixListener::bind(&path).unwrap();
    let mut lp = EventLoop::new(Vec::new()).unwrap();
    lp.listen_tcp(tcp, || Relay).unwrap();
    lp.listen_unix(unix, || Relay).unwrap();
    let handle = lp.handle();
    let thread = thread::spawn(move || lp.run().map(|()| lp));

    let mut t = connect(addr);
    let mut u = UnixStream::connect(&path).unwrap();
    u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut welcome = [0; 8];
    t.read_exact(&mut welcome).unwrap();
    u.read_exact(&mut welcome).unwrap();
    t.write_all(b"from tcp\n").unwrap();
    let mut got = [0; 9];
    u.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"from tcp\n");
    u.write_all(b"from unix\n").unwrap();
    let mut got = [0; 10];
    t.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"from unix\n");
    drop(u);
    // The Unix side leaves; the list shrinks to the TCP one.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (tx, rx) = std::sync::mpsc::channel();
        handle
            .call_soon_threadsafe(move |ctx| tx.send(ctx.app().len()).unwrap())
            .unwrap();
        if rx.recv_timeout(IO_TIMEOUT).unwrap() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the Unix connection never left");
        thread::sleep(Duration::from_millis(10));
    }
    handle.stop();
    let lp = thread.join().unwrap().unwrap();
    assert_eq!(lp.app().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_to_a_stale_id_is_refused() {
    common::init();
    let mut lp = EventLoop::new(()).unwrap();
    let (l, addr) = listener();
    let ids: Arc<Mutex<Vec<ConnId>>> = Arc::default();
    struct Remember(Arc<Mutex<Vec<ConnId>>>);
    impl Protocol for Remember {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            self.0.lock().unwrap().push(ctx.id());
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
    }
    let remembered = Arc::clone(&ids);
    lp.listen_tcp(l, move || Remember(Arc::clone(&remembered)))
        .unwrap();
    let first = connect(addr);
    while ids.lock().unwrap().is_empty() {
        lp.run_once(true).unwrap();
    }
    drop(first);
    let old = ids.lock().unwrap()[0];
    let deadline = Instant::now() + IO_TIMEOUT;
    while lp.context().transport_of(old).is_some() {
        lp.run_once(true).unwrap();
        assert!(Instant::now() < deadline);
    }
    // A new connection may take the same slot; the old id must not reach it.
    let _second = connect(addr);
    while ids.lock().unwrap().len() < 2 {
        lp.run_once(true).unwrap();
    }
    let new = ids.lock().unwrap()[1];
    assert_ne!(old, new);
    assert!(lp.context().write_to(old, b"x").is_err());
    assert!(lp.context().write_to(new, b"x").is_ok());
}

/// Answers each line `GET n` with a header, n bytes of a file, and a trailer: pipelined
/// requests, answers strictly in order, file bytes never in memory.
struct Files {
    file: Arc<File>,
    peak: Arc<Mutex<usize>>,
}

impl Protocol for Files {
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let n: u64 = std::str::from_utf8(&line[4..]).unwrap().parse().unwrap();
            let mut t = ctx.transport();
            t.write(format!("<{n}>").as_bytes()).unwrap();
            t.write_file(Arc::clone(&self.file), 0, n).unwrap();
            t.write(b"</>").unwrap();
            let mut peak = self.peak.lock().unwrap();
            *peak = (*peak).max(t.get_write_buffer_size());
        }
    }
    fn eof_received(&mut self, _ctx: &mut Context<'_>) -> bool {
        false
    }
}

#[test]
fn file_regions_and_bytes_leave_in_the_order_they_were_queued() {
    serve_files_in_order(Config::default());
}

#[test]
fn file_regions_in_small_steps_leave_in_order_too() {
    serve_files_in_order(Config {
        file_step: 4096,
        ..Config::default()
    });
}

fn serve_files_in_order(config: Config) {
    common::init();
    let (file, content) = temp_file(&format!("order-{}", config.file_step), 8 << 20);
    let peak = Arc::new(Mutex::new(0));
    let p = Arc::clone(&peak);
    let (_running, addr) = serve_tcp(config, move || Files {
        file: Arc::clone(&file),
        peak: Arc::clone(&p),
    });
    let mut client = connect(addr);
    let sizes = [10u64, 8 << 20, 0, 70_000, 3];
    let mut request = String::new();
    for n in sizes {
        writeln!(request, "GET {n}").unwrap();
    }
    client.write_all(request.as_bytes()).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let got = read_to_end(&mut client);
    let mut expected = Vec::new();
    for n in sizes {
        expected.extend_from_slice(format!("<{n}>").as_bytes());
        expected.extend_from_slice(&content[..n as usize]);
        expected.extend_from_slice(b"</>");
    }
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "bytes out of order");
    // Only the headers and trailers were ever in memory.
    assert!(
        *peak.lock().unwrap() < 1024,
        "peak {}",
        peak.lock().unwrap()
    );
}

/// An open, already unlinked file of `len` patterned bytes, and those bytes. `tag` names it
/// apart from other tests' files (tests run in parallel threads of one process).
fn temp_file(tag: &str, len: u32) -> (Arc<File>, Vec<u8>) {
    let path = std::env::temp_dir().join(format!("mio-selectors-{tag}-{}", std::process::id()));
    let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let file = Arc::new(File::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    (file, content)
}

/// Queues one file region on connecting and logs what the marks say about it: the
/// `Written` it got, and each pause/resume with whether what is owed to the peer is past
/// the mark and how many bytes sit in memory. Closes once it may produce again.
struct FileWriter {
    file: Arc<File>,
    len: u64,
    log: Log,
}

impl Protocol for FileWriter {
    fn connection_made(&mut self, ctx: &mut Context<'_>) {
        let written = ctx
            .transport()
            .write_file(Arc::clone(&self.file), 0, self.len);
        self.log.push(format!("written {:?}", written.unwrap()));
        if written == Ok(Written::Flowing) {
            ctx.close();
        }
    }
    fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
    fn pause_writing(&mut self, ctx: &mut Context<'_>) {
        let t = ctx.transport();
        let (over, memory) = (t.unsent_bytes() > 64 * 1024, t.get_write_buffer_size());
        self.log.push(format!("pause over {over} memory {memory}"));
    }
    fn resume_writing(&mut self, ctx: &mut Context<'_>) {
        let t = ctx.transport();
        let (low, memory) = (t.unsent_bytes() <= 16 * 1024, t.get_write_buffer_size());
        self.log
            .push(format!("resume at low {low} memory {memory}"));
        ctx.close();
    }
}

fn serve_one_file(tag: &str, len: u32) -> (Running, TcpStream, Vec<u8>, Log) {
    common::init();
    let (file, content) = temp_file(tag, len);
    let log = Log::default();
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || FileWriter {
        file: Arc::clone(&file),
        len: u64::from(len),
        log: plog.clone(),
    })
    .unwrap();
    let running = Running::start(lp);
    (running, connect(addr), content, log)
}

#[test]
fn a_file_region_over_high_water_pauses_the_writer_until_the_peer_reads_it() {
    // 4 MiB: far past the 64 KiB mark, and more than one 256 KiB sendfile step, so most of
    // it is still queued when `write_file` returns.
    let (_running, mut client, content, log) = serve_one_file("over", 4 << 20);
    // Not reading yet: the writer is paused, though not a byte of the file is in memory.
    let lines = log.wait_for("pause", |l| l.starts_with("pause"));
    assert_eq!(lines, ["written OverHighWater", "pause over true memory 0"]);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        log.lines().len(),
        2,
        "resumed with nobody reading: {:?}",
        log.lines()
    );
    // Reading lets it drain: one resume, at the low-water mark, and the file arrives whole.
    let got = read_to_end(&mut client);
    assert!(
        got == content,
        "{} bytes, not the file's {}",
        got.len(),
        content.len()
    );
    assert_eq!(
        log.lines(),
        [
            "written OverHighWater",
            "pause over true memory 0",
            "resume at low true memory 0"
        ]
    );
}

#[test]
fn a_file_region_up_to_the_high_water_mark_does_not_pause() {
    // Exactly 64 KiB: the marks pause only *over* high water, and the client does not read
    // until it is all queued.
    let (_running, mut client, content, log) = serve_one_file("under", 64 * 1024);
    let lines = log.wait_for("written", |l| l.starts_with("written"));
    assert_eq!(lines, ["written Flowing"]);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(read_to_end(&mut client), content);
    assert_eq!(log.lines(), ["written Flowing"]);
}

// ---------------------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------------------

struct UdpEcho(Log);

impl DatagramProtocol for UdpEcho {
    fn connection_made(&mut self, ctx: &mut DatagramContext<'_>) {
        self.0.push(format!("made {}", ctx.local_addr().is_ok()));
    }
    fn datagram_received(&mut self, ctx: &mut DatagramContext<'_>, data: &[u8], addr: SocketAddr) {
        if data == b"close" {
            ctx.close();
            return;
        }
        ctx.send_to(data, addr).unwrap();
    }
    fn connection_lost(&mut self, _ctx: &mut DatagramContext<'_>, reason: Lost) {
        self.0.push(format!("lost {}", reason_name(&reason)));
    }
}

#[test]
fn udp_datagrams_of_every_size_come_back_whole() {
    common::init();
    let log = Log::default();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let mut lp = EventLoop::new(()).unwrap();
    lp.add_udp(sock, UdpEcho(log.clone())).unwrap();
    let _running = Running::start(lp);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = vec![0; 70_000];
    for size in [0, 1, 1472, 65_507] {
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        client.send_to(&data, addr).unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, addr);
        assert_eq!(n, size, "size {size}");
        assert!(buf[..n] == data[..]);
    }
    client.send_to(b"close", addr).unwrap();
    assert_eq!(
        log.wait_for("lost", |l| l.starts_with("lost")),
        ["made true", "lost Closed"]
    );
}

// ---------------------------------------------------------------------------------------
// More of the transport: broadcast, write_eof, limits, a file that is too short
// ---------------------------------------------------------------------------------------

#[test]
fn a_broadcast_reaches_every_peer_once_and_in_order() {
    common::init();
    const PEERS: usize = 20;
    const LINES: usize = 50;
    let (l, addr) = listener();
    let mut lp = EventLoop::new(Vec::new()).unwrap();
    lp.listen_tcp(l, || Relay).unwrap();
    let handle = lp.handle();
    let thread = thread::spawn(move || lp.run());
    let mut peers: Vec<TcpStream> = (0..PEERS).map(|_| connect(addr)).collect();
    for peer in &mut peers {
        peer.read_exact(&mut [0; 8]).unwrap(); // "welcome\n": every peer is joined
    }
    let text: String = (0..LINES).map(|i| format!("line {i:03}\n")).collect();
    // In pieces, so that several reads (and several iterations) carry it.
    for piece in text.as_bytes().chunks(37) {
        peers[0].write_all(piece).unwrap();
    }
    for peer in &mut peers[1..] {
        let mut got = vec![0; text.len()];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(got, text.as_bytes());
    }
    // Nothing came back to the sender.
    peers[0]
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(peers[0].read(&mut [0; 1]).is_err());
    handle.stop();
    thread.join().unwrap().unwrap();
}

#[test]
fn write_eof_half_closes_and_reading_goes_on() {
    common::init();
    let log = Log::default();
    struct Goodbye(Log);
    impl Protocol for Goodbye {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            let mut t = ctx.transport();
            t.write(b"bye").unwrap();
            t.write_eof();
            assert_eq!(
                t.write(b"more"),
                Err(mio_selectors::event_loop::WriteError::EofWritten)
            );
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, data: &[u8]) {
            self.0
                .push(format!("data {}", String::from_utf8_lossy(data)));
        }
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.0.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Goodbye(plog.clone())).unwrap();
    let _running = Running::start(lp);
    let mut client = connect(addr);
    let mut got = Vec::new();
    (&mut client).take(3).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    assert_eq!(
        client.read(&mut [0; 8]).unwrap(),
        0,
        "end of file after write_eof"
    );
    client.write_all(b"still here").unwrap();
    log.wait_for("data", |l| l == "data still here");
    client.shutdown(Shutdown::Write).unwrap();
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert_eq!(lines, ["data still here", "lost PeerClosed"]);
}

#[test]
fn write_buffer_limits_follow_asyncio_defaults_and_rules() {
    common::init();
    let log = Log::default();
    struct Limits(Log);
    impl Protocol for Limits {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            let mut t = ctx.transport();
            let mut seen = vec![format!("{:?}", t.get_write_buffer_limits())];
            t.set_write_buffer_limits(None, Some(100)).unwrap();
            seen.push(format!("{:?}", t.get_write_buffer_limits()));
            t.set_write_buffer_limits(Some(1000), None).unwrap();
            seen.push(format!("{:?}", t.get_write_buffer_limits()));
            let err = t.set_write_buffer_limits(Some(10), Some(20)).unwrap_err();
            seen.push(err.to_string());
            seen.push(format!("{:?}", t.get_write_buffer_limits()));
            self.0.push(seen.join(" "));
            ctx.close();
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
    }
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Limits(plog.clone())).unwrap();
    let _running = Running::start(lp);
    let _client = connect(addr);
    let lines = log.wait_for("limits", |_| true);
    assert_eq!(
        lines,
        ["(16384, 65536) (100, 400) (250, 1000) high (10) must be >= low (20) must be >= 0 (250, 1000)"]
    );
}

#[test]
fn a_file_region_past_the_end_of_the_file_ends_the_connection_with_an_error() {
    common::init();
    let path = std::env::temp_dir().join(format!("mio-selectors-short-{}", std::process::id()));
    std::fs::write(&path, b"0123456789").unwrap();
    let file = Arc::new(File::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    let log = Log::default();
    struct Short(Arc<File>, Log);
    impl Protocol for Short {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            ctx.transport()
                .write_file(Arc::clone(&self.0), 4, 100)
                .unwrap();
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.1.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Short(Arc::clone(&file), plog.clone()))
        .unwrap();
    let _running = Running::start(lp);
    let mut client = connect(addr);
    assert_eq!(read_to_end(&mut client), b"456789");
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert_eq!(lines, ["lost Error(UnexpectedEof)"]);
}

#[test]
fn a_protocol_that_panics_loses_its_connection_and_the_loop_serves_the_others() {
    common::init();
    struct Fragile;
    impl Protocol for Fragile {
        fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
            assert!(
                data != b"boom",
                "a bug in the protocol (this panic is the test's)"
            );
            let _ = ctx.write(data);
        }
    }
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    lp.listen_tcp(l, || Fragile).unwrap();
    let running = Running::start(lp);
    let mut good = connect(addr);
    let mut bad = connect(addr);
    bad.write_all(b"boom").unwrap();
    assert_eq!(
        read_to_end(&mut bad),
        b"",
        "the panicking connection is closed"
    );
    good.write_all(b"fine").unwrap();
    let mut reply = [0; 4];
    good.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"fine");
    assert_eq!(running.stats.open(), 1);
    running.stop().unwrap();
}

#[test]
fn a_closing_connection_whose_peer_never_reads_is_dropped_after_an_idle_period_without_progress() {
    common::init();
    let log = Log::default();
    struct Dump(Log);
    impl Protocol for Dump {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            let mut t = ctx.transport();
            t.set_idle_timeout(Some(Duration::from_millis(300)));
            t.write(&vec![b'd'; 16 << 20]).unwrap(); // far more than the socket buffers hold
            t.close(); // waits for a flush that never comes
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.0.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Dump(plog.clone())).unwrap();
    let running = Running::start(lp);
    let started = Instant::now();
    let _client = connect(addr); // never reads
    let lines = log.wait_for("lost", |l| l.starts_with("lost"));
    assert_eq!(lines, ["lost TimedOut"]);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(running.stats.open(), 0);
}

#[test]
fn a_flooding_peer_does_not_starve_the_others() {
    common::init();
    let log = Log::default();
    let (_running, addr) = serve(&log, |_| {});
    // The flood: one client sends as fast as it can and reads its echo on another thread,
    // so backpressure never pauses it: the server always has something to read from it.
    let flood = connect(addr);
    let mut flood_reader = flood.try_clone().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_reader = Arc::clone(&stop);
    let reader = thread::spawn(move || {
        let mut buf = vec![0; 1 << 16];
        let mut total = 0u64;
        while !stop_reader.load(std::sync::atomic::Ordering::Relaxed) {
            match flood_reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
        total
    });
    let stop_writer = Arc::clone(&stop);
    let mut flood_writer = flood.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let chunk = vec![b'f'; 1 << 16];
        // Longer than the bound below: a loop that starved the polite client would let it
        // through only once the flood stops.
        let deadline = Instant::now() + 2 * common::LOADED;
        while !stop_writer.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            if flood_writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    thread::sleep(Duration::from_millis(100));
    // Meanwhile a polite client makes 100 round trips; each waits for at most one turn of
    // the flooder (one read of 64 KiB), so together they take well under a second.
    let mut polite = connect(addr);
    let started = Instant::now();
    for i in 0..100u32 {
        let msg = i.to_be_bytes();
        polite.write_all(&msg).unwrap();
        let mut reply = [0; 4];
        polite.read_exact(&mut reply).unwrap();
        assert_eq!(reply, msg);
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    flood.shutdown(Shutdown::Both).ok();
    let flooded = reader.join().unwrap();
    assert!(
        flooded > 1 << 20,
        "the flood was not flowing ({flooded} bytes echoed)"
    );
    // Well under a second on an idle machine; the bound is for a busy one.
    assert!(
        took < common::LOADED,
        "100 round trips took {took:?} beside a flood"
    );
}

#[test]
fn timeouts_too_long_for_the_clock_mean_never_not_a_panic() {
    // `Instant + Duration::MAX` overflows; every deadline the loop computes from a timeout
    // it is given (idle, I/O, timers, connect) must saturate instead.
    common::init();
    struct Patient;
    impl Protocol for Patient {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            let mut transport = ctx.transport();
            transport.set_idle_timeout(Some(Duration::MAX));
            transport.set_io_timeout(Some(Duration::MAX));
            ctx.set_timer(Duration::MAX);
            ctx.call_later(Duration::MAX, |_| panic!("a timer that never comes ran"));
        }
        fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
            let _ = ctx.write(data);
        }
    }
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    lp.listen_tcp(l, || Patient).unwrap();
    let _running = Running::start(lp);
    let mut client = connect(addr);
    client.write_all(b"still here").unwrap();
    let mut echo = [0; 10];
    client
        .read_exact(&mut echo)
        .expect("the echo, from a loop that did not panic");
    assert_eq!(&echo, b"still here");
}

#[test]
fn a_read_size_of_zero_still_reads() {
    // `read(&mut [])` returns 0, as end of file does: the loop must not read 0 bytes.
    common::init();
    struct Echo;
    impl Protocol for Echo {
        fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
            let _ = ctx.write(data);
        }
    }
    let config = Config {
        read_size: 0,
        ..Config::default()
    };
    let (_running, addr) = serve_tcp(config, || Echo);
    let mut client = connect(addr);
    client.write_all(b"abc").unwrap();
    let mut echo = [0; 3];
    client
        .read_exact(&mut echo)
        .expect("an echo, not an end of file");
    assert_eq!(&echo, b"abc");
}

// ---------------------------------------------------------------------------------------
// Issue 13: due timers stay cancellable, a panicking factory, jobs of a dropped loop
// ---------------------------------------------------------------------------------------

/// Issue 13 item 4: every timer due in one iteration is popped as one batch; one that an
/// earlier callback of the batch cancels must not run, and `cancel` must say it worked.
#[test]
fn a_timer_cancelled_by_an_earlier_timer_of_the_same_due_batch_never_runs() {
    common::init();
    let log = Log::default();
    let mut lp = EventLoop::new(None::<mio_selectors::event_loop::TimerHandle>).unwrap();
    let mut ctx = lp.context();
    let at = ctx.now() + Duration::from_millis(20);
    let first = log.clone();
    ctx.call_at(at, move |ctx| {
        let victim = ctx.app().take().expect("the second timer's handle");
        let cancelled = ctx.cancel(victim);
        first.push(format!("first cancelled={cancelled}"));
        first.push(format!("again={}", ctx.cancel(victim)));
    });
    let second = log.clone();
    let victim = ctx.call_at(at, move |_| second.push("second ran"));
    *ctx.app() = Some(victim);
    let done = log.clone();
    ctx.call_at(at + Duration::from_millis(30), move |ctx| {
        done.push("stop");
        ctx.stop();
    });
    lp.run().unwrap();
    assert_eq!(log.lines(), ["first cancelled=true", "again=false", "stop"]);
}

/// Issue 13 item 4, for protocol timers (`set_timer`): a connection's timer cancelled by
/// another of the same batch is not delivered.
#[test]
fn a_protocol_timer_cancelled_within_its_due_batch_is_not_delivered() {
    common::init();
    use mio_selectors::event_loop::TimerHandle;
    struct Timed {
        log: Log,
        timers: Vec<TimerHandle>,
    }
    impl Protocol for Timed {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            // Both due at the same instant: one batch.
            self.timers = vec![
                ctx.set_timer(Duration::from_millis(20)),
                ctx.set_timer(Duration::from_millis(20)),
            ];
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
        fn timer_fired(&mut self, ctx: &mut Context<'_>, timer: TimerHandle) {
            let which = self.timers.iter().position(|&t| t == timer).unwrap();
            self.log.push(format!("fired {which}"));
            if which == 0 {
                let cancelled = ctx.cancel(self.timers[1]);
                self.log.push(format!("cancelled 1: {cancelled}"));
                ctx.set_timer(Duration::from_millis(30));
            } else {
                ctx.close();
            }
        }
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, _reason: Lost) {
            self.log.push("lost");
        }
    }
    let log = Log::default();
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Timed {
        log: plog.clone(),
        timers: Vec::new(),
    })
    .unwrap();
    let running = Running::start(lp);
    let _client = connect(addr);
    log.wait_for("the first timer", |l| l.starts_with("cancelled"));
    // Give a wrongly delivered second timer the time to show up.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(log.lines(), ["fired 0", "cancelled 1: true"]);
    running.stop().unwrap();
}

/// Issue 13 item 11: the module promises that a panicking protocol hurts only itself; a
/// protocol *factory* is application code too.
#[test]
fn a_panicking_protocol_factory_costs_its_connection_not_the_loop() {
    common::init();
    let log = Log::default();
    let (l, addr) = listener();
    let mut lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    let mut made = 0;
    lp.listen_tcp(l, move || {
        made += 1;
        assert!(made != 1, "a bug in the factory (this panic is the test's)");
        Recorder::new(&plog)
    })
    .unwrap();
    let running = Running::start(lp);
    let mut first = connect(addr);
    assert_eq!(read_to_end(&mut first), b"", "its connection is closed");
    let mut second = connect(addr);
    second.write_all(b"still here").unwrap();
    let mut reply = [0; 10];
    second.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"still here");
    assert_eq!(running.stats.open(), 1);
    running
        .stop()
        .expect("the loop goes on after the factory's panic");
}

/// Issue 13 item 12: a job queued to a loop that is dropped before running it is dropped
/// with the loop, so a thread waiting on a channel the job holds hears "disconnected"
/// instead of waiting forever; a job sent after the drop is refused (and dropped).
#[test]
fn jobs_queued_to_a_dropped_loop_are_dropped_and_later_ones_refused() {
    use std::sync::mpsc;
    common::init();
    let lp = EventLoop::new(()).unwrap();
    let handle = lp.handle();
    let (tx, rx) = mpsc::channel::<u32>();
    handle
        .call_soon_threadsafe(move |_| {
            let _ = tx.send(1);
        })
        .unwrap();
    let waiter = thread::spawn(move || rx.recv_timeout(IO_TIMEOUT));
    drop(lp);
    assert_eq!(
        waiter.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected),
        "the queued job (and its sender) went with the loop"
    );
    let (tx, rx) = mpsc::channel::<u32>();
    let refused = handle.call_soon_threadsafe(move |_| {
        let _ = tx.send(2);
    });
    assert!(refused.is_err(), "a dropped loop takes no jobs");
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));

    // Senders racing the drop: every job is either refused or dropped with the queue, so
    // once the senders are done no copy of the channel's sender is left anywhere.
    for _ in 0..20 {
        let lp = EventLoop::new(()).unwrap();
        let (tx, rx) = mpsc::channel::<u32>();
        let senders: Vec<_> = (0..3)
            .map(|_| {
                let handle = lp.handle();
                let tx = tx.clone();
                thread::spawn(move || {
                    for _ in 0..100_000 {
                        let tx = tx.clone();
                        if handle
                            .call_soon_threadsafe(move |_| {
                                let _ = tx.send(3);
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        thread::sleep(Duration::from_millis(1));
        drop(lp);
        for sender in senders {
            sender.join().unwrap();
        }
        assert_eq!(
            rx.recv_timeout(IO_TIMEOUT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }
}

/// Issue 13 item 3, at the layer: a lingering close half-closes once the queue is
/// flushed (the peer reads end of file), reads and discards what the peer still sends,
/// and ends after `lingering_timeout` of silence, reporting a clean close.
#[test]
fn a_lingering_close_half_closes_discards_input_and_ends_after_a_quiet_period() {
    use mio_selectors::event_loop::LingeringClose;
    common::init();
    struct Refuser(Log);
    impl Protocol for Refuser {
        fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
            self.0.push(format!("data {}", data.len()));
            let _ = ctx.write(b"no thanks");
            ctx.transport().set_lingering_close(LingeringClose::Always);
            ctx.close();
        }
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.0.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let log = Log::default();
    let quiet = Duration::from_secs(1);
    let config = Config {
        lingering_timeout: quiet,
        lingering_time: Duration::from_secs(5),
        ..Config::default()
    };
    let plog = log.clone();
    let (running, addr) = serve_tcp(config, move || Refuser(plog.clone()));
    let mut client = connect(addr);
    client.write_all(b"upload part 1").unwrap();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).unwrap(); // end of file: the server's half-close
    assert_eq!(answer, b"no thanks");
    // Still lingering: what the client sends now is read and discarded, no reset.
    let lingering_since = Instant::now();
    for _ in 0..3 {
        client.write_all(&[b'x'; 64 * 1024]).unwrap();
        thread::sleep(Duration::from_millis(50));
        assert!(
            !log.lines().iter().any(|l| l.starts_with("lost")),
            "{:?}",
            log.lines()
        );
    }
    // Then silence: the linger ends after `quiet`, cleanly.
    log.wait_for("the end of the linger", |l| l.starts_with("lost"));
    assert!(lingering_since.elapsed() >= quiet);
    assert_eq!(log.lines(), ["data 13", "lost Closed"]);
    assert_eq!(running.stats.open(), 0);
    running.stop().unwrap();
}

/// Issue 13 item 3: `LingeringClose::On` lingers only when input is waiting unread; a
/// close with nothing unread ends at once, as before.
#[test]
fn lingering_close_on_costs_nothing_when_no_input_is_unread() {
    use mio_selectors::event_loop::LingeringClose;
    common::init();
    struct Closer(Log);
    impl Protocol for Closer {
        fn data_received(&mut self, ctx: &mut Context<'_>, _data: &[u8]) {
            let _ = ctx.write(b"bye");
            ctx.transport().set_lingering_close(LingeringClose::On);
            ctx.close();
        }
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.0.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let log = Log::default();
    let config = Config {
        lingering_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let plog = log.clone();
    let (running, addr) = serve_tcp(config, move || Closer(plog.clone()));
    let mut client = connect(addr);
    client.write_all(b"hi").unwrap();
    // No linger (which would wait 30 s for the client): closed as soon as flushed.
    log.wait_for("the close", |l| l == "lost Closed");
    assert_eq!(read_to_end(&mut client), b"bye");
    // And decided without a system call: the last read was short, nothing came after it,
    // so no `read` looked for input (issue 15: 9 system calls per HTTP/1.0 request).
    assert_eq!(running.stats.linger_probes(), 0);
    assert_eq!(running.stats.lingering_closes(), 0);
    running.stop().unwrap();
}

/// `LingeringClose::On`, nginx's other sign of input to come: a read that filled the
/// loop's buffer (64 KiB) likely left more behind. The close looks (one read), finds the
/// rest of the upload, and lingers, so the peer reads the whole answer, not a reset.
#[test]
fn lingering_close_on_looks_after_a_read_that_filled_the_buffer() {
    use mio_selectors::event_loop::LingeringClose;
    common::init();
    struct Refuser(Log);
    impl Protocol for Refuser {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            ctx.transport().set_lingering_close(LingeringClose::On);
        }
        fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
            // Only a full read closes: whatever the timing, the close follows one.
            if data.len() == 64 * 1024 && !ctx.transport().is_closing() {
                self.0.push("full read: closing");
                let _ = ctx.write(b"too large");
                ctx.close();
            }
        }
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.0.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let log = Log::default();
    let (l, addr) = listener();
    let mut lp = EventLoop::with_config(
        (),
        Config {
            lingering_timeout: Duration::from_secs(5),
            ..Config::default()
        },
    )
    .unwrap();
    let plog = log.clone();
    lp.listen_tcp(l, move || Refuser(plog.clone())).unwrap();
    let running = Running::start(lp);
    let mut client = connect(addr);
    // 4 MiB: more than the socket buffers hold, so reads fill the buffer while it comes.
    if let Err(err) = client.write_all(&vec![b'x'; 4 << 20]) {
        panic!("sending failed ({err}): the server reset instead of lingering");
    }
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let answer = match read_all(&mut client) {
        Ok(answer) => answer,
        Err(err) => panic!("{err}: the answer was cut short"),
    };
    assert_eq!(answer, b"too large");
    log.wait_for("the close", |l| l.starts_with("lost"));
    assert_eq!(log.lines(), ["full read: closing", "lost Closed"]);
    assert_eq!(running.stats.linger_probes(), 1);
    assert_eq!(running.stats.lingering_closes(), 1);
    running.stop().unwrap();
}

/// `LingeringClose::On` while a long answer is still being flushed: the socket stays
/// watched for input (no read), and a byte that arrives meanwhile makes the close look and
/// linger, instead of resetting and cutting the answer short.
#[test]
fn lingering_close_on_hears_input_that_arrives_while_the_close_flushes() {
    use mio_selectors::event_loop::LingeringClose;
    common::init();
    const ANSWER: usize = 16 << 20;
    struct Sender(Log);
    impl Protocol for Sender {
        fn data_received(&mut self, ctx: &mut Context<'_>, _data: &[u8]) {
            if !ctx.transport().is_closing() {
                ctx.transport().set_lingering_close(LingeringClose::On);
                let _ = ctx.write(&vec![b'a'; ANSWER]);
                ctx.close();
            }
        }
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.0.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let log = Log::default();
    let (l, addr) = listener();
    let lp = EventLoop::new(()).unwrap();
    let plog = log.clone();
    let mut lp = lp;
    lp.listen_tcp(l, move || Sender(plog.clone())).unwrap();
    let running = Running::start(lp);
    let mut client = connect(addr);
    client.write_all(b"go").unwrap();
    // The answer has begun, so the close is decided and flushing: now a stray byte.
    let mut first = [0; 1];
    client.read_exact(&mut first).unwrap();
    client.write_all(b"\n").unwrap();
    let rest = match read_all(&mut client) {
        Ok(rest) => rest,
        Err(err) => panic!("{err}: the answer was cut short"),
    };
    assert_eq!(1 + rest.len(), ANSWER);
    drop(client);
    log.wait_for("the close", |l| l.starts_with("lost"));
    assert_eq!(running.stats.linger_probes(), 1);
    assert_eq!(running.stats.lingering_closes(), 1);
    running.stop().unwrap();
}

/// Reads until end of file; unlike `read_to_end`, a reset is returned, not a panic.
fn read_all(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all)?;
    Ok(all)
}

/// The peer's address is the one `accept` returned (kept: no `getpeername` later), for
/// TCP and Unix sockets, and still known once the peer has gone.
#[test]
fn peer_addr_is_the_address_accept_gave_and_outlives_the_peer() {
    common::init();
    struct Peer(Log);
    impl Protocol for Peer {
        fn connection_made(&mut self, ctx: &mut Context<'_>) {
            let peer = ctx.transport().peer_addr().map(|a| a.to_string());
            self.0.push(format!("made {peer:?}"));
        }
        fn data_received(&mut self, _ctx: &mut Context<'_>, _data: &[u8]) {}
        fn connection_lost(&mut self, ctx: &mut Context<'_>, _reason: Lost) {
            let peer = ctx.transport().peer_addr().map(|a| a.to_string());
            self.0.push(format!("lost {peer:?}"));
        }
    }
    let log = Log::default();
    let (l, addr) = listener();
    let dir = std::env::temp_dir().join(format!("peer-addr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut lp = EventLoop::new(()).unwrap();
    let (tlog, ulog) = (log.clone(), log.clone());
    lp.listen_tcp(l, move || Peer(tlog.clone())).unwrap();
    lp.listen_unix(unix, move || Peer(ulog.clone())).unwrap();
    let running = Running::start(lp);
    let client = connect(addr);
    let expected = format!(
        "{:?}",
        Ok::<_, ()>(client.local_addr().unwrap().to_string())
    );
    log.wait_for("connection_made", |l| l.starts_with("made"));
    drop(client);
    log.wait_for("connection_lost", |l| l.starts_with("lost"));
    assert_eq!(
        log.lines(),
        [format!("made {expected}"), format!("lost {expected}")]
    );
    // A Unix client, unnamed as most are: its address says so, and the same after it left.
    let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    log.wait_for("connection_made", |l| l == r#"made Ok("(unnamed)")"#);
    drop(client);
    log.wait_for("connection_lost", |l| l == r#"lost Ok("(unnamed)")"#);
    running.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 13 item 3: a peer that never stops sending cannot hold a lingering close open
/// past `lingering_time`.
#[test]
fn a_lingering_close_ends_after_lingering_time_whatever_the_peer_sends() {
    use mio_selectors::event_loop::LingeringClose;
    common::init();
    struct Refuser(Log);
    impl Protocol for Refuser {
        fn data_received(&mut self, ctx: &mut Context<'_>, _data: &[u8]) {
            if !ctx.transport().is_closing() {
                ctx.transport().set_lingering_close(LingeringClose::Always);
                ctx.close();
            }
        }
        fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
            self.0.push(format!("lost {}", reason_name(&reason)));
        }
    }
    let log = Log::default();
    let total = Duration::from_millis(800);
    let config = Config {
        lingering_timeout: Duration::from_secs(30),
        lingering_time: total,
        ..Config::default()
    };
    let plog = log.clone();
    let (running, addr) = serve_tcp(config, move || Refuser(plog.clone()));
    let mut client = connect(addr);
    let started = Instant::now();
    // Keep sending, never closing, until the server gives up (bounded by the deadline).
    let deadline = started + Duration::from_secs(10);
    while !log.lines().iter().any(|l| l.starts_with("lost")) {
        assert!(Instant::now() < deadline, "the linger never ended");
        if client.write_all(b"more").is_err() {
            break; // the server closed: a reset for bytes it no longer reads
        }
        thread::sleep(Duration::from_millis(20));
    }
    log.wait_for("the end of the linger", |l| l.starts_with("lost"));
    assert!(
        started.elapsed() >= total,
        "ended after {:?}",
        started.elapsed()
    );
    assert_eq!(log.lines(), ["lost Closed"]);
    running.stop().unwrap();
}
