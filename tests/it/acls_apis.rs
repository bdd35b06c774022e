//! The authorization checks of the admin and transaction APIs that `acls.rs` does not cover
//! (issue 14): OffsetDelete, DescribeProducers, DescribeTransactions, ListTransactions,
//! DescribeTopicPartitions, ListConfigResources, the SCRAM credential APIs, UnregisterBroker
//! and group configs. As in `acls.rs`, a super user prepares data and ACLs, the broker is
//! restarted without `super.users`, and each API answers with Kafka's code; then a super user
//! again checks that nothing refused changed.

use crate::support::raw::{self, init_producer_id};
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest as DtpTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const ANON: &str = "User:ANONYMOUS";
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const TXN_ID: i8 = 5;
const LITERAL: i8 = 3;
const ALL: i8 = 2;
const ALLOW: i8 = 3;
const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_ID_DENIED: i16 = 53;
/// Every topic operation as a bit field (READ…ALTER_CONFIGS, Kafka's supported operations).
const ALL_TOPIC_OPS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn allow_all(rt: i8, name: &str) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(LITERAL)
        .with_principal(s(ANON))
        .with_host(s("*"))
        .with_operation(ALL)
        .with_permission_type(ALLOW)
}

fn props(super_user: bool) -> Vec<(&'static str, &'static str)> {
    let mut p = vec![("authorizer.class.name", AUTHORIZER)];
    if super_user {
        p.push(("super.users", ANON));
    }
    p
}

fn commit(c: &mut RawClient, group: &str, topics: &[&str]) -> Vec<i16> {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    OffsetCommitRequestTopic::default()
                        .with_name(raw::topic(t))
                        .with_partitions(vec![OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1)])
                })
                .collect(),
        );
    let resp = c.call(&req, 8);
    resp.topics
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect()
}

/// The committed offset of partition 0 of each topic (−1 when none), OffsetFetch v7.
fn committed(c: &mut RawClient, group: &str, topics: &[&str]) -> Vec<i64> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    OffsetFetchRequestTopic::default()
                        .with_name(raw::topic(t))
                        .with_partition_indexes(vec![0])
                })
                .collect(),
        ));
    let resp = c.call(&req, 7);
    assert_eq!(resp.error_code, 0);
    resp.topics
        .iter()
        .map(|t| t.partitions[0].committed_offset)
        .collect()
}

fn offset_delete(c: &mut RawClient, group: &str, topics: &[&str]) -> OffsetDeleteResponse {
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(raw::topic(t))
                        .with_partitions(vec![
                            OffsetDeleteRequestPartition::default().with_partition_index(0)
                        ])
                })
                .collect(),
        );
    c.call(&req, 0)
}

fn describe_producers(c: &mut RawClient, topics: &[&str]) -> Vec<i16> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let req = DescribeProducersRequest::default().with_topics(
        topics
            .iter()
            .map(|t| {
                TopicRequest::default()
                    .with_name(raw::topic(t))
                    .with_partition_indexes(vec![0])
            })
            .collect(),
    );
    let resp = c.call(&req, 0);
    resp.topics
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect()
}

/// `(name, error, topic id is nil, partitions, authorized operations)` per answered topic.
type DtpRow = (String, i16, bool, usize, i32);

fn describe_topic_partitions(c: &mut RawClient, topics: &[&str]) -> Vec<DtpRow> {
    let req = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| DtpTopic::default().with_name(raw::topic(t)))
                .collect(),
        )
        .with_response_partition_limit(2000);
    let resp = c.call(&req, 0);
    resp.topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
                t.topic_id.is_nil(),
                t.partitions.len(),
                t.topic_authorized_operations,
            )
        })
        .collect()
}

