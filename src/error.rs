//! Port of the exceptions `selectors` raises: `ValueError`, `KeyError`, `RuntimeError` and
//! `OSError`, as one [`Error`] type.
//!
//! Python signals misuse with a handful of built-in exceptions and messages; each becomes a
//! variant here whose `Display` text is Python's message, so a student who knows
//! `KeyError: '5 is not registered'` recognises `5 is not registered`.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::key::Lookup;

/// What went wrong in a [`Selector`](crate::Selector) call.
///
/// Python: the exception a `selectors` method raises. The variant docs name it.
///
/// `From<Error> for io::Error` lets `?` carry it out of a function that returns
/// `io::Result`, with a matching [`io::ErrorKind`].
///
/// # Examples
///
/// ```
/// use mio_selectors::{Error, Selector};
/// use mio::unix::pipe;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sel: Selector<pipe::Receiver> = Selector::new()?;
/// let err = sel.unregister(7).unwrap_err();
/// assert!(matches!(err, Error::NotRegistered(_)));
/// assert_eq!(err.to_string(), "7 is not registered");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The events mask is empty or has bits other than `EVENT_READ | EVENT_WRITE`.
    ///
    /// Python: `ValueError("Invalid events: 999999")`.
    InvalidEvents(u32),
    /// The file object's descriptor is negative.
    ///
    /// Python: `ValueError("Invalid file descriptor: -10")`.
    InvalidFd(RawFd),
    /// The timeout is NaN, or too large for the OS to wait that long.
    ///
    /// Python: `ValueError` for NaN, `OverflowError("timeout is too large")` otherwise.
    InvalidTimeout(f64),
    /// Another key already has this descriptor.
    ///
    /// Python: `KeyError("<fileobj> (FD 5) is already registered")`.
    AlreadyRegistered {
        /// The descriptor that is taken.
        fd: RawFd,
    },
    /// No key has this descriptor or token.
    ///
    /// Python: `KeyError("5 is not registered")`.
    NotRegistered(Lookup),
    /// The selector was closed.
    ///
    /// Python: `RuntimeError('Selector is closed')` (from `get_key`; see the mapping guide
    /// for the other methods).
    Closed,
    /// The operating system refused.
    ///
    /// Python: `OSError` (for example `EPERM` when registering a regular file with epoll).
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidEvents(bits) => write!(f, "Invalid events: {bits}"),
            Error::InvalidFd(fd) => write!(f, "Invalid file descriptor: {fd}"),
            Error::InvalidTimeout(t) if t.is_nan() => {
                f.write_str("Invalid value NaN (not a number)")
            }
            Error::InvalidTimeout(_) => f.write_str("timeout is too large"),
            Error::AlreadyRegistered { fd } => write!(f, "FD {fd} is already registered"),
            Error::NotRegistered(what) => write!(f, "{what} is not registered"),
            Error::Closed => f.write_str("Selector is closed"),
            Error::Io(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::Io(err)
    }
}

