//! The chat server's wire protocol (issue 9), rule by rule, over real sockets on loopback.
//!
//! Every test is written once against a server *address* and run against each
//! implementation (the `chat_tests!` table at the end): `docs/python/chat_server.py` as a
//! child process, and the Rust `chat` module in this process. Each test starts its own
//! server on port 0, so tests running in parallel never share one.
//!
//! Silence is checked without sleeping: to show that a client received nothing, the test
//! sends it `/who` and asserts that the very next line is the answer. The server handles a
//! connection's lines in order and queues its output in order, so anything it had sent
//! before would have come first.
//!
//! Everything is bounded: sockets have read and write timeouts, loops a count and a deadline.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use common::python::PythonServer;
use common::ServerThread;
use mio_selectors::chat::{self, ChatServer};

/// How long any one socket call may block before the test fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// The defaults of the issue: `--max-line 4096`, `--max-pending` 1 MiB.
const MAX_LINE: usize = 4096;

/// Tests that measure this process's memory take it for writing, every other test for
/// reading, so that nothing else in the process allocates while they measure.
static MEMORY: RwLock<()> = RwLock::new(());

// ---------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------

/// Which implementation a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Python,
    Rust,
}

/// The server's limits, as its command-line flags name them.
#[derive(Clone, Debug)]
struct Opts {
    host: &'static str,
    max_line: usize,
    max_pending: usize,
    /// Seconds; 0 = none.
    idle_timeout: f64,
    max_clients: usize,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            host: "127.0.0.1",
            max_line: MAX_LINE,
            max_pending: 1 << 20,
            idle_timeout: 300.0,
            max_clients: 10_000,
        }
    }
}

/// A running chat server.
struct Server {
    addr: SocketAddr,
    running: Running,
}

enum Running {
    Python(PythonServer),
    /// `mio_selectors::chat::ChatServer` on a thread; held for its `Drop`, which stops it.
    #[allow(dead_code)]
    Rust(ServerThread),
}

#[track_caller]
fn start(kind: Kind, opts: Opts) -> Server {
    match kind {
        Kind::Python => {
            let args: Vec<String> = [
                "--host",
                opts.host,
                "--port",
                "0",
                "--max-line",
                &opts.max_line.to_string(),
                "--max-pending",
                &opts.max_pending.to_string(),
                "--idle-timeout",
                &opts.idle_timeout.to_string(),
                "--max-clients",
                &opts.max_clients.to_string(),
            ]
            .map(String::from)
            .into();
            let server = PythonServer::start("chat_server.py", &args);
            Server {
                addr: server.addr,
                running: Running::Python(server),
            }
        }
        Kind::Rust => {
            let listener = TcpListener::bind((opts.host, 0)).expect("bind port 0");
            let addr = listener.local_addr().unwrap();
            let config = chat::Config {
                max_line: opts.max_line,
                max_pending: opts.max_pending,
                idle_timeout: (opts.idle_timeout > 0.0)
                    .then(|| Duration::from_secs_f64(opts.idle_timeout)),
                max_clients: opts.max_clients,
            };
            let (thread, ()) = ServerThread::spawn(&format!("chat server {addr}"), move |tx| {
                let mut server = ChatServer::new(listener, config)?;
                tx.send((server.stop_handle(), ())).unwrap();
                server.run()
            });
            Server {
                addr,
                running: Running::Rust(thread),
            }
        }
    }
}

