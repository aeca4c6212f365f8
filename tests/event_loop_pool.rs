//! The protocol layer's worker pools (src/event_loop/pool.rs) through its public API, over
//! real sockets on 127.0.0.1: `run_in_executor` hands results back on the loop's thread; a
//! full pool refuses at once; a connection stops reading while its job runs and resumes
//! after; a connection that goes first never hears of its job, and its waiting job is
//! skipped; a panicking job is reported; dropping the loop stops the threads; the threads
//! run the configured number of nice levels below the loop's (Linux).
//!
//! Jobs block on a [`Gate`] the test opens, so "running" and "waiting" are states the test
//! controls, not races it hopes to win; every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio_selectors::event_loop::{
    Context, Done, EventLoop, Lost, PoolConfig, PoolError, PoolId, Protocol, WorkFailed,
};

use common::event_loop::{connect, Log, Running, IO_TIMEOUT};

/// Jobs wait here until the test opens it (at most 10 s, so a failing test cannot hang).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    fn wait(&self) {
        let (lock, cond) = &*self.0;
        let guard = lock.lock().unwrap();
        let _ = cond
            .wait_timeout_while(guard, IO_TIMEOUT, |open| !*open)
            .unwrap();
    }
}

/// `job NAME` hands a job to the pool (it logs `running NAME`, waits for the gate, and
/// returns NAME's length); `boom` hands one that panics; anything else is logged and
/// echoed.
struct Checker {
    log: Log,
    gate: Gate,
    pool: PoolId,
}

impl Protocol for Checker {
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        let text = String::from_utf8_lossy(data).trim().to_owned();
        if let Some(name) = text.strip_prefix("job ") {
            let (log, gate, name) = (self.log.clone(), self.gate.clone(), name.to_owned());
            let job_name = name.clone();
            let submitted = ctx.run_in_pool(self.pool, move || {
                log.push(format!("running {job_name}"));
                gate.wait();
                job_name.len()
            });
            match submitted {
                Ok(_) => {
                    let reading = ctx.transport().is_reading();
                    self.log.push(format!("submitted {name} reading={reading}"));
                }
                Err(PoolError::Full { limit }) => {
                    self.log.push(format!("full {name} limit={limit}"));
                    let _ = ctx.write(b"full\n");
                }
                Err(other) => self.log.push(format!("error {other}")),
            }
        } else if text == "boom" {
            let _ = ctx.run_in_pool(self.pool, || -> u8 { panic!("a job that panics") });
        } else {
            self.log.push(format!("data {text}"));
            let _ = ctx.write(data);
        }
    }

    fn work_done(&mut self, ctx: &mut Context<'_>, done: Done) {
        let reading = ctx.transport().is_reading();
        match done.take::<usize>() {
            Ok(len) => {
                self.log.push(format!("done {len} reading={reading}"));
                let _ = ctx.write(format!("done {len}\n").as_bytes());
            }
            Err(WorkFailed::Panicked) => self.log.push("done panicked"),
            Err(WorkFailed::WrongType) => self.log.push("done wrong type"),
        }
    }

    fn timed_out(&mut self, _ctx: &mut Context<'_>) {
        self.log.push("timed out");
    }

    fn connection_lost(&mut self, _ctx: &mut Context<'_>, reason: Lost) {
        self.log.push(format!("lost {reason}"));
    }
}

/// A loop with one pool of `workers` threads and `queue` places, serving [`Checker`]s.
fn serve(workers: usize, queue: usize, log: &Log, gate: &Gate) -> (Running, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut lp = EventLoop::new(()).unwrap();
    let pool = lp.add_pool(workers, queue).unwrap();
    let (log, gate) = (log.clone(), gate.clone());
    lp.listen_tcp(listener, move || Checker {
        log: log.clone(),
        gate: gate.clone(),
        pool,
    })
    .unwrap();
    (Running::start(lp), addr)
}

fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.last() != Some(&b'\n') {
        match stream.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            other => panic!("reading a line: {other:?} after {line:?}"),
        }
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn run_in_executor_runs_the_job_off_the_loop_and_the_result_on_it() {
    common::init();
    let mut lp = EventLoop::new(Vec::<String>::new()).unwrap();
    let pool = lp.add_pool(2, 4).unwrap();
    let loop_thread = thread::current().id();
    lp.context()
        .run_in_executor(
            pool,
            move || thread::current().id() != loop_thread,
            move |ctx, result| {
                let on_loop = thread::current().id() == loop_thread;
                ctx.app()
                    .push(format!("off loop {:?}, done on loop {on_loop}", result));
                ctx.stop();
            },
        )
        .unwrap();
    let stop = lp.handle();
    let watchdog = thread::spawn(move || {
        thread::sleep(IO_TIMEOUT);
        stop.stop(); // a failing test ends instead of hanging
    });
    lp.run().unwrap();
    assert_eq!(
        lp.app(),
        &["off loop Ok(true), done on loop true".to_owned()]
    );
    assert_eq!(lp.stats().pool_jobs(), 1);
    drop(watchdog);
}

#[test]
fn a_full_pool_refuses_at_once_and_takes_jobs_again_once_they_finish() {
    common::init();
    let (log, gate) = (Log::default(), Gate::default());
    let (running, addr) = serve(1, 2, &log, &gate);
    let mut clients: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    // One running, two waiting: the pool's bound is workers + queue = 3.
    for (i, client) in clients.iter_mut().enumerate().take(3) {
        client.write_all(format!("job j{i}\n").as_bytes()).unwrap();
        log.wait_for_line(&format!("submitted j{i} reading=false"));
    }
    log.wait_for_line("running j0");
    clients[3].write_all(b"job j3\n").unwrap();
    assert_eq!(read_line(&mut clients[3]), "full\n", "refused at once");
    let lines = log.wait_for_line("full j3 limit=3");
    assert!(
        !lines.iter().any(|l| l == "running j1"),
        "one worker: {lines:?}"
    );
    assert_eq!(running.stats.pool_rejected(), 1);

    gate.open();
    for (i, client) in clients.iter_mut().enumerate().take(3) {
        assert_eq!(
            read_line(client),
            format!("done {}\n", format!("j{i}").len())
        );
    }
    // Room again: the refused client's next job is taken and runs.
    clients[3].write_all(b"job again\n").unwrap();
    assert_eq!(read_line(&mut clients[3]), "done 5\n");
    assert_eq!(running.stats.pool_jobs(), 4);
    running.stop().expect("run");
}

#[test]
fn a_connection_reads_nothing_while_its_job_runs_and_resumes_after() {
    common::init();
    let (log, gate) = (Log::default(), Gate::default());
    let (running, addr) = serve(1, 4, &log, &gate);
    let mut client = connect(addr);
    client.write_all(b"job first\n").unwrap();
    log.wait_for_line("running first");
    client.write_all(b"second\n").unwrap();
    // A round trip on another connection, sent after "second" was in this connection's
    // socket: the loop has selected since, and would have read "second" were it reading.
    let mut other = connect(addr);
    other.write_all(b"ping\n").unwrap();
    assert_eq!(read_line(&mut other), "ping\n");
    assert!(
        !log.lines().iter().any(|l| l == "data second"),
        "read while its job ran: {:?}",
        log.lines()
    );
    gate.open();
    assert_eq!(read_line(&mut client), "done 5\n");
    assert_eq!(read_line(&mut client), "second\n");
    let lines = log.lines();
    let at = |line: &str| lines.iter().position(|l| l == line).unwrap();
    assert!(at("submitted first reading=false") < at("done 5 reading=true"));
    assert!(at("done 5 reading=true") < at("data second"), "{lines:?}");
    running.stop().expect("run");
}

