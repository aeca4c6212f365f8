//! Name resolution off the loop thread: the course's DNS section in code.
//!
//! Python: `loop.getaddrinfo()` runs `socket.getaddrinfo` in the loop's default executor
//! (a thread pool), and skips it for numeric addresses (`_ipaddr_info`). `getaddrinfo` is a
//! blocking call to a directory service that may take seconds; made on the loop thread it
//! would stop every connection for that long.
//!
//! [`Resolver`] runs lookups on a few threads of its own and hands each result back to
//! the loop with [`LoopHandle::call_soon_threadsafe`], where the callback runs like any
//! other. It stands in for the layer's worker pool (issue 16), behind the [`Resolve`]
//! trait so that the pool, or a test's fake directory, can take its place.
// TODO(issue 16): submit to the layer's worker pool once it lands, and drop these threads.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use log::debug;

use crate::event_loop::{LoopContext, LoopHandle};

/// Looks a name up: the blocking call that must not run on the loop thread.
///
/// Python: `socket.getaddrinfo(host, port)`.
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host`, with `port`.
    ///
    /// # Errors
    /// The resolver's error: no such name, no answer.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The system's resolver (`getaddrinfo`, through [`ToSocketAddrs`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads that run lookups for one loop.
///
/// # Examples
///
/// ```
/// use mio_selectors::event_loop::EventLoop;
/// use mio_selectors::proxy::{Resolver, SystemResolver};
/// use std::sync::Arc;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut lp = EventLoop::new(Vec::new())?;
/// let resolver = Resolver::new(lp.handle(), Arc::new(SystemResolver), 1);
/// resolver.resolve("localhost", 80, |ctx, addrs| {
///     ctx.app().extend(addrs.unwrap_or_default());
///     ctx.stop();
/// });
/// lp.run()?; // the answer arrives as a callback on the loop
/// assert!(lp.app().iter().all(|a| a.ip().is_loopback()));
/// # Ok(())
/// # }
/// ```
pub struct Resolver<S> {
    handle: LoopHandle<S>,
    resolve: Arc<dyn Resolve>,
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl<S: 'static> Resolver<S> {
    /// `threads` lookup threads (at least one) for the loop `handle` belongs to. They end
    /// when the resolver is dropped, once the lookups they are running return.
    pub fn new(handle: LoopHandle<S>, resolve: Arc<dyn Resolve>, threads: usize) -> Resolver<S> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned =
                thread::Builder::new()
                    .name(format!("resolver-{i}"))
                    .spawn(move || loop {
                        // The lock is held only while waiting for a job, not while running it.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the resolver was dropped
                        }
                    });
            if let Err(err) = spawned {
                debug!("cannot start a resolver thread: {err}");
            }
        }
        Resolver {
            handle,
            resolve,
            jobs: Mutex::new(tx),
        }
    }

    /// Resolves `host:port` on a resolver thread; `done` runs on the loop with the result.
    /// A numeric address is answered without a thread (still through the loop, so `done`
    /// never runs inside the caller). If the loop has gone, `done` never runs.
    pub fn resolve(
        &self,
        host: &str,
        port: u16,
        done: impl FnOnce(&mut LoopContext<'_, S>, io::Result<Vec<SocketAddr>>) + Send + 'static,
    ) {
        let handle = self.handle.clone();
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let addrs = vec![SocketAddr::new(ip, port)];
            let _ = handle.call_soon_threadsafe(move |ctx| done(ctx, Ok(addrs)));
            return;
        }
        let resolve = Arc::clone(&self.resolve);
        let host = host.to_owned();
        let job: Job = Box::new(move || {
            let result = resolve.resolve(&host, port);
            debug!("resolved {host}: {result:?}");
            let _ = handle.call_soon_threadsafe(move |ctx| done(ctx, result));
        });
        let sent = self
            .jobs
            .lock()
            .map_err(|_| ())
            .and_then(|jobs| jobs.send(job).map_err(|_| ()));
        if sent.is_err() {
            debug!("no resolver thread is running");
        }
    }
}

impl<S> fmt::Debug for Resolver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}
