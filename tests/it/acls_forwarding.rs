//! Forwarded requests are authorized as the client, not as the forwarding node (issue 14):
//! the controller serves Kafka's Envelope (api 58) on its controller listener, running the
//! inner request with the principal and address the envelope carries, and trusts only a
//! sender with CLUSTER_ACTION. Here the test plays the forwarding node on a combined node's
//! controller listener (`User:ANONYMOUS`, a super user like a cluster's own nodes) and wraps
//! requests for `User:alice`; the end-to-end forwarding path (a broker-only node wrapping a
//! client's request) runs in `broker_forwarding.rs` and `acls.rs`' cluster test.

use bytes::Bytes;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

use crate::support::broker::free_port;
use crate::support::raw;
use crate::support::{RawClient, TestBroker};

const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const TOPIC_DENIED: i16 = 29;
const CLUSTER_DENIED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const PRINCIPAL_DESERIALIZATION_FAILURE: i16 = 97;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A combined node (one voter at `voters`) with the authorizer; ANONYMOUS is a super user
/// when `super_user`.
fn node(dir: &std::path::Path, voters: &str, super_user: bool) -> TestBroker {
    let mut props = vec![
        ("process.roles", "broker,controller"),
        ("node.id", "1"),
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        ),
        ("controller.listener.names", "CONTROLLER"),
        ("controller.quorum.voters", voters),
        ("authorizer.class.name", AUTHORIZER),
    ];
    if super_user {
        props.push(("super.users", "User:ANONYMOUS"));
    }
    TestBroker::start(dir, &props)
}

/// The envelope of `req` (at `version`) for `principal` from 10.0.0.7.
fn envelope<R: Request>(req: &R, version: i16, principal: Option<&str>) -> EnvelopeRequest {
    let mut data = bytes::BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(77)
        .with_client_id(Some(s("alice-app")))
        .encode(
            &mut data,
            ApiKey::try_from(R::KEY)
                .unwrap()
                .request_header_version(version),
        )
        .unwrap();
    req.encode(&mut data, version).unwrap();
    EnvelopeRequest::default()
        .with_request_data(data.freeze())
        .with_request_principal(principal.map(|p| Bytes::from(p.to_string())))
        .with_client_host_address(Bytes::from_static(&[10, 0, 0, 7]))
}

/// Sends an envelope: its error code and the inner response, if any.
fn send<R: Request>(
    c: &mut RawClient,
    req: &R,
    version: i16,
    principal: Option<&str>,
) -> (i16, Option<R::Response>) {
    let resp = c.call(&envelope(req, version, principal), 0);
    let inner = resp.response_data.map(|mut d| {
        let hv = ApiKey::try_from(R::KEY)
            .unwrap()
            .response_header_version(version);
        let header = ResponseHeader::decode(&mut d, hv).unwrap();
        assert_eq!(header.correlation_id, 77);
        R::Response::decode(&mut d, version).unwrap()
    });
    (resp.error_code, inner)
}

fn create_topic(name: &str) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(1)
            .with_replication_factor(1)])
        .with_timeout_ms(5000)
}

fn topic_code(r: &Option<CreateTopicsResponse>) -> Option<i16> {
    r.as_ref().map(|r| r.topics[0].error_code)
}

fn topic_exists(c: &mut RawClient, name: &str) -> bool {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(raw::topic(name)))]))
        .with_allow_auto_topic_creation(false);
    c.call(&req, 12).topics[0].error_code == 0
}

