//! What one `select(0)` costs, next to raw mio, with N sockets registered and H of them ready.
//!
//! ```sh
//! cargo run --release --example select_bench            # full run, under a minute
//! cargo run --release --example select_bench -- --quick # CI smoke run, a few seconds
//! ```
//!
//! # What it measures
//!
//! One call, timed on its own, for three ways of asking the kernel what is ready:
//!
//! * **raw**: `mio::Poll::poll` with a zero timeout. mio is edge-triggered, so this is the
//!   floor: the kernel's own cost of handing over the events, and nothing else.
//! * **select**: [`mio_selectors::Selector::select`]`(0)`, Python's level-triggered
//!   `select()`: fresh edges without waiting, then one zero-timeout `poll(2)` over the keys
//!   the previous call reported that the kernel did not mention again.
//! * **rearm**: option (a) of the design notes, which we rejected: raw mio that
//!   `reregister`s every key the previous poll reported, then polls. Also level-triggered,
//!   so it is the fair baseline when raw mio has nothing to report.
//!
//! in two scenarios:
//!
//! * **fresh**: each round writes one datagram to each of the H ready sockets (not timed),
//!   times the one call, checks that it reported exactly H keys, and reads the datagrams
//!   back (not timed). Every ready socket has a fresh edge, so raw mio sees them all and is
//!   a fair floor. `select` finds them all among the fresh edges and does not probe.
//! * **still ready**: the H sockets get one datagram each, once, and nobody reads it. A
//!   level-triggered call must report all H every time; raw edge-triggered mio reports them
//!   once and then nothing (the benchmark checks that, and prints `n/a` for raw), so
//!   `select` (one `poll(2)` over H descriptors) is compared with `rearm` (H
//!   `epoll_ctl`s, then an `epoll_wait` that hands back H events).
//!
//! Every registered socket is a UDP socket on 127.0.0.1, one descriptor each, registered
//! for reading; the H ready ones are sent one-byte datagrams from one extra, unregistered
//! socket. (A socket pair per ready socket would need 2 descriptors each: 20,000 for
//! N = H = 10,000, which is the whole descriptor limit of the machine this was written on.)
//! Each implementation gets its own sockets and its own epoll instance, built for one N and
//! H and closed before the next one is built. The call counts it reported are checked on
//! every round: a benchmark that measures the wrong thing is worse than none.
//!
//! # Why medians and ratios
//!
//! It was written on a shared two-core machine, where a neighbour can stall any single
//! call by milliseconds. So each figure is the *median* of many timed calls, and the three
//! implementations are measured in several interleaved passes (in a rotating order, each
//! with fresh sockets), so that a slow minute hurts all three alike. Absolute microseconds
//! move from run to run and machine to machine; the *ratios* of figures taken in the same
//! run are what to compare, and what the goals are stated in.
//!
//! The number of timed calls adapts: each (scenario, N, H, implementation) gets a fixed
//! slice of time, rounded to between a minimum and a maximum number of calls, after a
//! short warm-up. `--quick` shrinks all of that (one pass) for a smoke run that still
//! checks every count.
//!
//! # Reading the table
//!
//! One row per scenario, N (registered) and H (ready). The µs columns are the median cost
//! of one call; `select/raw` is the price of level triggering where raw mio is a fair floor
//! (the `fresh` rows), and `select/rearm` compares the two level-triggered designs. `calls`
//! is how many timed calls each median is taken over. Above the table, the cost of the
//! timing itself, which every figure includes (it matters only in the H = 0 rows). Under
//! the table, the two cost goals the selector was designed to (at most 1.5 times raw mio
//! with 10,000 registered and 10 ready, 3 times with all 10,000 ready), and whether this
//! run met them. A `--quick` run makes too few calls to judge them, and says so.
//!
//! Build in release mode: a debug build measures the debug assertions. Nothing is logged
//! (a logger would be timed too). See docs/performance.md for a recorded run.

