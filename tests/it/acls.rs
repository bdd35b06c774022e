//! ACLs over the real wire (issue 14): an in-process broker with
//! `authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer`. Every
//! plain connection is `User:ANONYMOUS`, so the ACLs are written while it is a super user,
//! and the broker is restarted without `super.users` (which also proves the ACLs survive a
//! restart); then each served API refuses with Kafka's code and nothing changes.

use crate::support::raw;
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const ANON: &str = "User:ANONYMOUS";

// Kafka's codes.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ANY: i8 = 1;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DENY: i8 = 2;
const ALLOW: i8 = 3;
const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const SECURITY_DISABLED: i16 = 54;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn acl(rt: i8, name: &str, pt: i8, op: i8, perm: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pt)
        .with_principal(s(ANON))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

fn create_acls(c: &mut RawClient, acls: Vec<AclCreation>) -> Vec<i16> {
    let resp = c.call(&CreateAclsRequest::default().with_creations(acls), 3);
    resp.results.iter().map(|r| r.error_code).collect()
}

/// One described ACL: (resource type, name, pattern, operation, permission).
type Described = (i8, String, i8, i8, i8);

/// Every ACL, sorted, with the response's error code.
fn describe_all(c: &mut RawClient) -> (i16, Vec<Described>) {
    let req = DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY);
    let resp = c.call(&req, 3);
    let mut out: Vec<_> = resp
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(|a| {
                (
                    r.resource_type,
                    r.resource_name.to_string(),
                    r.pattern_type,
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect();
    out.sort();
    (resp.error_code, out)
}

fn authorizer_props(super_user: bool) -> Vec<(&'static str, &'static str)> {
    let mut p = vec![("authorizer.class.name", AUTHORIZER)];
    if super_user {
        p.push(("super.users", ANON));
    }
    p
}

fn batch(v: &str) -> bytes::Bytes {
    encode_batch(&[(None, v)], None, now_ms())
}

fn log_end(b: &TestBroker, topic: &str) -> i64 {
    let topic = topic.to_string();
    b.with_broker(|br| async move {
        br.replicas
            .get(&topic, 0)
            .map(|r| r.log_end_offset())
            .expect("hosted")
    })
}

fn metadata_names(c: &mut RawClient, topics: Option<&[&str]>) -> Vec<(String, i16)> {
    let req = MetadataRequest::default().with_topics(topics.map(|ts| {
        ts.iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(raw::topic(t))))
            .collect()
    }));
    let resp = c.call(&req, 12);
    let mut out: Vec<(String, i16)> = resp
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            (name, t.error_code)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn acl_matrix_over_the_wire_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Phase 1: a super user sets up topics, data and ACLs (deny wins, prefixes, groups).
    let b = TestBroker::start(dir.path(), &authorizer_props(true));
    let mut c = RawClient::connect(&b.bootstrap());
    for t in ["pay-eu", "pay-us", "other"] {
        assert_eq!(raw::create_topic(&mut c, t, 1, &[]), 0, "{t}");
        assert_eq!(raw::produce(&mut c, t, 0, batch("v0")).error_code, 0, "{t}");
    }
    let codes = create_acls(
        &mut c,
        vec![
            acl(TOPIC, "pay-", PREFIXED, ALL, ALLOW),
            acl(TOPIC, "pay-us", LITERAL, READ, DENY),
            acl(GROUP, "g-ok", LITERAL, READ, ALLOW),
            acl(TOPIC, "scratch", LITERAL, WRITE, ALLOW),
            // MATCH is a filter only: refused.
            acl(TOPIC, "x", 2, READ, ALLOW),
        ],
    );
    assert_eq!(codes, vec![0, 0, 0, 0, INVALID_REQUEST]);
    // Creating one again adds nothing (Kafka's idempotent create).
    assert_eq!(
        create_acls(&mut c, vec![acl(GROUP, "g-ok", LITERAL, READ, ALLOW)]),
        vec![0]
    );
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(TOPIC)
        .with_resource_name_filter(Some(s("scratch")))
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY);
    let bad = filter.clone().with_operation(0);
    let del = c.call(
        &DeleteAclsRequest::default().with_filters(vec![filter, bad]),
        3,
    );
    assert_eq!(del.filter_results[0].error_code, 0);
    assert_eq!(del.filter_results[0].matching_acls.len(), 1);
    assert_eq!(del.filter_results[1].error_code, INVALID_REQUEST);
    let expected = vec![
        (TOPIC, "pay-".to_string(), PREFIXED, ALL, ALLOW),
        (TOPIC, "pay-us".to_string(), LITERAL, READ, DENY),
        (GROUP, "g-ok".to_string(), LITERAL, READ, ALLOW),
    ];
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(describe_all(&mut c), (0, sorted.clone()));
    // super.users bypasses a DENY: the super user reads pay-us.
    assert_eq!(raw::fetch(&mut c, "pay-us", 0, 0, 1 << 20).error_code, 0);
    drop(c);
    b.stop();

    // Phase 2: no super user; the ACLs came back from the metadata log.
    let b = TestBroker::start(dir.path(), &authorizer_props(false));
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(describe_all(&mut c), (CLUSTER_DENIED, vec![]));
    assert_eq!(
        create_acls(&mut c, vec![acl(TOPIC, "other", LITERAL, ALL, ALLOW)]),
        vec![CLUSTER_DENIED]
    );
    // Metadata: all topics lists only the describable ones; a named one is refused.
    let all = metadata_names(&mut c, None);
    assert_eq!(all, vec![("pay-eu".into(), 0), ("pay-us".into(), 0)]);
    let named = metadata_names(&mut c, Some(&["other", "pay-eu", "nope"]));
    assert_eq!(
        named,
        vec![
            ("nope".into(), TOPIC_DENIED),
            ("other".into(), TOPIC_DENIED),
            ("pay-eu".into(), 0)
        ]
    );
    // Produce: the prefix grants pay-eu; other is refused and its log does not move.
    assert_eq!(raw::produce(&mut c, "pay-eu", 0, batch("v1")).error_code, 0);
    let before = log_end(&b, "other");
    assert_eq!(
        raw::produce(&mut c, "other", 0, batch("x")).error_code,
        TOPIC_DENIED
    );
    assert_eq!(log_end(&b, "other"), before);
    // Fetch: DENY READ on pay-us wins over the prefix's ALLOW ALL.
    let f = raw::fetch(&mut c, "pay-eu", 0, 0, 1 << 20);
    assert_eq!((f.error_code, f.high_watermark), (0, 2));
    assert_eq!(
        raw::fetch(&mut c, "pay-us", 0, 0, 1 << 20).error_code,
        TOPIC_DENIED
    );
    assert_eq!(
        raw::fetch(&mut c, "other", 0, 0, 1 << 20).error_code,
        TOPIC_DENIED
    );
    // ...but DENY READ does not deny WRITE.
    assert_eq!(raw::produce(&mut c, "pay-us", 0, batch("w")).error_code, 0);
    assert_eq!(raw::list_offset(&mut c, "other", 0, -1).0, TOPIC_DENIED);
    assert_eq!(raw::list_offset(&mut c, "pay-eu", 0, -1), (0, 2));
    // Admin: CREATE, DELETE, ALTER on topics are not granted outside the prefix.
    assert_eq!(raw::create_topic(&mut c, "fresh", 1, &[]), TOPIC_DENIED);
    assert_eq!(raw::create_topic(&mut c, "pay-new", 1, &[]), 0);
    let del = DeleteTopicsRequest::default()
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(raw::topic("other")))
        ])
        .with_timeout_ms(5000);
    assert_eq!(c.call(&del, 6).responses[0].error_code, TOPIC_DENIED);
    let grow = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(raw::topic("other"))
            .with_count(3)])
        .with_timeout_ms(5000);
    assert_eq!(c.call(&grow, 3).results[0].error_code, TOPIC_DENIED);
    assert_eq!(metadata_names(&mut c, Some(&["other"])).len(), 1);
    // Groups: READ on g-ok only.
    let find = |c: &mut RawClient, g: &str| {
        let req = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s(g)]);
        c.call(&req, 4).coordinators[0].error_code
    };
    assert_eq!(find(&mut c, "g-no"), GROUP_DENIED);
    assert_eq!(find(&mut c, "g-ok"), 0);
    let join = JoinGroupRequest::default()
        .with_group_id(kafka_protocol::messages::GroupId(s("g-no")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"));
    assert_eq!(c.call(&join, 9).error_code, GROUP_DENIED);
    // KIP-848: ConsumerGroupHeartbeat needs READ, ConsumerGroupDescribe DESCRIBE on the group.
    let heartbeat = kafka_protocol::messages::ConsumerGroupHeartbeatRequest::default()
        .with_group_id(kafka_protocol::messages::GroupId(s("g-no")))
        .with_member_id(s("m-1"))
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(Some(vec![raw::topic("pay-eu")]))
        .with_topic_partitions(Some(Vec::new()));
    assert_eq!(c.call(&heartbeat, 1).error_code, GROUP_DENIED);
    // With READ on the group, every subscribed topic needs DESCRIBE.
    let on_ok = heartbeat
        .clone()
        .with_group_id(kafka_protocol::messages::GroupId(s("g-ok")));
    let hidden = on_ok
        .clone()
        .with_subscribed_topic_names(Some(vec![raw::topic("hidden")]));
    assert_eq!(c.call(&hidden, 1).error_code, TOPIC_DENIED);
    let joined = c.call(&on_ok, 1);
    assert_eq!((joined.error_code, joined.member_epoch), (0, 1));
    let leave = on_ok.with_member_epoch(-1).with_topic_partitions(None);
    assert_eq!(c.call(&leave, 1).error_code, 0);
    let describe = kafka_protocol::messages::ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![kafka_protocol::messages::GroupId(s("g-no"))]);
    assert_eq!(c.call(&describe, 1).groups[0].error_code, GROUP_DENIED);
    let commit = |c: &mut RawClient, g: &str, t: &str| {
        let req = OffsetCommitRequest::default()
            .with_group_id(kafka_protocol::messages::GroupId(s(g)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(raw::topic(t))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)])]);
        c.call(&req, 8).topics[0].partitions[0].error_code
    };
    assert_eq!(commit(&mut c, "g-no", "pay-eu"), GROUP_DENIED);
    assert_eq!(commit(&mut c, "g-ok", "other"), TOPIC_DENIED);
    assert_eq!(commit(&mut c, "g-ok", "pay-eu"), 0);
    // Producer ids: idempotent with WRITE on some topic (KIP-679); a transactional id needs
    // WRITE on it.
    assert!(raw::init_producer_id(&mut c, None).0 >= 0);
    let txn = InitProducerIdRequest::default()
        .with_transactional_id(Some(kafka_protocol::messages::TransactionalId(s("tx"))))
        .with_transaction_timeout_ms(10_000)
        .with_producer_id(kafka_protocol::messages::ProducerId(-1))
        .with_producer_epoch(-1);
    assert_eq!(c.call(&txn, 4).error_code, 53);
    // Configs of a topic without DESCRIBE_CONFIGS; the broker's need the cluster.
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let dc = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("other"))
            .with_configuration_keys(None),
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s("1"))
            .with_configuration_keys(None),
    ]);
    let codes: Vec<i16> = c
        .call(&dc, 4)
        .results
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, vec![TOPIC_DENIED, CLUSTER_DENIED]);
    // DescribeCluster on a broker listener answers anyone (Kafka); only the operations
    // field says the cluster may not be described (acls_apis.rs).
    assert_eq!(c.call(&DescribeClusterRequest::default(), 1).error_code, 0);
    drop(c);
    b.stop();
}

