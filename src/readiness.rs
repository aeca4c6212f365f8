//! Port of the part of `EpollSelector.select` that turns kernel readiness into Python's
//! `(key, mask)` list, made level-triggered on top of mio's edge triggers.
//!
//! Python registers with epoll in its default, *level-triggered* mode: as long as a socket
//! has unread bytes, every `select()` reports it. mio always registers *edge-triggered*
//! (`EPOLLET`): the kernel reports a socket when it *becomes* ready, once, and then stays
//! quiet until new bytes arrive, however many are still unread. The gap matters for exactly
//! one set of keys: those the previous `select()` reported. Any other key that is ready now
//! became ready since, and becoming ready queues an edge that the kernel will report. So
//! each `select()` also asks `poll(2)`, in one call with a zero timeout, which of the last
//! call's keys are *still* ready. That is [`Probe`]. See docs/design.md for the options we
//! measured and why this one won.

use std::os::fd::RawFd;

use crate::events::{Events, EVENT_READ, EVENT_WRITE};
use crate::key::Token;
use crate::sys::{self, PollFd};

/// Folds one mio event into Python's mask, before masking with the key's events.
///
/// Python: `if event & ~EPOLLIN: events |= EVENT_WRITE` and
/// `if event & ~EPOLLOUT: events |= EVENT_READ`. Any bit other than "readable" or
/// "writable" (an error, a hang-up) counts for both directions, so whichever one the key
/// waits for is reported, and the next `recv` or `send` meets the error and says what it is.
/// A peer that only shut down its writing side (`EPOLLRDHUP`) is a read event, as the plain
/// `EPOLLIN` Python sees for it is.
pub(crate) fn mask_of(event: &mio::event::Event) -> Events {
    let mut mask = Events::empty();
    if event.is_readable() || event.is_read_closed() {
        mask |= EVENT_READ;
    }
    if event.is_writable() {
        mask |= EVENT_WRITE;
    }
    if event.is_error() || event.is_write_closed() {
        mask |= EVENT_READ | EVENT_WRITE;
    }
    mask
}

/// The same fold for the `revents` of a `poll(2)` entry; `None` for `POLLNVAL`.
fn mask_of_revents(revents: libc::c_short) -> Option<Events> {
    if revents & libc::POLLNVAL != 0 {
        // The descriptor was closed without `unregister`. epoll forgets such a descriptor
        // silently, and we do the same rather than report a key nobody can read.
        return None;
    }
    let mut mask = Events::empty();
    if revents & libc::POLLIN != 0 {
        mask |= EVENT_READ;
    }
    if revents & libc::POLLOUT != 0 {
        mask |= EVENT_WRITE;
    }
    if revents & (libc::POLLERR | libc::POLLHUP) != 0 {
        mask |= EVENT_READ | EVENT_WRITE;
    }
    Some(mask)
}

/// The zero-timeout `poll(2)` over the keys the last `select()` reported.
///
/// Its buffers are kept between calls so that a busy loop allocates nothing here.
#[derive(Default)]
pub(crate) struct Probe {
    fds: Vec<PollFd>,
    keys: Vec<(Token, Events)>,
}

impl Probe {
    /// Adds a key to the next [`run`](Self::run): ask about `ask` (a subset of the key's
    /// `events`), and report within `events` (a hang-up or an error counts for every
    /// direction the key waits for, asked about or not).
    pub(crate) fn push(&mut self, token: Token, fd: RawFd, ask: Events, events: Events) {
        let mut wanted = 0;
        if ask.contains(EVENT_READ) {
            wanted |= libc::POLLIN;
        }
        if ask.contains(EVENT_WRITE) {
            wanted |= libc::POLLOUT;
        }
        self.fds.push(PollFd {
            fd,
            events: wanted,
            revents: 0,
        });
        self.keys.push((token, events));
    }

