//! Running the Python programs of docs/python/ from a test: a server as a child process that
//! reports where it listens, killed when the test is done with it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// `docs/python/<name>`.
pub fn program(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "docs", "python", name]
        .iter()
        .collect()
}

/// A Python server running as a child process; killed (if still running) when dropped.
#[derive(Debug)]
pub struct PythonServer {
    pub program: String,
    pub child: Child,
    /// Where it listens, from its `listening on ADDR` log line.
    pub addr: SocketAddr,
}

impl PythonServer {
    /// Starts `python3 docs/python/<program> <args>` with `LOGLEVEL=INFO` and waits (at most
    /// [`super::LOADED`]) for its `listening on ADDR` line, so tests can pass `--port 0`. The rest of its
    /// log goes to the test's stderr, shown when a test fails.
    #[track_caller]
    pub fn start(program: &str, args: &[String]) -> PythonServer {
        let mut child = Command::new("python3")
            .arg(self::program(program))
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("LOGLEVEL", "INFO")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run `python3 docs/python/{program}`: {err}. The cross-language \
                     tests need python3 (3.11 or later) on PATH."
                )
            });
        let stderr = child.stderr.take().expect("piped stderr");
        let (addr_tx, addr_rx) = mpsc::channel();
        let name = program.to_string();
        thread::spawn(move || {
            let mut addr_tx = Some(addr_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{name}] {line}");
                if let Some((_, rest)) = line.split_once("listening on ") {
                    if let Some(tx) = addr_tx.take() {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = match addr_rx.recv_timeout(super::LOADED) {
            Ok(addr) => addr.parse().unwrap_or_else(|err| {
                let _ = child.kill();
                panic!("{program}: bad listening address {addr:?}: {err}")
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "{program} did not say where it listens within {:?} (exit: {status:?})",
                    super::LOADED
                )
            }
        };
        PythonServer {
            program: program.to_string(),
            child,
            addr,
        }
    }

    /// The child's resident memory (VmRSS), in bytes.
    #[track_caller]
    pub fn rss(&self) -> u64 {
        super::rss_of(&format!("/proc/{}/status", self.child.id()))
    }

    /// Sends `signal` and waits at most `limit` for the child to exit.
    #[track_caller]
    pub fn signal_and_wait(&mut self, signal: libc::c_int, limit: Duration) -> ExitStatus {
        super::sys::kill(self.child.id(), signal).expect("kill(2) the python child");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for python3") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running {limit:?} after signal {signal}",
                self.program
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
