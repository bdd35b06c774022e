//! Fault rules that name a partition (`gregor::testing`): on a request naming several
//! partitions only the named ones get the injected error and the others are served — a
//! Produce writes the rest, a Fetch (by name, or by topic id from v13) returns their records
//! — and rdkafka reads one partition while the rule refuses the other.

use std::time::Duration;

use futures::executor::block_on;
use gregor::testing::{api, codes, Rule, TestBroker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, MetadataRequest, ProduceRequest,
};
use rdkafka::producer::FutureRecord;

use crate::support::raw::{list_offset, topic};
use crate::support::{clients, encode_batch, now_ms, RawClient};

/// A Fetch of partitions 0 and 1 from offset 0, by name (v12) or by topic id (v13).
fn fetch_both(c: &mut RawClient, name: &str, id: Option<uuid::Uuid>) -> FetchResponse {
    let part = |p| {
        FetchPartition::default()
            .with_partition(p)
            .with_fetch_offset(0)
            .with_partition_max_bytes(1 << 20)
    };
    let t = match id {
        Some(id) => FetchTopic::default().with_topic_id(id),
        None => FetchTopic::default().with_topic(topic(name)),
    };
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![t.with_partitions(vec![part(0), part(1)])]);
    c.call(&req, if id.is_some() { 13 } else { 12 })
}

/// (partition, error code, whether it carries records) of each partition of the answer.
fn outcome(resp: &FetchResponse) -> Vec<(i32, i16, bool)> {
    let mut v: Vec<(i32, i16, bool)> = resp
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let data = p.records.as_ref().is_some_and(|r| !r.is_empty());
            (p.partition_index, p.error_code, data)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_partition_rule_answers_only_its_partition_of_a_produce_and_a_fetch() {
    let broker = TestBroker::start().expect("broker starts");
    broker.create_topic("split", 2, 1).expect("topic created");
    let mut c = RawClient::connect(&broker.bootstrap());
    let refused = broker
        .faults()
        .add(
            Rule::new(api::PRODUCE)
                .partition("split", 1)
                .error(codes::NOT_ENOUGH_REPLICAS),
        )
        .expect("rule installed");

    // One Produce for both partitions: 0 is written, 1 refused and not written.
    let data = |p: i32, v: &str| {
        PartitionProduceData::default()
            .with_index(p)
            .with_records(Some(encode_batch(&[(None, v)], None, now_ms())))
    };
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic("split"))
            .with_partition_data(vec![data(0, "zero"), data(1, "one")])]);
    let resp = c.call(&req, 9);
    let mut got: Vec<(i32, i16, i64)> = resp.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, p.error_code, p.base_offset))
        .collect();
    got.sort();
    assert_eq!(got, vec![(0, 0, 0), (1, codes::NOT_ENOUGH_REPLICAS, -1)]);
    assert_eq!(list_offset(&mut c, "split", 0, -1), (0, 1));
    assert_eq!(list_offset(&mut c, "split", 1, -1), (0, 0));
    assert_eq!(refused.hits(), 1);
    broker.faults().remove(&refused);
    let resp = c.call(&req, 9);
    assert!(resp.responses[0]
        .partition_responses
        .iter()
        .all(|p| p.error_code == 0));
    assert_eq!(list_offset(&mut c, "split", 1, -1), (0, 1));

    // A Fetch of both: partition 0 answered with the error (no records), 1 served; by name
    // (v12) and by topic id (v13, the rule still names the topic).
    let meta: kafka_protocol::messages::MetadataResponse =
        c.call(&MetadataRequest::default().with_topics(None), 12);
    let id = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "split"))
        .map(|t| t.topic_id)
        .expect("topic in metadata");
    let fetch_rule = broker
        .faults()
        .add(
            Rule::new(api::FETCH)
                .partition("split", 0)
                .error(codes::NOT_LEADER_OR_FOLLOWER),
        )
        .expect("rule installed");
    let six = codes::NOT_LEADER_OR_FOLLOWER;
    assert_eq!(
        outcome(&fetch_both(&mut c, "split", None)),
        vec![(0, six, false), (1, 0, true)]
    );
    let by_id = fetch_both(&mut c, "split", Some(id));
    assert_eq!(outcome(&by_id), vec![(0, six, false), (1, 0, true)]);
    assert!(by_id.responses.iter().all(|t| t.topic_id == id));
    assert_eq!(fetch_rule.hits(), 2);
    broker.faults().remove(&fetch_rule);
    assert_eq!(
        outcome(&fetch_both(&mut c, "split", None)),
        vec![(0, 0, true), (1, 0, true)]
    );
}

#[test]
fn rdkafka_reads_one_partition_while_a_rule_refuses_the_other() {
    let broker = TestBroker::start().expect("broker starts");
    broker.create_topic("two", 2, 1).expect("topic created");
    let bs = broker.bootstrap();
    let producer = clients::producer(&bs, &[("linger.ms", "0")]);
    for p in 0..2 {
        let record = FutureRecord::<str, str>::to("two")
            .payload(if p == 0 { "left" } else { "right" })
            .partition(p);
        block_on(producer.send(record, Duration::from_secs(30)))
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let rule = broker
        .faults()
        .add(
            Rule::new(api::FETCH)
                .partition("two", 1)
                .error(codes::NOT_LEADER_OR_FOLLOWER)
                .times(3),
        )
        .expect("rule installed");
    let got = clients::consume(&bs, "two", &[0, 1], rdkafka::Offset::Beginning, 2);
    let values: Vec<(i32, i64, Vec<u8>)> = got
        .iter()
        .map(|((p, o), r)| (*p, *o, r.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        values,
        vec![(0, 0, b"left".to_vec()), (1, 0, b"right".to_vec())]
    );
    assert_eq!(
        rule.hits(),
        3,
        "partition 1 was refused three times, then served"
    );
    assert_eq!(broker.faults().rules(), 0);
}
