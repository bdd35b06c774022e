//! KIP-1251 on the fake clock: a commit sent under the member epoch a heartbeat has just
//! replaced is accepted for the partitions the member held since that epoch, and refused
//! (STALE_MEMBER_EPOCH) for anything it gained or lost since, or under a newer epoch.

use super::tests::{commit_of, harness, settle, Client, TOPIC};
use crate::error::ErrorCode;

#[tokio::test]
async fn a_commit_under_the_previous_epoch_keeps_the_partitions_held_since() {
    let (c, _log, _clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    let first = a.epoch;
    assert_eq!(a.owned[&TOPIC].len(), 6);
    // b joins: a gives up three partitions and moves to the new epoch with the rest.
    let mut clients = vec![a, Client::new("b")];
    settle(&c, &mut clients).await;
    let (a, b) = (&clients[0], &clients[1]);
    assert!(a.epoch > first, "a moved to a newer epoch");
    let kept: Vec<i32> = a.owned[&TOPIC].iter().copied().collect();
    let gained: Vec<i32> = b.owned[&TOPIC].iter().copied().collect();
    assert_eq!((kept.len(), gained.len()), (3, 3));

    // The commit that raced a's heartbeat: its old epoch, a partition it still holds.
    let commit = |epoch, member: &'static str, partition| {
        let c = c.clone();
        async move {
            c.commit_at_version("cg", epoch, member, None, commit_of(partition, 7), 9)
                .await
        }
    };
    assert_eq!(commit(first, "a", kept[0]).await, ErrorCode::None);
    assert_eq!(commit(a.epoch, "a", kept[1]).await, ErrorCode::None);
    // A partition a lost to b: a zombie commit under the old epoch is fenced.
    assert_eq!(
        commit(first, "a", gained[0]).await,
        ErrorCode::StaleMemberEpoch
    );
    // b holds its partitions only since its current epoch.
    assert_eq!(
        commit(b.epoch - 1, "b", gained[0]).await,
        ErrorCode::StaleMemberEpoch
    );
    assert_eq!(commit(b.epoch, "b", gained[0]).await, ErrorCode::None);
    // An epoch the broker never gave out.
    assert_eq!(
        commit(a.epoch + 1, "a", kept[0]).await,
        ErrorCode::StaleMemberEpoch
    );
    let fetched = c.fetch_offsets("cg", Some(vec![("t".into(), kept[..2].to_vec())]));
    assert!(fetched[0]
        .1
        .iter()
        .all(|(_, v)| v.as_ref().map(|v| v.offset) == Some(7)));
}

#[tokio::test]
async fn a_member_that_rejoined_holds_nothing_from_before() {
    let (c, _log, _clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    let mut clients = vec![a, Client::new("b")];
    settle(&c, &mut clients).await;
    let a = &mut clients[0];
    let (before, kept) = (a.epoch, *a.owned[&TOPIC].first().expect("a partition"));
    // a rejoins under its own id with epoch 0 (it gave everything up) and gets a newer epoch.
    a.epoch = 0;
    a.owned.clear();
    a.heartbeat(&c).await;
    assert!(a.epoch > before, "a rejoined at a newer epoch");
    let p = *a.owned[&TOPIC].first().expect("a partition");
    let commit =
        |epoch, partition| c.commit_at_version("cg", epoch, "a", None, commit_of(partition, 7), 9);
    // A commit of its earlier incarnation is a zombie, even for a partition it holds again.
    assert_eq!(commit(before, p).await, ErrorCode::StaleMemberEpoch);
    assert_eq!(commit(before, kept).await, ErrorCode::StaleMemberEpoch);
    assert_eq!(commit(a.epoch, p).await, ErrorCode::None);
}