impl Server {
    /// The server's resident memory in bytes: the child's, or this whole process's.
    fn rss(&self) -> u64 {
        match &self.running {
            Running::Python(server) => server.rss(),
            // This process: the tests that measure it hold MEMORY for writing.
            Running::Rust(_) => common::rss_of("/proc/self/status"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// A client
// ---------------------------------------------------------------------------------------

/// A blocking chat client that reads line by line, with timeouts.
struct Client {
    name: String,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects, and reads nothing yet.
    #[track_caller]
    fn connect_raw(addr: SocketAddr, name: &str) -> Client {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|err| panic!("{name}: connect to {addr}: {err}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            name: name.to_string(),
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Connects and reads the greeting, which must be a `* ` notice.
    #[track_caller]
    fn connect(addr: SocketAddr, name: &str) -> Client {
        let mut client = Client::connect_raw(addr, name);
        let greeting = client.line();
        assert!(
            greeting.starts_with(b"* "),
            "{name}: the first line is not a '* ' notice: {:?}",
            show(&greeting)
        );
        client
    }

    /// Connects and joins as `nick`.
    #[track_caller]
    fn join(addr: SocketAddr, nick: &str) -> Client {
        let mut client = Client::connect(addr, nick);
        client.send(format!("{nick}\n").as_bytes());
        client.expect(&format!("* welcome {nick}"));
        client
    }

    #[track_caller]
    fn send(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .unwrap_or_else(|err| panic!("{}: write: {err}", self.name));
    }

    /// The next line, without its `\n`; fails on end of file or a timeout.
    #[track_caller]
    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => {
                line.pop();
                line
            }
            Ok(_) => panic!(
                "{}: end of file instead of a line (got {:?})",
                self.name,
                show(&line)
            ),
            Err(err) => panic!("{}: no line within {IO_TIMEOUT:?}: {err}", self.name),
        }
    }

    /// The next line must be exactly `want`.
    #[track_caller]
    fn expect(&mut self, want: &str) {
        self.expect_bytes(want.as_bytes());
    }

    #[track_caller]
    fn expect_bytes(&mut self, want: &[u8]) {
        let got = self.line();
        assert_eq!(
            show(&got),
            show(want),
            "{}: unexpected line from the server",
            self.name
        );
    }

    /// Sends `/who` and expects its answer as the very next line: nothing else was queued
    /// for this client before it (see the module docs).
    #[track_caller]
    fn expect_nothing_then_who(&mut self, users: &str) {
        self.send(b"/who\n");
        self.expect(&format!("* users: {users}"));
    }

    /// The server closes the connection: end of file (or a reset, when it dropped us) with
    /// no further line.
    #[track_caller]
    fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "{}: more lines before the close: {:?}",
                self.name,
                show(&rest)
            ),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
            Err(err) => panic!("{}: not closed within {IO_TIMEOUT:?}: {err}", self.name),
        }
    }
}

/// Bytes as text for messages, with non-UTF-8 bytes escaped.
fn show(bytes: &[u8]) -> String {
    if bytes.len() > 200 {
        return format!("{} bytes: {}...", bytes.len(), show(&bytes[..80]));
    }
    bytes.escape_ascii().to_string()
}

// ---------------------------------------------------------------------------------------
// The rules, one test each
// ---------------------------------------------------------------------------------------

/// On connect: exactly one `* ` notice, before anything else, ending in `\n`.
fn greeting_is_one_notice_line_before_anything_else(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut alice = Client::join(server.addr, "alice");
    let mut raw = Client::connect_raw(server.addr, "raw");
    let greeting = raw.line();
    assert!(greeting.starts_with(b"* "), "{:?}", show(&greeting));
    // Nothing else follows until the client speaks, even with others chatting.
    alice.send(b"hello\n");
    raw.send(b"bob\n");
    raw.expect("* welcome bob");
    alice.expect("* bob joined");
}

/// Nicknames: 1-32 bytes of [A-Za-z0-9_-]; invalid and taken ones are refused with the
/// exact messages, and the client may try again.
fn nickname_rules(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut alice = Client::connect(server.addr, "alice");
    let long_33 = "a".repeat(33);
    let invalid: [&[u8]; 9] = [
        b"",
        b"a b",
        b"bad!",
        b"caf\xc3\xa9",
        b"tab\there",
        b"/who",
        b"dot.name",
        b"\xff",
        long_33.as_bytes(),
    ];
    for nick in invalid {
        alice.send(&[nick, b"\n"].concat());
        alice.expect("! invalid nickname");
    }
    // The longest valid nickname, with every kind of character the rule allows.
    let nick_32 = "Az09_-".repeat(6)[..32].to_string();
    alice.send(format!("{nick_32}\n").as_bytes());
    alice.expect(&format!("* welcome {nick_32}"));

    let mut bob = Client::connect(server.addr, "bob");
    bob.send(format!("{nick_32}\n").as_bytes());
    bob.expect("! nickname in use");
    // The shortest, sent with \r\n: the \r is not part of the nickname.
    bob.send(b"-\r\n");
    bob.expect("* welcome -");
    alice.expect("* - joined");
    // The joiner is not told of its own arrival: its next line is the /who answer.
    bob.expect_nothing_then_who(&format!("- {nick_32}"));
    alice.expect_nothing_then_who(&format!("- {nick_32}"));
}

/// A line goes to every other joined client as `<NICK> L`, in order; the sender gets
/// nothing back, and a client that has not joined yet gets nothing at all.
fn lines_go_to_every_other_joined_client_in_order(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    let mut carol = Client::join(server.addr, "carol");
    alice.expect("* bob joined");
    alice.expect("* carol joined");
    bob.expect("* carol joined");
    let mut lurker = Client::connect(server.addr, "lurker");

    // Several lines in one write, then one line in pieces.
    alice.send(b"one\ntwo words\n  three  \n");
    for piece in [&b"sp"[..], b"li", b"t\n"] {
        alice.send(piece);
        thread::sleep(Duration::from_millis(20));
    }
    for reader in [&mut bob, &mut carol] {
        reader.expect("<alice> one");
        reader.expect("<alice> two words");
        reader.expect("<alice>   three  ");
        reader.expect("<alice> split");
    }
    bob.send(b"from bob\n");
    alice.expect("<bob> from bob");
    carol.expect("<bob> from bob");
    alice.expect_nothing_then_who("alice bob carol");
    bob.expect_nothing_then_who("alice bob carol");
    // The lurker saw none of it: after its welcome comes nothing but the /who answer.
    lurker.send(b"dave\n");
    lurker.expect("* welcome dave");
    lurker.expect_nothing_then_who("alice bob carol dave");
}

/// `\r` before `\n` is dropped (one, and only there); other bytes are relayed as they
/// are, UTF-8 or not; an empty line is a line.
fn bytes_are_relayed_and_only_a_final_cr_is_dropped(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");
    alice.send(b"crlf\r\n");
    alice.send(b"two cr\r\r\n");
    alice.send(b"mid\rdle\n");
    alice.send(b"\xff\xfe\x00\x01 \xc3\xa9 bin\x7f\n");
    alice.send(b"\n");
    alice.send(b"\r\n");
    bob.expect("<alice> crlf");
    bob.expect_bytes(b"<alice> two cr\r");
    bob.expect_bytes(b"<alice> mid\rdle");
    bob.expect_bytes(b"<alice> \xff\xfe\x00\x01 \xc3\xa9 bin\x7f");
    bob.expect("<alice> ");
    bob.expect("<alice> ");
    bob.expect_nothing_then_who("alice bob");
}

/// `/who` lists the joined nicknames, sorted; unknown commands are refused.
fn who_and_unknown_commands(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut carol = Client::join(server.addr, "carol");
    let _alice = Client::join(server.addr, "alice");
    let _bob = Client::join(server.addr, "Bob");
    let _not_joined = Client::connect(server.addr, "nobody");
    carol.expect("* alice joined");
    carol.expect("* Bob joined");
    // Sorted as bytes: upper case before lower case.
    carol.send(b"/who\r\n");
    carol.expect("* users: Bob alice carol");
    for unknown in [&b"/nope"[..], b"/", b"/WHO", b"/quitnow", b"//who"] {
        carol.send(&[unknown, b"\n"].concat());
        carol.expect("! unknown command");
    }
    carol.expect_nothing_then_who("Bob alice carol");
}

/// `/quit`: `* bye`, then the server closes; the others get `* NICK left`, and lines after
/// `/quit` are not relayed. The nickname is free again.
fn quit_says_bye_closes_and_announces(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");
    alice.send(b"before\n/quit\nafter\n");
    alice.expect("* bye");
    alice.expect_closed();
    bob.expect("<alice> before");
    bob.expect("* alice left");
    bob.expect_nothing_then_who("bob");
    let mut again = Client::join(server.addr, "alice");
    bob.expect("* alice joined");
    again.expect_nothing_then_who("alice bob");
}

/// End of input: every line that came before it is delivered, then `* NICK left`; what
/// the server owes the half-closed client is still sent before it closes; a last piece
/// with no newline is not a line.
fn end_of_input_delivers_earlier_lines_then_left(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");
    let mut burst = Vec::new();
    for i in 0..100 {
        burst.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    burst.extend_from_slice(b"/who\nno newline");
    alice.send(&burst);
    alice.writer.shutdown(Shutdown::Write).unwrap();
    for i in 0..100 {
        bob.expect(&format!("<alice> line {i}"));
    }
    bob.expect("* alice left");
    // The half-closed client still gets its /who answer, then the close.
    alice.expect("* users: alice bob");
    alice.expect_closed();
    bob.expect_nothing_then_who("bob");
}

/// A reset leaves as an end of file does; the server carries on. A client that never
/// joined leaves without a notice.
fn reset_and_unjoined_leave(kind: Kind) {
    let server = start(kind, Opts::default());
    let alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    let lurker = Client::connect(server.addr, "lurker");
    drop(lurker);
    common::sys::set_linger_zero(&alice.writer).unwrap();
    drop(alice); // RST, not FIN
    bob.expect("* alice left");
    bob.expect_nothing_then_who("bob");
}

/// Lines up to `--max-line` bytes (newline and its `\r` not counted) pass; a longer one is
/// discarded up to its newline, the sender gets `! line too long` once, and the connection
/// stays open. Before joining too.
fn line_too_long(kind: Kind) {
    let server = start(kind, Opts::default());
    let mut alice = Client::connect(server.addr, "alice");
    alice.send(&[&[b'n'; MAX_LINE + 1][..], b"\n"].concat());
    alice.expect("! line too long");
    alice.send(b"alice\n");
    alice.expect("* welcome alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");

    let longest = vec![b'x'; MAX_LINE];
    alice.send(&[&longest[..], b"\n"].concat());
    alice.send(&[&longest[..], b"\r\n"].concat());
    bob.expect_bytes(&[b"<alice> ", &longest[..]].concat());
    bob.expect_bytes(&[b"<alice> ", &longest[..]].concat());

    // One byte too many, then the same in pieces of 1,000 bytes: one notice each.
    alice.send(&[&[b'y'; MAX_LINE + 1][..], b"\n"].concat());
    alice.expect("! line too long");
    for _ in 0..10 {
        alice.send(&[b'z'; 1000]);
    }
    alice.send(b"\nstill here\n");
    alice.expect("! line too long");
    bob.expect("<alice> still here");

    // A line too long and the lines after it in one write: none of those is lost.
    alice.send(&[&[b'w'; MAX_LINE + 1][..], b"\nafter\nand after\n"].concat());
    alice.expect("! line too long");
    bob.expect("<alice> after");
    bob.expect("<alice> and after");
    alice.expect_nothing_then_who("alice bob");
    bob.expect_nothing_then_who("alice bob");
}

/// `--max-line` is honoured as given, not only at its default.
fn max_line_flag(kind: Kind) {
    let server = start(
        kind,
        Opts {
            max_line: 8,
            ..Opts::default()
        },
    );
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");
    alice.send(b"12345678\n123456789\n1234567\r\n");
    alice.expect("! line too long");
    bob.expect("<alice> 12345678");
    bob.expect("<alice> 1234567");
    bob.expect_nothing_then_who("alice bob");
}

/// A 100 MiB line with no newline: the server's memory stays bounded, the sender gets one
/// `! line too long`, nobody gets any of it, and the connection works afterwards.
fn hundred_mib_line_leaves_memory_bounded(kind: Kind) {
    let _exclusive = MEMORY.write().unwrap_or_else(|e| e.into_inner());
    let server = start(kind, Opts::default());
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");
    let before = server.rss();
    let chunk = vec![b'w'; 64 * 1024];
    let mut peak = before;
    for i in 0..1600 {
        alice.send(&chunk);
        if i % 100 == 0 {
            peak = peak.max(server.rss());
        }
    }
    peak = peak.max(server.rss());
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 16 << 20,
        "100 MiB without a newline grew the server by {} KiB (from {} KiB)",
        growth >> 10,
        before >> 10
    );
    alice.send(b"\nafter\n");
    alice.expect("! line too long");
    bob.expect("<alice> after");
    alice.expect_nothing_then_who("alice bob");
    bob.expect_nothing_then_who("alice bob");
}

/// A client that stops reading is dropped once its unsent output passes `--max-pending`,
/// while the others keep receiving every line; the rest get `* NICK left`.
fn client_that_stops_reading_is_dropped_while_the_rest_flow(kind: Kind) {
    let _shared = MEMORY.read().unwrap_or_else(|e| e.into_inner());
    let server = start(kind, Opts::default());
    let mut alice = Client::join(server.addr, "alice");
    let mut carol = Client::join(server.addr, "carol");
    let mut slow = Client::join(server.addr, "slow");
    alice.expect("* carol joined");
    alice.expect("* slow joined");
    carol.expect("* slow joined");

    // Lines of 1,000 bytes from alice: twice what slow's kernel buffers (the server's
    // send buffer at its largest, slow's receive buffer as it starts: a socket that is
    // never read does not grow it) and 1 MiB of --max-pending can hold, and at least 24 MiB.
    let capacity = kernel_tcp_buffer(2, "wmem") + kernel_tcp_buffer(1, "rmem") + (1 << 20);
    let lines = (2 * capacity).clamp(24 << 20, 128 << 20) / 1000;
    let body = "m".repeat(1000);
    // How many of alice's lines carol has read. Alice keeps at most 512 KiB ahead of it,
    // so carol, who reads, is never the one over --max-pending, however slowly this
    // test's threads get to run; slow, who never reads, is.
    let carol_read = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (carol_read, body) = (Arc::clone(&carol_read), body.clone());
        thread::spawn(move || {
            let mut left_at = None;
            let mut next = 0;
            while next < lines {
                let line = carol.line();
                if line == b"* slow left" {
                    left_at = Some(next);
                    continue;
                }
                let want = format!("<alice> {next:05} {body}");
                assert!(
                    line == want.as_bytes(),
                    "carol: line {next}: {:?}",
                    show(&line)
                );
                next += 1;
                carol_read.store(next, Ordering::Relaxed);
            }
            (carol, left_at)
        })
    };
    let started = Instant::now();
    let mut batch = Vec::new();
    for i in 0..lines {
        batch.extend_from_slice(format!("{i:05} {body}\n").as_bytes());
        if batch.len() > 128 * 1024 || i + 1 == lines {
            while i.saturating_sub(carol_read.load(Ordering::Relaxed)) > 512 {
                assert!(
                    started.elapsed() < Duration::from_secs(60) && !reader.is_finished(),
                    "carol stopped reading at line {}",
                    carol_read.load(Ordering::Relaxed)
                );
                thread::sleep(Duration::from_millis(1));
            }
            alice.send(&batch);
            batch.clear();
        }
    }
    let (mut carol, left_at) = reader.join().expect("carol's reader");
    let left_at = left_at.expect("carol was never told that slow left");
    // Dropped while the flow went on: what slow's buffers hold is half of the flood at
    // most, so the drop comes before alice's line in the middle.
    assert!(
        left_at < lines / 2,
        "slow was dropped only after line {left_at} of {lines}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // slow gets what the kernel held for it, then the end: never all 24 MiB.
    let mut received = 0;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match slow.reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("slow: not closed: {err}"),
        }
    }
    assert!(received < lines * 1000, "slow received {received} bytes");
    carol.expect_nothing_then_who("alice carol");
    alice.expect("* slow left");
    alice.expect_nothing_then_who("alice carol");
}

