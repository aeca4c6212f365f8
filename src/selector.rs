//! Port of `selectors.EpollSelector` (and so of `DefaultSelector` on Linux), on mio.
//!
//! Python's module has one class per kernel API; mio already picks the kernel API for us
//! (epoll on Linux, kqueue on the BSDs and macOS), so one [`Selector`] plays all of them and
//! [`DefaultSelector`] is simply its other name.

use std::fmt;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use log::{debug, trace, warn};
use mio::unix::SourceFd;

use crate::error::{Error, ModifyError, RegisterError, Result};
use crate::events::{Events, EVENT_READ};
use crate::key::{Lookup, SelectorKey, Token, UnregisteredKey, WAKER_TOKEN};
use crate::key_map::{KeyMap, Mapping};
use crate::readiness::{self, Probe, ReadyList};
use crate::sys;
use crate::timeout::{Deadline, Timeout};

/// Watches many file objects and reports which are ready, level-triggered like Python's.
///
/// Python: `selectors.DefaultSelector` (`EpollSelector` on Linux, `KqueueSelector` on macOS).
///
/// `S` is the type of the file objects you register (a socket, a pipe end, an enum of
/// several: anything with a file descriptor); the selector owns them while they are
/// registered. `T` is the `data` you attach to each, `()` if you need none.
///
/// Readiness is *level-triggered*, as in Python: a socket with unread bytes, or room to
/// write, is reported by every `select()` call until that stops being true, even though mio
/// itself only reports changes (see [`readiness`](crate::guide::design) in the design notes).
///
/// # Examples
///
/// The loop every `selectors` tutorial builds, with a listener whose `data` is `None` and
/// connections whose `data` is their state:
///
/// ```
/// use mio_selectors::{Selector, EVENT_READ};
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// enum Sock {
///     Listener(TcpListener),
///     Conn(TcpStream),
/// }
/// impl std::os::fd::AsRawFd for Sock {
///     fn as_raw_fd(&self) -> std::os::fd::RawFd {
///         match self {
///             Sock::Listener(l) => l.as_raw_fd(),
///             Sock::Conn(c) => c.as_raw_fd(),
///         }
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// listener.set_nonblocking(true)?;
/// let mut sel = Selector::new()?;
/// sel.register(Sock::Listener(listener), EVENT_READ, None)?;
///
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"ping")?;
///
/// let mut echoed = 0;
/// while echoed < 4 {
///     for (token, _mask) in sel.select(1.0)? {
///         let key = sel.get_key_mut(token)?;
///         match key.fileobj() {
///             Sock::Listener(listener) => {
///                 let (conn, addr) = listener.accept()?;
///                 conn.set_nonblocking(true)?;
///                 sel.register(Sock::Conn(conn), EVENT_READ, Some(addr))?;
///             }
///             Sock::Conn(conn) => {
///                 // std implements `Read` and `Write` for `&TcpStream` (the kernel keeps the
///                 // socket's state), so the shared borrow the key lends is all I/O needs.
///                 let mut conn: &TcpStream = conn;
///                 let mut buf = [0; 1024];
///                 let n = conn.read(&mut buf)?;
///                 conn.write_all(&buf[..n])?; // a tiny reply: see the echo server for real writes
///                 echoed += n;
///             }
///         }
///     }
/// }
/// let mut reply = [0; 4];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// # Ok(())
/// # }
/// ```
pub struct Selector<S, T = ()> {
    /// The kernel's epoll (or kqueue) instance; `None` once [`close`](Self::close)d.
    poll: Option<mio::Poll>,
    /// Where the kernel writes events. Python: `max(len(fd_to_key), 1)` events per call;
    /// here the buffer grows with the registrations for the same reason: one call must
    /// return every ready key (CPython's `test_above_fd_setsize`).
    events: mio::Events,
    keys: KeyMap<S, T>,
    /// Keys the last `select()` reported: the only ones that may still be ready without the
    /// kernel saying so again (see [`readiness`](crate::readiness)).
    reported: Vec<Token>,
    probe: Probe,
    ready: ReadyList,
    waker: Option<Arc<mio::Waker>>,
    /// Set only inside [`register_nonblocking`](Self::register_nonblocking).
    skip_blocking_check: bool,
}

