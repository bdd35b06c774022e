//! What a consumer group shows to readers: ConsumerGroupDescribe, the DescribeGroups and
//! ListGroups view of a consumer group, and the member-epoch checks OffsetCommit v9+ and
//! OffsetFetch v9+ make against it (Kafka's `ConsumerGroup.validateOffsetCommit` /
//! `validateOffsetFetch`).

use super::group::{ConsumerGroup, ConsumerGroupState};
use super::records::{Assignment, MemberMetadata};
use crate::error::ErrorCode;
use crate::group::coordinator::GroupCoordinator;

/// One member as ConsumerGroupDescribe reports it.
#[derive(Debug, Clone)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub member_epoch: i32,
    pub meta: MemberMetadata,
    pub assignment: Assignment,
    pub target: Assignment,
}

/// A consumer group as ConsumerGroupDescribe reports it.
#[derive(Debug, Clone)]
pub struct ConsumerGroupDescription {
    pub state: ConsumerGroupState,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<ConsumerMemberDescription>,
}

/// OffsetCommit against a consumer group: `None` when the commit may go ahead.
///
/// The member's current epoch always commits. An older epoch commits only partitions the
/// member has held since that epoch (KIP-1251, Kafka 4.3): a commit sent while the heartbeat
/// that bumped the epoch was still on its way back is no zombie. Anything else (a newer
/// epoch, a partition gained or lost since, a topic the group does not know) is
/// STALE_MEMBER_EPOCH for the whole request.
pub fn check_commit<'a>(
    group: Option<&ConsumerGroup>,
    member_id: &str,
    epoch: i32,
    version: i16,
    partitions: impl IntoIterator<Item = (&'a str, i32)>,
) -> Option<ErrorCode> {
    let group = group?;
    if epoch < 0 && group.members.is_empty() {
        return None;
    }
    let Some(m) = group.members.get(member_id) else {
        return Some(ErrorCode::UnknownMemberId);
    };
    if version < 9 {
        // "OffsetCommit version 9 or above must be used by members using the modern group
        // protocol".
        return Some(ErrorCode::UnsupportedVersion);
    }
    if epoch == m.current.member_epoch {
        return None;
    }
    let held_since = |(topic, partition): (&str, i32)| {
        let id = group.subscription_meta.as_ref()?.get(topic)?.0;
        m.assignment_epochs.get(&(id, partition)).copied()
    };
    let older = (0..m.current.member_epoch).contains(&epoch);
    let all_held = partitions
        .into_iter()
        .all(|tp| held_since(tp).is_some_and(|since| since <= epoch));
    (!(older && all_held)).then_some(ErrorCode::StaleMemberEpoch)
}

impl GroupCoordinator {
    /// OffsetFetch v9+: `None` when the fetch may go ahead. A fetch without member id and
    /// with a negative epoch (admin clients, consumers outside the group) is always allowed.
    pub fn check_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        epoch: i32,
    ) -> Option<ErrorCode> {
        if member_id.is_none() && epoch < 0 {
            return None;
        }
        self.runtime.read(|s| {
            let c = s.group(group_id)?.consumer.as_ref()?;
            let Some(m) = member_id.and_then(|id| c.members.get(id)) else {
                return Some(ErrorCode::UnknownMemberId);
            };
            (epoch != m.current.member_epoch).then_some(ErrorCode::StaleMemberEpoch)
        })
    }

    /// ConsumerGroupDescribe: `Err(GROUP_ID_NOT_FOUND)` for a group that does not exist or
    /// is not a consumer group.
    pub fn describe_consumer_group(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, ErrorCode> {
        let default_assignor = self
            .config
            .consumer_assignors
            .first()
            .cloned()
            .unwrap_or_default();
        self.runtime.read(|s| {
            let c = s
                .group(group_id)
                .and_then(|g| g.consumer.as_ref())
                .ok_or(ErrorCode::GroupIdNotFound)?;
            let assignor = c
                .members
                .values()
                .find_map(|m| m.meta.server_assignor.clone())
                .unwrap_or(default_assignor);
            Ok(ConsumerGroupDescription {
                state: c.state(),
                epoch: c.epoch,
                assignment_epoch: c.assignment_epoch,
                assignor,
                members: c
                    .members
                    .values()
                    .map(|m| ConsumerMemberDescription {
                        member_id: m.id.clone(),
                        member_epoch: m.current.member_epoch,
                        meta: m.meta.clone(),
                        assignment: m.current.assigned.clone(),
                        target: c.target.get(&m.id).cloned().unwrap_or_default(),
                    })
                    .collect(),
            })
        })
    }
}
