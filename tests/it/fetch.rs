//! Fetch semantics: KIP-74 byte limits (the first batch always whole, later partitions only
//! what fits), long polls woken by an append rather than by their timeout, and errors for
//! unknown partitions.

use std::time::{Duration, Instant};

use crate::support::raw::{self, batch_ranges};
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

fn request(
    topic: &str,
    parts: &[(i32, i64)],
    max_bytes: i32,
    part_max: i32,
    wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(raw::topic(topic))
            .with_partitions(
                parts
                    .iter()
                    .map(|(p, o)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*o)
                            .with_partition_max_bytes(part_max)
                    })
                    .collect(),
            )])
}

fn records_len(r: &FetchResponse, i: usize) -> usize {
    r.responses[0].partitions[i]
        .records
        .as_ref()
        .map(|b| b.len())
        .unwrap_or(0)
}

#[test]
fn byte_limits_follow_kip74() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "lim", 2, &[]), 0);
    let big = "b".repeat(1000);
    for p in 0..2 {
        for _ in 0..3 {
            assert_eq!(
                raw::produce(
                    &mut c,
                    "lim",
                    p,
                    encode_batch(&[(None, &big)], None, now_ms())
                )
                .error_code,
                0
            );
        }
    }
    // A partition limit below one batch still returns that one whole batch.
    let r = c.call(&request("lim", &[(0, 0)], 100_000, 100, 0, 0), 12);
    let recs = r.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(batch_ranges(&recs), vec![(0, 0)]);
    // Room for two batches of the first partition; the second partition gets nothing because
    // its first batch no longer fits in the response limit.
    let one = recs.len();
    let r = c.call(
        &request(
            "lim",
            &[(0, 0), (1, 0)],
            (2 * one + one / 2) as i32,
            100_000,
            0,
            0,
        ),
        12,
    );
    assert_eq!(records_len(&r, 0), 2 * one);
    assert_eq!(records_len(&r, 1), 0);
    assert_eq!(r.responses[0].partitions[1].error_code, 0);
    assert_eq!(r.responses[0].partitions[1].high_watermark, 3);
    // Enough for everything.
    let r = c.call(
        &request("lim", &[(0, 0), (1, 1)], 1 << 20, 1 << 20, 0, 0),
        12,
    );
    assert_eq!((records_len(&r, 0), records_len(&r, 1)), (3 * one, 2 * one));
    // An unknown partition gets its own error; the known one is still served.
    let r = c.call(
        &request("lim", &[(0, 2), (9, 0)], 1 << 20, 1 << 20, 0, 0),
        12,
    );
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert_eq!(records_len(&r, 0), one);
    assert_eq!(r.responses[0].partitions[1].error_code, 3);
}

#[test]
fn long_poll_is_woken_by_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let addr = broker.bootstrap();
    let mut c = RawClient::connect(&addr);
    assert_eq!(raw::create_topic(&mut c, "poll", 1, &[]), 0);

    // With no data the fetch waits out max_wait and answers empty.
    let r = c.call(&request("poll", &[(0, 0)], 1 << 20, 1 << 20, 200, 1), 12);
    assert_eq!(
        (r.responses[0].partitions[0].error_code, records_len(&r, 0)),
        (0, 0)
    );

    // A fetch waiting up to 15 s returns as soon as a record is appended.
    let waiting = std::thread::spawn(move || {
        let started = Instant::now();
        let r = c.call(&request("poll", &[(0, 0)], 1 << 20, 1 << 20, 15_000, 1), 12);
        (r, started.elapsed())
    });
    let mut p = RawClient::connect(&addr);
    assert_eq!(
        raw::produce(
            &mut p,
            "poll",
            0,
            encode_batch(&[(Some("k"), "wake up")], None, now_ms())
        )
        .base_offset,
        0
    );
    let (r, waited) = waiting.join().unwrap();
    let recs = r.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(batch_ranges(&recs), vec![(0, 0)]);
    assert!(
        waited < Duration::from_secs(10),
        "woken by the append, not the 15 s timeout (took {waited:?})"
    );
}

/// Fetch v13–18 (topic ids; v15 `ReplicaState`, KIP-903) is served and advertised to
/// clients as well as used by gregor's followers.
#[test]
fn fetch_by_topic_id_is_served_and_unknown_ids_answer_100() {
    use kafka_protocol::messages::fetch_request::ReplicaState;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, MetadataResponse};
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "ids", 1, &[]), 0);
    let r = raw::produce(
        &mut c,
        "ids",
        0,
        encode_batch(&[(None, "v")], None, now_ms()),
    );
    assert_eq!(r.error_code, 0);
    let meta: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    let id = meta.topics[0].topic_id;
    let req = |topic_id: uuid::Uuid| {
        FetchRequest::default()
            .with_replica_state(
                ReplicaState::default()
                    .with_replica_id(BrokerId(-1))
                    .with_replica_epoch(-1),
            )
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(topic_id)
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20)])])
    };
    for version in [13, 15, 16, 17, 18] {
        let resp: FetchResponse = c.call(&req(id), version);
        let t = &resp.responses[0];
        assert_eq!((t.topic_id, t.topic.len()), (id, 0), "v{version}");
        let p = &t.partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, 1), "v{version}");
        let records = p.records.clone().unwrap_or_default();
        assert_eq!(batch_ranges(&records), vec![(0, 0)], "v{version}");
        let unknown: FetchResponse = c.call(&req(uuid::Uuid::from_u128(7)), version);
        assert_eq!(
            unknown.responses[0].partitions[0].error_code, 100,
            "v{version}"
        );
    }
    let versions = c.call(&ApiVersionsRequest::default(), 3);
    let fetch = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == 1)
        .expect("fetch");
    assert_eq!((fetch.min_version, fetch.max_version), (4, 18));
}
