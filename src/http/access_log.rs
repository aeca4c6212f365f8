//! Port of `BaseHTTPRequestHandler.log_request` / `log_message`: one line per answered
//! request, written off the event loop so that a slow reader of the log never slows the
//! server, and escaped so that a client cannot forge lines.
//!
//! Python writes each line to `sys.stderr` from the handler's thread: a terminal paused
//! with Ctrl-S, or a pipe nobody reads, stops that thread in `write`. Python has a thread
//! per connection; here one loop serves every connection, and a blocked write would stall
//! them all. So the loop only *queues* a line (a bounded queue, [`AccessLog::log`] never
//! waits), and a thread of the log's own writes it. When the queue is full the line is
//! dropped and counted, and the count is reported in the log itself once it is written to
//! again (at most once a second), and when the log closes, as syslog's "message
//! repeated" does for a flood.
//!
//! Queueing a line costs the loop no system call: the thread is not woken for each line.
//! After writing what it found, it waits [`BATCH`] for more to gather, and only when the
//! queue is still empty then does it sleep until woken; the loop wakes it (one `futex`)
//! only for the first line after such a sleep, or when the queue is half full. An idle log
//! thread sleeps without a timeout: no wake-ups while no requests come.
//!
//! Escaping follows nginx's access log (`ngx_http_log_escape`): `"`, `\` and every byte
//! outside 0x20–0x7e become `\xHH`, so a request target or an `X-Forwarded-For` cannot
//! end a field, start a line, move the cursor, or reorder text (`U+202E`, C1 controls).

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// How many lines may wait for the log's thread before new ones are dropped: about a
/// second of a busy server's lines, and at most a few hundred KiB.
pub const ACCESS_LOG_CAPACITY: usize = 4096;

/// How often, at most, the count of dropped lines is reported while lines are being lost.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// After writing the lines it found, the log's thread waits this long for more before it
/// writes again, so that a busy server's lines go out in batches and the loop need not
/// wake the thread for each one (a `futex` call per request). Lines are written at most
/// this late, or sooner when the queue is half full.
pub(crate) const BATCH: Duration = Duration::from_millis(20);

/// How long closing the log waits for its thread to write what is queued. A log whose
/// reader is stopped is then abandoned with its queue (the count says what was lost), so
/// that a server can always stop.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// The `log` target of the access-log lines, unchanged from when the server wrote them
/// itself, so `RUST_LOG=mio_selectors::http::server=info` filters still work.
pub const ACCESS_LOG_TARGET: &str = "mio_selectors::http::server";

/// A handle on an access log: lines go into a bounded queue, and a thread writes them.
/// Clones share the queue and the thread; the thread ends once every clone is dropped.
///
/// Python: none; `log_message` writes to `sys.stderr` directly.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::AccessLog;
/// use std::sync::{Arc, Mutex};
///
/// # fn main() -> std::io::Result<()> {
/// #[derive(Clone, Default)]
/// struct Shared(Arc<Mutex<Vec<u8>>>);
/// impl std::io::Write for Shared {
///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let out = Shared::default();
/// let log = AccessLog::to_writer(out.clone(), 16)?;
/// log.log("127.0.0.1:5000 \"GET /\" 200 5".to_owned());
/// drop(log); // waits (briefly) for the thread to write what is queued
/// assert_eq!(String::from_utf8(out.0.lock().unwrap().clone()).unwrap(), "127.0.0.1:5000 \"GET /\" 200 5\n");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
}

struct Shared {
    /// Closed in `drop`, so the thread sees the end before `drop` waits for it.
    queue: Arc<Queue>,
    dropped: Arc<AtomicU64>,
    /// Disconnected when the thread has written everything and ended.
    finished: Mutex<Receiver<()>>,
}

/// The bounded queue between the loop and the log's thread.
///
/// Python: none (a `queue.Queue(maxsize)` with `put_nowait` would be the counterpart).
/// Not `std::sync::mpsc`: its receiver cannot say "I am about to sleep", so every send
/// must wake it, a system call per line.
struct Queue {
    state: Mutex<QueueState>,
    /// The thread waits here: for a first line, or out a batch interval.
    wake: Condvar,
    /// Lines waiting plus lines the thread is writing: at most this many.
    capacity: usize,
    /// How long the thread gathers lines between batches ([`BATCH`]; tests lengthen it).
    batch: Duration,
    /// Wake-ups sent by `log`, for the tests.
    #[cfg(test)]
    wakes: AtomicU64,
}

