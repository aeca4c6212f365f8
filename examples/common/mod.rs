//! What every example shares, so that each program gets the user-facing parts right in one
//! line: its exit status and error line, `--help`, the listening socket and the line that
//! says where it listens, a closed stdout, logging and Ctrl-C.
//!
//! Each example pulls this in with `mod common;`. Not every example uses every item. The
//! conventions, and the helper that keeps each one:
//!
//! | convention | helper |
//! |---|---|
//! | `main` is one line; usage errors exit 2 (clap), failures print one line and exit 1 | [`run`], [`Failure`], [`Context`] |
//! | a failure names what was tried and why: `cannot listen on 127.0.0.1 port 65432: Address already in use (os error 98)` | [`Context::context`], [`Address`]'s `Display` |
//! | `--help` says what the program mirrors, how to stop it, and `RUST_LOG` | [`help!`] |
//! | a server listens with a backlog fit for bursts (`--backlog`, default [`DEFAULT_BACKLOG`]) | [`Listen::tcp`], [`Listen::udp`], [`listen_unix`] |
//! | a server says where it listens, whatever `RUST_LOG` filters out | [`Listen::tcp`] (and the others) through [`announce`] |
//! | a program that prints ends quietly when stdout is closed (piped into `head -0`) | [`outln!`], [`stdout`] |
//! | logs go to stderr through `env_logger`, `info` unless `RUST_LOG` says otherwise, and never make the thread that logs wait | [`run`] (calls [`init_logging`]) |
//! | Ctrl-C and SIGTERM end a loop cleanly | [`stop_on_ctrl_c`] |
//! | a server with `--workers N` runs one loop a thread, all stopped by one Ctrl-C | [`run_workers`] |
//! | a server raises its descriptor limit and sizes its connection cap to fit (`--max-conns`) | [`connection_cap`] |
//!
//! A new server is then:
//!
//! ```ignore
//! mod common;
//! use common::Context;
//!
//! /// Chat server: ... (the first line of `--help`)
//! #[derive(clap::Parser, Debug)]
//! #[command(version, after_help = common::help!(mirrors = "docs/python/chat_server.py", stop = clean))]
//! struct Cli {
//!     #[command(flatten)]
//!     listen: common::Listen<65433>, // --host, --port (default 65433), --backlog
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     common::run(|cli: Cli| {
//!         let listener = cli.listen.tcp()?; // binds, listens, prints "listening on ..."
//!         let server = ChatServer::new(listener).context("cannot start the chat server")?;
//!         common::stop_on_ctrl_c(server.stop_handle())?;
//!         server.run().context("the chat server failed")
//!     })
//! }
//! ```
//!
//! `tests/examples.rs` holds every program in `examples/` to these conventions (a program it
//! does not know about fails the test): `--help`, bad usage, a busy port, an unknown host,
//! the listening line under a `RUST_LOG` filter, and a closed stdout.
#![allow(dead_code, unused_macros, unused_imports)]

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{ExitCode, Termination};
use std::thread;
use std::time::Duration;

use clap::{Args, Parser};
use mio_selectors::Stop;
use socket2::{Domain, SockAddr, Socket, Type};

// ---------------------------------------------------------------------------------------
// Exit status and the error line
// ---------------------------------------------------------------------------------------

/// What an example's body returns: its result, or the one line that says why it failed.
pub type Result<T = ()> = std::result::Result<T, Failure>;

/// Parses the command line, starts logging, runs `body`, and turns its outcome into the
/// exit status: what `body` returns on success (`()` is 0, an [`ExitCode`] is itself), 1
/// after printing a [`Failure`] as one line on stderr, 2 for bad usage. clap handles
/// `--help` and `--version` (exit 0) and its own usage errors (exit 2).
///
/// A body that never returns `Ok` (a server's endless loop) leaves `T` unknown: write the
/// closure as `|cli: Cli| -> common::Result { ... }`, or pass a `fn serve(cli: Cli) ->
/// common::Result`.
///
/// Python: the `try: ... except OSError as exc: sys.exit(f"...: {exc}")` around each
/// program's `main`, which prints one line instead of a traceback.
pub fn run<C: Parser, T: Termination>(body: impl FnOnce(C) -> Result<T>) -> ExitCode {
    let cli = C::parse();
    init_logging();
    let outcome = body(cli);
    // Log lines go through a thread (see init_logging): let them out before the error
    // line, and before the process ends.
    flush_logs();
    match outcome {
        Ok(done) => done.report(),
        Err(failure) => failure.report(),
    }
}

/// Why a program failed: one line for the user, and the exit status that goes with it.
///
/// There is deliberately no `From<io::Error>`: every `?` on an error of the OS goes
/// through [`Context::context`], which names what was being tried, so the user never sees
/// a bare `Address already in use` (or worse, a `Debug` dump) without the address.
#[derive(Debug)]
pub struct Failure {
    message: String,
    kind: FailureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// Exit status 1: the program could not do its job.
    Failed,
    /// Exit status 2: the command line makes no sense (clap catches most of these first).
    Usage,
    /// Exit status 1, with no message: stdout was closed (`| head -0`), as Unix tools do.
    StdoutClosed,
}

impl Failure {
    /// A failure in the user's words: `Failure::new("echo mismatch: byte 3 ...")`. Exit 1.
    pub fn new(message: impl fmt::Display) -> Failure {
        Failure {
            message: message.to_string(),
            kind: FailureKind::Failed,
        }
    }

    /// A command line that makes no sense, found after parsing. Exit 2, as clap's own.
    pub fn usage(message: impl fmt::Display) -> Failure {
        Failure {
            message: format!("{message} (see --help)"),
            kind: FailureKind::Usage,
        }
    }

    /// `what` failed because of `err`: `"{what}: {err}"`, or a quiet exit if `err` is a
    /// write to a closed stdout (see [`stdout`]).
    pub fn caused(what: impl fmt::Display, err: &(dyn StdError + 'static)) -> Failure {
        if is_stdout_closed(err) {
            return Failure {
                message: String::new(),
                kind: FailureKind::StdoutClosed,
            };
        }
        Failure::new(format!("{what}: {err}"))
    }

    /// The exit status, after printing the message (if any) as one line on stderr.
    pub fn report(self) -> ExitCode {
        if self.kind != FailureKind::StdoutClosed {
            // Not eprintln!: that panics if stderr is closed too.
            let _ = writeln!(io::stderr(), "{}: {}", program_name(), self.message);
        }
        match self.kind {
            FailureKind::Usage => ExitCode::from(2),
            FailureKind::Failed | FailureKind::StdoutClosed => ExitCode::FAILURE,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Names what was being tried when an error happened: the one way an error of the OS or of
/// the library becomes a [`Failure`].
///
/// ```ignore
/// let listener = TcpListener::bind(addr).context(format!("cannot listen on {addr}"))?;
/// server.run().context("the echo server failed")?;
/// ```
pub trait Context<T> {
    /// `Err(err)` becomes the failure `"{what}: {err}"`.
    fn context(self, what: impl fmt::Display) -> Result<T>;
    /// The same, with the description built only on failure.
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: StdError + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|err| Failure::caused(what, &err))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|err| Failure::caused(what(), &err))
    }
}

/// The program's name as the user typed it (`echo_server`), for the start of each line it
/// prints on its own behalf.
pub fn program_name() -> String {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    Path::new(&argv0)
        .file_name()
        .map_or_else(|| "example".into(), |name| name.to_string_lossy().into())
}

// ---------------------------------------------------------------------------------------
// A closed stdout
// ---------------------------------------------------------------------------------------

/// Marks an error as "stdout is closed", so that [`Failure::caused`] ends the program
/// quietly instead of reporting it. A write to a reset *socket* fails with the same
/// `BrokenPipe`, and that one must be reported: only [`stdout`] marks its errors.
#[derive(Debug)]
struct StdoutClosed(io::Error);

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stdout is closed: {}", self.0)
    }
}

impl StdError for StdoutClosed {}

fn is_stdout_closed(err: &(dyn StdError + 'static)) -> bool {
    err.downcast_ref::<io::Error>()
        .and_then(|err| err.get_ref())
        .is_some_and(|inner| inner.is::<StdoutClosed>())
}

/// Standard output, for programs that print. `println!` panics when the reader has gone
/// (`multiconn_client | head -0`: "failed printing to stdout: Broken pipe", exit 101); this
/// writer returns the error instead, marked so that [`run`] exits quietly with status 1,
/// as Unix tools do (they die of `SIGPIPE`, which Rust ignores).
///
/// Python: `print()` raises `BrokenPipeError`, which each program would have to catch.
pub fn stdout() -> Stdout {
    Stdout(io::stdout())
}

/// See [`stdout`]. Every write is flushed by the line (stdout is line-buffered), or by
/// [`Write::flush`].
#[derive(Debug)]
pub struct Stdout(io::Stdout);

impl Stdout {
    fn mark(err: io::Error) -> io::Error {
        if err.kind() == io::ErrorKind::BrokenPipe {
            io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed(err))
        } else {
            err
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(Stdout::mark)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(Stdout::mark)
    }
}

/// Prints one line on stdout; the failure ends the program quietly if stdout is closed.
/// Use it through [`outln!`].
pub fn print_line(line: fmt::Arguments<'_>) -> Result<()> {
    let mut out = stdout();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// `println!` for examples: `outln!("{summary}")?;`. Returns a [`Result`], so a closed
/// stdout ends the program quietly rather than with a panic.
macro_rules! outln {
    () => {
        $crate::common::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::common::print_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

// ---------------------------------------------------------------------------------------
// --help
// ---------------------------------------------------------------------------------------

/// The text every example's `--help` ends with: the Python program it mirrors, how to stop
/// it, and the logging. Put it in the `#[command]` attribute:
///
/// ```ignore
/// #[command(version, after_help = common::help!(mirrors = "docs/python/echo_server.py", stop = clean))]
/// ```
///
/// `mirrors` is a path under `docs/python/`, or a phrase saying what it is instead (`"no
/// Python program: a benchmark"`). `stop` is one of `clean` (a server that handles Ctrl-C
/// with [`stop_on_ctrl_c`]), `kill` (Ctrl-C ends the process and the OS closes its
/// sockets), `done` (a client that ends by itself), or a string literal of your own.
macro_rules! help {
    (mirrors = $mirrors:literal, stop = clean $(,)?) => {
        $crate::common::help!(
            mirrors = $mirrors,
            stop = "Ctrl-C (or SIGTERM) stops it cleanly: the loop ends and every connection is closed."
        )
    };
    (mirrors = $mirrors:literal, stop = kill $(,)?) => {
        $crate::common::help!(
            mirrors = $mirrors,
            stop = "Ctrl-C ends the process at once; the OS closes its sockets."
        )
    };
    (mirrors = $mirrors:literal, stop = done $(,)?) => {
        $crate::common::help!(
            mirrors = $mirrors,
            stop = "It ends by itself when done; Ctrl-C ends it at once."
        )
    };
    (mirrors = $mirrors:literal, stop = $stop:literal $(,)?) => {
        concat!(
            "Mirrors: ",
            $mirrors,
            "\nStop: ",
            $stop,
            "\nLogs: on stderr; RUST_LOG sets the filter (default info; RUST_LOG=debug shows \
             every connection). Errors, and where a server listens, are printed whatever \
             RUST_LOG says.\nExit status: 0 on success, 1 on failure (one line on stderr \
             says why), 2 for bad usage."
        )
    };
}
pub(crate) use help;

// ---------------------------------------------------------------------------------------
// Addresses and listening sockets
// ---------------------------------------------------------------------------------------

/// The course's port, for the echo programs. Python: `DEFAULT_PORT` in `course.py`.
pub const DEFAULT_PORT: u16 = 65432;

/// Where to listen or connect: `--host` and `--port`. Python: `HOST = "127.0.0.1"`,
/// `PORT = 65432`. A program with a port of its own says so in the type:
/// `common::Address<65433>` (and `common::Listen<65433>`).
///
/// Displays as Python's messages name an address: `127.0.0.1 port 65432`.
#[derive(Args, Debug, Clone)]
pub struct Address<const PORT: u16 = DEFAULT_PORT> {
    /// Host name or IP address (IPv4 or IPv6), resolved as Python's socket module does
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (a server may take 0: any free port)
    #[arg(long, default_value_t = PORT)]
    pub port: u16,
}

impl<const PORT: u16> Address<PORT> {
    /// Every address the host name resolves to, in the resolver's order (getaddrinfo, as
    /// Python's `socket.create_connection` and `create_server` use). Binding and connecting
    /// try them in turn, so `--host localhost` works whether it means ::1 or 127.0.0.1.
    ///
    /// The failure reads `cannot resolve nosuchhost.invalid: failed to lookup address
    /// information: Name or service not known`.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {}", self.host))?
            .collect();
        if addrs.is_empty() {
            return Err(Failure::new(format!(
                "cannot resolve {}: no address found",
                self.host
            )));
        }
        Ok(addrs)
    }
}

impl<const PORT: u16> fmt::Display for Address<PORT> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} port {}", self.host, self.port)
    }
}

/// How many connections the kernel may hold, handshake done, until the server accepts
/// them: Linux's `SOMAXCONN` (4096 since Linux 5.4). The standard library's `bind` listens
/// with 128, which a burst of a few hundred connects overflows (the kernel then drops or
/// resets the ones that do not fit). The kernel silently caps it at
/// `/proc/sys/net/core/somaxconn`. The Python programs use the same number
/// (`BACKLOG` in `docs/python/course.py`).
pub const DEFAULT_BACKLOG: i32 = 4096;

/// A server's address options: `--host`, `--port` and `--backlog`; `Listen<65433>` for a
/// server whose default port is not [`DEFAULT_PORT`].
#[derive(Args, Debug, Clone)]
pub struct Listen<const PORT: u16 = DEFAULT_PORT> {
    #[command(flatten)]
    pub address: Address<PORT>,
    /// Connections the kernel queues until the server accepts them (capped by
    /// /proc/sys/net/core/somaxconn; bursts larger than this can be refused or reset)
    #[arg(long, default_value_t = DEFAULT_BACKLOG,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: i32,
}

impl<const PORT: u16> Listen<PORT> {
    /// Python: `open_listener(host, port, backlog)` in `docs/python/course.py`. Binds the
    /// first address of the host that works (`SO_REUSEADDR` set, as std and Python do, so a
    /// restart does not wait for old connections in `TIME_WAIT`), listens with `--backlog`,
    /// and [announces](announce) where it listens.
    ///
    /// The failure reads `cannot listen on 127.0.0.1 port 65432: Address already in use
    /// (os error 98)`; with several addresses, each one's error is listed.
    pub fn tcp(&self) -> Result<TcpListener> {
        let mut listeners = self.tcp_shared(1)?;
        Ok(listeners.remove(0))
    }

    /// `count` listening sockets on one address, for a server with a loop per thread
    /// (`http_server --workers N`): with more than one, each has `SO_REUSEPORT`, and the
    /// kernel spreads new connections over them. The first fixes the port when `--port 0`
    /// let the OS choose. Announced once, as [`tcp`](Self::tcp) does.
    pub fn tcp_shared(&self, count: usize) -> Result<Vec<TcpListener>> {
        let shared = count > 1;
        let first = self.try_each(|addr| self.bind_tcp(addr, shared))?;
        let addr = first
            .local_addr()
            .context("cannot read the listener's address")?;
        let mut listeners = vec![first];
        for _ in 1..count {
            let next = self
                .bind_tcp(addr, shared)
                .with_context(|| format!("cannot listen on {addr} again (SO_REUSEPORT)"))?;
            listeners.push(next);
        }
        announce(format_args!(
            "listening on {addr} (backlog {})",
            self.backlog
        ));
        Ok(listeners)
    }

    fn bind_tcp(&self, addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        sock.set_reuse_address(true)?;
        if reuse_port {
            sock.set_reuse_port(true)?;
        }
        sock.bind(&addr.into())?;
        sock.listen(self.backlog)?;
        Ok(TcpListener::from(sock))
    }

    /// A UDP socket bound to the first address of the host that works, announced as
    /// `listening on udp 127.0.0.1:65432`. (`--backlog` means nothing to UDP.)
    pub fn udp(&self) -> Result<UdpSocket> {
        let sock = self.try_each(UdpSocket::bind)?;
        let addr = sock
            .local_addr()
            .context("cannot read the socket's address")?;
        announce(format_args!("listening on udp {addr}"));
        Ok(sock)
    }

    /// Tries `open` on each resolved address in turn; the failure names every one.
    fn try_each<S>(&self, mut open: impl FnMut(SocketAddr) -> io::Result<S>) -> Result<S> {
        let mut errors = Vec::new();
        for addr in self.address.resolve()? {
            match open(addr) {
                Ok(sock) => return Ok(sock),
                Err(err) => errors.push((addr, err)),
            }
        }
        let why = match errors.as_slice() {
            [(_, err)] => err.to_string(),
            _ => errors
                .iter()
                .map(|(addr, err)| format!("{addr}: {err}"))
                .collect::<Vec<_>>()
                .join("; "),
        };
        Err(Failure::new(format!(
            "cannot listen on {}: {why}",
            self.address
        )))
    }
}

/// A Unix stream socket listening at `path` with `backlog`, announced as `listening on
/// PATH`. The failure reads `cannot listen on /tmp/echo.sock: Address already in use (os
/// error 98)`. A stale socket file is the caller's to remove (Python's servers
/// `os.unlink` it first): a path that exists may belong to a running server.
pub fn listen_unix(path: &Path, backlog: i32) -> Result<UnixListener> {
    let listen = || -> io::Result<UnixListener> {
        let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        sock.bind(&SockAddr::unix(path)?)?;
        sock.listen(backlog)?;
        Ok(UnixListener::from(std::os::fd::OwnedFd::from(sock)))
    };
    let listener = listen().with_context(|| format!("cannot listen on {}", path.display()))?;
    announce(format_args!("listening on {}", path.display()));
    Ok(listener)
}

/// A line the user must see whatever `RUST_LOG` filters out (where a server listens):
/// `echo_server: listening on 127.0.0.1:65432 (backlog 4096)`, on stderr. Logging it would
/// hide it under `RUST_LOG=mio_selectors::selector=debug`, or `RUST_LOG=off`.
pub fn announce(line: fmt::Arguments<'_>) {
    flush_logs(); // after the log lines that came before it, as it was logged
    let _ = writeln!(io::stderr(), "{}: {line}", program_name());
}

// ---------------------------------------------------------------------------------------
// Logging and Ctrl-C
// ---------------------------------------------------------------------------------------

/// A clap value parser for a number of seconds, such as `3` or `0.5`: what every
/// `--...-timeout` and `--duration` flag takes. NaN, negative numbers and values too large
/// for a `Duration` are refused as bad usage, with the reason.
pub fn seconds(text: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|err| format!("{text}: {err}"))?;
    Duration::try_from_secs_f64(secs).map_err(|err| format!("{text}: {err}"))
}

