//! Join, sync, heartbeat, leave, session expiry and static members.

use std::time::Duration;

use bytes::Bytes;

use super::{join_params, until, Harness, GROUP, SESSION};
use crate::error::ErrorCode;
use crate::group::state::GroupState;

#[tokio::test]
async fn first_member_leads_generation_one_and_gets_its_assignment() {
    let h = Harness::new();
    let r = h.join("", None).await;
    assert_eq!(r.error, ErrorCode::None);
    assert_eq!(r.generation, 1);
    assert_eq!(r.leader, r.member_id);
    assert_eq!(r.protocol.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1, "the leader is given the member list");
    assert_eq!(r.members[0].2, Bytes::from_static(b"subscription"));
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    assert!(h.log.is_empty(), "joining alone writes nothing");

    let s = h.sync(&r.member_id, 1, &[(&r.member_id, "mine")]).await;
    assert_eq!(s.error, ErrorCode::None);
    assert_eq!(s.assignment, Bytes::from_static(b"mine"));
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(h.log.len(), 1, "the assignment is written");
    assert_eq!(h.heartbeat(&r.member_id, 1).await, ErrorCode::None);
}

#[tokio::test]
async fn kip394_a_new_member_must_rejoin_with_the_id_it_was_given() {
    let h = Harness::new();
    let first = h.coord.join(join_params("", None, true)).await;
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(first.member_id.starts_with("client-"));
    assert!(h.members().is_empty(), "not a member yet");

    let r = h
        .coord
        .join(join_params(&first.member_id, None, true))
        .await;
    assert_eq!(r.error, ErrorCode::None);
    assert_eq!(r.member_id, first.member_id);
    assert_eq!(r.generation, 1);
    assert_eq!(h.members(), vec![first.member_id]);

    let unknown = h.coord.join(join_params("made-up", None, true)).await;
    assert_eq!(unknown.error, ErrorCode::UnknownMemberId);
}

#[tokio::test]
async fn a_second_member_triggers_a_rebalance_and_followers_get_the_leaders_assignment() {
    let h = Harness::new();
    let (a, b) = h.two_member_group().await;
    assert_eq!(h.generation(), 2);
    assert_eq!(h.state(), GroupState::Stable);
    let d = h.coord.describe(GROUP).unwrap();
    let asg: Vec<_> = d
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.assignment.clone()))
        .collect();
    assert_eq!(
        asg,
        vec![
            (a.clone(), Bytes::from_static(b"a2")),
            (b.clone(), Bytes::from_static(b"b2"))
        ]
    );
    assert_eq!(h.heartbeat(&b, 1).await, ErrorCode::IllegalGeneration);
    assert_eq!(h.heartbeat(&b, 2).await, ErrorCode::None);
    // A follower's SyncGroup after the leader's is answered at once.
    assert_eq!(
        h.sync(&b, 2, &[]).await.assignment,
        Bytes::from_static(b"b2")
    );
}

#[tokio::test]
async fn a_silent_member_expires_after_its_session_timeout_and_the_group_rebalances() {
    let h = Harness::new();
    let (a, b) = h.two_member_group().await;
    h.clock.advance(SESSION / 2 + Duration::from_secs(1));
    assert_eq!(h.heartbeat(&a, 2).await, ErrorCode::None);
    h.coord.tick().await;
    assert_eq!(h.members().len(), 2, "b's session has not run out yet");

    h.clock.advance(SESSION / 2 + Duration::from_secs(1));
    assert_eq!(h.heartbeat(&a, 2).await, ErrorCode::None);
    h.coord.tick().await;
    assert_eq!(
        h.members(),
        vec![a.clone()],
        "b was silent for longer than its session"
    );
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&a, 2).await, ErrorCode::RebalanceInProgress);
    assert_eq!(h.heartbeat(&b, 2).await, ErrorCode::UnknownMemberId);

    let r = h.join(&a, None).await;
    assert_eq!(
        (r.error, r.generation, r.members.len()),
        (ErrorCode::None, 3, 1)
    );

    // Now a falls silent too: the group empties, and that is written.
    let records = h.log.len();
    h.clock.advance(SESSION + Duration::from_secs(1));
    h.coord.tick().await;
    assert_eq!(h.state(), GroupState::Empty);
    assert_eq!(h.generation(), 4);
    assert_eq!(h.log.len(), records + 1);
    let again = h.replayed();
    let d = again.describe(GROUP).unwrap();
    assert_eq!((d.state, d.members.len()), (GroupState::Empty, 0));
}

