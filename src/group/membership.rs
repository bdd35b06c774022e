//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: Kafka's classic membership protocol as
//! coordinator-runtime operations.
//!
//! Most membership changes are in-memory only, as in Kafka: members joining, the generation
//! being formed, waiters, heartbeats. Three changes are durable and are written first, then
//! applied by replaying the record ([`Group::apply_value`]):
//! - the leader's SyncGroup: the assignments (the group becomes Stable, waiting followers get
//!   theirs);
//! - a static member restarting in a Stable group (KIP-345): the group's record names the new
//!   member id, and replay fences the old incarnation with FENCED_INSTANCE_ID;
//! - a LeaveGroup that empties the group: the empty group's record (new generation).
//!
//! If such a write fails, the caller gets the mapped error and nothing changed. To learn
//! whether a leave empties the group, the change is first tried on a [`Group::scratch`] copy.
//!
//! JoinGroup and SyncGroup may wait for other members: their operation registers a oneshot
//! sender and the request awaits the receiver after the operation has finished.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::api::{JoinParams, SyncParams};
use super::coordinator::GroupCoordinator;
use super::records::{GroupRecord, GroupValue};
use super::shard::GroupShard;
use super::state::{Group, GroupState, JoinResult, Member, SyncResult};
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::{write_error_code, CoordinatorResult};
use crate::error::ErrorCode;

type Op<T> = CoordinatorResult<GroupShard, T>;

/// An answer known now, or the channel it will arrive on.
pub(super) enum Waiting<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

fn sync_error(error: ErrorCode) -> SyncResult {
    SyncResult {
        error,
        protocol_type: None,
        protocol: None,
        assignment: Bytes::new(),
    }
}

/// The answer for a member joining a group whose generation is already settled.
fn current_generation(g: &Group, member_id: &str) -> JoinResult {
    let protocol = g.protocol.clone().unwrap_or_default();
    let leader = g.leader.clone().unwrap_or_default();
    let members = if leader == member_id {
        g.members
            .values()
            .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
            .collect()
    } else {
        Vec::new()
    };
    JoinResult {
        error: ErrorCode::None,
        generation: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol: g.protocol.clone(),
        leader,
        member_id: member_id.to_string(),
        members,
    }
}

/// The error for a request by `member_id` (with `instance_id`), if it is not a member.
pub(super) fn check_member(
    g: &Group,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<ErrorCode> {
    if let Some(i) = instance_id {
        if let Some(id) = g.static_members.get(i) {
            if id != member_id {
                return Some(ErrorCode::FencedInstanceId);
            }
        }
    }
    (!g.members.contains_key(member_id)).then_some(ErrorCode::UnknownMemberId)
}

impl GroupCoordinator {
    /// JoinGroup: returns when the join phase completes (or at once for errors and for
    /// members rejoining a settled generation).
    pub async fn join(&self, p: JoinParams) -> JoinResult {
        if p.group_id.is_empty() {
            return JoinResult::error(ErrorCode::InvalidGroupId, &p.member_id);
        }
        if p.session_timeout_ms < self.config.min_session_timeout_ms
            || p.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return JoinResult::error(ErrorCode::InvalidSessionTimeout, &p.member_id);
        }
        let (group_id, member_id) = (p.group_id.clone(), p.member_id.clone());
        let r = match self.runtime.write(move |s, now| join_op(s, p, now)).await {
            Ok(Waiting::Ready(r)) => r,
            Ok(Waiting::Wait(rx)) => rx
                .await
                .unwrap_or_else(|_| JoinResult::error(ErrorCode::RebalanceInProgress, &member_id)),
            Err(e) => {
                tracing::warn!("group {group_id}: join of {member_id:?} not written: {e}");
                JoinResult::error(write_error_code(&e), &member_id)
            }
        };
        tracing::debug!(
            "group {group_id}: join of {:?} → {} generation {} leader {:?} ({} members listed)",
            r.member_id,
            r.error,
            r.generation,
            r.leader,
            r.members.len()
        );
        r
    }

    /// SyncGroup: the leader's assignments are written, then every member gets its own.
    pub async fn sync(&self, p: SyncParams) -> SyncResult {
        let (group_id, member_id, generation) =
            (p.group_id.clone(), p.member_id.clone(), p.generation);
        tracing::debug!(
            "group {group_id}: sync request from {member_id:?} generation {generation}"
        );
        let r = match self.runtime.write(move |s, now| sync_op(s, p, now)).await {
            Ok(Waiting::Ready(r)) => r,
            Ok(Waiting::Wait(rx)) => rx
                .await
                .unwrap_or_else(|_| sync_error(ErrorCode::RebalanceInProgress)),
            Err(e) => {
                tracing::error!("group {group_id}: assignments not written: {e}");
                sync_error(write_error_code(&e))
            }
        };
        tracing::debug!(
            "group {group_id}: sync of {member_id:?} generation {generation} → {} ({} bytes)",
            r.error,
            r.assignment.len()
        );
        r
    }

    /// Heartbeat: keeps a member alive and tells it when to rejoin.
    pub async fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> ErrorCode {
        let (group, member) = (group_id.to_string(), member_id.to_string());
        let instance = instance_id.map(str::to_string);
        self.runtime
            .write(move |_, _| {
                CoordinatorResult::then(Vec::new(), move |s: &mut GroupShard, now| {
                    heartbeat_in_memory(s, &group, &member, instance.as_deref(), generation, now)
                })
            })
            .await
            .unwrap_or_else(|e| write_error_code(&e))
    }

    /// LeaveGroup for one or more members (by member id, or by instance id with an empty
    /// member id). Returns one error per member.
    pub async fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Vec<ErrorCode> {
        let (group, leaving) = (group_id.to_string(), members.to_vec());
        match self
            .runtime
            .write(move |s, now| leave_op(s, group, leaving, now))
            .await
        {
            Ok(codes) => codes,
            Err(e) => {
                tracing::error!("group {group_id}: leave not written: {e}");
                vec![write_error_code(&e); members.len()]
            }
        }
    }
}