fn list_transactions(c: &mut RawClient) -> Vec<String> {
    let resp = c.call(&ListTransactionsRequest::default(), 1);
    assert_eq!(resp.error_code, 0);
    let mut ids: Vec<String> = resp
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn admin_and_transaction_apis_refuse_with_kafkas_codes() {
    let dir = tempfile::tempdir().unwrap();
    // Phase 1: a super user writes data, commits offsets, opens transactional ids, adds ACLs.
    let b = TestBroker::start(dir.path(), &props(true));
    let mut c = RawClient::connect(&b.bootstrap());
    for t in ["t-ok", "t-no"] {
        assert_eq!(raw::create_topic(&mut c, t, 1, &[]), 0, "{t}");
        let batch = encode_batch(&[(None, "v")], None, now_ms());
        assert_eq!(raw::produce(&mut c, t, 0, batch).error_code, 0, "{t}");
    }
    assert_eq!(commit(&mut c, "g", &["t-ok", "t-no"]), vec![0, 0]);
    assert!(init_producer_id(&mut c, Some("tx-ok")).0 >= 0);
    assert!(init_producer_id(&mut c, Some("tx-no")).0 >= 0);
    assert_eq!(list_transactions(&mut c), vec!["tx-no", "tx-ok"]);
    let acls = vec![
        allow_all(TOPIC, "t-ok"),
        allow_all(GROUP, "g"),
        allow_all(TXN_ID, "tx-ok"),
    ];
    let created = c.call(&CreateAclsRequest::default().with_creations(acls), 3);
    assert!(created.results.iter().all(|r| r.error_code == 0));
    drop(c);
    b.stop();

    // Phase 2: no super user.
    let b = TestBroker::start(dir.path(), &props(false));
    let mut c = RawClient::connect(&b.bootstrap());
    // OffsetDelete: DELETE on the group, then READ per topic.
    let denied = offset_delete(&mut c, "g-no", &["t-ok"]);
    assert_eq!((denied.error_code, denied.topics.len()), (GROUP_DENIED, 0));
    let resp = offset_delete(&mut c, "g", &["t-ok", "t-no"]);
    assert_eq!(resp.error_code, 0);
    let codes: Vec<(String, i16)> = resp
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        codes,
        vec![("t-ok".into(), 0), ("t-no".into(), TOPIC_DENIED)]
    );
    // DescribeProducers: READ on the topic.
    assert_eq!(
        describe_producers(&mut c, &["t-ok", "t-no"]),
        vec![0, TOPIC_DENIED]
    );
    // DescribeTransactions: DESCRIBE on each transactional id.
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![
        TransactionalId(s("tx-ok")),
        TransactionalId(s("tx-no")),
    ]);
    let states: Vec<(String, i16)> = c
        .call(&req, 0)
        .transaction_states
        .iter()
        .map(|t| (t.transactional_id.to_string(), t.error_code))
        .collect();
    assert_eq!(
        states,
        vec![("tx-ok".into(), 0), ("tx-no".into(), TXN_ID_DENIED)]
    );
    // ListTransactions: only the ids the client may describe.
    assert_eq!(list_transactions(&mut c), vec!["tx-ok"]);
    // DescribeTopicPartitions: a listed topic without DESCRIBE (existing or not) comes after
    // the page with TOPIC_AUTHORIZATION_FAILED, a nil id and no partitions; all topics leave
    // it out.
    assert_eq!(
        describe_topic_partitions(&mut c, &["t-no", "t-ok", "nope"]),
        vec![
            ("t-ok".into(), 0, false, 1, ALL_TOPIC_OPS),
            ("nope".into(), TOPIC_DENIED, true, 0, i32::MIN),
            ("t-no".into(), TOPIC_DENIED, true, 0, i32::MIN),
        ]
    );
    assert_eq!(
        describe_topic_partitions(&mut c, &[]),
        vec![("t-ok".into(), 0, false, 1, ALL_TOPIC_OPS)]
    );
    // ListConfigResources: DESCRIBE_CONFIGS on the cluster.
    for v in [0, 1] {
        let r = c.call(&ListConfigResourcesRequest::default(), v);
        assert_eq!(
            (r.error_code, r.config_resources.len()),
            (CLUSTER_DENIED, 0)
        );
    }
    // SCRAM credentials: DESCRIBE / ALTER on the cluster.
    use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion;
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    let dus = DescribeUserScramCredentialsRequest::default()
        .with_users(Some(vec![UserName::default().with_name(s("bob"))]));
    let r = c.call(&dus, 0);
    let per_user: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
    assert_eq!(
        (r.error_code, per_user),
        (CLUSTER_DENIED, vec![CLUSTER_DENIED])
    );
    let aus = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        ScramCredentialDeletion::default()
            .with_name(s("bob"))
            .with_mechanism(1),
    ]);
    let r = c.call(&aus, 0);
    let per_user: Vec<(String, i16)> = r
        .results
        .iter()
        .map(|x| (x.user.to_string(), x.error_code))
        .collect();
    assert_eq!(per_user, vec![("bob".into(), CLUSTER_DENIED)]);
    // UnregisterBroker: ALTER on the cluster.
    let unreg = UnregisterBrokerRequest::default().with_broker_id(BrokerId(99));
    assert_eq!(c.call(&unreg, 0).error_code, CLUSTER_DENIED);
    // DescribeConfigs of a group: DESCRIBE_CONFIGS on the group, before anything else.
    let dc =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(32)
            .with_resource_name(s("g-no"))
            .with_configuration_keys(None)]);
    assert_eq!(c.call(&dc, 4).results[0].error_code, GROUP_DENIED);
    drop(c);
    b.stop();

    // Phase 3: the super user sees what was refused unchanged.
    let b = TestBroker::start(dir.path(), &props(true));
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(committed(&mut c, "g", &["t-ok", "t-no"]), vec![-1, 1]);
    drop(c);
    b.stop();
}