#[derive(Default)]
struct QueueState {
    lines: VecDeque<String>,
    /// How many lines the thread took and is writing (they count toward `capacity`).
    in_flight: usize,
    /// The thread waits for a line without a timeout: the next line must wake it.
    sleeping: bool,
    /// The thread waits out a batch interval: only a half-full queue wakes it early.
    batching: bool,
    /// Every handle is gone: write what is left, then end.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The queue length at which a batching thread is woken early.
    fn high_water(&self) -> usize {
        (self.capacity / 2).max(1)
    }
}

/// Where the thread writes.
enum Sink {
    /// Through the `log` crate at info, target [`ACCESS_LOG_TARGET`].
    Log,
    /// To a writer of the caller's, one line each, buffered while more lines wait.
    Writer(io::BufWriter<Box<dyn Write + Send>>),
}

impl AccessLog {
    /// A log whose lines go to the `log` crate, at info with target [`ACCESS_LOG_TARGET`] (so
    /// `RUST_LOG` decides whether they show, as before), written by a thread of its own.
    ///
    /// # Errors
    /// The OS error if the thread cannot be started.
    pub fn to_log(capacity: usize) -> io::Result<AccessLog> {
        AccessLog::start(Sink::Log, capacity)
    }

    /// A log whose lines (each ended with `\n`) go to `writer`, written by a thread of its
    /// own. A write error ends the writing: later lines count as dropped.
    ///
    /// # Errors
    /// The OS error if the thread cannot be started.
    pub fn to_writer(
        writer: impl Write + Send + 'static,
        capacity: usize,
    ) -> io::Result<AccessLog> {
        let writer: Box<dyn Write + Send> = Box::new(writer);
        AccessLog::start(Sink::Writer(io::BufWriter::new(writer)), capacity)
    }

    /// The process's one log to the `log` crate, shared by every server that uses it (the
    /// example's workers), started by the first and ended with the last.
    ///
    /// # Errors
    /// The OS error if the thread cannot be started.
    pub(crate) fn shared_to_log() -> io::Result<AccessLog> {
        static SHARED: Mutex<Weak<Shared>> = Mutex::new(Weak::new());
        let mut slot = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(shared) = slot.upgrade() {
            return Ok(AccessLog { shared });
        }
        let log = AccessLog::to_log(ACCESS_LOG_CAPACITY)?;
        *slot = Arc::downgrade(&log.shared);
        Ok(log)
    }

    fn start(sink: Sink, capacity: usize) -> io::Result<AccessLog> {
        AccessLog::start_batching(sink, capacity, BATCH)
    }

    fn start_batching(sink: Sink, capacity: usize, batch: Duration) -> io::Result<AccessLog> {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            capacity: capacity.max(1),
            batch,
            #[cfg(test)]
            wakes: AtomicU64::new(0),
        });
        let (finished_tx, finished) = mpsc::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&dropped);
        let lines = Arc::clone(&queue);
        thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                write_lines(&lines, sink, &counter);
                drop(finished_tx);
            })?;
        Ok(AccessLog {
            shared: Arc::new(Shared {
                queue,
                dropped,
                finished: Mutex::new(finished),
            }),
        })
    }

    /// Queues one line (without its `\n`) for the log's thread. Never waits: when the
    /// queue is full, or the thread has stopped writing, the line is dropped and counted.
    /// Returns whether it was queued.
    ///
    /// No system call unless the thread sleeps (the first line after a quiet spell) or
    /// the queue reaches half its capacity: then one wake-up.
    pub fn log(&self, line: String) -> bool {
        let queue = &self.shared.queue;
        let mut state = queue.lock();
        if state.closed || state.lines.len() + state.in_flight >= queue.capacity {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        state.lines.push_back(line);
        let wake = state.sleeping || (state.batching && state.lines.len() >= queue.high_water());
        if wake {
            // Cleared here, under the lock, so the lines that follow before the thread
            // runs do not wake it again.
            state.sleeping = false;
            state.batching = false;
        }
        drop(state);
        if wake {
            #[cfg(test)]
            queue.wakes.fetch_add(1, Ordering::Relaxed);
            queue.wake.notify_one();
        }
        true
    }

    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Close the queue, then give the thread a moment to write what is in it: lines of
        // the last requests are worth a short wait at exit, a stopped reader is not.
        self.queue.lock().closed = true;
        self.queue.wake.notify_one();
        let finished = self
            .finished
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = finished.recv_timeout(FLUSH_WAIT);
    }
}

