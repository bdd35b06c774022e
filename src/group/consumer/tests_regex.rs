//! Regex subscriptions on the coordinator runtime: resolved with the heartbeating member's
//! DESCRIBE rights into a key 16 record, kept across a replay, and tombstoned when the last
//! member subscribed to it leaves and when the group is deleted (without bringing it back).

use uuid::Uuid;

use super::heartbeat::HeartbeatParams;
use super::subscription::Topics;
use super::tests::{harness, written_since, GROUP};
use crate::error::ErrorCode;
use crate::group::coordinator::GroupCoordinator;

/// `t-1` (id 1) and `t-2` (id 2), two partitions each; the principal may DESCRIBE `t-1` only.
struct OnlyT1;

impl Topics for OnlyT1 {
    fn get(&self, name: &str) -> Option<(Uuid, i32)> {
        match name {
            "t-1" => Some((Uuid::from_u128(1), 2)),
            "t-2" => Some((Uuid::from_u128(2), 2)),
            _ => None,
        }
    }
    fn names(&self) -> Vec<String> {
        vec!["t-1".into(), "t-2".into()]
    }
    fn describable(&self, name: &str) -> bool {
        name == "t-1"
    }
}

fn params(epoch: i32) -> HeartbeatParams {
    HeartbeatParams {
        version: 1,
        group_id: GROUP.into(),
        member_id: "m".into(),
        member_epoch: epoch,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_regex: (epoch == 0).then(|| "t-.*".to_string()),
        owned: Some(Default::default()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_regex_is_resolved_to_describable_topics_stored_and_tombstoned() {
    let (c, log, clock) = harness();
    let r = c.consumer_heartbeat(params(0), &OnlyT1).await;
    assert_eq!(r.error, ErrorCode::None);
    let assigned: Vec<Uuid> = r.assignment.unwrap().into_keys().collect();
    assert_eq!(assigned, vec![Uuid::from_u128(1)], "t-2 is not describable");
    // The join wrote the subscription (5), the resolved regex (16), then the epochs and
    // assignments.
    assert_eq!(
        written_since(&log, 0)[..3],
        [(5, false), (16, false), (3, false)]
    );

    // A replay keeps the resolution: the next heartbeat does not resolve the regex again
    // (it only recomputes the target once, the subscribed topics' metadata being in memory).
    let again = GroupCoordinator::new(super::tests::config(), log.clone(), clock.clone()).unwrap();
    let n = log.len();
    let r = again
        .consumer_heartbeat(params(r.member_epoch), &OnlyT1)
        .await;
    assert_eq!(r.error, ErrorCode::None);
    assert!(!written_since(&log, n).iter().any(|(k, _)| *k == 16));
    let r = again
        .consumer_heartbeat(params(r.member_epoch), &OnlyT1)
        .await;
    assert_eq!(
        r.assignment.map(|a| a.into_keys().collect::<Vec<_>>()),
        None
    );

    // The member leaves: its regex goes with it; deleting the group then writes no regex
    // tombstone again, and the group stays gone after a replay.
    let n = log.len();
    let r = again.consumer_heartbeat(params(-1), &OnlyT1).await;
    assert_eq!(r.error, ErrorCode::None);
    assert_eq!(
        written_since(&log, n),
        vec![(8, true), (7, true), (5, true), (16, true), (3, false)]
    );
    assert_eq!(again.delete_group(GROUP).await, ErrorCode::None);
    let replayed = GroupCoordinator::new(super::tests::config(), log.clone(), clock).unwrap();
    assert!(replayed.describe_consumer_group(GROUP).is_err());
}
