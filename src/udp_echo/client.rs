//! The UDP echo client: sends datagrams, waits for each to come back, retries the lost ones,
//! and reports what came back, what was lost and the round-trip times.
//!
//! Python: none in docs/python/ (`nc -u` is the course's client). This one is blocking and
//! uses no selector: one `std::net::UdpSocket`, `send` and a `recv` with a timeout, because
//! one socket needs no multiplexing.
//!
//! What a reader should notice:
//!
//! * **A connected UDP socket** ([`UdpSocket::connect`]) sends to one address and accepts
//!   datagrams only from it; the kernel also reports that address's ICMP errors ("port
//!   unreachable": nobody is listening) as `ConnectionRefused` on a later call.
//! * **Loss is normal.** A datagram not back within [`ClientOptions::timeout`] is sent again,
//!   at most [`ClientOptions::retries`] times, then counted as lost. A reply to an earlier
//!   attempt that comes in after a retry is counted as `late`, not twice.
//! * **Every reply is checked**: datagram `n` carries `n` in its first 8 bytes
//!   (little-endian) and then a 251-byte pattern started at `n` ([`make_datagram`]), so a
//!   reply that is cut, corrupted or belongs to another datagram is `corrupt`.
//! * **A window** of datagrams in flight: 1 is lockstep (send, wait, send); the count itself
//!   is a burst (everything at once, then collect).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::max_payload;
use crate::timeout::instant_after;

/// Length of the byte pattern after the sequence number, as in `echo::client`.
pub const PATTERN_PERIOD: usize = 251;

/// Bytes of the sequence number at the start of each datagram.
const SEQ_BYTES: usize = 8;

/// What [`run`] sends and how patiently it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Datagrams to send (each counted once, however often it is retried).
    pub count: usize,
    /// Bytes in each datagram, 0 to the family's maximum ([`max_payload`]).
    pub size: usize,
    /// How long to wait for a datagram to come back before sending it again.
    pub timeout: Duration,
    /// How many times a datagram is sent again before it counts as lost.
    pub retries: u32,
    /// Datagrams in flight at once; at least 1. Datagrams shorter than 8 bytes cannot carry
    /// their number, so they are always sent one at a time.
    pub window: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            count: 10,
            size: 64,
            timeout: Duration::from_secs(1),
            retries: 3,
            window: 1,
        }
    }
}

/// What came back: the client's one-line report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Datagrams to send ([`ClientOptions::count`]).
    pub datagrams: usize,
    /// Their size in bytes.
    pub size: usize,
    /// Datagrams that came back intact (each counted once).
    pub received: usize,
    /// Datagrams that never came back, after every retry.
    pub lost: usize,
    /// Times a datagram was sent again.
    pub resent: usize,
    /// Replies to a datagram already answered or given up on.
    pub late: usize,
    /// Replies that matched no datagram sent: wrong size, wrong bytes.
    pub corrupt: usize,
    /// `ConnectionRefused` errors: ICMP said nobody listens at the address.
    pub refused: usize,
    /// Round-trip time of each received datagram, from its last sending, in order received.
    pub rtts: Vec<Duration>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Summary {
    /// True if every datagram came back intact.
    pub fn ok(&self) -> bool {
        self.received == self.datagrams && self.lost == 0 && self.corrupt == 0
    }

    /// The `p`-th percentile (0–100) of the round-trip times, nearest rank; `None` if nothing
    /// came back.
    pub fn rtt_percentile(&self, p: f64) -> Option<Duration> {
        if self.rtts.is_empty() {
            return None;
        }
        let mut sorted = self.rtts.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }
}

impl fmt::Display for Summary {
    /// `datagrams=N size=S received=R lost=L resent=X late=D corrupt=C refused=F
    /// rtt_us=min/p50/p99/max elapsed=T` (`rtt_us=-` if nothing came back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "datagrams={} size={} received={} lost={} resent={} late={} corrupt={} refused={} rtt_us=",
            self.datagrams,
            self.size,
            self.received,
            self.lost,
            self.resent,
            self.late,
            self.corrupt,
            self.refused
        )?;
        let us = |p: f64| self.rtt_percentile(p).map_or(0, |d| d.as_micros());
        if self.rtts.is_empty() {
            write!(f, "-")?;
        } else {
            write!(f, "{}/{}/{}/{}", us(0.0), us(50.0), us(99.0), us(100.0))?;
        }
        write!(f, " elapsed={:.3}", self.elapsed.as_secs_f64())
    }
}