/// The log's thread: writes the lines it finds as one batch, flushing after each, then
/// gathers for [`BATCH`] (less if the queue fills to half); with nothing queued it sleeps
/// until the next line, without a timeout, unless a count of dropped lines is still to be
/// reported (at most every `REPORT_EVERY`, and at the end).
fn write_lines(queue: &Queue, mut sink: Sink, dropped: &AtomicU64) {
    let mut reported = 0;
    let mut reported_at: Option<Instant> = None;
    let mut ok = true;
    let mut batch = VecDeque::new();
    loop {
        let closed = {
            let mut state = queue.lock();
            state.in_flight = 0; // the last batch is written
            while state.lines.is_empty() && !state.closed {
                // A report not yet due is the only reason to wake without a line.
                // (A failed writer reports nothing more: nothing to wait for then.)
                let lost = dropped.load(Ordering::Relaxed);
                let report_in = match reported_at {
                    _ if !ok || lost <= reported => None,
                    None => break,
                    Some(at) => match (at + REPORT_EVERY).checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => Some(left),
                        _ => break,
                    },
                };
                state.sleeping = true;
                state = match report_in {
                    None => queue
                        .wake
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner()),
                    Some(left) => {
                        queue
                            .wake
                            .wait_timeout(state, left)
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .0
                    }
                };
                state.sleeping = false;
            }
            std::mem::swap(&mut state.lines, &mut batch);
            state.in_flight = batch.len();
            state.closed
        };
        let wrote = !batch.is_empty();
        for line in batch.drain(..) {
            if ok {
                ok = sink.write(&line);
            } else {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        ok = ok && sink.flush();
        let lost = dropped.load(Ordering::Relaxed);
        let due = reported_at.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        if ok && lost > reported && due {
            ok = sink.report(lost - reported);
            reported = lost;
            reported_at = Some(Instant::now());
        }
        if closed {
            break; // nothing can be queued after the close: all of it was in this batch
        }
        if wrote {
            // Let the next lines gather instead of being woken for each.
            let mut state = queue.lock();
            state.in_flight = 0;
            state.batching = true;
            let high = queue.high_water();
            let (mut state, _) = queue
                .wake
                .wait_timeout_while(state, queue.batch, |state| {
                    !state.closed && state.lines.len() < high
                })
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.batching = false;
        }
    }
    let lost = dropped.load(Ordering::Relaxed);
    if ok && lost > reported {
        ok = sink.report(lost - reported);
    }
    if ok {
        sink.flush();
    }
}

impl Sink {
    /// Writes one line; false once the writer has failed.
    fn write(&mut self, line: &str) -> bool {
        match self {
            Sink::Log => {
                log::info!(target: ACCESS_LOG_TARGET, "{line}");
                true
            }
            Sink::Writer(out) => writeln!(out, "{line}").is_ok(),
        }
    }

    fn report(&mut self, lost: u64) -> bool {
        let text = format!(
            "access log: {lost} line{} dropped: the log's reader is not keeping up",
            if lost == 1 { "" } else { "s" }
        );
        match self {
            Sink::Log => {
                log::warn!(target: ACCESS_LOG_TARGET, "{text}");
                true
            }
            Sink::Writer(_) => self.write(&text),
        }
    }

    fn flush(&mut self) -> bool {
        match self {
            Sink::Log => true,
            Sink::Writer(out) => out.flush().is_ok(),
        }
    }
}

