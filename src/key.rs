//! Port of `selectors.SelectorKey`, plus the two Rust-only names a key needs: its
//! [`Token`] and the [`Lookup`] that finds it.
//!
//! Python's `select()` hands back the key objects themselves. A Rust loop that did the same
//! would hold a borrow of the selector while it registers new sockets, which the borrow
//! checker forbids. So `select()` hands back a [`Token`] per key instead: a small copyable
//! name, turned into the key by [`Selector::get_key`](crate::Selector::get_key) when needed.

use std::fmt;
use std::os::fd::RawFd;

use crate::events::Events;

/// A registered file object, its descriptor, the events it waits for, and your data.
///
/// Python: `selectors.SelectorKey(fileobj, fd, events, data)`.
///
/// `data` is a field, yours to use and change: update the connection state. The file object
/// is yours to *use* (read from it, write to it, accept on it) through
/// [`fileobj`](Self::fileobj) and [`fileobj_mut`](Self::fileobj_mut), but not to replace:
/// the kernel is watching its descriptor, and putting another object in its place would
/// close the watched one behind the selector's back (epoll would silently drop it, and the
/// next socket to get its number would be refused as "already registered"). `fd` and
/// `events` describe what the kernel was told, so only the selector may change them
/// (through [`Selector::modify`](crate::Selector::modify)).
/// [`unregister`](crate::Selector::unregister) hands the file object back in an
/// [`UnregisteredKey`], a different type: no owned `SelectorKey` ever leaves the selector,
/// so none can be assigned over a registered one (`*sel.get_key_mut(t)? = old_key` would
/// close the watched socket just as surely).
///
/// Replacing the file object does not compile:
///
/// ```compile_fail,E0616
/// use mio_selectors::{Selector, EVENT_READ};
/// use std::net::UdpSocket;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sel = Selector::new()?;
/// let token = sel.register(UdpSocket::bind("127.0.0.1:0")?, EVENT_READ, ())?.token();
/// sel.get_key_mut(token)?.fileobj = UdpSocket::bind("127.0.0.1:0")?; // private field
/// # Ok(())
/// # }
/// ```
///
/// and neither does replacing it through [`fileobj_mut`](Self::fileobj_mut):
///
/// ```compile_fail,E0596
/// use mio_selectors::{Selector, EVENT_READ};
/// use std::net::UdpSocket;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sel = Selector::new()?;
/// let token = sel.register(UdpSocket::bind("127.0.0.1:0")?, EVENT_READ, ())?.token();
/// let mut other = UdpSocket::bind("127.0.0.1:0")?;
/// std::mem::swap(&mut *sel.get_key_mut(token)?.fileobj_mut(), &mut other); // no DerefMut
/// # Ok(())
/// # }
/// ```
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
/// let key = sel.register(rx, EVENT_READ, "stdin-like")?;
/// assert_eq!(key.fd(), fd);
/// assert_eq!(key.events(), EVENT_READ);
/// assert_eq!(key.data, "stdin-like");
/// # Ok(())
/// # }
/// ```
pub struct SelectorKey<S, T> {
    /// The registered file object. The key owns it, and lends it out only in ways that
    /// cannot swap it: [`fileobj`](Self::fileobj), [`fileobj_mut`](Self::fileobj_mut).
    fileobj: S,
    /// Whatever you attached with `register` or `modify`. Python: `key.data`.
    pub data: T,
    pub(crate) fd: RawFd,
    pub(crate) events: Events,
    pub(crate) token: Token,
    /// Directions the program has said it drained since the kernel's last event for the
    /// key ([`Selector::mark_drained`](crate::Selector::mark_drained)); the probe skips them.
    pub(crate) drained: Events,
    /// The kernel has reported the peer's end of stream (or a hang-up). End of file stays
    /// readable with no further edge, so from then on a READ drain mark is not trusted.
    pub(crate) read_closed: bool,
}

