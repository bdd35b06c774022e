//! The cluster-admin APIs tools call, checked field by field against Kafka's answers over the
//! raw protocol: DescribeLogDirs, DescribeTopicPartitions (cursor pagination),
//! ListConfigResources, ElectLeaders, AlterPartitionReassignments and
//! ListPartitionReassignments — and every served version of each answers.

use crate::support::raw;
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::*;

const NODE: i32 = 1;
/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const ALL_TOPIC_OPS: i32 = 3576;

fn start(dir: &std::path::Path) -> (TestBroker, RawClient) {
    let broker = TestBroker::start(dir, &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    for (name, partitions) in [("t1", 3), ("t2", 2), ("t3", 1)] {
        assert_eq!(raw::create_topic(&mut c, name, partitions, &[]), 0);
    }
    (broker, c)
}

fn names(
    topics: &[describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic],
) -> Vec<(String, Vec<i32>)> {
    topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect()
}

fn dtp(
    c: &mut RawClient,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    let req = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(raw::topic(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(raw::topic(t))
                .with_partition_index(p)
        }));
    c.call(&req, 0)
}

fn cursor_of(r: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
    r.next_cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index))
}

#[test]
fn describe_topic_partitions_pages_with_a_cursor_like_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut c) = start(dir.path());

    // All topics, two partitions a page: the cursor walks t1:0-1, t1:2 t2:0, t2:1 t3:0.
    let r = dtp(&mut c, &[], 2, None);
    assert_eq!(names(&r.topics), vec![("t1".into(), vec![0, 1])]);
    assert_eq!(cursor_of(&r), Some(("t1".into(), 2)));
    let r = dtp(&mut c, &[], 2, Some(("t1", 2)));
    assert_eq!(
        names(&r.topics),
        vec![("t1".into(), vec![2]), ("t2".into(), vec![0])]
    );
    assert_eq!(cursor_of(&r), Some(("t2".into(), 1)));
    let r = dtp(&mut c, &[], 2, Some(("t2", 1)));
    assert_eq!(
        names(&r.topics),
        vec![("t2".into(), vec![1]), ("t3".into(), vec![0])]
    );
    assert_eq!(cursor_of(&r), None);
    // The limit used up exactly at a topic's end: the cursor names the next topic at 0.
    let r = dtp(&mut c, &[], 3, None);
    assert_eq!(names(&r.topics), vec![("t1".into(), vec![0, 1, 2])]);
    assert_eq!(cursor_of(&r), Some(("t2".into(), 0)));
    // A limit below 1 is 1.
    let r = dtp(&mut c, &[], 0, None);
    assert_eq!(names(&r.topics), vec![("t1".into(), vec![0])]);
    assert_eq!(cursor_of(&r), Some(("t1".into(), 1)));

    // Listed topics: de-duplicated, sorted, unknown and illegal names answered per topic.
    let r = dtp(&mut c, &["zz", "t2", "t2", "bad/name"], 2000, None);
    let codes: Vec<(String, i16)> = r
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![("bad/name".into(), 17), ("t2".into(), 0), ("zz".into(), 3)]
    );
    let meta: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    let t2_id = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some("t2"))
        .unwrap()
        .topic_id;
    let t2 = &r.topics[1];
    assert_eq!(t2.topic_id, t2_id);
    assert!(!t2.is_internal);
    assert_eq!(t2.topic_authorized_operations, ALL_TOPIC_OPS);
    for (i, p) in t2.partitions.iter().enumerate() {
        assert_eq!(p.error_code, 0);
        assert_eq!(p.partition_index, i as i32);
        assert_eq!(p.leader_id.0, NODE);
        assert_eq!(p.leader_epoch, 0);
        assert_eq!(p.replica_nodes, vec![BrokerId(NODE)]);
        assert_eq!(p.isr_nodes, vec![BrokerId(NODE)]);
        assert_eq!(p.eligible_leader_replicas, Some(vec![]));
        assert_eq!(p.last_known_elr, Some(vec![]));
        assert!(p.offline_replicas.is_empty());
    }
    assert!(r.topics[2].topic_id.is_nil() && r.topics[2].partitions.is_empty());
    // A listed request skips topics before the cursor's, and starts that one at its partition.
    let r = dtp(&mut c, &["t1", "t3", "t2"], 2000, Some(("t2", 1)));
    assert_eq!(
        names(&r.topics),
        vec![("t2".into(), vec![1]), ("t3".into(), vec![0])]
    );

    // Refused shapes: the cursor's topic not listed, a negative cursor partition.
    let r = dtp(&mut c, &["t1", "t3"], 2000, Some(("t2", 0)));
    assert_eq!(
        r.topics.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        vec![42, 42]
    );
    let r = dtp(&mut c, &["t1"], 2000, Some(("t1", -1)));
    assert_eq!(
        r.topics.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        vec![42]
    );
}

