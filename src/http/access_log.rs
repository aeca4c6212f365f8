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
//! Escaping follows nginx's access log (`ngx_http_log_escape`): `"`, `\` and every byte
//! outside 0x20–0x7e become `\xHH`, so a request target or an `X-Forwarded-For` cannot
//! end a field, start a line, move the cursor, or reorder text (`U+202E`, C1 controls).

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// How many lines may wait for the log's thread before new ones are dropped: about a
/// second of a busy server's lines, and at most a few hundred KiB.
pub const ACCESS_LOG_CAPACITY: usize = 4096;

/// How often, at most, the count of dropped lines is reported while lines are being lost.
const REPORT_EVERY: Duration = Duration::from_secs(1);

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
    /// Taken in `drop`, so the thread sees the queue close before `drop` waits for it.
    queue: Option<SyncSender<String>>,
    dropped: Arc<AtomicU64>,
    /// Disconnected when the thread has written everything and ended.
    finished: Mutex<Receiver<()>>,
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
        let (queue, lines) = mpsc::sync_channel(capacity.max(1));
        let (finished_tx, finished) = mpsc::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&dropped);
        thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                write_lines(&lines, sink, &counter);
                drop(finished_tx);
            })?;
        Ok(AccessLog {
            shared: Arc::new(Shared {
                queue: Some(queue),
                dropped,
                finished: Mutex::new(finished),
            }),
        })
    }

    /// Queues one line (without its `\n`) for the log's thread. Never waits: when the
    /// queue is full, or the thread has stopped writing, the line is dropped and counted.
    /// Returns whether it was queued.
    pub fn log(&self, line: String) -> bool {
        let sent = match &self.shared.queue {
            Some(queue) => queue.try_send(line),
            None => return false,
        };
        match sent {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
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
        drop(self.queue.take());
        let finished = self
            .finished
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = finished.recv_timeout(FLUSH_WAIT);
    }
}

/// The log's thread: writes lines as they come, flushing whenever the queue is empty, and
/// reports the dropped count when it has grown (at most every `REPORT_EVERY`) and at the
/// end.
fn write_lines(lines: &Receiver<String>, mut sink: Sink, dropped: &AtomicU64) {
    let mut reported = 0;
    let mut reported_at: Option<Instant> = None;
    let mut ok = true;
    loop {
        let line = match lines.try_recv() {
            Ok(line) => Some(line),
            Err(_) => {
                // Nothing waiting: a good moment to flush, then sleep until the next line.
                ok = ok && sink.flush();
                match lines.recv_timeout(REPORT_EVERY) {
                    Ok(line) => Some(line),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        if let Some(line) = line {
            if ok {
                ok = sink.write(&line);
            } else {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let lost = dropped.load(Ordering::Relaxed);
        let due = reported_at.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        if ok && lost > reported && due {
            ok = sink.report(lost - reported);
            reported = lost;
            reported_at = Some(Instant::now());
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

    #[test]
    fn the_shared_log_is_one_while_held() {
        let a = AccessLog::shared_to_log().unwrap();
        let b = AccessLog::shared_to_log().unwrap();
        assert!(Arc::ptr_eq(&a.shared, &b.shared));
    }
}
