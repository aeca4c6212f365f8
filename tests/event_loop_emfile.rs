//! The protocol layer's loop, out of descriptors: `accept` fails with EMFILE, the listener
//! rests for `Config::accept_backoff` instead of spinning, and everyone is served once
//! descriptors are free again.
//!
//! A test binary of its own: it lowers the whole process's descriptor limit, which would
//! break any test running beside it.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mio_selectors::event_loop::{Config, Context, EventLoop, Protocol};

use common::sys;

struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        let _ = ctx.write(data);
    }
}

/// CPU ticks (1/100 s) this process used, through a file opened before the limit drops.
fn cpu_ticks(stat: &mut std::fs::File) -> u64 {
    let mut text = String::new();
    stat.seek(SeekFrom::Start(0)).unwrap();
    stat.read_to_string(&mut text).unwrap();
    let fields: Vec<&str> = text[text.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn the_loop_rests_its_listener_when_out_of_descriptors_then_serves_everyone() {
    common::init();
    const CLIENTS: usize = 16;
    const ROOM: u64 = 4;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        accept_backoff: Duration::from_millis(200),
        ..Config::default()
    };
    let mut lp = EventLoop::with_config((), config).unwrap();
    lp.listen_tcp(listener, || Echo).unwrap();
    let (stats, handle) = (lp.stats(), lp.handle());

    // Every client connects first: the handshakes complete in the listen queue.
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for client in &clients {
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let previous = sys::set_fd_limit(open + ROOM).expect("lower the fd limit");
    let thread = thread::spawn(move || lp.run());

    let deadline = Instant::now() + common::LOADED;
    while stats.accept_pauses() == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(stats.accept_pauses() >= 1, "EMFILE never met");
    let accepted = stats.accepted();
    assert!(
        accepted >= 1 && accepted < CLIENTS as u64,
        "accepted {accepted}"
    );

    // Resting, not spinning: over a second of EMFILE (five back-offs), little CPU.
    let before = cpu_ticks(&mut stat);
    thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(&mut stat) - before;
    assert!(
        used < 30,
        "{used} ticks of CPU in 1 s out of descriptors: spinning"
    );
    assert!(
        stats.accept_pauses() >= 2,
        "the listener was never tried again"
    );
    assert!(!thread.is_finished(), "the loop stopped instead of waiting");

    sys::set_fd_limit(previous).expect("restore the fd limit");
    for (i, client) in clients.iter_mut().enumerate() {
        let message = format!("client {i}");
        client.write_all(message.as_bytes()).unwrap();
        let mut reply = vec![0; message.len()];
        client
            .read_exact(&mut reply)
            .expect("an echo after the rest");
        assert_eq!(reply, message.as_bytes());
    }
    assert_eq!(stats.accepted(), CLIENTS as u64);
    handle.stop();
    thread
        .join()
        .unwrap()
        .expect("run() returns Ok after stop()");
}
