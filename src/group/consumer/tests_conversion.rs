//! A classic JoinGroup against a KIP-848 consumer group, on the fake clock: an empty one is
//! converted (its records tombstoned, its offsets kept, the conversion surviving a replay),
//! a non-empty one refuses the classic member.

use super::tests::{classic_join, commit_of, harness, written_since, Client, GROUP};
use crate::error::ErrorCode;
use crate::group::coordinator::GroupCoordinator;

fn kind(c: &GroupCoordinator) -> Vec<(String, &'static str)> {
    c.list_typed()
        .into_iter()
        .map(|(id, _, _, k)| (id, k))
        .collect()
}

/// The committed offset of partition `p` of topic `t`.
fn offset(c: &GroupCoordinator, p: i32) -> Option<i64> {
    let fetched = c.fetch_offsets(GROUP, Some(vec![("t".into(), vec![p])]));
    fetched[0].1[0].1.as_ref().map(|v| v.offset)
}

#[tokio::test]
async fn a_join_converts_an_empty_consumer_group_and_keeps_its_offsets() {
    let (c, log, clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    for (p, o) in [(0, 5), (1, 9)] {
        let code = c
            .commit_at_version(GROUP, a.epoch, "a", None, commit_of(p, o), 9)
            .await;
        assert_eq!(code, ErrorCode::None);
    }
    // While a is a member, the classic member is refused and nothing is written.
    let n = log.len();
    let refused = c.join(classic_join("")).await;
    assert_eq!(refused.error, ErrorCode::InconsistentGroupProtocol);
    assert_eq!(log.len(), n);

    a.epoch = -1;
    assert_eq!(a.heartbeat(&c).await.error, ErrorCode::None);
    assert_eq!(kind(&c), vec![(GROUP.to_string(), "consumer")]);
    // A member id the (future classic) group cannot know: refused, nothing written.
    let n = log.len();
    let unknown = c.join(classic_join("ghost")).await;
    assert_eq!(unknown.error, ErrorCode::UnknownMemberId);
    assert_eq!(log.len(), n);

    // The join: the target assignment epoch (6) and group epoch (3) tombstones, no offset
    // tombstone; the classic member leads generation 1 of the classic group.
    let joined = c.join(classic_join("")).await;
    assert_eq!(joined.error, ErrorCode::None);
    assert_eq!(written_since(&log, n), vec![(6, true), (3, true)]);
    assert_eq!(joined.generation, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(kind(&c), vec![(GROUP.to_string(), "classic")]);
    assert_eq!(
        c.describe_consumer_group(GROUP).err(),
        Some(ErrorCode::GroupIdNotFound)
    );
    assert_eq!((offset(&c, 0), offset(&c, 1)), (Some(5), Some(9)));

    // A restart replays the conversion: no consumer group, the offsets still there.
    let again = GroupCoordinator::new(super::tests::config(), log.clone(), clock).unwrap();
    assert_eq!(kind(&again), vec![(GROUP.to_string(), "classic")]);
    assert_eq!(
        again.describe_consumer_group(GROUP).err(),
        Some(ErrorCode::GroupIdNotFound)
    );
    assert_eq!((offset(&again, 0), offset(&again, 1)), (Some(5), Some(9)));
}

#[tokio::test]
async fn a_join_converts_an_empty_consumer_group_without_offsets() {
    let (c, log, clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    a.epoch = -1;
    a.heartbeat(&c).await;
    let joined = c.join(classic_join("")).await;
    assert_eq!(joined.error, ErrorCode::None);
    assert_eq!(kind(&c), vec![(GROUP.to_string(), "classic")]);
    // The classic group lived in memory only (as a new classic group does until its first
    // SyncGroup): a replay has no group at all.
    let again = GroupCoordinator::new(super::tests::config(), log, clock).unwrap();
    assert!(kind(&again).is_empty());
}