fn log_dirs(
    c: &mut RawClient,
    version: i16,
    topics: Option<&[(&str, &[i32])]>,
) -> DescribeLogDirsResponse {
    let topics = topics.map(|ts| {
        ts.iter()
            .map(|(t, ps)| {
                DescribableLogDirTopic::default()
                    .with_topic(raw::topic(t))
                    .with_partitions(ps.to_vec())
            })
            .collect()
    });
    c.call(
        &DescribeLogDirsRequest::default().with_topics(topics),
        version,
    )
}

/// The bytes of a partition directory's segment files.
fn segment_bytes(dir: &std::path::Path) -> i64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::metadata(p).unwrap().len() as i64)
        .sum()
}

#[test]
fn describe_log_dirs_reports_the_data_dir_and_partition_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut c) = start(dir.path());
    let value = "v".repeat(300);
    let batch = encode_batch(&[(None, value.as_str())], None, now_ms());
    assert_eq!(raw::produce(&mut c, "t1", 1, batch).error_code, 0);
    // The first FindCoordinator creates `__consumer_offsets` (Kafka's lazy internal topic).
    let found = c.call(
        &kafka_protocol::messages::FindCoordinatorRequest::default()
            .with_key(kafka_protocol::protocol::StrBytes::from_static_str("g")),
        3,
    );
    assert_eq!(found.error_code, 0);

    let r = log_dirs(&mut c, 4, None);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1);
    let d = &r.results[0];
    assert_eq!(d.error_code, 0);
    assert_eq!(d.log_dir.as_str(), dir.path().display().to_string());
    assert!(d.total_bytes > 0, "{}", d.total_bytes);
    assert!((0..=d.total_bytes).contains(&d.usable_bytes));
    let listed: Vec<String> = d.topics.iter().map(|t| t.name.to_string()).collect();
    for t in ["t1", "t2", "t3", "__consumer_offsets"] {
        assert!(listed.contains(&t.to_string()), "{listed:?}");
    }
    assert!(!listed.iter().any(|t| t == "__cluster_metadata"));
    let t1 = d.topics.iter().find(|t| t.name.as_str() == "t1").unwrap();
    let indexes: Vec<i32> = t1.partitions.iter().map(|p| p.partition_index).collect();
    assert_eq!(indexes, vec![0, 1, 2]);
    let p1 = &t1.partitions[1];
    assert!(p1.partition_size > 300, "{}", p1.partition_size);
    assert_eq!(p1.partition_size, segment_bytes(&dir.path().join("t1-1")));
    assert_eq!(t1.partitions[0].partition_size, 0);
    assert!(t1
        .partitions
        .iter()
        .all(|p| p.offset_lag == 0 && !p.is_future_key));

    // Listed partitions: unknown ones (and a topic left with none) are omitted.
    let r = log_dirs(
        &mut c,
        4,
        Some(&[("t1", &[1, 9]), ("nope", &[0]), ("t2", &[5])]),
    );
    let d = &r.results[0];
    assert_eq!(d.error_code, 0);
    let got: Vec<(String, Vec<i32>)> = d
        .topics
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    assert_eq!(got, vec![("t1".to_string(), vec![1])]);
    // An empty list asks for nothing.
    assert!(log_dirs(&mut c, 4, Some(&[])).results[0].topics.is_empty());

    // Before v4 the volume sizes are not sent: they decode as the default, unknown.
    let r = log_dirs(&mut c, 3, None);
    assert_eq!(r.results[0].total_bytes, -1);
    assert_eq!(r.results[0].usable_bytes, -1);
    assert!(!r.results[0].topics.is_empty());
}

