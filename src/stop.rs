//! A handle that asks a selector loop to stop, from any thread or a signal-handling thread.
//!
//! Python: none in `selectors`. A Python server stops when Ctrl-C raises
//! `KeyboardInterrupt` inside `select()`; Rust has no exceptions to raise there, so the loop
//! checks a flag, and [`Stop::stop`] sets it and wakes the loop through the selector's
//! [waker](crate::Selector::waker) so it notices at once, not at the next timeout.

use std::fmt;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::Result;
use crate::selector::Selector;

/// Asks a loop to stop. Cheap to clone; every clone stops the same loop.
///
/// Python: none; `KeyboardInterrupt` raised inside `select()` plays its part.
///
/// # Examples
///
/// ```
/// use mio_selectors::{Selector, Stop};
/// use std::net::TcpStream;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sel: Selector<TcpStream> = Selector::new()?;
/// let stop = Stop::new(&mut sel)?;
/// let remote = stop.clone();
/// std::thread::spawn(move || remote.stop());
/// while !stop.is_stopped() {
///     sel.select(None)?; // returns early once `remote.stop()` wakes it
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Stop {
    stopped: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

impl Stop {
    /// A stop handle for the loop that runs `sel`.
    ///
    /// Python: none (see the type's docs). Uses the selector's one [waker](Selector::waker).
    ///
    /// # Errors
    /// As [`Selector::waker`].
    pub fn new<S: AsRawFd, T>(sel: &mut Selector<S, T>) -> Result<Stop> {
        Ok(Stop {
            stopped: Arc::new(AtomicBool::new(false)),
            waker: sel.waker()?,
        })
    }

    /// Asks the loop to stop, and wakes it if it is waiting in `select()`.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Err(err) = self.waker.wake() {
            // Only possible if the selector was closed: its loop is over anyway.
            log::debug!("stop: could not wake the loop: {err}");
        }
    }

    /// Wakes the loop without asking it to stop (the protocol layer's thread-safe calls).
    pub(crate) fn wake(&self) {
        if let Err(err) = self.waker.wake() {
            log::debug!("wake: could not wake the loop: {err}");
        }
    }

    /// Clears the flag once the loop has stopped, so that it can be run again.
    pub(crate) fn reset(&self) {
        self.stopped.store(false, Ordering::SeqCst);
    }

    /// True once [`stop`](Self::stop) has been called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}
