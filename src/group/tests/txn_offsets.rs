//! Offsets committed inside transactions: pending until the marker, committed or dropped by
//! it, rebuilt by replay, unstable for OffsetFetch meanwhile.

use super::offsets::{fetched, offset};
use super::{Harness, GROUP};
use crate::coordinator::log::{CoordinatorLog, LogEntry, TxnProducer};
use crate::error::ErrorCode;
use crate::group::api::TxnCommitParams;
use crate::group::coordinator::GroupCoordinator;
use crate::group::records::GroupRecord;

const PID: i64 = 4000;
const EPOCH: i16 = 3;

/// A TxnOffsetCommit as v0–2 send it (no member, generation −1).
fn txn(group: &str, pid: i64, epoch: i16, offsets: &[(&str, i32, i64)]) -> TxnCommitParams {
    TxnCommitParams {
        group_id: group.into(),
        producer_id: pid,
        producer_epoch: epoch,
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        offsets: offsets
            .iter()
            .map(|(t, p, o)| (t.to_string(), *p, offset(*o)))
            .collect(),
    }
}

/// OffsetFetch of one partition: `(offset, error)`.
fn fetch(c: &GroupCoordinator, topic: &str, partition: i32, stable: bool) -> (i64, ErrorCode) {
    let all = c.fetch_offsets_stable(GROUP, Some(vec![(topic.into(), vec![partition])]), stable);
    let (_, v, code) = &all[0].1[0];
    (v.as_ref().map_or(-1, |v| v.offset), *code)
}

#[tokio::test]
async fn transactional_offsets_are_invisible_until_the_commit_marker() {
    let h = Harness::new();
    let plain = h
        .coord
        .commit(GROUP, -1, "", None, vec![("t".into(), 0, offset(5))])
        .await;
    assert_eq!(plain, ErrorCode::None);
    let code = h
        .coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 50), ("t", 1, 60)]))
        .await;
    assert_eq!(code, ErrorCode::None);

    // Written as one transactional batch of the producer.
    let entries = h.log.read_all().unwrap();
    assert_eq!(entries.len(), 3);
    let producer = TxnProducer {
        producer_id: PID,
        producer_epoch: EPOCH,
    };
    for e in &entries[1..] {
        let LogEntry::Record {
            record,
            producer: p,
        } = e
        else {
            panic!("a record expected, got {e:?}");
        };
        assert_eq!(*p, Some(producer));
        let r = GroupRecord::decode(record.0.clone(), record.1.clone()).unwrap();
        assert!(matches!(r, GroupRecord::Offset { ref group, .. } if group == GROUP));
    }

    assert_eq!(
        fetched(&h, "t", 0),
        Some(5),
        "the committed offset, not the pending one"
    );
    assert_eq!(fetched(&h, "t", 1), None);
    assert!(h.coord.has_pending_transactional_offset(GROUP, "t", 1));
    assert_eq!(fetch(&h.coord, "t", 0, false), (5, ErrorCode::None));
    assert_eq!(
        fetch(&h.coord, "t", 0, true),
        (-1, ErrorCode::UnstableOffsetCommit)
    );
    assert_eq!(
        fetch(&h.coord, "t", 1, true),
        (-1, ErrorCode::UnstableOffsetCommit)
    );
    assert_eq!(fetch(&h.coord, "t", 2, true), (-1, ErrorCode::None));
    // Fetching every partition lists only committed ones, unstable when pending.
    let all = h.coord.fetch_offsets_stable(GROUP, None, true);
    assert_eq!(
        all,
        vec![(
            "t".to_string(),
            vec![(0, None, ErrorCode::UnstableOffsetCommit)]
        )]
    );

    h.coord
        .complete_transaction(PID, EPOCH, true, 0)
        .await
        .unwrap();
    assert_eq!(
        h.log.read_all().unwrap().last(),
        Some(&LogEntry::Marker {
            producer,
            commit: true
        })
    );
    assert_eq!(fetched(&h, "t", 0), Some(50));
    assert_eq!(fetched(&h, "t", 1), Some(60));
    assert_eq!(fetch(&h.coord, "t", 1, true), (60, ErrorCode::None));
    assert!(!h.coord.has_pending_transactional_offset(GROUP, "t", 1));
    let stored = h
        .coord
        .fetch_offsets(GROUP, Some(vec![("t".into(), vec![1])]));
    assert_eq!(stored[0].1[0].1, Some(offset(60)), "metadata and all");

    // After a restart the same.
    let again = h.replayed();
    assert_eq!(
        again.fetch_offsets(GROUP, None),
        h.coord.fetch_offsets(GROUP, None)
    );
}

