//! A server that runs out of descriptors pauses accepting, neither spinning nor crashing,
//! and serves everyone once descriptors are free again (issue: "fd exhaustion").
//!
//! A test binary of its own: it lowers the whole process's descriptor limit, which would
//! break any test running beside it.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

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

/// Every line the crate logs at `info` or above, kept for the test to read (and printed
/// to the test's stderr, as `common::init` would).
struct Recorder;

static LOGGED: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info && metadata.target().starts_with("mio_selectors")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            eprintln!("[{}] {line}", record.level());
            LOGGED.lock().unwrap().push((record.level(), line));
        }
    }

    fn flush(&self) {}
}

/// The logged lines of `level` that contain `needle`.
fn logged(level: log::Level, needle: &str) -> Vec<String> {
    let lines = LOGGED.lock().unwrap();
    lines
        .iter()
        .filter(|(at, line)| *at == level && line.contains(needle))
        .map(|(_, line)| line.clone())
        .collect()
}

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count() as u64
}

#[test]
fn the_multiplexed_server_pauses_when_out_of_descriptors_then_serves_everyone() {
    log::set_logger(&Recorder).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Info);
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
    let limit = open_descriptors() + ROOM;
    let previous = sys::set_fd_limit(limit).expect("lower the fd limit");
    let thread = thread::spawn(move || server.run());

    // The server accepts what fits, then meets EMFILE, and says so.
    common::wait_until(
        common::LOADED,
        "the server to run out of descriptors",
        || !logged(log::Level::Warn, "out of descriptors").is_empty(),
    );
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
    // A second of failed accepts, one per 100 ms back-off, and still one line: what
    // happened, the limit, and what to do. (The count comes every 10 s.)
    let warnings = logged(log::Level::Warn, "");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    for needle in [
        "out of descriptors",
        "Too many open files",
        "ulimit -n",
        "cap",
    ] {
        assert!(warnings[0].contains(needle), "{needle:?}: {}", warnings[0]);
    }
    assert!(
        warnings[0].contains(&format!("may open {limit} ")),
        "the limit, {limit}: {}",
        warnings[0]
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
    // And when it clears, one line with the count of the accepts that failed meanwhile.
    let cleared = logged(log::Level::Info, "descriptors free again");
    assert_eq!(cleared.len(), 1, "{cleared:#?}");
    let failed: u64 = cleared[0]
        .split(" (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count: {}", cleared[0]));
    assert!(
        failed >= 5,
        "only {failed} failed accepts in a second: {}",
        cleared[0]
    );

    stop.stop();
    thread
        .join()
        .unwrap()
        .expect("run() returns Ok after stop()");
}