/// [`seconds`], more than zero: for a wait that must end, such as a client's timeout.
pub fn positive_seconds(text: &str) -> std::result::Result<Duration, String> {
    match seconds(text)? {
        Duration::ZERO => Err(format!("must be a positive number of seconds: {text}")),
        secs => Ok(secs),
    }
}

/// A clap value parser for a count that must be at least 1 (connections, messages, bytes).
pub fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

/// [`seconds`], with `0` for "never" (`None`), for a timeout that can be turned off.
///
/// Use it on a field spelled `::std::option::Option<Duration>`: clap treats a plain
/// `Option<T>` field as "the flag may be absent" and would hand it the inner type.
pub fn seconds_or_never(text: &str) -> std::result::Result<Option<Duration>, String> {
    seconds(text).map(|secs| (!secs.is_zero()).then_some(secs))
}

/// The bounds of the two echo servers, `echo_server` (the selector) and `echo_protocol`
/// (the protocol layer), as flags: both take the same [`echo::Config`], so both take the
/// same flags.
///
/// [`echo::Config`]: mio_selectors::echo::Config
#[derive(Args, Debug, Clone)]
pub struct EchoLimits {
    /// Stop reading from a client while this many bytes wait to go back to it
    #[arg(long, default_value_t = mio_selectors::echo::Config::default().high_water)]
    pub high_water: usize,
    /// Most connections at once; at the cap, new clients wait until one closes
    /// [default: 10000, lowered to fit the descriptor limit]
    #[arg(long, value_parser = at_least_one())]
    pub max_conns: Option<usize>,
    /// Close a connection after this many seconds without an event (0: never)
    #[arg(long, default_value = "300", value_parser = seconds_or_never)]
    // Spelled out in full, so that clap does not read it as "an optional flag".
    pub idle_timeout: ::std::option::Option<Duration>,
}