/// Python's exception classes become the nearest [`io::ErrorKind`]: `ValueError` is
/// `InvalidInput`, `KeyError` is `AlreadyExists` or `NotFound`, and an `OSError` is itself.
impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err {
            Error::Io(inner) => return inner,
            Error::InvalidEvents(_) | Error::InvalidFd(_) | Error::InvalidTimeout(_) => {
                io::ErrorKind::InvalidInput
            }
            Error::AlreadyRegistered { .. } => io::ErrorKind::AlreadyExists,
            Error::NotRegistered(_) => io::ErrorKind::NotFound,
            Error::Closed => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// A failed [`Selector::register`](crate::Selector::register), with the file object and data
/// handed back.
///
/// Python: the same exceptions as [`Error`]; the caller still holds its socket because
/// Python never took it. Here `register` takes ownership, so on failure it returns what it
/// was given (as [`std::sync::mpsc::SendError`] does) instead of closing your socket.
///
/// # Examples
///
/// ```
/// use mio_selectors::{Error, Events, Selector};
/// use mio::unix::pipe;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (_tx, rx) = pipe::new()?;
/// let mut sel = Selector::new()?;
/// let failed = sel.register(rx, Events::empty(), "data").unwrap_err();
/// assert!(matches!(failed.error, Error::InvalidEvents(0)));
/// let rx: pipe::Receiver = failed.fileobj; // still open, still ours
/// # drop(rx);
/// # Ok(())
/// # }
/// ```
pub struct RegisterError<S, T> {
    /// Why registration failed.
    pub error: Error,
    /// The file object passed to `register`, unregistered and still open.
    pub fileobj: S,
    /// The data passed to `register`.
    pub data: T,
}

impl<S, T> fmt::Debug for RegisterError<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<S, T> fmt::Display for RegisterError<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<S, T> std::error::Error for RegisterError<S, T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// Drops the file object (closing it) and keeps the reason, so `?` works in functions that
/// return [`Result`].
impl<S, T> From<RegisterError<S, T>> for Error {
    fn from(err: RegisterError<S, T>) -> Error {
        err.error
    }
}

/// Drops the file object (closing it) and keeps the reason, so `?` works in functions that
/// return [`io::Result`].
impl<S, T> From<RegisterError<S, T>> for io::Error {
    fn from(err: RegisterError<S, T>) -> io::Error {
        err.error.into()
    }
}

/// A failed [`Selector::modify`](crate::Selector::modify), with the new data handed back.
///
/// Python: the same exceptions as [`Error`]; the caller still holds its data because Python
/// never took it. Here `modify` takes the new data by value, so on failure it returns it,
/// as [`RegisterError`] returns the file object and data of a failed `register`. The key
/// (if there is one) keeps its old events and data.
///
/// # Examples
///
/// ```
/// use mio_selectors::{Error, Events, Selector, EVENT_READ};
/// use mio::unix::pipe;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (_tx, rx) = pipe::new()?;
/// let mut sel = Selector::new()?;
/// let token = sel.register(rx, EVENT_READ, String::from("old"))?.token();
/// let failed = sel.modify(token, Events::empty(), String::from("new")).unwrap_err();
/// assert!(matches!(failed.error, Error::InvalidEvents(0)));
/// assert_eq!(failed.data, "new"); // handed back, not dropped
/// assert_eq!(sel.get_key(token)?.data, "old"); // the key is as it was
/// # Ok(())
/// # }
/// ```
pub struct ModifyError<T> {
    /// Why `modify` failed.
    pub error: Error,
    /// The data passed to `modify`, not stored.
    pub data: T,
}

impl<T> fmt::Debug for ModifyError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModifyError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for ModifyError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<T> std::error::Error for ModifyError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// Drops the data and keeps the reason, so `?` works in functions that return [`Result`].
impl<T> From<ModifyError<T>> for Error {
    fn from(err: ModifyError<T>) -> Error {
        err.error
    }
}

/// Drops the data and keeps the reason, so `?` works in functions that return
/// [`io::Result`].
impl<T> From<ModifyError<T>> for io::Error {
    fn from(err: ModifyError<T>) -> io::Error {
        err.error.into()
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;

    #[test]
    fn messages_follow_python() {
        assert_eq!(
            Error::InvalidEvents(999_999).to_string(),
            "Invalid events: 999999"
        );
        assert_eq!(
            Error::InvalidFd(-10).to_string(),
            "Invalid file descriptor: -10"
        );
        assert_eq!(
            Error::AlreadyRegistered { fd: 5 }.to_string(),
            "FD 5 is already registered"
        );
        assert_eq!(
            Error::NotRegistered(Lookup::Fd(5)).to_string(),
            "5 is not registered"
        );
        assert_eq!(Error::Closed.to_string(), "Selector is closed");
        assert_eq!(
            Error::InvalidTimeout(f64::NAN).to_string(),
            "Invalid value NaN (not a number)"
        );
        assert_eq!(
            Error::InvalidTimeout(1e300).to_string(),
            "timeout is too large"
        );
        let token = Error::NotRegistered(Lookup::Token(Token::new(3, 1)));
        assert_eq!(token.to_string(), "Token(3#1) is not registered");
    }

    #[test]
    fn io_kinds_follow_python_exception_classes() {
        let kind = |e: Error| io::Error::from(e).kind();
        assert_eq!(kind(Error::InvalidEvents(0)), io::ErrorKind::InvalidInput);
        assert_eq!(
            kind(Error::AlreadyRegistered { fd: 1 }),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            kind(Error::NotRegistered(Lookup::Fd(1))),
            io::ErrorKind::NotFound
        );
        let os = Error::Io(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(io::Error::from(os).raw_os_error(), Some(libc::EPERM));
    }
}
