//! Transactional offsets waiting for their transaction's marker (Kafka's
//! `OffsetMetadataManager.pendingTransactionalOffsets` and `openTransactionsByGroup`), and the
//! log position of every committed offset.
//!
//! Why: offsets a producer commits inside a transaction (TxnOffsetCommit, the group side of
//! `sendOffsetsToTransaction`) must stay invisible until the transaction commits, and vanish
//! if it aborts. They are written at once, as a transactional batch of the producer, and kept
//! here per producer; the marker that ends the transaction either moves them into the group's
//! committed offsets or drops them. All of it changes only by replay, so a restart rebuilds
//! exactly the transactions that were open.
//!
//! Positions: Kafka keeps, for each offset, the log offset of its record, and a committed
//! transaction only replaces a committed offset whose record is older than its own (a plain
//! OffsetCommit written after the TxnOffsetCommit wins, whichever is materialised last). The
//! shard numbers the offset records in replay order, which is log order both at start-up and
//! after each write, so these numbers compare exactly as Kafka's record offsets do.
//!
//! Thread-safety: none of its own; it lives in the group shard, which the coordinator runtime
//! serialises.

use std::collections::{HashMap, HashSet};

use super::records::OffsetValue;

/// A topic partition of a group's offsets.
type Partition = (String, i32);

/// One producer's open transaction: the epoch it wrote with and its offsets by group, each
/// with the position of its record.
#[derive(Debug, Default)]
struct OpenTxn {
    epoch: i16,
    offsets: HashMap<String, HashMap<Partition, (OffsetValue, u64)>>,
}

/// An offset a committed transaction makes visible: group, topic, partition, value, and the
/// position of its record.
pub type Materialised = (String, String, i32, OffsetValue, u64);

/// Pending transactional offsets and committed offsets' positions (see the module doc).
#[derive(Debug, Default)]
pub struct PendingOffsets {
    /// Position the next replayed offset record gets.
    next_position: u64,
    /// Position of each committed offset's record: group → partition → position.
    committed: HashMap<String, HashMap<Partition, u64>>,
    /// Open transactions by producer id.
    open: HashMap<i64, OpenTxn>,
    /// Producers with an open transaction holding offsets of each group.
    open_by_group: HashMap<String, HashSet<i64>>,
}

impl PendingOffsets {
    /// The position of the offset record being replayed now.
    pub fn next_position(&mut self) -> u64 {
        self.next_position += 1;
        self.next_position
    }

    /// A plain offset record was replayed: the committed offset now comes from `position`.
    pub fn committed(&mut self, group: &str, topic: &str, partition: i32, position: u64) {
        self.committed
            .entry(group.to_string())
            .or_default()
            .insert((topic.to_string(), partition), position);
    }

    /// An offset tombstone was replayed: the committed offset is gone, and so are the pending
    /// transactional offsets of that partition (as in Kafka, a later commit marker does not
    /// bring them back).
    pub fn tombstone(&mut self, group: &str, topic: &str, partition: i32) {
        let key = (topic.to_string(), partition);
        if let Some(c) = self.committed.get_mut(group) {
            c.remove(&key);
            if c.is_empty() {
                self.committed.remove(group);
            }
        }
        for pid in self.open_by_group.get(group).into_iter().flatten() {
            if let Some(offsets) = self
                .open
                .get_mut(pid)
                .and_then(|t| t.offsets.get_mut(group))
            {
                offsets.remove(&key);
            }
        }
    }

    /// The group was deleted (its tombstone replayed): its committed offsets went with it.
    /// Pending transactional offsets stay until their marker, as in Kafka.
    pub fn group_removed(&mut self, group: &str) {
        self.committed.remove(group);
    }

    /// A transactional offset record of `producer_id` at `epoch` was replayed.
    pub fn add(
        &mut self,
        producer_id: i64,
        epoch: i16,
        group: &str,
        (topic, partition): Partition,
        value: OffsetValue,
        position: u64,
    ) {
        let txn = self.open.entry(producer_id).or_default();
        txn.epoch = txn.epoch.max(epoch);
        txn.offsets
            .entry(group.to_string())
            .or_default()
            .insert((topic, partition), (value, position));
        self.open_by_group
            .entry(group.to_string())
            .or_default()
            .insert(producer_id);
    }

    /// A marker ended `producer_id`'s transaction: forgets it and, when it committed, returns
    /// the offsets to make visible — those whose record is newer than the committed offset's
    /// (Kafka's `replayEndTransactionMarker`).
    pub fn end(&mut self, producer_id: i64, commit: bool) -> Vec<Materialised> {
        let Some(txn) = self.open.remove(&producer_id) else {
            return Vec::new();
        };
        for group in txn.offsets.keys() {
            if let Some(producers) = self.open_by_group.get_mut(group) {
                producers.remove(&producer_id);
                if producers.is_empty() {
                    self.open_by_group.remove(group);
                }
            }
        }
        if !commit {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (group, offsets) in txn.offsets {
            for ((topic, partition), (value, position)) in offsets {
                let newer = self
                    .committed
                    .get(&group)
                    .and_then(|c| c.get(&(topic.clone(), partition)))
                    .is_none_or(|existing| position > *existing);
                if newer {
                    out.push((group.clone(), topic, partition, value, position));
                } else {
                    tracing::info!(
                        "group {group}: transactional offset of {topic}-{partition} by producer \
                         {producer_id} not applied, a later commit replaced it"
                    );
                }
            }
        }
        out
    }

    /// The epoch of `producer_id`'s open transaction, if it has one.
    pub fn epoch_of(&self, producer_id: i64) -> Option<i16> {
        self.open.get(&producer_id).map(|t| t.epoch)
    }

    /// Whether some open transaction holds an offset of this partition of `group`.
    pub fn has_pending(&self, group: &str, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        self.open_by_group
            .get(group)
            .into_iter()
            .flatten()
            .filter_map(|pid| self.open.get(pid))
            .any(|t| t.offsets.get(group).is_some_and(|o| o.contains_key(&key)))
    }

    /// Whether some open transaction holds offsets of `group` (it must not expire meanwhile).
    pub fn has_open(&self, group: &str) -> bool {
        self.open_by_group.contains_key(group)
    }

    /// Whether any transaction is open at all.
    pub fn any_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Partitions of `group` with a pending transactional offset.
    pub fn pending_partitions(&self, group: &str) -> HashSet<Partition> {
        self.open_by_group
            .get(group)
            .into_iter()
            .flatten()
            .filter_map(|pid| self.open.get(pid)?.offsets.get(group))
            .flat_map(|o| o.keys().cloned())
            .collect()
    }

    /// `producer_id`'s pending offset of a partition, if any.
    pub fn pending(
        &self,
        producer_id: i64,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&OffsetValue> {
        self.open
            .get(&producer_id)?
            .offsets
            .get(group)?
            .get(&(topic.to_string(), partition))
            .map(|(v, _)| v)
    }
}
