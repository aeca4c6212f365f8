//! Port of `loop.run_in_executor(executor, func)`: a bounded pool of worker threads for
//! work too slow for the loop's thread (a bcrypt check, a blocking `getaddrinfo`), whose
//! results come back as callbacks *on* the loop.
//!
//! Python: `run_in_executor` submits `func` to a `concurrent.futures.ThreadPoolExecutor`
//! and the result crosses back with `loop.call_soon_threadsafe`. Here too: a worker runs
//! the job, then hands the result to the loop through its [`LoopHandle`], and the loop
//! runs the completion at its next iteration, one callback at a time like every other.
//!
//! Four departures from Python, each for a server under load:
//!
//! * **Bounded.** asyncio's default executor has an unbounded queue, so a flood of slow
//!   jobs grows memory and latency without limit. Here a pool takes at most `workers +
//!   queue` jobs (running plus waiting); one more is refused at once with
//!   [`PoolError::Full`], which a server maps to `503` with `Retry-After` (nginx's
//!   `thread_pool max_queue`). The count lives on the loop's thread (a job is counted when
//!   it is submitted and uncounted when its completion runs there), so it needs no atomics.
//! * **Tied to a connection.** [`Context::run_in_pool`](super::Context::run_in_pool) stops
//!   reading from the connection while its job runs, keeps the layer's idle timeout from
//!   firing, and delivers the result to the protocol's
//!   [`work_done`](super::Protocol::work_done). A connection that goes away first never
//!   hears of it; a job still *waiting* for a worker when its connection goes is skipped
//!   (libuv's `uv_cancel`), so abandoned requests do not burn the pool's time.
//! * **Stopped with the loop.** Dropping the [`EventLoop`](super::EventLoop) drops its
//!   pools: waiting jobs are dropped, running ones finish (a thread cannot be interrupted)
//!   and their results are discarded, and every thread then exits. Python:
//!   `loop.close()` calls `executor.shutdown(wait=False)`.
//! * **Below the loop.** On Linux a pool's threads run at a lower scheduling priority
//!   than the thread that started them (nice +10 by default, [`PoolConfig::nice`]), so
//!   when the CPUs are short the kernel hands them to the loop first: a burst of bcrypt
//!   checks delays other checks, not every client's static request. Operating systems
//!   offer the same for background work (Windows' `THREAD_MODE_BACKGROUND_BEGIN`, the
//!   `QOS_CLASS_UTILITY` of macOS's dispatch queues).

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::sync::{Arc, Condvar, Mutex};

use log::{debug, error};

use super::context::LoopContext;
use super::handle::LoopHandle;
use super::{ConnId, Core, LoopStats};

/// Names a worker pool of a loop; from [`EventLoop::add_pool`](super::EventLoop::add_pool).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolId(pub(crate) usize);

/// How a worker pool is set up, for
/// [`EventLoop::add_pool_with`](super::EventLoop::add_pool_with);
/// [`add_pool(workers, queue)`](super::EventLoop::add_pool) is
/// `add_pool_with(PoolConfig::new(workers, queue))`.
///
/// Python: the arguments of `concurrent.futures.ThreadPoolExecutor`; it has no priority
/// (an `initializer` could call `os.setpriority(os.PRIO_PROCESS,
/// threading.get_native_id(), n)`).
///
/// # Examples
///
/// ```
/// use mio_selectors::event_loop::{EventLoop, PoolConfig};
///
/// # fn main() -> std::io::Result<()> {
/// let mut lp = EventLoop::new(())?;
/// // 2 threads, 64 jobs may wait, 5 nice levels below the loop's thread.
/// let pool = lp.add_pool_with(PoolConfig::new(2, 64).nice(5))?;
/// # let _ = pool;
/// # Ok(())
/// # }
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    workers: usize,
    queue: usize,
    nice: u8,
}

impl PoolConfig {
    /// How many nice levels a pool's threads run below the thread that starts the pool,
    /// unless [`nice`](Self::nice) says otherwise.
    pub const DEFAULT_NICE: u8 = 10;

    /// `workers` threads (at least one), room for `queue` jobs waiting beside the running
    /// ones, [`DEFAULT_NICE`](Self::DEFAULT_NICE) levels below the loop.
    pub fn new(workers: usize, queue: usize) -> PoolConfig {
        PoolConfig {
            workers,
            queue,
            nice: PoolConfig::DEFAULT_NICE,
        }
    }

