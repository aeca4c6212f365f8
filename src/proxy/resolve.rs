//! Name resolution off the loop thread: the course's DNS section in code.
//!
//! Python: `loop.getaddrinfo()` runs `socket.getaddrinfo` in the loop's default executor
//! (a thread pool), and skips it for numeric addresses (`_ipaddr_info`). `getaddrinfo` is a
//! blocking call to a directory service that may take seconds; made on the loop thread it
//! would stop every connection for that long.
//!
//! The proxy runs each lookup on a worker pool of the layer
//! ([`LoopContext::run_in_executor`](crate::event_loop::LoopContext::run_in_executor)),
//! and the answer comes back as a callback on the loop like any other event. The lookup
//! itself is behind the [`Resolve`] trait, so that a test can put a fake directory in its
//! place ([`ProxyServer::with_resolver`](super::ProxyServer::with_resolver)).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Looks a name up: the blocking call that must not run on the loop thread.
///
/// Python: `socket.getaddrinfo(host, port)`.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::{Resolve, SystemResolver};
///
/// let addrs = SystemResolver.resolve("localhost", 8080).unwrap();
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
/// ```
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
