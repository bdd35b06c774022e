//! A classic JoinGroup taking over an empty KIP-848 consumer group, as Kafka does.
//!
//! Kafka's `classicGroupJoin` sends a JoinGroup for an empty consumer group to
//! `classicGroupJoinToClassicGroup`, whose `maybeDeleteEmptyConsumerGroup` writes the consumer
//! group's tombstones (`ConsumerGroup.createGroupTombstoneRecords`) before the classic group is
//! created. Here the tombstones are written first and replayed like every record (the shard
//! then holds no consumer group, only the committed offsets, which are kept), and the join
//! proceeds in memory as for a new classic group — so a restart replays the same conversion.
//! The reverse, an empty classic group taken over by a ConsumerGroupHeartbeat with epoch 0,
//! is in [`heartbeat`](super::consumer::heartbeat).

use super::api::JoinParams;
use super::membership::{join_in_memory, Waiting};
use super::records::GroupRecord;
use super::shard::GroupShard;
use super::state::JoinResult;
use crate::coordinator::runtime::CoordinatorResult;
use crate::error::ErrorCode;

type Op = CoordinatorResult<GroupShard, Waiting<JoinResult>>;

/// A JoinGroup against an empty KIP-848 consumer group turns it into a classic group, as
/// Kafka's `classicGroupJoinToClassicGroup` (`maybeDeleteEmptyConsumerGroup`): the consumer
/// group's own records are tombstoned (resolved regexes, target assignment epoch, group
/// epoch — what [`delete_records`](super::consumer::group::ConsumerGroup::delete_records)
/// lists; committed offsets are kept), and once they are replayed the join proceeds as for a
/// new classic group. A member id the group cannot know gets UNKNOWN_MEMBER_ID and nothing
/// is written (Kafka: the classic group does not exist, so `getOrMaybeCreateClassicGroup`
/// refuses it). Kafka also writes an empty classic group record; gregor keeps a new classic
/// group in memory until its first SyncGroup, as for any new group.
pub(super) fn join_empty_consumer_group(s: &GroupShard, p: &JoinParams) -> Option<Op> {
    let c = s.group(&p.group_id)?.consumer.as_ref()?;
    if !c.members.is_empty() {
        return None;
    }
    if !p.member_id.is_empty() {
        let refused = JoinResult::error(ErrorCode::UnknownMemberId, &p.member_id);
        return Some(CoordinatorResult::answer(Waiting::Ready(refused)));
    }
    tracing::info!(
        "group {}: empty consumer group converted to a classic group by a JoinGroup",
        p.group_id
    );
    let records = c
        .delete_records(&p.group_id)
        .into_iter()
        .map(GroupRecord::Consumer)
        .collect();
    let p = p.clone();
    Some(CoordinatorResult::then(
        records,
        move |s: &mut GroupShard, now| join_in_memory(s, p, now),
    ))
}