    /// Runs the pool's threads `increment` nice levels below the thread that starts the
    /// pool (capped at 19, the lowest); 0 runs them at its priority. Python:
    /// `os.nice(increment)`, but for the pool's threads only.
    ///
    /// Linux only, where `setpriority(PRIO_PROCESS, gettid(), ...)` acts on one thread
    /// (POSIX says it acts on the process, as it does elsewhere: there the pool's threads
    /// keep the loop's priority). A thread may always lower its own priority; where even
    /// that is refused (a seccomp filter), the pool runs at the loop's priority and says
    /// so once in the log at debug level.
    ///
    /// Why nice and not another policy: a thread at nice +10 weighs 110 against the
    /// loop's 1024 in the kernel's fair scheduler, so the kernel runs the loop ahead of it when it wakes
    /// and gets ~90 % of a CPU they share, yet the pool still gets its share when the loop
    /// is busy. `SCHED_IDLE` would starve the pool outright under a busy loop (a check
    /// could wait forever); `SCHED_BATCH` only gives up preempting others on wakeup and
    /// keeps the same weight, so the loop would still share a CPU equally with them.
    pub fn nice(mut self, increment: u8) -> PoolConfig {
        self.nice = increment;
        self
    }
}

/// Names one job submitted with [`Context::run_in_pool`](super::Context::run_in_pool), so a
/// protocol with several jobs out can tell their results apart.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkId(pub(crate) u64);

/// Why a job was not taken.
///
/// Python: none; asyncio's default executor queues without limit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// Every worker is busy and the queue is full: `limit` jobs (running plus waiting) are
    /// already in the pool. Try again later (an HTTP server answers 503 with `Retry-After`).
    Full {
        /// The pool's bound: workers plus queue places.
        limit: usize,
    },
    /// The id names no pool of this loop.
    Unknown,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Full { limit } => write!(f, "the worker pool is full ({limit} jobs)"),
            PoolError::Unknown => f.write_str("no such worker pool"),
        }
    }
}

impl std::error::Error for PoolError {}

/// The job panicked; its result is lost. The worker thread goes on with the next job.
///
/// Python: the future's exception, re-raised by `await`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WorkPanicked;

impl fmt::Display for WorkPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the job panicked")
    }
}

impl std::error::Error for WorkPanicked {}

/// Why [`Done::take`] gave no value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WorkFailed {
    /// The job panicked.
    Panicked,
    /// The job returned another type than the one asked for.
    WrongType,
}

impl fmt::Display for WorkFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkFailed::Panicked => f.write_str("the job panicked"),
            WorkFailed::WrongType => f.write_str("the job returned another type"),
        }
    }
}

impl std::error::Error for WorkFailed {}

/// A job's result, delivered to [`Protocol::work_done`](super::Protocol::work_done).
///
/// The loop holds protocols of many types behind one trait, so the value travels as
/// `Box<dyn Any>`; [`take`](Self::take) gives it back as the type the job returned.
///
/// Python: the `concurrent.futures.Future` that `run_in_executor` wraps.
pub struct Done {
    pub(crate) id: WorkId,
    pub(crate) outcome: Result<Box<dyn Any + Send>, WorkPanicked>,
}

impl Done {
    /// Which job this is: what [`Context::run_in_pool`](super::Context::run_in_pool) returned.
    pub fn id(&self) -> WorkId {
        self.id
    }

    /// The job's return value. Python: `future.result()`.
    ///
    /// # Errors
    /// [`WorkFailed::Panicked`] if the job panicked, [`WorkFailed::WrongType`] if it
    /// returned something other than a `T`.
    pub fn take<T: 'static>(self) -> Result<T, WorkFailed> {
        let value = self.outcome.map_err(|WorkPanicked| WorkFailed::Panicked)?;
        value
            .downcast::<T>()
            .map(|value| *value)
            .map_err(|_| WorkFailed::WrongType)
    }
}

impl fmt::Debug for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done")
            .field("id", &self.id)
            .field("panicked", &self.outcome.is_err())
            .finish_non_exhaustive()
    }
}

/// What a worker runs: the job and the hand-back of its result, boxed together (the pool
/// itself knows nothing of the loop's application type).
type Task = Box<dyn FnOnce() + Send>;

/// What the loop and the pool's threads share.
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

struct QueueState {
    tasks: VecDeque<Task>,
    shutdown: bool,
}

/// A pool as the loop keeps it.
pub(crate) struct Pool {
    queue: Arc<Queue>,
    /// Workers plus queue places: the most jobs in the pool at once.
    limit: usize,
    /// Jobs submitted whose completion has not yet run on the loop. Only the loop's thread
    /// touches it.
    pub(crate) in_flight: usize,
}