const READ: i8 = 3;
const DELETE: i8 = 6;

/// Metadata v10's topic and cluster `authorized_operations` for `topics`, when asked for.
fn metadata_ops(c: &mut RawClient, topics: &[&str], ask: bool) -> (Vec<(String, i32)>, i32) {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let req = MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(raw::topic(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(false)
        .with_include_cluster_authorized_operations(ask)
        .with_include_topic_authorized_operations(ask);
    let resp = c.call(&req, 10);
    let topics = resp
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            (name, t.topic_authorized_operations)
        })
        .collect();
    (topics, resp.cluster_authorized_operations)
}

/// DescribeCluster v1's `(error, cluster_authorized_operations)`.
fn cluster_ops(c: &mut RawClient, ask: bool) -> (i16, i32) {
    let req = DescribeClusterRequest::default()
        .with_include_cluster_authorized_operations(ask)
        .with_endpoint_type(1);
    let r = c.call(&req, 1);
    (r.error_code, r.cluster_authorized_operations)
}

/// DescribeGroups v5's `(error, authorized_operations)` of one group.
fn group_ops(c: &mut RawClient, group: &str, ask: bool) -> (i16, i32) {
    let req = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(s(group))])
        .with_include_authorized_operations(ask);
    let r = c.call(&req, 5);
    (r.groups[0].error_code, r.groups[0].authorized_operations)
}

#[test]
fn authorized_operations_are_kafkas_bit_fields() {
    let bit = |ops: &[i8]| ops.iter().fold(0i32, |b, op| b | (1 << op));
    // Without an authorizer: every supported operation; INT32_MIN when not asked for.
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t-a", 1, &[]), 0);
    let all_cluster = bit(&[5, 7, 8, 9, 10, 11, 12]);
    assert_eq!(
        metadata_ops(&mut c, &["t-a"], true),
        (vec![("t-a".into(), ALL_TOPIC_OPS)], all_cluster)
    );
    assert_eq!(
        metadata_ops(&mut c, &["t-a"], false),
        (vec![("t-a".into(), i32::MIN)], i32::MIN)
    );
    assert_eq!(cluster_ops(&mut c, true), (0, all_cluster));
    assert_eq!(cluster_ops(&mut c, false), (0, i32::MIN));
    let all_group = bit(&[3, 6, 8, 10, 11]);
    assert_eq!(group_ops(&mut c, "g", true), (0, all_group));
    assert_eq!(group_ops(&mut c, "g", false), (0, i32::MIN));
    drop(c);
    b.stop();

    // With ACLs: the granted operations and the ones they imply, nothing else.
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(dir.path(), &props(true));
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t-a", 1, &[]), 0);
    let mut read = allow_all(TOPIC, "t-a");
    read.operation = READ;
    let mut delete = allow_all(GROUP, "g");
    delete.operation = DELETE;
    let created = c.call(
        &CreateAclsRequest::default().with_creations(vec![read, delete]),
        3,
    );
    assert!(created.results.iter().all(|r| r.error_code == 0));
    drop(c);
    b.stop();
    let b = TestBroker::start(dir.path(), &props(false));
    let mut c = RawClient::connect(&b.bootstrap());
    let read_describe = bit(&[3, 8]);
    // No ACL on the cluster: DescribeCluster still answers (a broker listener), with 0.
    assert_eq!(
        metadata_ops(&mut c, &["t-a"], true),
        (vec![("t-a".into(), read_describe)], 0)
    );
    assert_eq!(cluster_ops(&mut c, true), (0, 0));
    assert_eq!(cluster_ops(&mut c, false), (0, i32::MIN));
    assert_eq!(group_ops(&mut c, "g", true), (0, bit(&[6, 8])));
    assert_eq!(group_ops(&mut c, "g-no", true), (GROUP_DENIED, i32::MIN));
    let dtp = describe_topic_partitions(&mut c, &["t-a"]);
    assert_eq!(dtp, vec![("t-a".into(), 0, false, 1, read_describe)]);
    drop(c);
    b.stop();
}