fn elect(
    c: &mut RawClient,
    version: i16,
    kind: i8,
    tps: Option<&[(&str, &[i32])]>,
) -> ElectLeadersResponse {
    let tps = tps.map(|ts| {
        ts.iter()
            .map(|(t, ps)| {
                TopicPartitions::default()
                    .with_topic(raw::topic(t))
                    .with_partitions(ps.to_vec())
            })
            .collect()
    });
    let mut req = ElectLeadersRequest::default().with_topic_partitions(tps);
    if version > 0 {
        req = req.with_election_type(kind);
    }
    c.call(&req, version)
}

fn outcomes(r: &ElectLeadersResponse) -> Vec<(String, i32, i16, String)> {
    r.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result.iter().map(|p| {
                (
                    t.topic.to_string(),
                    p.partition_id,
                    p.error_code,
                    p.error_message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                )
            })
        })
        .collect()
}

#[test]
fn elect_leaders_answers_election_not_needed_on_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut c) = start(dir.path());
    let not_needed = "Leader election not needed for topic partition.".to_string();
    for (version, kind) in [(0, 0), (1, 0), (2, 0), (2, 1)] {
        let r = elect(
            &mut c,
            version,
            kind,
            Some(&[("t2", &[0, 1, 7]), ("nope", &[0])]),
        );
        assert_eq!(r.error_code, 0);
        assert_eq!(
            outcomes(&r),
            vec![
                ("t2".into(), 0, 84, not_needed.clone()),
                ("t2".into(), 1, 84, not_needed.clone()),
                ("t2".into(), 7, 3, "No such partition as t2-7".into()),
                ("nope".into(), 0, 3, "No such topic as nope".into()),
            ],
            "v{version} type {kind}"
        );
    }
    // Every partition: each topic answered, partitions needing no election left out.
    let r = elect(&mut c, 2, 0, None);
    let topics: Vec<String> = r
        .replica_election_results
        .iter()
        .map(|t| t.topic.to_string())
        .collect();
    assert_eq!(topics, vec!["t1", "t2", "t3"]);
    assert!(outcomes(&r).is_empty());
    // An unknown election type.
    let r = elect(&mut c, 2, 5, Some(&[("t1", &[0])]));
    assert_eq!(r.error_code, 42);
    assert_eq!(outcomes(&r)[0].2, 42);
}

fn reassign(
    c: &mut RawClient,
    version: i16,
    allow_rf: bool,
    topic: &str,
    moves: Vec<(i32, Option<Vec<i32>>)>,
) -> AlterPartitionReassignmentsResponse {
    let partitions = moves
        .into_iter()
        .map(|(p, r)| {
            ReassignablePartition::default()
                .with_partition_index(p)
                .with_replicas(r.map(|ids| ids.into_iter().map(BrokerId).collect()))
        })
        .collect();
    let mut req = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        ReassignableTopic::default()
            .with_name(raw::topic(topic))
            .with_partitions(partitions),
    ]);
    if version >= 1 {
        req = req.with_allow_replication_factor_change(allow_rf);
    }
    c.call(&req, version)
}

fn partition_errors(r: &AlterPartitionReassignmentsResponse) -> Vec<(i32, i16, Option<String>)> {
    r.responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    p.partition_index,
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                )
            })
        })
        .collect()
}