impl EchoLimits {
    /// Sizes the connection cap to the descriptor limit ([`connection_cap`]: one
    /// descriptor per connection). Call it before listening, so that a cap that cannot be
    /// is refused first; then [`config`](Self::config).
    pub fn cap(&self) -> Result<ConnectionCap> {
        connection_cap("--max-conns", self.max_conns, DEFAULT_MAX_CONNS, 1, 1)
    }

    /// The server's configuration, with the cap [`cap`](Self::cap) sized.
    pub fn config(&self, cap: ConnectionCap) -> mio_selectors::echo::Config {
        mio_selectors::echo::Config {
            high_water: self.high_water,
            low_water: self.high_water / 4,
            max_conns: cap.take(),
            idle_timeout: self.idle_timeout,
            ..mio_selectors::echo::Config::default()
        }
    }
}

// ---------------------------------------------------------------------------------------
// The connection cap and the descriptor limit
// ---------------------------------------------------------------------------------------

/// The servers' default connection cap, before [`connection_cap`] lowers it to fit the
/// descriptor limit (Redis's `maxclients` default).
pub const DEFAULT_MAX_CONNS: usize = 10_000;

/// Descriptors a server keeps apart from its connections: stdio, the log, a file being
/// opened, and room for a client over the cap to be told so. Redis keeps 32
/// (`CONFIG_MIN_RESERVED_FDS`).
pub const RESERVED_FDS: u64 = 32;

