//! Port of `docs/python/echo_threads.py`: the second server, a thread per client.
//!
//! The blocking server's per-client code, unchanged, on a thread of its own, so that clients
//! no longer wait for each other. The price is a thread (a stack, a kernel task, a context
//! switch per message) for every connection, which is what the selector server avoids.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;

use log::{debug, warn};

use super::blocking::{accept_or_wait, echo_until_eof};
use super::{Config, Stats};

/// The stack each connection's thread gets. Its buffer is on the heap, so the thread needs
/// little; the default (2 MiB of address space) would make 10,000 clients cost 20 GiB.
const STACK_SIZE: usize = 128 * 1024;

/// Serves every client on a thread of its own, forever.
///
/// Python: the whole of `echo_threads.py`.
///
/// # Errors
/// Only if the listener itself fails in a way that will not pass. A thread that cannot be
/// started (the system is out of threads or memory) costs that client its connection, and
/// is logged.
///
/// # Examples
///
/// ```
/// use mio_selectors::echo::{threaded, Config, Stats};
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::sync::Arc;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let stats = Arc::new(Stats::default());
/// let server_stats = Arc::clone(&stats);
/// std::thread::spawn(move || threaded::serve(listener, Config::default(), server_stats));
///
/// // Two clients at once: the second is not kept waiting by the first.
/// let mut first = TcpStream::connect(addr)?;
/// let mut second = TcpStream::connect(addr)?;
/// second.write_all(b"two")?;
/// let mut reply = [0; 3];
/// second.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"two");
/// first.write_all(b"one")?;
/// first.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"one");
/// # Ok(())
/// # }
/// ```
pub fn serve(listener: TcpListener, config: Config, stats: Arc<Stats>) -> io::Result<()> {
    // Debug, not info: the program says where it listens (a log filter could hide it).
    debug!(
        "threaded echo server listening on {}",
        listener.local_addr()?
    );
    loop {
        let Some((conn, addr)) = accept_or_wait(&listener, &config)? else {
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let thread_stats = Arc::clone(&stats);
        let chunk = config.read_chunk.max(1);
        let spawned = thread::Builder::new()
            .name(format!("echo {addr}"))
            .stack_size(STACK_SIZE)
            .spawn(move || {
                // Each thread has its own buffer: they all read at the same time.
                let mut buf = vec![0; chunk];
                match echo_until_eof(conn, &mut buf, &thread_stats) {
                    Ok(()) => debug!("{addr} finished"),
                    Err(err) => debug!("{addr}: {err}"),
                }
                thread_stats.open.fetch_sub(1, Ordering::Relaxed);
            });
        if let Err(err) = spawned {
            // `conn` went down with the closure: this client is disconnected, others go on.
            warn!("cannot start a thread for {addr}: {err}; closing the connection");
            stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