fn join_op(s: &GroupShard, p: JoinParams, now: Now) -> Op<Waiting<JoinResult>> {
    if let Some(op) = super::conversion::join_empty_consumer_group(s, &p) {
        return op;
    }
    let Some((value, new_id)) = static_rejoin(s, &p, now) else {
        return CoordinatorResult::then(Vec::new(), move |s: &mut GroupShard, now| {
            join_in_memory(s, p, now)
        });
    };
    let group = p.group_id.clone();
    let records = vec![GroupRecord::Group {
        group: group.clone(),
        value: Some(value),
    }];
    CoordinatorResult::then(records, move |s: &mut GroupShard, now| {
        let Some(g) = s.groups.get_mut(&group) else {
            return Waiting::Ready(JoinResult::error(ErrorCode::UnknownMemberId, &new_id));
        };
        if let Some(m) = g.members.get_mut(&new_id) {
            m.protocols = p.protocols;
            m.last_heartbeat = now.instant;
        }
        Waiting::Ready(current_generation(g, &new_id))
    })
}

/// KIP-345: a static member restarting (no member id, a known instance id) in a Stable group
/// with the same protocols takes its old incarnation's place and assignment without a
/// rebalance. Returns the group's record with the new member id in place of the old one.
fn static_rejoin(s: &GroupShard, p: &JoinParams, now: Now) -> Option<(GroupValue, String)> {
    if !p.member_id.is_empty() {
        return None;
    }
    let g = s.group(&p.group_id)?;
    let old_id = g.static_members.get(p.instance_id.as_ref()?)?;
    let old = g.members.get(old_id)?;
    let same_protocols = old
        .protocols
        .iter()
        .map(|(n, _)| n)
        .eq(p.protocols.iter().map(|(n, _)| n));
    if !g.is(GroupState::Stable) || !same_protocols || !g.supports(&p.protocol_type, &p.protocols) {
        return None;
    }
    let new_id = new_member_id(&p.client_id);
    let protocol = g.protocol.clone().unwrap_or_default();
    let mut value = g.to_value(now.wall_ms);
    for m in value.members.iter_mut().filter(|m| m.member_id == *old_id) {
        m.member_id = new_id.clone();
        m.client_id = p.client_id.clone();
        m.client_host = p.client_host.clone();
        m.session_timeout_ms = p.session_timeout_ms;
        m.rebalance_timeout_ms = p.rebalance_timeout_ms.max(0);
        m.subscription = p
            .protocols
            .iter()
            .find(|(n, _)| *n == protocol)
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
    }
    if value.leader.as_ref() == Some(old_id) {
        value.leader = Some(new_id.clone());
    }
    Some((value, new_id))
}

