//! Crash safety: an idempotent acks=all producer keeps writing while the broker is killed with
//! SIGKILL 20 times and restarted on the same data directory and port. Afterwards every
//! acknowledged record is present exactly once, offsets are contiguous, committed group
//! offsets are intact, and every segment's indexes verify.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{clients, free_port, raw, BrokerProcess, RawClient};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset};

/// Collects the ids of acknowledged records.
struct Acks(Arc<Mutex<Vec<u64>>>);

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            if let Some(k) = m.key() {
                self.0
                    .lock()
                    .unwrap()
                    .push(u64::from_be_bytes(k.try_into().unwrap()));
            }
        }
    }
}

/// A small deterministic pseudo-random sequence for kill timings.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn twenty_kill9s_lose_and_duplicate_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let small_segments = [
        "--set",
        "log.segment.bytes=65536",
        "--set",
        "log.index.interval.bytes=512",
    ];
    let broker = BrokerProcess::spawn_on(port, &data, &small_segments);
    let bs = broker.addr.clone();
    clients::create_topic(&bs, "crash", 2, &[]);

    let acked = Arc::new(Mutex::new(Vec::new()));
    let producer: ThreadedProducer<Acks> = clients::config(
        &bs,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("message.timeout.ms", "120000"),
            ("reconnect.backoff.ms", "20"),
            ("reconnect.backoff.max.ms", "200"),
            ("linger.ms", "2"),
        ],
    )
    .create_with_context(Acks(acked.clone()))
    .expect("producer");
    let producer = Arc::new(producer);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (producer, stop) = (producer.clone(), stop.clone());
        move || {
            let mut id: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = id.to_be_bytes();
                let value = format!("record-{id}");
                match producer.send(
                    BaseRecord::<[u8], str>::to("crash")
                        .key(&key[..])
                        .payload(&value),
                ) {
                    Ok(()) => id += 1,
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
                if id.is_multiple_of(50) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            id
        }
    });

    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut broker = broker;
    let mut last_commit = -1i64;
    for cycle in 0..20 {
        // Let some records through, commit a group offset, then kill at a random moment.
        let target = acked.lock().unwrap().len() + 200;
        crate::support::wait_for(
            "acknowledgements after a restart",
            Duration::from_secs(60),
            || (acked.lock().unwrap().len() >= target).then_some(()),
        );
        let mut c = RawClient::connect(&bs);
        let offset = 1000 + cycle as i64;
        if commit(&mut c, offset) == 0 {
            last_commit = offset;
        }
        std::thread::sleep(Duration::from_millis(next(&mut seed) % 150));
        broker.kill9();
        broker = BrokerProcess::spawn_on(port, &data, &small_segments);
    }
    stop.store(true, Ordering::Relaxed);
    let sent = writer.join().unwrap();
    producer
        .flush(Duration::from_secs(120))
        .expect("every record delivered or failed");
    let acked: BTreeSet<u64> = acked.lock().unwrap().iter().copied().collect();
    assert!(
        acked.len() > 4000,
        "only {} acknowledged of {sent}",
        acked.len()
    );

    // Every acknowledged record exactly once, offsets contiguous from 0.
    let total: i64 = (0..2).map(|p| clients::watermarks(&bs, "crash", p).1).sum();
    let got = clients::consume(&bs, "crash", &[0, 1], Offset::Beginning, total as usize);
    let mut ids = BTreeSet::new();
    for ((p, o), r) in &got {
        let id = u64::from_be_bytes(r.key.clone().unwrap().try_into().unwrap());
        assert!(
            ids.insert(id),
            "record {id} stored twice (second copy at {p}/{o})"
        );
    }
    for p in 0..2 {
        let offs: Vec<i64> = got
            .keys()
            .filter(|(pp, _)| *pp == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(
            offs,
            (0..offs.len() as i64).collect::<Vec<_>>(),
            "partition {p} offsets contiguous"
        );
    }
    let lost: Vec<&u64> = acked.difference(&ids).take(5).collect();
    assert!(lost.is_empty(), "acknowledged but missing: {lost:?}");

    // Committed group offsets survived.
    let mut c = RawClient::connect(&bs);
    assert_eq!(fetched(&mut c), last_commit);

    // Every segment's indexes verify against its log.
    drop(c);
    broker.terminate();
    for p in 0..2 {
        for e in std::fs::read_dir(data.join(format!("crash-{p}")))
            .unwrap()
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "log") {
                let out = Command::new(env!("CARGO_BIN_EXE_gregor"))
                    .args(["dump-log", "--verify-index"])
                    .arg(e.path())
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}: {}",
                    e.path().display(),
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
    }
    eprintln!(
        "crash test: 20 kills, {sent} records sent, {} acknowledged, {} found, 0 duplicates",
        acked.len(),
        ids.len()
    );
}

fn commit(c: &mut RawClient, offset: i64) -> i16 {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{GroupId, OffsetCommitRequest};
    use kafka_protocol::protocol::StrBytes;
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("survivors")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(raw::topic("crash"))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    c.call(&req, 8).topics[0].partitions[0].error_code
}

fn fetched(c: &mut RawClient) -> i64 {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest};
    use kafka_protocol::protocol::StrBytes;
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("survivors")))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(raw::topic("crash"))
            .with_partition_indexes(vec![0])]));
    c.call(&req, 7).topics[0].partitions[0].committed_offset
}