#[tokio::test]
async fn a_restarted_static_member_gets_its_assignment_back_and_fences_the_old_one() {
    let h = Harness::new();
    let old = h.single_member_group(Some("instance-1")).await;
    let r = h.join("", Some("instance-1")).await;
    assert_eq!(r.error, ErrorCode::None);
    assert_ne!(r.member_id, old);
    assert_eq!(r.generation, 1, "no rebalance");
    assert_eq!(r.leader, r.member_id, "it was the leader and still is");
    assert_eq!(h.state(), GroupState::Stable);
    let s = h.sync(&r.member_id, 1, &[]).await;
    assert_eq!(s.assignment, Bytes::from_static(b"asg-a"));

    let fenced = h.coord.heartbeat(GROUP, &old, Some("instance-1"), 1).await;
    assert_eq!(fenced, ErrorCode::FencedInstanceId);
    let rejoin = h.join(&old, Some("instance-1")).await;
    assert_eq!(rejoin.error, ErrorCode::FencedInstanceId);

    // The replacement was written: a restarted coordinator knows the new member id.
    let again = h.replayed();
    let d = again.describe(GROUP).unwrap();
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id, r.member_id);
    assert_eq!(d.members[0].instance_id.as_deref(), Some("instance-1"));
    assert_eq!(d.members[0].assignment, Bytes::from_static(b"asg-a"));
}

#[tokio::test]
async fn leaving_members_trigger_a_rebalance_and_the_last_one_empties_the_group() {
    let h = Harness::new();
    let (a, b) = h.two_member_group().await;
    let codes = h.coord.leave(GROUP, &[(b.clone(), None)]).await;
    assert_eq!(codes, vec![ErrorCode::None]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let r = h.join(&a, None).await;
    assert_eq!((r.generation, r.members.len()), (3, 1));
    let before = h.log.len();
    let codes = h
        .coord
        .leave(GROUP, &[(a, None), ("nobody".into(), None)])
        .await;
    assert_eq!(codes, vec![ErrorCode::None, ErrorCode::UnknownMemberId]);
    assert_eq!(h.state(), GroupState::Empty);
    assert_eq!(h.log.len(), before + 1, "the empty group is written");
}

#[tokio::test]
async fn a_follower_waiting_on_sync_is_told_to_rejoin_when_a_member_arrives() {
    let h = Harness::new();
    let (a, b) = h.two_member_group().await;
    assert_eq!(h.heartbeat(&a, 2).await, ErrorCode::None);
    // A third member: b's and a's next heartbeats say rebalance.
    let c_join = h.join_later("");
    until(|| h.state() == GroupState::PreparingRebalance).await;
    let a_join = h.join_later(&a);
    let b_join = h.join_later(&b);
    let (ra, rb, rc) = (
        a_join.await.unwrap(),
        b_join.await.unwrap(),
        c_join.await.unwrap(),
    );
    assert_eq!((ra.generation, rb.generation, rc.generation), (3, 3, 3));
    assert_eq!(ra.members.len(), 3, "a is still the leader");
    let c_sync = h.sync_later(&rc.member_id, 3);
    until(|| h.is_waiting_on_sync(&rc.member_id)).await;
    // A fourth member arrives: c's pending SyncGroup is answered REBALANCE_IN_PROGRESS.
    let _d_join = h.join_later("");
    assert_eq!(c_sync.await.unwrap().error, ErrorCode::RebalanceInProgress);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&b, 3).await, ErrorCode::RebalanceInProgress);
}
