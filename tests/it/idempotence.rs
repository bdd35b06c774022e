//! Idempotent producers: rdkafka with enable.idempotence produces no duplicates; a re-sent
//! batch gets its original offset back (also after restarts); sequence gaps and fenced epochs
//! get Kafka's errors.

use std::collections::BTreeSet;

use crate::support::clients;
use crate::support::raw;
use crate::support::{encode_batch, now_ms, BrokerProcess, RawClient, TestBroker};
use futures::executor::block_on;
use futures::future::join_all;
use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

#[test]
fn rdkafka_idempotent_producer_writes_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "idem", 3, &[]);
    let p = clients::producer(
        &bs,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("compression.codec", "lz4"),
        ],
    );
    let values: Vec<String> = (0..6000).map(|i| format!("record-{i}")).collect();
    let futures: Vec<_> = values
        .iter()
        .map(|v| {
            p.send_result(FutureRecord::to("idem").key(v).payload(v))
                .map_err(|(e, _)| e)
                .expect("enqueue")
        })
        .collect();
    for d in block_on(join_all(futures)) {
        d.expect("not cancelled").expect("delivered");
    }
    let total: i64 = (0..3)
        .map(|part| clients::watermarks(&bs, "idem", part).1)
        .sum();
    assert_eq!(total, 6000, "exactly one copy of each record");
    let got = clients::consume(&bs, "idem", &[0, 1, 2], Offset::Beginning, 6000);
    let seen: BTreeSet<Vec<u8>> = got.values().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(seen, values.iter().map(|v| v.as_bytes().to_vec()).collect());
}

fn init_producer(c: &mut RawClient, current: Option<(i64, i16)>) -> (i64, i16) {
    let mut req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    if let Some((id, epoch)) = current {
        req = req
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch);
    } else {
        req = req.with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    }
    let r = c.call(&req, 4);
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

fn send(c: &mut RawClient, pid: i64, epoch: i16, seq: i32, n: usize) -> (i16, i64) {
    let recs: Vec<(Option<&str>, &str)> = (0..n).map(|_| (None, "v")).collect();
    let r = raw::produce(
        c,
        "seq",
        0,
        encode_batch(&recs, Some((pid, epoch, seq)), now_ms()),
    );
    (r.error_code, r.base_offset)
}

#[test]
fn retried_batches_get_their_original_offsets_and_gaps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "seq", 1, &[]), 0);
    let (pid, epoch) = init_producer(&mut c, None);
    let (pid2, _) = init_producer(&mut c, None);
    assert_ne!(pid, pid2, "fresh producer ids");

    assert_eq!(send(&mut c, pid, epoch, 0, 3), (0, 0));
    assert_eq!(send(&mut c, pid, epoch, 3, 2), (0, 3));
    assert_eq!(
        send(&mut c, pid, epoch, 0, 3),
        (0, 0),
        "duplicate answered with its original offset"
    );
    assert_eq!(
        raw::list_offset(&mut c, "seq", 0, -1),
        (0, 5),
        "nothing appended for the duplicate"
    );
    assert_eq!(
        send(&mut c, pid, epoch, 9, 1).0,
        45,
        "gap: OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(send(&mut c, pid, epoch, 5, 1), (0, 5));

    // Survives a graceful restart (snapshot).
    drop(c);
    broker.stop();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        send(&mut c, pid, epoch, 5, 1),
        (0, 5),
        "still a duplicate after restart"
    );
    assert!(
        init_producer(&mut c, None).0 > pid2,
        "ids are not reused after restart"
    );

    // KIP-360 epoch bump fences the old epoch.
    let (same, bumped) = init_producer(&mut c, Some((pid, epoch)));
    assert_eq!((same, bumped), (pid, epoch + 1));
    assert_eq!(send(&mut c, pid, bumped, 0, 1), (0, 6));
    assert_eq!(
        send(&mut c, pid, epoch, 6, 1).0,
        47,
        "old epoch: INVALID_PRODUCER_EPOCH"
    );
}

#[test]
fn producer_state_is_rebuilt_after_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::spawn(&data, &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(raw::create_topic(&mut c, "seq", 1, &[]), 0);
    let (pid, epoch) = init_producer(&mut c, None);
    for i in 0..4 {
        assert_eq!(send(&mut c, pid, epoch, i * 2, 2), (0, i as i64 * 2));
    }
    drop(c);
    broker.kill9();
    let broker = BrokerProcess::spawn(&data, &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(
        send(&mut c, pid, epoch, 6, 2),
        (0, 6),
        "retry after a crash is still recognised"
    );
    assert_eq!(send(&mut c, pid, epoch, 8, 1), (0, 8));
    assert_ne!(
        init_producer(&mut c, None).0,
        pid,
        "ids are not reused after a crash"
    );
}