mod common;

use std::hint::black_box;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{outln, Context, Failure};
use mio::unix::SourceFd;
use mio::{Interest, Poll};
use mio_selectors::{Selector, Token, EVENT_READ};

/// The exact command for a full run, printed at the top of the output.
const COMMAND: &str = "cargo run --release --example select_bench";

/// Registered sockets per setup.
const SIZES: [usize; 3] = [100, 1_000, 10_000];

/// The selector's cost goals, on the `fresh` rows: (N, H, most select/raw may be).
const GOALS: [(usize, usize, f64); 2] = [(10_000, 10, 1.5), (10_000, 10_000, 3.0)];

/// How many times a ready socket is peeked before we give up on its datagram arriving.
const SETTLE_TRIES: usize = 10_000;

/// How long and how often to measure.
struct Config {
    quick: bool,
    /// Interleaved passes over the three implementations.
    passes: usize,
    /// Time for the timed calls of one implementation, one cell, one pass.
    budget: Duration,
    /// Time for the warm-up before them.
    warmup: Duration,
    min_warmup: usize,
    max_warmup: usize,
    min_calls: usize,
    max_calls: usize,
}

impl Config {
    fn full() -> Config {
        Config {
            quick: false,
            passes: 3,
            budget: Duration::from_millis(150),
            warmup: Duration::from_millis(20),
            min_warmup: 2,
            max_warmup: 500,
            min_calls: 10,
            max_calls: 4_000,
        }
    }