#[tokio::test]
async fn an_abort_marker_drops_the_pending_offsets() {
    let h = Harness::new();
    h.coord
        .commit(GROUP, -1, "", None, vec![("t".into(), 0, offset(5))])
        .await;
    let code = h
        .coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 50), ("u", 0, 70)]))
        .await;
    assert_eq!(code, ErrorCode::None);
    // The transaction coordinator bumps the epoch when it aborts on a timeout.
    h.coord
        .complete_transaction(PID, EPOCH + 1, false, 0)
        .await
        .unwrap();
    assert_eq!(fetched(&h, "t", 0), Some(5));
    assert_eq!(fetched(&h, "u", 0), None);
    assert_eq!(fetch(&h.coord, "t", 0, true), (5, ErrorCode::None));
    // A late commit marker finds nothing left to commit.
    h.coord
        .complete_transaction(PID, EPOCH + 1, true, 0)
        .await
        .unwrap();
    assert_eq!(fetched(&h, "u", 0), None);
    assert_eq!(
        h.replayed().fetch_offsets(GROUP, None),
        h.coord.fetch_offsets(GROUP, None)
    );
}

#[tokio::test]
async fn a_restart_keeps_open_transactions_and_commits_them_afterwards() {
    let h = Harness::new();
    h.coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 50)]))
        .await;
    h.coord
        .commit_transactional(txn("other", PID + 1, 0, &[("t", 0, 90)]))
        .await;
    h.coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 1, 51)]))
        .await;

    let again = h.replayed();
    let pending = |c: &GroupCoordinator, pid, group: &str, p| {
        c.runtime
            .read(|s| s.txn.pending(pid, group, "t", p).map(|v| v.offset))
    };
    assert_eq!(pending(&again, PID, GROUP, 0), Some(50));
    assert_eq!(pending(&again, PID, GROUP, 1), Some(51));
    assert_eq!(pending(&again, PID + 1, "other", 0), Some(90));
    assert_eq!(fetch(&again, "t", 0, false), (-1, ErrorCode::None));
    assert_eq!(
        fetch(&again, "t", 0, true),
        (-1, ErrorCode::UnstableOffsetCommit)
    );
    assert!(again.describe("other").is_some(), "a simple group exists");

    again
        .complete_transaction(PID, EPOCH, true, 0)
        .await
        .unwrap();
    assert_eq!(fetch(&again, "t", 0, true), (50, ErrorCode::None));
    assert_eq!(fetch(&again, "t", 1, true), (51, ErrorCode::None));
    assert_eq!(pending(&again, PID + 1, "other", 0), Some(90), "untouched");
    let third = h.replayed();
    assert_eq!(fetch(&third, "t", 1, true), (51, ErrorCode::None));
    assert_eq!(pending(&third, PID + 1, "other", 0), Some(90));
}

#[tokio::test]
async fn a_failed_write_is_an_error_and_changes_nothing() {
    let h = Harness::new();
    h.log.fail_writes(true);
    let code = h
        .coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 50)]))
        .await;
    assert_eq!(code, ErrorCode::NotCoordinator);
    assert!(!h.coord.has_pending_transactional_offset(GROUP, "t", 0));
    assert!(h.log.is_empty());
    h.log.fail_writes(false);

    h.coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 50)]))
        .await;
    let before = h.log.len();
    h.log.fail_writes(true);
    let err = h
        .coord
        .complete_transaction(PID, EPOCH, true, 0)
        .await
        .expect_err("the marker write fails");
    assert_eq!(
        crate::coordinator::runtime::write_error_code(&err),
        ErrorCode::NotCoordinator
    );
    assert_eq!(h.log.len(), before);
    assert_eq!(fetched(&h, "t", 0), None, "still not committed");
    assert!(h.coord.has_pending_transactional_offset(GROUP, "t", 0));
    h.log.fail_writes(false);
    h.coord
        .complete_transaction(PID, EPOCH, true, 0)
        .await
        .unwrap();
    assert_eq!(fetched(&h, "t", 0), Some(50));
}

