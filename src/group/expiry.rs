//! The group coordinator's timers: session expiry, expiry of member ids handed out with
//! MEMBER_ID_REQUIRED, rebalance deadlines and initial delays, and offset retention.
//!
//! [`GroupCoordinator::tick`] is called periodically (every 50 ms by the broker, by hand on a
//! fake clock in tests). It finds the groups with something due, reading the state, and runs
//! one ordinary runtime operation per such group, on the runtime's clock. An operation that
//! empties a group (its last members expired) or retires it (offsets older than
//! `offsets.retention.minutes` in an empty group) writes that first; if the write fails,
//! nothing changes and the next tick tries again — the failure is logged because no client
//! is waiting for a timer, but the state never runs ahead of the log.

use std::time::Duration;

use super::admin::tombstones;
use super::coordinator::GroupCoordinator;
use super::records::GroupRecord;
use super::shard::GroupShard;
use super::state::{Group, GroupState};
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::CoordinatorResult;

impl GroupCoordinator {
    /// One round of timers (see the module doc).
    pub async fn tick(&self) {
        self.tick_consumer_groups().await;
        let now = self.runtime.now();
        let retention_due = {
            let mut last = self
                .last_retention_check
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due =
                now.instant.duration_since(*last) >= self.config.offsets_retention_check_interval;
            if due {
                *last = now.instant;
            }
            due
        };
        let retention_ms = self.config.offsets_retention_ms;
        let due: Vec<String> = self.runtime.read(|s| {
            s.groups
                .values()
                .filter(|g| needs_timers(g, now, retention_due.then_some(retention_ms)))
                .map(|g| g.id.clone())
                .collect()
        });
        for id in due {
            let group = id.clone();
            let done = self
                .runtime
                .write(move |s, now| expire_op(s, group, now, retention_due))
                .await;
            if let Err(e) = done {
                tracing::error!("group {id}: timers not applied, the write failed: {e}");
            }
        }
    }
}

/// Whether a group has a timer due: an expired session or pending member id, a rebalance
/// under way (deadline, initial delay), or retention (`retention_ms` when a check is due).
fn needs_timers(g: &Group, now: Now, retention_ms: Option<i64>) -> bool {
    g.is(GroupState::PreparingRebalance)
        || g.members.values().any(|m| m.expired(now.instant))
        || g.pending.values().any(|until| *until <= now.instant)
        || retention_ms.is_some_and(|r| {
            g.is(GroupState::Empty) && g.has_no_members() && now.wall_ms - g.empty_since_ms > r
        })
}

/// Removes members whose session expired and pending ids that lapsed, and moves a rebalance
/// on. Returns the expired members and whether the group became empty (to be written).
fn expire(g: &mut Group, now: Now, delay: Duration) -> (Vec<String>, bool) {
    let expired: Vec<String> = g
        .members
        .values()
        .filter(|m| m.expired(now.instant))
        .map(|m| m.id.clone())
        .collect();
    for id in &expired {
        g.remove_member(id, crate::error::ErrorCode::UnknownMemberId);
    }
    g.pending.retain(|_, until| *until > now.instant);
    let emptied = if expired.is_empty() {
        g.try_complete_join(now.instant, now.wall_ms)
    } else {
        g.membership_changed(now.instant, now.wall_ms, delay)
    };
    (expired, emptied)
}

fn expire_op(
    s: &GroupShard,
    group: String,
    now: Now,
    retention_due: bool,
) -> CoordinatorResult<GroupShard, ()> {
    let Some(g) = s.group(&group) else {
        return CoordinatorResult::answer(());
    };
    let delay = s.config.initial_rebalance_delay;
    let mut scratch = g.scratch();
    let (expired, emptied) = expire(&mut scratch, now, delay);
    let mut records = Vec::new();
    if emptied {
        records.push(GroupRecord::Group {
            group: group.clone(),
            value: Some(scratch.to_value(now.wall_ms)),
        });
    }
    // As Kafka, a group whose offsets an open transaction holds does not expire.
    let retired = retention_due
        && !s.txn.has_open(&group)
        && scratch.is(GroupState::Empty)
        && scratch.has_no_members()
        && now.wall_ms - scratch.empty_since_ms > s.config.offsets_retention_ms;
    let offsets = g.offsets.len();
    if retired {
        records.extend(tombstones(s, g));
    }
    CoordinatorResult::then(records, move |s: &mut GroupShard, now| {
        for id in &expired {
            tracing::info!(
                "group {group}: member {id} expired (no heartbeat within its session timeout)"
            );
        }
        if retired && offsets > 0 {
            tracing::info!(
                "group {group}: {offsets} committed offset(s) expired (offsets.retention.minutes)"
            );
        }
        // When the group was emptied or retired, replaying the records already did it all.
        if !(emptied || retired) {
            if let Some(g) = s.groups.get_mut(&group) {
                expire(g, now, delay);
            }
        }
    })
}
