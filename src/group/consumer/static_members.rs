//! Static membership in KIP-848 groups (`group.instance.id`), as Kafka's
//! `getOrMaybeSubscribeStaticConsumerGroupMember` and `consumerGroupStaticMemberGroupLeave`:
//!
//! - a static member leaving with epoch −2 keeps its partitions and its place (its current
//!   assignment is written with epoch −2, so no one else is given its partitions) until it
//!   comes back or its session expires;
//! - a member joining with an instance id another member holds takes that member's place —
//!   its target and current assignment under the new member id, without a rebalance — only if
//!   the holder left with −2; otherwise UNRELEASED_INSTANCE_ID;
//! - a heartbeat or leave naming an instance id held by another member id gets
//!   FENCED_INSTANCE_ID, one naming an unknown instance id UNKNOWN_MEMBER_ID.

use super::group::{ConsumerGroup, ConsumerMember};
use super::heartbeat::{fence_records, HeartbeatParams};
use super::records::{ConsumerRecord, CurrentAssignment};
use crate::error::ErrorCode;
use crate::group::records::GroupRecord;

/// The member epoch of a static member that left temporarily.
pub const LEFT_STATIC: i32 = -2;

type Refusal = (ErrorCode, String);

fn holder<'a>(group: &'a ConsumerGroup, instance: &str) -> Option<&'a ConsumerMember> {
    group
        .members
        .values()
        .find(|m| m.meta.instance_id.as_deref() == Some(instance))
}

fn known_holder<'a>(
    group: &'a ConsumerGroup,
    p: &HeartbeatParams,
    instance: &str,
) -> Result<&'a ConsumerMember, Refusal> {
    let m = holder(group, instance).ok_or_else(|| {
        (
            ErrorCode::UnknownMemberId,
            format!("Instance id {instance} is unknown."),
        )
    })?;
    if m.id != p.member_id {
        return Err((
            ErrorCode::FencedInstanceId,
            format!(
                "Static member {} with instance id {instance} was fenced by member {}.",
                p.member_id, m.id
            ),
        ));
    }
    Ok(m)
}

/// A static member's leave (epoch −1: for good; −2: for now). Returns the records.
pub fn leave(
    gid: &str,
    group: &ConsumerGroup,
    p: &HeartbeatParams,
    instance: &str,
) -> Result<Vec<GroupRecord>, Refusal> {
    let m = known_holder(group, p, instance)?;
    if p.member_epoch != LEFT_STATIC {
        return Ok(fence_records(gid, group, &m.id));
    }
    tracing::info!(
        "group {gid}: static member {} ({instance}) left temporarily",
        m.id
    );
    let current = CurrentAssignment {
        member_epoch: LEFT_STATIC,
        pending_revocation: Default::default(),
        ..m.current.clone()
    };
    Ok(vec![GroupRecord::Consumer(ConsumerRecord::Current {
        group: gid.to_string(),
        member: m.id.clone(),
        value: Some(current),
    })])
}

/// The static checks of a join or heartbeat. `Ok(Some((group, records)))`: the joining member
/// replaces the instance's previous holder — `group` is the group as it will be once
/// `records` are replayed, for the rest of the heartbeat to work on.
pub fn join_or_check(
    gid: &str,
    group: &ConsumerGroup,
    p: &HeartbeatParams,
    instance: &str,
) -> Result<Option<(ConsumerGroup, Vec<ConsumerRecord>)>, Refusal> {
    if p.member_epoch != 0 {
        known_holder(group, p, instance)?;
        return Ok(None);
    }
    let Some(old) = holder(group, instance).filter(|m| m.id != p.member_id) else {
        return Ok(None);
    };
    if old.current.member_epoch != LEFT_STATIC {
        return Err((
            ErrorCode::UnreleasedInstanceId,
            format!(
                "Static member {} with instance id {instance} cannot join the group because the instance id is owned by {} member.",
                p.member_id, old.id
            ),
        ));
    }
    tracing::info!(
        "group {gid}: static member {} ({instance}) replaces {}",
        p.member_id,
        old.id
    );
    let mut copy = old.clone();
    copy.id = p.member_id.clone();
    copy.current.member_epoch = 0;
    copy.current.previous_member_epoch = 0;
    let target = group.target.get(&old.id).cloned().unwrap_or_default();
    let mut records = ConsumerGroup::remove_member_records(gid, &old.id);
    records.push(ConsumerRecord::Member {
        group: gid.to_string(),
        member: copy.id.clone(),
        value: Some(copy.meta.clone()),
    });
    records.push(ConsumerRecord::TargetMember {
        group: gid.to_string(),
        member: copy.id.clone(),
        value: Some(target.clone()),
    });
    records.push(ConsumerRecord::Current {
        group: gid.to_string(),
        member: copy.id.clone(),
        value: Some(copy.current.clone()),
    });
    let mut local = group.clone();
    local.members.remove(&old.id);
    local.target.remove(&old.id);
    local.target.insert(copy.id.clone(), target);
    local.members.insert(copy.id.clone(), copy);
    Ok(Some((local, records)))
}