#[test]
fn partition_reassignments_follow_kafkas_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut c) = start(dir.path());
    for version in [0, 1] {
        let r = reassign(
            &mut c,
            version,
            true,
            "t1",
            vec![
                (0, Some(vec![NODE])),
                (1, Some(vec![NODE, 99])),
                (2, None),
                (0, Some(vec![])),
                (1, Some(vec![NODE, NODE])),
                (3, Some(vec![NODE])),
            ],
        );
        assert_eq!((r.error_code, r.error_message.clone()), (0, None));
        assert_eq!(
            partition_errors(&r),
            vec![
                (0, 0, None),
                (1, 39, Some("The manual partition assignment includes broker 99, but no such broker is registered.".into())),
                (2, 85, Some("No partition reassignment is in progress.".into())),
                (0, 39, Some("The manual partition assignment includes an empty replica list.".into())),
                (1, 39, Some(format!("The manual partition assignment includes the broker {NODE} more than once."))),
                (3, 3, Some("Unable to find partition t1:3.".into())),
            ],
            "v{version}"
        );
    }
    let r = reassign(&mut c, 1, true, "nope", vec![(0, Some(vec![NODE]))]);
    assert_eq!(
        partition_errors(&r),
        vec![(0, 3, Some("Unable to find a topic named nope.".into()))]
    );
    // KIP-860: no replication factor change allowed, and the flag is echoed.
    let r = reassign(&mut c, 1, false, "t1", vec![(0, Some(vec![NODE]))]);
    assert!(!r.allow_replication_factor_change);
    assert_eq!(partition_errors(&r), vec![(0, 0, None)]);

    // Nothing is ever being reassigned.
    let r: ListPartitionReassignmentsResponse = c.call(
        &ListPartitionReassignmentsRequest::default().with_topics(None),
        0,
    );
    assert_eq!(
        (r.error_code, r.error_message, r.topics.len()),
        (0, None, 0)
    );
    let r: ListPartitionReassignmentsResponse = c.call(
        &ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
            ListPartitionReassignmentsTopics::default()
                .with_name(raw::topic("t1"))
                .with_partition_indexes(vec![0, 1]),
        ])),
        0,
    );
    assert_eq!((r.error_code, r.topics.len()), (0, 0));
}

#[test]
fn a_reassignment_past_its_timeout_changes_nothing_and_a_fenced_target_is_accepted() {
    use kafka_protocol::messages::broker_registration_request::Listener;
    use kafka_protocol::protocol::StrBytes;
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::combined(dir.path());
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t1", 2, &[]), 0);
    // Broker 7 registers and never heartbeats: registered, fenced.
    let meta: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    let cluster_id = meta.cluster_id.map(|c| c.to_string()).expect("cluster id");
    let mut ctl = RawClient::connect(&broker.listener_addr("CONTROLLER").to_string());
    let reg: BrokerRegistrationResponse = ctl.call(
        &BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(7))
            .with_cluster_id(StrBytes::from_string(cluster_id))
            .with_incarnation_id(uuid::Uuid::from_u128(7))
            .with_listeners(vec![Listener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9999)])
            .with_previous_broker_epoch(-1),
        4,
    );
    assert_eq!(reg.error_code, 0);
    let req = |timeout_ms: i32, p: i32| {
        AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_topics(vec![ReassignableTopic::default()
                .with_name(raw::topic("t1"))
                .with_partitions(vec![ReassignablePartition::default()
                    .with_partition_index(p)
                    .with_replicas(Some(vec![BrokerId(NODE), BrokerId(7)]))])])
    };
    // Kafka's controller deadline: timeout 0 has passed before the operation can start —
    // REQUEST_TIMED_OUT (7) at the top and on the partition, no message, nothing changed.
    for version in [0, 1] {
        let r: AlterPartitionReassignmentsResponse = c.call(&req(0, 0), version);
        assert_eq!((r.error_code, r.error_message.clone()), (7, None));
        assert_eq!(partition_errors(&r), vec![(0, 7, None)]);
    }
    let list = |c: &mut RawClient| -> Vec<(i32, Vec<i32>, Vec<i32>)> {
        let r: ListPartitionReassignmentsResponse = c.call(
            &ListPartitionReassignmentsRequest::default().with_topics(None),
            0,
        );
        let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| (p.partition_index, ids(&p.replicas), ids(&p.adding_replicas)))
            .collect()
    };
    assert_eq!(list(&mut c), vec![]);
    // A fenced broker is registered: Kafka accepts it as a target; it stays adding.
    let r: AlterPartitionReassignmentsResponse = c.call(&req(10_000, 1), 1);
    assert_eq!(
        (r.error_code, partition_errors(&r)),
        (0, vec![(1, 0, None)])
    );
    assert_eq!(list(&mut c), vec![(1, vec![NODE, 7], vec![7])]);
}

