//! Fetch sessions (KIP-227) over the wire: a full fetch creates a session, incremental
//! fetches carry only changes, forgotten partitions go, session errors 70/71, eviction when
//! the cache is full, partition rotation under a small `max_bytes`, and the request sizes
//! and broker times of full vs incremental fetches with 1,000 partitions.

use std::time::{Duration, Instant};

use crate::support::raw::{self};
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

fn fetch_req(
    topic: &str,
    parts: &[(i32, i64)],
    session: (i32, i32),
    max_bytes: i32,
    wait_ms: i32,
) -> FetchRequest {
    let topics = if parts.is_empty() {
        vec![]
    } else {
        vec![FetchTopic::default()
            .with_topic(raw::topic(topic))
            .with_partitions(
                parts
                    .iter()
                    .map(|&(p, o)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(o)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]
    };
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_id(session.0)
        .with_session_epoch(session.1)
        .with_topics(topics)
}

/// (partition, record bytes) of each partition in a response, in order.
fn listed(r: &FetchResponse) -> Vec<(i32, usize)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.records.as_ref().map_or(0, |b| b.len())))
        .collect()
}

fn produce_one(c: &mut RawClient, topic: &str, p: i32, value: &str) {
    let b = encode_batch(&[(None, value)], None, now_ms());
    assert_eq!(raw::produce(c, topic, p, b).error_code, 0);
}

fn setup(
    props: &[(&str, &str)],
    topic: &str,
    parts: i32,
) -> (tempfile::TempDir, TestBroker, RawClient) {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), props);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, topic, parts, &[]), 0);
    (dir, broker, c)
}

#[test]
fn incremental_fetches_carry_only_changes() {
    let (_dir, _broker, mut c) = setup(&[], "s", 4);
    let all: Vec<(i32, i64)> = (0..4).map(|p| (p, 0)).collect();
    let full = c.call(&fetch_req("s", &all, (0, 0), 1 << 20, 0), 12);
    assert_eq!(full.error_code, 0);
    let id = full.session_id;
    assert_ne!(id, 0, "a full fetch with epoch 0 creates a session");
    assert_eq!(
        listed(&full).len(),
        4,
        "a full response lists every partition"
    );
    // Nothing changed, nothing new: no partitions, after the long poll.
    let t = Instant::now();
    let r = c.call(&fetch_req("s", &[], (id, 1), 1 << 20, 300), 12);
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "the incremental fetch waited"
    );
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert!(listed(&r).is_empty(), "{:?}", listed(&r));
    // A produce to partition 2: the next incremental response lists exactly it.
    produce_one(&mut c, "s", 2, "v");
    let r = c.call(&fetch_req("s", &[], (id, 2), 1 << 20, 5000), 12);
    let got = listed(&r);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, 2);
    assert!(got[0].1 > 0);
    // The client moves partition 2 on to offset 1: nothing new to send.
    let r = c.call(&fetch_req("s", &[(2, 1)], (id, 3), 1 << 20, 0), 12);
    assert!(listed(&r).is_empty(), "{:?}", listed(&r));
    // Forget partitions 0 and 1; a produce to 0 is then not reported, one to 3 is.
    let mut req = fetch_req("s", &[], (id, 4), 1 << 20, 0);
    req.forgotten_topics_data = vec![ForgottenTopic::default()
        .with_topic(raw::topic("s"))
        .with_partitions(vec![0, 1])];
    assert!(listed(&c.call(&req, 12)).is_empty());
    produce_one(&mut c, "s", 0, "x");
    produce_one(&mut c, "s", 3, "y");
    let r = c.call(&fetch_req("s", &[], (id, 5), 1 << 20, 5000), 12);
    assert_eq!(listed(&r).iter().map(|p| p.0).collect::<Vec<_>>(), vec![3]);
    // A wrong epoch: 71 and no partitions; the session stays and the right epoch works.
    let r = c.call(&fetch_req("s", &[], (id, 9), 1 << 20, 0), 12);
    assert_eq!(r.error_code, 71);
    assert!(r.responses.is_empty());
    let r = c.call(&fetch_req("s", &[(3, 1)], (id, 6), 1 << 20, 0), 12);
    assert_eq!((r.error_code, r.session_id), (0, id));
    // An unknown id: 70.
    let r = c.call(&fetch_req("s", &[], (id ^ 0x55, 1), 1 << 20, 0), 12);
    assert_eq!((r.error_code, r.session_id), (70, 0));
    // Epoch −1 naming the session closes it: sessionless answer, then 70 for it.
    let r = c.call(&fetch_req("s", &[(0, 0)], (id, -1), 1 << 20, 0), 12);
    assert_eq!((r.error_code, r.session_id), (0, 0));
    assert_eq!(listed(&r).len(), 1);
    let r = c.call(&fetch_req("s", &[], (id, 7), 1 << 20, 0), 12);
    assert_eq!(r.error_code, 70);
}

