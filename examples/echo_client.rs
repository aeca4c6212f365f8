//! A blocking echo client: sends lines, prints the echo, checks it is identical.
//!
//! Mirrors `docs/python/echo_client.py`. It connects to an echo server, sends each line of
//! stdin (or `--message`, `--count` times), prints what comes back and verifies it byte for
//! byte. Exit status 0 if every byte came back unchanged, 1 on a mismatch, an early close or
//! any other error. Plain blocking `std::net` calls, like the blocking server: one
//! connection needs no selector.
//!
//! Two ways to talk, as in Python:
//!
//! * lockstep (default): send one line, read its echo, send the next; at the end, shut down
//!   the write side and expect the server to close too, with no extra bytes;
//! * `--half-close`: send everything, shut down the write side, then read until the server
//!   closes: the server must still echo every byte it received. Keep that input small
//!   (well under a megabyte): nothing is read while sending, so a large input leaves both
//!   sides blocked on full buffers until `--timeout`.
//!
//! Run it (with one of the echo servers running: `cargo run --example echo_server`):
//!
//! ```sh
//! cargo run --example echo_client                                  # type lines; Ctrl-D ends
//! cargo run --example echo_client -- --message hello --count 3
//! seq 1 1000 | cargo run --example echo_client -- --half-close --quiet
//! cargo run --example echo_client -- --host ::1 --port 9000 --message hi
//! ```
//!
//! Ctrl-C ends it at once (the default action of SIGINT); the OS closes the socket.

mod common;

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::Context;
use log::info;

/// Read at most this much per `read` call. Python: `RECV_SIZE = 64 * 1024`.
const RECV_SIZE: usize = 64 * 1024;

/// Blocking echo client: sends lines, prints and verifies the echo.
///
/// Exit status 0 only if the echo matched.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(
        mirrors = "docs/python/echo_client.py",
        stop = "It ends at the end of its input (Ctrl-D when typing); Ctrl-C ends it at once."
    )
)]
struct Cli {
    #[command(flatten)]
    address: common::Address,
    /// Send this text (plus a newline) instead of reading stdin
    #[arg(long)]
    message: Option<String>,
    /// With --message: how many times to send it
    #[arg(long, default_value_t = 1, requires = "message",
          value_parser = common::at_least_one())]
    count: usize,
    /// Send everything, shut down the write side, then read the echo
    #[arg(long)]
    half_close: bool,
    /// Verify the echo without printing it
    #[arg(long, short)]
    quiet: bool,
    /// Seconds any one socket operation may take (0: no limit)
    #[arg(long, default_value = "10", value_parser = common::seconds_or_never)]
    // Spelled out in full, so that clap does not read it as "an optional flag".
    timeout: ::std::option::Option<Duration>,
}

/// Why the exchange failed. Python: `EchoMismatch`, or an `OSError`.
enum EchoError {
    /// The server sent back something other than what we sent.
    Mismatch(String),
    Io(io::Error),
}

impl From<io::Error> for EchoError {
    fn from(err: io::Error) -> EchoError {
        EchoError::Io(err)
    }
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EchoError::Mismatch(why) => write!(f, "echo mismatch: {why}"),
            EchoError::Io(err) if is_timeout(err) => write!(
                f,
                "timed out ({err}); is the server busy with another client?"
            ),
            EchoError::Io(err) => err.fmt(f),
        }
    }
}

fn main() -> ExitCode {
    common::run(|cli: Cli| {
        // Python: socket.create_connection(timeout=None) for 0: block as long as it takes.
        let timeout = cli.timeout;
        let addrs = cli.address.resolve()?;
        let mut sock = connect(&addrs, timeout)
            .with_context(|| format!("cannot connect to {}", cli.address))?;
        let peer = sock
            .peer_addr()
            .context("cannot read the server's address")?;
        info!("connected to {peer}");
        let (count, total) = talk(&cli, &mut sock, timeout).map_err(|err| match err {
            // Through `caused`, so that a closed stdout ends the program quietly.
            EchoError::Io(err) if !is_timeout(&err) => {
                common::Failure::caused(format!("echo with {peer} failed"), &err)
            }
            err => common::Failure::new(format!("echo with {peer} failed: {err}")),
        })?;
        info!("echo verified: {count} messages, {total} bytes");
        Ok(())
    })
}

/// Exchanges every message, and returns how many messages and bytes were echoed.
fn talk(
    cli: &Cli,
    sock: &mut TcpStream,
    timeout: Option<Duration>,
) -> Result<(u64, u64), EchoError> {
    // Python: socket.create_connection(..., timeout=...) applies to every later call too.
    sock.set_read_timeout(timeout)?;
    sock.set_write_timeout(timeout)?;
    let messages = read_messages(cli);
    let mut show = |echo: &[u8]| -> io::Result<()> {
        if !cli.quiet {
            // Not io::stdout(): a closed stdout (`| head -1`) must end the program quietly.
            let mut out = common::stdout();
            out.write_all(echo)?;
            out.flush()?; // show each echo as soon as it arrives
        }
        Ok(())
    };
    if cli.half_close {
        echo_half_close(sock, messages, &mut show)
    } else {
        echo_lockstep(sock, messages, &mut show)
    }
}

