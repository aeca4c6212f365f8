//! Port of `_BaseSelectorImpl._fd_to_key` and `selectors._SelectorMapping`: the table of
//! registrations, and the read-only view of it that `get_map()` returns.
//!
//! This module does no I/O. It decides, before the kernel is ever asked, whether a
//! descriptor is already registered or unknown (mio leaves a double `register` "unspecified",
//! and it differs between epoll and kqueue), so Python's `KeyError`s come from here on every
//! platform. Keys live in a [`Slab`]; a `HashMap` from descriptor to slot answers
//! `get_key(fd)`, as Python's `_fd_to_key` dict does.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::RawFd;

use slab::Slab;

use crate::error::{Error, Result};
use crate::key::{Lookup, SelectorKey, Token};

/// Every live registration, by slot and by descriptor.
pub(crate) struct KeyMap<S, T> {
    keys: Slab<SelectorKey<S, T>>,
    fd_to_slot: HashMap<RawFd, usize>,
    /// Handed to each new key. A global counter (not one per slot) keeps it simple: a stale
    /// token can only be mistaken for a new key after 2^32 registrations land in its slot.
    next_generation: u32,
}

impl<S, T> KeyMap<S, T> {
    pub(crate) fn new() -> KeyMap<S, T> {
        KeyMap {
            keys: Slab::new(),
            fd_to_slot: HashMap::new(),
            next_generation: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The token the next [`insert`](Self::insert) will give its key. The selector needs it
    /// before inserting, to hand it to the kernel.
    pub(crate) fn next_token(&self) -> Token {
        Token::new(self.keys.vacant_key(), self.next_generation)
    }

    /// Python: the checks at the top of `register` that need no system call.
    pub(crate) fn check_vacant(&self, fd: RawFd) -> Result<()> {
        if fd < 0 {
            return Err(Error::InvalidFd(fd));
        }
        if self.fd_to_slot.contains_key(&fd) {
            return Err(Error::AlreadyRegistered { fd });
        }
        Ok(())
    }

    /// Stores a key built for [`next_token`](Self::next_token). The caller has already run
    /// [`check_vacant`](Self::check_vacant) and registered the descriptor with the kernel.
    pub(crate) fn insert(&mut self, key: SelectorKey<S, T>) -> &mut SelectorKey<S, T> {
        debug_assert_eq!(key.token, self.next_token());
        self.next_generation = self.next_generation.wrapping_add(1);
        let slot = self.keys.insert(key);
        let key = &mut self.keys[slot];
        self.fd_to_slot.insert(key.fd, slot);
        key
    }

    /// Finds the slot a descriptor or token names.
    ///
    /// Python: `_fileobj_lookup` followed by `_fd_to_key[fd]`.
    ///
    /// # Errors
    /// * [`Error::InvalidFd`] for a negative descriptor (Python: `ValueError`).
    /// * [`Error::NotRegistered`] if nothing is registered under that name (Python: `KeyError`),
    ///   including a token whose key was unregistered, even if its slot was reused since.
    pub(crate) fn slot_of(&self, lookup: Lookup) -> Result<usize> {
        let found = match lookup {
            Lookup::Fd(fd) if fd < 0 => return Err(Error::InvalidFd(fd)),
            Lookup::Fd(fd) => self.fd_to_slot.get(&fd).copied(),
            Lookup::Token(token) => self.slot_of_token(token.slot(), Some(token.generation())),
        };
        found.ok_or(Error::NotRegistered(lookup))
    }

    /// The slot for a token's parts, if a key with that generation still holds it; `None`
    /// as the generation means "trust the slot" (32-bit targets, see `Token::to_mio`).
    pub(crate) fn slot_of_token(&self, slot: usize, generation: Option<u32>) -> Option<usize> {
        let key = self.keys.get(slot)?;
        generation
            .is_none_or(|g| g == key.token.generation())
            .then_some(slot)
    }

    pub(crate) fn get(&self, slot: usize) -> &SelectorKey<S, T> {
        &self.keys[slot]
    }

    pub(crate) fn get_mut(&mut self, slot: usize) -> &mut SelectorKey<S, T> {
        &mut self.keys[slot]
    }

    pub(crate) fn remove(&mut self, slot: usize) -> SelectorKey<S, T> {
        let key = self.keys.remove(slot);
        self.fd_to_slot.remove(&key.fd);
        key
    }

    /// Drops every key, and with them the file objects they own.
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.fd_to_slot.clear();
    }

    /// The read-only view `get_map()` returns.
    pub(crate) fn view(&self) -> Mapping<'_, S, T> {
        Mapping { map: self }
    }
}