/// Appends `field` to `out` as nginx's access log writes a field: `"`, `\` and bytes
/// outside 0x20–0x7e as `\xHH`, everything else as is.
///
/// Python: `BaseHTTPRequestHandler._control_char_table` (gh-100001, in 3.11) turns C0
/// controls and U+007F–U+009F into `\xhh` and `\` into `\\` in `log_message`, but
/// leaves `"` (so a field can still be forged) and every other character, `U+202E` among
/// them.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::escape_log_field;
///
/// let mut line = String::new();
/// escape_log_field(&mut line, "/a\"b\\c\r\n\u{202e}".as_bytes());
/// assert_eq!(line, r"/a\x22b\x5Cc\x0D\x0A\xE2\x80\xAE");
/// ```
pub fn escape_log_field(out: &mut String, field: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in field {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str("\\x");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Condvar;

    fn escaped(field: &[u8]) -> String {
        let mut out = String::new();
        escape_log_field(&mut out, field);
        out
    }

    #[test]
    fn escaping_follows_nginx() {
        assert_eq!(escaped(b"/index.html?a=1&b=%20"), "/index.html?a=1&b=%20");
        assert_eq!(escaped(b"a b"), "a b");
        assert_eq!(escaped(b"\""), r"\x22");
        assert_eq!(escaped(b"\\"), r"\x5C");
        assert_eq!(escaped(b"\x00\x1f\x7f\x80\xff"), r"\x00\x1F\x7F\x80\xFF");
        // A forged second line, an escape sequence, a right-to-left override, a C1 control.
        assert_eq!(
            escaped(b"/x\" 200 0\n1.2.3.4 \"GET /"),
            r"/x\x22 200 0\x0A1.2.3.4 \x22GET /"
        );
        assert_eq!(escaped(b"\x1b[2J"), r"\x1B[2J");
        assert_eq!(
            escaped("\u{202e}gpj.exe".as_bytes()),
            r"\xE2\x80\xAEgpj.exe"
        );
        assert_eq!(escaped("\u{85}".as_bytes()), r"\xC2\x85");
        // Everything printable but `"` and `\` passes, and nothing else does.
        for b in 0..=255u8 {
            let plain = escaped(&[b]).len() == 1;
            assert_eq!(
                plain,
                (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\',
                "{b:#x}"
            );
        }
    }

    /// Whether writes may proceed, what was written, and the wake-up for blocked writes.
    type GateState = (Mutex<(bool, Vec<u8>)>, Condvar);

    /// A writer that blocks until released, as a pipe nobody reads does.
    #[derive(Clone, Default)]
    struct Gate {
        state: Arc<GateState>,
    }

    impl Gate {
        fn open(&self) {
            self.state.0.lock().unwrap().0 = true;
            self.state.1.notify_all();
        }
        fn text(&self) -> String {
            String::from_utf8(self.state.0.lock().unwrap().1.clone()).unwrap()
        }
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cvar) = &*self.state;
            let mut state = lock.lock().unwrap();
            while !state.0 {
                state = cvar.wait(state).unwrap();
            }
            state.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_writer_never_blocks_the_caller_and_drops_are_reported() {
        let gate = Gate::default();
        let log = AccessLog::to_writer(gate.clone(), 8).unwrap();
        let start = Instant::now();
        let filler = "x".repeat(100);
        let queued = (0..1000)
            .filter(|i| log.log(format!("line {i} {filler}")))
            .count();
        // The queue holds 8, and the thread's 8 KiB buffer about 80 of these lines before
        // its first write blocks: the rest are dropped.
        assert!(queued <= 200, "{queued} lines queued into a queue of 8");
        assert_eq!(log.dropped(), 1000 - queued as u64);
        assert!(start.elapsed() < Duration::from_secs(5), "log() waited");
        gate.open();
        drop(log);
        // However the reports fell (one as the thread got going, one at the end), they
        // add up to what was dropped.
        let counts = |text: &str| {
            let lines = text.lines().filter(|l| l.starts_with("line ")).count();
            let reported: u64 = text
                .lines()
                .filter_map(|l| l.strip_prefix("access log: "))
                .map(|l| l.split(' ').next().unwrap().parse::<u64>().unwrap())
                .sum();
            (lines, reported)
        };
        let expected = (queued, 1000 - queued as u64);
        // Closing waits a moment for the thread; a loaded machine may need longer.
        let deadline = Instant::now() + Duration::from_secs(10);
        while counts(&gate.text()) != expected && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let text = gate.text();
        assert_eq!(counts(&text), expected, "{text}");
        assert!(text.starts_with("line 0 "), "{text}");
    }

    /// A writer into shared memory that also notes which thread wrote (the log's).
    #[derive(Clone, Default)]
    struct Recorder {
        text: Arc<Mutex<Vec<u8>>>,
        thread: Arc<Mutex<Option<std::path::PathBuf>>>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            // /proc/thread-self names the calling thread's /proc/PID/task/TID.
            // (A path relative to /proc.)
            *self.thread.lock().unwrap() = std::fs::read_link("/proc/thread-self")
                .ok()
                .map(|task| std::path::Path::new("/proc").join(task));
            self.text.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Issue 15: the loop must not pay a `futex` wake per request. 100 lines logged in a
    /// row wake the thread once (the first, which found it asleep), not 100 times; and they
    /// are all written, in order.
    #[test]
    fn lines_wake_the_thread_once_per_batch_not_once_each() {
        let out = Recorder::default();
        let writer = Sink::Writer(io::BufWriter::new(Box::new(out.clone())));
        // A long batch interval: the thread cannot come back to sleep between two lines
        // of the loop below, however loaded the machine.
        let log = AccessLog::start_batching(writer, 4096, Duration::from_secs(2)).unwrap();
        let queue = Arc::clone(&log.shared.queue);
        wait_until("the thread to sleep", || queue.lock().sleeping);
        for i in 0..100 {
            assert!(log.log(format!("line {i}")));
        }
        let wakes = queue.wakes.load(Ordering::Relaxed);
        assert_eq!(wakes, 1, "{wakes} wake-ups for 100 lines");
        drop(log); // closing writes what is queued
        let text = String::from_utf8(out.text.lock().unwrap().clone()).unwrap();
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
    }

    /// Half a queue wakes a thread that is gathering a batch: a flood is written as it
    /// comes, not dropped while the thread waits out the interval.
    #[test]
    fn a_half_full_queue_wakes_a_gathering_thread() {
        let out = Recorder::default();
        let writer = Sink::Writer(io::BufWriter::new(Box::new(out.clone())));
        let log = AccessLog::start_batching(writer, 8, Duration::from_secs(3600)).unwrap();
        let queue = Arc::clone(&log.shared.queue);
        wait_until("the thread to sleep", || queue.lock().sleeping);
        assert!(log.log("first".into()));
        wait_until("the first batch", || queue.lock().batching);
        for i in 0..4 {
            assert!(log.log(format!("line {i}")));
        }
        // Written long before the hour-long interval is over.
        wait_until("the half-full queue to be written", || {
            out.text.lock().unwrap().ends_with(b"line 3\n")
        });
        assert_eq!(log.dropped(), 0);
    }

    /// No requests, no work: an idle log thread sleeps until the next line, with no
    /// timeout (it used to wake every second).
    #[test]
    #[cfg(target_os = "linux")]
    fn an_idle_log_thread_does_not_wake_up() {
        let out = Recorder::default();
        let log = AccessLog::to_writer(out.clone(), 16).unwrap();
        assert!(log.log("one".into()));
        wait_until("the line", || out.thread.lock().unwrap().is_some());
        let task = out.thread.lock().unwrap().clone().unwrap();
        let switches = || {
            let status = std::fs::read_to_string(task.join("status")).unwrap();
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        // Asleep for good: waiting for a line, and off the CPU ('S' in /proc/.../stat).
        let queue = Arc::clone(&log.shared.queue);
        wait_until("the thread to sleep", || {
            let stat = std::fs::read_to_string(task.join("stat")).unwrap();
            let state = stat.rsplit(") ").next().unwrap().chars().next();
            queue.lock().sleeping && state == Some('S')
        });
        let before = switches();
        // Longer than any timer it could have (the old one: 1 s).
        thread::sleep(Duration::from_millis(1500));
        assert_eq!(switches(), before, "the idle log thread woke up");
        assert!(queue.lock().sleeping);
        drop(log);
    }

    #[test]
    fn the_shared_log_is_one_while_held() {
        let a = AccessLog::shared_to_log().unwrap();
        let b = AccessLog::shared_to_log().unwrap();
        assert!(Arc::ptr_eq(&a.shared, &b.shared));
    }
}