/// Python: `socket.create_connection((host, port), timeout)`: tries every address of the
/// host in turn (IPv6 and IPv4) until one connects. With several, the error names the last
/// one tried.
fn connect(addrs: &[SocketAddr], timeout: Option<Duration>) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in addrs {
        let attempt = match timeout {
            Some(timeout) => TcpStream::connect_timeout(addr, timeout),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(sock) => return Ok(sock),
            Err(err) if addrs.len() == 1 => last_error = Some(err),
            Err(err) => last_error = Some(io::Error::new(err.kind(), format!("{addr}: {err}"))),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// Python: `echo_lockstep`. Sends each message and waits for its echo before the next.
fn echo_lockstep(
    sock: &mut TcpStream,
    messages: impl Iterator<Item = io::Result<Vec<u8>>>,
    show: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(u64, u64), EchoError> {
    let (mut count, mut total) = (0, 0);
    for message in messages {
        let message = message?;
        sock.write_all(&message)?; // Python: sendall
        let echo = recv_exactly(sock, message.len())?;
        show(&echo)?;
        check_same(&message, &echo, total)?;
        count += 1;
        total += message.len() as u64;
    }
    // Tell the server we are done; it should close its side once it has echoed
    // everything, so the next read returns 0 (end of file).
    sock.shutdown(Shutdown::Write)?;
    let extra = recv_until_eof(sock)?;
    if !extra.is_empty() {
        return Err(EchoError::Mismatch(format!(
            "{} unexpected bytes after the last echo",
            extra.len()
        )));
    }
    Ok((count, total))
}

/// Python: `echo_half_close`. Sends everything, shuts down the write side, then reads the
/// whole echo.
fn echo_half_close(
    sock: &mut TcpStream,
    messages: impl Iterator<Item = io::Result<Vec<u8>>>,
    show: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(u64, u64), EchoError> {
    let mut sent = Vec::new();
    let mut count = 0;
    for message in messages {
        let message = message?;
        sock.write_all(&message)?;
        sent.extend_from_slice(&message);
        count += 1;
    }
    // The server sees end of file but must still send us every byte it owes.
    sock.shutdown(Shutdown::Write)?;
    let echo = recv_until_eof(sock)?;
    show(&echo)?;
    check_same(&sent, &echo, 0)?;
    Ok((count, sent.len() as u64))
}

/// Python: `recv_exactly`. A read returns whatever has arrived: loop until `size` bytes.
fn recv_exactly(sock: &mut TcpStream, size: usize) -> Result<Vec<u8>, EchoError> {
    let mut echo = vec![0; size];
    let mut got = 0;
    while got < size {
        let end = size.min(got + RECV_SIZE);
        match sock.read(&mut echo[got..end]) {
            Ok(0) => {
                return Err(EchoError::Mismatch(format!(
                    "server closed after {got} of {size} bytes"
                )))
            }
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(echo)
}

/// Python: `recv_until_eof`. Reads until the server closes its side.
fn recv_until_eof(sock: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut echo = Vec::new();
    sock.read_to_end(&mut echo)?;
    Ok(echo)
}

/// Python: `check_same`. Describes the first difference, if any.
fn check_same(sent: &[u8], echo: &[u8], offset: u64) -> Result<(), EchoError> {
    if sent == echo {
        return Ok(());
    }
    if let Some(i) = sent.iter().zip(echo).position(|(want, got)| want != got) {
        return Err(EchoError::Mismatch(format!(
            "byte {}: sent {:#04x}, got back {:#04x}",
            offset + i as u64,
            sent[i],
            echo[i]
        )));
    }
    Err(EchoError::Mismatch(format!(
        "sent {} bytes, got back {}",
        sent.len(),
        echo.len()
    )))
}

/// Python: `read_messages`. `--message` repeated, or stdin line by line, each read only
/// when it is needed, so an interactive user sees each echo right after pressing Enter.
fn read_messages(cli: &Cli) -> Box<dyn Iterator<Item = io::Result<Vec<u8>>>> {
    if let Some(text) = &cli.message {
        let line = format!("{text}\n").into_bytes();
        return Box::new((0..cli.count).map(move |_| Ok(line.clone())));
    }
    let mut stdin = io::stdin().lock();
    Box::new(std::iter::from_fn(move || {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => None, // end of input (Ctrl-D)
            Ok(_) => Some(Ok(line)),
            Err(err) => Some(Err(err)),
        }
    }))
}

/// A blocking call that ran out of time: `WouldBlock` or `TimedOut`, depending on the OS.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