/// Field `field` (0, 1, 2: min, default, max) of `/proc/sys/net/ipv4/tcp_{kind}`, in
/// bytes; 4 MiB where the file cannot be read.
fn kernel_tcp_buffer(field: usize, kind: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/tcp_{kind}"))
        .ok()
        .and_then(|text| text.split_whitespace().nth(field)?.parse().ok())
        .unwrap_or(4 << 20)
}

/// `--idle-timeout`: a silent client (joined or not) gets `* idle timeout` and is closed,
/// the others learn it left; a client that keeps talking stays.
fn idle_clients_time_out(kind: Kind) {
    let server = start(
        kind,
        Opts {
            idle_timeout: 1.5,
            ..Opts::default()
        },
    );
    let started = Instant::now();
    let mut silent = Client::join(server.addr, "silent");
    let mut unjoined = Client::connect(server.addr, "unjoined");
    let mut talker = Client::join(server.addr, "talker");
    silent.expect("* talker joined");
    let mut left = None;
    // Until silent has gone and the talker has kept talking for more than twice the
    // timeout; on a busy machine the server may notice the timeout late, so the bound
    // is generous.
    while left.is_none() || started.elapsed() < Duration::from_millis(3500) {
        assert!(
            started.elapsed() < common::LOADED,
            "talker was not told that silent left within {:?}",
            common::LOADED
        );
        talker.send(b"/who\n");
        let line = talker.line();
        if line == b"* silent left" {
            left = Some(started.elapsed());
            talker.line(); // the /who answer
        } else {
            assert!(line.starts_with(b"* users: "), "{:?}", show(&line));
        }
        thread::sleep(Duration::from_millis(100));
    }
    let left = left.expect("talker was not told that silent left");
    assert!(
        left >= Duration::from_millis(1400),
        "silent timed out after {left:?}, before its 1.5 s"
    );
    for client in [&mut silent, &mut unjoined] {
        client.expect("* idle timeout");
        client.expect_closed();
    }
    talker.expect_nothing_then_who("talker");
}