impl<S, T> SelectorKey<S, T> {
    pub(crate) fn new(fileobj: S, data: T, fd: RawFd, events: Events, token: Token) -> Self {
        SelectorKey {
            fileobj,
            data,
            fd,
            events,
            token,
            drained: Events::empty(),
            read_closed: false,
        }
    }

    /// The registered file object. Python: `key.fileobj`.
    ///
    /// Enough for all I/O on the standard descriptor types: std and mio implement `Read` and
    /// `Write` for `&TcpStream`, `&UnixStream`, `&File` and mio's pipes, and `accept`,
    /// `recv_from`, `send_to` take `&self`. So `key.fileobj().read(&mut buf)` works as
    /// `key.fileobj.recv(1024)` does in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut peer, sock) = UnixStream::pair()?;
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_READ, ())?.token();
    /// peer.write_all(b"hi")?;
    /// let mut buf = [0; 2];
    /// sel.get_key(token)?.fileobj().read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// # Ok(())
    /// # }
    /// ```
    pub fn fileobj(&self) -> &S {
        &self.fileobj
    }

    /// The registered file object, for I/O that needs `&mut`: a [`FileObjMut`] that reads
    /// and writes through to it (and derefs to `&S`), but cannot replace it.
    ///
    /// Python: `key.fileobj`. Only file objects whose `Read`/`Write` take `&mut self`
    /// need this (a buffered wrapper, `ChildStdout`); for sockets and pipes,
    /// [`fileobj`](Self::fileobj) is enough.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_WRITE};
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut peer, sock) = UnixStream::pair()?;
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_WRITE, ())?.token();
    /// sel.get_key_mut(token)?.fileobj_mut().write_all(b"hi")?;
    /// let mut buf = [0; 2];
    /// peer.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// # Ok(())
    /// # }
    /// ```
    pub fn fileobj_mut(&mut self) -> FileObjMut<'_, S> {
        FileObjMut(&mut self.fileobj)
    }

    /// The file object and the data at once, for a handler that reads from the one and
    /// updates the other: Python's `sock = key.fileobj; data = key.data`.
    ///
    /// Two method calls could not do it: `key.fileobj()` would borrow the whole key, and
    /// `&mut key.data` could not be taken beside it.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Selector, EVENT_READ};
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut peer, sock) = UnixStream::pair()?;
    /// let mut sel = Selector::new()?;
    /// let token = sel.register(sock, EVENT_READ, Vec::new())?.token();
    /// peer.write_all(b"hi")?;
    /// let (mut sock, received) = sel.get_key_mut(token)?.fileobj_and_data();
    /// let mut buf = [0; 16];
    /// let n = sock.read(&mut buf)?; // `Read for &UnixStream`
    /// received.extend_from_slice(&buf[..n]);
    /// assert_eq!(sel.get_key(token)?.data, b"hi");
    /// # Ok(())
    /// # }
    /// ```
    pub fn fileobj_and_data(&mut self) -> (&S, &mut T) {
        (&self.fileobj, &mut self.data)
    }

    /// The file descriptor the kernel watches. Python: `key.fd`.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The events this key waits for. Python: `key.events`.
    pub fn events(&self) -> Events {
        self.events
    }

    /// This key's token, as [`Selector::select`](crate::Selector::select) reports it.
    /// Python has no counterpart: it hands back the key itself.
    pub fn token(&self) -> Token {
        self.token
    }
}

impl<S, T> SelectorKey<S, T> {
    /// The key as [`Selector::unregister`](crate::Selector::unregister) hands it back.
    pub(crate) fn into_unregistered(self) -> UnregisteredKey<S, T> {
        UnregisteredKey {
            fileobj: self.fileobj,
            data: self.data,
            fd: self.fd,
            events: self.events,
            token: self.token,
        }
    }
}