impl Pool {
    /// Starts `config.workers` threads with room for `config.queue` waiting jobs.
    pub(crate) fn start(
        index: usize,
        config: PoolConfig,
        stats: &Arc<LoopStats>,
    ) -> io::Result<Pool> {
        let PoolConfig {
            workers,
            queue,
            nice,
        } = config;
        if workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a worker pool needs at least one thread",
            ));
        }
        let pool = Pool {
            queue: Arc::new(Queue {
                state: Mutex::new(QueueState {
                    tasks: VecDeque::new(),
                    shutdown: false,
                }),
                ready: Condvar::new(),
            }),
            limit: workers.saturating_add(queue),
            in_flight: 0,
        };
        for n in 0..workers {
            let queue = Arc::clone(&pool.queue);
            let counted = Arc::clone(stats);
            stats.pool_threads.fetch_add(1, Ordering::Relaxed);
            let spawned = std::thread::Builder::new()
                .name(format!("pool{index}-{n}"))
                .spawn(move || {
                    lower_priority(nice);
                    work(&queue);
                    counted.pool_threads.fetch_sub(1, Ordering::Relaxed);
                });
            if let Err(err) = spawned {
                stats.pool_threads.fetch_sub(1, Ordering::Relaxed);
                // Dropping `pool` stops the threads already started.
                return Err(err);
            }
        }
        Ok(pool)
    }

    /// Queues a task if the pool has room; the loop counts it in flight until its
    /// completion runs.
    pub(crate) fn submit(&mut self, task: Task, stats: &LoopStats) -> Result<(), PoolError> {
        if self.in_flight >= self.limit {
            stats.pool_rejected.fetch_add(1, Ordering::Relaxed);
            return Err(PoolError::Full { limit: self.limit });
        }
        self.in_flight += 1;
        stats.pool_jobs.fetch_add(1, Ordering::Relaxed);
        lock(&self.queue.state).tasks.push_back(task);
        self.queue.ready.notify_one();
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let waiting = {
            let mut state = lock(&self.queue.state);
            state.shutdown = true;
            std::mem::take(&mut state.tasks)
        };
        self.queue.ready.notify_all();
        if !waiting.is_empty() {
            debug!(
                "worker pool stopped: {} waiting jobs dropped",
                waiting.len()
            );
        }
        // Dropped outside the lock: a task's captures may be anything.
        drop(waiting);
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("limit", &self.limit)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

/// A worker thread: take a task, run it, until the pool is dropped.
fn work(queue: &Queue) {
    loop {
        let task = {
            let mut state = lock(&queue.state);
            loop {
                if state.shutdown {
                    return;
                }
                if let Some(task) = state.tasks.pop_front() {
                    break task;
                }
                state = queue
                    .ready
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        // The task catches the job's own panic; this one would be the hand-back's, which
        // must not take the thread (and the pool's capacity) with it either.
        if catch_unwind(AssertUnwindSafe(task)).is_err() {
            error!("a worker pool task panicked outside its job; the worker goes on");
        }
    }
}

/// Lowers the calling thread's priority by `increment` nice levels (at most to 19); if
/// the OS refuses, says so once per process at debug level and goes on: the pool works
/// the same, only without the loop's precedence.
fn lower_priority(increment: u8) {
    static TOLD: Once = Once::new();
    if increment == 0 {
        return;
    }
    if let Err(err) = set_thread_nice(increment) {
        TOLD.call_once(|| {
            debug!("worker pool threads run at the loop's priority: cannot lower it ({err})");
        });
    }
}

/// Linux's `setpriority(PRIO_PROCESS, tid)` acts on that one thread, and a thread
/// inherits its creator's nice value, so this is relative to the thread that started the
/// pool (normally the loop's).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_thread_nice(increment: u8) -> io::Result<()> {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    let now = getpriority_process(me)?;
    setpriority_process(me, now.saturating_add(i32::from(increment)).min(19))?;
    Ok(())
}

/// Elsewhere `setpriority(PRIO_PROCESS, ...)` would lower the whole process, loop and all.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_thread_nice(_increment: u8) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "per-thread nice values are Linux's",
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Builds the task a worker runs: the job (skipped if `cancelled` is set by then), then
/// the hand-back of its result to the loop, where `finish` runs with it (`None` for a
/// skipped job). If the loop is gone by then, the result is dropped.
pub(crate) fn task<S, T, W, F>(
    handle: LoopHandle<S>,
    cancelled: Option<Arc<AtomicBool>>,
    job: W,
    finish: F,
) -> Task
where
    S: 'static,
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    F: FnOnce(&mut LoopContext<'_, S>, Option<Result<T, WorkPanicked>>) + Send + 'static,
{
    Box::new(move || {
        let skipped = cancelled.is_some_and(|flag| flag.load(Ordering::Acquire));
        let outcome = if skipped {
            None
        } else {
            Some(catch_unwind(AssertUnwindSafe(job)).map_err(|_| WorkPanicked))
        };
        // Err only if the loop was dropped: then nobody wants the result.
        let _ = handle.call_soon_threadsafe(move |ctx| finish(ctx, outcome));
    })
}

impl<S: 'static> Core<S> {
    /// Starts a pool as `config` says.
    pub(crate) fn add_pool(&mut self, config: PoolConfig) -> io::Result<PoolId> {
        let index = self.pools.len();
        let pool = Pool::start(index, config, &self.state.stats)?;
        self.pools.push(pool);
        Ok(PoolId(index))
    }

    /// Hands `job` to `pool`; `finish` runs on the loop with its outcome (`None`: skipped,
    /// its `cancelled` flag was set before a worker took it).
    fn submit<T, W, F>(
        &mut self,
        pool: PoolId,
        cancelled: Option<Arc<AtomicBool>>,
        job: W,
        finish: F,
    ) -> Result<(), PoolError>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        F: FnOnce(&mut LoopContext<'_, S>, Option<Result<T, WorkPanicked>>) + Send + 'static,
    {
        let handle = LoopHandle::new(&self.shared);
        let Some(target) = self.pools.get_mut(pool.0) else {
            return Err(PoolError::Unknown);
        };
        let task = task(handle, cancelled, job, move |ctx, outcome| {
            if let Some(pool) = ctx.core.pools.get_mut(pool.0) {
                pool.in_flight -= 1;
            }
            finish(ctx, outcome);
        });
        target.submit(task, &self.state.stats)
    }

    /// [`LoopContext::run_in_executor`].
    pub(crate) fn run_in_executor<T, W, D>(
        &mut self,
        pool: PoolId,
        job: W,
        done: D,
    ) -> Result<(), PoolError>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        D: FnOnce(&mut LoopContext<'_, S>, Result<T, WorkPanicked>) + Send + 'static,
    {
        self.submit(pool, None, job, move |ctx, outcome| {
            if let Some(outcome) = outcome {
                done(ctx, outcome);
            }
        })
    }

    /// [`Context::run_in_pool`](super::Context::run_in_pool) for connection `id`.
    pub(crate) fn run_in_pool<T, W>(
        &mut self,
        id: ConnId,
        pool: PoolId,
        job: W,
    ) -> Result<WorkId, PoolError>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
    {
        let cancelled = match self.stream_mut(id) {
            Some(conn) => Arc::clone(conn.work_cancelled.get_or_insert_with(Default::default)),
            // Only a connection's own callback calls this, and its entry lives until then.
            None => return Err(PoolError::Unknown),
        };
        let work = WorkId(self.state.last_work + 1);
        self.submit(pool, Some(cancelled), job, move |ctx, outcome| {
            ctx.core.work_returned(id, work, outcome);
        })?;
        self.state.last_work += 1;
        if let Some(conn) = self.stream_mut(id) {
            conn.pending_work += 1;
        }
        self.mark_dirty(id); // no read interest while the job runs
        Ok(work)
    }

    /// A connection's job is back: resume reading, and hand the result to its protocol
    /// unless the connection is gone or going.
    fn work_returned<T: Send + 'static>(
        &mut self,
        id: ConnId,
        work: WorkId,
        outcome: Option<Result<T, WorkPanicked>>,
    ) {
        let Some(conn) = self.stream_mut(id) else {
            return; // closed meanwhile: nobody to tell (ids are never reused)
        };
        conn.pending_work -= 1;
        if conn.pending_work == 0 {
            conn.work_peeked = false;
        }
        let live = conn.lost.is_none();
        self.mark_dirty(id);
        if let (true, Some(outcome)) = (live, outcome) {
            let done = Done {
                id: work,
                outcome: outcome.map(|value| Box::new(value) as Box<dyn Any + Send>),
            };
            self.call_stream(id, |p, ctx| p.work_done(ctx, done));
        }
    }
}
