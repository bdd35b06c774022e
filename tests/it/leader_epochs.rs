//! Leader epochs as clients see them on one broker: OffsetForLeaderEpoch at every served
//! version (exact end offsets, across a restart), the `current_leader_epoch` checks of Fetch,
//! ListOffsets and OffsetForLeaderEpoch (FENCED_LEADER_EPOCH 74 / UNKNOWN_LEADER_EPOCH 75),
//! the diverging epoch of a fetch whose `last_fetched_epoch` disagrees with the log, fetches
//! from a replica id that is not a follower, the `replication-offset-checkpoint` file, and
//! ListOffsets timestamp lookups bounded by what the isolation level may read.
//!
//! gregor keeps a partition's leader epoch across restarts (0 for a new topic on one node;
//! only a leader change bumps it), so the fenced case is made with an epoch below the
//! broker's that is not −1 (−1 means "do not check").

use std::time::Duration;

use crate::support::raw::{self, topic};
use crate::support::{encode_batch, now_ms, wait_for, RawClient, TestBroker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::EpochEndOffset;
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest,
};

const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// OffsetForLeaderEpoch for one partition: `(error, leader epoch, end offset)`.
fn ofle(
    c: &mut RawClient,
    version: i16,
    t: &str,
    partition: i32,
    current: i32,
    epoch: i32,
) -> (i16, i32, i64) {
    let mut req =
        OffsetForLeaderEpochRequest::default().with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic(t))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)])]);
    if version >= 3 {
        req = req.with_replica_id(BrokerId(-1));
    }
    let resp = c.call(&req, version);
    let p: &EpochEndOffset = &resp.topics[0].partitions[0];
    assert_eq!(p.partition, partition);
    (p.error_code, p.leader_epoch, p.end_offset)
}

fn fetch(
    c: &mut RawClient,
    t: &str,
    replica_id: i32,
    offset: i64,
    current: i32,
    last_fetched: i32,
) -> PartitionData {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic(t))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(current)
                .with_last_fetched_epoch(last_fetched)
                .with_partition_max_bytes(1 << 20)])]);
    c.call(&req, 12).responses[0].partitions[0].clone()
}

fn list_offsets(c: &mut RawClient, t: &str, current: i32, version: i16) -> (i16, i64, i32) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic(t))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(current)
                .with_timestamp(-1)])]);
    let resp = c.call(&req, version);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.offset, p.leader_epoch)
}

fn produce(c: &mut RawClient, t: &str, n: usize) -> i64 {
    let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    let records: Vec<(Option<&str>, &str)> = values.iter().map(|v| (None, v.as_str())).collect();
    let r = raw::produce(c, t, 0, encode_batch(&records, None, now_ms()));
    assert_eq!(r.error_code, 0);
    r.base_offset
}

#[test]
fn offset_for_leader_epoch_answers_every_version_with_exact_end_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "ofle", 1, &[]), 0);
    for v in 2..=4 {
        // The leadership of epoch 0 began at offset 0: known before any append.
        assert_eq!(ofle(&mut c, v, "ofle", 0, -1, 0), (0, 0, 0), "v{v}");
    }
    produce(&mut c, "ofle", 2);
    produce(&mut c, "ofle", 3);
    for v in 2..=4 {
        assert_eq!(ofle(&mut c, v, "ofle", 0, -1, 0), (0, 0, 5), "v{v}");
        assert_eq!(
            ofle(&mut c, v, "ofle", 0, 0, 0),
            (0, 0, 5),
            "v{v} epoch 0 named"
        );
        // A newer epoch than any: UNDEFINED, error NONE.
        assert_eq!(ofle(&mut c, v, "ofle", 0, -1, 7), (0, -1, -1), "v{v}");
        assert_eq!(
            ofle(&mut c, v, "ofle", 0, 1, 0).0,
            UNKNOWN_LEADER_EPOCH,
            "v{v}"
        );
        assert_eq!(
            ofle(&mut c, v, "ofle", 0, -2, 0).0,
            FENCED_LEADER_EPOCH,
            "v{v}"
        );
        assert_eq!(
            ofle(&mut c, v, "ofle", 3, -1, 0).0,
            UNKNOWN_TOPIC_OR_PARTITION
        );
        assert_eq!(
            ofle(&mut c, v, "nope", 0, -1, 0).0,
            UNKNOWN_TOPIC_OR_PARTITION
        );
    }
    // v3+: a debugging client (−2) gets the same answer.
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-2))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic("ofle"))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_leader_epoch(0)])]);
    let p = c.call(&req, 4).topics[0].partitions[0].clone();
    assert_eq!((p.error_code, p.leader_epoch, p.end_offset), (0, 0, 5));
    drop(c);
    broker.stop();

    // After a restart: same epoch, same end offsets, and appends extend the epoch.
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(list_offsets(&mut c, "ofle", -1, 7), (0, 5, 0));
    assert_eq!(ofle(&mut c, 4, "ofle", 0, 0, 0), (0, 0, 5));
    assert_eq!(produce(&mut c, "ofle", 1), 5);
    assert_eq!(ofle(&mut c, 4, "ofle", 0, 0, 0), (0, 0, 6));
}