/// A read-only view of the registrations, keyed by file descriptor.
///
/// Python: `selectors._SelectorMapping`, the `Mapping` that `get_map()` returns.
///
/// Like Python's, it is a view, not a copy: it reads the selector's own table. The borrow
/// checker guarantees nothing changes while you hold it, and that it cannot outlive
/// [`Selector::close`](crate::Selector::close), which Python guards against at run time.
/// Iterating it yields descriptors, as iterating Python's yields the `int` keys.
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
/// sel.register(rx, EVENT_READ, "reader")?;
///
/// let map = sel.get_map();
/// assert_eq!(map.len(), 1);
/// assert!(map.contains(fd));
/// assert_eq!(map.get(fd).map(|key| key.data), Some("reader"));
/// assert_eq!(map.iter().collect::<Vec<_>>(), vec![fd]);
/// assert!(map.get(999_999).is_none());
/// # Ok(())
/// # }
/// ```
pub struct Mapping<'a, S, T> {
    map: &'a KeyMap<S, T>,
}

impl<'a, S, T> Mapping<'a, S, T> {
    /// The number of registered keys. Python: `len(mapping)`.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if nothing is registered. Python: `not mapping`.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The key for a descriptor or token, if registered. Python: `mapping.get(fileobj)`.
    pub fn get(&self, lookup: impl Into<Lookup>) -> Option<&'a SelectorKey<S, T>> {
        let map = self.map;
        map.slot_of(lookup.into()).ok().map(|slot| map.get(slot))
    }

    /// True if the descriptor or token is registered. Python: `fileobj in mapping`.
    pub fn contains(&self, lookup: impl Into<Lookup>) -> bool {
        self.get(lookup).is_some()
    }

    /// The registered descriptors. Python: `iter(mapping)` and `mapping.keys()`.
    pub fn iter(&self) -> impl Iterator<Item = RawFd> + 'a {
        self.map.keys.iter().map(|(_, key)| key.fd)
    }

    /// The registered keys. Python: `mapping.values()`.
    pub fn values(&self) -> impl Iterator<Item = &'a SelectorKey<S, T>> + 'a {
        self.map.keys.iter().map(|(_, key)| key)
    }

    /// Descriptor and key pairs. Python: `mapping.items()`.
    pub fn items(&self) -> impl Iterator<Item = (RawFd, &'a SelectorKey<S, T>)> + 'a {
        self.map.keys.iter().map(|(_, key)| (key.fd, key))
    }
}

impl<'a, S, T> fmt::Debug for Mapping<'a, S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EVENT_READ;

    fn add(map: &mut KeyMap<(), &'static str>, fd: RawFd, data: &'static str) -> Token {
        map.check_vacant(fd).unwrap();
        let token = map.next_token();
        map.insert(SelectorKey::new((), data, fd, EVENT_READ, token));
        token
    }

    #[test]
    fn lookup_by_fd_and_by_token_find_the_same_key() {
        let mut map = KeyMap::new();
        let token = add(&mut map, 5, "five");
        assert_eq!(map.slot_of(Lookup::Fd(5)).unwrap(), token.slot());
        assert_eq!(map.slot_of(Lookup::Token(token)).unwrap(), token.slot());
        assert_eq!(map.view().get(5).unwrap().data, "five");
    }

    #[test]
    fn duplicate_and_negative_descriptors_are_refused_before_any_system_call() {
        let mut map = KeyMap::new();
        add(&mut map, 5, "five");
        assert!(matches!(
            map.check_vacant(5),
            Err(Error::AlreadyRegistered { fd: 5 })
        ));
        assert!(matches!(map.check_vacant(-10), Err(Error::InvalidFd(-10))));
        assert!(matches!(
            map.slot_of(Lookup::Fd(-1)),
            Err(Error::InvalidFd(-1))
        ));
        assert!(matches!(
            map.slot_of(Lookup::Fd(6)),
            Err(Error::NotRegistered(Lookup::Fd(6)))
        ));
    }

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_token() {
        let mut map = KeyMap::new();
        let old = add(&mut map, 5, "old");
        map.remove(old.slot());
        let new = add(&mut map, 6, "new");
        assert_eq!(old.slot(), new.slot(), "slab reuses the freed slot first");
        assert!(matches!(
            map.slot_of(Lookup::Token(old)),
            Err(Error::NotRegistered(_))
        ));
        assert_eq!(map.slot_of(Lookup::Token(new)).unwrap(), new.slot());
        assert_eq!(map.slot_of_token(old.slot(), Some(old.generation())), None);
        assert_eq!(map.slot_of_token(old.slot(), None), Some(new.slot()));
    }

    #[test]
    fn remove_and_clear_forget_the_descriptor() {
        let mut map = KeyMap::new();
        let token = add(&mut map, 5, "five");
        add(&mut map, 7, "seven");
        assert_eq!(map.remove(token.slot()).data, "five");
        assert!(map.check_vacant(5).is_ok());
        map.clear();
        assert!(map.view().is_empty());
        assert!(map.check_vacant(7).is_ok());
    }

    #[test]
    fn the_view_iterates_descriptors_like_python() {
        let mut map = KeyMap::new();
        add(&mut map, 5, "five");
        add(&mut map, 9, "nine");
        let view = map.view();
        let mut fds: Vec<_> = view.iter().collect();
        fds.sort_unstable();
        assert_eq!(fds, vec![5, 9]);
        assert_eq!(view.values().count(), 2);
        assert!(view.items().any(|(fd, key)| fd == 9 && key.data == "nine"));
        assert!(!view.contains(6));
    }
}
