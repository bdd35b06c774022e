//! The group and transaction admin versions raised for issue 15, over the raw protocol on one
//! broker: DescribeGroups v6 (KIP-1043: a missing group, or one that is not a classic group,
//! is GROUP_ID_NOT_FOUND with Kafka's message, where v5 said Dead without an error) and
//! ListTransactions v2 (KIP-1152: a transactional id pattern, whole-id RE2 match).

use bytes::Bytes;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::raw;
use crate::support::{RawClient, TestBroker};

const GROUP_ID_NOT_FOUND: i16 = 69;
const INVALID_REGULAR_EXPRESSION: i16 = 128;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn describe(c: &mut RawClient, group: &str, version: i16) -> DescribedGroup {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
    c.call(&req, version).groups.remove(0)
}

#[test]
fn describe_groups_v6_names_missing_and_non_classic_groups() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());

    // A classic group: one static member, so it joins in one round (CompletingRebalance).
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("classic6")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_group_instance_id(Some(s("i-1")))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"meta"))]);
    let joined = c.call(&join, 7);
    assert_eq!(joined.error_code, 0);

    // A KIP-848 consumer group: one member subscribed to nothing.
    let heartbeat = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("modern6")))
        .with_member_id(s("m-1"))
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![]))
        .with_topic_partitions(Some(Vec::new()));
    assert_eq!(c.call(&heartbeat, 1).error_code, 0);

    let classic = describe(&mut c, "classic6", 6);
    assert_eq!(
        (
            classic.error_code,
            classic.error_message.as_deref(),
            classic.group_state.as_str(),
            classic.protocol_type.as_str(),
        ),
        (0, None, "CompletingRebalance", "consumer")
    );
    assert_eq!(classic.members.len(), 1);
    assert_eq!(classic.members[0].member_id, joined.member_id);
    assert_eq!(classic.members[0].group_instance_id.as_deref(), Some("i-1"));

    let missing = describe(&mut c, "absent6", 6);
    assert_eq!(
        (
            missing.error_code,
            missing.error_message.as_deref(),
            missing.group_state.as_str(),
            missing.members.len(),
        ),
        (
            GROUP_ID_NOT_FOUND,
            Some("Group absent6 not found."),
            "Dead",
            0
        )
    );

    let modern = describe(&mut c, "modern6", 6);
    assert_eq!(
        (
            modern.error_code,
            modern.error_message.as_deref(),
            modern.group_state.as_str(),
            modern.protocol_type.as_str(),
            modern.members.len(),
        ),
        (
            GROUP_ID_NOT_FOUND,
            Some("Group modern6 is not a classic group."),
            "Dead",
            "",
            0
        )
    );

    // v5 as before: a missing group is Dead without an error.
    let v5 = describe(&mut c, "absent6", 5);
    assert_eq!((v5.error_code, v5.group_state.as_str()), (0, "Dead"));
}

/// ListTransactions at `version` with only a pattern: (error, sorted ids).
fn list_transactions(c: &mut RawClient, pattern: Option<&str>, version: i16) -> (i16, Vec<String>) {
    let req = ListTransactionsRequest::default()
        .with_duration_filter(-1)
        .with_transactional_id_pattern(pattern.map(s));
    let r = c.call(&req, version);
    let mut ids: Vec<String> = r
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.to_string())
        .collect();
    ids.sort();
    (r.error_code, ids)
}

#[test]
fn list_transactions_v2_filters_by_a_whole_id_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    for id in ["pay-eu", "pay-us", "audit-eu"] {
        raw::init_producer_id(&mut c, Some(id));
    }
    let all = vec!["audit-eu", "pay-eu", "pay-us"];

    assert_eq!(
        list_transactions(&mut c, Some("pay-.*"), 2),
        (0, vec!["pay-eu".to_string(), "pay-us".to_string()])
    );
    // The whole id must match: a prefix alone (no wildcard) matches nothing.
    assert_eq!(list_transactions(&mut c, Some("pay"), 2), (0, vec![]));
    assert_eq!(
        list_transactions(&mut c, Some(".*-eu"), 2),
        (0, vec!["audit-eu".to_string(), "pay-eu".to_string()])
    );
    // Empty or null: no filter.
    assert_eq!(list_transactions(&mut c, Some(""), 2).1, all);
    assert_eq!(list_transactions(&mut c, None, 2).1, all);
    // Not a regular expression (RE2 has no lookahead either).
    for bad in ["pay-(", "pay-(?=eu)"] {
        assert_eq!(
            list_transactions(&mut c, Some(bad), 2),
            (INVALID_REGULAR_EXPRESSION, vec![]),
            "{bad}"
        );
    }
    // v1 has no pattern field: everything is listed.
    assert_eq!(list_transactions(&mut c, None, 1).1, all);
}
