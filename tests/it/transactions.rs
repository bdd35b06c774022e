//! Transactions with a real client: rdkafka's transactional producer commits and aborts
//! against a real broker, and the log holds the records followed by the COMMIT or ABORT
//! control batch (read with read_uncommitted); a second producer with the same
//! transactional.id fences the first; offsets sent to a transaction become the group's only
//! when it commits.

use std::time::Duration;

use bytes::Bytes;
use futures::executor::block_on;
use gregor::log::batch::{BatchHeader, BatchWalker};
use gregor::log::control::{decode_marker, ControlType};
use gregor::log::records::decode;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, ListTransactionsRequest, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::support::clients;
use crate::support::raw;
use crate::support::{RawClient, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(20);

fn transactional(bs: &str, id: &str) -> FutureProducer {
    let p = clients::producer(bs, &[("transactional.id", id), ("acks", "all")]);
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p
}

fn send(p: &FutureProducer, topic: &str, partition: i32, value: &str) {
    let r = FutureRecord::<str, str>::to(topic)
        .partition(partition)
        .payload(value);
    block_on(p.send(r, TIMEOUT))
        .map_err(|(e, _)| e)
        .expect("delivered");
}

/// Every batch of a partition (read_uncommitted), with its bytes.
fn batches(bs: &str, topic: &str, partition: i32) -> Vec<(BatchHeader, Bytes)> {
    let mut c = RawClient::connect(bs);
    let data = raw::fetch(&mut c, topic, partition, 0, 4 << 20);
    assert_eq!(data.error_code, 0);
    let records = data.records.unwrap_or_default();
    BatchWalker::new(&records)
        .map(|(pos, h)| {
            let bytes = records.slice(pos..pos + h.total_size());
            (h, bytes)
        })
        .collect()
}

/// The marker a control batch carries.
fn marker_of(batch: &Bytes) -> ControlType {
    let recs = decode(batch).expect("control batch decodes");
    assert_eq!(recs.len(), 1, "one marker record");
    let key = recs[0].key.clone().expect("marker key");
    let value = recs[0].value.clone().expect("marker value");
    decode_marker(&key, &value).expect("a marker").kind
}

/// The values of the data batches.
fn values(batches: &[(BatchHeader, Bytes)]) -> Vec<String> {
    batches
        .iter()
        .filter(|(h, _)| !h.is_control())
        .flat_map(|(_, b)| decode(b).expect("batch decodes"))
        .map(|r| String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap())
        .collect()
}

#[test]
fn committed_records_are_followed_by_a_commit_marker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "txc", 2, &[]);
    let p = transactional(&bs, "tx-commit");
    p.begin_transaction().unwrap();
    for i in 0..10 {
        send(&p, "txc", i % 2, &format!("v{i}"));
    }
    p.commit_transaction(TIMEOUT).expect("commit");

    for part in 0..2 {
        let bs_ = batches(&bs, "txc", part);
        let (last, bytes) = bs_.last().expect("batches");
        assert!(last.is_control() && last.is_transactional(), "{last:?}");
        assert_eq!(marker_of(bytes), ControlType::Commit);
        let data: Vec<&BatchHeader> = bs_
            .iter()
            .map(|(h, _)| h)
            .filter(|h| !h.is_control())
            .collect();
        assert!(data.iter().all(|h| h.is_transactional()));
        assert!(data.iter().all(|h| h.producer_id == last.producer_id));
        let expected: Vec<String> = (0..10)
            .filter(|i| i % 2 == part)
            .map(|i| format!("v{i}"))
            .collect();
        assert_eq!(values(&bs_), expected);
    }

    // A second transaction on the same producer, aborted this time.
    p.begin_transaction().unwrap();
    send(&p, "txc", 0, "second");
    p.abort_transaction(TIMEOUT).expect("abort");
    let bs_ = batches(&bs, "txc", 0);
    let (last, bytes) = bs_.last().unwrap();
    assert!(last.is_control());
    assert_eq!(marker_of(bytes), ControlType::Abort);
    assert_eq!(values(&bs_).last().map(String::as_str), Some("second"));
}