/// A client that leaves (here: ends its input) while output is still queued for it, and
/// never reads it, is closed after one more idle timeout: it does not hold its socket and
/// that output forever.
fn a_client_that_leaves_without_reading_is_closed_after_the_idle_timeout(kind: Kind) {
    let _shared = MEMORY.read().unwrap_or_else(|e| e.into_inner());
    let server = start(
        kind,
        Opts {
            idle_timeout: 1.0,
            // Not the limit under test: let the queue grow past the kernel's buffers.
            max_pending: 256 << 20,
            ..Opts::default()
        },
    );
    let mut lurker = Client::join(server.addr, "lurker");
    // The server's end of this connection, as the kernel sees it, is found open first: the
    // proof that the lookup works, without which only a reset could show the close below.
    let lurker_addr = lurker.writer.local_addr().unwrap();
    common::wait_until(common::LOADED, "the server's end in /proc/net/tcp", || {
        common::tcp_state(server.addr, lurker_addr).is_some_and(common::TcpState::open)
    });
    // Enough /who answers ("* users: lurker\n") to fill the kernel's buffers twice over,
    // so some must still be queued in the server when the client leaves.
    let answer = b"* users: lurker\n".len();
    let capacity = kernel_tcp_buffer(2, "wmem") + kernel_tcp_buffer(1, "rmem");
    let count = (2 * capacity / answer).max(100_000);
    let requests = b"/who\n".repeat(count);
    // Sent from a thread: the server may stop reading while its answers pile up.
    let mut writer = lurker.writer.try_clone().unwrap();
    let sender = thread::spawn(move || {
        writer.write_all(&requests).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
        Instant::now()
    });
    let left = sender.join().expect("sending the requests");
    // Wait, without reading a byte, for the server to close its end: one idle timeout
    // after it last heard from the lurker, however long a busy machine takes to get
    // through the requests. (Reading now would let the server send everything.)
    common::wait_until(
        common::LOADED,
        "the server to close the lurker's connection",
        || common::server_closed(server.addr, &lurker.writer),
    );
    // Not before the idle timeout: what it owed a client that had only half-closed was
    // not thrown away at once. (A little early is the margin for the last read, which
    // may come just before the shutdown.)
    let waited = left.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "the server closed the lurker {waited:?} after it left, before its 1 s idle timeout"
    );
    let mut received = 0;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match lurker.reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("lurker: not closed: {err} after {received} bytes"),
        }
    }
    assert!(
        received < count * answer,
        "the server waited for the lurker to read all {} bytes",
        count * answer
    );
}

