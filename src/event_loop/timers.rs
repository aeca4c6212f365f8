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
    /// The live timers' actions, by slot; `None` once cancelled (the heap entry lingers).
    entries: Slab<(u64, Option<A>)>,
    cancelled: usize,
    next_seq: u64,
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
        let slot = self.entries.insert((seq, Some(action)));
        self.heap.push(Reverse((when, seq, slot)));
        TimerHandle { slot, seq }
    }

    /// Cancels a timer and hands back its action, or `None` if it already ran or was
    /// cancelled. Python: `TimerHandle.cancel()`.
    pub(crate) fn cancel(&mut self, handle: TimerHandle) -> Option<A> {
        let (seq, action) = self.entries.get_mut(handle.slot)?;
        if *seq != handle.seq {
            return None;
        }
        let action = action.take()?;
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
            let live = entries[*slot].1.is_some();
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
            if self.entries[slot].1.is_some() {
                return Some(when);
            }
            self.heap.pop();
            self.entries.remove(slot);
            self.cancelled -= 1;
        }
        None
    }

    /// Moves every timer due at `now` into `due`, earliest first (ties in the order they
    /// were set). Timers that those actions set are not included, even if already due:
    /// they run on the next iteration, after another look at the sockets (asyncio's
    /// `ntodo`), so a timer that re-arms itself at 0 s cannot starve I/O.
    pub(crate) fn pop_due(&mut self, now: Instant, due: &mut Vec<(TimerHandle, A)>) {
        while let Some(&Reverse((when, seq, slot))) = self.heap.peek() {
            if when > now {
                break;
            }
            self.heap.pop();
            let (_, action) = self.entries.remove(slot);
            match action {
                Some(action) => due.push((TimerHandle { slot, seq }, action)),
                None => self.cancelled -= 1,
            }
        }
    }

    /// Live timers. Python: `len(loop._scheduled)` minus the cancelled ones.
    pub(crate) fn len(&self) -> usize {
        self.heap.len() - self.cancelled
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
        due.into_iter().map(|(_, a)| a).collect()
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
