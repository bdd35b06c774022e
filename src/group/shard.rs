//! The group coordinator's shard: every group of `__consumer_offsets-0`, and how a record
//! changes them.
//!
//! [`GroupShard::replay`] is the only code that applies [`GroupRecord`]s — at start-up, when
//! the runtime rebuilds the shard from the log, and after each successful write — so the
//! durable part of the state is always what the log says. Operations (in `membership`,
//! `offsets`, `admin` and `expiry`) read the shard, decide which records to write, and change
//! only in-memory state (a rebalance under way, waiters, heartbeats) after the write.
//! Offsets written inside a transaction are replayed into [`PendingOffsets`] and reach the
//! group's committed offsets only when their transaction's commit marker is replayed.
//!
//! Thread-safety: none of its own; the [runtime](crate::coordinator::runtime) serialises
//! every access.

use std::collections::HashMap;

use bytes::Bytes;

use super::api::GroupConfig;
use super::consumer::records::ConsumerRecord;
use super::pending_offsets::PendingOffsets;
use super::records::GroupRecord;
use super::state::{Group, GroupState};
use crate::coordinator::clock::Now;
use crate::coordinator::log::{RecordBytes, TxnProducer};
use crate::coordinator::runtime::{CoordinatorRecord, Shard};

/// Every group and its committed offsets (see the module doc).
pub struct GroupShard {
    pub config: GroupConfig,
    pub groups: HashMap<String, Group>,
    /// Offsets of open transactions, and committed offsets' log positions.
    pub txn: PendingOffsets,
}

impl CoordinatorRecord for GroupRecord {
    fn encode(&self) -> RecordBytes {
        GroupRecord::encode(self)
    }

    fn decode(key: Bytes, value: Option<Bytes>) -> Result<Self, String> {
        GroupRecord::decode(key, value)
    }
}

impl Shard for GroupShard {
    type Record = GroupRecord;

    fn replay(&mut self, record: GroupRecord, now: Now) {
        match record {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                let position = self.txn.next_position();
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now.wall_ms));
                match value {
                    Some(v) => {
                        self.txn.committed(&group, &topic, partition, position);
                        g.offsets.insert((topic, partition), v);
                    }
                    None => {
                        self.txn.tombstone(&group, &topic, partition);
                        g.offsets.remove(&(topic, partition));
                    }
                }
            }
            GroupRecord::Group {
                group,
                value: Some(v),
            } => self
                .groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group, now.wall_ms))
                .apply_value(&v, now.instant),
            GroupRecord::Consumer(r) => self.replay_consumer(r, now),
            GroupRecord::Group { group, value: None } => {
                self.txn.group_removed(&group);
                if let Some(mut g) = self.groups.remove(&group) {
                    g.state = GroupState::Dead;
                }
            }
        }
    }

    /// An offset in a transactional batch is held for its producer until the marker; a group
    /// without one is created, as for a plain commit (Kafka's "simple" group).
    fn replay_transactional(&mut self, record: GroupRecord, producer: TxnProducer, now: Now) {
        match record {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                value: Some(v),
            } => {
                let position = self.txn.next_position();
                self.groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now.wall_ms));
                self.txn.add(
                    producer.producer_id,
                    producer.producer_epoch,
                    &group,
                    (topic, partition),
                    v,
                    position,
                );
            }
            other => self.replay(other, now),
        }
    }

    fn replay_marker(&mut self, producer: TxnProducer, commit: bool, now: Now) {
        for (group, topic, partition, value, position) in self.txn.end(producer.producer_id, commit)
        {
            self.txn.committed(&group, &topic, partition, position);
            self.groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group, now.wall_ms))
                .offsets
                .insert((topic, partition), value);
        }
    }
}

impl GroupShard {
    pub fn new(config: GroupConfig) -> GroupShard {
        GroupShard {
            config,
            groups: HashMap::new(),
            txn: PendingOffsets::default(),
        }
    }

    /// Applies a consumer group record: the group becomes (or stays) a consumer group; its
    /// group epoch tombstone deletes it, keeping committed offsets until their own tombstones.
    fn replay_consumer(&mut self, r: ConsumerRecord, now: Now) {
        let id = r.group().to_string();
        if let ConsumerRecord::GroupEpoch { epoch: None, .. } = r {
            if let Some(g) = self.groups.get_mut(&id) {
                g.consumer = None;
                if g.offsets.is_empty() && g.members.is_empty() {
                    self.groups.remove(&id);
                }
            }
            return;
        }
        // A regex tombstone of a group already gone (deleted, or never a consumer group
        // here) does not bring it back.
        if let ConsumerRecord::Regex { value: None, .. } = r {
            if self.groups.get(&id).is_none_or(|g| g.consumer.is_none()) {
                return;
            }
        }
        let g = self
            .groups
            .entry(id.clone())
            .or_insert_with(|| Group::new(&id, now.wall_ms));
        let c = g.consumer.get_or_insert_with(Default::default);
        let had_members = !c.members.is_empty();
        c.replay(r, now.instant);
        if had_members && c.members.is_empty() {
            g.empty_since_ms = now.wall_ms;
        }
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }
}
