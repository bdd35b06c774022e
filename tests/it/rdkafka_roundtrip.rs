//! Real rdkafka clients against a real broker: every codec round-trips keys, values, headers,
//! partitions and offsets; ListOffsets answers earliest, latest and by timestamp.
//!
//! Written against the public test API (`gregor::testing`) only, as a user's suite would be.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::clients::{self, Rec};
use futures::executor::block_on;
use futures::future::join_all;
use gregor::testing::TestBroker;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

const PER_CODEC: usize = 10_000;

#[test]
fn every_codec_round_trips_records_with_headers() {
    let broker = TestBroker::start().expect("broker starts");
    let bs = broker.bootstrap();
    broker
        .create_topic("roundtrip", 3, 1)
        .expect("topic created");

    let mut expected: BTreeMap<(i32, i64), Rec> = BTreeMap::new();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let producer = clients::producer(
            &bs,
            &[("compression.codec", codec), ("batch.size", "65536")],
        );
        let records: Vec<(String, String, String)> = (0..PER_CODEC)
            .map(|i| {
                (
                    format!("{codec}-key-{i}"),
                    format!("{codec}-value-{i}-{}", "x".repeat(i % 50)),
                    i.to_string(),
                )
            })
            .collect();
        let futures: Vec<_> = records
            .iter()
            .map(|(k, v, h)| {
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "idx",
                        value: Some(h.as_bytes()),
                    })
                    .insert(Header {
                        key: "codec",
                        value: Some(codec),
                    });
                producer
                    .send_result(
                        FutureRecord::to("roundtrip")
                            .key(k)
                            .payload(v)
                            .headers(headers),
                    )
                    .map_err(|(e, _)| e)
                    .expect("enqueue")
            })
            .collect();
        let deliveries = block_on(join_all(futures));
        for ((k, v, h), d) in records.into_iter().zip(deliveries) {
            let d = d.expect("not cancelled").expect("delivered");
            let rec = Rec {
                key: Some(k.into_bytes()),
                value: Some(v.into_bytes()),
                headers: vec![
                    ("idx".into(), Some(h.into_bytes())),
                    ("codec".into(), Some(codec.as_bytes().to_vec())),
                ],
                timestamp: None,
            };
            assert!(
                expected.insert((d.partition, d.offset), rec).is_none(),
                "offset assigned twice"
            );
        }
    }
    assert_eq!(expected.len(), 5 * PER_CODEC);
    // Offsets per partition are contiguous from 0.
    for p in 0..3 {
        let offs: Vec<i64> = expected
            .keys()
            .filter(|(pp, _)| *pp == p)
            .map(|(_, o)| *o)
            .collect();
        assert!(!offs.is_empty());
        assert_eq!(
            offs,
            (0..offs.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
        assert_eq!(
            clients::watermarks(&bs, "roundtrip", p),
            (0, offs.len() as i64)
        );
    }

    // The batches on disk are stored as the producers compressed them.
    let mut dumped = Vec::new();
    for p in 0..3 {
        let seg = broker
            .data_dir()
            .join(format!("roundtrip-{p}/00000000000000000000.log"));
        gregor::log::dump::dump(&seg, Default::default(), &mut dumped).expect("dump");
    }
    let dumped = String::from_utf8(dumped).unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(
            dumped.contains(&format!("compresscodec: {codec} ")),
            "no {codec} batch stored"
        );
    }

    let mut got = clients::consume(
        &bs,
        "roundtrip",
        &[0, 1, 2],
        Offset::Beginning,
        expected.len(),
    );
    for r in got.values_mut() {
        r.timestamp = None;
    }
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "consumed records differ from produced ones"
    );
}

#[test]
fn list_offsets_earliest_latest_and_by_timestamp() {
    // Small segments and index interval, so timestamp lookups cross segments and index entries.
    let broker = TestBroker::builder()
        .config("log.segment.bytes", "4096")
        .config("log.index.interval.bytes", "256")
        .start()
        .expect("broker starts");
    let bs = broker.bootstrap();
    broker.create_topic("times", 1, 1).expect("topic created");
    let producer = clients::producer(&bs, &[("linger.ms", "0")]);
    let t0 = crate::support::now_ms() - 1_000_000;
    for i in 0..200i64 {
        let f = producer
            .send_result(
                FutureRecord::<str, str>::to("times")
                    .payload("v")
                    .partition(0)
                    .timestamp(t0 + i * 1000),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
        let d = block_on(f).expect("not cancelled").expect("delivered");
        assert_eq!(d.offset, i);
    }
    assert!(
        std::fs::read_dir(broker.data_dir().join("times-0"))
            .unwrap()
            .count()
            > 3 * 3,
        "expected several segments"
    );
    assert_eq!(clients::watermarks(&bs, "times", 0), (0, 200));

    let c = clients::consumer(&bs);
    for (ts, want) in [
        (t0, Offset::Offset(0)),
        (t0 + 5_500, Offset::Offset(6)),
        (t0 + 150_000, Offset::Offset(150)),
        (t0 + 10_000_000, Offset::End),
    ] {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("times", 0, Offset::Offset(ts))
            .unwrap();
        let res = c
            .offsets_for_times(tpl, Duration::from_secs(10))
            .expect("offsets_for_times");
        let got = res.find_partition("times", 0).unwrap().offset();
        assert_eq!(got, want, "timestamp {ts}");
    }
}
