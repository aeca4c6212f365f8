//! Port of `BaseSelectorEventLoop._accept_connection` (Lib/asyncio/selector_events.py):
//! accepting connections, the connection limit, and the back-off after running out of
//! descriptors.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

use log::{debug, error, info, warn};

use super::protocol::Protocol;
use super::stream::{Addr, Stream};
use super::transport::CloseReason;
use super::{
    entry_in, stream_in, Action, Core, Entry, Factory, Kind, LingeringClose, ListenSocket,
    ListenerId,
};
use crate::os_errors::{is_listener_broken, is_out_of_resources};
use crate::timeout::instant_after;
use crate::{Token, EVENT_READ};

impl ListenSocket {
    /// One accepted connection and its peer's address. The address comes with `accept`
    /// itself and is kept, so that [`Transport::peer_addr`](super::Transport::peer_addr)
    /// costs no `getpeername` later (asyncio likewise keeps `peername` from the start).
    fn accept(&self) -> io::Result<(Stream, Addr)> {
        match self {
            ListenSocket::Tcp(l, _) => l.accept().map(|(s, a)| (Stream::Tcp(s), Addr::Inet(a))),
            ListenSocket::Unix(l) => l.accept().map(|(s, a)| (Stream::Unix(s), Addr::Unix(a))),
        }
    }
}

