//! Port of `docs/python/echo_blocking.py`: the course's first server, one client at a time.
//!
//! Every call blocks: `accept` until a client connects, `read` until it sends, `write_all`
//! until the kernel has taken every byte. That makes the code a straight line, and it is
//! also the problem: while one client is connected, the next waits in the listen queue.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;

use log::{debug, warn};

use super::{Config, Stats};

/// Serves one client at a time, forever (Python: `while True: conn, addr = s.accept()`).
///
/// Python: the whole of `echo_blocking.py`.
///
/// # Errors
/// Only if the listener itself fails in a way that will not pass (an invalid socket).
/// Running out of descriptors, or a client that resets, is logged and the loop goes on.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::{blocking, Config, Stats};
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::sync::Arc;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let stats = Arc::new(Stats::default());
/// let server_stats = Arc::clone(&stats);
/// // Runs until the process exits, like the Python program.
/// std::thread::spawn(move || blocking::serve(listener, &Config::default(), &server_stats));
///
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"hello")?;
/// client.shutdown(std::net::Shutdown::Write)?; // Python: s.shutdown(SHUT_WR)
/// let mut reply = Vec::new();
/// client.read_to_end(&mut reply)?;
/// assert_eq!(reply, b"hello");
/// # Ok(())
/// # }
/// ```
pub fn serve(listener: TcpListener, config: &Config, stats: &Stats) -> io::Result<()> {
    // Debug, not info: the program says where it listens (a log filter could hide it).
    debug!(
        "blocking echo server listening on {}",
        listener.local_addr()?
    );
    // One buffer, reused for every client: nobody else runs while this one is served.
    let mut buf = vec![0; config.read_chunk.max(1)];
    loop {
        let Some((conn, addr)) = accept_or_wait(&listener, config)? else {
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        debug!("connected by {addr}");
        match echo_until_eof(conn, &mut buf, stats) {
            Ok(()) => debug!("{addr} finished"),
            Err(err) => debug!("{addr}: {err}"),
        }
        stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One blocking `accept`; on a passing failure, logs it and returns `None` (after a pause if
/// the process is out of descriptors, since blocking code has no loop to pause instead).
///
/// # Errors
/// The `accept` error if the listener itself is broken (it would fail forever).
///
/// Shared with the [threaded](super::threaded) server: the two differ only in what they do
/// with the connection.
pub(crate) fn accept_or_wait(
    listener: &TcpListener,
    config: &Config,
) -> io::Result<Option<(TcpStream, SocketAddr)>> {
    Ok(match listener.accept() {
        Ok(accepted) => Some(accepted),
        Err(err) if crate::os_errors::is_listener_broken(&err) => return Err(err),
        Err(err) if crate::os_errors::is_out_of_resources(&err) => {
            warn!(
                "accept failed: {err}; retrying in {:?}",
                config.accept_backoff
            );
            std::thread::sleep(config.accept_backoff);
            None
        }
        Err(err) => {
            warn!("accept failed: {err}; continuing");
            None
        }
    })
}

/// Python: `while True: data = conn.recv(RECV_SIZE); if not data: break; conn.sendall(data)`.
///
/// Shared with the [threaded](super::threaded) server, which runs it on one thread per
/// client. At most one buffer of bytes is ever held: `write_all` returns only when the
/// kernel has taken all of it, so a client that does not read stalls its own connection
/// (and, here, everyone waiting behind it).
pub(crate) fn echo_until_eof(mut conn: TcpStream, buf: &mut [u8], stats: &Stats) -> io::Result<()> {
    loop {
        let n = match conn.read(buf) {
            Ok(0) => return Ok(()), // the client shut down its side: every byte went back
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        stats.peak_buffered.fetch_max(n, Ordering::Relaxed);
        conn.write_all(&buf[..n])?;
        stats.bytes_echoed.fetch_add(n as u64, Ordering::Relaxed);
    }
}
