//! What the versions raised for issue 15 add, over the raw protocol on one broker: Fetch
//! v16's KIP-951 leader hints (a FENCED_LEADER_EPOCH partition carries the current leader and
//! the response its endpoint; v15 has neither) and ListOffsets v8/v9's earliest-local (−4)
//! and latest-tiered (−5) timestamps.

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use uuid::Uuid;

use crate::support::raw::{self, topic};
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};

const FENCED_LEADER_EPOCH: i16 = 74;

fn topic_id(c: &mut RawClient, name: &str) -> Uuid {
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic(name)))
    ]));
    c.call(&req, 12).topics[0].topic_id
}

fn fetch(c: &mut RawClient, id: Uuid, current_leader_epoch: i32, version: i16) -> FetchResponse {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_partition_max_bytes(1 << 20)])]);
    c.call(&req, version)
}

#[test]
fn fetch_v16_names_the_current_leader_on_a_leader_error() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let addr = broker.bootstrap();
    let mut c = RawClient::connect(&addr);
    assert_eq!(raw::create_topic(&mut c, "hint", 1, &[]), 0);
    raw::produce(
        &mut c,
        "hint",
        0,
        encode_batch(&[(None, "v")], None, now_ms()),
    );
    let id = topic_id(&mut c, "hint");

    // An epoch below the leader's (−2; −1 means "unchecked"): fenced, with the hint.
    let r = fetch(&mut c, id, -2, 16);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, FENCED_LEADER_EPOCH);
    assert_eq!(
        (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
        (1, 0)
    );
    let endpoints: Vec<(i32, String)> = r
        .node_endpoints
        .iter()
        .map(|n| (n.node_id.0, format!("{}:{}", n.host, n.port)))
        .collect();
    assert_eq!(endpoints, vec![(1, addr.clone())]);

    // v15 predates KIP-951's fetch hints: the same error, no hint.
    let r = fetch(&mut c, id, -2, 15);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, FENCED_LEADER_EPOCH);
    assert_eq!(p.current_leader.leader_id.0, -1);
    assert!(r.node_endpoints.is_empty());

    // No error, no hint — and the record is there.
    for v in [16, 17, 18] {
        let r = fetch(&mut c, id, 0, v);
        let p = &r.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, 1), "v{v}");
        assert_eq!(raw::batch_ranges(p.records.as_ref().unwrap()), vec![(0, 0)]);
        assert_eq!(p.current_leader.leader_id.0, -1);
        assert!(r.node_endpoints.is_empty());
    }
    broker.stop();
}

/// ListOffsets at `version` for partition 0: `(error, offset, leader epoch)`.
fn list_offsets(c: &mut RawClient, t: &str, timestamp: i64, version: i16) -> (i16, i64, i32) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic(t))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)])]);
    let r = c.call(&req, version);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset, p.leader_epoch)
}

#[test]
fn list_offsets_v8_v9_earliest_local_and_latest_tiered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "tiers", 1, &[]), 0);
    for v in ["a", "b", "c"] {
        raw::produce(
            &mut c,
            "tiers",
            0,
            encode_batch(&[(None, v)], None, now_ms()),
        );
    }
    // The log start moves to 2: earliest-local follows it (no tiered storage: the local
    // log is the whole log).
    let del = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic("tiers"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(2)])]);
    let r = c.call(&del, 2);
    assert_eq!(r.topics[0].partitions[0].low_watermark, 2);
    for v in 8..=10 {
        assert_eq!(list_offsets(&mut c, "tiers", -4, v), (0, 2, 0), "v{v}");
        assert_eq!(list_offsets(&mut c, "tiers", -2, v), (0, 2, 0), "v{v}");
        assert_eq!(list_offsets(&mut c, "tiers", -1, v), (0, 3, 0), "v{v}");
    }
    // Latest-tiered: Kafka's answer for a topic without remote storage, offset and epoch −1.
    for v in 9..=10 {
        assert_eq!(list_offsets(&mut c, "tiers", -5, v), (0, -1, -1), "v{v}");
    }
    broker.stop();
}