#[test]
fn acl_apis_answer_security_disabled_without_an_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(describe_all(&mut c).0, SECURITY_DISABLED);
    assert_eq!(
        create_acls(
            &mut c,
            vec![acl(CLUSTER, "kafka-cluster", LITERAL, ALL, ALLOW)]
        ),
        vec![SECURITY_DISABLED]
    );
    // Without an authorizer everything is allowed, as today.
    assert_eq!(raw::create_topic(&mut c, "t", 1, &[]), 0);
    assert_eq!(raw::produce(&mut c, "t", 0, batch("v")).error_code, 0);
}

#[test]
fn allow_everyone_if_no_acl_found_opens_resources_without_acls() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(
        dir.path(),
        &[
            ("authorizer.class.name", AUTHORIZER),
            ("allow.everyone.if.no.acl.found", "true"),
        ],
    );
    let mut c = RawClient::connect(&b.bootstrap());
    // No ACL on the cluster: creating ACLs is allowed.
    assert_eq!(raw::create_topic(&mut c, "open", 1, &[]), 0);
    assert_eq!(raw::create_topic(&mut c, "closed", 1, &[]), 0);
    // An ACL for someone else on `closed` takes the default away from ANONYMOUS there.
    let bob = acl(TOPIC, "closed", LITERAL, WRITE, ALLOW).with_principal(s("User:bob"));
    assert_eq!(create_acls(&mut c, vec![bob]), vec![0]);
    assert_eq!(raw::produce(&mut c, "open", 0, batch("v")).error_code, 0);
    assert_eq!(
        raw::produce(&mut c, "closed", 0, batch("v")).error_code,
        TOPIC_DENIED
    );
    assert_eq!(log_end(&b, "closed"), 0);
}

