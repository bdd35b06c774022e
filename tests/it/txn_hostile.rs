//! Hostile input to the transaction paths, with the raw client: what no well-behaved client
//! sends gets the error Kafka answers and nothing is appended — control batches from clients
//! (INVALID_RECORD), WriteTxnMarkers for unknown partitions and stale producers or
//! coordinators, transactional batches for partitions outside the transaction (KIP-890
//! part 1), EndTxn with a wrong epoch or producer id, AddPartitionsToTxn for an unknown
//! transactional id.

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, EndTxnRequest, ProducerId, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;

use gregor::log::batch::BatchWalker;
use gregor::log::control::{encode_marker_batch, ControlType};

use crate::support::raw::{self, add_partition, init_producer_id, produce_txn};
use crate::support::{now_ms, RawClient, TestBroker};

const INVALID_RECORD: i16 = 87;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
const PRODUCER_FENCED: i16 = 90;

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

/// (log end, last stable offset) of partition `p`: ListOffsets latest, read_uncommitted and
/// read_committed.
fn ends(c: &mut RawClient, t: &str, p: i32) -> (i64, i64) {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
    let mut at = |isolation: i8| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(raw::topic(t))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(p)
                    .with_timestamp(-1)])]);
        let part = c.call(&req, 7).topics.remove(0).partitions.remove(0);
        assert_eq!(part.error_code, 0);
        part.offset
    };
    (at(0), at(1))
}

/// WriteTxnMarkers v1 of one marker: the code of each `(topic, partition)`, in order.
fn write_marker(
    c: &mut RawClient,
    (pid, epoch): (i64, i16),
    commit: bool,
    coordinator_epoch: i32,
    partitions: &[(&str, i32)],
) -> Vec<i16> {
    let topics = partitions
        .iter()
        .map(|(t, p)| {
            WritableTxnMarkerTopic::default()
                .with_name(raw::topic(t))
                .with_partition_indexes(vec![*p])
        })
        .collect();
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_topics(topics)
        .with_coordinator_epoch(coordinator_epoch)]);
    let resp = c.call(&req, 1);
    assert_eq!(resp.markers.len(), 1);
    assert_eq!(resp.markers[0].producer_id.0, pid);
    resp.markers[0]
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

fn end_txn(c: &mut RawClient, id: &str, (pid, epoch): (i64, i16), version: i16) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(true);
    c.call(&req, version).error_code
}

fn state(c: &mut RawClient, id: &str) -> String {
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]);
    c.call(&req, 0).transaction_states[0]
        .transaction_state
        .to_string()
}

#[test]
fn a_control_batch_from_a_client_is_refused_and_nothing_appended() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "hc", 1, &[]), 0);
    // A forged COMMIT from a plain (idempotent) producer: a marker batch is transactional, and
    // a transactional write without a transactional id fails authorisation first, as in Kafka.
    let (pid, epoch) = init_producer_id(&mut c, None);
    let forged = encode_marker_batch(pid, epoch, ControlType::Commit, 0, now_ms()).unwrap();
    let r = raw::produce(&mut c, "hc", 0, forged);
    assert_eq!((r.error_code, r.base_offset), (53, -1));
    assert_eq!(ends(&mut c, "hc", 0), (0, 0));

    // A transactional producer forging the COMMIT of its own open transaction.
    let producer = init_producer_id(&mut c, Some("hc-tx"));
    assert_eq!(add_partition(&mut c, "hc-tx", producer, "hc", 0), 0);
    let data = raw::encode_txn_batch(&["a", "b"], producer, 0, now_ms());
    let r = produce_txn(&mut c, "hc-tx", "hc", 0, data);
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    let forged = encode_marker_batch(producer.0, producer.1, ControlType::Commit, 0, now_ms());
    let r = produce_txn(&mut c, "hc-tx", "hc", 0, forged.unwrap());
    assert_eq!(r.error_code, INVALID_RECORD);
    assert_eq!(
        ends(&mut c, "hc", 0),
        (2, 0),
        "the transaction is still open"
    );
    let fetched = raw::fetch(&mut c, "hc", 0, 0, 1 << 20);
    let records = fetched.records.unwrap_or_default();
    assert!(BatchWalker::new(&records).all(|(_, h)| !h.is_control()));
    assert_eq!(state(&mut c, "hc-tx"), "Ongoing");
}

