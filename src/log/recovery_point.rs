//! The recovery point of one log: the offset below which its data is known to be fsynced, so
//! start-up recovery re-reads only what lies above it.
//!
//! Why a type of its own: it is raised from background flush threads (a rolled segment is
//! fsynced off the append path) and lowered by run-time truncation. A flush that began before
//! a truncation must not raise the point past it afterwards, or a later crash would trust
//! bytes that were cut and rewritten but never fsynced. Each truncation therefore bumps a
//! count, and a background flush raises the point only if no truncation happened since it
//! began.
//!
//! Thread-safety: shared by `Arc` between the log (under its partition lock) and its flush
//! threads; the value and the count change together under a small mutex.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// `(truncations so far, recovery point)`, see the module doc.
#[derive(Debug, Clone, Default)]
pub struct RecoveryPoint(Arc<Mutex<(u64, i64)>>);

impl RecoveryPoint {
    pub fn new(offset: i64) -> Self {
        RecoveryPoint(Arc::new(Mutex::new((0, offset))))
    }

    fn state(&self) -> MutexGuard<'_, (u64, i64)> {
        // The guarded pair is always consistent: a panic cannot leave it half-written.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self) -> i64 {
        self.state().1
    }

    /// What a background flush captures before it starts.
    pub fn ticket(&self) -> u64 {
        self.state().0
    }

    /// Raises the point after a flush made under the partition lock.
    pub fn raise(&self, to: i64) {
        let mut s = self.state();
        s.1 = s.1.max(to);
    }

    /// Raises the point after a background flush that started at `ticket`, unless the log was
    /// truncated since.
    pub fn raise_if_untruncated(&self, ticket: u64, to: i64) {
        let mut s = self.state();
        if s.0 == ticket {
            s.1 = s.1.max(to);
        }
    }

    /// The log was truncated to `to`: lower the point and void flushes in flight.
    pub fn lower_to(&self, to: i64) {
        let mut s = self.state();
        s.0 += 1;
        s.1 = s.1.min(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_older_than_a_truncation_does_not_raise_it() {
        let rp = RecoveryPoint::new(10);
        let ticket = rp.ticket();
        rp.lower_to(5);
        rp.raise_if_untruncated(ticket, 100);
        assert_eq!(rp.get(), 5);
        let ticket = rp.ticket();
        rp.raise_if_untruncated(ticket, 8);
        assert_eq!(rp.get(), 8);
    }
}
