//! Port of `loop.call_soon_threadsafe()` and `loop.stop()` from other threads.
//!
//! Python: asyncio appends the callback to its ready queue under the GIL and writes a byte
//! to a self-pipe so that `select()` returns. Here the queue is a `Mutex<VecDeque>` and the
//! wake-up is the selector's mio [`Waker`](mio::Waker) (an eventfd), through the crate's
//! [`Stop`]. Wake-ups coalesce (several `wake()`s may be one event), so the loop takes
//! everything queued each time it looks, up to a bound per iteration.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::context::LoopContext;
use crate::Stop;

/// A job sent from another thread.
pub(crate) type Job<S> = Box<dyn FnOnce(&mut LoopContext<'_, S>) + Send>;

/// What the loop and its handles share.
pub(crate) struct Shared<S> {
    pub(crate) queue: Mutex<VecDeque<Job<S>>>,
    /// Set by `EventLoop`'s drop, under the queue's lock: jobs sent after it would never
    /// run. Read under the same lock by `call_soon_threadsafe`, so that no job slips in
    /// between the drop's last look at the queue and the flag (check-then-push).
    pub(crate) closed: AtomicBool,
    pub(crate) stop: Stop,
}

impl<S> Shared<S> {
    /// The loop is gone: refuse further jobs and drop those still queued, so that what
    /// they hold (a channel's sender, a reply slot) is released and whoever waits on it
    /// hears so instead of waiting forever. Python: `loop.close()` clears `_ready`.
    pub(crate) fn close(&self) {
        let jobs = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            self.closed.store(true, Ordering::Release);
            std::mem::take(&mut *queue)
        };
        // Dropped outside the lock: a job's captures may run code that sends another job
        // (and gets `LoopClosed`) when dropped.
        drop(jobs);
    }
}

/// The loop has been dropped; the job was not queued. Python: `RuntimeError('Event loop
/// is closed')`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopClosed;

impl fmt::Display for LoopClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event loop is closed")
    }
}

impl std::error::Error for LoopClosed {}

/// Schedules work on a loop, or stops it, from any thread. Cheap to clone.
///
/// Python: `loop.call_soon_threadsafe(callback)` and `loop.call_soon_threadsafe(loop.stop)`.
///
/// # Examples
///
/// ```
/// use mio_selectors::event_loop::EventLoop;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut lp = EventLoop::new(0u32)?;
/// let handle = lp.handle();
/// let worker = std::thread::spawn(move || {
///     handle.call_soon_threadsafe(|ctx| *ctx.app() += 1)?;
///     handle.call_soon_threadsafe(|ctx| ctx.stop())
/// });
/// lp.run()?; // returns once the other thread's stop has run
/// worker.join().unwrap()?;
/// assert_eq!(*lp.app(), 1);
/// # Ok(())
/// # }
/// ```
pub struct LoopHandle<S> {
    shared: Arc<Shared<S>>,
}

impl<S> LoopHandle<S> {
    pub(crate) fn new(shared: &Arc<Shared<S>>) -> LoopHandle<S> {
        LoopHandle {
            shared: Arc::clone(shared),
        }
    }

    /// Runs `f` on the loop's thread, at its next iteration, with the loop's context.
    /// Jobs run in the order they were sent.
    ///
    /// A job still queued when the loop is dropped is dropped with it (never run), so
    /// what it captured is released.
    ///
    /// # Errors
    /// [`LoopClosed`] if the loop has been dropped; `f` is dropped, not run.
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce(&mut LoopContext<'_, S>) + Send + 'static,
    ) -> Result<(), LoopClosed> {
        let job: Job<S> = Box::new(f);
        {
            let mut queue = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Checked under the lock the loop's drop takes to set it: a job is either
            // queued before the drop empties the queue, or refused.
            if self.shared.closed.load(Ordering::Acquire) {
                drop(queue);
                drop(job); // outside the lock, as in `Shared::close`
                return Err(LoopClosed);
            }
            queue.push_back(job);
        }
        self.shared.stop.wake();
        Ok(())
    }

    /// Stops the loop after its current iteration; [`EventLoop::run`](super::EventLoop::run)
    /// then returns. Python: `loop.call_soon_threadsafe(loop.stop)`.
    pub fn stop(&self) {
        self.shared.stop.stop();
    }

    /// The crate's [`Stop`] handle for the same loop, for code that takes one (the
    /// examples' Ctrl-C handler).
    pub fn stop_handle(&self) -> Stop {
        self.shared.stop.clone()
    }
}

impl<S> Clone for LoopHandle<S> {
    fn clone(&self) -> Self {
        LoopHandle::new(&self.shared)
    }
}

impl<S> fmt::Debug for LoopHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
