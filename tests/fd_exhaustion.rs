//! A server that runs out of descriptors pauses accepting, neither spinning nor crashing,
//! and serves everyone once descriptors are free again (issue: "fd exhaustion").
//!
//! A test binary of its own: it lowers the whole process's descriptor limit, which would
//! break any test running beside it.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mio_selectors::echo::{Config, EchoServer};

use common::sys;

/// The process's CPU time (utime + stime from /proc/self/stat), read through a file opened
/// once: with the descriptor limit lowered, opening it again would fail with EMFILE too.
struct CpuClock(std::fs::File);

impl CpuClock {
    fn open() -> CpuClock {
        CpuClock(std::fs::File::open("/proc/self/stat").expect("open /proc/self/stat"))
    }

    /// Clock ticks (1/100 s) of CPU used so far.
    fn ticks(&mut self) -> u64 {
        let mut stat = String::new();
        self.0.seek(SeekFrom::Start(0)).unwrap();
        self.0
            .read_to_string(&mut stat)
            .expect("read /proc/self/stat");
        // Field 2, the command name, is in parentheses and may hold spaces: count from
        // after it; fields 14 and 15 are then at indexes 11 and 12.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("a stat line") + 2..]
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count() as u64
}

#[test]
fn the_multiplexed_server_pauses_when_out_of_descriptors_then_serves_everyone() {
    common::init();
    const CLIENTS: usize = 16;
    const ROOM: u64 = 4;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let server = EchoServer::new(listener, Config::default()).expect("EchoServer::new");
    let (stats, stop) = (server.stats(), server.stop_handle());

    // Every client connects before the server runs: the kernel completes the handshakes
    // in the listen queue, so the clients hold their descriptors before the limit drops.
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    for client in &clients {
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }
    let mut cpu = CpuClock::open();
    // Room for ROOM more descriptors in the whole process (a little more: reading
    // /proc/self/fd itself holds one while it counts).
    let previous = sys::set_fd_limit(open_descriptors() + ROOM).expect("lower the fd limit");
    let thread = thread::spawn(move || server.run());

    // The server accepts what fits, then meets EMFILE.
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.accepted() < ROOM - 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    let accepted = stats.accepted();
    assert!(accepted >= 1, "the server accepted nobody");
    assert!(
        accepted < CLIENTS as u64,
        "all {CLIENTS} accepted: the limit did not bite"
    );

    // Paused, not spinning: the listener is still readable (clients are queued), and a
    // level-triggered loop retrying accept() would burn the whole second.
    let before = cpu.ticks();
    thread::sleep(Duration::from_secs(1));
    let used = cpu.ticks() - before;
    assert!(
        used < 30,
        "{used} ticks of CPU in 1 s while out of descriptors: spinning"
    );
    assert!(
        !thread.is_finished(),
        "the server stopped instead of waiting"
    );

    // Descriptors free again: within its back-off the server resumes and serves everyone.
    sys::set_fd_limit(previous).expect("restore the fd limit");
    for (i, client) in clients.iter_mut().enumerate() {
        let message = format!("client {i}");
        client.write_all(message.as_bytes()).unwrap();
        let mut reply = vec![0; message.len()];
        client
            .read_exact(&mut reply)
            .expect("an echo after the pause");
        assert_eq!(reply, message.as_bytes());
    }
    assert_eq!(stats.accepted(), CLIENTS as u64);

    stop.stop();
    thread
        .join()
        .unwrap()
        .expect("run() returns Ok after stop()");
}
