//! `gregor cluster` against real brokers: a zero-config node is one live node, its own single
//! voter and active controller, with nothing under-replicated (the library's view and the
//! binary's `--json` and text output agree); on three combined nodes with short timings
//! (support/cluster.rs) a kill -9 of one node shows it fenced, every partition it replicated
//! under-replicated once its ISR shrinks (and under min ISR where `min.insync.replicas=3`),
//! nothing offline, and the quorum still answering with three voters. DescribeCluster v2
//! (`include_fenced_brokers`) is what lists the fenced node.

use std::process::Command;
use std::time::Duration;

use gregor::tools::cluster::{gather, ClusterView, NodeStatus, PartitionView};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::cluster::Cluster;
use crate::support::{raw, wait_for, RawClient, TestBroker};

const PATIENCE: Duration = Duration::from_secs(30);

fn tool(bootstrap: &str, json: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
    cmd.args(["cluster", "--bootstrap", bootstrap]);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run gregor cluster");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn a_single_node_is_one_live_voter_with_nothing_under_replicated() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(dir.path(), &[("node.id", "7")]);
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "one", 3, &[]), 0);
    assert_eq!(
        raw::create_topic(&mut c, "strict", 1, &[("min.insync.replicas", "2")]),
        0
    );

    let v = gather(&b.bootstrap()).expect("gather");
    assert_eq!(v.controller_id, 7);
    assert_eq!(v.nodes.len(), 1);
    assert_eq!((v.nodes[0].id, v.nodes[0].status), (7, NodeStatus::Live));
    assert_eq!(v.nodes[0].address, b.bootstrap());
    let q = v.quorum.as_ref().expect("quorum described");
    assert_eq!(q.leader_id, 7);
    assert_eq!(q.voters.len(), 1);
    assert!(q.observers.is_empty());
    assert_eq!(q.voters[0].log_end_offset, q.high_watermark);
    assert!(q.voters[0].last_fetch_ms > 0);
    let ours: Vec<&PartitionView> = v
        .partitions
        .iter()
        .filter(|p| !p.topic.starts_with("__"))
        .collect();
    let one = |partition: i32, min_isr: i32, t: &str| PartitionView {
        topic: t.to_string(),
        partition,
        leader: 7,
        replicas: vec![7],
        isr: vec![7],
        min_isr,
    };
    let expected = [
        one(0, 1, "one"),
        one(1, 1, "one"),
        one(2, 1, "one"),
        one(0, 2, "strict"),
    ];
    assert_eq!(ours, expected.iter().collect::<Vec<_>>());
    assert!(v.under_replicated().is_empty());
    assert!(v.offline().is_empty());
    // min.insync.replicas=2 on one replica: Kafka's definition counts it as under min ISR.
    let under: Vec<&str> = v.under_min_isr().iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(under, ["strict"]);

    // The binary prints the same facts.
    let json = tool(&b.bootstrap(), true);
    assert!(
        json.starts_with(&format!(
            "{{\"cluster_id\":\"{}\",\"controller_id\":7,",
            v.cluster_id
        )),
        "{json}"
    );
    assert!(json.contains("\"under_replicated\":[]"), "{json}");
    assert!(json.contains("\"offline\":[]"), "{json}");
    let text = tool(&b.bootstrap(), false);
    assert!(
        text.contains("0 under-replicated, 1 under min ISR, 0 offline"),
        "{text}"
    );
    assert!(text.contains("active controller, voter"), "{text}");
}

fn create_rf3(addr: &str, name: &str, partitions: i32, min_isr: Option<&str>) -> Option<i16> {
    let configs = min_isr
        .map(|m| {
            vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_string(m.to_string())))]
        })
        .unwrap_or_default();
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(3)
            .with_configs(configs)]);
    let mut c = gregor::tools::client::Client::connect(addr).ok()?;
    c.call(&req, 7).ok().map(|r| r.topics[0].error_code)
}

fn ours(v: &ClusterView) -> impl Iterator<Item = &PartitionView> {
    v.partitions.iter().filter(|p| !p.topic.starts_with("__"))
}

#[test]
fn a_killed_node_is_fenced_and_its_partitions_under_replicated() {
    let mut cluster = Cluster::start(3);
    let all = cluster.bootstrap();
    for (name, min) in [("spread", None), ("strict", Some("3"))] {
        wait_for(&format!("{name} created"), PATIENCE, || {
            matches!(
                create_rf3(&cluster.broker_addr(0), name, 3, min),
                Some(0 | 36)
            )
            .then_some(())
        });
    }
    // Everything in sync first: three live voters, every replica in its ISR.
    let healthy = wait_for("three live nodes and full ISRs", PATIENCE, || {
        let v = gather(&all).ok()?;
        let q = v.quorum.as_ref().ok()?;
        let ok = v.nodes.len() == 3
            && v.nodes.iter().all(|n| n.status == NodeStatus::Live)
            && q.voters.len() == 3
            && ours(&v).count() == 6
            && ours(&v).all(|p| p.replicas.len() == 3 && p.isr.len() == 3 && p.leader > 0);
        ok.then_some(v)
    });
    assert!(healthy
        .under_replicated()
        .iter()
        .all(|p| p.topic.starts_with("__")));
    assert!(healthy.offline().is_empty());
    let strict: Vec<i32> = ours(&healthy)
        .filter(|p| p.topic == "strict")
        .map(|p| p.min_isr)
        .collect();
    assert_eq!(strict, [3, 3, 3]);

    // kill -9 node 3; ask the survivors.
    cluster.kill9(2);
    let dead = cluster.id(2);
    let survivors = format!("{},{}", cluster.broker_addr(0), cluster.broker_addr(1));
    let v = wait_for("node 3 fenced and out of every ISR", PATIENCE, || {
        let v = gather(&survivors).ok()?;
        let fenced = v
            .nodes
            .iter()
            .any(|n| n.id == dead && n.status == NodeStatus::Fenced);
        let shrunk = ours(&v).all(|p| !p.isr.contains(&dead) && p.leader != dead && p.leader > 0);
        (fenced && shrunk && v.quorum.is_ok()).then_some(v)
    });
    let mut under: Vec<(String, i32)> = v
        .under_replicated()
        .iter()
        .filter(|p| !p.topic.starts_with("__"))
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    under.sort();
    let every = |t: &'static str| (0..3).map(move |p| (t.to_string(), p));
    let expected: Vec<(String, i32)> = every("spread").chain(every("strict")).collect();
    assert_eq!(under, expected);
    for p in ours(&v) {
        assert_eq!(p.replicas.len(), 3, "{p:?}");
        assert_eq!(p.isr.len(), 2, "{p:?}");
    }
    let below: Vec<(String, i32)> = v
        .under_min_isr()
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    assert_eq!(below, every("strict").collect::<Vec<_>>());
    assert!(v.offline().is_empty(), "{:?}", v.offline());
    assert_eq!(v.quorum.as_ref().unwrap().voters.len(), 3);
    assert_ne!(v.controller_id, dead);

    let text = tool(&survivors, false);
    assert!(text.contains("1 fenced"), "{text}");
    assert!(text.contains("3 under min ISR, 0 offline"), "{text}");
}
