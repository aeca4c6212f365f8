//! What the protocol layer's tests (tests/event_loop.rs, tests/event_loop_pool.rs) share:
//! a loop running on a thread of its own ([`Running`]), a [`Log`] the protocols write
//! into and the test waits on, and a client socket whose every call is bounded.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio_selectors::event_loop::{EventLoop, LoopHandle, LoopStats};

/// How long a client's read or write may block before the test fails instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What protocols (and jobs) saw, in order: one line per callback.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most [`super::LOADED`]) until some line satisfies `f`; then returns every
    /// line.
    #[track_caller]
    pub fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + super::LOADED;
        loop {
            let lines = self.lines();
            if lines.iter().any(|l| f(l)) {
                return lines;
            }
            assert!(Instant::now() < deadline, "no {what} in {lines:?}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// [`Log::wait_for`] a line equal to `line`.
    #[track_caller]
    pub fn wait_for_line(&self, line: &str) -> Vec<String> {
        self.wait_for(&format!("{line:?}"), |l| l == line)
    }
}

/// A loop running on its own thread; stopped and joined (which drops the loop) on
/// [`Running::stop`] or on drop.
pub struct Running {
    pub handle: LoopHandle<()>,
    pub stats: Arc<LoopStats>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    pub fn start(mut lp: EventLoop) -> Running {
        let handle = lp.handle();
        let stats = lp.stats();
        let thread = thread::spawn(move || lp.run());
        Running {
            handle,
            stats,
            thread: Some(thread),
        }
    }

    /// Stops the loop and returns what `run` returned.
    pub fn stop(mut self) -> io::Result<()> {
        self.handle.stop();
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("loop thread panicked")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.stop();
            let _ = thread.join();
        }
    }
}

/// A blocking client socket whose reads and writes give up after [`IO_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}