/// `--max-clients`: a connection beyond the limit gets `! server full` and is closed; the
/// others are unaffected; once one leaves there is room again.
fn max_clients(kind: Kind) {
    let server = start(
        kind,
        Opts {
            max_clients: 2,
            ..Opts::default()
        },
    );
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");
    let mut third = Client::connect_raw(server.addr, "third");
    third.expect("! server full");
    third.expect_closed();
    alice.send(b"still fine\n");
    bob.expect("<alice> still fine");
    bob.send(b"/quit\n");
    bob.expect("* bye");
    bob.expect_closed();
    alice.expect("* bob left");
    // The server may not have closed bob's socket the instant we saw its end: retry.
    let deadline = Instant::now() + common::LOADED;
    loop {
        let mut fourth = Client::connect_raw(server.addr, "fourth");
        let line = fourth.line();
        if line.starts_with(b"* ") {
            fourth.send(b"dave\n");
            fourth.expect("* welcome dave");
            break;
        }
        assert_eq!(show(&line), "! server full");
        assert!(Instant::now() < deadline, "no room after a client left");
        thread::sleep(Duration::from_millis(50));
    }
    alice.expect("* dave joined");
}

/// The server listens on IPv6 too.
fn over_ipv6(kind: Kind) {
    let server = start(
        kind,
        Opts {
            host: "::1",
            ..Opts::default()
        },
    );
    assert!(server.addr.is_ipv6(), "{}", server.addr);
    let mut alice = Client::join(server.addr, "alice");
    let mut bob = Client::join(server.addr, "bob");
    alice.expect("* bob joined");
    bob.send(b"over v6\n");
    alice.expect("<bob> over v6");
}

