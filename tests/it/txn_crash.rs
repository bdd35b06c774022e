//! Transactions across a broker kill -9 (a real `gregor` process): a transaction left open is
//! aborted by its timeout after the restart and read_committed consumers move past it (the
//! last stable offset never stays stuck); a transaction killed between its PrepareCommit
//! record and its markers (held there by the hidden `serve --fail-markers-for TOPIC` seam) is
//! committed after the restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::executor::block_on;
use gregor::log::batch::{BatchHeader, BatchWalker};
use gregor::log::control::{decode_marker, ControlType};
use gregor::log::records::decode;
use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, DescribeTransactionsRequest, ListOffsetsRequest, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::{clients, free_port, raw, wait_for, BrokerProcess, RawClient};

const TIMEOUT: Duration = Duration::from_secs(20);

fn send(p: &FutureProducer, topic: &str, value: &str) {
    let r = FutureRecord::<str, str>::to(topic)
        .partition(0)
        .payload(value);
    block_on(p.send(r, TIMEOUT))
        .map_err(|(e, _)| e)
        .expect("delivered");
}

/// DescribeTransactions of one id.
fn describe(bs: &str, id: &str) -> TransactionState {
    let mut c = RawClient::connect(bs);
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.into()))]);
    let mut states = c.call(&req, 0).transaction_states;
    assert_eq!(states.len(), 1);
    states.remove(0)
}

/// ListOffsets latest of partition 0 at an isolation level (0 uncommitted, 1 committed).
fn latest(bs: &str, topic: &str, isolation: i8) -> i64 {
    let mut c = RawClient::connect(bs);
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(raw::topic(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let p = c.call(&req, 7).topics.remove(0).partitions.remove(0);
    assert_eq!(p.error_code, 0);
    p.offset
}

/// Every batch of partition 0 (read_uncommitted) with its bytes.
fn batches(bs: &str, topic: &str) -> Vec<(BatchHeader, Bytes)> {
    let mut c = RawClient::connect(bs);
    let data = raw::fetch(&mut c, topic, 0, 0, 4 << 20);
    assert_eq!(data.error_code, 0);
    let records = data.records.unwrap_or_default();
    BatchWalker::new(&records)
        .map(|(pos, h)| (h, records.slice(pos..pos + h.total_size())))
        .collect()
}

fn marker_of(batch: &Bytes) -> ControlType {
    let recs = decode(batch).expect("control batch decodes");
    assert_eq!(recs.len(), 1, "one marker record");
    let (key, value) = (recs[0].key.clone(), recs[0].value.clone());
    decode_marker(&key.expect("key"), &value.expect("value"))
        .expect("a marker")
        .kind
}

/// A read_committed consumer of partition 0 from the start, polled until it holds
/// `expect` records; panics on any value starting with `forbidden`.
fn read_committed(bs: &str, topic: &str, expect: usize, forbidden: &str) -> Vec<String> {
    let c: BaseConsumer = clients::config(
        bs,
        &[
            ("group.id", "txn-crash-reader"),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
        ],
    )
    .create()
    .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < expect {
        assert!(Instant::now() < deadline, "read_committed got only {got:?}");
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => panic!("consume error: {e}"),
            Some(Ok(m)) => {
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                assert!(!v.starts_with(forbidden), "read_committed saw {v}");
                got.push(v);
            }
        }
    }
    got
}

#[test]
fn an_open_transaction_is_aborted_by_its_timeout_after_a_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    // The default cleanup interval (10 s) keeps the transaction open until the kill.
    let broker = BrokerProcess::spawn_on(port, &data, &[]);
    let bs = broker.addr.clone();
    clients::create_topic(&bs, "open-txn", 1, &[]);
    let txp = clients::producer(
        &bs,
        &[
            ("transactional.id", "tx-left-open"),
            ("transaction.timeout.ms", "2000"),
            ("message.timeout.ms", "2000"),
            ("acks", "all"),
        ],
    );
    txp.init_transactions(TIMEOUT).expect("init_transactions");
    txp.begin_transaction().expect("begin");
    for i in 0..3 {
        send(&txp, "open-txn", &format!("open-{i}"));
    }
    let plain = clients::producer(&bs, &[("enable.idempotence", "true"), ("acks", "all")]);
    for i in 0..4 {
        send(&plain, "open-txn", &format!("plain-{i}"));
    }
    let end = latest(&bs, "open-txn", 0);
    assert_eq!(end, 7);
    assert_eq!(
        latest(&bs, "open-txn", 1),
        0,
        "the open transaction holds the LSO"
    );
    let before = describe(&bs, "tx-left-open");
    assert_eq!(before.transaction_state.as_str(), "Ongoing");

    broker.kill9();
    drop(txp);
    drop(plain);
    let broker = BrokerProcess::spawn_on(
        port,
        &data,
        &[
            "--set",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=100",
        ],
    );
    let bs = broker.addr.clone();

    let got = read_committed(&bs, "open-txn", 4, "open-");
    assert_eq!(got, ["plain-0", "plain-1", "plain-2", "plain-3"]);
    let after = describe(&bs, "tx-left-open");
    assert_eq!(after.transaction_state.as_str(), "CompleteAbort");
    assert!(
        after.producer_epoch > before.producer_epoch,
        "aborted with a fenced epoch"
    );
    // The marker went in after the plain records: the LSO reaches the log end.
    let end = latest(&bs, "open-txn", 0);
    assert_eq!(end, 8, "7 records and the ABORT marker");
    assert_eq!(latest(&bs, "open-txn", 1), end);
    let all = batches(&bs, "open-txn");
    let (last, bytes) = all.last().expect("batches");
    assert!(last.is_control() && last.is_transactional(), "{last:?}");
    assert_eq!(last.base_offset, 7);
    assert_eq!(marker_of(bytes), ControlType::Abort);
    assert_eq!(last.producer_id, before.producer_id.0);
    assert_eq!(last.producer_epoch, after.producer_epoch);
}

