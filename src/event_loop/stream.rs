//! The sockets a transport can carry: TCP and Unix-domain streams, and their addresses.
//!
//! Python: one `socket.socket` class covers `AF_INET`, `AF_INET6` and `AF_UNIX`; in Rust
//! they are different types, so the layer wraps them in one enum here and nowhere else.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use mio::net::{TcpStream, UnixStream};

/// A connected stream socket, TCP or Unix-domain.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A socket address: an IP address and port, or a Unix-domain path.
///
/// Python: the `peername`/`sockname` extras, a `(host, port)` tuple or a path string.
#[derive(Debug, Clone)]
pub enum Addr {
    /// TCP over IPv4 or IPv6.
    Inet(SocketAddr),
    /// A Unix-domain socket (its path, or unnamed, as a client usually is).
    Unix(std::os::unix::net::SocketAddr),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(addr) => addr.fmt(f),
            Addr::Unix(addr) => match addr.as_pathname() {
                Some(path) => path.display().fmt(f),
                None => f.write_str("(unnamed)"),
            },
        }
    }
}

impl Stream {
    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Addr::Inet),
            Stream::Unix(s) => s.peer_addr().map(Addr::Unix),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Stream::Tcp(s) => s.local_addr().map(Addr::Inet),
            Stream::Unix(s) => s.local_addr().map(Addr::Unix),
        }
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    /// Looks at what is waiting without taking it (`recv(MSG_PEEK)`): 0 means end of
    /// file, an error a reset. A Unix-domain stream answers 1, "something may be there":
    /// mio does not wrap its peek, and std's is unstable, so the caller stops watching it.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.peek(buf),
            Stream::Unix(_) => Ok(1),
        }
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}