#[test]
fn a_full_cache_evicts_as_kafka_does() {
    let (_dir, _broker, mut c) = setup(
        &[("max.incremental.fetch.session.cache.slots", "1")],
        "e",
        4,
    );
    let a = c
        .call(&fetch_req("e", &[(0, 0), (1, 0)], (0, 0), 1 << 20, 0), 12)
        .session_id;
    assert_ne!(a, 0);
    // A second consumer session while the only slot is held by a fresh one: none.
    let b = c.call(
        &fetch_req("e", &[(0, 0), (1, 0), (2, 0)], (0, 0), 1 << 20, 0),
        12,
    );
    assert_eq!((b.error_code, b.session_id), (0, 0));
    assert_eq!(listed(&b).len(), 3, "served in full without a session");
    assert_eq!(
        c.call(&fetch_req("e", &[], (a, 1), 1 << 20, 0), 12)
            .error_code,
        0
    );
    // Closing the session frees the slot for the next full fetch.
    c.call(&fetch_req("e", &[(0, 0)], (a, -1), 1 << 20, 0), 12);
    let d = c
        .call(&fetch_req("e", &[(0, 0)], (0, 0), 1 << 20, 0), 12)
        .session_id;
    assert_ne!(d, 0);
    assert_eq!(
        c.call(&fetch_req("e", &[], (a, 2), 1 << 20, 0), 12)
            .error_code,
        70
    );
}

#[test]
fn sessions_rotate_partitions_under_a_small_max_bytes() {
    let (_dir, _broker, mut c) = setup(&[], "r", 4);
    let big = "z".repeat(2000);
    for p in 0..4 {
        for _ in 0..5 {
            produce_one(&mut c, "r", p, &big);
        }
    }
    // max_bytes below one batch: each fetch returns one batch (KIP-74), of one partition.
    let mut offsets = [0i64; 4];
    let all: Vec<(i32, i64)> = (0..4).map(|p| (p, 0)).collect();
    let full = c.call(&fetch_req("r", &all, (0, 0), 100, 0), 12);
    let id = full.session_id;
    assert_ne!(id, 0);
    let mut served = Vec::new();
    for (p, bytes) in listed(&full) {
        if bytes > 0 {
            served.push(p);
            offsets[p as usize] += 1;
        }
    }
    // The full fetch creates the session in request order (as Kafka: no rotation yet), so
    // partition 0 is served twice; from then on each fetch serves the next partition.
    for epoch in 1..5 {
        // Tell the session each partition's new position, as a consumer would.
        let moved: Vec<(i32, i64)> = served
            .last()
            .map(|&p| vec![(p, offsets[p as usize])])
            .unwrap_or_default();
        let r = c.call(&fetch_req("r", &moved, (id, epoch), 100, 0), 12);
        assert_eq!(r.error_code, 0);
        for (p, bytes) in listed(&r) {
            if bytes > 0 {
                served.push(p);
                offsets[p as usize] += 1;
            }
        }
    }
    assert_eq!(
        served,
        vec![0, 0, 1, 2, 3],
        "every partition served within 5 fetches"
    );
    // Sessionless full fetches keep request order: always partition 0.
    for _ in 0..2 {
        let r = c.call(&fetch_req("r", &all, (0, -1), 100, 0), 12);
        let with_data: Vec<i32> = listed(&r)
            .into_iter()
            .filter(|p| p.1 > 0)
            .map(|p| p.0)
            .collect();
        assert_eq!(with_data, vec![0]);
    }
}