/// Descriptors each event loop (worker) holds whatever its load: its listener, the
/// selector (epoll), its waker (eventfd), and one spare.
pub const FDS_PER_LOOP: u64 = 4;

/// The connection cap a server can keep, per loop. First raises the soft limit on open
/// descriptors (`RLIMIT_NOFILE`, often 1,024) to the hard one, quietly: a server that
/// holds thousands of connections needs it, and no example uses `select(2)`, the one
/// reason to keep it low. Then, with `per_connection` descriptors per connection (the
/// socket, plus a file while one is sent) on each of `loops` loops, [`RESERVED_FDS`] and
/// [`FDS_PER_LOOP`] aside:
///
/// * `explicit` (the user's `--max-conns`) if it fits, else a usage error (exit 2) that
///   says how many fit: a cap the limit cannot honour would fail later, with `EMFILE` on
///   accept and errors for connected clients;
/// * else `default`, lowered to what fits with one log line saying so (Redis's way with
///   `maxclients`), written by [`ConnectionCap::take`].
///
/// Call it before listening, and `take` the cap after: a refused cap is then the one line
/// the program prints, and so is a busy port.
///
/// Python: `resource.setrlimit(RLIMIT_NOFILE, (hard, hard))`, as
/// docs/python/chat_server.py does.
pub fn connection_cap(
    flag: &str,
    explicit: Option<usize>,
    default: usize,
    per_connection: u64,
    loops: u64,
) -> Result<ConnectionCap> {
    connection_cap_keeping(flag, explicit, default, per_connection, loops, 0)
}

