//! KIP-848 regex subscriptions filtered by ACLs, over SASL/PLAIN and the raw protocol: a
//! member subscribed by regex is assigned only the matching topics its principal may
//! DESCRIBE (Kafka resolves a regex with the heartbeating member's rights), while a super
//! user's member with the same regex gets every match.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::sasl::{authenticate, handshake, sasl_broker_with};
use crate::support::raw;
use crate::support::{wait_for, RawClient};

const GROUP: i8 = 3;
const TOPIC: i8 = 2;
const LITERAL: i8 = 3;
const READ: i8 = 3;
const DESCRIBE: i8 = 8;
const ALLOW: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn allow(resource_type: i8, name: &str, op: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_resource_pattern_type(LITERAL)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(ALLOW)
}

/// A client on the SASL listener, authenticated with PLAIN.
fn login(addr: &str, user: &str, password: &str) -> RawClient {
    let mut c = RawClient::connect(addr);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let token = format!("\0{user}\0{password}");
    assert_eq!(authenticate(&mut c, token.as_bytes()).error_code, 0);
    c
}

/// The topic names a lone member of `group` subscribed by `regex` is assigned, once it has
/// an assignment.
fn assigned_by_regex(
    c: &mut RawClient,
    group: &str,
    regex: &str,
    names: &BTreeMap<uuid::Uuid, String>,
) -> BTreeSet<String> {
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(&format!("{group}-member")))
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_regex(Some(s(regex)))
        .with_topic_partitions(Some(Vec::new()));
    wait_for("an assignment", Duration::from_secs(30), || {
        let r = c.call(&join, 1);
        assert!([0, 14, 15].contains(&r.error_code), "heartbeat: {r:?}");
        let a = r
            .assignment
            .filter(|a| r.error_code == 0 && !a.topic_partitions.is_empty())?;
        Some(
            a.topic_partitions
                .iter()
                .map(|tp| names.get(&tp.topic_id).cloned().unwrap_or_default())
                .collect(),
        )
    })
}

#[test]
fn a_regex_member_is_assigned_only_the_topics_its_principal_may_describe() {
    let dir = tempfile::tempdir().unwrap();
    let broker = sasl_broker_with(
        dir.path(),
        "PLAIN",
        &[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:ANONYMOUS;User:bob"),
        ],
    );
    // The PLAINTEXT connection is User:ANONYMOUS, a super user: topics and alice's ACLs.
    let mut admin = RawClient::connect(&broker.bootstrap());
    for t in ["t-1", "t-2", "t-3", "other"] {
        assert_eq!(raw::create_topic(&mut admin, t, 1, &[]), 0, "{t}");
    }
    let grants = vec![
        allow(GROUP, "g-alice", READ),
        allow(TOPIC, "t-1", DESCRIBE),
        allow(TOPIC, "t-3", DESCRIBE),
        allow(TOPIC, "other", DESCRIBE),
    ];
    let created = admin.call(&CreateAclsRequest::default().with_creations(grants), 3);
    assert!(created.results.iter().all(|r| r.error_code == 0));
    let names: BTreeMap<uuid::Uuid, String> = admin
        .call(&MetadataRequest::default().with_topics(None), 12)
        .topics
        .into_iter()
        .filter_map(|t| Some((t.topic_id, t.name?.to_string())))
        .collect();

    let sasl = broker.listener_addr("SASL_PLAINTEXT").to_string();
    let mut alice = login(&sasl, "alice", "alice-secret");
    assert_eq!(
        assigned_by_regex(&mut alice, "g-alice", "t-.*", &names),
        BTreeSet::from(["t-1".to_string(), "t-3".to_string()]),
        "t-2 matches but alice may not DESCRIBE it; `other` does not match"
    );

    let mut bob = login(&sasl, "bob", "bob-secret");
    assert_eq!(
        assigned_by_regex(&mut bob, "g-bob", "t-.*", &names),
        BTreeSet::from(["t-1".to_string(), "t-2".to_string(), "t-3".to_string()]),
        "a super user gets every match"
    );
}
