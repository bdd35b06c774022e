//! ConsumerGroupHeartbeat (KIP-848) as a coordinator-runtime operation: Kafka's
//! `GroupMetadataManager.consumerGroupHeartbeat` and `consumerGroupLeave`.
//!
//! One heartbeat, in order: check the member's epoch (FENCED_MEMBER_EPOCH unless it is the
//! member's epoch, or its previous one with owned partitions within its assignment, which
//! covers a lost response); record a changed subscription; bump the group epoch if the
//! membership, a subscription or the subscribed topics' partitions changed; compute a new
//! target assignment when the group epoch is ahead of the target's; move the member's current
//! assignment towards its target ([`super::reconcile`]). Every durable change is a record;
//! the shard changes only when they are replayed after the write. Leaving (epoch −1, or −2
//! for a static member, handled alike: static membership is not kept) and fencing write the
//! member's tombstones and bump the group epoch.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::assignor::{self, MemberSpec};
use super::group::{ConsumerGroup, ConsumerMember, STABLE};
use super::reconcile;
use super::records::{Assignment, ConsumerRecord, CurrentAssignment, MemberMetadata};
use super::regexes;
use super::static_members;
use super::subscription::{self, Topics};
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::{write_error_code, CoordinatorResult};
use crate::error::ErrorCode;
use crate::group::coordinator::GroupCoordinator;
use crate::group::records::GroupRecord;
use crate::group::shard::GroupShard;

/// The broker's topics, as the handler hands them over (see [`Topics`]).
pub type TopicLookup<'a> = &'a dyn Topics;

/// A ConsumerGroupHeartbeat request, as the coordinator needs it.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatParams {
    pub version: i16,
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// The answer to a ConsumerGroupHeartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResult {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent on a full request or when the member's assigned partitions changed.
    pub assignment: Option<Assignment>,
}

impl HeartbeatResult {
    fn error(error: ErrorCode, message: impl Into<String>, p: &HeartbeatParams) -> Self {
        HeartbeatResult {
            message: Some(message.into()),
            error,
            ..Self::left(p)
        }
    }

