//! Port of asyncio's timer queue: `loop.call_later`, `loop.call_at`, `TimerHandle.cancel()`
//! (the `_scheduled` heap of Lib/asyncio/base_events.py).
//!
//! A binary min-heap keyed by `(deadline, sequence number)`, as asyncio's `heapq` (plus
//! libuv's counter, so that timers due at the same instant run in the order they were
//! set: asyncio leaves that order undefined). Cancelling is lazy: the entry is marked dead
//! and skipped when it reaches the top, and the heap is rebuilt when more than half of a
//! large heap is dead (asyncio's `_MIN_SCHEDULED_TIMER_HANDLES = 100` and
//! `_MIN_CANCELLED_TIMER_HANDLES_FRACTION = 0.5`), so cancel + re-arm churn cannot grow it
//! without bound. The loop sleeps in `select` until the earliest deadline, and with no
//! timer at all it sleeps until a socket is ready: an idle loop never wakes up.
//!
//! A due timer stays cancellable until it fires: [`Timers::pop_due`] hands out handles,
//! not actions, and the loop takes each action with [`Timers::take_due`] just before
//! running it, so a callback that cancels a later timer of the same due batch stops it
//! (asyncio's `_run_once` skips handles cancelled after they reached `_ready`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use slab::Slab;

/// Names a scheduled timer, to [`cancel`](super::LoopContext::cancel) it or to recognise
/// it in [`Protocol::timer_fired`](super::Protocol::timer_fired).
///
/// Python: `asyncio.TimerHandle`. Cancelling a handle whose timer already ran (or was
/// cancelled) does nothing: the sequence number inside never repeats, so a handle cannot
/// name a later timer that reused its slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerHandle {
    slot: usize,
    seq: u64,
}

/// A heap with at least this many entries is rebuilt when most of them are cancelled.
const REBUILD_MIN: usize = 100;

/// The timer queue: what is due when. `A` is what to do when a timer fires; the loop
/// keeps closures elsewhere and stores only small, non-generic actions here.
#[derive(Debug)]
pub(crate) struct Timers<A> {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    /// The live timers, by slot: in the heap, or due (handed to the loop by `pop_due`).
    entries: Slab<Entry<A>>,
    /// Cancelled entries still in the heap (lazy deletion).
    cancelled: usize,
    next_seq: u64,
}

/// One timer: its sequence number (which a handle must match), its action (`None` once
/// cancelled while in the heap), and whether it left the heap as due.
#[derive(Debug)]
struct Entry<A> {
    seq: u64,
    action: Option<A>,
    due: bool,
}

impl<A> Default for Timers<A> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            entries: Slab::new(),
            cancelled: 0,
            next_seq: 0,
        }
    }
}

impl<A> Timers<A> {
    /// Schedules `action` at `when`. Python: `loop.call_at(when, callback)`.
    pub(crate) fn insert(&mut self, when: Instant, action: A) -> TimerHandle {
        // Python: heapq compares TimerHandles by `_when` only, so ties run in any order;
        // the sequence number makes them run in the order they were set (libuv's rule).
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.entries.insert(Entry {
            seq,
            action: Some(action),
            due: false,
        });
        self.heap.push(Reverse((when, seq, slot)));
        TimerHandle { slot, seq }
    }

    /// Cancels a timer and hands back its action, or `None` if it already ran or was
    /// cancelled. A timer that is due but has not run yet (a later one of the batch
    /// [`pop_due`](Self::pop_due) returned) is cancelled too. Python: `TimerHandle.cancel()`.
    pub(crate) fn cancel(&mut self, handle: TimerHandle) -> Option<A> {
        let entry = self.entries.get_mut(handle.slot)?;
        if entry.seq != handle.seq {
            return None;
        }
        if entry.due {
            // Out of the heap already: free the slot now; `take_due` finds it gone.
            return self.entries.remove(handle.slot).action;
        }
        let action = entry.action.take()?;
        self.cancelled += 1;
        if self.heap.len() > REBUILD_MIN && self.cancelled * 2 > self.heap.len() {
            self.rebuild();
        }
        Some(action)
    }

    /// Drops every cancelled entry and frees its slot. Python: the `heapify` branch of
    /// `_run_once`.
    fn rebuild(&mut self) {
        let entries = &mut self.entries;
        self.heap.retain(|Reverse((_, _, slot))| {
            let live = entries[*slot].action.is_some();
            if !live {
                entries.remove(*slot);
            }
            live
        });
        self.cancelled = 0;
    }