/// ACLs are replicated: created through any node (forwarded to the active controller), every
/// node's DescribeAcls shows them. The brokers' own requests run as `User:ANONYMOUS` too,
/// so it is the super user here.
#[test]
fn acls_created_anywhere_reach_every_node_of_a_cluster() {
    use crate::support::cluster::Cluster;
    use crate::support::replicas::call;
    use crate::support::wait_for;
    use std::time::Duration;
    let cluster = Cluster::start_with(
        3,
        &[("authorizer.class.name", AUTHORIZER), ("super.users", ANON)],
    );
    let create = CreateAclsRequest::default()
        .with_creations(vec![acl(TOPIC, "pay-", PREFIXED, WRITE, ALLOW)]);
    let codes = wait_for("CreateAcls through node 3", Duration::from_secs(30), || {
        let r = call(&cluster.broker_addr(2), &create, 3)?;
        let codes: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
        (codes == vec![0]).then_some(codes)
    });
    assert_eq!(codes, vec![0]);
    let describe = DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY);
    for i in 0..cluster.len() {
        let names = wait_for("the ACL on every node", Duration::from_secs(30), || {
            let r = call(&cluster.broker_addr(i), &describe, 3)?;
            let names: Vec<(String, i8)> = r
                .resources
                .iter()
                .map(|x| (x.resource_name.to_string(), x.pattern_type))
                .collect();
            (!names.is_empty()).then_some(names)
        });
        assert_eq!(names, vec![("pay-".to_string(), PREFIXED)], "node {i}");
    }
}

/// `gregor acls`' functions against a broker: add, list, remove.
#[test]
fn the_acls_tool_adds_lists_and_removes() {
    use gregor::security::acl::{AclOperation, AclPermission, PatternType, ResourceType};
    use gregor::tools::acls::{add, list, remove, AclSpec};
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(dir.path(), &authorizer_props(true));
    let spec = AclSpec {
        resource_type: ResourceType::Group,
        resource_name: "app-".into(),
        pattern_type: PatternType::Prefixed,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: AclPermission::Allow,
    };
    add(&b.bootstrap(), &spec).expect("add");
    assert_eq!(
        list(&b.bootstrap()).expect("list"),
        "GROUP app- PREFIXED User:alice * READ ALLOW\n"
    );
    assert_eq!(remove(&b.bootstrap(), &spec), Ok(1));
    assert_eq!(list(&b.bootstrap()).expect("list"), "");
    let mut bad = spec.clone();
    bad.pattern_type = PatternType::Match;
    assert!(add(&b.bootstrap(), &bad)
        .unwrap_err()
        .starts_with("INVALID_REQUEST"));
}
