//! FindCoordinator on a zero-config single node: every served version (v0–3 one key, v4–6
//! batched keys) answers this node for groups and transactional ids; unknown key types and
//! the share key type get Kafka's codes; the first request creates the coordinators' topic
//! as Kafka's defaults say (50 partitions, replication factor 1 on one broker, compacted,
//! `__transaction_state` with `min.insync.replicas` = `transaction.state.log.min.isr`), also
//! when Metadata auto-creates it.

use std::time::Instant;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::{RawClient, TestBroker};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// `(node, host:port, error)` of each key, at `version`.
fn find(c: &mut RawClient, version: i16, key_type: i8, keys: &[&str]) -> Vec<(i32, String, i16)> {
    let mut req = FindCoordinatorRequest::default();
    if version >= 1 {
        req = req.with_key_type(key_type);
    }
    if version >= 4 {
        req = req.with_coordinator_keys(keys.iter().map(|k| s(k)).collect());
        let r = c.call(&req, version);
        return r
            .coordinators
            .iter()
            .map(|x| (x.node_id.0, format!("{}:{}", x.host, x.port), x.error_code))
            .collect();
    }
    let r = c.call(&req.with_key(s(keys[0])), version);
    vec![(r.node_id.0, format!("{}:{}", r.host, r.port), r.error_code)]
}

/// The topic's configs that differ from the broker's (`config_source` 1 = topic override).
fn overrides(c: &mut RawClient, topic: &str) -> Vec<(String, String)> {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))
            .with_configuration_keys(None)]);
    let r = c.call(&req, 4);
    let mut out: Vec<(String, String)> = r.results[0]
        .configs
        .iter()
        .filter(|x| x.config_source == 1)
        .map(|x| {
            (
                x.name.to_string(),
                x.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_version_answers_this_node_and_creates_kafkas_internal_topics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let me = broker.bootstrap();
    let mut c = RawClient::connect(&me);

    let started = Instant::now();
    assert_eq!(find(&mut c, 0, 0, &["g"]), vec![(1, me.clone(), 0)]);
    eprintln!(
        "first FindCoordinator (creating 50 partitions): {} ms",
        started.elapsed().as_millis()
    );
    for v in 1..=3 {
        for key_type in [0, 1] {
            assert_eq!(find(&mut c, v, key_type, &["k"]), vec![(1, me.clone(), 0)]);
        }
        assert_eq!(
            find(&mut c, v, 7, &["k"])[0].2,
            42,
            "unknown key type at v{v}"
        );
    }
    for v in 4..=6 {
        for key_type in [0, 1] {
            let got = find(&mut c, v, key_type, &["a", "b", "polygenelubricants"]);
            assert_eq!(got, vec![(1, me.clone(), 0); 3], "v{v} type {key_type}");
        }
        // The share key type exists from v6 on; no share coordinator runs here.
        let share = if v >= 6 { 15 } else { 42 };
        assert_eq!(find(&mut c, v, 2, &["x"])[0].2, share, "share at v{v}");
    }

    let m = c.call(&MetadataRequest::default().with_topics(None), 12);
    for t in ["__consumer_offsets", "__transaction_state"] {
        let topic = m
            .topics
            .iter()
            .find(|x| x.name.as_ref().is_some_and(|n| n.as_str() == t))
            .unwrap_or_else(|| panic!("{t} listed"));
        assert!(topic.is_internal);
        assert_eq!(topic.partitions.len(), 50, "{t}");
        assert!(topic
            .partitions
            .iter()
            .all(|p| p.leader_id.0 == 1 && p.replica_nodes.len() == 1));
    }
    assert_eq!(
        overrides(&mut c, "__consumer_offsets"),
        vec![
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), "104857600".to_string()),
        ]
    );
    assert_eq!(
        overrides(&mut c, "__transaction_state"),
        vec![
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("min.insync.replicas".to_string(), "2".to_string()),
            ("segment.bytes".to_string(), "104857600".to_string()),
        ]
    );
}

#[test]
fn metadata_auto_creation_gives_an_internal_topic_its_own_shape() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("transaction.state.log.num.partitions", "3")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(crate::support::raw::topic("__transaction_state"))),
        ]));
    let m = c.call(&req, 12);
    assert_eq!(m.topics[0].error_code, 0);
    assert!(m.topics[0].is_internal);
    assert_eq!(
        m.topics[0].partitions.len(),
        3,
        "transaction.state.log.num.partitions"
    );
    assert_eq!(
        overrides(&mut c, "__transaction_state")[0],
        ("cleanup.policy".to_string(), "compact".to_string())
    );
}