    fn quick() -> Config {
        Config {
            quick: true,
            passes: 1,
            budget: Duration::from_millis(10),
            warmup: Duration::from_millis(2),
            min_warmup: 1,
            max_warmup: 50,
            min_calls: 3,
            max_calls: 200,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// A new datagram on each ready socket before every call, read back after it.
    Fresh,
    /// One datagram on each ready socket, never read.
    StillReady,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Fresh => "fresh",
            Scenario::StillReady => "still ready",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Raw,
    Select,
    Rearm,
}

/// N bound UDP sockets, not registered anywhere yet, and which H of them will be ready.
struct Sockets {
    socks: Vec<UdpSocket>,
    /// Indexes into `socks`, spread evenly.
    ready: Vec<usize>,
    /// Where to send the ready sockets' datagrams.
    addrs: Vec<SocketAddr>,
}

impl Sockets {
    fn new(n: usize, h: usize) -> Sockets {
        let socks: Vec<UdpSocket> = (0..n)
            .map(|_| {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
                sock.set_nonblocking(true).expect("set_nonblocking");
                sock
            })
            .collect();
        let ready: Vec<usize> = (0..h).map(|j| j * n / h).collect();
        let addrs = ready
            .iter()
            .map(|&i| socks[i].local_addr().expect("local_addr"))
            .collect();
        Sockets {
            socks,
            ready,
            addrs,
        }
    }
}

/// One implementation, with its own epoll instance and its own N sockets.
trait Subject {
    /// The timed call: one zero-timeout poll or select. Returns how many keys it reported.
    fn call(&mut self) -> usize;
    /// The `j`-th ready socket, to peek at and read from outside the timed call.
    fn ready_socket(&self, j: usize) -> &UdpSocket;
    /// Only for `rearm`: a plain poll *without* re-arming, to check what raw mio reports.
    fn poll_without_rearm(&mut self) -> Option<usize> {
        None
    }
}

/// Registers every socket with a new `mio::Poll`, token = index, for reading (what
/// `Selector::register(.., EVENT_READ, ..)` asks mio for).
fn raw_poll(socks: &[UdpSocket]) -> (Poll, mio::Events) {
    let poll = Poll::new().expect("epoll_create");
    for (i, sock) in socks.iter().enumerate() {
        poll.registry()
            .register(
                &mut SourceFd(&sock.as_raw_fd()),
                mio::Token(i),
                Interest::READABLE,
            )
            .expect("register");
    }
    // The capacity `Selector` gives itself for the same number of keys.
    let events = mio::Events::with_capacity((socks.len() + 2).next_power_of_two());
    (poll, events)
}

/// Counts the events of one poll and touches each token, as the least a caller does.
fn consume(events: &mio::Events) -> usize {
    let mut count = 0;
    for event in events {
        black_box(event.token());
        count += 1;
    }
    count
}

/// Raw mio, edge-triggered: the floor.
struct RawMio {
    poll: Poll,
    events: mio::Events,
    socks: Vec<UdpSocket>,
    ready: Vec<usize>,
}

impl RawMio {
    fn new(sockets: Sockets) -> RawMio {
        let (poll, events) = raw_poll(&sockets.socks);
        RawMio {
            poll,
            events,
            socks: sockets.socks,
            ready: sockets.ready,
        }
    }
}

impl Subject for RawMio {
    fn call(&mut self) -> usize {
        self.poll
            .poll(&mut self.events, Some(Duration::ZERO))
            .expect("poll");
        consume(&self.events)
    }

    fn ready_socket(&self, j: usize) -> &UdpSocket {
        &self.socks[self.ready[j]]
    }
}

/// Option (a): raw mio that re-arms, with `reregister`, every key the last poll reported.
struct Rearm {
    raw: RawMio,
    reported: Vec<usize>,
}

impl Rearm {
    fn new(sockets: Sockets) -> Rearm {
        let reported = Vec::with_capacity(sockets.ready.len());
        Rearm {
            raw: RawMio::new(sockets),
            reported,
        }
    }
}

impl Subject for Rearm {
    fn call(&mut self) -> usize {
        let RawMio {
            poll,
            events,
            socks,
            ..
        } = &mut self.raw;
        for &i in &self.reported {
            poll.registry()
                .reregister(
                    &mut SourceFd(&socks[i].as_raw_fd()),
                    mio::Token(i),
                    Interest::READABLE,
                )
                .expect("reregister");
        }
        self.reported.clear();
        poll.poll(events, Some(Duration::ZERO)).expect("poll");
        self.reported
            .extend(events.iter().map(|event| event.token().0));
        self.reported.len()
    }

    fn ready_socket(&self, j: usize) -> &UdpSocket {
        self.raw.ready_socket(j)
    }

    fn poll_without_rearm(&mut self) -> Option<usize> {
        Some(self.raw.call())
    }
}

/// `mio_selectors::Selector`, level-triggered.
struct Select {
    sel: Selector<UdpSocket>,
    ready: Vec<Token>,
}

impl Select {
    fn new(sockets: Sockets) -> Select {
        let mut sel = Selector::new().expect("Selector::new");
        let mut tokens = Vec::with_capacity(sockets.socks.len());
        for sock in sockets.socks {
            let key = sel.register(sock, EVENT_READ, ()).expect("register");
            tokens.push(key.token());
        }
        let ready = sockets.ready.iter().map(|&i| tokens[i]).collect();
        Select { sel, ready }
    }
}

impl Subject for Select {
    fn call(&mut self) -> usize {
        self.sel.select(0).expect("select").len()
    }

    fn ready_socket(&self, j: usize) -> &UdpSocket {
        self.sel
            .get_key(self.ready[j])
            .expect("registered")
            .fileobj()
    }
}

/// Sends one byte to every ready socket.
fn send_all(sender: &UdpSocket, addrs: &[SocketAddr]) {
    for addr in addrs {
        match sender.send_to(&[1], addr) {
            Ok(1) => {}
            other => panic!("send_to {addr}: {other:?}"),
        }
    }
}

/// Waits (a bounded number of peeks) until every ready socket holds its datagram. Loopback
/// delivers inside `send_to` unless the kernel defers its network work to a thread; then
/// the timed call would miss the late ones and the count check would fail for no fault of
/// the code under test.
fn settle(subject: &dyn Subject, h: usize) {
    let mut buf = [0; 1];
    for j in 0..h {
        let sock = subject.ready_socket(j);
        let arrived = (0..SETTLE_TRIES).any(|_| match sock.peek(&mut buf) {
            Ok(_) => true,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                std::thread::yield_now();
                false
            }
            Err(err) => panic!("peek: {err}"),
        });
        assert!(arrived, "a datagram sent over loopback never arrived");
    }
}

/// Reads back the one datagram on each ready socket.
fn drain(subject: &dyn Subject, h: usize) {
    let mut buf = [0; 1];
    for j in 0..h {
        match subject.ready_socket(j).recv(&mut buf) {
            Ok(1) => {}
            other => panic!("reading back a ready socket's datagram: {other:?}"),
        }
    }
}

/// One round: the untimed setup, the timed call, the count check, the untimed read-back.
fn round(
    subject: &mut dyn Subject,
    scenario: Scenario,
    h: usize,
    sender: &UdpSocket,
    addrs: &[SocketAddr],
) -> Duration {
    if scenario == Scenario::Fresh {
        send_all(sender, addrs);
        settle(subject, h);
    }
    let start = Instant::now();
    let reported = subject.call();
    let took = start.elapsed();
    assert_eq!(
        reported,
        h,
        "{}: the call reported {reported} keys, but {h} are ready",
        scenario.name()
    );
    if scenario == Scenario::Fresh {
        drain(subject, h);
    }
    took
}

/// Builds one implementation's setup, warms it up, times its calls, and closes it.
/// Appends the timed calls (in nanoseconds) to `samples`.
fn measure(
    method: Method,
    scenario: Scenario,
    n: usize,
    h: usize,
    sender: &UdpSocket,
    cfg: &Config,
    samples: &mut Vec<u64>,
) {
    let sockets = Sockets::new(n, h);
    let addrs = sockets.addrs.clone();
    let mut subject: Box<dyn Subject> = match method {
        Method::Raw => Box::new(RawMio::new(sockets)),
        Method::Select => Box::new(Select::new(sockets)),
        Method::Rearm => Box::new(Rearm::new(sockets)),
    };
    let subject = subject.as_mut();

    if scenario == Scenario::StillReady {
        send_all(sender, &addrs);
        settle(subject, h);
        // The first call sees the edges: every implementation reports all H.
        round(subject, scenario, h, sender, &addrs);
        // Edge-triggered mio then has nothing more to say: that is what we emulate around.
        if let Some(again) = subject.poll_without_rearm() {
            assert_eq!(
                again, 0,
                "raw mio reported still-ready sockets a second time"
            );
        }
    }

    let warm_start = Instant::now();
    let mut warm_rounds = 0;
    for _ in 0..cfg.max_warmup {
        round(subject, scenario, h, sender, &addrs);
        warm_rounds += 1;
        if warm_rounds >= cfg.min_warmup && warm_start.elapsed() >= cfg.warmup {
            break;
        }
    }
    let per_round = warm_start.elapsed().as_nanos() / warm_rounds as u128;
    let calls = (cfg.budget.as_nanos() / per_round.max(1)) as usize;
    let calls = calls.clamp(cfg.min_calls, cfg.max_calls);
    for _ in 0..calls {
        let took = round(subject, scenario, h, sender, &addrs);
        samples.push(took.as_nanos() as u64);
    }
    // Dropping `subject` closes its epoll instance and its N sockets.
}

/// The median, in microseconds.
fn median_us(samples: &mut [u64]) -> f64 {
    assert!(!samples.is_empty());
    samples.sort_unstable();
    let mid = samples.len() / 2;
    let ns = if samples.len() % 2 == 0 {
        (samples[mid - 1] + samples[mid]) as f64 / 2.0
    } else {
        samples[mid] as f64
    };
    ns / 1_000.0
}

/// The median cost of the timing itself (`Instant::now` and `elapsed` around nothing), in
/// microseconds. It is inside every figure in the table, equally for all three columns.
fn timer_overhead_us(calls: usize) -> f64 {
    let mut samples: Vec<u64> = (0..calls)
        .map(|_| {
            let start = Instant::now();
            black_box(());
            start.elapsed().as_nanos() as u64
        })
        .collect();
    median_us(&mut samples)
}

/// One line of the table.
struct Row {
    scenario: Scenario,
    n: usize,
    h: usize,
    raw: Option<f64>,
    select: f64,
    rearm: f64,
    calls: usize,
}

fn run_cell(scenario: Scenario, n: usize, h: usize, sender: &UdpSocket, cfg: &Config) -> Row {
    let methods: &[Method] = match scenario {
        Scenario::Fresh => &[Method::Raw, Method::Select, Method::Rearm],
        Scenario::StillReady => &[Method::Select, Method::Rearm],
    };
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); methods.len()];
    for pass in 0..cfg.passes {
        // Rotate the order, so that no implementation always goes first after a rebuild.
        for k in 0..methods.len() {
            let m = (k + pass) % methods.len();
            measure(methods[m], scenario, n, h, sender, cfg, &mut samples[m]);
        }
    }
    let calls = samples.iter().map(Vec::len).min().unwrap_or(0);
    let mut medians = samples.iter_mut().map(|s| median_us(s));
    let raw = match scenario {
        Scenario::Fresh => medians.next(),
        Scenario::StillReady => None,
    };
    let select = medians.next().expect("select measured");
    let rearm = medians.next().expect("rearm measured");
    Row {
        scenario,
        n,
        h,
        raw,
        select,
        rearm,
        calls,
    }
}