#[test]
fn an_envelope_runs_its_request_as_the_client_it_carries() {
    let dir = tempfile::tempdir().unwrap();
    let voters = format!("1@127.0.0.1:{}", free_port());
    let b = node(dir.path(), &voters, true);
    let mut client = RawClient::connect(&b.bootstrap());
    // alice may create `pay-` topics, nothing else.
    let grant = AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(s("pay-"))
        .with_resource_pattern_type(4)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(5)
        .with_permission_type(3);
    let created = client.call(&CreateAclsRequest::default().with_creations(vec![grant]), 3);
    assert_eq!(created.results[0].error_code, 0);
    let mut ctl = RawClient::connect(&b.listener_addr("CONTROLLER").to_string());

    // As alice: her ACLs decide, not the forwarding node's super user.
    let (env, inner) = send(&mut ctl, &create_topic("other"), 7, Some("User:alice"));
    assert_eq!((env, topic_code(&inner)), (0, Some(TOPIC_DENIED)));
    let (env, inner) = send(&mut ctl, &create_topic("pay-1"), 7, Some("User:alice"));
    assert_eq!((env, topic_code(&inner)), (0, Some(0)));
    let acl = CreateAclsRequest::default().with_creations(vec![AclCreation::default()
        .with_resource_type(4)
        .with_resource_name(s("kafka-cluster"))
        .with_resource_pattern_type(3)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(2)
        .with_permission_type(3)]);
    let (env, inner) = send(&mut ctl, &acl, 3, Some("User:alice"));
    assert_eq!(env, 0);
    assert_eq!(inner.unwrap().results[0].error_code, CLUSTER_DENIED);
    // The super user's own envelope runs as the super user.
    let (env, inner) = send(&mut ctl, &create_topic("mine"), 7, Some("User:ANONYMOUS"));
    assert_eq!((env, topic_code(&inner)), (0, Some(0)));
    assert!(topic_exists(&mut client, "pay-1") && topic_exists(&mut client, "mine"));
    assert!(!topic_exists(&mut client, "other"));
    // A principal that does not decode; an API that is never forwarded.
    let (env, inner) = send(&mut ctl, &create_topic("x"), 7, None);
    assert_eq!(
        (env, inner.is_none()),
        (PRINCIPAL_DESERIALIZATION_FAILURE, true)
    );
    let (env, inner) = send(
        &mut ctl,
        &MetadataRequest::default(),
        12,
        Some("User:alice"),
    );
    assert_eq!((env, inner.is_none()), (INVALID_REQUEST, true));
    // A broker listener does not serve Envelope: the connection closes.
    let frame = client.frame(&envelope(&create_topic("x"), 7, Some("User:alice")), 0);
    client.send_raw(&frame);
    assert!(client.read_frame().is_none());
    drop((client, ctl));
    b.stop();

    // A sender without CLUSTER_ACTION (no super user now) is not trusted: nothing runs.
    let b = node(dir.path(), &voters, false);
    let mut ctl = RawClient::connect(&b.listener_addr("CONTROLLER").to_string());
    let (env, inner) = send(&mut ctl, &create_topic("pay-2"), 7, Some("User:alice"));
    assert_eq!((env, inner.is_none()), (CLUSTER_DENIED, true));
    drop(ctl);
    b.stop();
    let b = node(dir.path(), &voters, true);
    let mut client = RawClient::connect(&b.bootstrap());
    assert!(!topic_exists(&mut client, "pay-2"));
    assert!(topic_exists(&mut client, "pay-1"));
    drop(client);
    b.stop();
}

/// End to end: a client authenticated as `User:alice` (SASL PLAIN) on a broker-only node
/// sends CreateTopics; the node forwards it to the controller, which authorizes alice — not
/// the node's own `User:ANONYMOUS`, a super user — so only her `pay-` prefix is created.
#[test]
fn a_broker_only_node_forwards_as_the_client() {
    use crate::sasl::{authenticate, handshake, JAAS};
    use crate::support::cluster::Cluster;
    use crate::support::replicas::{self, call};
    use crate::support::wait_for;
    use std::time::Duration;
    const WAIT: Duration = Duration::from_secs(30);

    let mut cluster = Cluster::with_brokers(1, 1);
    cluster.set(None, "authorizer.class.name", AUTHORIZER);
    cluster.set(None, "super.users", "User:ANONYMOUS");
    let sasl_port = free_port();
    let listeners = format!(
        "PLAINTEXT://127.0.0.1:{},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        cluster.broker_port(1)
    );
    cluster.set(Some(1), "listeners", &listeners);
    cluster.set(
        Some(1),
        "listener.security.protocol.map",
        "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
    );
    cluster.set(Some(1), "sasl.enabled.mechanisms", "PLAIN");
    cluster.set(
        Some(1),
        "listener.name.sasl_plaintext.plain.sasl.jaas.config",
        JAAS,
    );
    cluster.start_all();
    let ctl = cluster.broker_addr(0);
    replicas::wait_brokers(&ctl, 2, WAIT);
    // alice may create `pay-` topics (written by the super user at the controller).
    let grant = CreateAclsRequest::default().with_creations(vec![AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(s("pay-"))
        .with_resource_pattern_type(4)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(5)
        .with_permission_type(3)]);
    let codes = wait_for("CreateAcls at the controller", WAIT, || {
        let r = call(&ctl, &grant, 3)?;
        Some(r.results.iter().map(|x| x.error_code).collect::<Vec<_>>())
    });
    assert_eq!(codes, vec![0]);

    let mut alice = RawClient::connect(&format!("127.0.0.1:{sasl_port}"));
    assert_eq!(handshake(&mut alice, "PLAIN").error_code, 0);
    assert_eq!(
        authenticate(&mut alice, b"\0alice\0alice-secret").error_code,
        0
    );
    let denied = alice.call(&create_topic("secret"), 7);
    assert_eq!(denied.topics[0].error_code, TOPIC_DENIED);
    let allowed = alice.call(&create_topic("pay-eu"), 7);
    assert_eq!(allowed.topics[0].error_code, 0);
    // The controller's image: pay-eu exists, secret never did.
    let p = wait_for("pay-eu at the controller", WAIT, || {
        replicas::partition(&ctl, "pay-eu", 0)
    });
    assert_eq!(p.replicas.len(), 1);
    let mut at_ctl = RawClient::connect(&ctl);
    assert!(!topic_exists(&mut at_ctl, "secret"));
    // The same request from the node's own principal (PLAINTEXT: the super user) passes.
    let mut anon = RawClient::connect(&cluster.broker_addr(1));
    assert_eq!(
        anon.call(&create_topic("secret"), 7).topics[0].error_code,
        0
    );
}
