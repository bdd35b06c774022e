//! Failed log writes: the caller gets Kafka's error and the state is unchanged; an unloaded
//! shard releases its waiting members.

use bytes::Bytes;

use super::offsets::{fetched, offset};
use super::{until, Harness, GROUP};
use crate::error::ErrorCode;
use crate::group::state::GroupState;

#[tokio::test]
async fn a_failed_write_during_a_static_rejoin_is_an_error_and_changes_nothing() {
    let h = Harness::new();
    let old = h.single_member_group(Some("instance-1")).await;
    let records = h.log.len();
    h.log.fail_writes(true);
    let r = h.join("", Some("instance-1")).await;
    assert_eq!(
        r.error,
        ErrorCode::NotCoordinator,
        "KAFKA_STORAGE_ERROR maps to NOT_COORDINATOR"
    );
    assert_eq!(h.log.len(), records);
    assert_eq!(
        h.members(),
        vec![old.clone()],
        "the old incarnation is still the member"
    );
    assert_eq!((h.state(), h.generation()), (GroupState::Stable, 1));
    let still = h.coord.heartbeat(GROUP, &old, Some("instance-1"), 1).await;
    assert_eq!(still, ErrorCode::None, "and is not fenced");

    h.log.fail_writes(false);
    let r = h.join("", Some("instance-1")).await;
    assert_eq!(r.error, ErrorCode::None);
    assert_eq!(h.members(), vec![r.member_id]);
}

#[tokio::test]
async fn a_failed_commit_is_an_error_and_keeps_the_previous_offset() {
    let h = Harness::new();
    let (a, _b) = h.two_member_group().await;
    let ok = h
        .coord
        .commit(GROUP, 2, &a, None, vec![("t".into(), 0, offset(3))])
        .await;
    assert_eq!(ok, ErrorCode::None);
    h.log.fail_writes(true);
    let failed = h
        .coord
        .commit(GROUP, 2, &a, None, vec![("t".into(), 0, offset(4))])
        .await;
    assert_eq!(failed, ErrorCode::NotCoordinator);
    assert_eq!(fetched(&h, "t", 0), Some(3));
    h.log.fail_writes(false);
    assert_eq!(
        h.replayed().fetch_offsets(GROUP, None),
        h.coord.fetch_offsets(GROUP, None)
    );
}

#[tokio::test]
async fn a_failed_sync_write_answers_the_leader_with_an_error_and_keeps_the_rebalance() {
    let h = Harness::new();
    let r = h.join("", None).await;
    h.log.fail_writes(true);
    let s = h.sync(&r.member_id, 1, &[(&r.member_id, "x")]).await;
    assert_eq!(s.error, ErrorCode::NotCoordinator);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    h.log.fail_writes(false);
    let s = h.sync(&r.member_id, 1, &[(&r.member_id, "x")]).await;
    assert_eq!(
        (s.error, s.assignment),
        (ErrorCode::None, Bytes::from_static(b"x"))
    );
}

#[tokio::test]
async fn failed_writes_of_a_leave_or_an_expiry_change_nothing_until_they_succeed() {
    let h = Harness::new();
    let a = h.single_member_group(None).await;
    h.log.fail_writes(true);
    let codes = h.coord.leave(GROUP, &[(a.clone(), None)]).await;
    assert_eq!(codes, vec![ErrorCode::NotCoordinator]);
    assert_eq!(
        (h.state(), h.members()),
        (GroupState::Stable, vec![a.clone()])
    );

    // Expiry of the last member must be written too: it waits for the log.
    h.clock.advance(super::SESSION * 2);
    h.coord.tick().await;
    assert_eq!(
        (h.state(), h.members()),
        (GroupState::Stable, vec![a.clone()])
    );
    h.log.fail_writes(false);
    h.coord.tick().await;
    assert_eq!((h.state(), h.generation()), (GroupState::Empty, 2));
    assert!(h.members().is_empty());
}

#[tokio::test]
async fn unloading_the_shard_answers_waiting_members_not_coordinator() {
    let h = Harness::new();
    let a = h.single_member_group(None).await;
    // B's join starts a rebalance and waits for A; A's sync of the old generation is not
    // possible, so B waits in JoinGroup until the shard is unloaded.
    let b_join = h.join_later("");
    until(|| h.state() == GroupState::PreparingRebalance).await;
    h.coord.unload().await;
    let rb = b_join.await.unwrap();
    assert_eq!(rb.error, ErrorCode::NotCoordinator);
    // Nothing durable changed: A is still the member the log knows.
    assert_eq!(
        h.replayed().describe(GROUP).map(|d| d.members.len()),
        Some(1)
    );
    assert!(h.members().contains(&a));
}
