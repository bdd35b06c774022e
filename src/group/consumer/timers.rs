//! Consumer group timers: a member that sends no heartbeat within
//! `group.consumer.session.timeout.ms`, or that does not revoke the partitions it was asked to
//! within its rebalance timeout, is fenced (Kafka's session and rebalance timeouts): its
//! tombstones are written and the group epoch bumped, so its partitions go to the others.
//! Run from the coordinator's tick; each fencing is one runtime operation that checks again on
//! the state it runs against, and a failed write is retried at the next tick.

use std::time::{Duration, Instant};

use super::heartbeat::fence_records;
use crate::coordinator::runtime::CoordinatorResult;
use crate::group::coordinator::GroupCoordinator;
use crate::group::shard::GroupShard;

fn due(
    s: &GroupShard,
    group: &str,
    member: &str,
    now: Instant,
    session: Duration,
) -> Option<&'static str> {
    let m = s.group(group)?.consumer.as_ref()?.members.get(member)?;
    if now.duration_since(m.last_heartbeat) > session {
        Some("its session expired")
    } else if m.revocation_deadline.is_some_and(|d| now >= d) {
        Some("it did not revoke its partitions within its rebalance timeout")
    } else {
        None
    }
}

impl GroupCoordinator {
    /// Fences every consumer group member whose session or revocation deadline passed.
    pub(crate) async fn tick_consumer_groups(&self) {
        let now = self.runtime.now().instant;
        let session = Duration::from_millis(self.config.consumer_session_timeout_ms.max(0) as u64);
        let candidates: Vec<(String, String)> = self.runtime.read(|s| {
            s.groups
                .values()
                .filter_map(|g| g.consumer.as_ref().map(|c| (g, c)))
                .flat_map(|(g, c)| c.members.keys().map(move |m| (g.id.clone(), m.clone())))
                .filter(|(g, m)| due(s, g, m, now, session).is_some())
                .collect()
        });
        for (group, member) in candidates {
            let (g2, m2) = (group.clone(), member.clone());
            let done = self
                .runtime
                .write(move |s, now| {
                    let Some(reason) = due(s, &g2, &m2, now.instant, session) else {
                        return CoordinatorResult::answer(());
                    };
                    let Some(c) = s.group(&g2).and_then(|g| g.consumer.as_ref()) else {
                        return CoordinatorResult::answer(());
                    };
                    tracing::info!("group {g2}: member {m2} fenced because {reason}");
                    CoordinatorResult::new(fence_records(&g2, c, &m2), ())
                })
                .await;
            if let Err(e) = done {
                tracing::error!("group {group}: fencing {member} not written: {e}");
            }
        }
    }
}