/// Datagram `seq` of `size` bytes: `seq` as 8 little-endian bytes, then the pattern
/// `(seq + i) % 251`, all cut to `size` (so a 1-byte datagram is `seq % 256`).
///
/// # Examples
///
/// ```
/// use mio_selectors::udp_echo::client::make_datagram;
///
/// assert_eq!(make_datagram(258, 10), [2, 1, 0, 0, 0, 0, 0, 0, 7, 8]);
/// assert_eq!(make_datagram(7, 1), [7]);
/// assert!(make_datagram(7, 0).is_empty());
/// ```
pub fn make_datagram(seq: u64, size: usize) -> Vec<u8> {
    let mut datagram = seq.to_le_bytes().to_vec();
    datagram.truncate(size);
    let start = (seq % PATTERN_PERIOD as u64) as usize;
    datagram
        .extend((0..size.saturating_sub(SEQ_BYTES)).map(|i| ((start + i) % PATTERN_PERIOD) as u8));
    datagram
}

/// One datagram waiting for its echo.
struct InFlight {
    /// Times sent so far.
    attempts: u32,
    /// When it was last sent.
    sent_at: Instant,
}

/// Sends `options.count` datagrams to `addr` and collects their echoes; see the module docs.
///
/// # Errors
/// `InvalidInput` for a size above the family's maximum or a zero window; any error from
/// the socket other than a timeout and `ConnectionRefused` (which count as a failed attempt).
///
/// # Examples
///
/// ```
/// use mio_selectors::udp_echo::client::{run, ClientOptions};
/// use std::net::UdpSocket;
///
/// # fn main() -> std::io::Result<()> {
/// // A one-datagram echo server on a thread of its own.
/// let server = UdpSocket::bind("127.0.0.1:0")?;
/// let addr = server.local_addr()?;
/// std::thread::spawn(move || {
///     let mut buf = [0; 65536];
///     let (n, from) = server.recv_from(&mut buf)?;
///     server.send_to(&buf[..n], from)
/// });
/// let summary = run(addr, &ClientOptions { count: 1, size: 100, ..ClientOptions::default() })?;
/// assert!(summary.ok(), "{summary}");
/// # Ok(())
/// # }
/// ```
pub fn run(addr: SocketAddr, options: &ClientOptions) -> io::Result<Summary> {
    let max = max_payload(&addr);
    if options.size > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "datagram size {} is more than UDP can carry to {addr} ({max} bytes)",
                options.size
            ),
        ));
    }
    if options.window == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the window must be at least 1",
        ));
    }
    let local: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(addr)?;
    let started = Instant::now();
    let window = if options.size < SEQ_BYTES {
        1
    } else {
        options.window
    };
    let mut summary = Summary {
        datagrams: options.count,
        size: options.size,
        ..Summary::default()
    };
    let mut in_flight: HashMap<u64, InFlight> = HashMap::new();
    // Deadlines in sending order, which is deadline order since every wait is the same.
    // Entries for datagrams answered (or re-sent) since are skipped when they come up.
    let mut deadlines: VecDeque<(Instant, u64, u32)> = VecDeque::new();
    let mut buf = vec![0; 64 * 1024];
    let mut next_seq: u64 = 0;

    // Set when ICMP says nobody listens ("port unreachable", reported as
    // `ConnectionRefused`): the oldest datagram in flight then counts as failed at once
    // instead of at its timeout, so a client pointed at nothing ends in milliseconds.
    let mut refused_now = false;
    let send = |seq: u64, summary: &mut Summary, refused_now: &mut bool| -> io::Result<()> {
        match socket.send(&make_datagram(seq, options.size)) {
            Ok(_) => Ok(()),
            // An ICMP error from an earlier datagram, reported on this call: this one was
            // not sent, and will be retried like a lost one.
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                summary.refused += 1;
                *refused_now = true;
                Ok(())
            }
            Err(err) => Err(err),
        }
    };

    while (next_seq as usize) < options.count || !in_flight.is_empty() {
        while in_flight.len() < window && (next_seq as usize) < options.count {
            send(next_seq, &mut summary, &mut refused_now)?;
            let now = Instant::now();
            in_flight.insert(
                next_seq,
                InFlight {
                    attempts: 1,
                    sent_at: now,
                },
            );
            deadlines.push_back((instant_after(now, options.timeout), next_seq, 1));
            next_seq += 1;
        }

        // Retry, or give up on, every datagram whose wait is over.
        let now = Instant::now();
        while let Some(&(deadline, seq, attempt)) = deadlines.front() {
            let current = in_flight.get(&seq).map(|flight| flight.attempts);
            if current != Some(attempt) {
                deadlines.pop_front(); // answered, or sent again since
                continue;
            }
            if deadline > now && !refused_now {
                break;
            }
            refused_now = false;
            deadlines.pop_front();
            if attempt > options.retries {
                debug!("datagram {seq}: lost after {attempt} attempts");
                in_flight.remove(&seq);
                summary.lost += 1;
                continue;
            }
            send(seq, &mut summary, &mut refused_now)?;
            summary.resent += 1;
            let now = Instant::now();
            in_flight.insert(
                seq,
                InFlight {
                    attempts: attempt + 1,
                    sent_at: now,
                },
            );
            deadlines.push_back((instant_after(now, options.timeout), seq, attempt + 1));
        }
        let Some(&(deadline, _, _)) = deadlines.front() else {
            continue; // nothing in flight: send more, or done
        };

        let wait = deadline.saturating_duration_since(Instant::now());
        // A zero read timeout is an error in std ("blocks forever" is None): wait a little.
        socket.set_read_timeout(Some(wait.max(Duration::from_micros(100))))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                if summary.refused == 0 {
                    warn!("{addr}: connection refused: is the server running there?");
                }
                summary.refused += 1;
                refused_now = true;
                continue;
            }
            Err(err) => return Err(err),
        };
        let reply = &buf[..n];
        let seq = if options.size >= SEQ_BYTES {
            match reply.get(..SEQ_BYTES) {
                Some(number) => u64::from_le_bytes(number.try_into().unwrap()),
                None => {
                    debug!("a reply of {n} bytes is too short to be ours");
                    summary.corrupt += 1;
                    continue;
                }
            }
        } else {
            // Too short to carry its number: it answers the one datagram in flight (the
            // window is 1), or is a late copy of an earlier one, which only its bytes tell.
            match in_flight.keys().next() {
                Some(&seq) => seq,
                None => {
                    summary.late += 1;
                    continue;
                }
            }
        };
        if (seq as usize) >= options.count || reply != make_datagram(seq, options.size) {
            if options.size < SEQ_BYTES && reply.len() == options.size {
                summary.late += 1; // most likely a copy of the previous datagram
            } else {
                debug!("a reply of {n} bytes matches no datagram sent");
                summary.corrupt += 1;
            }
            continue;
        }
        match in_flight.remove(&seq) {
            Some(flight) => {
                summary.received += 1;
                summary.rtts.push(flight.sent_at.elapsed());
            }
            None => summary.late += 1,
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let summary = Summary {
            rtts: (1..=100).map(Duration::from_micros).collect(),
            ..Summary::default()
        };
        assert_eq!(
            summary.rtt_percentile(50.0),
            Some(Duration::from_micros(50))
        );
        assert_eq!(
            summary.rtt_percentile(99.0),
            Some(Duration::from_micros(99))
        );
        assert_eq!(summary.rtt_percentile(0.0), Some(Duration::from_micros(1)));
        assert_eq!(Summary::default().rtt_percentile(50.0), None);
    }

    #[test]
    fn the_summary_line_names_every_count() {
        let summary = Summary {
            datagrams: 3,
            size: 8,
            received: 2,
            lost: 1,
            resent: 4,
            rtts: vec![Duration::from_micros(10), Duration::from_micros(30)],
            elapsed: Duration::from_millis(1500),
            ..Summary::default()
        };
        assert_eq!(
            summary.to_string(),
            "datagrams=3 size=8 received=2 lost=1 resent=4 late=0 corrupt=0 refused=0 \
             rtt_us=10/10/30/30 elapsed=1.500"
        );
        assert!(!summary.ok());
    }
}
