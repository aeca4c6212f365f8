//! Port of the `timeout` argument of `selectors.BaseSelector.select(timeout=None)`.
//!
//! Python takes `None` (wait forever), a number of seconds (`0` or less: do not wait), or a
//! float. [`Timeout`] accepts the same spellings, plus Rust's [`Duration`], so
//! `sel.select(None)`, `sel.select(0)`, `sel.select(-1)`, `sel.select(1.5)` and
//! `sel.select(Duration::from_millis(250))` all work.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long [`Selector::select`](crate::Selector::select) may wait.
///
/// Python: the `timeout` argument of `select()`.
///
/// * `None` waits until something is ready.
/// * Zero or a negative number of seconds does not wait at all.
/// * A positive number waits at least that long, rounded *up* to the next millisecond
///   (epoll's resolution), as Python's `EpollSelector` does, so a `select(0.0001)` never
///   returns before its time.
///
/// # Examples
///
/// ```
/// use mio_selectors::Timeout;
/// use std::time::Duration;
///
/// assert_eq!(Timeout::from(None).as_duration()?, None);
/// assert_eq!(Timeout::from(-1).as_duration()?, Some(Duration::ZERO));
/// assert_eq!(Timeout::from(1.5).as_duration()?, Some(Duration::from_millis(1500)));
/// assert!(Timeout::from(f64::NAN).as_duration().is_err());
/// # Ok::<(), mio_selectors::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Timeout(Repr);

#[derive(Copy, Clone, Debug, PartialEq)]
enum Repr {
    Forever,
    Seconds(f64),
    Duration(Duration),
}

/// The longest wait epoll can express: `i32::MAX` milliseconds, about 24.8 days. Python
/// raises `OverflowError("timeout is too large")` beyond it rather than wait less.
const LONGEST: Duration = Duration::from_millis(i32::MAX as u64);

impl Timeout {
    /// The wait as a `Duration`, `None` meaning "forever".
    ///
    /// # Errors
    /// * [`Error::InvalidTimeout`] for NaN (Python: `ValueError`) or for a wait longer than
    ///   about 24.8 days (Python: `OverflowError`).
    pub fn as_duration(self) -> Result<Option<Duration>> {
        let duration = match self.0 {
            Repr::Forever => return Ok(None),
            Repr::Duration(duration) => duration,
            Repr::Seconds(secs) if secs.is_nan() => return Err(Error::InvalidTimeout(secs)),
            // Python: `timeout <= 0` means "poll and return at once".
            Repr::Seconds(secs) if secs <= 0.0 => Duration::ZERO,
            Repr::Seconds(secs) => {
                Duration::try_from_secs_f64(secs).map_err(|_| Error::InvalidTimeout(secs))?
            }
        };
        if duration > LONGEST {
            return Err(Error::InvalidTimeout(duration.as_secs_f64()));
        }
        Ok(Some(duration))
    }
}

impl From<Option<Duration>> for Timeout {
    fn from(timeout: Option<Duration>) -> Timeout {
        Timeout(timeout.map_or(Repr::Forever, Repr::Duration))
    }
}

impl From<Duration> for Timeout {
    fn from(duration: Duration) -> Timeout {
        Timeout(Repr::Duration(duration))
    }
}

/// Seconds, as Python's `select(1.5)`.
impl From<f64> for Timeout {
    fn from(secs: f64) -> Timeout {
        Timeout(Repr::Seconds(secs))
    }
}

/// Whole seconds, as Python's `select(0)`, `select(-1)` or `select(2)`.
impl From<i32> for Timeout {
    fn from(secs: i32) -> Timeout {
        Timeout(Repr::Seconds(f64::from(secs)))
    }
}

/// `now + delay`, or as good as never (`now` plus [`LONGEST`]) when the sum does not fit
/// in an `Instant`. Every deadline the crate computes from a configured duration goes
/// through here, so that a timeout like `--idle-timeout 1e19` means "never", not a panic.
pub(crate) fn instant_after(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or(now + LONGEST)
}

/// When a `select()` call must give up: computed once, so that a wait interrupted by a
/// signal resumes with only the time that is left (PEP 475).
#[derive(Copy, Clone, Debug)]
pub(crate) enum Deadline {
    Never,
    /// "Do not wait": `select(0)`, and the first look for fresh edges. No clock is read,
    /// which is a measurable share of a `select(0)` with nothing ready.
    Immediate,
    At(Instant),
}

impl Deadline {
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        // A wait too long to add to `now` is as good as forever (`LONGEST` rules it out
        // today; this keeps `Instant` arithmetic from ever panicking).
        if timeout == Some(Duration::ZERO) {
            return Deadline::Immediate;
        }
        match timeout.and_then(|t| Instant::now().checked_add(t)) {
            Some(at) => Deadline::At(at),
            None if timeout.is_some() => Deadline::At(Instant::now() + LONGEST),
            None => Deadline::Never,
        }
    }

    /// A deadline that has already passed: "do not wait".
    pub(crate) fn now() -> Deadline {
        Deadline::Immediate
    }

    /// What is left to wait, `None` meaning forever, zero once passed.
    pub(crate) fn remaining(self) -> Option<Duration> {
        match self {
            Deadline::Never => None,
            Deadline::Immediate => Some(Duration::ZERO),
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
        }
    }

    pub(crate) fn has_passed(self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_spellings_convert() {
        assert_eq!(
            Timeout::from(0).as_duration().unwrap(),
            Some(Duration::ZERO)
        );
        assert_eq!(
            Timeout::from(-0.5).as_duration().unwrap(),
            Some(Duration::ZERO)
        );
        assert_eq!(
            Timeout::from(2).as_duration().unwrap(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            Timeout::from(Duration::from_micros(10))
                .as_duration()
                .unwrap(),
            Some(Duration::from_micros(10))
        );
    }

    #[test]
    fn nan_infinity_and_huge_waits_are_refused() {
        for bad in [f64::NAN, f64::INFINITY, 1e10, 1e300] {
            assert!(matches!(
                Timeout::from(bad).as_duration(),
                Err(Error::InvalidTimeout(_))
            ));
        }
        let huge = Timeout::from(Duration::from_secs(u64::MAX));
        assert!(matches!(huge.as_duration(), Err(Error::InvalidTimeout(_))));
    }

    #[test]
    fn deadlines_count_down() {
        assert_eq!(Deadline::after(None).remaining(), None);
        assert!(Deadline::now().has_passed());
        let later = Deadline::after(Some(Duration::from_secs(60)));
        assert!(!later.has_passed());
        assert!(later.remaining().unwrap() <= Duration::from_secs(60));
    }
}
