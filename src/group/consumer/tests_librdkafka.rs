//! The ConsumerGroupHeartbeat sequence librdkafka 2.16 (confluent-kafka) sends when three
//! consumers subscribe at once, as the broker logged it in the compat row
//! `group-consumer-protocol`, replayed request by request on a fake clock with each answer
//! checked against Kafka's `GroupMetadataManager` / `CurrentAssignmentBuilder`.
//!
//! What librdkafka does that the simulated clients of [`super::tests`] do not: its three
//! joins reach the coordinator before it has read any answer; a regular heartbeat leaves
//! the owned partitions out (null) unless it acknowledges an assignment; a member answered
//! an empty assignment sends a *full* request (topics, rebalance timeout, owned) at its
//! next interval; and a manual commit may race a heartbeat that bumps the member's epoch.

use super::heartbeat::{HeartbeatParams, HeartbeatResult};
use super::records::Assignment;
use super::tests::{harness, topics, GROUP, TOPIC};
use crate::error::ErrorCode;
use crate::group::coordinator::GroupCoordinator;

/// One request as librdkafka builds it: `full` carries the subscription and rebalance
/// timeout; `owned` is `None` when the heartbeat acknowledges nothing.
fn request(member: &str, epoch: i32, full: bool, owned: Option<&Assignment>) -> HeartbeatParams {
    HeartbeatParams {
        version: 1,
        group_id: GROUP.into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: if full { 300_000 } else { -1 },
        subscribed_topic_names: full.then(|| vec!["t".to_string()]),
        owned: owned.cloned(),
        client_id: "rdkafka".into(),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

async fn send(c: &GroupCoordinator, p: HeartbeatParams) -> (i32, Option<Vec<i32>>) {
    let r: HeartbeatResult = c.consumer_heartbeat(p, &topics).await;
    assert_eq!(r.error, ErrorCode::None, "{:?}", r.message);
    let parts = r
        .assignment
        .map(|a| a.get(&TOPIC).into_iter().flatten().copied().collect());
    (r.member_epoch, parts)
}

fn of(parts: &[i32]) -> Assignment {
    if parts.is_empty() {
        return Assignment::new();
    }
    [(TOPIC, parts.iter().copied().collect())].into()
}

#[tokio::test]
async fn three_librdkafka_members_settle_on_two_partitions_each() {
    let (c, _log, _clock) = harness();
    let empty = Assignment::new();
    // The three joins, in the order the coordinator ran them (epoch 0, full, owned []).
    let (ea, a) = send(&c, request("A", 0, true, Some(&empty))).await;
    assert_eq!((ea, a.as_deref()), (1, Some(&[0, 1, 2, 3, 4, 5][..])));
    let (eb, b) = send(&c, request("B", 0, true, Some(&empty))).await;
    assert_eq!(
        (eb, b.as_deref()),
        (2, Some(&[][..])),
        "B's partitions are A's still"
    );
    let (ec, cc) = send(&c, request("C", 0, true, Some(&empty))).await;
    assert_eq!((ec, cc.as_deref()), (3, Some(&[][..])));
    // A acknowledges its six at epoch 1 and is told to keep two (epoch unchanged: revoking).
    let (ea, a) = send(&c, request("A", 1, false, Some(&of(&[0, 1, 2, 3, 4, 5])))).await;
    assert_eq!(ea, 1);
    let a = a.expect("a changed assignment is sent");
    assert_eq!(a.len(), 2);
    // A reports the four revoked: it moves to the target epoch; nothing new to send.
    let (ea, none) = send(&c, request("A", 1, false, Some(&of(&a)))).await;
    assert_eq!((ea, none), (3, None));
    // B and C, an interval later, send full requests at their epochs and get the released four.
    let (eb, b) = send(&c, request("B", 2, true, Some(&empty))).await;
    let b = b.expect("a full request is answered with the assignment");
    let (ec, cc) = send(&c, request("C", 3, true, Some(&empty))).await;
    let cc = cc.expect("a full request is answered with the assignment");
    assert_eq!((eb, b.len(), ec, cc.len()), (3, 2, 3, 2));
    let mut all: Vec<i32> = [&a[..], &b[..], &cc[..]].concat();
    all.sort();
    assert_eq!(all, vec![0, 1, 2, 3, 4, 5], "disjoint, all six");
    // Acknowledgements, then the plain heartbeats (owned null): nothing moves any more.
    assert_eq!(
        send(&c, request("B", 3, false, Some(&of(&b)))).await,
        (3, None)
    );
    assert_eq!(
        send(&c, request("C", 3, false, Some(&of(&cc)))).await,
        (3, None)
    );
    for m in ["A", "B", "C"] {
        assert_eq!(send(&c, request(m, 3, false, None)).await, (3, None));
    }
    let described = c.describe_consumer_group(GROUP).unwrap();
    assert_eq!(
        (
            described.state.name(),
            described.epoch,
            described.assignment_epoch
        ),
        ("Stable", 3, 3)
    );

    // C leaves; B's next plain heartbeat takes a share of C's partitions at epoch 4. A commit
    // B sent at epoch 3 while that answer was on its way is accepted for the partitions B
    // held at epoch 3 and stale for the one it gained at 4, as in Kafka 4.3 (KIP-1251;
    // librdkafka does not retry a manual commit, so an exact-epoch check would fail it).
    assert_eq!(send(&c, request("C", -1, false, None)).await, (-1, None));
    let (eb, b4) = send(&c, request("B", 3, false, None)).await;
    assert_eq!(eb, 4);
    let b4 = b4.expect("the grown assignment is sent");
    assert!(
        b4.len() == 3 && b.iter().all(|p| b4.contains(p)),
        "{b4:?} keeps {b:?}"
    );
    let gained = *b4
        .iter()
        .find(|p| !b.contains(p))
        .expect("one partition gained");
    let commit =
        |epoch, p| c.commit_at_version(GROUP, epoch, "B", None, super::tests::commit_of(p, 7), 9);
    assert_eq!(commit(3, b[0]).await, ErrorCode::None);
    assert_eq!(commit(3, gained).await, ErrorCode::StaleMemberEpoch);
    assert_eq!(commit(4, gained).await, ErrorCode::None);
}
