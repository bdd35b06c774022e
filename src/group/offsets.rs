//! OffsetCommit, OffsetFetch and OffsetDelete as coordinator-runtime operations.
//!
//! A commit is checked against the group (membership and generation, or a "simple" commit
//! by a consumer outside any group), written as offset records, and the offsets change only
//! when those records are replayed; a failed write is answered with the mapped error and
//! leaves the committed offsets as they were. Fetches read the state as of the last written
//! record.

use std::collections::BTreeMap;

use super::api::TopicOffsets;
use super::coordinator::GroupCoordinator;
use super::membership::check_member;
use super::records::{GroupRecord, OffsetValue};
use super::shard::GroupShard;
use super::state::GroupState;
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::{write_error_code, CoordinatorResult};
use crate::error::ErrorCode;

type Op<T> = CoordinatorResult<GroupShard, T>;

/// One commit request, as the operation needs it.
struct Commit {
    group: String,
    generation: i32,
    member_id: String,
    instance_id: Option<String>,
    offsets: Vec<(String, i32, OffsetValue)>,
    /// The OffsetCommit version (a KIP-848 member must use v9+).
    version: i16,
}

impl GroupCoordinator {
    /// OffsetCommit at the newest version's semantics (see [`Self::commit_at_version`]).
    pub async fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(String, i32, OffsetValue)>,
    ) -> ErrorCode {
        self.commit_at_version(group_id, generation, member_id, instance_id, offsets, 9)
            .await
    }

    /// OffsetCommit: checks the committer's membership and generation (a consumer group
    /// member's epoch: STALE_MEMBER_EPOCH), writes the offsets, then applies them. Returns a
    /// group-level error for every partition, or NONE.
    pub async fn commit_at_version(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(String, i32, OffsetValue)>,
        version: i16,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        tracing::debug!(
            "group {group_id}: commit by {member_id:?} generation {generation}: {:?}",
            offsets
                .iter()
                .map(|(t, p, v)| format!("{t}-{p}@{}", v.offset))
                .collect::<Vec<_>>()
        );
        let c = Commit {
            group: group_id.to_string(),
            generation,
            member_id: member_id.to_string(),
            instance_id: instance_id.map(str::to_string),
            offsets,
            version,
        };
        match self.runtime.write(move |s, now| commit_op(s, c, now)).await {
            Ok(code) => code,
            Err(e) => {
                tracing::error!("storing offsets of group {group_id} failed: {e}");
                write_error_code(&e)
            }
        }
    }

    /// Committed offsets of the given partitions, or of every partition when `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<TopicOffsets> {
        self.runtime
            .read(|s| committed_offsets(s, group_id, wanted))
    }

    /// OffsetDelete: removes committed offsets of partitions the group does not consume.
    /// `Err` is a group-level error; otherwise one code per partition.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let (group, partitions) = (group_id.to_string(), partitions.to_vec());
        match self
            .runtime
            .write(move |s, _| delete_offsets_op(s, &group, &partitions))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("deleting offsets of group {group_id} failed: {e}");
                Err(write_error_code(&e))
            }
        }
    }
}

/// Committed offsets of `group_id`'s given partitions, or of every partition when `None`.
pub(super) fn committed_offsets(
    s: &GroupShard,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Vec<TopicOffsets> {
    let Some(g) = s.group(group_id) else {
        return match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| (t, parts.into_iter().map(|p| (p, None)).collect()))
                .collect(),
            None => Vec::new(),
        };
    };
    match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(t, parts)| {
                let ps = parts
                    .into_iter()
                    .map(|p| (p, g.offsets.get(&(t.clone(), p)).cloned()))
                    .collect();
                (t, ps)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<(i32, Option<OffsetValue>)>> = BTreeMap::new();
            for ((t, p), v) in &g.offsets {
                by_topic
                    .entry(t.clone())
                    .or_default()
                    .push((*p, Some(v.clone())));
            }
            by_topic
                .into_iter()
                .map(|(t, mut ps)| {
                    ps.sort_by_key(|(p, _)| *p);
                    (t, ps)
                })
                .collect()
        }
    }
}

fn commit_op(s: &GroupShard, c: Commit, _now: Now) -> Op<ErrorCode> {
    let answer = |code| CoordinatorResult::answer(code);
    let g = s.group(&c.group);
    // A "simple" commit: a consumer outside any group (generation −1, no member id).
    let simple = c.generation < 0
        && c.member_id.is_empty()
        && g.is_none_or(|g| g.is(GroupState::Empty) && g.has_no_members());
    let consumer = g.and_then(|g| g.consumer.as_ref());
    match g {
        _ if simple => {}
        Some(_) if consumer.is_some() => {
            if let Some(e) = super::consumer::describe::check_commit(
                consumer,
                &c.member_id,
                c.generation,
                c.version,
                c.offsets.iter().map(|(t, p, _)| (t.as_str(), *p)),
            ) {
                return answer(e);
            }
        }
        None if c.generation < 0 => return answer(ErrorCode::UnknownMemberId),
        None => return answer(ErrorCode::IllegalGeneration),
        Some(g) => {
            if g.is(GroupState::CompletingRebalance) {
                return answer(ErrorCode::RebalanceInProgress);
            }
            if let Some(e) = check_member(g, &c.member_id, c.instance_id.as_deref()) {
                return answer(e);
            }
            if c.generation != g.generation {
                return answer(ErrorCode::IllegalGeneration);
            }
        }
    }
    let records = c
        .offsets
        .into_iter()
        .map(|(topic, partition, value)| GroupRecord::Offset {
            group: c.group.clone(),
            topic,
            partition,
            value: Some(value),
        })
        .collect();
    let (group, member) = (c.group, c.member_id);
    CoordinatorResult::then(records, move |s: &mut GroupShard, now| {
        let m = s
            .groups
            .get_mut(&group)
            .and_then(|g| g.members.get_mut(&member));
        if let (Some(m), false) = (m, simple) {
            m.last_heartbeat = now.instant;
        }
        ErrorCode::None
    })
}

fn delete_offsets_op(
    s: &GroupShard,
    group: &str,
    partitions: &[(String, i32)],
) -> Op<Result<Vec<ErrorCode>, ErrorCode>> {
    let g = match s.group(group) {
        Some(g) if !g.is(GroupState::Dead) => g,
        _ => return CoordinatorResult::answer(Err(ErrorCode::GroupIdNotFound)),
    };
    let subscribed = if g.is(GroupState::Empty) {
        Default::default()
    } else {
        g.subscribed_topics()
    };
    let mut records = Vec::new();
    let codes = partitions
        .iter()
        .map(|(t, p)| {
            if subscribed.contains(t) {
                return ErrorCode::GroupSubscribedToTopic;
            }
            // As Kafka: a tombstone also when only a transaction holds an offset of it.
            if g.offsets.contains_key(&(t.clone(), *p)) || s.txn.has_pending(group, t, *p) {
                records.push(GroupRecord::Offset {
                    group: g.id.clone(),
                    topic: t.clone(),
                    partition: *p,
                    value: None,
                });
            }
            ErrorCode::None
        })
        .collect();
    CoordinatorResult::new(records, Ok(codes))
}
