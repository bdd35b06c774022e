//! Produce v12 and v13 over the raw protocol: v12's implicit AddPartitionsToTxn (KIP-890
//! part 2: a transactional batch to a partition the transaction does not hold yet is added
//! to it, where v11 is refused INVALID_TXN_STATE) and v13's topic ids (KIP-516: the request
//! and the response name the topic by id, an unknown id is UNKNOWN_TOPIC_ID).

use std::time::Duration;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::support::raw::{self, encode_txn_batch, init_producer_id, produce_request};
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};

const INVALID_TXN_STATE: i16 = 48;
const UNKNOWN_TOPIC_ID: i16 = 100;

fn topic_id(c: &mut RawClient, name: &str) -> Uuid {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(raw::topic(name)))
    ]));
    c.call(&req, 12).topics[0].topic_id
}

fn by_id(id: Uuid, partition: i32, batch: bytes::Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_topic_id(id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])])
}

#[test]
fn produce_v13_names_topics_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "p13", 2, &[]), 0);
    let id = topic_id(&mut c, "p13");
    assert!(!id.is_nil());
    for (i, v) in ["a", "b"].iter().enumerate() {
        let batch = encode_batch(&[(None, v)], None, now_ms());
        let r = c.call(&by_id(id, 1, batch), 13);
        let t = &r.responses[0];
        assert_eq!(t.topic_id, id, "the response names the topic by id");
        assert!(t.name.is_empty());
        let p = &t.partition_responses[0];
        assert_eq!((p.index, p.error_code, p.base_offset), (1, 0, i as i64));
    }
    // The records are where the id points: partition 1 of p13, read back by name.
    let data = raw::fetch(&mut c, "p13", 1, 0, 1 << 20);
    assert_eq!(data.high_watermark, 2);
    let ranges = raw::batch_ranges(data.records.as_ref().expect("records"));
    assert_eq!(ranges, vec![(0, 0), (1, 1)]);

    let unknown = Uuid::from_u128(0x1234);
    let batch = encode_batch(&[(None, "x")], None, now_ms());
    let r = c.call(&by_id(unknown, 0, batch), 13);
    assert_eq!(r.responses[0].topic_id, unknown);
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (UNKNOWN_TOPIC_ID, -1));
    broker.stop();
}

#[test]
fn produce_v12_adds_the_partition_to_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "p12", 2, &[]), 0);
    let txn = init_producer_id(&mut c, Some("p12-tx"));
    let tx_id = Some(TransactionalId(StrBytes::from_static_str("p12-tx")));
    let send = |c: &mut RawClient, partition: i32, version: i16| {
        let batch = encode_txn_batch(&["v"], txn, 0, now_ms());
        let req = produce_request("p12", partition, batch, -1).with_transactional_id(tx_id.clone());
        c.call(&req, version).responses[0].partition_responses[0].clone()
    };
    // v11 (KIP-890 part 1): the partition must have been added first.
    let p = send(&mut c, 0, 11);
    assert_eq!((p.error_code, p.base_offset), (INVALID_TXN_STATE, -1));
    // v12 (part 2): the produce adds it, then appends.
    let p = send(&mut c, 1, 12);
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    // The transaction now holds partition 1 (and not 0): EndTxn commits it and the marker
    // lands on partition 1 only.
    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_static_str("p12-tx")))
        .with_producer_id(ProducerId(txn.0))
        .with_producer_epoch(txn.1)
        .with_committed(true);
    assert_eq!(c.call(&end, 4).error_code, 0);
    crate::support::wait_for(
        "the commit marker on p12-1",
        Duration::from_secs(10),
        || (raw::fetch(&mut c, "p12", 1, 0, 1 << 20).last_stable_offset == 2).then_some(()),
    );
    assert_eq!(raw::fetch(&mut c, "p12", 0, 0, 1 << 20).high_watermark, 0);
    broker.stop();
}
