//! Port of `docs/python/udp_echo.py`: a UDP echo server, and [`client`], the client that
//! measures it.
//!
//! UDP has no connections: one socket receives datagrams from anyone, each with its
//! sender's address, and the server sends each one straight back. There is no accept, no
//! per-client state and no end of file. What the course's UDP lesson points out:
//!
//! * **A datagram comes whole or not at all.** One receive into a buffer of 64 KiB takes the
//!   largest one ([`MAX_PAYLOAD_V4`], [`MAX_PAYLOAD_V6`]); an empty datagram is a datagram
//!   too.
//! * **UDP is unreliable.** When the socket's send buffer is full, the reply is dropped (and
//!   counted), never queued and never waited for; the client retries if it cares.
//! * **Errors concern one peer**: an ICMP "port unreachable" from a vanished sender comes
//!   back as `ConnectionRefused` on a later call, and is logged, not fatal.

pub mod client;

/// The examples' default port: echo is 65432, chat 65433, UDP echo 65434.
pub const DEFAULT_PORT: u16 = 65434;

/// The largest UDP payload over IPv4: 65,535 minus the 20-byte IP and 8-byte UDP headers.
pub const MAX_PAYLOAD_V4: usize = 65_507;

/// The largest UDP payload over IPv6: 65,535 minus the 8-byte UDP header (the IPv6 header
/// is not counted in its payload length).
pub const MAX_PAYLOAD_V6: usize = 65_527;

/// The largest payload to or from `addr`'s address family.
///
/// # Examples
///
/// ```
/// use mio_selectors::udp_echo::{max_payload, MAX_PAYLOAD_V6};
///
/// assert_eq!(max_payload(&"[::1]:9".parse().unwrap()), MAX_PAYLOAD_V6);
/// assert_eq!(max_payload(&"127.0.0.1:9".parse().unwrap()), 65_507);
/// ```
pub fn max_payload(addr: &std::net::SocketAddr) -> usize {
    if addr.is_ipv6() {
        MAX_PAYLOAD_V6
    } else {
        MAX_PAYLOAD_V4
    }
}