#[test]
fn fetch_and_list_offsets_check_the_current_leader_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "fence", 1, &[]), 0);
    produce(&mut c, "fence", 3);

    let ok = fetch(&mut c, "fence", -1, 0, 0, -1);
    assert_eq!(ok.error_code, 0);
    assert_eq!(
        raw::batch_ranges(ok.records.as_ref().unwrap()),
        vec![(0, 2)]
    );
    assert_eq!(fetch(&mut c, "fence", -1, 0, -1, -1).error_code, 0);
    let newer = fetch(&mut c, "fence", -1, 0, 1, -1);
    assert_eq!(newer.error_code, UNKNOWN_LEADER_EPOCH);
    assert!(newer.records.as_ref().is_none_or(|r| r.is_empty()));
    assert_eq!(
        fetch(&mut c, "fence", -1, 0, -2, -1).error_code,
        FENCED_LEADER_EPOCH
    );

    for v in 4..=7 {
        assert_eq!(list_offsets(&mut c, "fence", 0, v), (0, 3, 0), "v{v}");
        assert_eq!(list_offsets(&mut c, "fence", -1, v), (0, 3, 0), "v{v}");
        assert_eq!(
            list_offsets(&mut c, "fence", 1, v).0,
            UNKNOWN_LEADER_EPOCH,
            "v{v}"
        );
        assert_eq!(
            list_offsets(&mut c, "fence", -2, v).0,
            FENCED_LEADER_EPOCH,
            "v{v}"
        );
    }
}

#[test]
fn a_fetch_whose_last_fetched_epoch_disagrees_gets_the_diverging_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "div", 1, &[]), 0);
    produce(&mut c, "div", 4);
    produce(&mut c, "div", 2);

    // Epoch 0 ends at 6 here; a fetcher claiming epoch-0 records up to 9 diverged at 6.
    let d = fetch(&mut c, "div", -1, 9, 0, 0);
    assert_eq!(d.error_code, 0);
    assert_eq!(
        (d.diverging_epoch.epoch, d.diverging_epoch.end_offset),
        (0, 6)
    );
    assert!(
        d.records.as_ref().is_none_or(|r| r.is_empty()),
        "no records"
    );
    assert_eq!(d.high_watermark, 6);
    // A made-up epoch 5, newer than any the leader had: it cannot place it, and answers
    // OFFSET_OUT_OF_RANGE as Kafka does.
    let d = fetch(&mut c, "div", -1, 6, 0, 5);
    assert_eq!(d.error_code, OFFSET_OUT_OF_RANGE);
    assert_eq!(d.diverging_epoch.epoch, -1);
    // In agreement: records, no divergence.
    let ok = fetch(&mut c, "div", -1, 4, 0, 0);
    assert_eq!(ok.diverging_epoch.epoch, -1);
    assert_eq!(
        raw::batch_ranges(ok.records.as_ref().unwrap()),
        vec![(4, 5)]
    );
    // Below the log start with an epoch: OFFSET_OUT_OF_RANGE before any divergence.
    assert_eq!(
        fetch(&mut c, "div", -1, -5, 0, 0).error_code,
        OFFSET_OUT_OF_RANGE
    );

    // A broker replica id that is not a follower of the partition (on one node, none is).
    let f = fetch(&mut c, "div", 1, 0, -1, -1);
    assert_eq!(f.error_code, NOT_LEADER_OR_FOLLOWER);
    let f = fetch(&mut c, "div", 1, 0, 0, 0);
    assert_eq!(f.error_code, UNKNOWN_LEADER_EPOCH);
}

#[test]
fn high_watermarks_are_checkpointed_in_kafkas_file() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path(),
        &[("replica.high.watermark.checkpoint.interval.ms", "50")],
    );
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "hwc", 2, &[]), 0);
    produce(&mut c, "hwc", 3);
    let file = dir.path().join("replication-offset-checkpoint");
    let text = wait_for("the periodic checkpoint", Duration::from_secs(20), || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| t.contains("hwc 0 3"))
    });
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "version");
    let count: usize = lines.next().unwrap().parse().unwrap();
    let entries: Vec<&str> = lines.collect();
    assert_eq!(entries.len(), count);
    assert!(entries.contains(&"hwc 1 0"), "{entries:?}");
    produce(&mut c, "hwc", 2);
    drop(c);
    broker.stop();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("hwc 0 5"), "written at shutdown: {text}");
}

/// ListOffsets by timestamp (v7) for `isolation` (1 = read_committed): `(error, offset)`.
fn offset_for_time(c: &mut RawClient, t: &str, ts: i64, isolation: i8) -> (i16, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic(t))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(ts)])]);
    let p = c.call(&req, 7).topics[0].partitions[0].clone();
    (p.error_code, p.offset)
}

#[test]
fn a_timestamp_lookup_finds_only_what_the_isolation_level_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "lot", 1, &[]), 0);
    let t0 = now_ms();
    produce(&mut c, "lot", 2);
    // An open transaction after them, its records newer.
    let pid = raw::init_producer_id(&mut c, Some("lot-tx"));
    assert_eq!(raw::add_partition(&mut c, "lot-tx", pid, "lot", 0), 0);
    let b = raw::encode_txn_batch(&["t0", "t1"], pid, 0, t0 + 60_000);
    assert_eq!(
        raw::produce_txn(&mut c, "lot-tx", "lot", 0, b).error_code,
        0
    );
    // read_uncommitted sees the transaction's records, read_committed stops at the LSO (2).
    assert_eq!(offset_for_time(&mut c, "lot", t0 + 30_000, 0), (0, 2));
    assert_eq!(offset_for_time(&mut c, "lot", t0 + 30_000, 1), (0, -1));
    assert_eq!(offset_for_time(&mut c, "lot", t0, 1), (0, 0));
    assert_eq!(
        offset_for_time(&mut c, "lot", -1, 1),
        (0, 2),
        "latest: the LSO"
    );
}