#[tokio::test]
async fn group_and_producer_checks_are_kafkas() {
    let h = Harness::new();
    // A group that does not exist takes only a generation −1 commit.
    let mut p = txn(GROUP, PID, EPOCH, &[("t", 0, 1)]);
    p.generation = 2;
    assert_eq!(
        h.coord.commit_transactional(p).await,
        ErrorCode::IllegalGeneration
    );
    let mut p = txn("", PID, EPOCH, &[("t", 0, 1)]);
    p.group_id.clear();
    assert_eq!(
        h.coord.commit_transactional(p).await,
        ErrorCode::InvalidGroupId
    );
    assert_eq!(
        h.coord
            .commit_transactional(txn(GROUP, -1, EPOCH, &[("t", 0, 1)]))
            .await,
        ErrorCode::InvalidRequest
    );
    assert!(h.log.is_empty(), "nothing written");

    let (a, _b) = h.two_member_group().await;
    let records = h.log.len();
    let member = |generation, member: &str, instance: Option<&str>| {
        let mut p = txn(GROUP, PID, EPOCH, &[("t", 0, 7)]);
        p.generation = generation;
        p.member_id = member.into();
        p.instance_id = instance.map(str::to_string);
        p
    };
    let c = &h.coord;
    assert_eq!(
        c.commit_transactional(member(1, &a, None)).await,
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        c.commit_transactional(member(2, "x", None)).await,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        c.commit_transactional(member(2, "", None)).await,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(h.log.len(), records, "rejected commits write nothing");
    assert_eq!(
        c.commit_transactional(member(2, &a, None)).await,
        ErrorCode::None
    );
    // Versions before 3 carry no member: accepted in a live group (a plain commit is not).
    let v0 = txn(GROUP, PID, EPOCH, &[("t", 1, 8)]);
    assert_eq!(c.commit_transactional(v0).await, ErrorCode::None);
    assert_eq!(
        c.commit(GROUP, -1, "", None, vec![("t".into(), 1, offset(8))])
            .await,
        ErrorCode::UnknownMemberId
    );

    // A producer epoch older than its open transaction's is fenced, for commits and markers.
    let old = txn(GROUP, PID, EPOCH - 1, &[("t", 2, 9)]);
    assert_eq!(
        c.commit_transactional(old).await,
        ErrorCode::InvalidProducerEpoch
    );
    let err = c
        .complete_transaction(PID, EPOCH - 1, true, 0)
        .await
        .expect_err("fenced");
    assert_eq!(err.code(), ErrorCode::InvalidProducerEpoch);
    assert!(c.has_pending_transactional_offset(GROUP, "t", 0));
    c.complete_transaction(PID, EPOCH, true, 0).await.unwrap();
    assert_eq!(
        (fetched(&h, "t", 0), fetched(&h, "t", 1)),
        (Some(7), Some(8))
    );
}

#[tokio::test]
async fn a_static_member_of_another_instance_is_fenced() {
    let h = Harness::new();
    let m = h.single_member_group(Some("i1")).await;
    let mut p = txn(GROUP, PID, EPOCH, &[("t", 0, 1)]);
    (p.generation, p.member_id, p.instance_id) = (1, "stranger".into(), Some("i1".into()));
    assert_eq!(
        h.coord.commit_transactional(p).await,
        ErrorCode::FencedInstanceId
    );
    let mut p = txn(GROUP, PID, EPOCH, &[("t", 0, 1)]);
    (p.generation, p.member_id, p.instance_id) = (1, m, Some("i1".into()));
    assert_eq!(h.coord.commit_transactional(p).await, ErrorCode::None);
}

#[tokio::test]
async fn the_newest_record_wins_between_plain_and_transactional_commits() {
    let h = Harness::new();
    let plain = |p, n| {
        let c = h.coord.clone();
        async move {
            c.commit(GROUP, -1, "", None, vec![("t".into(), p, offset(n))])
                .await
        }
    };
    // Partition 0: plain commit, then the transaction's record → the transaction wins.
    // Partition 1: the transaction's record, then a plain commit → the plain commit stays.
    plain(0, 1).await;
    h.coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 100), ("t", 1, 100)]))
        .await;
    plain(1, 2).await;
    assert_eq!(
        fetched(&h, "t", 1),
        Some(2),
        "a plain commit is not held back"
    );
    h.coord
        .complete_transaction(PID, EPOCH, true, 0)
        .await
        .unwrap();
    assert_eq!(
        (fetched(&h, "t", 0), fetched(&h, "t", 1)),
        (Some(100), Some(2))
    );
    let again = h.replayed();
    assert_eq!(fetch(&again, "t", 0, true), (100, ErrorCode::None));
    assert_eq!(fetch(&again, "t", 1, true), (2, ErrorCode::None));
}

#[tokio::test]
async fn deleting_offsets_or_the_group_removes_pending_ones_too() {
    let h = Harness::new();
    h.coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 10), ("t", 1, 11)]))
        .await;
    let codes = h
        .coord
        .delete_offsets(GROUP, &[("t".into(), 0)])
        .await
        .unwrap();
    assert_eq!(codes, vec![ErrorCode::None]);
    assert!(!h.coord.has_pending_transactional_offset(GROUP, "t", 0));
    assert!(h.coord.has_pending_transactional_offset(GROUP, "t", 1));

    assert_eq!(h.coord.delete_group(GROUP).await, ErrorCode::None);
    assert!(!h.coord.has_pending_transactional_offset(GROUP, "t", 1));
    h.coord
        .complete_transaction(PID, EPOCH, true, 0)
        .await
        .unwrap();
    assert_eq!(h.coord.fetch_offsets(GROUP, None), vec![]);
    assert_eq!(h.replayed().fetch_offsets(GROUP, None), vec![]);
}

#[tokio::test]
async fn an_open_transaction_keeps_an_empty_group_from_expiring() {
    let h = Harness::new();
    h.coord
        .commit(GROUP, -1, "", None, vec![("t".into(), 0, offset(1))])
        .await;
    h.coord
        .commit_transactional(txn(GROUP, PID, EPOCH, &[("t", 0, 2)]))
        .await;
    h.clock.advance(std::time::Duration::from_secs(120));
    h.coord.tick().await;
    assert_eq!(
        fetched(&h, "t", 0),
        Some(1),
        "not retired while the transaction is open"
    );
    h.coord
        .complete_transaction(PID, EPOCH, true, 0)
        .await
        .unwrap();
    assert_eq!(fetched(&h, "t", 0), Some(2));
    h.clock.advance(std::time::Duration::from_secs(120));
    h.coord.tick().await;
    assert_eq!(fetched(&h, "t", 0), None, "retired once it ended");
}