/// Request bytes and broker round-trip time of full vs incremental fetches with 1,000
/// partitions (printed; run with --nocapture to see them).
#[test]
fn full_vs_incremental_with_1000_partitions() {
    let (_dir, _broker, mut c) = setup(&[], "k", 1000);
    let all: Vec<(i32, i64)> = (0..1000).map(|p| (p, 0)).collect();
    let full_req = fetch_req("k", &all, (0, -1), 1 << 20, 0).with_min_bytes(0);
    let full_bytes = c.frame(&full_req, 12).len();
    let created = c.call(
        &fetch_req("k", &all, (0, 0), 1 << 20, 0).with_min_bytes(0),
        12,
    );
    let id = created.session_id;
    assert_ne!(id, 0);
    let inc_bytes = c
        .frame(
            &fetch_req("k", &[], (id, 1), 1 << 20, 0).with_min_bytes(0),
            12,
        )
        .len();
    let rounds = 50;
    let t = Instant::now();
    for _ in 0..rounds {
        let r = c.call(&full_req, 12);
        assert_eq!(listed(&r).len(), 1000);
    }
    let full_time = t.elapsed() / rounds;
    let t = Instant::now();
    for epoch in 1..=rounds as i32 {
        let r = c.call(
            &fetch_req("k", &[], (id, epoch), 1 << 20, 0).with_min_bytes(0),
            12,
        );
        assert_eq!((r.error_code, listed(&r).len()), (0, 0));
    }
    let inc_time = t.elapsed() / rounds;
    println!(
        "1000 partitions: full request {full_bytes} B, {full_time:?} per fetch; \
         incremental request {inc_bytes} B, {inc_time:?} per fetch"
    );
    assert!(inc_bytes * 20 < full_bytes);
}

/// v13+ names topics by id (KIP-516): the session keeps them by id, and an incremental
/// request, rebuilt from the session, still resolves them (the Java consumer, on Fetch v17,
/// got nothing after its session's first fetch when this broke).
#[test]
fn incremental_fetches_by_topic_id_serve_new_records() {
    use kafka_protocol::messages::MetadataRequest;
    let (_dir, _broker, mut c) = setup(&[], "ids", 2);
    let meta = c.call(&MetadataRequest::default().with_topics(None), 12);
    let id = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "ids"))
        .map(|t| t.topic_id)
        .expect("the topic's id");
    assert!(!id.is_nil());
    let by_id = |parts: &[(i32, i64)], session: (i32, i32), wait_ms: i32| {
        let mut r = fetch_req("ids", parts, session, 1 << 20, wait_ms);
        for t in &mut r.topics {
            t.topic = Default::default();
            t.topic_id = id;
        }
        r
    };
    produce_one(&mut c, "ids", 0, "a");
    let full = c.call(&by_id(&[(0, 0), (1, 0)], (0, 0), 0), 17);
    assert_eq!(full.error_code, 0);
    let session = full.session_id;
    assert_ne!(session, 0);
    assert_eq!(full.responses[0].topic_id, id);
    let got = listed(&full);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].0 == 0 && got[0].1 > 0, "{got:?}");
    // The client moves partition 0 on; a record lands in partition 1: the incremental
    // answer names the topic by id and carries exactly that record.
    produce_one(&mut c, "ids", 1, "b");
    let r = c.call(&by_id(&[(0, 1)], (session, 1), 5000), 17);
    assert_eq!((r.error_code, r.session_id), (0, session));
    let parts: Vec<(uuid::Uuid, i32, i16, usize)> = r
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let len = p.records.as_ref().map_or(0, |b| b.len());
                (t.topic_id, p.partition_index, p.error_code, len)
            })
        })
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(parts[0].0, id);
    assert_eq!((parts[0].1, parts[0].2), (1, 0), "{parts:?}");
    assert!(parts[0].3 > 0, "{parts:?}");
}