/// The H values for one N: none, a few, many (if that many are registered), all.
fn ready_counts(n: usize) -> Vec<usize> {
    let mut hs: Vec<usize> = [0, 10, 1_000, n].into_iter().filter(|&h| h <= n).collect();
    hs.dedup();
    hs
}

fn h_label(n: usize, h: usize) -> String {
    if h == n && h > 0 {
        format!("{h} (all)")
    } else {
        h.to_string()
    }
}

fn print_table(rows: &[Row]) -> common::Result {
    outln!(
        "{:<11} {:>6} {:>11} {:>10} {:>10} {:>10} {:>10} {:>9} {:>12} {:>6}",
        "scenario",
        "N",
        "H",
        "raw µs",
        "select µs",
        "rearm µs",
        "select/raw",
        "rearm/raw",
        "select/rearm",
        "calls"
    )?;
    for row in rows {
        let raw = row.raw.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let ratio = |v: f64| {
            row.raw
                .map_or("n/a".to_string(), |raw| format!("{:.2}", v / raw))
        };
        outln!(
            "{:<11} {:>6} {:>11} {:>10} {:>10.2} {:>10.2} {:>10} {:>9} {:>12.2} {:>6}",
            row.scenario.name(),
            row.n,
            h_label(row.n, row.h),
            raw,
            row.select,
            row.rearm,
            ratio(row.select),
            ratio(row.rearm),
            row.select / row.rearm,
            row.calls
        )?;
    }
    Ok(())
}

