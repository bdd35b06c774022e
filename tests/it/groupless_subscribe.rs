//! The requests of a group-less kafka-python 3.0.12 consumer (`group_id=None`, `subscribe()`,
//! `auto_offset_reset='earliest'`) reading a new auto-created topic an idempotent producer just
//! filled (issue 15), at the API versions kafka-python picks when it guesses Kafka 3.8 (older
//! gregor) and 4.1 (gregor now), each answer checked against Kafka's.
//!
//! The one way this sequence was seen to give nothing for 30 s is kafka-python's own: its
//! metadata refresh loop sends a Metadata request with an empty topic list about 100 ms after
//! bootstrap (`retry_backoff_ms`); a `subscribe()` landing while that request is out is lost,
//! because the answer clears the client's "update needed" flag, and the next refresh comes
//! `metadata_max_age_ms` (5 min) later. Kafka answers that request exactly as asserted here (an
//! empty list from v1 on names no topic), so the client would stall against Kafka too.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;

use crate::support::raw::{self, topic};
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};

const TOPIC: &str = "groupless";
const PARTITIONS: i32 = 4;
const PER_PARTITION: usize = 25;

fn metadata(c: &mut RawClient, topics: Option<&[&str]>, version: i16) -> MetadataResponse {
    let topics = topics.map(|ts| {
        ts.iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(topic(t))))
            .collect()
    });
    c.call(
        &MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(true),
        version,
    )
}

/// (partition, error, offset, leader epoch) of ListOffsets earliest for every partition, with
/// the unknown current leader epoch (−1) kafka-python sends.
fn earliest(c: &mut RawClient, version: i16) -> Vec<(i32, i16, i64, i32)> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic(TOPIC))
            .with_partitions(
                (0..PARTITIONS)
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(-2)
                    })
                    .collect(),
            )]);
    let resp = c.call(&req, version);
    let mut out: Vec<_> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code, p.offset, p.leader_epoch))
        .collect();
    out.sort();
    out
}

#[test]
fn a_groupless_consumer_after_an_idempotent_producer_gets_kafkas_answers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("num.partitions", "4")]);
    let mut c = RawClient::connect(&broker.bootstrap());

    // The producer's Metadata auto-creates the topic with num.partitions partitions.
    let m = metadata(&mut c, Some(&[TOPIC]), 12);
    assert_eq!(m.topics[0].error_code, 0);
    let leaders: Vec<_> = m.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.error_code,
                p.leader_id.0,
                p.leader_epoch,
            )
        })
        .collect();
    assert_eq!(
        leaders,
        (0..PARTITIONS).map(|p| (p, 0, 1, 0)).collect::<Vec<_>>()
    );

    // The idempotent producer: 25 keyed records per partition, sequence 0 each.
    let (pid, epoch) = raw::init_producer_id(&mut c, None);
    for p in 0..PARTITIONS {
        let keys: Vec<String> = (0..PER_PARTITION).map(|i| format!("k{p}-{i}")).collect();
        let records: Vec<(Option<&str>, &str)> =
            keys.iter().map(|k| (Some(k.as_str()), "v")).collect();
        let batch = encode_batch(&records, Some((pid, epoch, 0)), now_ms());
        let r = raw::produce(&mut c, TOPIC, p, batch);
        assert_eq!((r.error_code, r.base_offset), (0, 0), "partition {p}");
    }

    // The consumer's refresh before subscribe(): an empty list names no topic from v1 on (Kafka's
    // MetadataRequest.isAllTopics is a null list only) and creates nothing; null names all.
    for version in [1, 4, 9, 12, 13] {
        let m = metadata(&mut c, Some(&[]), version);
        assert!(m.topics.is_empty(), "v{version}: {:?}", m.topics);
        assert_eq!(m.brokers.len(), 1, "v{version}");
    }
    let all = metadata(&mut c, None, 12);
    let names: Vec<_> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(names, vec![TOPIC.to_string()]);

    // After subscribe(): the topic's partitions, then ListOffsets earliest at v7 (Kafka 3.8's
    // kafka-python) and v10 (4.1): offset 0 at leader epoch 0, as Metadata said.
    for version in [12, 13] {
        let m = metadata(&mut c, Some(&[TOPIC]), version);
        assert_eq!(
            m.topics[0].partitions.len(),
            PARTITIONS as usize,
            "v{version}"
        );
    }
    for version in [7, 10] {
        assert_eq!(
            earliest(&mut c, version),
            (0..PARTITIONS).map(|p| (p, 0, 0, 0)).collect::<Vec<_>>(),
            "ListOffsets v{version}"
        );
    }

    // The first Fetch (v12, session 0 at epoch 0: a full request asking for a session) lists
    // every partition it asked for — kafka-python drops a full answer that omits one — each with
    // its 25 records and high watermark 25.
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(52_428_800)
        .with_session_id(0)
        .with_session_epoch(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic(TOPIC))
            .with_partitions(
                (0..PARTITIONS)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_current_leader_epoch(0)
                            .with_fetch_offset(0)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(1_048_576)
                    })
                    .collect(),
            )]);
    let resp = c.call(&req, 12);
    assert_eq!(resp.error_code, 0);
    let mut got: Vec<_> = resp.responses[0]
        .partitions
        .iter()
        .map(|p| {
            let records = p.records.clone().unwrap_or_default();
            let count: i64 = raw::batch_ranges(&records)
                .iter()
                .map(|(first, last)| last - first + 1)
                .sum();
            (p.partition_index, p.error_code, p.high_watermark, count)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        (0..PARTITIONS)
            .map(|p| (p, 0, PER_PARTITION as i64, PER_PARTITION as i64))
            .collect::<Vec<_>>()
    );
}
