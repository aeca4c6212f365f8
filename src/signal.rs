//! Port of what Ctrl-C does to a Python server: stop the loop on SIGINT or SIGTERM.
//!
//! Python: Ctrl-C raises `KeyboardInterrupt` inside `select()` and a `finally:` closes
//! the sockets; asyncio servers write `loop.add_signal_handler(signal.SIGTERM, loop.stop)`.
//! A Rust process has no exception to raise: SIGINT and SIGTERM simply kill it, with no
//! chance to close connections or say goodbye, unless it installs a handler. A handler may
//! do almost nothing (only async-signal-safe calls), so this module does what every server
//! does: a small thread waits for the signal (through `signal-hook`'s self-pipe) and calls
//! [`Stop::stop`], which wakes the loop; `run` then returns normally and the program ends
//! its own way.
//!
//! The first signal stops the loops. A second one (the user pressing Ctrl-C again because
//! shutdown hangs) ends the process at once, as the signal's default action would: a
//! server that cannot finish stopping can still be interrupted.
//!
//! For an [`EventLoop`](crate::event_loop::EventLoop), call its
//! [`stop_on_ctrl_c`](crate::event_loop::EventLoop::stop_on_ctrl_c).

use std::io;
use std::thread;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::Stop;

/// Stops the loop of `stop` on the first SIGINT (Ctrl-C) or SIGTERM (`kill`, a service
/// manager); see the [module](self) for what a second one does.
///
/// Python: `loop.add_signal_handler(signal.SIGINT, loop.stop)`, and the same for SIGTERM.
///
/// Call it once per process: each call adds a watcher, and every watcher sees every
/// signal (for several loops, use [`stop_all_on_ctrl_c`]).
///
/// # Errors
/// The OS error installing the handlers or starting the thread.
///
/// # Examples
///
/// ```no_run
/// use mio_selectors::event_loop::EventLoop;
///
/// # fn main() -> std::io::Result<()> {
/// let mut lp = EventLoop::new(())?;
/// // ... listen_tcp, connect_tcp ...
/// mio_selectors::signal::stop_on_ctrl_c(lp.handle().stop_handle())?;
/// lp.run()?; // returns after Ctrl-C
/// # Ok(())
/// # }
/// ```
pub fn stop_on_ctrl_c(stop: Stop) -> io::Result<()> {
    stop_all_on_ctrl_c(vec![stop])
}

/// [`stop_on_ctrl_c`] for several loops at once (a loop per thread): the first signal
/// stops them all.
///
/// # Errors
/// As [`stop_on_ctrl_c`].
pub fn stop_all_on_ctrl_c(stops: Vec<Stop>) -> io::Result<()> {
    // Act first, log after: writing a log line blocks while nobody reads stderr (a paused
    // terminal), and a stop must not wait for that.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut stopped = false;
            for signal in signals.forever() {
                if !stopped {
                    stops.iter().for_each(Stop::stop);
                    stopped = true;
                    log::info!("signal {} received; stopping", name(signal));
                } else {
                    // Python: a second Ctrl-C raises KeyboardInterrupt again, wherever the
                    // shutdown was. Here the default action: the process ends, with no log
                    // line first, since the shutdown it cuts short may be stuck on one.
                    if let Err(err) = signal_hook::low_level::emulate_default_handler(signal) {
                        log::error!("cannot end the process on signal {signal}: {err}");
                    }
                }
            }
        })?;
    Ok(())
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "?",
    }
}