/// Whether a run judges the goals: a quick run's medians over a handful of calls, on a
/// shared machine, are noise (a ratio of 0.5 or 2 means nothing there).
fn verdict(quick: bool, ratio: f64, limit: f64) -> &'static str {
    match (quick, ratio <= limit) {
        (true, _) => "not judged (quick run)",
        (false, true) => "met",
        (false, false) => "MISSED",
    }
}

/// Prints the goals and whether this run met them (a quick run judges nothing).
fn print_goals(rows: &[Row], quick: bool) -> common::Result {
    outln!("goals, on the fresh rows, where raw mio is a fair floor:")?;
    for (n, h, limit) in GOALS {
        let found = rows
            .iter()
            .find(|r| r.scenario == Scenario::Fresh && r.n == n && r.h == h);
        let Some(row) = found else {
            outln!("  N={n} H={h}: no such row")?;
            continue;
        };
        let raw = row.raw.expect("fresh rows have a raw column");
        let ratio = row.select / raw;
        outln!(
            "  {n} registered, {} ready: select/raw = {ratio:.2} (goal <= {limit}): {}",
            h_label(n, h),
            verdict(quick, ratio, limit)
        )?;
    }
    if quick {
        outln!("  a quick run makes too few calls to judge a goal: run `{COMMAND}`")?;
    }
    Ok(())
}