/// The selector to use on this platform. Python: `selectors.DefaultSelector`.
///
/// mio already chose epoll or kqueue, so this is the same type as [`Selector`].
///
/// # Examples
///
/// ```
/// use mio_selectors::{DefaultSelector, Selector};
/// use std::net::TcpStream;
///
/// # fn main() -> Result<(), mio_selectors::Error> {
/// let sel: DefaultSelector<TcpStream> = Selector::new()?;
/// # drop(sel);
/// # Ok(())
/// # }
/// ```
pub type DefaultSelector<S, T = ()> = Selector<S, T>;

impl<S: AsRawFd, T> Selector<S, T> {
    /// Creates a selector with nothing registered.
    ///
    /// Python: `selectors.DefaultSelector()`.
    ///
    /// # Errors
    /// * [`Error::Io`] if the kernel will not create an epoll (or kqueue) instance, for
    ///   example because the process is out of file descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::Selector;
    /// use std::net::TcpStream;
    ///
    /// # fn main() -> Result<(), mio_selectors::Error> {
    /// let sel: Selector<TcpStream, String> = Selector::new()?;
    /// assert!(sel.get_map().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<Selector<S, T>> {
        Ok(Selector {
            poll: Some(mio::Poll::new()?),
            // Python's `max(len, 1)`: epoll_wait refuses room for zero events.
            events: mio::Events::with_capacity(1),
            keys: KeyMap::new(),
            reported: Vec::new(),
            probe: Probe::default(),
            ready: ReadyList::default(),
            waker: None,
            skip_blocking_check: false,
        })
    }

    /// Registers a file object for `events`, attaching `data`, and returns its key.
    ///
    /// Python: `BaseSelector.register(fileobj, events, data=None)`.
    ///
    /// The selector takes ownership of `fileobj` until [`unregister`](Self::unregister)
    /// hands it back, so it cannot be closed while the kernel is still watching it (Python's
    /// docs ask you to remember that; here it cannot happen). The descriptor should be in
    /// non-blocking mode, or one slow peer will stall the whole loop: with logging at `warn`
    /// the selector checks and warns you.
    ///
    /// A file object that is already ready is reported by the next `select()`.
    ///
    /// # Errors
    /// Every error hands `fileobj` and `data` back inside a [`RegisterError`]:
    /// * [`Error::InvalidEvents`] if `events` is empty or has unknown bits (Python:
    ///   `ValueError`), checked before anything else.
    /// * [`Error::InvalidFd`] if the descriptor is negative (Python: `ValueError`).
    /// * [`Error::AlreadyRegistered`] if the descriptor is already registered (Python:
    ///   `KeyError`).
    /// * [`Error::Closed`] after [`close`](Self::close).
    /// * [`Error::Io`] if the kernel refuses (Python: `OSError`), for example `EPERM` for a
    ///   regular file, which epoll cannot watch.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use std::net::UdpSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sock = UdpSocket::bind("127.0.0.1:0")?;
    /// sock.set_nonblocking(true)?;
    /// let twin = sock.try_clone()?; // another descriptor, same socket
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_READ, "udp")?.token();
    /// assert_eq!(sel.get_key(token)?.data, "udp");
    /// // `twin` has its own descriptor, so it may be registered too.
    /// sel.register(twin, EVENT_READ, "twin")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn register(
        &mut self,
        fileobj: S,
        events: Events,
        data: T,
    ) -> Result<&SelectorKey<S, T>, RegisterError<S, T>> {
        let fd = fileobj.as_raw_fd();
        let token = match self.add_to_kernel(fd, events) {
            Ok(token) => token,
            Err(error) => {
                return Err(RegisterError {
                    error,
                    fileobj,
                    data,
                })
            }
        };
        debug!("register fd {fd} for {events} as {token}");
        // One `select()` must be able to return every registered key (this new one
        // included), plus the waker.
        let wanted = self.keys.len() + 2;
        if self.events.capacity() < wanted {
            self.events = mio::Events::with_capacity(wanted.next_power_of_two());
        }
        Ok(self
            .keys
            .insert(SelectorKey::new(fileobj, data, fd, events, token)))
    }

    /// Python's `register` checks, in Python's order, then the kernel call.
    fn add_to_kernel(&mut self, fd: RawFd, events: Events) -> Result<Token> {
        let interest = valid_interest(events)?;
        self.keys.check_vacant(fd)?;
        let poll = self.poll.as_ref().ok_or(Error::Closed)?;
        if !self.skip_blocking_check
            && log::log_enabled!(log::Level::Warn)
            && sys::is_blocking(fd).unwrap_or(false)
        {
            warn!("fd {fd} is in blocking mode: one slow peer will stall every other; call set_nonblocking(true) before register()");
        }
        let token = self.keys.next_token();
        poll.registry()
            .register(&mut SourceFd(&fd), token.to_mio(), interest)?;
        Ok(token)
    }

    /// Stops watching a file object and hands back its key, with the file object in it, as
    /// an [`UnregisteredKey`] (a type of its own, so it can never be put back in place of
    /// a registered key).
    ///
    /// Python: `BaseSelector.unregister(fileobj)`.
    ///
    /// Like Python, this succeeds even if the descriptor was closed behind the selector's
    /// back (possible only with a file object that does not own its descriptor): the
    /// kernel's complaint is logged at `debug` and otherwise ignored.
    ///
    /// # Errors
    /// * [`Error::InvalidFd`] for a negative descriptor (Python: `ValueError`).
    /// * [`Error::NotRegistered`] if nothing is registered under that descriptor or token
    ///   (Python: `KeyError`).
    /// * [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use mio::unix::pipe;
    /// use std::os::fd::AsRawFd;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (_tx, rx) = pipe::new()?;
    /// let fd = rx.as_raw_fd();
    /// let mut sel = Selector::new()?;
    /// sel.register(rx, EVENT_READ, ())?;
    /// let key = sel.unregister(fd)?;
    /// let rx: pipe::Receiver = key.fileobj; // ours again; dropping it closes it
    /// assert!(sel.unregister(fd).is_err()); // Python: KeyError
    /// # drop(rx);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unregister(&mut self, fileobj: impl Into<Lookup>) -> Result<UnregisteredKey<S, T>> {
        let poll = self.poll.as_ref().ok_or(Error::Closed)?;
        let slot = self.keys.slot_of(fileobj.into())?;
        let key = self.keys.remove(slot);
        // Python: "This can happen if the FD was closed since it was registered." epoll
        // says EBADF (closed) or ENOENT (closed, and the number reused); neither matters.
        match poll.registry().deregister(&mut SourceFd(&key.fd)) {
            Ok(()) => debug!("unregister fd {} ({})", key.fd, key.token),
            Err(err) => debug!(
                "unregister fd {} ({}): kernel said {err}; ignored",
                key.fd, key.token
            ),
        }
        Ok(key.into_unregistered())
    }

    /// Changes the events a key waits for and replaces its data.
    ///
    /// Python: `BaseSelector.modify(fileobj, events, data=None)`. To change only the events
    /// and keep the data, use [`modify_events`](Self::modify_events); to change only the
    /// data, assign to [`get_key_mut`](Self::get_key_mut)`(..)?.data`.
    ///
    /// Asks the kernel only if `events` changed, so swapping the data is free (Python takes
    /// the same shortcut). A key modified to events that are ready now is reported by the
    /// next `select()`.
    ///
    /// # Errors
    /// Every error hands `data` back inside a [`ModifyError`], and leaves the key (if there
    /// is one) with its old events and data:
    /// * [`Error::InvalidFd`] / [`Error::NotRegistered`] as for [`get_key`](Self::get_key).
    /// * [`Error::InvalidEvents`] if `events` is empty or has unknown bits (Python:
    ///   `ValueError`).
    /// * [`Error::Io`] if the kernel refuses (Python: `OSError`); the old events are what
    ///   the kernel still has.
    /// * [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ, EVENT_WRITE};
    /// use std::net::UdpSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sock = UdpSocket::bind("127.0.0.1:0")?;
    /// sock.set_nonblocking(true)?;
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_READ, "quiet")?.token();
    /// let key = sel.modify(token, EVENT_READ | EVENT_WRITE, "talkative")?;
    /// assert_eq!((key.events(), key.data), (EVENT_READ | EVENT_WRITE, "talkative"));
    /// assert_eq!(sel.select(0)?, vec![(token, EVENT_WRITE)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn modify(
        &mut self,
        fileobj: impl Into<Lookup>,
        events: Events,
        data: T,
    ) -> Result<&mut SelectorKey<S, T>, ModifyError<T>> {
        match self.modify_events(fileobj, events) {
            Ok(key) => {
                key.data = data;
                Ok(key)
            }
            Err(error) => Err(ModifyError { error, data }),
        }
    }

    /// Changes the events a key waits for, keeping its data.
    ///
    /// Python: `modify(fileobj, events, key.data)`. Rust cannot pass `key.data` back in
    /// while `key` borrows the selector, hence this separate method; it is what a server
    /// calls to turn write interest on while output is pending and off again after.
    ///
    /// # Errors
    /// As [`modify`](Self::modify), as a plain [`Error`] (there is no data to hand back).
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ, EVENT_WRITE};
    /// use std::net::UdpSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sock = UdpSocket::bind("127.0.0.1:0")?;
    /// sock.set_nonblocking(true)?;
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_READ, vec![1, 2, 3])?.token();
    /// let key = sel.modify_events(token, EVENT_WRITE)?;
    /// assert_eq!((key.events(), &key.data), (EVENT_WRITE, &vec![1, 2, 3]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn modify_events(
        &mut self,
        fileobj: impl Into<Lookup>,
        events: Events,
    ) -> Result<&mut SelectorKey<S, T>> {
        let poll = self.poll.as_ref().ok_or(Error::Closed)?;
        let slot = self.keys.slot_of(fileobj.into())?;
        let key = self.keys.get_mut(slot);
        // Python's EpollSelector skips this check and stores whatever it is given; we check
        // first so that a bad mask can never leave a key the kernel does not match.
        let interest = valid_interest(events)?;
        if events != key.events {
            // Python (bpo-30014) drops the key when the kernel refuses. The kernel's
            // EPOLL_CTL_MOD is all or nothing, so we keep the key as the kernel still has it.
            poll.registry()
                .reregister(&mut SourceFd(&key.fd), key.token.to_mio(), interest)?;
            debug!(
                "modify fd {} ({}): {} -> {events}",
                key.fd, key.token, key.events
            );
            key.events = events;
        }
        Ok(key)
    }

    /// Waits until at least one registered file object is ready, or the timeout passes,
    /// and returns a `(token, mask)` pair for every ready one.
    ///
    /// Python: `BaseSelector.select(timeout=None)`, which returns `(key, mask)` pairs.
    /// Here each pair names its key by [`Token`] rather than lending it out, so the loop body
    /// may register and unregister while it walks the list; call
    /// [`get_key`](Self::get_key) / [`get_key_mut`](Self::get_key_mut) with the token to
    /// reach `fileobj` and `data`.
    ///
    /// * `timeout` is `None` (wait forever), seconds (`0` or less: do not wait; `1.5`), or a
    ///   [`Duration`](std::time::Duration); see [`Timeout`].
    /// * `mask` is what is ready *and* was asked for: `mask & key.events`. A hang-up or an
    ///   error counts as both directions, so a key waiting only to write still hears that
    ///   its peer reset, as in Python.
    /// * Level-triggered: a key that is still ready (unread bytes, room to write, a hang-up
    ///   not yet handled) is reported again by every call, and a key drained to exactly
    ///   empty is not, whether or not your read saw `WouldBlock`.
    /// * One entry per key, however many keys are registered and ready.
    /// * A signal that interrupts the wait does not end it early: the wait resumes with the
    ///   time that is left, as Python does since PEP 475. The list is empty only when the
    ///   timeout passed (or the [`waker`](Self::waker) was woken).
    ///
    /// # Errors
    /// * [`Error::InvalidTimeout`] for NaN or a wait over ~24.8 days (Python: `ValueError`
    ///   / `OverflowError`).
    /// * [`Error::Closed`] after [`close`](Self::close).
    /// * [`Error::Io`] if the kernel fails the wait itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut a, b) = UnixStream::pair()?;
    /// b.set_nonblocking(true)?;
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(b, EVENT_READ, ())?.token();
    /// assert!(sel.select(0)?.is_empty());
    ///
    /// a.write_all(b"0123456789")?;
    /// assert_eq!(sel.select(1.0)?, vec![(token, EVENT_READ)]);
    /// sel.get_key(token)?.fileobj().read_exact(&mut [0; 4])?;
    /// // Six bytes are still unread, so the key is reported again: level-triggered.
    /// assert_eq!(sel.select(0)?, vec![(token, EVENT_READ)]);
    /// sel.get_key(token)?.fileobj().read_exact(&mut [0; 6])?;
    /// assert!(sel.select(0)?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn select(&mut self, timeout: impl Into<Timeout>) -> Result<Vec<(Token, Events)>> {
        let timeout = timeout.into().as_duration()?;
        if self.poll.is_none() {
            return Err(Error::Closed);
        }
        let deadline = Deadline::after(timeout);
        self.ready.begin(self.reported.len());
        self.plan_probe();

        let woken = if self.probe.is_empty() {
            // Nothing can be ready without the kernel saying so: one wait is enough.
            self.wait(deadline)?
        } else {
            // Fresh edges first, without waiting; then probe the keys reported last time that
            // the kernel did not just mention again. Only if neither finds anything, wait.
            let mut woken = self.wait(Deadline::now())?;
            let Selector { probe, ready, .. } = &mut *self;
            probe.forget(|token| ready.contains(token));
            if let Err(err) = probe.run(|token, mask| ready.add(token, mask)) {
                woken |= self.probe_the_slow_way(&err);
            }
            if self.ready.is_empty() && !woken && !deadline.has_passed() {
                woken = self.wait(deadline)?;
            }
            woken
        };

        let ready = self.ready.take();
        self.reported.clear();
        self.reported.extend(ready.iter().map(|&(token, _)| token));
        trace!(
            "select: {} ready{}",
            ready.len(),
            if woken { ", woken" } else { "" }
        );
        Ok(ready)
    }

    /// The fallback when the kernel refuses the probe's `poll(2)` (`EINVAL` once the probe
    /// holds more descriptors than `RLIMIT_NOFILE`, `ENOMEM` under memory pressure). The
    /// edges already collected this call must not be lost (the kernel will not repeat
    /// them), and the keys the probe could not ask about may still be ready. So each of
    /// those is re-armed (`EPOLL_CTL_MOD`, which queues an edge if the key is ready now:
    /// option (a) of the design notes, one system call per key, but it needs no descriptor
    /// table), and one more zero-timeout wait collects what that queued. Returns whether the
    /// waker fired.
    ///
    /// Python: no counterpart; its level-triggered epoll never needs a probe.
    fn probe_the_slow_way(&mut self, err: &std::io::Error) -> bool {
        let unprobed = self.probe.take_unprobed();
        warn!(
            "select: the level-trigger poll(2) over {} keys failed ({err}); re-arming them one by one instead",
            unprobed.len()
        );
        if let Some(poll) = &self.poll {
            for token in unprobed {
                let Ok(slot) = self.keys.slot_of(Lookup::Token(token)) else {
                    continue;
                };
                let key = self.keys.get(slot);
                let Some(interest) = key.events.to_interest() else {
                    continue;
                };
                if let Err(err) =
                    poll.registry()
                        .reregister(&mut SourceFd(&key.fd), token.to_mio(), interest)
                {
                    // Closed without `unregister`: epoll has forgotten it, as `select`
                    // forgets it on the fast path (POLLNVAL).
                    debug!("select: re-arming fd {} ({token}) failed: {err}", key.fd);
                }
            }
        }
        match self.wait(Deadline::now()) {
            Ok(woken) => woken,
            // Whatever was collected is still in `self.ready` and is returned; the keys
            // not re-reported stay unknown only until their next edge.
            Err(err) => {
                warn!("select: collecting re-armed keys failed: {err}");
                false
            }
        }
    }

    /// One kernel wait, retried on `EINTR` with the time left (PEP 475). Adds what it finds
    /// to `self.ready` and returns whether the waker fired.
    fn wait(&mut self, deadline: Deadline) -> Result<bool> {
        let Selector {
            poll,
            events,
            keys,
            ready,
            ..
        } = self;
        let poll = poll.as_mut().ok_or(Error::Closed)?;
        loop {
            match poll.poll(events, deadline.remaining()) {
                Ok(()) => break,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {
                    // Python returns an empty list when the signal came after the deadline.
                    if deadline.has_passed() {
                        return Ok(false);
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        let mut woken = false;
        for event in events.iter() {
            if event.token() == WAKER_TOKEN {
                woken = true;
                continue;
            }
            let (slot, generation) = Token::from_mio(event.token());
            let Some(slot) = keys.slot_of_token(slot, generation) else {
                // An event for a registration that has since gone: only possible for a
                // descriptor that was `dup`ed and closed without `unregister`.
                trace!(
                    "select: event for a stale token {:?}; skipped",
                    event.token()
                );
                continue;
            };
            let key = keys.get_mut(slot);
            key.read_closed |= event.is_read_closed();
            // A fresh edge: whatever the program said it drained before is history.
            key.drained = Events::empty();
            let mask = readiness::mask_of(event) & key.events;
            if !mask.is_empty() {
                ready.add(key.token, mask);
            }
        }
        Ok(woken)
    }

    /// Fills the probe with the keys the last call reported that may still be ready
    /// without a new edge: those still registered (a key unregistered since is gone, and a
    /// new owner of its slot has a new generation and queued its own edge), asking only
    /// about the directions the program has not marked drained
    /// ([`mark_drained`](Self::mark_drained)). If none is left, `select()` makes one kernel
    /// wait, as a raw mio loop does.
    fn plan_probe(&mut self) {
        let Selector {
            keys,
            reported,
            probe,
            ..
        } = self;
        for &token in reported.iter() {
            if let Ok(slot) = keys.slot_of(Lookup::Token(token)) {
                let key = keys.get(slot);
                let unknown = key.events.difference(key.drained);
                if !unknown.is_empty() {
                    probe.push(token, key.fd, unknown, key.events);
                }
            }
        }
    }

    /// Tells the selector that a key has nothing more for `events` right now, so the next
    /// `select()` need not ask the kernel about it.
    ///
    /// Python: none; Python's selectors always ask. An optimisation for loops that do their
    /// own I/O and *saw* the kernel say "nothing more". The contract, for every kind of
    /// descriptor (stream and datagram sockets, pipes, ttys):
    ///
    /// * mark [`EVENT_READ`](crate::EVENT_READ) only after a read (`read`, `recv`,
    ///   `recv_from`, `accept`, ...) returned [`WouldBlock`](std::io::ErrorKind::WouldBlock);
    /// * mark [`EVENT_WRITE`](crate::EVENT_WRITE) only after a write returned `WouldBlock`.
    ///
    /// Nothing else proves a direction empty. In particular **a short read does not**: a
    /// read can stop with more bytes queued behind it. A TCP read stops at the urgent
    /// (out-of-band) mark; a Unix stream read stops after a message that carried
    /// descriptors (`SCM_RIGHTS`) or other credentials; a tty in canonical mode returns one
    /// line at a time; a pipe opened with `O_DIRECT` returns one packet; a datagram socket
    /// returns one datagram. Nor does a zero-byte read on its own: it is end of file on a
    /// stream socket or a pipe, but an empty datagram on UDP and Ctrl-D on a tty, with more
    /// input possibly behind it. After end of file there is nothing to mark anyway: the
    /// peer's end of stream stays readable, as in Python, and the selector keeps
    /// reporting it (it ignores READ marks once the kernel has reported the peer's close).
    ///
    /// A loop that reads once per event (bounded work, for fairness) rarely sees
    /// `WouldBlock`, and so rarely marks: its keys are then checked by the selector's one
    /// zero-timeout `poll(2)` per `select()`, shared by every key the previous call
    /// reported, which is what level triggering costs (see the design notes). A key marked
    /// drained in all its events is left out of that probe; when every key reported last
    /// time is, `select()` makes one system call, as an edge-triggered mio loop does.
    ///
    /// The mark holds until the kernel's next event for the key, which comes as soon as new
    /// data (or room) arrives, since that arrival is an edge; so a mark set right after
    /// `WouldBlock` cannot hide bytes that arrive later. Marking a key that is *not* drained
    /// is a bug in the caller: the key is then not reported again until its next edge,
    /// exactly as with raw edge-triggered mio, and its queued bytes wait until then.
    ///
    /// # Errors
    /// As [`get_key`](Self::get_key).
    ///
    /// # Examples
    ///
    /// Read until the kernel says `WouldBlock`, then say so:
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use std::io::{ErrorKind, Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut peer, sock) = UnixStream::pair()?;
    /// sock.set_nonblocking(true)?;
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_READ, ())?.token();
    ///
    /// peer.write_all(b"ping")?;
    /// for (token, _mask) in sel.select(1.0)? {
    ///     let mut buf = [0; 1024];
    ///     loop {
    ///         match sel.get_key(token)?.fileobj().read(&mut buf) {
    ///             Ok(0) => break, // end of file: nothing to mark
    ///             Ok(_n) => continue, // maybe more behind it: a short read proves nothing
    ///             Err(e) if e.kind() == ErrorKind::WouldBlock => {
    ///                 sel.mark_drained(token, EVENT_READ)?; // the kernel said "empty"
    ///                 break;
    ///             }
    ///             Err(e) => return Err(e.into()),
    ///         }
    ///     }
    /// }
    /// assert!(sel.select(0)?.is_empty()); // nothing to read, and nothing was asked
    /// peer.write_all(b"pong")?;
    /// assert_eq!(sel.select(1.0)?, vec![(token, EVENT_READ)]); // new data: a new report
    /// # Ok(())
    /// # }
    /// ```
    pub fn mark_drained(&mut self, fileobj: impl Into<Lookup>, events: Events) -> Result<()> {
        let key = self.get_key_mut(fileobj)?;
        key.drained |= if key.read_closed {
            events.difference(EVENT_READ)
        } else {
            events
        };
        Ok(())
    }

    /// The key registered under a descriptor or token.
    ///
    /// Python: `BaseSelector.get_key(fileobj)`.
    ///
    /// # Errors
    /// * [`Error::Closed`] after [`close`](Self::close) (Python: `RuntimeError`).
    /// * [`Error::InvalidFd`] for a negative descriptor (Python: `ValueError`).
    /// * [`Error::NotRegistered`] if nothing is registered under it (Python: `KeyError`),
    ///   including a token whose key has been unregistered.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Error, Selector, EVENT_READ};
    /// use std::net::UdpSocket;
    /// use std::os::fd::AsRawFd;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sock = UdpSocket::bind("127.0.0.1:0")?;
    /// let fd = sock.as_raw_fd();
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_READ, 42)?.token();
    /// assert_eq!(sel.get_key(fd)?.data, 42);
    /// assert_eq!(sel.get_key(token)?.fd(), fd);
    /// assert!(matches!(sel.get_key(999_999), Err(Error::NotRegistered(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_key(&self, fileobj: impl Into<Lookup>) -> Result<&SelectorKey<S, T>> {
        if self.poll.is_none() {
            return Err(Error::Closed);
        }
        let slot = self.keys.slot_of(fileobj.into())?;
        Ok(self.keys.get(slot))
    }

    /// The key registered under a descriptor or token, to read from its file object or
    /// update its data.
    ///
    /// Python: `get_key(fileobj)`; Python's keys are shared objects, Rust needs `&mut` to
    /// change one.
    ///
    /// # Errors
    /// As [`get_key`](Self::get_key).
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use std::net::UdpSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(UdpSocket::bind("127.0.0.1:0")?, EVENT_READ, 0)?.token();
    /// sel.get_key_mut(token)?.data += 1;
    /// assert_eq!(sel.get_key(token)?.data, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_key_mut(&mut self, fileobj: impl Into<Lookup>) -> Result<&mut SelectorKey<S, T>> {
        if self.poll.is_none() {
            return Err(Error::Closed);
        }
        let slot = self.keys.slot_of(fileobj.into())?;
        Ok(self.keys.get_mut(slot))
    }

    /// A read-only view of every registration, keyed by descriptor.
    ///
    /// Python: `BaseSelector.get_map()`. Python returns `None` after `close()`; this returns
    /// an empty view instead, since `close()` has emptied the table.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use std::net::UdpSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut sel = Selector::new()?;
    /// sel.register(UdpSocket::bind("127.0.0.1:0")?, EVENT_READ, ())?;
    /// assert_eq!(sel.get_map().len(), 1);
    /// sel.close();
    /// assert!(sel.get_map().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_map(&self) -> Mapping<'_, S, T> {
        self.keys.view()
    }

    /// A handle that makes a blocked [`select`](Self::select) return early, from any thread.
    ///
    /// Python: none in `selectors`; asyncio builds the same thing from a socket pair. Here
    /// it is mio's [`Waker`](mio::Waker) (an eventfd on Linux). A wake-up is not a key:
    /// `select()` just returns, possibly with an empty list. Every call returns the same
    /// waker, since mio allows one per selector.
    ///
    /// # Errors
    /// * [`Error::Closed`] after [`close`](Self::close).
    /// * [`Error::Io`] if the kernel will not create the eventfd.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::Selector;
    /// use std::net::TcpStream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut sel: Selector<TcpStream> = Selector::new()?;
    /// let waker = sel.waker()?;
    /// std::thread::spawn(move || waker.wake());
    /// assert!(sel.select(None)?.is_empty()); // returns once the other thread wakes it
    /// # Ok(())
    /// # }
    /// ```
    pub fn waker(&mut self) -> Result<Arc<mio::Waker>> {
        let poll = self.poll.as_ref().ok_or(Error::Closed)?;
        if let Some(waker) = &self.waker {
            return Ok(Arc::clone(waker));
        }
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?);
        self.waker = Some(Arc::clone(&waker));
        Ok(waker)
    }

    /// Closes the selector: unregisters everything, closes the kernel's epoll descriptor,
    /// and drops the registered file objects. Calling it again does nothing.
    ///
    /// Python: `BaseSelector.close()`, and the end of a `with` block. Python leaves the file
    /// objects open; here the selector owns them, so they close with it. Unregister the ones
    /// you want to keep first. Dropping a selector closes it too.
    ///
    /// Afterwards every method returns [`Error::Closed`] (Python raises only from `get_key`,
    /// and its other methods fail in ways that differ by class).
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Error, Selector, EVENT_READ};
    /// use std::net::UdpSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(UdpSocket::bind("127.0.0.1:0")?, EVENT_READ, ())?.token();
    /// sel.close();
    /// sel.close(); // idempotent
    /// assert!(matches!(sel.get_key(token), Err(Error::Closed)));
    /// assert!(matches!(sel.select(0), Err(Error::Closed)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&mut self) {
        if self.poll.take().is_some() {
            debug!("close: dropping {} keys", self.keys.len());
        }
        self.keys.clear();
        self.reported.clear();
        self.waker = None;
    }

    /// True after [`close`](Self::close).
    ///
    /// Python: `sel.get_map() is None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::Selector;
    /// use std::net::TcpStream;
    ///
    /// # fn main() -> Result<(), mio_selectors::Error> {
    /// let mut sel: Selector<TcpStream> = Selector::new()?;
    /// assert!(!sel.is_closed());
    /// sel.close();
    /// assert!(sel.is_closed());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.poll.is_none()
    }

    /// The kernel's epoll (or kqueue) descriptor, or -1 once closed.
    ///
    /// Python: `EpollSelector.fileno()`. The same number as [`AsRawFd::as_raw_fd`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::Selector;
    /// use std::net::TcpStream;
    /// use std::os::fd::AsRawFd;
    ///
    /// # fn main() -> Result<(), mio_selectors::Error> {
    /// let mut sel: Selector<TcpStream> = Selector::new()?;
    /// assert!(sel.fileno() >= 0);
    /// assert_eq!(sel.fileno(), sel.as_raw_fd());
    /// sel.close();
    /// assert_eq!(sel.fileno(), -1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn fileno(&self) -> RawFd {
        self.poll.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

