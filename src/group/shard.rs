//! The group coordinator's shard: every group of `__consumer_offsets-0`, and how a record
//! changes them.
//!
//! [`GroupShard::replay`] is the only code that applies [`GroupRecord`]s — at start-up, when
//! the runtime rebuilds the shard from the log, and after each successful write — so the
//! durable part of the state is always what the log says. Operations (in `membership`,
//! `offsets`, `admin` and `expiry`) read the shard, decide which records to write, and change
//! only in-memory state (a rebalance under way, waiters, heartbeats) after the write.
//!
//! Thread-safety: none of its own; the [runtime](crate::coordinator::runtime) serialises
//! every access.

use std::collections::HashMap;

use bytes::Bytes;

use super::api::GroupConfig;
use super::records::GroupRecord;
use super::state::{Group, GroupState};
use crate::coordinator::clock::Now;
use crate::coordinator::log::RecordBytes;
use crate::coordinator::runtime::{CoordinatorRecord, Shard};

/// Every group and its committed offsets (see the module doc).
pub struct GroupShard {
    pub config: GroupConfig,
    pub groups: HashMap<String, Group>,
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
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now.wall_ms));
                match value {
                    Some(v) => {
                        g.offsets.insert((topic, partition), v);
                    }
                    None => {
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
            GroupRecord::Group { group, value: None } => {
                if let Some(mut g) = self.groups.remove(&group) {
                    g.state = GroupState::Dead;
                }
            }
        }
    }
}

impl GroupShard {
    pub fn new(config: GroupConfig) -> GroupShard {
        GroupShard {
            config,
            groups: HashMap::new(),
        }
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// Every record needed to rebuild the current durable state (to rewrite the log).
    pub fn state_records(&self, now_ms: i64) -> Vec<GroupRecord> {
        let mut out = Vec::new();
        for g in self.groups.values() {
            if g.generation > 0 || !g.members.is_empty() {
                // An empty group keeps the time it became empty, for offset retention.
                let at = if g.is(GroupState::Empty) {
                    g.empty_since_ms
                } else {
                    now_ms
                };
                out.push(GroupRecord::Group {
                    group: g.id.clone(),
                    value: Some(g.to_value(at)),
                });
            }
            for ((topic, partition), v) in &g.offsets {
                out.push(GroupRecord::Offset {
                    group: g.id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: Some(v.clone()),
                });
            }
        }
        out
    }
}