    /// The earliest live deadline, after dropping cancelled entries from the top.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((when, _, slot))) = self.heap.peek() {
            if self.entries[slot].action.is_some() {
                return Some(when);
            }
            self.heap.pop();
            self.entries.remove(slot);
            self.cancelled -= 1;
        }
        None
    }

    /// Moves every timer due at `now` out of the heap and its handle into `due`, earliest
    /// first (ties in the order they were set). Timers that those actions set are not
    /// included, even if already due: they run on the next iteration, after another look
    /// at the sockets (asyncio's `ntodo`), so a timer that re-arms itself at 0 s cannot
    /// starve I/O. Each action is taken with [`take_due`](Self::take_due) when its turn
    /// comes, so until then it can still be cancelled.
    pub(crate) fn pop_due(&mut self, now: Instant, due: &mut Vec<TimerHandle>) {
        while let Some(&Reverse((when, seq, slot))) = self.heap.peek() {
            if when > now {
                break;
            }
            self.heap.pop();
            let entry = &mut self.entries[slot];
            if entry.action.is_some() {
                entry.due = true;
                due.push(TimerHandle { slot, seq });
            } else {
                self.entries.remove(slot);
                self.cancelled -= 1;
            }
        }
    }

    /// The action of a due timer, to run now, or `None` if it was cancelled since
    /// [`pop_due`](Self::pop_due) returned it.
    pub(crate) fn take_due(&mut self, handle: TimerHandle) -> Option<A> {
        match self.entries.get(handle.slot) {
            Some(entry) if entry.seq == handle.seq && entry.due => {
                self.entries.remove(handle.slot).action
            }
            _ => None,
        }
    }

    /// Live timers, due ones not yet run included. Python: `len(loop._scheduled)` minus
    /// the cancelled ones.
    pub(crate) fn len(&self) -> usize {
        self.entries.len() - self.cancelled
    }

    /// Entries held, cancelled ones included: what the memory bound is about.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fire(timers: &mut Timers<&'static str>, now: Instant) -> Vec<&'static str> {
        let mut due = Vec::new();
        timers.pop_due(now, &mut due);
        due.into_iter()
            .filter_map(|handle| timers.take_due(handle))
            .collect()
    }

    #[test]
    fn a_due_timer_cancelled_before_its_turn_does_not_run() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let a = timers.insert(t0, "a");
        let b = timers.insert(t0, "b");
        let mut due = Vec::new();
        timers.pop_due(t0, &mut due);
        assert_eq!(due, [a, b]);
        assert_eq!(timers.len(), 2);
        // `a` runs and cancels `b`, which is due in the same batch.
        assert_eq!(timers.take_due(a), Some("a"));
        assert_eq!(timers.cancel(b), Some("b"));
        assert_eq!(timers.take_due(b), None);
        assert_eq!(timers.cancel(a), None, "a ran: nothing to cancel");
        assert_eq!(timers.len(), 0);
        // The freed slot may be taken by a new timer: the old handle names nothing.
        let c = timers.insert(t0, "c");
        assert_eq!(timers.take_due(b), None);
        assert_eq!(timers.cancel(b), None);
        assert_eq!(fire(&mut timers, t0), ["c"]);
        assert_eq!(timers.cancel(c), None);
    }

    #[test]
    fn timers_fire_in_deadline_order_and_ties_in_the_order_they_were_set() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        timers.insert(t0 + ms(20), "c");
        timers.insert(t0 + ms(10), "a");
        timers.insert(t0 + ms(10), "b");
        timers.insert(t0 + ms(30), "later");
        assert_eq!(timers.next_deadline(), Some(t0 + ms(10)));
        assert_eq!(fire(&mut timers, t0 + ms(20)), ["a", "b", "c"]);
        assert_eq!(timers.len(), 1);
        assert_eq!(fire(&mut timers, t0 + ms(29)), Vec::<&str>::new());
    }

    #[test]
    fn a_cancelled_timer_never_fires_and_a_stale_handle_cancels_nothing() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let a = timers.insert(t0, "a");
        timers.insert(t0, "b");
        assert_eq!(timers.cancel(a), Some("a"));
        assert_eq!(timers.cancel(a), None);
        assert_eq!(fire(&mut timers, t0), ["b"]);
        // `a`'s slot is free again; a new timer may take it, and the old handle must not
        // cancel the newcomer.
        let c = timers.insert(t0, "c");
        assert_eq!(timers.cancel(a), None);
        assert_eq!(fire(&mut timers, t0), ["c"]);
        assert_eq!(timers.cancel(c), None);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn cancel_and_rearm_churn_keeps_the_heap_bounded() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let far = t0 + Duration::from_secs(3600);
        let mut handle = timers.insert(far, "idle");
        for _ in 0..100_000 {
            timers.cancel(handle);
            handle = timers.insert(far, "idle");
        }
        assert_eq!(timers.len(), 1);
        assert!(
            timers.held() <= 2 * REBUILD_MIN + 2,
            "{} held",
            timers.held()
        );
    }
}