#[test]
fn write_txn_markers_answers_unknown_partitions_and_stale_markers_with_kafkas_codes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "hm", 1, &[]), 0);
    let producer = (424_242, 3);
    // Unknown topic and unknown partition: UNKNOWN_TOPIC_OR_PARTITION, nothing created.
    let codes = write_marker(&mut c, producer, false, 0, &[("hm-none", 0), ("hm", 5)]);
    assert_eq!(codes, [UNKNOWN_TOPIC_OR_PARTITION; 2]);
    let (code, _) = raw::list_offset(&mut c, "hm-none", 0, -1);
    assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION, "not auto-created");
    assert_eq!(ends(&mut c, "hm", 0), (0, 0));

    // A producer the partition never saw: Kafka writes the marker (it ends no transaction),
    // which is how `kafka-transactions.sh abort` closes a hanging one.
    let codes = write_marker(&mut c, producer, false, 5, &[("hm", 0)]);
    assert_eq!(codes, [0]);
    assert_eq!(
        ends(&mut c, "hm", 0),
        (1, 1),
        "one marker, nothing held open"
    );
    let fetched = raw::fetch(&mut c, "hm", 0, 0, 1 << 20);
    let records = fetched.records.unwrap_or_default();
    let batches: Vec<_> = BatchWalker::new(&records).map(|(_, h)| h).collect();
    assert_eq!(batches.len(), 1);
    assert!(batches[0].is_control());
    assert_eq!(
        (batches[0].producer_id, batches[0].producer_epoch),
        producer
    );

    // An older coordinator epoch than the producer's last marker: fenced, nothing appended.
    let codes = write_marker(&mut c, producer, true, 4, &[("hm", 0)]);
    assert_eq!(codes, [TRANSACTION_COORDINATOR_FENCED]);
    // An older producer epoch: INVALID_PRODUCER_EPOCH, nothing appended.
    let codes = write_marker(&mut c, (producer.0, 2), true, 5, &[("hm", 0)]);
    assert_eq!(codes, [INVALID_PRODUCER_EPOCH]);
    assert_eq!(ends(&mut c, "hm", 0), (1, 1));
}

#[test]
fn a_transactional_batch_for_a_partition_outside_the_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "hv", 2, &[]), 0);
    let producer = init_producer_id(&mut c, Some("hv-tx"));
    let batch = raw::encode_txn_batch(&["x", "y"], producer, 0, now_ms());
    // A transactional batch in a Produce request without a transactional id: Kafka refuses
    // it as an unauthorised transactional write.
    let r = raw::produce(&mut c, "hv", 0, batch.clone());
    assert_eq!((r.error_code, r.base_offset), (53, -1));
    // No transaction at all yet.
    let r = produce_txn(&mut c, "hv-tx", "hv", 0, batch.clone());
    assert_eq!((r.error_code, r.base_offset), (INVALID_TXN_STATE, -1));
    // A transaction holding the other partition only.
    assert_eq!(add_partition(&mut c, "hv-tx", producer, "hv", 1), 0);
    let r = produce_txn(&mut c, "hv-tx", "hv", 0, batch.clone());
    assert_eq!((r.error_code, r.base_offset), (INVALID_TXN_STATE, -1));
    assert_eq!(ends(&mut c, "hv", 0), (0, 0), "nothing appended");
    // Once added, the same batch goes in.
    assert_eq!(add_partition(&mut c, "hv-tx", producer, "hv", 0), 0);
    let r = produce_txn(&mut c, "hv-tx", "hv", 0, batch);
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    assert_eq!(ends(&mut c, "hv", 0), (2, 0));
}

#[test]
fn end_txn_with_a_wrong_epoch_or_producer_is_refused_as_kafka_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "he", 1, &[]), 0);
    let producer = init_producer_id(&mut c, Some("he-tx"));
    assert_eq!(add_partition(&mut c, "he-tx", producer, "he", 0), 0);
    let batch = raw::encode_txn_batch(&["e"], producer, 0, now_ms());
    assert_eq!(produce_txn(&mut c, "he-tx", "he", 0, batch).error_code, 0);

    let newer = (producer.0, producer.1 + 1);
    // KIP-588: v0–1 clients get INVALID_PRODUCER_EPOCH, v2+ PRODUCER_FENCED.
    assert_eq!(end_txn(&mut c, "he-tx", newer, 1), INVALID_PRODUCER_EPOCH);
    assert_eq!(end_txn(&mut c, "he-tx", newer, 3), PRODUCER_FENCED);
    assert_eq!(end_txn(&mut c, "he-tx", newer, 4), PRODUCER_FENCED);
    let other = (producer.0 + 1000, producer.1);
    assert_eq!(
        end_txn(&mut c, "he-tx", other, 4),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(state(&mut c, "he-tx"), "Ongoing");
    assert_eq!(ends(&mut c, "he", 0), (1, 0), "no marker written");
    // The right epoch still commits.
    assert_eq!(end_txn(&mut c, "he-tx", producer, 4), 0);
    assert_eq!(state(&mut c, "he-tx"), "CompleteCommit");
    assert_eq!(ends(&mut c, "he", 0), (2, 2));
}

#[test]
fn add_partitions_for_an_unknown_transactional_id_is_an_invalid_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "ha", 1, &[]), 0);
    let code = add_partition(&mut c, "ha-never-initialised", (77, 0), "ha", 0);
    assert_eq!(code, INVALID_PRODUCER_ID_MAPPING);
    // And a known id with another producer id.
    let producer = init_producer_id(&mut c, Some("ha-tx"));
    let code = add_partition(&mut c, "ha-tx", (producer.0 + 1, producer.1), "ha", 0);
    assert_eq!(code, INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(state(&mut c, "ha-tx"), "Empty");
}