/// Sets `TCP_NODELAY` on a listener where the kernel passes it on to the sockets it
/// accepts, and says whether it did: then an accepted connection needs no `setsockopt` of
/// its own (one system call less per connection). Linux copies the listener's socket
/// state into each accepted socket (`sk_clone_lock`), Nagle's setting included; elsewhere
/// each connection sets it, as before.
// Python: asyncio sets TCP_NODELAY on every accepted socket (`_set_nodelay`).
#[cfg(target_os = "linux")]
fn nodelay_inherited(listener: &std::net::TcpListener) -> bool {
    match rustix::net::sockopt::set_tcp_nodelay(listener, true) {
        Ok(()) => true,
        Err(err) => {
            debug!("TCP_NODELAY on the listener: {err}; set per connection instead");
            false
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn nodelay_inherited(_listener: &std::net::TcpListener) -> bool {
    false
}

impl<S: 'static> Core<S> {
    pub(crate) fn listen_tcp<P, F>(
        &mut self,
        listener: std::net::TcpListener,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        P: Protocol<S> + Send + 'static,
        F: FnMut() -> P + Send + 'static,
    {
        // A blocking listener would stall the whole loop in accept() whenever a client
        // gives up between select() and accept().
        listener.set_nonblocking(true)?;
        let nodelay = self.state.config.tcp_nodelay && nodelay_inherited(&listener);
        let socket = ListenSocket::Tcp(mio::net::TcpListener::from_std(listener), nodelay);
        self.add_listener(socket, factory)
    }

    pub(crate) fn listen_unix<P, F>(
        &mut self,
        listener: UnixListener,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        P: Protocol<S> + Send + 'static,
        F: FnMut() -> P + Send + 'static,
    {
        listener.set_nonblocking(true)?;
        let socket = ListenSocket::Unix(mio::net::UnixListener::from_std(listener));
        self.add_listener(socket, factory)
    }

    fn add_listener<P, F>(&mut self, socket: ListenSocket, mut factory: F) -> io::Result<ListenerId>
    where
        P: Protocol<S> + Send + 'static,
        F: FnMut() -> P + Send + 'static,
    {
        let fd = match &socket {
            ListenSocket::Tcp(l, _) => l.as_raw_fd(),
            ListenSocket::Unix(l) => l.as_raw_fd(),
        };
        let factory: Factory<S> = Box::new(move || Box::new(factory()));
        let id = self.insert(
            fd,
            Kind::Listener {
                socket,
                factory,
                resting: false,
                full: false,
            },
        );
        // Registered now, so that an error is the caller's to see.
        if let Err(err) = self.apply_interest(id) {
            self.remove(id);
            return Err(err.into());
        }
        Ok(ListenerId(id))
    }

    pub(crate) fn close_listener(&mut self, id: ListenerId) -> bool {
        match self.entry_mut(id.0) {
            Some(Entry {
                kind: Kind::Listener { .. },
                ..
            }) => {
                self.remove(id.0);
                true
            }
            _ => false,
        }
    }

    /// The listener is readable: accept up to `accept_batch` connections. What is left is
    /// reported again by the next `select` (level triggers), after the others had a turn.
    pub(crate) fn accept(&mut self, id: ListenerId, token: Token) -> io::Result<()> {
        for _ in 0..self.state.config.accept_batch.max(1) {
            let Some(Entry {
                kind: Kind::Listener { resting, .. },
                ..
            }) = self.entry_mut(id.0)
            else {
                return Ok(());
            };
            if *resting {
                return Ok(());
            }
            let config = &self.state.config;
            if config.wait_when_full
                && self.state.open_streams >= config.max_connections
                && !self.reclaim_one()
            {
                self.wait_until_not_full(id);
                return Ok(());
            }
            let Some(Entry {
                kind: Kind::Listener { socket, .. },
                ..
            }) = entry_in(&mut self.entries, id.0)
            else {
                return Ok(());
            };
            match socket.accept() {
                Ok((stream, peer)) => self.accepted(id, stream, peer),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let _ = self.sel.mark_drained(token, EVENT_READ);
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if is_out_of_resources(&err) => {
                    self.rest_listener(id, &err);
                    return Ok(());
                }
                // The listener itself is unusable (not listening, not a socket): it would
                // fail the same way on every event, and being level-triggered, be reported
                // on every event. Stop, and say why.
                Err(err) if is_listener_broken(&err) => {
                    log::error!("accept failed: {err}; the listener cannot accept: stopping");
                    return Err(err);
                }
                // ECONNABORTED, EPERM (a firewall) and the like concern one client only.
                Err(err) => debug!("accept failed: {err}; continuing"),
            }
        }
        Ok(())
    }

    /// A new connection: over the limit it is told so and closed; else it gets a protocol.
    fn accepted(&mut self, id: ListenerId, mut stream: Stream, peer: Addr) {
        // Python: asyncio has no connection limit; a server over RLIMIT_NOFILE meets EMFILE.
        if self.state.open_streams >= self.state.config.max_connections && !self.reclaim_one() {
            self.state.stats.rejected.fetch_add(1, Ordering::Relaxed);
            debug!(
                "{} connections open: turning one away",
                self.state.open_streams
            );
            let message = &self.state.config.full_message;
            if !message.is_empty() {
                // One try: a client that cannot take a few bytes at once does not get them.
                let _ = stream.write(message);
            }
            return; // dropping it closes it
        }
        let Some(Entry {
            kind: Kind::Listener {
                factory, socket, ..
            },
            ..
        }) = self.entry_mut(id.0)
        else {
            return;
        };
        let nodelay_set = matches!(socket, ListenSocket::Tcp(_, true));
        // A factory is application code: its panic must cost one connection, not the loop
        // (the promise of the module). The stream is dropped, which closes it.
        // Python: `_accept_connection2` logs a failing `protocol_factory()` and closes the
        // socket.
        let Some(protocol) = super::guarded(factory) else {
            error!("{id:?}: the protocol factory panicked; closing the new connection");
            return;
        };
        self.state.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let conn = self.add_stream(stream, Some(peer), protocol, false, nodelay_set);
        debug!("{id:?}: accepted {conn:?}");
        // connection_made, and the first interest, before the next accept.
        self.settle();
    }

    /// At the connection limit: closes the reusable connection ([`Transport::set_reusable`])
    /// idle the longest that has nothing left to send, so that a new client takes its
    /// place instead of being turned away; true if that made room. nginx:
    /// `ngx_drain_connections`, which closes reusable connections from the tail of its
    /// queue (the longest idle) when it runs short.
    ///
    /// [`Transport::set_reusable`]: super::Transport::set_reusable
    fn reclaim_one(&mut self) -> bool {
        let mut found = None;
        for &(_, id) in &self.state.reusable {
            let Some(conn) = stream_in(&mut self.entries, id) else {
                continue;
            };
            // A lingering close is over anyway; an idle connection must owe nothing (its
            // protocol said idle, but a response may still be on its way out).
            let idle = !conn.closing && !conn.connecting && conn.queue.is_empty();
            if conn.linger.is_some() || (idle && conn.lost.is_none()) {
                found = Some(id);
                break;
            }
        }
        let Some(id) = found else {
            return false;
        };
        let now = self.state.now;
        if self
            .state
            .reclaim_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
        {
            self.state.reclaim_logged = Some(now);
            info!(
                "{} connections open (the limit): closing idle ones to make room",
                self.state.open_streams
            );
        }
        if let Some(conn) = stream_in(&mut self.entries, id) {
            debug!("{id:?}: closed to make room for a new connection");
            if conn.linger.is_some() {
                conn.end_linger();
            } else {
                // Nothing is owed, and nothing is waiting to be read that matters: no
                // linger, the slot is needed now.
                conn.lingering = LingeringClose::Off;
                conn.close_with(CloseReason::Closed);
            }
        }
        self.state.stats.reclaimed.fetch_add(1, Ordering::Relaxed);
        self.mark_dirty(id);
        self.settle(); // connection_lost, and the slot freed
        self.state.open_streams < self.state.config.max_connections
    }

    /// Out of descriptors: every accept would fail at once, and since the listener stays
    /// readable, a level-triggered loop would spin. Take it off the selector for a while;
    /// closing connections free descriptors meanwhile.
    // Python: asyncio does the same (remove the reader, `call_later(ACCEPT_RETRY_DELAY)`);
    // Twisted also closes the backlog with a spare descriptor, which we do not.
    fn rest_listener(&mut self, id: ListenerId, err: &io::Error) {
        let backoff = self.state.config.accept_backoff;
        warn!(
            "accept failed: {err}; not accepting for {backoff:?} ({} connections open)",
            self.state.open_streams
        );
        if let Some(Entry {
            kind: Kind::Listener { resting, .. },
            ..
        }) = self.entry_mut(id.0)
        {
            *resting = true;
        }
        self.state
            .stats
            .accept_pauses
            .fetch_add(1, Ordering::Relaxed);
        let when = instant_after(self.state.now, backoff);
        self.state.timers.insert(when, Action::ResumeAccept(id));
        self.state.dirty.push(super::ConnId(id.0));
    }

    /// At the connection limit with `wait_when_full`: the listener leaves the selector (a
    /// readable listener we do not accept from would be reported on every `select`), and
    /// clients wait in the kernel's listen queue until a connection closes.
    fn wait_until_not_full(&mut self, id: ListenerId) {
        if let Some(Entry {
            kind: Kind::Listener { full, .. },
            ..
        }) = self.entry_mut(id.0)
        {
            if !std::mem::replace(full, true) {
                debug!(
                    "{} connections open: not accepting until one closes",
                    self.state.open_streams
                );
                self.state.full_listeners.push(id);
                self.state.dirty.push(super::ConnId(id.0));
            }
        }
    }

    /// A connection closed below the limit: listeners that waited accept again.
    pub(crate) fn resume_full_listeners(&mut self) {
        for id in std::mem::take(&mut self.state.full_listeners) {
            if let Some(Entry {
                kind: Kind::Listener { full, .. },
                ..
            }) = self.entry_mut(id.0)
            {
                *full = false;
                self.state.dirty.push(super::ConnId(id.0));
            }
        }
    }

    pub(crate) fn resume_accepting(&mut self, id: ListenerId) {
        if let Some(Entry {
            kind: Kind::Listener { resting, .. },
            ..
        }) = self.entry_mut(id.0)
        {
            *resting = false;
            info!("accepting connections again");
            self.state.dirty.push(super::ConnId(id.0));
        }
    }
}

#[cfg(test)]
mod tests {
    /// What saves the per-connection `setsockopt`: on Linux a socket accepted from a
    /// listener with `TCP_NODELAY` has it too. Were a kernel to stop passing it on, this
    /// fails (and `nodelay_inherited` must then answer false there).
    #[test]
    #[cfg(target_os = "linux")]
    fn an_accepted_socket_inherits_tcp_nodelay_from_its_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(super::nodelay_inherited(&listener));
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
        // And without it on the listener, an accepted socket does not have it: the test
        // above would see the difference.
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(plain.local_addr().unwrap()).unwrap();
        let (accepted, _) = plain.accept().unwrap();
        assert!(!accepted.nodelay().unwrap());
    }
}
