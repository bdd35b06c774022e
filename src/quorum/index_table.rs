//! Raft index ↔ Kafka offset: which batch of `__cluster_metadata-0` holds which entry.
//!
//! Entries are batches laid end to end, so the table is a run of slots starting at
//! `first_index`: slot *k* is entry `first_index + k`, with its batch's base and last offset
//! and its term (the batch's `partitionLeaderEpoch`). It lives in memory only and is rebuilt
//! at open by scanning the batch headers from the log start; the index of the first batch
//! (the anchor) is 0 for a log that was never purged, else the one persisted in
//! `quorum-state` before the log start moved.
//!
//! Thread-safety: plain data inside the log store's mutex.

use std::collections::VecDeque;

use super::types::LogId;

/// One entry's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub base: i64,
    pub last: i64,
    pub term: u64,
}

/// The table (see the module doc).
#[derive(Debug, Default)]
pub struct IndexTable {
    first_index: u64,
    slots: VecDeque<Slot>,
}

impl IndexTable {
    pub fn new(first_index: u64) -> IndexTable {
        IndexTable {
            first_index,
            slots: VecDeque::new(),
        }
    }

    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    /// The index the next appended entry must have.
    pub fn next_index(&self) -> u64 {
        self.first_index + self.slots.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Restarts an empty table at `index` (the first entry appended after a purge of all).
    pub fn restart_at(&mut self, index: u64) {
        debug_assert!(self.slots.is_empty());
        self.first_index = index;
    }

    pub fn push(&mut self, slot: Slot) {
        self.slots.push_back(slot);
    }

    pub fn get(&self, index: u64) -> Option<Slot> {
        let k = index.checked_sub(self.first_index)?;
        self.slots.get(usize::try_from(k).ok()?).copied()
    }

    pub fn last_log_id(&self) -> Option<LogId> {
        let s = self.slots.back()?;
        Some(log_id(s.term, self.next_index() - 1))
    }

    /// Drops the entries from `index` on.
    pub fn truncate(&mut self, index: u64) {
        let keep = index.saturating_sub(self.first_index) as usize;
        self.slots.truncate(keep);
    }

    /// Drops the entries up to `index` inclusive.
    pub fn purge(&mut self, index: u64) {
        while self.first_index <= index {
            if self.slots.pop_front().is_none() {
                self.first_index = index + 1;
                break;
            }
            self.first_index += 1;
        }
    }

    /// The entry whose batch holds Kafka `offset` (or the first after it).
    pub fn index_at_or_after(&self, offset: i64) -> Option<u64> {
        let k = self.slots.partition_point(|s| s.last < offset);
        (k < self.slots.len()).then(|| self.first_index + k as u64)
    }
}

/// A log id from a term and an index (openraft's standard-Raft leader id has no node).
pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(openraft::CommittedLeaderId::new(term, 0), index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_map_to_batches() {
        let mut t = IndexTable::new(0);
        for (i, term) in [0u64, 1, 1, 2].iter().enumerate() {
            let base = i as i64 * 10;
            t.push(Slot {
                base,
                last: base + 9,
                term: *term,
            });
        }
        assert_eq!(t.last_log_id(), Some(log_id(2, 3)));
        assert_eq!(
            t.get(2),
            Some(Slot {
                base: 20,
                last: 29,
                term: 1
            })
        );
        assert_eq!(t.index_at_or_after(25), Some(2));
        assert_eq!(t.index_at_or_after(40), None);
        t.truncate(3);
        assert_eq!(t.next_index(), 3);
        t.purge(1);
        assert_eq!(
            (t.first_index(), t.get(1), t.get(2).map(|s| s.base)),
            (2, None, Some(20))
        );
        t.purge(5);
        assert!(t.is_empty());
        assert_eq!(t.next_index(), 6);
    }
}
