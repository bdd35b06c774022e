//! Log compaction seen by real clients (librdkafka through the rdkafka crate): a topic with
//! `cleanup.policy=compact`, small segments and `min.cleanable.dirty.ratio=0.01` gets its keys
//! written over and over (lz4-compressed, so cleaned batches are recompressed); the broker's
//! cleaner thread compacts it until a consumer reading from offset 0 sees exactly the latest
//! value of every key, at the offset it was written at, with offsets increasing; the state
//! survives a restart. A keyless record is refused with INVALID_RECORD.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::executor::block_on;
use futures::future::join_all;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

use crate::support::clients::{consumer, create_topic, producer, watermarks};
use crate::support::{wait_for, TestBroker};

/// Every record of partition 0 from offset 0 up to the high watermark: offset → (key, value).
fn read_all(bootstrap: &str, topic: &str) -> Vec<(i64, String, String)> {
    let (_, high) = watermarks(bootstrap, topic, 0);
    let c = consumer(bootstrap);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    wait_for(
        "reading to the high watermark",
        Duration::from_secs(60),
        || {
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.expect("consume");
                let s =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                out.push((m.offset(), s(m.key()), s(m.payload())));
                if m.offset() + 1 >= high {
                    return Some(());
                }
            }
            (high == 0 || out.last().is_some_and(|r| r.0 + 1 >= high)).then_some(())
        },
    );
    out
}

#[test]
fn a_compacted_topic_keeps_the_latest_value_of_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let props = [("log.cleaner.backoff.ms", "50")];
    let broker = TestBroker::start(dir.path(), &props);
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        "compacted",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "2048"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let p = producer(
        &bootstrap,
        &[("compression.type", "lz4"), ("linger.ms", "0")],
    );
    let mut latest: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for round in 0..15 {
        let records: Vec<(String, String)> = (0..12)
            .map(|k| (format!("key-{k}"), format!("value-{k}-{round}")))
            .collect();
        let futures: Vec<_> = records
            .iter()
            .map(|(k, v)| {
                p.send_result(FutureRecord::to("compacted").key(k).payload(v))
                    .map_err(|(e, _)| e)
                    .expect("enqueue")
            })
            .collect();
        for ((k, v), d) in records.into_iter().zip(block_on(join_all(futures))) {
            let d = d.expect("not cancelled").expect("delivered");
            latest.insert(k, (d.offset, v));
        }
    }
    // Unique keys after the last round, so every overwritten record lies in sealed segments.
    for i in 0..40 {
        let k = format!("filler-{i}");
        let d = block_on(
            p.send_result(FutureRecord::to("compacted").key(&k).payload("f"))
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        )
        .expect("not cancelled")
        .expect("delivered");
        latest.insert(k, (d.offset, "f".into()));
    }
    let expected: Vec<(i64, String, String)> = {
        let mut v: Vec<_> = latest
            .iter()
            .map(|(k, (o, v))| (*o, k.clone(), v.clone()))
            .collect();
        v.sort();
        v
    };
    let got = wait_for(
        "the cleaner to compact the topic",
        Duration::from_secs(60),
        || {
            let all = read_all(&bootstrap, "compacted");
            let compacted: Vec<_> = all
                .iter()
                .filter(|r| r.1.starts_with("key-"))
                .cloned()
                .collect();
            (compacted.len() == 12).then_some(all)
        },
    );
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "offsets increase");
    let keys: Vec<_> = got
        .iter()
        .filter(|r| r.1.starts_with("key-"))
        .cloned()
        .collect();
    let want: Vec<_> = expected
        .iter()
        .filter(|r| r.1.starts_with("key-"))
        .cloned()
        .collect();
    assert_eq!(keys, want, "the latest value of every key at its offset");
    for r in &got {
        assert!(expected.contains(r), "{r:?} is the latest of its key");
    }

    // Keyless records cannot be compacted: INVALID_RECORD, as Kafka answers.
    let err = block_on(
        p.send_result(FutureRecord::<str, str>::to("compacted").payload("no key"))
            .map_err(|(e, _)| e)
            .expect("enqueue"),
    )
    .expect("not cancelled")
    .expect_err("refused");
    assert!(
        matches!(
            err.0,
            KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord)
        ),
        "{err:?}"
    );
    drop(p);

    broker.stop();
    let broker = TestBroker::start(dir.path(), &props);
    let again = read_all(&broker.bootstrap(), "compacted");
    assert_eq!(again, got, "the cleaned log reads the same after a restart");
    assert!(dir.path().join("cleaner-offset-checkpoint").exists());
    broker.stop();
}