    /// True if no key has been pushed since the last [`run`](Self::run).
    pub(crate) fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Drops the pushed keys for which `known` is true (the kernel has just reported them:
    /// nothing left to ask).
    pub(crate) fn forget(&mut self, known: impl Fn(Token) -> bool) {
        let mut i = 0;
        while i < self.keys.len() {
            if known(self.keys[i].0) {
                self.fds.swap_remove(i);
                self.keys.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Polls every pushed key once, calls `ready` for each one that is still ready (with
    /// the mask already limited to the key's events), and empties the probe.
    ///
    /// # Errors
    /// The error of `poll(2)`: `EINVAL` when it is asked about more descriptors than
    /// `RLIMIT_NOFILE` allows, `ENOMEM` when the kernel cannot allocate its table. Nothing
    /// is reported then, and the probe keeps its keys for [`take_unprobed`](Self::take_unprobed):
    /// any of them may still be ready, and must not be forgotten.
    pub(crate) fn run(&mut self, mut ready: impl FnMut(Token, Events)) -> std::io::Result<()> {
        if self.fds.is_empty() {
            return Ok(());
        }
        if sys::poll_now(&mut self.fds)? > 0 {
            for (pollfd, &(token, events)) in self.fds.iter().zip(&self.keys) {
                if pollfd.revents == 0 {
                    continue;
                }
                match mask_of_revents(pollfd.revents) {
                    Some(mask) if !(mask & events).is_empty() => ready(token, mask & events),
                    Some(_) => {}
                    None => log::debug!(
                        "fd {} ({token}) was closed without unregister(); not reporting it",
                        pollfd.fd
                    ),
                }
            }
        }
        self.fds.clear();
        self.keys.clear();
        Ok(())
    }

    /// The keys a failed [`run`](Self::run) could not ask about, emptying the probe.
    pub(crate) fn take_unprobed(&mut self) -> Vec<Token> {
        self.fds.clear();
        self.keys.drain(..).map(|(token, _)| token).collect()
    }
}

/// The list one `select()` call returns, with one entry per key.
///
/// Python: one `(key, mask)` per ready descriptor. A key can be found twice in one call:
/// by the probe and by a fresh edge, or (on kqueue) once per direction. Each slot remembers
/// which call last listed it and where, so a second sighting ORs its mask into the first
/// entry in O(1) instead of adding a duplicate.
#[derive(Default)]
pub(crate) struct ReadyList {
    entries: Vec<(Token, Events)>,
    /// Indexed by slot: the call number that last listed the slot, and its index there.
    seen: Vec<(u64, usize)>,
    call: u64,
}

impl ReadyList {
    /// Starts a new `select()` call's list, with room for `expected` entries (the last
    /// call's count is a good guess in a busy loop, and saves the list's regrowth).
    pub(crate) fn begin(&mut self, expected: usize) {
        self.call += 1;
        self.entries = Vec::with_capacity(expected);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True if this call has already listed `token`.
    pub(crate) fn contains(&self, token: Token) -> bool {
        self.seen
            .get(token.slot())
            .is_some_and(|&(call, index)| call == self.call && self.entries[index].0 == token)
    }

    /// Lists `token` as ready for `mask`, or adds `mask` to its entry if already listed.
    pub(crate) fn add(&mut self, token: Token, mask: Events) {
        let slot = token.slot();
        if slot >= self.seen.len() {
            self.seen.resize(slot + 1, (0, 0));
        }
        if self.contains(token) {
            let (_, index) = self.seen[slot];
            self.entries[index].1 |= mask;
        } else {
            self.seen[slot] = (self.call, self.entries.len());
            self.entries.push((token, mask));
        }
    }

    /// The finished list, leaving an empty one behind.
    pub(crate) fn take(&mut self) -> Vec<(Token, Events)> {
        std::mem::take(&mut self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hang_up_and_error_count_for_both_directions() {
        let both = Some(EVENT_READ | EVENT_WRITE);
        assert_eq!(mask_of_revents(libc::POLLIN), Some(EVENT_READ));
        assert_eq!(mask_of_revents(libc::POLLOUT), Some(EVENT_WRITE));
        assert_eq!(mask_of_revents(libc::POLLHUP), both);
        assert_eq!(mask_of_revents(libc::POLLERR), both);
        assert_eq!(mask_of_revents(libc::POLLNVAL), None);
    }

    #[test]
    fn a_key_seen_twice_in_one_call_is_listed_once_with_both_masks() {
        let mut list = ReadyList::default();
        let (a, b) = (Token::new(3, 0), Token::new(1, 0));
        list.begin(0);
        list.add(a, EVENT_READ);
        list.add(b, EVENT_WRITE);
        list.add(a, EVENT_WRITE);
        assert!(list.contains(a) && list.contains(b));
        assert_eq!(
            list.take(),
            vec![(a, EVENT_READ | EVENT_WRITE), (b, EVENT_WRITE)]
        );
    }

    #[test]
    fn the_next_call_starts_empty_and_ignores_old_generations() {
        let mut list = ReadyList::default();
        list.begin(0);
        list.add(Token::new(2, 0), EVENT_READ);
        list.take();
        list.begin(0);
        assert!(list.is_empty());
        assert!(!list.contains(Token::new(2, 0)));
        list.add(Token::new(2, 1), EVENT_READ);
        assert!(
            !list.contains(Token::new(2, 0)),
            "same slot, older generation"
        );
    }
}