/// [`connection_cap`] for a server whose loops each also keep up to `kept_per_loop`
/// descriptors open between connections (http_server's cache of open files).
pub fn connection_cap_keeping(
    flag: &str,
    explicit: Option<usize>,
    default: usize,
    per_connection: u64,
    loops: u64,
    kept_per_loop: u64,
) -> Result<ConnectionCap> {
    let limit = mio_selectors::raise_fd_limit().context("cannot raise the descriptor limit")?;
    let aside = RESERVED_FDS + (FDS_PER_LOOP + kept_per_loop) * loops.max(1);
    let fits = caps_within(limit, per_connection, loops, aside);
    let cost = if loops > 1 {
        format!("{per_connection} per connection on each of {loops} workers")
    } else {
        format!("{per_connection} per connection")
    };
    match explicit {
        Some(wanted) if wanted > fits => Err(Failure::usage(format!(
            "{flag} {wanted} is more than the descriptor limit ({limit}) allows: at most \
             {fits} ({cost}, {} kept aside; ulimit -Hn raises the limit)",
            aside
        ))),
        Some(wanted) => Ok(ConnectionCap::new(wanted, None)),
        None if fits == 0 => Err(Failure::new(format!(
            "the descriptor limit ({limit}) leaves no room for connections ({cost}, {} \
             kept aside)",
            aside
        ))),
        None if default > fits => Ok(ConnectionCap::new(
            fits,
            Some(format!(
                "{flag} lowered from {default} to {fits} to fit the descriptor limit \
                 ({limit}; {cost}, {} kept aside)",
                aside
            )),
        )),
        None => Ok(ConnectionCap::new(default, None)),
    }
}

