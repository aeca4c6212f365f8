//! The UDP echo servers and `udp_client`, over real sockets on loopback.
//!
//! Every server test runs against each implementation (the `udp_tests!` table at the end):
//! `docs/python/udp_echo.py` as a child process, and the Rust `udp_echo` module in this
//! process, each on a port of its own. The client is `mio_selectors::udp_echo::client`, so
//! these are also the cross-tests: the Rust client against the Python server and the Rust
//! one alike.

mod common;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::python::PythonServer;
use common::ServerThread;
use mio_selectors::udp_echo::client::{self, make_datagram, ClientOptions};
use mio_selectors::udp_echo::{Stats, UdpEchoServer, MAX_PAYLOAD_V4, MAX_PAYLOAD_V6};

/// Which implementation a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Python,
    Rust,
}

/// A running UDP echo server.
struct Server {
    addr: SocketAddr,
    /// The Rust server's counters.
    stats: Option<Arc<Stats>>,
    _running: Running,
}

/// Held only to keep the server running: dropping it stops (or kills) the server.
#[allow(dead_code)]
enum Running {
    Python(PythonServer),
    Rust(ServerThread),
}

#[track_caller]
fn start(kind: Kind, host: &str) -> Server {
    match kind {
        Kind::Python => {
            let args = ["--host", host, "--port", "0"].map(String::from);
            let server = PythonServer::start("udp_echo.py", &args);
            Server {
                addr: server.addr,
                stats: None,
                _running: Running::Python(server),
            }
        }
        Kind::Rust => {
            let socket = UdpSocket::bind((host, 0)).expect("bind port 0");
            let addr = socket.local_addr().unwrap();
            let (thread, stats) = ServerThread::spawn(&format!("udp echo {addr}"), move |tx| {
                let mut server = UdpEchoServer::new(socket)?;
                tx.send((server.stop_handle(), server.stats())).unwrap();
                server.run()
            });
            Server {
                addr,
                stats: Some(stats),
                _running: Running::Rust(thread),
            }
        }
    }
}

/// Lockstep, patient options: `count` datagrams of `size` bytes.
fn lockstep(count: usize, size: usize) -> ClientOptions {
    ClientOptions {
        count,
        size,
        timeout: Duration::from_millis(500),
        retries: 5,
        window: 1,
    }
}

#[track_caller]
fn run_ok(addr: SocketAddr, options: &ClientOptions) -> client::Summary {
    let summary = client::run(addr, options).expect("udp client");
    assert!(summary.ok(), "{addr}: {summary}");
    assert_eq!(summary.corrupt, 0, "{summary}");
    assert_eq!(summary.rtts.len(), options.count, "{summary}");
    summary
}

/// Sizes 0, 1, 1472 (the most that fits one Ethernet frame) and 65,507 (IPv4's maximum)
/// come back unchanged, each checked byte for byte.
fn every_size_comes_back_over_ipv4(kind: Kind) {
    let server = start(kind, "127.0.0.1");
    for size in [0, 1, 1472, MAX_PAYLOAD_V4] {
        run_ok(server.addr, &lockstep(20, size));
    }
}

/// The same over IPv6, up to its larger maximum of 65,527 bytes.
fn every_size_comes_back_over_ipv6(kind: Kind) {
    let server = start(kind, "::1");
    assert!(server.addr.is_ipv6(), "{}", server.addr);
    for size in [0, 1, 1472, MAX_PAYLOAD_V4, MAX_PAYLOAD_V6] {
        run_ok(server.addr, &lockstep(20, size));
    }
}

/// A burst of 10,000 datagrams, all sent before any reply is read: some may be dropped
/// (the socket buffers overflow: UDP may drop, the server must not block), retries bring
/// the rest back, nothing comes back corrupt, and the server answers at once afterwards.
fn burst_of_ten_thousand(kind: Kind) {
    let server = start(kind, "127.0.0.1");
    let burst = ClientOptions {
        count: 10_000,
        size: 64,
        timeout: Duration::from_millis(200),
        retries: 30,
        window: 10_000,
    };
    let summary = run_ok(server.addr, &burst);
    eprintln!("burst: {summary}");
    // Still serving, promptly.
    let after = run_ok(server.addr, &lockstep(10, 1472));
    assert_eq!(after.resent, 0, "{after}");
    if let Some(stats) = &server.stats {
        // Every datagram the server received was echoed or counted as dropped (the last
        // echo may still be on its way to `echoed` when the client has it: wait a little).
        let deadline = Instant::now() + common::LOADED;
        while stats.received() != stats.echoed() + stats.dropped() {
            assert!(Instant::now() < deadline, "{stats}");
            thread::sleep(Duration::from_millis(5));
        }
        let sent = (burst.count + summary.resent + after.datagrams) as u64;
        assert!(stats.received() <= sent, "{stats}, {sent} sent");
        assert!(
            stats.echoed() >= (burst.count + after.datagrams) as u64,
            "{stats}"
        );
        eprintln!("server: {stats}");
    }
}

/// Each datagram goes back to the socket that sent it, even with several senders at once.
fn replies_go_to_their_sender(kind: Kind) {
    let server = start(kind, "127.0.0.1");
    let sockets: Vec<UdpSocket> = (0..5)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            socket
        })
        .collect();
    for (i, socket) in sockets.iter().enumerate() {
        socket
            .send_to(&make_datagram(i as u64, 100), server.addr)
            .unwrap();
    }
    for (i, socket) in sockets.iter().enumerate() {
        let mut buf = [0; 200];
        let (n, from) = socket.recv_from(&mut buf).expect("an echo");
        assert_eq!(from, server.addr);
        assert_eq!(&buf[..n], &make_datagram(i as u64, 100)[..], "socket {i}");
    }
}