#[test]
fn a_connection_that_goes_first_never_gets_its_result_and_its_waiting_job_is_skipped() {
    common::init();
    let (log, gate) = (Log::default(), Gate::default());
    let (running, addr) = serve(1, 4, &log, &gate);
    // `a`'s job runs (blocked at the gate); `b`'s waits behind it.
    let mut a = connect(addr);
    a.write_all(b"job a\n").unwrap();
    log.wait_for_line("running a");
    let mut b = connect(addr);
    b.write_all(b"job bb\n").unwrap();
    log.wait_for_line("submitted bb reading=false");
    // Both leave before their results.
    drop(a);
    drop(b);
    let lines = log.lines();
    let deadline = Instant::now() + IO_TIMEOUT;
    while log.lines().iter().filter(|l| l.starts_with("lost")).count() < 2 {
        assert!(Instant::now() < deadline, "no two losses in {lines:?}");
        thread::sleep(Duration::from_millis(2));
    }
    gate.open();
    // A third job, queued after `b`'s: once it is done, `b`'s would have run before it.
    let mut c = connect(addr);
    c.write_all(b"job ccc\n").unwrap();
    assert_eq!(read_line(&mut c), "done 3\n");
    let lines = log.lines();
    assert!(!lines.iter().any(|l| l == "running bb"), "{lines:?}");
    assert!(
        !lines
            .iter()
            .any(|l| l == "done 1 reading=true" || l == "done 2 reading=true"),
        "a result reached a closed connection: {lines:?}"
    );
    assert!(lines.iter().any(|l| l == "running a"));
    running.stop().expect("run");
}

#[test]
fn a_panicking_job_is_reported_and_the_worker_goes_on() {
    common::init();
    let (log, gate) = (Log::default(), Gate::default());
    gate.open();
    let (running, addr) = serve(1, 1, &log, &gate);
    let mut client = connect(addr);
    client.write_all(b"boom\n").unwrap();
    log.wait_for_line("done panicked");
    client.write_all(b"job after\n").unwrap();
    assert_eq!(read_line(&mut client), "done 5\n");
    running.stop().expect("run");
}

#[test]
fn dropping_the_loop_stops_its_threads_and_drops_late_results() {
    common::init();
    let (log, gate) = (Log::default(), Gate::default());
    let (running, addr) = serve(3, 4, &log, &gate);
    let stats = Arc::clone(&running.stats);
    assert_eq!(stats.pool_threads(), 3);
    let mut client = connect(addr);
    client.write_all(b"job late\n").unwrap();
    log.wait_for_line("running late");
    running.stop().expect("run"); // the loop is dropped on its thread
                                  // The idle threads are gone; the busy one finishes its job, then goes too.
    let deadline = Instant::now() + IO_TIMEOUT;
    while stats.pool_threads() > 1 {
        assert!(
            Instant::now() < deadline,
            "{} threads",
            stats.pool_threads()
        );
        thread::sleep(Duration::from_millis(2));
    }
    gate.open();
    while stats.pool_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} threads",
            stats.pool_threads()
        );
        thread::sleep(Duration::from_millis(2));
    }
    assert!(!log.lines().iter().any(|l| l.starts_with("done")));
}

/// The layer's idle timeout does not count the time a connection waits for its job.
struct Idle {
    inner: Checker,
    idle: Duration,
}

impl Protocol for Idle {
    fn connection_made(&mut self, ctx: &mut Context<'_>) {
        ctx.transport().set_idle_timeout(Some(self.idle));
    }
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        self.inner.data_received(ctx, data);
    }
    fn work_done(&mut self, ctx: &mut Context<'_>, done: Done) {
        self.inner.work_done(ctx, done);
    }
    fn timed_out(&mut self, ctx: &mut Context<'_>) {
        self.inner.timed_out(ctx);
    }
    fn connection_lost(&mut self, ctx: &mut Context<'_>, reason: Lost) {
        self.inner.connection_lost(ctx, reason);
    }
}