/// What [`Selector::unregister`](crate::Selector::unregister) hands back: the key's file
/// object and data, yours again, and what the key said about them.
///
/// Python: the `SelectorKey` that `unregister` returns. A type of its own, with public
/// `fileobj` and `data`, because the file object is no longer watched: moving it out, or
/// dropping it (which closes it), is now fine. Being a different type from
/// [`SelectorKey`], it cannot be assigned over a registered key.
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
/// sel.register(rx, EVENT_READ, "state")?;
/// let key = sel.unregister(fd)?;
/// assert_eq!((key.fd(), key.events(), key.data), (fd, EVENT_READ, "state"));
/// let rx: pipe::Receiver = key.fileobj; // ours again; dropping it closes it
/// # drop(rx);
/// # Ok(())
/// # }
/// ```
///
/// Putting it back in place of a registered key does not compile:
///
/// ```compile_fail,E0308
/// use mio_selectors::{Selector, EVENT_READ};
/// use std::net::UdpSocket;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sel = Selector::new()?;
/// let a = sel.register(UdpSocket::bind("127.0.0.1:0")?, EVENT_READ, ())?.token();
/// let b = sel.register(UdpSocket::bind("127.0.0.1:0")?, EVENT_READ, ())?.token();
/// let old = sel.unregister(b)?;
/// *sel.get_key_mut(a)? = old; // would drop (close) `a`'s watched socket
/// # Ok(())
/// # }
/// ```
pub struct UnregisteredKey<S, T> {
    /// The file object, no longer watched.
    pub fileobj: S,
    /// The key's data.
    pub data: T,
    fd: RawFd,
    events: Events,
    token: Token,
}

impl<S, T> UnregisteredKey<S, T> {
    /// The descriptor the key had. Python: `key.fd`.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The events the key waited for. Python: `key.events`.
    pub fn events(&self) -> Events {
        self.events
    }

    /// The token the key had; it names nothing now.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The file object alone. Python: `sel.unregister(fileobj).fileobj`.
    pub fn into_fileobj(self) -> S {
        self.fileobj
    }

    /// The file object and the data. Python: `key.fileobj, key.data`.
    pub fn into_parts(self) -> (S, T) {
        (self.fileobj, self.data)
    }
}

impl<S, T: fmt::Debug> fmt::Debug for UnregisteredKey<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnregisteredKey")
            .field("fd", &self.fd)
            .field("events", &self.events)
            .field("data", &self.data)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl<S, T: fmt::Debug> fmt::Debug for SelectorKey<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python's namedtuple repr, minus the file object, which need not be `Debug`.
        f.debug_struct("SelectorKey")
            .field("fd", &self.fd)
            .field("events", &self.events)
            .field("data", &self.data)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// A registered file object, lent out by [`SelectorKey::fileobj_mut`] for I/O that needs
/// `&mut`.
///
/// Python: `key.fileobj`. It reads and writes through to the file object (`Read`, `Write`),
/// and derefs to `&S` for everything else, but gives no `&mut S`: with one, the object could
/// be swapped for another, closing the descriptor the kernel is watching.
pub struct FileObjMut<'a, S>(&'a mut S);

impl<S> std::ops::Deref for FileObjMut<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        self.0
    }
}

impl<S: std::io::Read> std::io::Read for FileObjMut<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
        self.0.read_vectored(bufs)
    }
}

impl<S: std::io::Write> std::io::Write for FileObjMut<'_, S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<S> fmt::Debug for FileObjMut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileObjMut").finish_non_exhaustive()
    }
}

