//! Unit tests of `gregor cluster`'s classification and rendering (no broker: a view built
//! by hand). The tool against real brokers is tested in `tests/it/cluster_tool.rs`.

use super::*;
use crate::tools::cluster_render::jstr;

fn part(topic: &str, leader: i32, replicas: &[i32], isr: &[i32], min_isr: i32) -> PartitionView {
    PartitionView {
        topic: topic.into(),
        partition: 0,
        leader,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        min_isr,
    }
}

fn node(id: i32, status: NodeStatus) -> NodeView {
    NodeView {
        id,
        address: format!("127.0.0.1:{}", 9000 + id),
        rack: None,
        status,
    }
}

fn view() -> ClusterView {
    ClusterView {
        cluster_id: "c\"1".into(),
        controller_id: 2,
        nodes: vec![
            node(1, NodeStatus::Fenced),
            node(2, NodeStatus::Live),
            node(3, NodeStatus::Live),
        ],
        quorum: Ok(QuorumView {
            leader_id: 2,
            leader_epoch: 4,
            high_watermark: 100,
            voters: vec![
                QuorumReplica {
                    id: 1,
                    log_end_offset: 60,
                    last_fetch_ms: 1_000,
                    last_caught_up_ms: -1,
                },
                QuorumReplica {
                    id: 2,
                    log_end_offset: 110,
                    last_fetch_ms: 2_000,
                    last_caught_up_ms: 2_000,
                },
            ],
            observers: vec![],
        }),
        partitions: vec![
            part("a", 2, &[1, 2, 3], &[2, 3], 2),
            part("b", 2, &[1, 2, 3], &[2], 2),
            part("c", -1, &[1], &[1], 1),
            part("d", 1, &[1, 3], &[1, 3], 1),
            part("e", 3, &[2, 3], &[2, 3], 1),
        ],
        now_ms: 2_500,
    }
}

#[test]
fn partitions_are_classified_as_kafka_topics_lists_them() {
    let v = view();
    let names = |l: Vec<&PartitionView>| l.iter().map(|p| p.topic.clone()).collect::<Vec<_>>();
    assert_eq!(names(v.under_replicated()), ["a", "b"]);
    assert_eq!(names(v.under_min_isr()), ["b"]);
    // No leader, or a leader on a fenced broker.
    assert_eq!(names(v.offline()), ["c", "d"]);
}

#[test]
fn quorum_lag_is_the_high_watermark_minus_the_log_end_never_negative() {
    let v = view();
    let q = v.quorum.as_ref().unwrap();
    assert_eq!(q.lag(&q.voters[0]), 40);
    assert_eq!(q.lag(&q.voters[1]), 0);
}

#[test]
fn text_and_json_carry_the_same_summary() {
    let v = view();
    let s = v.summary();
    assert_eq!(
        s,
        "3 nodes (2 live, 1 fenced, 0 absent), quorum leader 2 epoch 4 (2 voters, 0 observers); \
         5 partitions in 5 topics: 2 under-replicated, 1 under min ISR, 2 offline"
    );
    let text = v.text();
    assert!(text.contains(&s), "{text}");
    assert!(text.contains("UNDER-REPLICATED PARTITIONS (2)"), "{text}");
    assert!(text.contains("1500 ms ago"), "{text}");
    let json = v.json();
    assert!(json.starts_with("{\"cluster_id\":\"c\\\"1\",\"controller_id\":2,"));
    assert!(json.contains("\"status\":\"fenced\""), "{json}");
    assert!(
        json.contains("\"under_min_isr\":[{\"topic\":\"b\",\"partition\":0,\"leader\":2,\"replicas\":[1,2,3],\"isr\":[2],\"min_isr\":2}]"),
        "{json}"
    );
    assert!(json.contains("\"lag\":40"), "{json}");
}

#[test]
fn a_quorum_that_did_not_answer_is_reported_not_fatal() {
    let mut v = view();
    v.quorum = Err("DescribeQuorum: NOT_LEADER_OR_FOLLOWER".into());
    assert!(v.text().contains("unavailable: DescribeQuorum"));
    assert!(v
        .json()
        .contains("\"quorum\":{\"error\":\"DescribeQuorum: NOT_LEADER_OR_FOLLOWER\"}"));
    assert!(v.summary().contains("quorum unknown"));
}

#[test]
fn json_strings_are_escaped() {
    assert_eq!(jstr("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
}