/// A member (re)joined: start a rebalance if none is under way, and finish the join phase if
/// that was the last member it waited for. The joining member waits, so the group cannot
/// become empty here.
fn start_or_join_rebalance(g: &mut Group, now: Now, delay: Duration) {
    g.prepare_rebalance(now.instant, delay);
    g.try_complete_join(now.instant, now.wall_ms);
}

/// Every JoinGroup that changes only in-memory state.
pub(super) fn join_in_memory(s: &mut GroupShard, p: JoinParams, now: Now) -> Waiting<JoinResult> {
    use Waiting::Ready;
    let delay = s.config.initial_rebalance_delay;
    let (tx, rx) = oneshot::channel();
    let g = if p.member_id.is_empty() {
        s.groups
            .entry(p.group_id.clone())
            .or_insert_with(|| Group::new(&p.group_id, now.wall_ms))
    } else {
        match s.groups.get_mut(&p.group_id) {
            Some(g) => g,
            None => return Ready(JoinResult::error(ErrorCode::UnknownMemberId, &p.member_id)),
        }
    };
    if g.is(GroupState::Dead) {
        return Ready(JoinResult::error(
            ErrorCode::CoordinatorNotAvailable,
            &p.member_id,
        ));
    }
    if g.consumer.is_some() {
        // A consumer group with members (an empty one was converted by `join_op`). Kafka 4
        // admits the classic member into the consumer group (`classicGroupJoinToConsumerGroup`,
        // whatever `group.consumer.migration.policy` says — the policy only governs converting
        // the group's type); Kafka 3.7, without mixed groups, answered GROUP_ID_NOT_FOUND.
        // gregor has no classic members in consumer groups and answers
        // INCONSISTENT_GROUP_PROTOCOL, Kafka's code for a classic join that does not fit the
        // consumer group's protocol.
        return Ready(JoinResult::error(
            ErrorCode::InconsistentGroupProtocol,
            &p.member_id,
        ));
    }
    let new_member = |id: String, waiter| Member {
        id,
        instance_id: p.instance_id.clone(),
        client_id: p.client_id.clone(),
        client_host: p.client_host.clone(),
        session_timeout: Duration::from_millis(p.session_timeout_ms as u64),
        rebalance_timeout: Duration::from_millis(p.rebalance_timeout_ms.max(0) as u64),
        protocols: p.protocols.clone(),
        assignment: Bytes::new(),
        last_heartbeat: now.instant,
        join_waiter: Some(waiter),
        sync_waiter: None,
    };
    let known_static = p
        .instance_id
        .as_ref()
        .and_then(|i| g.static_members.get(i).cloned());
    if !p.member_id.is_empty() && known_static.as_deref().is_some_and(|id| id != p.member_id) {
        return Ready(JoinResult::error(ErrorCode::FencedInstanceId, &p.member_id));
    }
    if !g.supports(&p.protocol_type, &p.protocols) {
        return Ready(JoinResult::error(
            ErrorCode::InconsistentGroupProtocol,
            &p.member_id,
        ));
    }
    if g.members.is_empty() {
        g.protocol_type = Some(p.protocol_type.clone());
    }
    if p.member_id.is_empty() {
        match (known_static, &p.instance_id) {
            (Some(old_id), Some(instance)) => {
                // KIP-345 outside a Stable group: the restarted static member replaces its old
                // incarnation in memory (the next SyncGroup writes it).
                let new_id = new_member_id(&p.client_id);
                let Some(mut old) = g.members.shift_remove(&old_id) else {
                    return Ready(JoinResult::error(ErrorCode::UnknownMemberId, ""));
                };
                if let Some(w) = old.join_waiter.take() {
                    let _ = w.send(JoinResult::error(ErrorCode::FencedInstanceId, &old_id));
                }
                if let Some(w) = old.sync_waiter.take() {
                    let _ = w.send(sync_error(ErrorCode::FencedInstanceId));
                }
                let same_protocols = old
                    .protocols
                    .iter()
                    .map(|(n, _)| n)
                    .eq(p.protocols.iter().map(|(n, _)| n));
                let mut m = new_member(new_id.clone(), tx);
                m.assignment = old.assignment;
                g.static_members.insert(instance.clone(), new_id.clone());
                if g.leader.as_deref() == Some(old_id.as_str()) {
                    g.leader = Some(new_id.clone());
                }
                let settled = matches!(
                    g.state,
                    GroupState::Stable | GroupState::CompletingRebalance
                );
                if settled && same_protocols {
                    m.join_waiter = None;
                    g.members.insert(new_id.clone(), m);
                    return Ready(current_generation(g, &new_id));
                }
                g.members.insert(new_id, m);
                // The new incarnation waits, so this cannot empty the group.
                g.membership_changed(now.instant, now.wall_ms, delay);
            }
            (None, Some(instance)) => {
                let id = new_member_id(&p.client_id);
                g.static_members.insert(instance.clone(), id.clone());
                g.members.insert(id.clone(), new_member(id, tx));
                start_or_join_rebalance(g, now, delay);
            }
            _ if p.require_known_member_id => {
                let id = new_member_id(&p.client_id);
                let until = now.instant + Duration::from_millis(p.session_timeout_ms as u64);
                g.pending.insert(id.clone(), until);
                return Ready(JoinResult::error(ErrorCode::MemberIdRequired, &id));
            }
            _ => {
                let id = new_member_id(&p.client_id);
                g.members.insert(id.clone(), new_member(id, tx));
                start_or_join_rebalance(g, now, delay);
            }
        }
    } else if g.pending.remove(&p.member_id).is_some() {
        g.members
            .insert(p.member_id.clone(), new_member(p.member_id.clone(), tx));
        if let Some(i) = &p.instance_id {
            g.static_members.insert(i.clone(), p.member_id.clone());
        }
        start_or_join_rebalance(g, now, delay);
    } else {
        let state = g.state;
        let is_leader = g.leader.as_deref() == Some(p.member_id.as_str());
        let Some(m) = g.members.get_mut(&p.member_id) else {
            return Ready(JoinResult::error(ErrorCode::UnknownMemberId, &p.member_id));
        };
        let same = m.protocols == p.protocols;
        m.last_heartbeat = now.instant;
        match state {
            GroupState::Empty | GroupState::Dead => {
                return Ready(JoinResult::error(ErrorCode::UnknownMemberId, &p.member_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable
                if same && !(state == GroupState::Stable && is_leader) =>
            {
                return Ready(current_generation(g, &p.member_id));
            }
            _ => {
                m.protocols = p.protocols.clone();
                m.session_timeout = Duration::from_millis(p.session_timeout_ms as u64);
                m.rebalance_timeout = Duration::from_millis(p.rebalance_timeout_ms.max(0) as u64);
                if let Some(old) = m.join_waiter.replace(tx) {
                    let _ = old.send(JoinResult::error(
                        ErrorCode::RebalanceInProgress,
                        &p.member_id,
                    ));
                }
                start_or_join_rebalance(g, now, delay);
            }
        }
    }
    Waiting::Wait(rx)
}

fn sync_op(s: &GroupShard, p: SyncParams, _now: Now) -> Op<Waiting<SyncResult>> {
    let ready = |r| CoordinatorResult::answer(Waiting::Ready(r));
    let Some(g) = s.group(&p.group_id) else {
        return ready(sync_error(ErrorCode::UnknownMemberId));
    };
    if let Some(e) = check_member(g, &p.member_id, p.instance_id.as_deref()) {
        return ready(sync_error(e));
    }
    if p.generation != g.generation {
        return ready(sync_error(ErrorCode::IllegalGeneration));
    }
    if p.protocol_type
        .as_ref()
        .is_some_and(|t| Some(t) != g.protocol_type.as_ref())
        || p.protocol
            .as_ref()
            .is_some_and(|t| Some(t) != g.protocol.as_ref())
    {
        return ready(sync_error(ErrorCode::InconsistentGroupProtocol));
    }
    match g.state {
        GroupState::Empty | GroupState::Dead => ready(sync_error(ErrorCode::UnknownMemberId)),
        GroupState::PreparingRebalance => ready(sync_error(ErrorCode::RebalanceInProgress)),
        GroupState::Stable => ready(SyncResult {
            error: ErrorCode::None,
            protocol_type: g.protocol_type.clone(),
            protocol: g.protocol.clone(),
            assignment: g
                .members
                .get(&p.member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }),
        GroupState::CompletingRebalance if g.leader.as_deref() == Some(p.member_id.as_str()) => {
            let map: HashMap<String, Bytes> = p.assignments.into_iter().collect();
            let mut value = g.to_value(_now.wall_ms);
            for m in value.members.iter_mut() {
                m.assignment = map.get(&m.member_id).cloned().unwrap_or_default();
            }
            let (group, member) = (p.group_id, p.member_id);
            let records = vec![GroupRecord::Group {
                group: group.clone(),
                value: Some(value),
            }];
            // Replaying the record made the group Stable and answered the followers.
            CoordinatorResult::then(records, move |s: &mut GroupShard, now| {
                let g = s.groups.get_mut(&group);
                let Some(m) = g.and_then(|g| g.members.get_mut(&member)) else {
                    return Waiting::Ready(sync_error(ErrorCode::UnknownMemberId));
                };
                m.last_heartbeat = now.instant;
                let assignment = m.assignment.clone();
                let g = &s.groups[&group];
                Waiting::Ready(SyncResult {
                    error: ErrorCode::None,
                    protocol_type: g.protocol_type.clone(),
                    protocol: g.protocol.clone(),
                    assignment,
                })
            })
        }
        GroupState::CompletingRebalance => {
            CoordinatorResult::then(Vec::new(), move |s: &mut GroupShard, now| {
                let (tx, rx) = oneshot::channel();
                let g = s.groups.get_mut(&p.group_id);
                if let Some(m) = g.and_then(|g| g.members.get_mut(&p.member_id)) {
                    m.sync_waiter = Some(tx);
                    m.last_heartbeat = now.instant;
                }
                Waiting::Wait(rx)
            })
        }
    }
}

fn heartbeat_in_memory(
    s: &mut GroupShard,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
    now: Now,
) -> ErrorCode {
    let Some(g) = s.groups.get_mut(group_id) else {
        return ErrorCode::UnknownMemberId;
    };
    if let Some(e) = check_member(g, member_id, instance_id) {
        return e;
    }
    if g.is(GroupState::Empty) || g.is(GroupState::Dead) {
        return ErrorCode::UnknownMemberId;
    }
    if generation != g.generation {
        return ErrorCode::IllegalGeneration;
    }
    let state = g.state;
    if let Some(m) = g.members.get_mut(member_id) {
        m.last_heartbeat = now.instant;
    }
    if state == GroupState::PreparingRebalance {
        ErrorCode::RebalanceInProgress
    } else {
        ErrorCode::None
    }
}

fn leave_op(
    s: &GroupShard,
    group: String,
    members: Vec<(String, Option<String>)>,
    now: Now,
) -> Op<Vec<ErrorCode>> {
    let Some(g) = s.group(&group) else {
        return CoordinatorResult::answer(vec![ErrorCode::UnknownMemberId; members.len()]);
    };
    let delay = s.config.initial_rebalance_delay;
    let mut scratch = g.scratch();
    let (codes, emptied) = remove_members(&mut scratch, &members, now, delay);
    if emptied {
        let record = GroupRecord::Group {
            group,
            value: Some(scratch.to_value(now.wall_ms)),
        };
        return CoordinatorResult::new(vec![record], codes);
    }
    CoordinatorResult::then(Vec::new(), move |s: &mut GroupShard, now| {
        match s.groups.get_mut(&group) {
            Some(g) => remove_members(g, &members, now, delay).0,
            None => codes,
        }
    })
}

/// Removes leaving members; returns one code per member and whether the group became empty
/// (which must be written).
fn remove_members(
    g: &mut Group,
    members: &[(String, Option<String>)],
    now: Now,
    delay: Duration,
) -> (Vec<ErrorCode>, bool) {
    let mut changed = false;
    let codes = members
        .iter()
        .map(|(member_id, instance_id)| {
            let id = match (member_id.is_empty(), instance_id) {
                (true, Some(i)) => match g.static_members.get(i) {
                    Some(id) => id.clone(),
                    None => return ErrorCode::UnknownMemberId,
                },
                _ => member_id.clone(),
            };
            if g.pending.remove(&id).is_some() {
                return ErrorCode::None;
            }
            if let Some(e) = check_member(g, &id, instance_id.as_deref()) {
                return e;
            }
            g.remove_member(&id, ErrorCode::UnknownMemberId);
            changed = true;
            ErrorCode::None
        })
        .collect();
    let emptied = changed && g.membership_changed(now.instant, now.wall_ms, delay);
    (codes, emptied)
}
