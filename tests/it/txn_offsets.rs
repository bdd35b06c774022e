//! TxnOffsetCommit spoken by hand against a real broker: Kafka's per-partition answers, the
//! offsets invisible to OffsetFetch (UNSTABLE_OFFSET_COMMIT with `require_stable`) until the
//! transaction commits, dropped when it aborts, and open transactions surviving a restart of
//! the broker (replayed from `__consumer_offsets`). The transaction coordinator's side (EndTxn
//! writing the markers) is called in-process here.

use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::raw;
use crate::support::{RawClient, TestBroker};

const GROUP: &str = "txn-group";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A TxnOffsetCommit of `(topic, partition, offset, metadata)` by producer `pid` (epoch 0).
fn txn_commit(pid: i64, offsets: &[(&str, i32, i64, &str)]) -> TxnOffsetCommitRequest {
    let topics = offsets
        .iter()
        .map(|(t, p, o, m)| {
            TxnOffsetCommitRequestTopic::default()
                .with_name(raw::topic(t))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(0)
                    .with_committed_metadata(Some(s(m)))])
        })
        .collect();
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx-1")))
        .with_group_id(GroupId(s(GROUP)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(0)
        .with_topics(topics)
}

/// Every partition's `(topic, partition, error)` of a TxnOffsetCommit answer.
fn codes(r: &TxnOffsetCommitResponse) -> Vec<(String, i32, i16)> {
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

/// OffsetFetch v8 of one partition: `(offset, metadata, error)`.
fn fetch(c: &mut RawClient, partition: i32, require_stable: bool) -> (i64, String, i16) {
    let req = OffsetFetchRequest::default()
        .with_require_stable(require_stable)
        .with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(raw::topic("t"))
                .with_partition_indexes(vec![partition])]))]);
    let r = c.call(&req, 8);
    let g = &r.groups[0];
    assert_eq!(g.error_code, 0);
    let p = &g.topics[0].partitions[0];
    let meta = p
        .metadata
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    (p.committed_offset, meta, p.error_code)
}

/// OffsetFetch v7 (one group, the old layout) of one partition: `(offset, error)`.
fn fetch_v7(c: &mut RawClient, partition: i32, require_stable: bool) -> (i64, i16) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(raw::topic("t"))
            .with_partition_indexes(vec![partition])]));
    let r = c.call(&req, 7);
    let p = &r.topics[0].partitions[0];
    (p.committed_offset, p.error_code)
}

fn complete(broker: &TestBroker, pid: i64, commit: bool) {
    broker
        .with_broker(|b| async move {
            let shard = b.group_coordinator(GROUP).await.expect("coordinator");
            shard.complete_transaction(pid, 0, commit, 0).await
        })
        .expect("transaction completed");
}

#[test]
fn transactional_offsets_become_visible_on_commit_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t", 3, &[]), 0);

    // Kafka's per-partition answers: unknown partitions, metadata too large, the rest written.
    let big = "m".repeat(5000);
    let r = c.call(
        &txn_commit(
            1000,
            &[
                ("t", 0, 42, "meta"),
                ("t", 1, 7, &big),
                ("t", 9, 1, ""),
                ("nope", 0, 1, ""),
            ],
        ),
        3,
    );
    assert_eq!(
        codes(&r),
        vec![
            ("t".into(), 0, 0),
            ("t".into(), 1, 12),
            ("t".into(), 9, 3),
            ("nope".into(), 0, 3)
        ]
    );
    // The commit made GROUP a (simple, empty) group: a member of it that does not exist is
    // UNKNOWN_MEMBER_ID (v3+); a generation for a group that does not exist is
    // ILLEGAL_GENERATION. Nothing of either is kept.
    let mut stranger = txn_commit(1001, &[("t", 2, 5, "")]);
    stranger.generation_id = 4;
    stranger.member_id = s("someone");
    assert_eq!(codes(&c.call(&stranger, 3)), vec![("t".into(), 2, 25)]);
    stranger.group_id = GroupId(s("never-seen"));
    assert_eq!(codes(&c.call(&stranger, 3)), vec![("t".into(), 2, 22)]);

    // Pending: invisible, and unstable for a fetch requiring stable offsets (v7+).
    assert_eq!(fetch(&mut c, 0, false), (-1, String::new(), 0));
    assert_eq!(fetch(&mut c, 0, true), (-1, String::new(), 88));
    assert_eq!(fetch_v7(&mut c, 0, true), (-1, 88));
    assert_eq!(fetch(&mut c, 2, true), (-1, String::new(), 0));

    complete(&broker, 1000, true);
    assert_eq!(fetch(&mut c, 0, true), (42, "meta".into(), 0));
    assert_eq!(fetch_v7(&mut c, 0, true), (42, 0));

    // A second transaction left open across a restart.
    let r = c.call(&txn_commit(1002, &[("t", 0, 50, "next")]), 4);
    assert_eq!(codes(&r), vec![("t".into(), 0, 0)]);
    drop(c);
    broker.stop();

    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(fetch(&mut c, 0, false), (42, "meta".into(), 0));
    assert_eq!(
        fetch(&mut c, 0, true),
        (-1, String::new(), 88),
        "still open"
    );
    complete(&broker, 1002, false);
    assert_eq!(fetch(&mut c, 0, true), (42, "meta".into(), 0), "aborted");
    drop(c);
    broker.stop();

    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(fetch(&mut c, 0, true), (42, "meta".into(), 0));
}

#[test]
fn every_served_version_answers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t", 5, &[]), 0);
    for version in 0..=4i16 {
        let pid = 2000 + version as i64;
        let r = c.call(&txn_commit(pid, &[("t", version as i32, 10, "")]), version);
        assert_eq!(
            codes(&r),
            vec![("t".into(), version as i32, 0)],
            "v{version}"
        );
        complete(&broker, pid, true);
        assert_eq!(fetch(&mut c, version as i32, true).0, 10, "v{version}");
    }
}