/// A copyable name for one registration, as [`Selector::select`](crate::Selector::select)
/// reports it.
///
/// Python: none; `select()` returns the `SelectorKey` itself.
///
/// A token is a slot number plus a generation. When a key is unregistered and its slot
/// reused, the new key gets a new generation, so an old token from the same batch of
/// `select()` results can never name the newcomer: looking it up gives
/// [`Error::NotRegistered`](crate::Error::NotRegistered).
///
/// # Examples
///
/// ```
/// use mio_selectors::{Selector, EVENT_WRITE};
/// use mio::unix::pipe;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (tx, _rx) = pipe::new()?;
/// let mut sel = Selector::new()?;
/// let token = sel.register(tx, EVENT_WRITE, ())?.token();
/// let ready = sel.select(0)?;
/// assert_eq!(ready, vec![(token, EVENT_WRITE)]);
/// # Ok(())
/// # }
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    slot: u32,
    generation: u32,
}

/// The mio token reserved for the selector's waker; never a slot (`Slab` cannot grow that far).
pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

impl Token {
    pub(crate) fn new(slot: usize, generation: u32) -> Token {
        let slot = u32::try_from(slot).expect("more than 4 billion registrations");
        Token { slot, generation }
    }

    pub(crate) fn slot(self) -> usize {
        self.slot as usize
    }

    pub(crate) fn generation(self) -> u32 {
        self.generation
    }

    /// The mio token: the slot in the low 32 bits and, on 64-bit targets, the generation
    /// above it, so that a stale kernel registration (a descriptor that was `dup`ed and
    /// closed without `unregister`) cannot be mistaken for the slot's next owner.
    pub(crate) fn to_mio(self) -> mio::Token {
        let raw = u64::from(self.generation) << 32 | u64::from(self.slot);
        // On a 32-bit target this keeps the slot and drops the generation; `from_mio` then
        // reports "no generation" and the selector trusts the slot alone.
        mio::Token(raw as usize)
    }

    /// Splits a mio token into its slot and, where the target is wide enough to carry it,
    /// its generation.
    pub(crate) fn from_mio(token: mio::Token) -> (usize, Option<u32>) {
        let raw = token.0 as u64;
        let slot = (raw & u64::from(u32::MAX)) as usize;
        let generation = (usize::BITS >= 64).then_some((raw >> 32) as u32);
        (slot, generation)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}#{})", self.slot, self.generation)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How a method names a registered file object: by descriptor or by token.
///
/// Python: the `fileobj` argument of `unregister`, `modify`, `get_key` and the mapping, which
/// may be a file object or an `int` descriptor. Here the selector owns the file object, so
/// you name it by its descriptor (`sel.get_key(5)`) or by the token `select()` gave you
/// (`sel.get_key(token)`); both convert into a `Lookup` for you.
///
/// # Examples
///
/// ```
/// use mio_selectors::Lookup;
///
/// assert_eq!(Lookup::from(5), Lookup::Fd(5));
/// assert_eq!(Lookup::Fd(5).to_string(), "5");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// A file descriptor, like Python's `int` argument.
    Fd(RawFd),
    /// A token from [`Selector::select`](crate::Selector::select) or
    /// [`SelectorKey::token`].
    Token(Token),
}

impl From<RawFd> for Lookup {
    fn from(fd: RawFd) -> Lookup {
        Lookup::Fd(fd)
    }
}

impl From<Token> for Lookup {
    fn from(token: Token) -> Lookup {
        Lookup::Token(token)
    }
}

impl From<&Token> for Lookup {
    fn from(token: &Token) -> Lookup {
        Lookup::Token(*token)
    }
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookup::Fd(fd) => write!(f, "{fd}"),
            Lookup::Token(token) => write!(f, "{token}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mio_token_round_trips_slot_and_generation() {
        let token = Token::new(7, 3);
        let (slot, generation) = Token::from_mio(token.to_mio());
        assert_eq!(slot, 7);
        if usize::BITS >= 64 {
            assert_eq!(generation, Some(3));
        }
    }

    #[test]
    fn waker_token_is_not_a_slot_any_registration_can_have() {
        let (slot, _) = Token::from_mio(WAKER_TOKEN);
        assert_eq!(slot, u32::MAX as usize);
    }
}
