//! The time a coordinator sees, injected so that timers can be tested without sleeping.
//!
//! Every operation of the [runtime](super::runtime) is given a [`Now`] taken from the
//! runtime's [`Clock`]: a monotonic instant for deadlines (session timeouts, rebalance
//! deadlines) and wall-clock milliseconds for what is stored in records (commit and state
//! timestamps). Production uses [`SystemClock`]; unit tests use [`FakeClock`] and move it by
//! hand, so "a member stays silent for 10 s" takes no time at all.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One reading of a clock: both views of the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for deadlines.
    pub instant: Instant,
    /// Milliseconds since the Unix epoch, for timestamps written to records.
    pub wall_ms: i64,
}

/// A source of time for a coordinator (see the module doc for why it is a trait).
pub trait Clock: Send + Sync {
    fn now(&self) -> Now;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            instant: Instant::now(),
            wall_ms: crate::log::partition::now_ms(),
        }
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug)]
pub struct FakeClock {
    start: Now,
    elapsed: Mutex<Duration>,
}

impl FakeClock {
    /// A clock standing at the current time.
    pub fn new() -> FakeClock {
        FakeClock {
            start: SystemClock.now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut e = self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        *e += d;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Now {
        let e = *self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        Now {
            instant: self.start.instant + e,
            wall_ms: self.start.wall_ms + e.as_millis() as i64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_when_told() {
        let c = FakeClock::new();
        let a = c.now();
        assert_eq!(c.now(), a);
        c.advance(Duration::from_millis(1500));
        let b = c.now();
        assert_eq!(b.instant - a.instant, Duration::from_millis(1500));
        assert_eq!(b.wall_ms - a.wall_ms, 1500);
    }
}
