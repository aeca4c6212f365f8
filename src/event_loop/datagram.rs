//! Port of `_SelectorDatagramTransport` (Lib/asyncio/selector_events.py): UDP sockets on
//! the loop.
//!
//! As in asyncio: one `recvfrom` per readable event, `error_received` for an `OSError`
//! (never fatal). Unlike asyncio, `send_to` never buffers: a datagram the socket cannot
//! take now is dropped and counted.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use log::{debug, error};

use super::context::DatagramContext;
use super::protocol::{DatagramProtocol, Lost};
use super::{guarded, ConnId, Core, Entry, EventLoop, Kind, LoopContext};
use crate::{Token, EVENT_READ};

impl<S: 'static> Core<S> {
    pub(crate) fn add_udp<D>(
        &mut self,
        socket: std::net::UdpSocket,
        protocol: D,
    ) -> io::Result<ConnId>
    where
        D: DatagramProtocol<S> + Send + 'static,
    {
        socket.set_nonblocking(true)?;
        let socket = mio::net::UdpSocket::from_std(socket);
        let fd = socket.as_raw_fd();
        let id = ConnId(self.insert(
            fd,
            Kind::Datagram {
                socket,
                protocol: Some(Box::new(protocol)),
                closing: false,
                made: false,
            },
        ));
        if let Err(err) = self.apply_interest(id.0) {
            self.remove(id.0);
            return Err(err.into());
        }
        // connection_made comes from `settle`, never inside the caller's callback.
        self.state.dirty.push(id);
        Ok(id)
    }

    fn udp_socket(&self, id: ConnId) -> io::Result<&mio::net::UdpSocket> {
        match self.entries.get(id.0.slot as usize) {
            Some(Entry {
                generation,
                kind: Kind::Datagram { socket, .. },
                ..
            }) if *generation == id.0.generation => Ok(socket),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such UDP socket",
            )),
        }
    }

    pub(crate) fn send_to(
        &mut self,
        id: ConnId,
        data: &[u8],
        addr: SocketAddr,
    ) -> io::Result<bool> {
        match self.udp_socket(id)?.send_to(data, addr) {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.state
                    .stats
                    .datagrams_dropped
                    .fetch_add(1, Ordering::Relaxed);
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    pub(crate) fn udp_local_addr(&self, id: ConnId) -> io::Result<SocketAddr> {
        self.udp_socket(id)?.local_addr()
    }

    pub(crate) fn close_udp(&mut self, id: ConnId) {
        if let Some(Entry {
            kind: Kind::Datagram { closing, .. },
            ..
        }) = self.entry_mut(id.0)
        {
            if !std::mem::replace(closing, true) {
                self.state.dirty.push(id);
            }
        }
    }

    /// Calls one of a datagram protocol's methods with its context.
    pub(crate) fn call_datagram<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut dyn DatagramProtocol<S>, &mut DatagramContext<'_, S>) -> R,
    ) -> Option<R> {
        let Some(Entry {
            kind: Kind::Datagram { protocol, .. },
            ..
        }) = self.entry_mut(id.0)
        else {
            return None;
        };
        let mut protocol = protocol.take()?;
        let result = guarded(|| {
            f(
                &mut *protocol,
                &mut DatagramContext {
                    lp: LoopContext { core: self },
                    id,
                },
            )
        });
        if let Some(Entry {
            kind:
                Kind::Datagram {
                    protocol: slot,
                    closing,
                    ..
                },
            ..
        }) = self.entry_mut(id.0)
        {
            match result {
                Some(_) => *slot = Some(protocol),
                None => {
                    error!("{id:?}: the datagram protocol panicked; closing its socket");
                    if !std::mem::replace(closing, true) {
                        self.state.dirty.push(id);
                    }
                }
            }
        }
        result
    }

    pub(crate) fn finish_datagram(&mut self, id: ConnId) {
        debug!("{id:?}: UDP socket closed");
        self.call_datagram(id, |p, ctx| p.connection_lost(ctx, Lost::Closed));
        self.remove(id.0);
    }
}

impl<S: 'static> EventLoop<S> {
    /// A UDP socket is readable: one `recv_from` into the loop's buffer.
    pub(crate) fn datagram_ready(&mut self, id: ConnId, token: Token) {
        let core = &mut self.core;
        let Ok(socket) = core.udp_socket(id) else {
            return;
        };
        match socket.recv_from(&mut self.buf) {
            Ok((n, addr)) => {
                let data = &self.buf[..n];
                core.call_datagram(id, |p, ctx| p.datagram_received(ctx, data, addr));
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                let _ = core.sel.mark_drained(token, EVENT_READ);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // ECONNREFUSED after an ICMP "port unreachable", and the like.
            Err(err) => {
                core.call_datagram(id, |p, ctx| p.error_received(ctx, err));
            }
        }
    }
}