/// A connection cap sized by [`connection_cap`], with the line to log if it was lowered.
#[derive(Debug)]
#[must_use = "take() the cap: it logs the line that says it was lowered"]
pub struct ConnectionCap {
    value: usize,
    lowered: Option<String>,
}

impl ConnectionCap {
    fn new(value: usize, lowered: Option<String>) -> ConnectionCap {
        ConnectionCap { value, lowered }
    }

    /// The cap, logging (once, at `info`) that it was lowered, if it was.
    pub fn take(self) -> usize {
        if let Some(line) = self.lowered {
            log::info!("{line}");
        }
        self.value
    }
}

/// Connections per loop that `limit` descriptors hold: see [`connection_cap`].
fn caps_within(limit: u64, per_connection: u64, loops: u64, aside: u64) -> usize {
    let loops = loops.max(1);
    let spare = limit.saturating_sub(aside);
    let fits = spare / (per_connection.max(1) * loops);
    usize::try_from(fits).unwrap_or(usize::MAX)
}

/// Logs to stderr through `env_logger`; `RUST_LOG=debug` shows every connection. Without
/// `RUST_LOG`, the examples log at `info`: start, stop, and anything that went wrong.
/// [`run`] calls it.
///
/// The thread that logs never waits for stderr: `env_logger` formats each line on that
/// thread and hands it to a bounded queue ([`LOG_QUEUE`] lines) that a thread of its own
/// writes out. A reader of stderr that stops (a terminal paused with Ctrl-S, a pipe nobody
/// reads) would otherwise stop an event loop at its next log line, every connection with
/// it, however rare the line (the layer's "closing idle ones to make room" comes exactly
/// when the server is busiest). Lines that do not fit are dropped, counted, and the count
/// is written once stderr moves again. [`run`] and [`announce`] wait (briefly) for the
/// queue to be written, so lines keep their order with what they print themselves.
pub fn init_logging() {
    use std::io::IsTerminal;
    let env = env_logger::Env::default().default_filter_or("info");
    let mut builder = env_logger::Builder::from_env(env);
    // Colours as before on a terminal: env_logger cannot see through the pipe that stderr
    // is one. RUST_LOG_STYLE, when set, still decides.
    if std::env::var_os("RUST_LOG_STYLE").is_none() && io::stderr().is_terminal() {
        builder.write_style(env_logger::WriteStyle::Always);
    }
    builder
        .target(env_logger::Target::Pipe(Box::new(LogQueue::start())))
        .init();
}

