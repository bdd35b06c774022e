//! DescribeProducers with the raw client: after an idempotent and a transactional producer
//! wrote, each partition this node leads lists both from its log's producer state (epoch,
//! last sequence and timestamp, coordinator epoch, the open transaction's first offset);
//! partitions the image does not know answer UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::PartitionResponse;
use kafka_protocol::messages::{
    DescribeProducersRequest, EndTxnRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::support::raw::{self, add_partition, init_producer_id, produce_txn};
use crate::support::{encode_batch, RawClient, TestBroker};

/// DescribeProducers v0 of `(topic, partitions)`: every partition's answer, in order.
fn describe(c: &mut RawClient, topics: &[(&str, &[i32])]) -> Vec<PartitionResponse> {
    let req = DescribeProducersRequest::default().with_topics(
        topics
            .iter()
            .map(|(t, ps)| {
                TopicRequest::default()
                    .with_name(raw::topic(t))
                    .with_partition_indexes(ps.to_vec())
            })
            .collect(),
    );
    let resp = c.call(&req, 0);
    let names: Vec<String> = resp.topics.iter().map(|t| t.name.to_string()).collect();
    let asked: Vec<&str> = topics.iter().map(|(t, _)| *t).collect();
    assert_eq!(names, asked);
    resp.topics.into_iter().flat_map(|t| t.partitions).collect()
}

/// `(producer id, epoch, last sequence, last timestamp, coordinator epoch, txn start)`.
type Row = (i64, i32, i32, i64, i32, i64);

fn rows(p: &PartitionResponse) -> Vec<Row> {
    assert_eq!(p.error_code, 0, "{:?}", p.error_message);
    p.active_producers
        .iter()
        .map(|s| {
            (
                s.producer_id.0,
                s.producer_epoch,
                s.last_sequence,
                s.last_timestamp,
                s.coordinator_epoch,
                s.current_txn_start_offset,
            )
        })
        .collect()
}

#[test]
fn describe_producers_lists_idempotent_and_transactional_producers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "dp", 2, &[]), 0);
    let ts = raw::now_ms();

    // Idempotent: two batches, sequences 0–1 and 2–4.
    let (idem, idem_epoch) = init_producer_id(&mut c, None);
    let b = encode_batch(
        &[(None, "i0"), (None, "i1")],
        Some((idem, idem_epoch, 0)),
        ts,
    );
    assert_eq!(raw::produce(&mut c, "dp", 0, b).base_offset, 0);
    let recs = [(None, "i2"), (None, "i3"), (None, "i4")];
    let b = encode_batch(&recs, Some((idem, idem_epoch, 2)), ts + 1);
    assert_eq!(raw::produce(&mut c, "dp", 0, b).base_offset, 2);

    // Transactional: one open transaction starting at offset 5.
    let txn = init_producer_id(&mut c, Some("dp-tx"));
    assert_eq!(add_partition(&mut c, "dp-tx", txn, "dp", 0), 0);
    let b = raw::encode_txn_batch(&["t0", "t1"], txn, 0, ts + 2);
    let r = produce_txn(&mut c, "dp-tx", "dp", 0, b);
    assert_eq!((r.error_code, r.base_offset), (0, 5));

    let mut expected: Vec<Row> = vec![
        (idem, idem_epoch.into(), 4, ts + 1, -1, -1),
        (txn.0, txn.1.into(), 1, ts + 2, -1, 5),
    ];
    expected.sort();
    let parts = describe(&mut c, &[("dp", &[0, 1, 7]), ("dp-none", &[0])]);
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0].partition_index, 0);
    assert_eq!(rows(&parts[0]), expected);
    assert_eq!(rows(&parts[1]), [], "partition 1 has no producers");
    assert_eq!((parts[2].partition_index, parts[2].error_code), (7, 3));
    assert!(parts[2].active_producers.is_empty());
    assert_eq!((parts[3].partition_index, parts[3].error_code), (0, 3));

    // Committed: the transaction is closed and the marker's coordinator epoch recorded.
    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_static_str("dp-tx")))
        .with_producer_id(ProducerId(txn.0))
        .with_producer_epoch(txn.1)
        .with_committed(true);
    assert_eq!(c.call(&end, 4).error_code, 0);
    let parts = describe(&mut c, &[("dp", &[0])]);
    let after = rows(&parts[0]);
    let t = after
        .iter()
        .find(|r| r.0 == txn.0)
        .expect("the transactional producer");
    assert_eq!((t.2, t.4, t.5), (1, 0, -1));
    assert!(after.contains(&(idem, idem_epoch.into(), 4, ts + 1, -1, -1)));
}
