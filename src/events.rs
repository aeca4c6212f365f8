//! Port of `selectors.EVENT_READ` and `selectors.EVENT_WRITE`.
//!
//! Python spells an event mask as a plain `int`: `EVENT_READ = 1`, `EVENT_WRITE = 2`, and
//! `EVENT_READ | EVENT_WRITE = 3`. Here the mask is a small type, [`Events`], with the same
//! bits and the same two constants, so `mask & EVENT_READ` and `EVENT_READ | EVENT_WRITE`
//! read exactly as they do in Python.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A mask of [`EVENT_READ`] and [`EVENT_WRITE`]: what a key waits for, or what was ready.
///
/// Python: the `int` masks built from `selectors.EVENT_READ` and `selectors.EVENT_WRITE`.
///
/// Only the two bits `1` and `2` mean anything. [`Events::from_bits_retain`] can build any
/// other value, the way Python lets you pass `999999`, so that [`Selector::register`] can
/// refuse it with Python's `ValueError("Invalid events: 999999")`.
///
/// [`Selector::register`]: crate::Selector::register
///
/// # Examples
///
/// ```
/// use mio_selectors::{Events, EVENT_READ, EVENT_WRITE};
///
/// let mask = EVENT_READ | EVENT_WRITE;
/// assert!(mask.contains(EVENT_READ));
/// assert_eq!(mask & EVENT_WRITE, EVENT_WRITE);
/// assert_eq!(mask.bits(), 3);
/// assert_eq!(mask.to_string(), "EVENT_READ | EVENT_WRITE");
/// assert!(Events::empty().is_empty());
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct Events(u32);

/// Ready to read (or to accept, or at end of file, or in error).
///
/// Python: `selectors.EVENT_READ` (`1`).
pub const EVENT_READ: Events = Events(1);

/// Ready to write (or in error).
///
/// Python: `selectors.EVENT_WRITE` (`2`).
pub const EVENT_WRITE: Events = Events(2);

impl Events {
    /// The empty mask. Python: `0`, which `register` refuses.
    pub const fn empty() -> Events {
        Events(0)
    }

    /// Builds a mask from raw bits, keeping bits that mean nothing.
    ///
    /// Python: any `int` passed as `events`. [`Selector::register`] and
    /// [`Selector::modify`] refuse a mask with unknown bits, as Python does.
    ///
    /// [`Selector::register`]: crate::Selector::register
    /// [`Selector::modify`]: crate::Selector::modify
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{Events, EVENT_READ};
    ///
    /// assert_eq!(Events::from_bits_retain(1), EVENT_READ);
    /// assert!(!Events::from_bits_retain(999_999).is_valid());
    /// ```
    pub const fn from_bits_retain(bits: u32) -> Events {
        Events(bits)
    }

    /// The mask as Python's `int`.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// True if no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if every bit of `other` is set here.
    ///
    /// Python: `mask & EVENT_READ` used as a truth value.
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits set here and not in `other`.
    ///
    /// Python: `mask & ~other`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::{EVENT_READ, EVENT_WRITE};
    ///
    /// assert_eq!((EVENT_READ | EVENT_WRITE).difference(EVENT_READ), EVENT_WRITE);
    /// ```
    pub const fn difference(self, other: Events) -> Events {
        Events(self.0 & !other.0)
    }

    /// True if the mask is one a key can register: not empty, no unknown bits.
    ///
    /// Python: the check `if (not events) or (events & ~(EVENT_READ | EVENT_WRITE))` in
    /// `register`.
    pub const fn is_valid(self) -> bool {
        self.0 != 0 && self.0 & !(EVENT_READ.0 | EVENT_WRITE.0) == 0
    }

    /// The mio interest for a valid mask (`None` for the empty mask, which mio cannot say).
    pub(crate) fn to_interest(self) -> Option<mio::Interest> {
        match (self.contains(EVENT_READ), self.contains(EVENT_WRITE)) {
            (true, true) => Some(mio::Interest::READABLE | mio::Interest::WRITABLE),
            (true, false) => Some(mio::Interest::READABLE),
            (false, true) => Some(mio::Interest::WRITABLE),
            (false, false) => None,
        }
    }
}

impl BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

impl BitOrAssign for Events {
    fn bitor_assign(&mut self, rhs: Events) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Events {
    type Output = Events;
    fn bitand(self, rhs: Events) -> Events {
        Events(self.0 & rhs.0)
    }
}

/// `EVENT_READ | EVENT_WRITE`, as a student would write it; unknown bits are shown in hex.
impl fmt::Display for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.contains(EVENT_READ) {
            parts.push("EVENT_READ".to_string());
        }
        if self.contains(EVENT_WRITE) {
            parts.push("EVENT_WRITE".to_string());
        }
        let unknown = self.0 & !(EVENT_READ.0 | EVENT_WRITE.0);
        if unknown != 0 {
            parts.push(format!("{unknown:#x}"));
        }
        if parts.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&parts.join(" | "))
        }
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Events({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_match_python() {
        assert_eq!(EVENT_READ.bits(), 1);
        assert_eq!(EVENT_WRITE.bits(), 2);
        assert_eq!((EVENT_READ | EVENT_WRITE).bits(), 3);
    }

    #[test]
    fn validity_follows_python_register_check() {
        assert!(EVENT_READ.is_valid());
        assert!((EVENT_READ | EVENT_WRITE).is_valid());
        assert!(!Events::empty().is_valid());
        assert!(!Events::from_bits_retain(4).is_valid());
        assert!(!Events::from_bits_retain(999_999).is_valid());
    }

    #[test]
    fn display_names_the_constants() {
        assert_eq!(Events::empty().to_string(), "0");
        assert_eq!(EVENT_WRITE.to_string(), "EVENT_WRITE");
        assert_eq!(Events::from_bits_retain(5).to_string(), "EVENT_READ | 0x4");
        assert_eq!(format!("{:?}", EVENT_READ), "Events(EVENT_READ)");
    }

    #[test]
    fn interest_covers_both_directions() {
        assert_eq!(Events::empty().to_interest(), None);
        let both = (EVENT_READ | EVENT_WRITE).to_interest().unwrap();
        assert!(both.is_readable() && both.is_writable());
    }
}