#[test]
fn aborted_records_are_followed_by_an_abort_marker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "txa", 1, &[]);
    let p = transactional(&bs, "tx-abort");
    p.begin_transaction().unwrap();
    for i in 0..5 {
        send(&p, "txa", 0, &format!("a{i}"));
    }
    p.abort_transaction(TIMEOUT).expect("abort");
    let bs_ = batches(&bs, "txa", 0);
    let (last, bytes) = bs_.last().expect("batches");
    assert!(last.is_control() && last.is_transactional());
    assert_eq!(marker_of(bytes), ControlType::Abort);
    assert_eq!(
        values(&bs_),
        (0..5).map(|i| format!("a{i}")).collect::<Vec<_>>()
    );
    // DescribeTransactions and ListTransactions report it.
    let mut c = RawClient::connect(&bs);
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("tx-abort"))]);
    let d = c.call(&req, 0).transaction_states.remove(0);
    assert_eq!(
        (d.error_code, d.transaction_state.as_str()),
        (0, "CompleteAbort")
    );
    assert_eq!(d.producer_id, last.producer_id);
    let req = ListTransactionsRequest::default()
        .with_state_filters(vec![StrBytes::from_static_str("CompleteAbort")])
        .with_duration_filter(-1);
    let listed = c.call(&req, 1).transaction_states;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].transactional_id.as_str(), "tx-abort");
}

#[test]
fn a_second_producer_with_the_same_id_fences_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "txf", 1, &[]);
    let first = transactional(&bs, "tx-fence");
    first.begin_transaction().unwrap();
    send(&first, "txf", 0, "from-first");

    // The second instance's init aborts the first one's open transaction.
    let second = transactional(&bs, "tx-fence");
    let bs_ = batches(&bs, "txf", 0);
    let (last, bytes) = bs_.last().expect("batches");
    assert!(last.is_control());
    assert_eq!(marker_of(bytes), ControlType::Abort);
    let first_epoch = bs_[0].0.producer_epoch;
    assert!(
        last.producer_epoch > first_epoch,
        "the marker fences the old epoch"
    );

    let err = first
        .commit_transaction(TIMEOUT)
        .expect_err("the fenced producer cannot commit");
    let code = match &err {
        KafkaError::Transaction(e) => e.code(),
        other => panic!("unexpected error {other:?}"),
    };
    assert!(
        matches!(
            code,
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::Fenced
        ),
        "{err:?}"
    );

    // The new instance works.
    second.begin_transaction().unwrap();
    send(&second, "txf", 0, "from-second");
    second.commit_transaction(TIMEOUT).expect("commit");
    let bs_ = batches(&bs, "txf", 0);
    let (last, bytes) = bs_.last().unwrap();
    assert_eq!(marker_of(bytes), ControlType::Commit);
    assert_eq!(values(&bs_), vec!["from-first", "from-second"]);
    assert!(last.producer_epoch > first_epoch);
}

#[test]
fn offsets_sent_to_a_transaction_are_committed_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "txo-in", 1, &[]);
    clients::create_topic(&bs, "txo-out", 1, &[]);
    let consumer: BaseConsumer = clients::config(
        &bs,
        &[("group.id", "txo-group"), ("enable.auto.commit", "false")],
    )
    .create()
    .expect("consumer");
    let group = consumer.group_metadata().expect("group metadata");
    let offsets = |o: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("txo-in", 0, Offset::Offset(o))
            .unwrap();
        tpl
    };
    let p = transactional(&bs, "tx-offsets");
    // Aborted: the offset is dropped.
    p.begin_transaction().unwrap();
    send(&p, "txo-out", 0, "x");
    p.send_offsets_to_transaction(&offsets(5), &group, TIMEOUT)
        .expect("send offsets");
    p.abort_transaction(TIMEOUT).expect("abort");
    let committed = |c: &BaseConsumer| {
        let tpl = c
            .committed_offsets(offsets(0), Duration::from_secs(10))
            .expect("committed offsets");
        tpl.find_partition("txo-in", 0).map(|e| e.offset())
    };
    assert_eq!(committed(&consumer), Some(Offset::Invalid));
    // Committed: the offset is the group's.
    p.begin_transaction().unwrap();
    send(&p, "txo-out", 0, "y");
    p.send_offsets_to_transaction(&offsets(7), &group, TIMEOUT)
        .expect("send offsets");
    p.commit_transaction(TIMEOUT).expect("commit");
    assert_eq!(committed(&consumer), Some(Offset::Offset(7)));
    // __consumer_offsets-0 was part of the transaction.
    let mut c = RawClient::connect(&bs);
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(
        StrBytes::from_static_str("tx-offsets"),
    )]);
    let d = c.call(&req, 0).transaction_states.remove(0);
    assert_eq!(d.transaction_state.as_str(), "CompleteCommit");
}
