//! One consumer group's state: Kafka's classic group state machine.
//!
//! ```text
//!   Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//!     ▲                  ▲      │ (no members left)                   │ leader's SyncGroup
//!     └──────────────────┼──────┘                                     ▼
//!                        └────────── join / leave / expiry ───────── Stable
//! ```
//! `Dead` is a deleted group. Members waiting for a JoinGroup or SyncGroup answer hold a
//! oneshot sender; completing a phase answers them all at once.
//!
//! Durable fields (generation, protocol, leader, members and assignments as of a completed
//! rebalance, committed offsets) change only when a record is replayed ([`Group::apply_value`]
//! and the shard's offset replay); the rest — a rebalance under way, waiters, heartbeats — is
//! in-memory state, as in Kafka's classic groups.
//!
//! Thread-safety: none of its own; it lives in the group shard, which the coordinator runtime
//! serialises.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::oneshot;

use super::records::{GroupValue, MemberValue, OffsetValue};
use crate::error::ErrorCode;

/// Where a group is in Kafka's classic state machine (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// For the leader only: every member and its metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(error: ErrorCode, member_id: &str) -> JoinResult {
        JoinResult {
            error,
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

/// One member of a group.
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: Instant,
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// This member's metadata for `protocol` (empty if it did not offer it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Members awaiting an answer are alive whatever their heartbeats say (as in Kafka).
    pub fn expired(&self, now: Instant) -> bool {
        self.join_waiter.is_none()
            && self.sync_waiter.is_none()
            && now.duration_since(self.last_heartbeat) > self.session_timeout
    }
}

/// A sender to nowhere in place of a real waiter, for [`Group::scratch`].
fn stand_in<T>(waiter: &Option<oneshot::Sender<T>>) -> Option<oneshot::Sender<T>> {
    waiter.as_ref().map(|_| oneshot::channel().0)
}

/// One consumer group (see the module doc).
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: IndexMap<String, Member>,
    /// group.instance.id → member id (KIP-345).
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with when they expire (KIP-394).
    pub pending: HashMap<String, Instant>,
    /// When the current join phase ends even if some members have not rejoined.
    pub rebalance_deadline: Option<Instant>,
    /// The initial delay of a group that was empty (group.initial.rebalance.delay.ms).
    pub initial_delay_until: Option<Instant>,
    pub offsets: HashMap<(String, i32), OffsetValue>,
    /// Wall-clock ms when the group last became empty, for offset retention.
    pub empty_since_ms: i64,
    /// A KIP-848 consumer group's state; `None` for a classic group (or one holding only
    /// offsets). A group is one kind or the other, never both.
    pub consumer: Option<super::consumer::group::ConsumerGroup>,
}