/// Shortcuts for the protocol layer, which makes its sockets itself and so knows two things
/// a caller in general cannot promise.
impl<S: AsRawFd, T> Selector<S, T> {
    /// [`register`](Self::register) without the blocking-mode check: for descriptors the
    /// crate itself made non-blocking (mio's `accept` and `connect` do). Saves one
    /// `fcntl(F_GETFL)` per connection while `warn` logging is on.
    pub(crate) fn register_nonblocking(
        &mut self,
        fileobj: S,
        events: Events,
        data: T,
    ) -> Result<Token, RegisterError<S, T>> {
        self.skip_blocking_check = true;
        let token = self.register(fileobj, events, data).map(|key| key.token());
        self.skip_blocking_check = false;
        token
    }

    /// Forgets the key of a descriptor the caller closes next, without `epoll_ctl(DEL)`:
    /// closing the last descriptor of an open file removes it from every epoll set (and
    /// kqueue drops its kevents), so the call would only repeat what `close` does. Only for
    /// a descriptor that was never duplicated: a `dup` would keep the file open, and the
    /// kernel watching it. Saves one system call per connection.
    pub(crate) fn unregister_for_close(&mut self, token: Token) -> Result<()> {
        if self.poll.is_none() {
            return Err(Error::Closed);
        }
        let slot = self.keys.slot_of(Lookup::Token(token))?;
        drop(self.keys.remove(slot));
        Ok(())
    }
}

/// A mask the kernel can be given, or Python's `ValueError`.
fn valid_interest(events: Events) -> Result<mio::Interest> {
    events
        .is_valid()
        .then(|| events.to_interest())
        .flatten()
        .ok_or(Error::InvalidEvents(events.bits()))
}

impl<S: AsRawFd, T> AsRawFd for Selector<S, T> {
    fn as_raw_fd(&self) -> RawFd {
        self.fileno()
    }
}

impl<S, T> fmt::Debug for Selector<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("fd", &self.poll.as_ref().map(AsRawFd::as_raw_fd))
            .field("registered", &self.keys.len())
            .field("reported_last_time", &self.reported.len())
            .finish_non_exhaustive()
    }
}