#[test]
fn a_kill9_between_prepare_commit_and_the_markers_commits_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let broker = BrokerProcess::spawn_on(port, &data, &["--fail-markers-for", "held-txn"]);
    let bs = broker.addr.clone();
    clients::create_topic(&bs, "held-txn", 1, &[]);
    let txp = clients::producer(&bs, &[("transactional.id", "tx-held"), ("acks", "all")]);
    txp.init_transactions(TIMEOUT).expect("init_transactions");
    txp.begin_transaction().expect("begin");
    for i in 0..3 {
        send(&txp, "held-txn", &format!("c-{i}"));
    }
    // EndTxn answers once PrepareCommit is written, as Kafka does; the markers keep failing.
    txp.commit_transaction(TIMEOUT).expect("commit");
    let held = describe(&bs, "tx-held");
    assert_eq!(
        (held.error_code, held.transaction_state.as_str()),
        (0, "PrepareCommit")
    );
    assert_eq!(held.topics.len(), 1);
    assert_eq!(held.topics[0].partitions, [0]);
    assert_eq!(latest(&bs, "held-txn", 0), 3, "no marker written");
    assert_eq!(
        latest(&bs, "held-txn", 1),
        0,
        "the LSO waits for the marker"
    );

    broker.kill9();
    drop(txp);
    let broker = BrokerProcess::spawn_on(port, &data, &[]);
    let bs = broker.addr.clone();
    let done = wait_for("CompleteCommit after restart", TIMEOUT, || {
        let d = describe(&bs, "tx-held");
        (d.transaction_state.as_str() == "CompleteCommit").then_some(d)
    });
    assert_eq!(done.producer_id, held.producer_id);
    assert_eq!(done.producer_epoch, held.producer_epoch);
    let got = read_committed(&bs, "held-txn", 3, "-");
    assert_eq!(got, ["c-0", "c-1", "c-2"]);
    assert_eq!(
        latest(&bs, "held-txn", 0),
        4,
        "3 records and the COMMIT marker"
    );
    assert_eq!(latest(&bs, "held-txn", 1), 4);
    let all = batches(&bs, "held-txn");
    let markers: Vec<(i64, ControlType)> = all
        .iter()
        .filter(|(h, _)| h.is_control())
        .map(|(h, b)| (h.base_offset, marker_of(b)))
        .collect();
    assert_eq!(markers, [(3, ControlType::Commit)], "exactly one marker");
}