    /// The answer to a leave (epoch −1 or −2, dynamic or static): the member's own id and
    /// epoch echoed, no interval, no assignment.
    fn left(p: &HeartbeatParams) -> Self {
        HeartbeatResult {
            error: ErrorCode::None,
            message: None,
            member_id: p.member_id.clone(),
            member_epoch: p.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

type Op<T> = CoordinatorResult<GroupShard, T>;

/// Kafka's request checks (`throwIfConsumerGroupHeartbeatRequestIsInvalid`).
fn validate(p: &HeartbeatParams, assignors: &[String]) -> Result<(), (ErrorCode, String)> {
    let bad = |m: &str| Err((ErrorCode::InvalidRequest, m.to_string()));
    if p.group_id.is_empty() {
        return bad("GroupId can't be empty.");
    }
    if p.instance_id.as_deref() == Some("") {
        return bad("InstanceId can't be empty.");
    }
    if p.rack_id.as_deref() == Some("") {
        return bad("RackId can't be empty.");
    }
    // An empty regex clears it (librdkafka sends one with every full request).
    if let Some(r) = p
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        if let Err(msg) = subscription::compile(r) {
            return Err((ErrorCode::InvalidRegularExpression, msg));
        }
    }
    match p.member_epoch {
        e if e > 0 || e == -1 => {
            if p.member_id.is_empty() {
                return bad("MemberId can't be empty.");
            }
        }
        0 => {
            if p.version >= 1 && p.member_id.is_empty() {
                return bad("MemberId can't be empty.");
            }
            if p.rebalance_timeout_ms == -1 {
                return bad("RebalanceTimeoutMs must be provided in first request.");
            }
            if p.owned.as_ref().is_none_or(|o| !o.is_empty()) {
                return bad("TopicPartitions must be empty when (re-)joining.");
            }
            // An empty list of names or an empty regex joins subscribed to nothing (Kafka
            // 4's rule): the Java client 4.x joins with [] while its java.util.regex pattern
            // has not matched a topic yet. Only both null is refused.
            if p.subscribed_topic_names.is_none() && p.subscribed_topic_regex.is_none() {
                return bad("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.");
            }
        }
        -2 => {
            if p.member_id.is_empty() {
                return bad("MemberId can't be empty.");
            }
            if p.instance_id.is_none() {
                return bad("InstanceId can't be null.");
            }
        }
        _ => return bad("MemberEpoch is invalid."),
    }
    if let Some(a) = &p.server_assignor {
        if !assignors.iter().any(|k| k == a) {
            return Err((
                ErrorCode::UnsupportedAssignor,
                format!(
                    "ServerAssignor {a} is not supported. Supported assignors: {}.",
                    assignors.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat (see the module doc).
    pub async fn consumer_heartbeat(
        &self,
        mut p: HeartbeatParams,
        topics: TopicLookup<'_>,
    ) -> HeartbeatResult {
        if let Err((code, msg)) = validate(&p, &self.config.consumer_assignors) {
            tracing::debug!(
                "group {}: heartbeat of {:?} refused: {msg}",
                p.group_id,
                p.member_id
            );
            return HeartbeatResult::error(code, msg, &p);
        }
        if p.member_id.is_empty() {
            // v0: the coordinator names a joining member.
            p.member_id = Uuid::new_v4().to_string();
        }
        let cfg = self.config.clone();
        let fallback = p.clone();
        tracing::debug!(
            "group {}: heartbeat of {} epoch {} owned {:?} topics {:?} rebalance timeout {}",
            p.group_id,
            p.member_id,
            p.member_epoch,
            p.owned,
            p.subscribed_topic_names,
            p.rebalance_timeout_ms
        );
        match self
            .runtime
            .write(|s, now| heartbeat_op(s, p, topics, &cfg, now))
            .await
        {
            Ok(r) => {
                tracing::debug!(
                    "group {}: heartbeat of {} answered {:?} epoch {} assignment {:?}",
                    fallback.group_id,
                    r.member_id,
                    r.error,
                    r.member_epoch,
                    r.assignment
                );
                r
            }
            Err(e) => {
                tracing::warn!("group {}: heartbeat not written: {e}", fallback.group_id);
                HeartbeatResult::error(write_error_code(&e), e.to_string(), &fallback)
            }
        }
    }
}

fn heartbeat_op(
    s: &GroupShard,
    p: HeartbeatParams,
    topics: TopicLookup,
    cfg: &crate::group::GroupConfig,
    now: Now,
) -> Op<HeartbeatResult> {
    let fail = |code, msg: String| CoordinatorResult::answer(HeartbeatResult::error(code, msg, &p));
    let existing = s.group(&p.group_id);
    let empty = ConsumerGroup::default();
    let group = match existing {
        Some(g) => match &g.consumer {
            Some(c) => c,
            None if p.member_epoch == 0 && g.members.is_empty() => &empty,
            None => {
                return fail(
                    ErrorCode::GroupIdNotFound,
                    format!("Group {} is not a consumer group.", p.group_id),
                )
            }
        },
        None if p.member_epoch == 0 => &empty,
        None => {
            return fail(
                ErrorCode::GroupIdNotFound,
                format!("Group {} not found.", p.group_id),
            )
        }
    };
    if let (true, Some(instance)) = (p.member_epoch < 0, &p.instance_id) {
        return match static_members::leave(&p.group_id, group, &p, instance) {
            Ok(records) => CoordinatorResult::new(records, HeartbeatResult::left(&p)),
            Err((code, msg)) => fail(code, msg),
        };
    }
    if p.member_epoch < 0 {
        if !group.members.contains_key(&p.member_id) {
            return fail(
                ErrorCode::UnknownMemberId,
                format!(
                    "Member {} is not a member of group {}.",
                    p.member_id, p.group_id
                ),
            );
        }
        tracing::info!(
            "group {}: member {} left the consumer group",
            p.group_id,
            p.member_id
        );
        let records = fence_records(&p.group_id, group, &p.member_id);
        return CoordinatorResult::new(records, HeartbeatResult::left(&p));
    }
    let joining = p.member_epoch == 0;
    let replaced_group;
    let mut group = group;
    let mut records: Vec<ConsumerRecord> = Vec::new();
    if let Some(instance) = &p.instance_id {
        match static_members::join_or_check(&p.group_id, group, &p, instance) {
            Err((code, msg)) => return fail(code, msg),
            Ok(Some((local, replace))) => {
                replaced_group = local;
                group = &replaced_group;
                records = replace;
            }
            Ok(None) => {}
        }
    }
    let replaced = !records.is_empty();
    let mut member = match group.members.get(&p.member_id) {
        Some(m) if joining && !replaced => {
            // A member rejoining with epoch 0 (after being fenced) has given up everything.
            let mut m = m.clone();
            m.current = CurrentAssignment {
                state: STABLE,
                ..Default::default()
            };
            m
        }
        Some(m) => {
            if let Err(msg) = check_epoch(m, p.member_epoch, &p.owned) {
                return fail(ErrorCode::FencedMemberEpoch, msg);
            }
            m.clone()
        }
        None if joining => {
            if group.members.len() >= cfg.consumer_max_size as usize {
                return fail(
                    ErrorCode::GroupMaxSizeReached,
                    format!(
                        "The consumer group has reached its maximum capacity of {} members.",
                        cfg.consumer_max_size
                    ),
                );
            }
            ConsumerMember {
                id: p.member_id.clone(),
                meta: MemberMetadata {
                    rebalance_timeout_ms: -1,
                    ..Default::default()
                },
                current: CurrentAssignment {
                    state: STABLE,
                    ..Default::default()
                },
                last_heartbeat: now.instant,
                revocation_deadline: None,
                assignment_epochs: Default::default(),
            }
        }
        None => {
            return fail(
                ErrorCode::UnknownMemberId,
                format!(
                    "Member {} is not a member of group {}.",
                    p.member_id, p.group_id
                ),
            )
        }
    };
    let gid = p.group_id.clone();
    let is_new = !group.members.contains_key(&p.member_id);
    let old_meta = member.meta.clone();
    let meta = &mut member.meta;
    if p.instance_id.is_some() {
        meta.instance_id = p.instance_id.clone();
    }
    if p.rack_id.is_some() {
        meta.rack_id = p.rack_id.clone();
    }
    if p.rebalance_timeout_ms != -1 {
        meta.rebalance_timeout_ms = p.rebalance_timeout_ms;
    }
    if p.server_assignor.is_some() {
        meta.server_assignor = p.server_assignor.clone();
    }
    if let Some(names) = &p.subscribed_topic_names {
        let mut names = names.clone();
        names.sort();
        names.dedup();
        meta.subscribed_topic_names = names;
    }
    if let Some(r) = &p.subscribed_topic_regex {
        meta.subscribed_topic_regex = Some(r.clone()).filter(|r| !r.is_empty());
    }
    meta.client_id = p.client_id.clone();
    meta.client_host = p.client_host.clone();
    // A static member taking its previous incarnation's place keeps the group epoch.
    let mut bump = is_new || (joining && !replaced);
    if is_new || member.meta != old_meta {
        records.push(ConsumerRecord::Member {
            group: gid.clone(),
            member: p.member_id.clone(),
            value: Some(member.meta.clone()),
        });
        bump |= member.meta.subscribed_topic_names != old_meta.subscribed_topic_names
            || member.meta.subscribed_topic_regex != old_meta.subscribed_topic_regex;
    }
    // The group's regexes, resolved again if due with this member's DESCRIBE rights.
    let regexes = regexes::refresh(&gid, group, &member, topics, now.wall_ms);
    bump |= regexes.changed;
    records.extend(regexes.records);
    // Every member's topics (names and regex matches), and their union's metadata.
    let mut resolved: BTreeMap<String, Vec<String>> = group
        .members
        .values()
        .filter(|m| m.id != member.id)
        .map(|m| {
            (
                m.id.clone(),
                subscription::resolve(&m.meta, &regexes.resolved),
            )
        })
        .collect();
    resolved.insert(
        member.id.clone(),
        subscription::resolve(&member.meta, &regexes.resolved),
    );
    let subscribed: Vec<String> = resolved
        .values()
        .flatten()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let meta_now = subscription::topics_meta(&subscribed, topics);
    bump |= group.subscription_meta.as_ref() != Some(&meta_now);
    let mut group_epoch = group.epoch;
    if bump {
        group_epoch += 1;
        records.push(ConsumerRecord::GroupEpoch {
            group: gid.clone(),
            epoch: Some(group_epoch),
        });
    }
    // The target assignment, recomputed when the group epoch moved past it.
    let (target_epoch, target) = if group_epoch > group.assignment_epoch {
        let assignor_name = preferred_assignor(group, &member, &cfg.consumer_assignors);
        let mut all: BTreeMap<&str, &ConsumerMember> =
            group.members.iter().map(|(k, v)| (k.as_str(), v)).collect();
        all.insert(&member.id, &member);
        let specs: Vec<MemberSpec> = all
            .values()
            .map(|m| MemberSpec {
                id: &m.id,
                topics: resolved.get(&m.id).map(Vec::as_slice).unwrap_or_default(),
                previous: group.target.get(&m.id),
            })
            .collect();
        let new_target = assignor::assign(&assignor_name, &specs, &meta_now);
        for (m, a) in &new_target {
            if group.target.get(m) != Some(a) {
                records.push(ConsumerRecord::TargetMember {
                    group: gid.clone(),
                    member: m.clone(),
                    value: Some(a.clone()),
                });
            }
        }
        records.push(ConsumerRecord::TargetEpoch {
            group: gid.clone(),
            epoch: Some(group_epoch),
        });
        tracing::info!("group {gid}: target assignment for epoch {group_epoch} computed with '{assignor_name}'");
        (
            group_epoch,
            new_target.get(&member.id).cloned().unwrap_or_default(),
        )
    } else {
        (
            group.assignment_epoch,
            group.target.get(&member.id).cloned().unwrap_or_default(),
        )
    };
    let before = member.current.clone();
    let next = if member.reconciled_to(target_epoch) {
        before.clone()
    } else {
        reconcile::next(group, &member, target_epoch, &target, &p.owned)
    };
    if next != before || is_new || joining {
        records.push(ConsumerRecord::Current {
            group: gid.clone(),
            member: p.member_id.clone(),
            value: Some(next.clone()),
        });
    }
    let full = joining
        || (p.rebalance_timeout_ms != -1
            && p.subscribed_topic_names.is_some()
            && p.owned.is_some());
    let assignment = (full || next.assigned != before.assigned).then(|| next.assigned.clone());
    let result = HeartbeatResult {
        error: ErrorCode::None,
        message: None,
        member_id: p.member_id.clone(),
        member_epoch: next.member_epoch,
        heartbeat_interval_ms: cfg.consumer_heartbeat_interval_ms,
        assignment,
    };
    let member_id = p.member_id.clone();
    let records: Vec<GroupRecord> = records.into_iter().map(GroupRecord::Consumer).collect();
    CoordinatorResult::then(records, move |s: &mut GroupShard, now| {
        if let Some(c) = s.groups.get_mut(&gid).and_then(|g| g.consumer.as_mut()) {
            c.subscription_meta = Some(meta_now);
            if let Some(m) = c.members.get_mut(&member_id) {
                m.last_heartbeat = now.instant;
            }
        }
        result
    })
}

/// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`.
fn check_epoch(m: &ConsumerMember, epoch: i32, owned: &Option<Assignment>) -> Result<(), String> {
    let current = m.current.member_epoch;
    if epoch > current {
        return Err(format!("The consumer group member has a greater member epoch ({epoch}) than the one known by the group coordinator ({current}). The member must abandon all its partitions and rejoin."));
    }
    if epoch < current {
        let subset = owned.as_ref().is_some_and(|o| {
            o.iter()
                .all(|(t, ps)| m.current.assigned.get(t).is_some_and(|a| ps.is_subset(a)))
        });
        if epoch != m.current.previous_member_epoch || !subset {
            return Err(format!("The consumer group member has a smaller member epoch ({epoch}) than the one known by the group coordinator ({current}). The member must abandon all its partitions and rejoin."));
        }
    }
    Ok(())
}

/// Kafka's `computePreferredServerAssignor`: the assignor most members name, else the first
/// configured one.
fn preferred_assignor(
    group: &ConsumerGroup,
    updated: &ConsumerMember,
    configured: &[String],
) -> String {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for m in group
        .members
        .values()
        .filter(|m| m.id != updated.id)
        .chain(std::iter::once(updated))
    {
        if let Some(a) = &m.meta.server_assignor {
            *votes.entry(a.as_str()).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .max_by_key(|(name, n)| (*n, std::cmp::Reverse(*name)))
        .map(|(n, _)| n.to_string())
        .or_else(|| configured.first().cloned())
        .unwrap_or_else(|| "uniform".to_string())
}

/// Records that fence `member` out of `group` (leave, session or rebalance timeout): its
/// tombstones, then a group epoch bump so the others are reassigned its partitions.
pub(super) fn fence_records(gid: &str, group: &ConsumerGroup, member: &str) -> Vec<GroupRecord> {
    let mut records = ConsumerGroup::remove_member_records(gid, member);
    records.extend(regexes::leave_records(gid, group, member));
    records.push(ConsumerRecord::GroupEpoch {
        group: gid.to_string(),
        epoch: Some(group.epoch + 1),
    });
    records.into_iter().map(GroupRecord::Consumer).collect()
}