/// Many clients at once: each of `clients` joins, then all send 20 lines each; every line
/// must arrive exactly once at every other client, in order per sender.
fn many_clients_every_line_once_in_order(kind: Kind, clients: usize) {
    use mio_selectors::{Selector, EVENT_READ};

    let _shared = MEMORY.read().unwrap_or_else(|e| e.into_inner());
    mio_selectors::raise_fd_limit().expect("raise the descriptor limit");
    const LINES: usize = 20;
    let server = start(kind, Opts::default());
    let started = Instant::now();
    // About 10 s on an idle machine; Python's server joining a thousand clients one by
    // one took most of 90 s on one whose cores were busy with other work.
    let limit = Duration::from_secs(300);

    // Join one by one (each welcome read), so the joined notices are the only extra lines.
    let mut streams = Vec::with_capacity(clients);
    for c in 0..clients {
        let client = Client::join(server.addr, &format!("c{c}"));
        assert!(client.reader.buffer().is_empty());
        client.writer.set_nonblocking(true).unwrap();
        streams.push(client.writer);
        assert!(started.elapsed() < limit, "joining took too long");
    }

    eprintln!("{clients} clients joined in {:?}", started.elapsed());
    let mut sel: Selector<TcpStream, usize> = Selector::new().unwrap();
    for (c, stream) in streams.into_iter().enumerate() {
        sel.register(stream, EVENT_READ, c).unwrap();
    }
    // Every client sends its 20 lines, in two writes.
    let keys: Vec<_> = sel
        .get_map()
        .values()
        .map(|k| (k.token(), k.data))
        .collect();
    for &(token, c) in &keys {
        // `Read` and `Write` work on a shared `&TcpStream`, so no `&mut` is needed.
        let mut stream: &TcpStream = sel.get_key(token).unwrap().fileobj();
        let mut text = String::new();
        for m in 0..LINES {
            text.push_str(&format!("m{m}\n"));
        }
        let (first, second) = text.as_bytes().split_at(text.len() / 2);
        for part in [first, second] {
            // A few dozen bytes on a fresh socket: the kernel takes them whole.
            let n = stream
                .write(part)
                .unwrap_or_else(|e| panic!("c{c}: write: {e}"));
            assert_eq!(n, part.len());
        }
    }

    // Read everything: client c expects from every other sender s lines m0..m19 in order.
    let mut next = vec![vec![0u8; clients]; clients];
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); clients];
    let mut received = vec![0usize; clients];
    let want = (clients - 1) * LINES;
    let mut done = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while done < clients {
        assert!(
            started.elapsed() < limit,
            "after {limit:?}: {done} of {clients} clients have all their lines; {} of {} \
             lines arrived",
            received.iter().sum::<usize>(),
            want * clients
        );
        for (token, _) in sel.select(1.0).unwrap() {
            let key = sel.get_key(token).unwrap();
            let c = key.data;
            let mut stream: &TcpStream = key.fileobj();
            let n = match stream.read(&mut buf) {
                Ok(0) => panic!("c{c}: the server closed the connection"),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("c{c}: read: {e}"),
            };
            let pending = &mut partial[c];
            pending.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
                let line = &pending[start..start + end];
                start += end + 1;
                if line.starts_with(b"* c") && line.ends_with(b" joined") {
                    continue;
                }
                // "<cS> mM"
                let text = std::str::from_utf8(line).expect("ASCII lines");
                let (sender, m) = text
                    .strip_prefix("<c")
                    .and_then(|rest| rest.split_once("> m"))
                    .unwrap_or_else(|| panic!("c{c}: unexpected line {text:?}"));
                let s: usize = sender.parse().unwrap();
                let m: u8 = m.parse().unwrap();
                assert_ne!(s, c, "c{c} received its own line {text:?}");
                assert_eq!(
                    m, next[c][s],
                    "c{c}: from c{s}, line m{m} where m{} was due",
                    next[c][s]
                );
                next[c][s] += 1;
                received[c] += 1;
                if received[c] == want {
                    done += 1;
                }
                assert!(received[c] <= want, "c{c}: more lines than were sent");
            }
            pending.drain(..start);
        }
    }
    for (c, from) in next.iter().enumerate() {
        for (s, &lines) in from.iter().enumerate().filter(|&(s, _)| s != c) {
            assert_eq!(lines as usize, LINES, "c{c} from c{s}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Python only: the process itself
// ---------------------------------------------------------------------------------------

/// SIGTERM ends `chat_server.py` cleanly (status 0), with clients connected.
#[test]
fn python_chat_server_exits_cleanly_on_sigterm() {
    let server = start(Kind::Python, Opts::default());
    let _alice = Client::join(server.addr, "alice");
    let Running::Python(mut python) = server.running else {
        unreachable!("a Python server")
    };
    let status = python.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
}

/// The example program as a user runs it: `--port 0` on IPv6, two clients chat, and
/// SIGTERM ends it with status 0 while they are connected.
#[test]
fn the_example_chats_and_exits_cleanly_on_sigterm() {
    common::init();
    let mut server = common::ExampleServer::start("chat_server", &["--host", "::1", "--port", "0"]);
    let addr: SocketAddr = server.listening_on.parse().expect("an address");
    assert!(addr.is_ipv6(), "{addr}");
    let mut alice = Client::join(addr, "alice");
    let mut bob = Client::join(addr, "bob");
    alice.expect("* bob joined");
    bob.send(b"hi from the example\n");
    alice.expect("<bob> hi from the example");
    let status = server.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "exit status {status}");
}

// ---------------------------------------------------------------------------------------
// The table: every rule against every implementation
// ---------------------------------------------------------------------------------------

macro_rules! chat_tests {
    ($($module:ident => $kind:expr, $load_clients:expr;)*) => {$(
        mod $module {
            use super::*;

            fn kind() -> Kind {
                common::init();
                $kind
            }

            #[test]
            fn greeting_is_one_notice_line_before_anything_else() {
                super::greeting_is_one_notice_line_before_anything_else(kind());
            }
            #[test]
            fn nickname_rules() {
                super::nickname_rules(kind());
            }
            #[test]
            fn lines_go_to_every_other_joined_client_in_order() {
                super::lines_go_to_every_other_joined_client_in_order(kind());
            }
            #[test]
            fn bytes_are_relayed_and_only_a_final_cr_is_dropped() {
                super::bytes_are_relayed_and_only_a_final_cr_is_dropped(kind());
            }
            #[test]
            fn who_and_unknown_commands() {
                super::who_and_unknown_commands(kind());
            }
            #[test]
            fn quit_says_bye_closes_and_announces() {
                super::quit_says_bye_closes_and_announces(kind());
            }
            #[test]
            fn end_of_input_delivers_earlier_lines_then_left() {
                super::end_of_input_delivers_earlier_lines_then_left(kind());
            }
            #[test]
            fn reset_and_unjoined_leave() {
                super::reset_and_unjoined_leave(kind());
            }
            #[test]
            fn line_too_long() {
                super::line_too_long(kind());
            }
            #[test]
            fn max_line_flag() {
                super::max_line_flag(kind());
            }
            #[test]
            fn hundred_mib_line_leaves_memory_bounded() {
                super::hundred_mib_line_leaves_memory_bounded(kind());
            }
            #[test]
            fn client_that_stops_reading_is_dropped_while_the_rest_flow() {
                super::client_that_stops_reading_is_dropped_while_the_rest_flow(kind());
            }
            #[test]
            fn idle_clients_time_out() {
                super::idle_clients_time_out(kind());
            }
            #[test]
            fn a_client_that_leaves_without_reading_is_closed_after_the_idle_timeout() {
                super::a_client_that_leaves_without_reading_is_closed_after_the_idle_timeout(
                    kind(),
                );
            }
            #[test]
            fn max_clients() {
                super::max_clients(kind());
            }
            #[test]
            fn over_ipv6() {
                super::over_ipv6(kind());
            }
            #[test]
            fn many_clients_every_line_once_in_order() {
                super::many_clients_every_line_once_in_order(kind(), $load_clients);
            }
        }
    )*};
}

chat_tests! {
    // 1,000 clients x 20 lines: 19,980,000 deliveries, each checked. About 10 s for
    // either server in a debug build.
    python => Kind::Python, 1000;
    rust => Kind::Rust, 1000;
}