#[test]
fn list_config_resources_lists_brokers_and_topics() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut c) = start(dir.path());
    let list = |c: &mut RawClient, version: i16, types: Vec<i8>| -> (i16, Vec<(String, i8)>) {
        let r: ListConfigResourcesResponse = c.call(
            &ListConfigResourcesRequest::default().with_resource_types(types),
            version,
        );
        let got = r
            .config_resources
            .iter()
            .map(|x| (x.resource_name.to_string(), x.resource_type))
            .collect();
        (r.error_code, got)
    };
    // v0 (ListClientMetricsResources): no client-metrics subscriptions.
    assert_eq!(list(&mut c, 0, vec![]), (0, vec![]));
    let node = NODE.to_string();
    assert_eq!(
        list(&mut c, 1, vec![]),
        (
            0,
            vec![
                (node.clone(), 8),
                (node.clone(), 4),
                ("t1".into(), 2),
                ("t2".into(), 2),
                ("t3".into(), 2),
            ]
        )
    );
    assert_eq!(list(&mut c, 1, vec![4, 16, 32]), (0, vec![(node, 4)]));
    assert_eq!(list(&mut c, 1, vec![2, 3]), (35, vec![]));
}

#[test]
fn every_version_of_the_admin_apis_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut c) = start(dir.path());
    for v in 1..=4 {
        let r: DescribeLogDirsResponse = c.call(&DescribeLogDirsRequest::default(), v);
        assert_eq!(r.results.len(), 1, "DescribeLogDirs v{v}");
    }
    let r: DescribeTopicPartitionsResponse = c.call(&DescribeTopicPartitionsRequest::default(), 0);
    assert_eq!(r.topics.len(), 3);
    for v in 0..=1 {
        let r: ListConfigResourcesResponse = c.call(&ListConfigResourcesRequest::default(), v);
        assert_eq!(r.error_code, 0, "ListConfigResources v{v}");
    }
    for v in 0..=2 {
        let r: ElectLeadersResponse = c.call(&ElectLeadersRequest::default(), v);
        assert!(r.replica_election_results.is_empty(), "ElectLeaders v{v}");
    }
    for v in 0..=1 {
        let r: AlterPartitionReassignmentsResponse =
            c.call(&AlterPartitionReassignmentsRequest::default(), v);
        assert_eq!(r.error_code, 0, "AlterPartitionReassignments v{v}");
    }
    let r: ListPartitionReassignmentsResponse =
        c.call(&ListPartitionReassignmentsRequest::default(), 0);
    assert_eq!(r.error_code, 0);
    // ApiVersions advertises exactly these ranges.
    let r: ApiVersionsResponse = c.call(&ApiVersionsRequest::default(), 3);
    let range = |key: ApiKey| {
        r.api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(ApiKey::DescribeLogDirs), Some((1, 4)));
    assert_eq!(range(ApiKey::ElectLeaders), Some((0, 2)));
    assert_eq!(range(ApiKey::AlterPartitionReassignments), Some((0, 1)));
    assert_eq!(range(ApiKey::ListPartitionReassignments), Some((0, 0)));
    assert_eq!(range(ApiKey::ListConfigResources), Some((0, 1)));
    assert_eq!(range(ApiKey::DescribeTopicPartitions), Some((0, 0)));
}