/// What one select(0) costs next to raw mio, with N sockets registered and H ready.
///
/// Prints a table of median microseconds per call and their ratios. Build with --release.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(
        mirrors = "no Python program: a benchmark of select() against raw mio",
        stop = done
    )
)]
struct Cli {
    /// Fewer calls and one pass: a smoke run that still checks every count, and judges no
    /// goal
    #[arg(long)]
    quick: bool,
}

fn main() -> ExitCode {
    common::run(bench)
}

fn bench(cli: Cli) -> common::Result {
    let cfg = if cli.quick {
        Config::quick()
    } else {
        Config::full()
    };
    let fd_limit = mio_selectors::raise_fd_limit().context("cannot raise the descriptor limit")?;
    // N sockets + the sender + epoll + stdio, with room to spare.
    let needed = SIZES.iter().max().copied().unwrap_or(0) as u64 + 64;
    if fd_limit < needed {
        return Err(Failure::new(format!(
            "this benchmark needs {needed} file descriptors; the limit is {fd_limit}"
        )));
    }
    let sender = UdpSocket::bind("127.0.0.1:0").context("cannot bind the sender to 127.0.0.1")?;
    sender
        .set_nonblocking(true)
        .context("cannot make the sender non-blocking")?;

    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string());
    outln!("$ {COMMAND}{}", if cfg.quick { " -- --quick" } else { "" })?;
    outln!(
        "one zero-timeout call with N UDP sockets registered for reading, H of them ready; \
         median µs per call"
    )?;
    outln!(
        "{cpus} CPUs, kernel {kernel}, fd limit {fd_limit}; {} run: {} pass(es), \
         {} ms of timed calls per implementation per row per pass",
        if cfg.quick { "quick" } else { "full" },
        cfg.passes,
        cfg.budget.as_millis()
    )?;
    outln!(
        "timer overhead {:.3} µs per call, included in every figure",
        timer_overhead_us(cfg.max_calls * 10)
    )?;
    if cfg!(debug_assertions) {
        outln!("WARNING: debug build; the figures mean nothing, add --release")?;
    }
    outln!()?;

    let started = Instant::now();
    let mut rows = Vec::new();
    for scenario in [Scenario::Fresh, Scenario::StillReady] {
        for n in SIZES {
            for h in ready_counts(n) {
                if scenario == Scenario::StillReady && h == 0 {
                    continue; // nothing ready: the same calls as fresh with H = 0
                }
                eprintln!("measuring: {} N={n} H={h}", scenario.name());
                rows.push(run_cell(scenario, n, h, &sender, &cfg));
            }
        }
    }

    print_table(&rows)?;
    outln!()?;
    outln!("fresh:       a new datagram on each ready socket before every call (raw mio sees them all)")?;
    outln!("still ready: the ready sockets are never read; raw mio reports them once, then nothing (n/a)")?;
    outln!("             select = one poll(2) over the H keys; rearm = H epoll_ctl(MOD), then epoll_wait")?;
    outln!("every call's count was checked: exactly H keys reported")?;
    outln!()?;
    print_goals(&rows, cfg.quick)?;
    outln!()?;
    outln!("took {:.1} s", started.elapsed().as_secs_f64())
}