impl Group {
    pub fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            offsets: HashMap::new(),
            empty_since_ms: now_ms,
            consumer: None,
        }
    }

    /// Applies a stored group metadata record: the replay of every group record, at start-up
    /// and after each write. The group is made to match the record: members missing from it
    /// leave (a static member whose instance id now belongs to another member id is told
    /// FENCED_INSTANCE_ID, others UNKNOWN_MEMBER_ID), members in it take its assignment (one
    /// waiting on SyncGroup gets it now), members not yet here are restored and must
    /// heartbeat within their session timeout to stay. The group ends Stable, or Empty.
    pub fn apply_value(&mut self, v: &GroupValue, now: Instant) {
        let gone: Vec<String> = self
            .members
            .keys()
            .filter(|id| !v.members.iter().any(|m| &m.member_id == *id))
            .cloned()
            .collect();
        for id in gone {
            let fenced = self.members[&id]
                .instance_id
                .as_ref()
                .is_some_and(|i| v.members.iter().any(|m| m.instance_id.as_ref() == Some(i)));
            let error = if fenced {
                ErrorCode::FencedInstanceId
            } else {
                ErrorCode::UnknownMemberId
            };
            self.remove_member(&id, error);
        }
        self.generation = v.generation;
        self.protocol_type = Some(v.protocol_type.clone()).filter(|p| !p.is_empty());
        self.protocol = v.protocol.clone();
        self.leader = v.leader.clone();
        let protocol = v.protocol.clone().unwrap_or_default();
        for m in &v.members {
            if let Some(i) = &m.instance_id {
                self.static_members.insert(i.clone(), m.member_id.clone());
            }
            let Some(live) = self.members.get_mut(&m.member_id) else {
                self.members.insert(
                    m.member_id.clone(),
                    Member {
                        id: m.member_id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                        rebalance_timeout: Duration::from_millis(
                            m.rebalance_timeout_ms.max(0) as u64
                        ),
                        protocols: vec![(protocol.clone(), m.subscription.clone())],
                        assignment: m.assignment.clone(),
                        last_heartbeat: now,
                        join_waiter: None,
                        sync_waiter: None,
                    },
                );
                continue;
            };
            match live.protocols.iter_mut().find(|(n, _)| *n == protocol) {
                Some((_, meta)) => *meta = m.subscription.clone(),
                None => live.protocols = vec![(protocol.clone(), m.subscription.clone())],
            }
            live.assignment = m.assignment.clone();
            if let Some(w) = live.sync_waiter.take() {
                let _ = w.send(SyncResult {
                    error: ErrorCode::None,
                    protocol_type: self.protocol_type.clone(),
                    protocol: self.protocol.clone(),
                    assignment: live.assignment.clone(),
                });
            }
        }
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        self.state = if self.members.is_empty() {
            self.pending.clear();
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.empty_since_ms = v.state_timestamp;
    }

    /// A copy for a dry run: the same membership and timers, with stand-in waiters (what a
    /// dry run sends them goes nowhere) and without the committed offsets. Operations use it to
    /// learn which records a change would need before anything is written.
    pub fn scratch(&self) -> Group {
        Group {
            id: self.id.clone(),
            state: self.state,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| {
                    let copy = Member {
                        id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        session_timeout: m.session_timeout,
                        rebalance_timeout: m.rebalance_timeout,
                        protocols: m.protocols.clone(),
                        assignment: m.assignment.clone(),
                        last_heartbeat: m.last_heartbeat,
                        join_waiter: stand_in(&m.join_waiter),
                        sync_waiter: stand_in(&m.sync_waiter),
                    };
                    (id.clone(), copy)
                })
                .collect(),
            static_members: self.static_members.clone(),
            pending: self.pending.clone(),
            rebalance_deadline: self.rebalance_deadline,
            initial_delay_until: self.initial_delay_until,
            offsets: HashMap::new(),
            empty_since_ms: self.empty_since_ms,
            consumer: self.consumer.clone(),
        }
    }

    /// The durable picture of the group, written after each completed rebalance.
    pub fn to_value(&self, now_ms: i64) -> GroupValue {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: now_ms,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Whether the group has no members of either kind (offset retention, deletion).
    pub fn has_no_members(&self) -> bool {
        self.members.is_empty() && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }

    pub fn is(&self, s: GroupState) -> bool {
        self.state == s
    }

    /// Whether a joining member's protocols fit the group (same type, a protocol in common).
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    /// The protocol every member supports with the most first-choice votes (Kafka's rule);
    /// ties go to the earlier protocol in the first member's list.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == n))
            })
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(n, _)| candidates.iter().position(|c| c == n))
            {
                votes[i] += 1;
            }
        }
        let best = (0..candidates.len()).max_by_key(|&i| (votes[i], std::cmp::Reverse(i)))?;
        Some(candidates[best].to_string())
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    /// Enters PreparingRebalance (if not already in it). Members waiting on SyncGroup are told
    /// to rejoin.
    pub fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        if self.is(GroupState::PreparingRebalance) {
            return;
        }
        for m in self.members.values_mut() {
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult {
                    error: ErrorCode::RebalanceInProgress,
                    protocol_type: None,
                    protocol: None,
                    assignment: Bytes::new(),
                });
            }
        }
        if self.is(GroupState::Empty) && !initial_delay.is_zero() {
            self.initial_delay_until = Some(now + initial_delay);
        }
        self.rebalance_deadline = Some(now + self.max_rebalance_timeout());
        self.state = GroupState::PreparingRebalance;
    }

    /// Removes a member, answering anything it waits for with `error`.
    pub fn remove_member(&mut self, id: &str, error: ErrorCode) {
        if let Some(m) = self.members.shift_remove(id) {
            if let Some(i) = &m.instance_id {
                if self.static_members.get(i).map(String::as_str) == Some(id) {
                    self.static_members.remove(i);
                }
            }
            if let Some(w) = m.join_waiter {
                let _ = w.send(JoinResult::error(error, id));
            }
            if let Some(w) = m.sync_waiter {
                let _ = w.send(SyncResult {
                    error,
                    protocol_type: None,
                    protocol: None,
                    assignment: Bytes::new(),
                });
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
    }

    /// After a membership change: rebalance if the group was settled, or see whether the join
    /// phase can now finish.
    pub fn membership_changed(
        &mut self,
        now: Instant,
        now_ms: i64,
        initial_delay: Duration,
    ) -> bool {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, initial_delay);
                self.try_complete_join(now, now_ms)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, now_ms),
            _ => false,
        }
    }

    /// Finishes the join phase when every member has rejoined (and the initial delay passed),
    /// or when the rebalance deadline passed (dropping those that did not rejoin). Returns true
    /// when the group's durable state changed (it became empty).
    pub fn try_complete_join(&mut self, now: Instant, now_ms: i64) -> bool {
        if !self.is(GroupState::PreparingRebalance) {
            return false;
        }
        let deadline_passed = self.rebalance_deadline.is_some_and(|d| now >= d);
        let all_joined =
            self.members.values().all(|m| m.join_waiter.is_some()) && self.pending.is_empty();
        let delay_over = self.initial_delay_until.is_none_or(|d| now >= d);
        if !(deadline_passed || (all_joined && delay_over)) {
            return false;
        }
        if deadline_passed {
            let laggards: Vec<String> = self
                .members
                .values()
                .filter(|m| m.join_waiter.is_none())
                .map(|m| m.id.clone())
                .collect();
            for id in laggards {
                self.remove_member(&id, ErrorCode::UnknownMemberId);
            }
            self.pending.clear();
        }
        self.initial_delay_until = None;
        self.rebalance_deadline = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            self.empty_since_ms = now_ms;
            return true;
        }
        self.protocol = self.select_protocol();
        let protocol = self.protocol.clone().unwrap_or_default();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap_or_default();
        let roster: Vec<(String, Option<String>, Bytes)> = self
            .members
            .values()
            .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
            .collect();
        self.state = GroupState::CompletingRebalance;
        for m in self.members.values_mut() {
            m.last_heartbeat = now;
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult {
                    error: ErrorCode::None,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol: self.protocol.clone(),
                    leader: leader.clone(),
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        roster.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        false
    }

    /// The leader's assignments arrived (and were stored): the group becomes Stable and every
    /// member waiting on SyncGroup gets its assignment.
    pub fn complete_sync(&mut self, assignments: &HashMap<String, Bytes>) {
        for m in self.members.values_mut() {
            m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult {
                    error: ErrorCode::None,
                    protocol_type: self.protocol_type.clone(),
                    protocol: self.protocol.clone(),
                    assignment: m.assignment.clone(),
                });
            }
        }
        self.state = GroupState::Stable;
    }

    /// Topics the members are subscribed to, from their consumer-protocol metadata.
    pub fn subscribed_topics(&self) -> HashSet<String> {
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::Decodable;
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut out = HashSet::new();
        if self.protocol_type.as_deref() != Some("consumer") {
            return out;
        }
        for m in self.members.values() {
            let mut meta = m.metadata(&protocol);
            if meta.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([meta[0], meta[1]]);
            let mut body = meta.split_off(2);
            if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut body, version.clamp(0, 3)) {
                out.extend(sub.topics.iter().map(|t| t.to_string()));
            }
        }
        out
    }
}
