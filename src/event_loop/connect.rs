//! Port of `loop.create_connection()` (`sock_connect` + `_sock_connect_cb` in
//! selector_events.py): outgoing connections, a non-blocking `connect`, then the kernel's
//! answer.
//!
//! mio's recipe, from `TcpStream::connect`'s docs: wait until the socket is writable, then
//! `take_error()` (refused, unreachable), then `peer_addr()` (`NotConnected`: not yet,
//! keep waiting).

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use log::debug;

use super::protocol::{Lost, Protocol};
use super::stream::Stream;
use super::{Action, ConnId, Core};
use crate::timeout::instant_after;

impl<S: 'static> Core<S> {
    pub(crate) fn connect_tcp<P>(
        &mut self,
        addr: SocketAddr,
        protocol: P,
        timeout: Option<std::time::Duration>,
    ) -> io::Result<ConnId>
    where
        P: Protocol<S> + Send + 'static,
    {
        let stream = mio::net::TcpStream::connect(addr)?;
        let id = self.add_stream(Stream::Tcp(stream), None, Box::new(protocol), true, false);
        if let Some(timeout) = timeout {
            let when = instant_after(std::time::Instant::now(), timeout);
            let timer = self.state.timers.insert(when, Action::ConnectTimeout(id));
            if let Some(conn) = self.stream_mut(id) {
                conn.connect_timer = Some(timer);
            }
        }
        debug!("{id:?}: connecting to {addr}");
        Ok(id)
    }

    pub(crate) fn connect_unix<P>(&mut self, path: &Path, protocol: P) -> io::Result<ConnId>
    where
        P: Protocol<S> + Send + 'static,
    {
        // A Unix-domain connect is answered at once: accepted into the backlog, refused
        // (nobody listening) or EAGAIN (backlog full), all before `connect` returns.
        let stream = mio::net::UnixStream::connect(path)?;
        Ok(self.add_stream(Stream::Unix(stream), None, Box::new(protocol), false, false))
    }

    /// The connecting socket reported an event: connected, failed, or not yet.
    pub(crate) fn finish_connect(&mut self, id: ConnId) {
        let Some(conn) = self.stream_mut(id) else {
            return;
        };
        let Stream::Tcp(stream) = &conn.stream else {
            return; // Unix-domain connections never wait
        };
        let answer = match stream.take_error() {
            Ok(Some(err)) | Err(err) => Err(err),
            Ok(None) => stream.peer_addr().map(drop),
        };
        match answer {
            Ok(()) => {
                conn.connecting = false;
                if let Some(timer) = conn.connect_timer.take() {
                    self.state.timers.cancel(timer);
                }
                debug!("{id:?}: connected");
            }
            Err(err) if err.kind() == io::ErrorKind::NotConnected => return, // not yet
            Err(err) => conn.fail(Lost::Error(err)),
        }
        // connection_made (or connection_failed) is delivered by `settle`.
        self.mark_dirty(id);
    }
}
