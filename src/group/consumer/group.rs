//! One KIP-848 consumer group's state, changed only by replaying its records.
//!
//! A consumer group has a *group epoch* (bumped whenever the membership or the subscribed
//! topics' metadata change), a *target assignment* computed by an assignor at a *target
//! assignment epoch*, and per member a *current assignment* with its own member epoch, which
//! moves towards the target one heartbeat at a time ([`super::reconcile`]). Durable: all of
//! that (records 3, 5, 6, 7, 8 of [`super::records`]). In memory only: when each member last
//! heartbeated, its revocation deadline, and the subscribed topics' metadata as of the last
//! epoch bump (recomputed after a restart, which bumps the epoch once).
//!
//! Thread-safety: none of its own; it lives in the group shard, which the coordinator runtime
//! serialises.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::assignor::TopicsMeta;
use super::records::{
    Assignment, ConsumerRecord, CurrentAssignment, MemberMetadata, ResolvedRegex,
};

/// Kafka's `MemberState` bytes (record 8).
pub const UNREVOKED_PARTITIONS: i8 = 0;
pub const UNRELEASED_PARTITIONS: i8 = 1;
pub const STABLE: i8 = 2;

/// One member of a consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub id: String,
    pub meta: MemberMetadata,
    pub current: CurrentAssignment,
    /// In memory: the last heartbeat (session expiry).
    pub last_heartbeat: Instant,
    /// In memory: when a member asked to revoke partitions is fenced if it has not.
    pub revocation_deadline: Option<Instant>,
    /// Derived by replay: the member epoch at which each assigned partition joined its
    /// current assignment (KIP-1251's assignment epoch). A commit under an older member
    /// epoch is accepted for partitions held since then. After a restart that replays a
    /// compacted log only the last record is left, so every partition starts at the
    /// record's epoch: stricter, never looser.
    pub assignment_epochs: BTreeMap<(Uuid, i32), i32>,
}

impl ConsumerMember {
    pub(super) fn new(id: &str, now: Instant) -> ConsumerMember {
        ConsumerMember {
            id: id.to_string(),
            meta: MemberMetadata::default(),
            current: CurrentAssignment {
                state: STABLE,
                ..Default::default()
            },
            last_heartbeat: now,
            revocation_deadline: None,
            assignment_epochs: BTreeMap::new(),
        }
    }

    /// Kafka's `isReconciledTo`.
    pub fn reconciled_to(&self, target_epoch: i32) -> bool {
        self.current.member_epoch == target_epoch && self.current.state == STABLE
    }
}

/// The assignment epochs of `next`'s partitions: kept for those `m` already holds (its
/// epochs' keys are exactly its assigned partitions), the new member epoch for the others.
/// A member that rejoined with epoch 0 gave up everything: its record's previous epoch is
/// not the epoch it had, and nothing is kept.
fn assignment_epochs(m: &ConsumerMember, next: &CurrentAssignment) -> BTreeMap<(Uuid, i32), i32> {
    let epoch = m.current.member_epoch;
    let continued = next.member_epoch == epoch || next.previous_member_epoch == epoch;
    next.assigned
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
        .map(|tp| {
            let since = m.assignment_epochs.get(&tp).filter(|_| continued).copied();
            (tp, since.unwrap_or(next.member_epoch))
        })
        .collect()
}

/// A consumer group (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: BTreeMap<String, Assignment>,
    /// In memory: the subscribed topics' metadata the current group epoch was computed with.
    pub subscription_meta: Option<TopicsMeta>,
    /// The members' subscription regexes as last resolved (key 16), by regex.
    pub resolved_regexes: BTreeMap<String, ResolvedRegex>,
}

/// The states Kafka reports for a consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

impl ConsumerGroup {
    /// Applies one record of this group (the shard handles the group's own tombstone).
    pub fn replay(&mut self, record: ConsumerRecord, now: Instant) {
        match record {
            ConsumerRecord::GroupEpoch { epoch, .. } => self.epoch = epoch.unwrap_or(0),
            ConsumerRecord::TargetEpoch { epoch, .. } => self.assignment_epoch = epoch.unwrap_or(0),
            ConsumerRecord::Member { member, value, .. } => match value {
                Some(meta) => {
                    self.members
                        .entry(member.clone())
                        .or_insert_with(|| ConsumerMember::new(&member, now))
                        .meta = meta
                }
                None => {
                    self.members.remove(&member);
                }
            },
            ConsumerRecord::TargetMember { member, value, .. } => match value {
                Some(a) => {
                    self.target.insert(member, a);
                }
                None => {
                    self.target.remove(&member);
                }
            },
            ConsumerRecord::Regex { regex, value, .. } => match value {
                Some(r) => {
                    self.resolved_regexes.insert(regex, r);
                }
                None => {
                    self.resolved_regexes.remove(&regex);
                }
            },
            ConsumerRecord::Current { member, value, .. } => {
                let m = self
                    .members
                    .entry(member.clone())
                    .or_insert_with(|| ConsumerMember::new(&member, now));
                let value = value.unwrap_or(CurrentAssignment {
                    state: STABLE,
                    ..Default::default()
                });
                m.revocation_deadline = (value.state == UNREVOKED_PARTITIONS).then(|| {
                    let timeout = m.meta.rebalance_timeout_ms.max(0) as u64;
                    m.revocation_deadline
                        .filter(|_| m.current.state == UNREVOKED_PARTITIONS)
                        .unwrap_or(now + Duration::from_millis(timeout))
                });
                m.assignment_epochs = assignment_epochs(m, &value);
                m.current = value;
            }
        }
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The epoch of the member other than `except` that holds (or is still revoking)
    /// `partition` of `topic`, if any: a partition is released when no one holds it.
    pub fn owner_epoch(&self, except: &str, topic: &Uuid, partition: i32) -> Option<i32> {
        self.members
            .values()
            .filter(|m| m.id != except)
            .find(|m| {
                let has = |a: &Assignment| a.get(topic).is_some_and(|p| p.contains(&partition));
                has(&m.current.assigned) || has(&m.current.pending_revocation)
            })
            .map(|m| m.current.member_epoch)
    }

    /// Records that remove `member` (Kafka's `removeMember`): tombstones for its current
    /// assignment, target assignment and subscription, in that order.
    pub fn remove_member_records(group: &str, member: &str) -> Vec<ConsumerRecord> {
        vec![
            ConsumerRecord::Current {
                group: group.to_string(),
                member: member.to_string(),
                value: None,
            },
            ConsumerRecord::TargetMember {
                group: group.to_string(),
                member: member.to_string(),
                value: None,
            },
            ConsumerRecord::Member {
                group: group.to_string(),
                member: member.to_string(),
                value: None,
            },
        ]
    }

    /// Records that delete an empty group: its resolved regexes', target epoch and group
    /// epoch tombstones.
    pub fn delete_records(&self, group: &str) -> Vec<ConsumerRecord> {
        let regexes = self.resolved_regexes.keys().map(|r| ConsumerRecord::Regex {
            group: group.to_string(),
            regex: r.clone(),
            value: None,
        });
        regexes
            .chain([
                ConsumerRecord::TargetEpoch {
                    group: group.to_string(),
                    epoch: None,
                },
                ConsumerRecord::GroupEpoch {
                    group: group.to_string(),
                    epoch: None,
                },
            ])
            .collect()
    }
}