/// How many log lines may wait for stderr before new ones are dropped.
pub const LOG_QUEUE: usize = 4096;

/// What the logging thread is sent: a formatted line, or a request to say when everything
/// sent before it has been written.
enum LogItem {
    Line(Vec<u8>),
    Written(std::sync::mpsc::Sender<()>),
}

/// The queue's sending end, the `Write` env_logger writes each formatted line into.
struct LogQueue {
    queue: std::sync::mpsc::SyncSender<LogItem>,
}

static LOG_SENDER: std::sync::OnceLock<std::sync::mpsc::SyncSender<LogItem>> =
    std::sync::OnceLock::new();
static LOG_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl LogQueue {
    fn start() -> LogQueue {
        let (queue, items) = std::sync::mpsc::sync_channel::<LogItem>(LOG_QUEUE);
        let _ = LOG_SENDER.set(queue.clone());
        // If the thread cannot start, `items` is dropped and every line counts as dropped:
        // better than a program that cannot start for want of a log.
        let _ = thread::Builder::new()
            .name("log".into())
            .spawn(move || write_log(&items));
        LogQueue { queue }
    }
}

impl Write for LogQueue {
    /// env_logger writes each line whole, with one `write_all`: one item per line.
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if self.queue.try_send(LogItem::Line(line.to_vec())).is_err() {
            LOG_DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The logging thread: writes lines as they come; after each, reports lines dropped since
/// the last report.
fn write_log(items: &std::sync::mpsc::Receiver<LogItem>) {
    let mut reported = 0;
    for item in items {
        match item {
            LogItem::Line(line) => {
                let _ = io::stderr().write_all(&line);
            }
            LogItem::Written(done) => {
                let _ = done.send(());
            }
        }
        let dropped = LOG_DROPPED.load(std::sync::atomic::Ordering::Relaxed);
        if dropped > reported {
            let _ = writeln!(
                io::stderr(),
                "{}: {} log line{} dropped: stderr is not keeping up",
                program_name(),
                dropped - reported,
                if dropped - reported == 1 { "" } else { "s" }
            );
            reported = dropped;
        }
    }
}

/// Waits until every log line queued so far is written, for at most 2 s (a stopped
/// reader of stderr must not stop the program from ending).
pub fn flush_logs() {
    let Some(queue) = LOG_SENDER.get() else {
        return;
    };
    let (done, written) = std::sync::mpsc::channel();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut item = LogItem::Written(done);
    loop {
        match queue.try_send(item) {
            Ok(()) => break,
            Err(std::sync::mpsc::TrySendError::Full(back)) => item = back,
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return,
        }
        if std::time::Instant::now() >= deadline {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = written.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
}

/// Stops the loop on Ctrl-C (SIGINT) or SIGTERM: the library's
/// [`mio_selectors::signal::stop_on_ctrl_c`] (a small signal-handling thread; a second
/// signal ends the process), with the examples' error line.
///
/// Python gets this for free: Ctrl-C raises `KeyboardInterrupt` inside `select()`, and a
/// `finally:` closes the selector. A Rust process is simply killed by SIGINT unless it
/// installs a handler; this one turns the signal into a call to `stop`, so the loop ends,
/// closes its connections and returns normally.
pub fn stop_on_ctrl_c(stop: Stop) -> Result<()> {
    mio_selectors::signal::stop_on_ctrl_c(stop).context("cannot handle Ctrl-C")
}

/// Stops every worker's loop on Ctrl-C or SIGTERM: the library's
/// [`mio_selectors::signal::stop_all_on_ctrl_c`] (a second signal ends the process), with
/// the examples' error line.
pub fn stop_all_on_ctrl_c(stops: Vec<Stop>) -> Result<()> {
    mio_selectors::signal::stop_all_on_ctrl_c(stops).context("cannot handle Ctrl-C")
}

/// Runs each server's loop in a thread of its own (`worker-0`, `worker-1`, ...), stops them
/// all on Ctrl-C, and waits for every one: the first that fails (or panics) is the
/// program's failure, `"{what} failed: {err}"`.
///
/// `stop_handle` and `serve` are the server type's `stop_handle` and `run`; both HTTP
/// examples serve one listener a worker this way (`--workers`).
pub fn run_workers<S: Send + 'static>(
    servers: Vec<S>,
    stop_handle: impl Fn(&S) -> Stop,
    serve: fn(S) -> io::Result<()>,
    what: &str,
) -> Result<()> {
    stop_all_on_ctrl_c(servers.iter().map(stop_handle).collect())?;
    let workers = servers
        .into_iter()
        .enumerate()
        .map(|(i, server)| {
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || serve(server))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("cannot start a worker thread")?;
    for worker in workers {
        let result = worker
            .join()
            .map_err(|_| Failure::new("a worker thread panicked"))?;
        result.with_context(|| format!("{what} failed"))?;
    }
    Ok(())
}