#[test]
fn the_idle_timeout_waits_while_a_job_runs() {
    common::init();
    let (log, gate) = (Log::default(), Gate::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut lp = EventLoop::new(()).unwrap();
    let pool = lp.add_pool(1, 1).unwrap();
    let (l, g) = (log.clone(), gate.clone());
    let idle = Duration::from_millis(100);
    lp.listen_tcp(listener, move || Idle {
        inner: Checker {
            log: l.clone(),
            gate: g.clone(),
            pool,
        },
        idle,
    })
    .unwrap();
    let running = Running::start(lp);
    let mut client = connect(addr);
    client.write_all(b"job slow\n").unwrap();
    log.wait_for_line("running slow");
    // Five idle periods pass while the job runs; the connection must still be there.
    let until = Instant::now() + idle * 5;
    while Instant::now() < until {
        assert!(
            !log.lines().iter().any(|l| l == "timed out"),
            "{:?}",
            log.lines()
        );
        thread::sleep(Duration::from_millis(10));
    }
    gate.open();
    assert_eq!(read_line(&mut client), "done 4\n");
    // Idle again after its result: now the timeout applies.
    log.wait_for_line("timed out");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    running.stop().expect("run");
}

/// The nice value of thread `tid` of this process, as the kernel reports it: field 19 of
/// `/proc/self/task/TID/stat`.
#[cfg(target_os = "linux")]
fn nice_of(tid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // Field 2, the thread's name, is in parentheses and may hold spaces and parentheses:
    // fields 3 onwards follow the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19 - 3).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
fn own_tid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

#[cfg(target_os = "linux")]
#[test]
fn pool_threads_run_the_configured_nice_levels_below_the_loop_and_the_loop_stays() {
    use std::sync::Barrier;

    common::init();
    let loop_nice = nice_of(own_tid());
    let mut lp = EventLoop::new(Vec::<(&str, i32)>::new()).unwrap();
    let default = lp.add_pool(1, 1).unwrap();
    let chosen = lp.add_pool_with(PoolConfig::new(2, 1).nice(3)).unwrap();
    let same = lp.add_pool_with(PoolConfig::new(1, 1).nice(0)).unwrap();
    let lowest = lp.add_pool_with(PoolConfig::new(1, 1).nice(40)).unwrap();
    // Both jobs of `chosen` wait for each other, so each runs on a thread of its own.
    let both = Arc::new(Barrier::new(2));
    let mut jobs: Vec<(&str, PoolId, Option<Arc<Barrier>>)> = vec![
        ("default", default, None),
        ("chosen", chosen, Some(Arc::clone(&both))),
        ("chosen", chosen, Some(both)),
        ("same", same, None),
        ("lowest", lowest, None),
    ];
    let total = jobs.len();
    for (name, pool, barrier) in jobs.drain(..) {
        lp.context()
            .run_in_executor(
                pool,
                move || {
                    if let Some(barrier) = barrier {
                        barrier.wait();
                    }
                    own_tid()
                },
                move |ctx, tid| {
                    ctx.app().push((name, tid.unwrap()));
                    if ctx.app().len() == total {
                        ctx.stop();
                    }
                },
            )
            .unwrap();
    }
    let stop = lp.handle();
    let watchdog = thread::spawn(move || {
        thread::sleep(IO_TIMEOUT);
        stop.stop(); // a failing test ends instead of hanging
    });
    lp.run().unwrap();
    // The pools' threads are still there (the loop is not dropped): ask the kernel.
    let mut seen: Vec<(&str, i32)> = lp
        .app()
        .iter()
        .map(|&(name, tid)| (name, nice_of(tid)))
        .collect();
    seen.sort_unstable();
    let below = |levels: i32| (loop_nice + levels).min(19);
    let mut expected = vec![
        ("chosen", below(3)),
        ("chosen", below(3)),
        ("default", below(10)),
        ("lowest", 19),
        ("same", loop_nice),
    ];
    expected.sort_unstable();
    assert_eq!(seen, expected, "the loop's thread is at nice {loop_nice}");
    let tids: Vec<i32> = lp.app().iter().map(|&(_, tid)| tid).collect();
    assert!(!tids.contains(&own_tid()), "a job ran on the loop's thread");
    assert_ne!(tids[1], tids[2], "both jobs of `chosen` ran on one thread");
    // Lowering the pools' threads left the loop's thread (and so the process) alone.
    assert_eq!(nice_of(own_tid()), loop_nice);
    drop(watchdog);
}
