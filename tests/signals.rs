//! `EventLoop::stop_on_ctrl_c` and `mio_selectors::signal`: a real SIGTERM or SIGINT, sent
//! with kill(1) to a child process, stops the loop, `run` returns `Ok`, and the program
//! goes on to end its own way; a second signal ends the process at once.
//!
//! Signal handlers belong to the whole process, and the first signal arms the "second
//! signal kills" rule, so each case runs in a child: this test binary again, running the
//! ignored `child` test with the case in `SIGNAL_CHILD`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mio_selectors::event_loop::{Context, EventLoop, Protocol};

/// A generous bound for a loaded machine; every wait polls a condition up to it.
const LIMIT: Duration = Duration::from_secs(30);

struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        let _ = ctx.write(data);
    }
}

/// A loop serving echo on an ephemeral port, whose address is printed once the signal
/// watcher is in place.
fn echo_loop() -> (EventLoop, SocketAddr) {
    let mut lp = EventLoop::new(()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    lp.listen_tcp(listener, || Echo).unwrap();
    (lp, addr)
}

/// The child's side; does nothing useful unless run by [`Case::start`].
#[test]
#[ignore = "run in a child process by the other tests of this file"]
fn child() {
    let case = std::env::var("SIGNAL_CHILD").expect("run by the other tests");
    match case.as_str() {
        // One loop, the EventLoop method; after `run` returns, say so and exit 0.
        "one" | "hang" => {
            let (mut lp, addr) = echo_loop();
            lp.stop_on_ctrl_c().unwrap();
            println!("listening {addr}");
            lp.run().unwrap();
            println!("stopped with {} open", lp.stats().open());
            if case == "hang" {
                // A shutdown that never ends: only a second signal gets us out.
                std::thread::sleep(LIMIT * 2);
                println!("still here");
            }
        }
        // Two loops on two threads, one signal stops both.
        "all" => {
            let (mut a, addr_a) = echo_loop();
            let (mut b, addr_b) = echo_loop();
            let stops = vec![a.handle().stop_handle(), b.handle().stop_handle()];
            mio_selectors::signal::stop_all_on_ctrl_c(stops).unwrap();
            let b = std::thread::spawn(move || b.run());
            println!("listening {addr_a} {addr_b}");
            a.run().unwrap();
            b.join().unwrap().unwrap();
            println!("stopped with 0 open");
        }
        other => panic!("unknown case {other}"),
    }
}

struct Case {
    child: Child,
    out: BufReader<ChildStdout>,
    addrs: Vec<SocketAddr>,
}

impl Case {
    /// Starts the child for `case` and waits for its "listening" line.
    fn start(case: &str) -> Case {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--ignored", "--nocapture", "--quiet"])
            .env("SIGNAL_CHILD", case)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let line = next_line(&mut out, "listening");
        let addrs = line.split_whitespace().skip(1).map(|a| a.parse().unwrap());
        Case {
            child,
            out,
            addrs: addrs.collect(),
        }
    }

    /// Sends `signal` with kill(1), as a user or a service manager would.
    fn kill(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal}: {status}");
    }

    /// Waits (polling, up to LIMIT) for the child to exit.
    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > LIMIT {
                self.child.kill().unwrap();
                panic!("the child did not exit within {LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's next line that starts with `want`, skipping the test harness's own lines
/// ("running 1 test"); the child must not end first.
fn next_line(out: &mut impl BufRead, want: &str) -> String {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("the child ended without saying {want:?}...; it said {seen:?}");
        }
        if line.starts_with(want) {
            return line;
        }
        seen.push(line);
    }
}

/// The loop at `addr` answers (it is serving, not stopped yet).
fn echoes(addr: SocketAddr) -> TcpStream {
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    client.write_all(b"ping").unwrap();
    let mut reply = [0; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ping");
    client
}

fn signal_stops_the_loop_and_run_returns(signal: &str) {
    let mut case = Case::start("one");
    let _client = echoes(case.addrs[0]);
    case.kill(signal);
    // `run` returned Ok with the client still connected (the loop stops; it does not
    // close connections), and the program went on to its own end.
    next_line(&mut case.out, "stopped with 1 open");
    let status = case.wait();
    assert!(status.success(), "{signal}: the child exited with {status}");
}

#[test]
fn sigterm_stops_the_loop_and_run_returns() {
    signal_stops_the_loop_and_run_returns("TERM");
}

#[test]
fn sigint_stops_the_loop_and_run_returns() {
    signal_stops_the_loop_and_run_returns("INT");
}

#[test]
fn a_second_signal_ends_a_shutdown_that_hangs() {
    let mut case = Case::start("hang");
    echoes(case.addrs[0]);
    case.kill("INT");
    next_line(&mut case.out, "stopped");
    case.kill("INT");
    let status = case.wait();
    // Killed by the signal itself (the default action), not exited.
    assert_eq!(status.signal(), Some(2), "the child exited with {status}");
    let mut rest = String::new();
    case.out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "the child went on after the second signal");
}

#[test]
fn one_signal_stops_every_loop_given() {
    let mut case = Case::start("all");
    for &addr in &case.addrs {
        echoes(addr);
    }
    assert_eq!(case.addrs.len(), 2);
    case.kill("TERM");
    next_line(&mut case.out, "stopped with 0 open");
    assert!(case.wait().success());
}
