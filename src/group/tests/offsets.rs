//! Offset commit, fetch, delete, retention and replay.

use std::time::Duration;

use super::{Harness, GROUP};
use crate::error::ErrorCode;
use crate::group::records::OffsetValue;
use crate::group::state::GroupState;

pub(super) fn offset(n: i64) -> OffsetValue {
    OffsetValue {
        offset: n,
        leader_epoch: 0,
        metadata: format!("m{n}"),
        commit_timestamp: 1_000 + n,
    }
}

pub(super) fn fetched(h: &Harness, topic: &str, partition: i32) -> Option<i64> {
    let all = h
        .coord
        .fetch_offsets(GROUP, Some(vec![(topic.into(), vec![partition])]));
    all[0].1[0].1.as_ref().map(|v| v.offset)
}

#[tokio::test]
async fn commits_are_checked_written_and_fetched() {
    let h = Harness::new();
    // A consumer outside any group ("simple" commit).
    let code = h
        .coord
        .commit(
            GROUP,
            -1,
            "",
            None,
            vec![("t".into(), 0, offset(5)), ("t".into(), 1, offset(7))],
        )
        .await;
    assert_eq!(code, ErrorCode::None);
    assert_eq!(h.log.len(), 2);
    assert_eq!(fetched(&h, "t", 0), Some(5));
    assert_eq!(fetched(&h, "t", 2), None);
    let all = h.coord.fetch_offsets(GROUP, None);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, "t");
    assert_eq!(
        all[0]
            .1
            .iter()
            .map(|(p, v)| (*p, v.clone()))
            .collect::<Vec<_>>(),
        vec![(0, Some(offset(5))), (1, Some(offset(7)))]
    );

    // Members of a group commit with their generation.
    let h = Harness::new();
    let (a, _b) = h.two_member_group().await;
    let bad = h
        .coord
        .commit(GROUP, 1, &a, None, vec![("t".into(), 0, offset(9))])
        .await;
    assert_eq!(bad, ErrorCode::IllegalGeneration);
    let stranger = h
        .coord
        .commit(GROUP, 2, "x", None, vec![("t".into(), 0, offset(9))])
        .await;
    assert_eq!(stranger, ErrorCode::UnknownMemberId);
    assert_eq!(fetched(&h, "t", 0), None, "rejected commits change nothing");
    let ok = h
        .coord
        .commit(GROUP, 2, &a, None, vec![("t".into(), 0, offset(9))])
        .await;
    assert_eq!(ok, ErrorCode::None);
    assert_eq!(fetched(&h, "t", 0), Some(9));
}

#[tokio::test]
async fn a_new_shard_replaying_the_log_has_the_same_groups_and_offsets() {
    let h = Harness::new();
    let (a, b) = h.two_member_group().await;
    for (p, n) in [(0, 10), (1, 11), (0, 12)] {
        let code = h
            .coord
            .commit(GROUP, 2, &a, None, vec![("t".into(), p, offset(n))])
            .await;
        assert_eq!(code, ErrorCode::None);
    }
    let other = "other";
    h.coord
        .commit(other, -1, "", None, vec![("u".into(), 3, offset(30))])
        .await;
    h.coord
        .commit(other, -1, "", None, vec![("u".into(), 4, offset(40))])
        .await;
    let codes = h
        .coord
        .delete_offsets(other, &[("u".into(), 3)])
        .await
        .unwrap();
    assert_eq!(codes, vec![ErrorCode::None]);

    let again = h.replayed();
    assert_eq!(
        again.list(),
        vec![
            (
                GROUP.to_string(),
                "consumer".to_string(),
                GroupState::Stable
            ),
            (other.to_string(), String::new(), GroupState::Empty),
        ]
    );
    for g in [GROUP, other] {
        assert_eq!(again.fetch_offsets(g, None), h.coord.fetch_offsets(g, None));
    }
    let (before, after) = (
        h.coord.describe(GROUP).unwrap(),
        again.describe(GROUP).unwrap(),
    );
    let view = |d: &crate::group::api::GroupDescription| {
        d.members
            .iter()
            .map(|m| {
                (
                    m.member_id.clone(),
                    m.metadata.clone(),
                    m.assignment.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(view(&after), view(&before));
    assert_eq!(view(&after).len(), 2);
    let g = again.runtime.read(|s| {
        let g = s.group(GROUP).unwrap();
        (g.generation, g.leader.clone())
    });
    assert_eq!(g, (2, Some(a.clone())));
    // The restored members heartbeat as before.
    assert_eq!(again.heartbeat(GROUP, &b, None, 2).await, ErrorCode::None);
}

#[tokio::test]
async fn deleting_groups_and_offset_retention_write_tombstones() {
    let h = Harness::new();
    let (a, _b) = h.two_member_group().await;
    assert_eq!(h.coord.delete_group(GROUP).await, ErrorCode::NonEmptyGroup);
    h.coord
        .commit(GROUP, 2, &a, None, vec![("t".into(), 0, offset(1))])
        .await;

    // "other" empties now and keeps its offsets for the retention time (60 s here).
    h.coord
        .commit("other", -1, "", None, vec![("u".into(), 0, offset(2))])
        .await;
    h.clock.advance(Duration::from_secs(30));
    assert_eq!(
        h.coord.delete_group("nothing").await,
        ErrorCode::GroupIdNotFound
    );
    h.coord.tick().await;
    h.coord.tick().await;
    assert!(h.coord.describe("other").is_some());
    h.clock.advance(Duration::from_secs(31));
    // Keep the members of GROUP alive.
    for m in h.members() {
        assert_eq!(h.heartbeat(&m, 2).await, ErrorCode::None);
    }
    h.coord.tick().await;
    assert!(
        h.coord.describe("other").is_none(),
        "retired after offsets.retention"
    );
    assert_eq!(h.coord.fetch_offsets("other", None), vec![]);
    assert_eq!(h.replayed().fetch_offsets("other", None), vec![]);
    assert!(h.replayed().describe("other").is_none());
    assert_eq!(
        fetched(&h, "t", 0),
        Some(1),
        "a live group keeps its offsets"
    );
}