// ---------------------------------------------------------------------------------------
// The client on its own
// ---------------------------------------------------------------------------------------

/// Nobody listening: the ICMP "port unreachable" is reported, every datagram is lost after
/// its retries, and `run` still returns a summary rather than hanging or failing.
#[test]
fn client_reports_a_server_that_is_not_there() {
    let addr = {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    }; // closed: nobody listens there now
    let options = ClientOptions {
        count: 3,
        size: 16,
        timeout: Duration::from_millis(50),
        retries: 2,
        window: 1,
    };
    let summary = client::run(addr, &options).expect("a summary");
    assert_eq!(summary.received, 0, "{summary}");
    assert_eq!(summary.lost, 3, "{summary}");
    assert_eq!(summary.resent, 6, "{summary}");
    assert!(summary.refused > 0, "{summary}");
    assert!(!summary.ok());
}

/// A server that answers only every other attempt: the client retries and gets each back;
/// the answers it no longer waits for are counted late, not twice.
#[test]
fn client_retries_and_counts_late_replies() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let thread = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = [0; 2048];
        // Drop the first sending of each datagram; answer the second twice.
        for i in 0..10 {
            let (n, from) = server.recv_from(&mut buf)?;
            if i % 2 == 1 {
                server.send_to(&buf[..n], from)?;
                server.send_to(&buf[..n], from)?;
            }
        }
        Ok(())
    });
    let options = ClientOptions {
        count: 5,
        size: 100,
        timeout: Duration::from_millis(100),
        retries: 3,
        window: 1,
    };
    let summary = client::run(addr, &options).expect("a summary");
    thread.join().unwrap().expect("the test server");
    assert!(summary.ok(), "{summary}");
    assert_eq!(summary.resent, 5, "{summary}");
    // Four duplicates are read while waiting for the next datagram's echo; the last one
    // may arrive after the run is over.
    assert!(summary.late >= 4, "{summary}");
    assert_eq!(summary.corrupt, 0, "{summary}");
}

/// A reply with the wrong bytes is corrupt, and does not count as the echo.
#[test]
fn client_rejects_a_corrupt_echo() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let thread = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = [0; 2048];
        let (n, from) = server.recv_from(&mut buf)?;
        buf[n - 1] ^= 1;
        server.send_to(&buf[..n], from)?;
        Ok(())
    });
    let options = ClientOptions {
        count: 1,
        size: 100,
        timeout: Duration::from_millis(100),
        retries: 1,
        window: 1,
    };
    let summary = client::run(addr, &options).expect("a summary");
    thread.join().unwrap().expect("the test server");
    assert_eq!(summary.corrupt, 1, "{summary}");
    assert_eq!(summary.lost, 1, "{summary}");
    assert!(!summary.ok());
}

/// Sizes UDP cannot carry are refused before anything is sent.
#[test]
fn client_refuses_oversized_datagrams() {
    for (addr, size) in [
        ("127.0.0.1:9", MAX_PAYLOAD_V4 + 1),
        ("[::1]:9", MAX_PAYLOAD_V6 + 1),
    ] {
        let err = client::run(addr.parse().unwrap(), &lockstep(1, size)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("more than UDP can carry"), "{err}");
    }
}

/// The example programs as a user runs them: `udp_client` against `udp_echo` (exit 0 and
/// its summary line), then against nobody (exit 1, one line saying so), and SIGTERM ends
/// `udp_echo` with status 0.
#[test]
fn the_examples_echo_and_report() {
    common::init();
    let mut server = common::ExampleServer::start("udp_echo", &["--port", "0"]);
    let addr: SocketAddr = server.listening_on.parse().expect("an address");
    let client = common::example("udp_client");
    let port = addr.port().to_string();
    let output = std::process::Command::new(&client)
        .args(["--port", &port, "--count", "20", "--size", "1472"])
        .env_remove("RUST_LOG")
        .output()
        .expect("run udp_client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}: {stdout}", output.status);
    assert!(
        stdout.starts_with("datagrams=20 size=1472 received=20 lost=0 "),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    let status = server.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "udp_echo exit status {status}");

    // Nobody there now: every datagram lost, exit status 1, one line on stderr saying so.
    let output = std::process::Command::new(&client)
        .args([
            "--port",
            &port,
            "--count",
            "2",
            "--timeout",
            "0.05",
            "--retries",
            "1",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("run udp_client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("received=0 lost=2"), "{stdout}");
    assert!(stderr.contains("2 of 2 datagrams lost"), "{stderr}");
}

/// SIGTERM ends `udp_echo.py` cleanly (status 0), as Ctrl-C does.
#[test]
fn python_udp_echo_exits_cleanly_on_sigterm() {
    let mut server = PythonServer::start("udp_echo.py", &["--port".into(), "0".into()]);
    run_ok(server.addr, &lockstep(3, 10));
    let status = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
}

// ---------------------------------------------------------------------------------------
// The table: every server test against every implementation
// ---------------------------------------------------------------------------------------

macro_rules! udp_tests {
    ($($module:ident => $kind:expr;)*) => {$(
        mod $module {
            use super::*;

            fn kind() -> Kind {
                common::init();
                $kind
            }

            #[test]
            fn every_size_comes_back_over_ipv4() {
                super::every_size_comes_back_over_ipv4(kind());
            }
            #[test]
            fn every_size_comes_back_over_ipv6() {
                super::every_size_comes_back_over_ipv6(kind());
            }
            #[test]
            fn burst_of_ten_thousand() {
                super::burst_of_ten_thousand(kind());
            }
            #[test]
            fn replies_go_to_their_sender() {
                super::replies_go_to_their_sender(kind());
            }
        }
    )*};
}

udp_tests! {
    python => Kind::Python;
    rust => Kind::Rust;
}
