//! The group and transaction admin versions raised for issue 15, over the raw protocol on one
//! broker: DescribeGroups v6 (KIP-1043: a missing group, or one that is not a classic group,
//! is GROUP_ID_NOT_FOUND with Kafka's message, where v5 said Dead without an error).

use bytes::Bytes;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::{RawClient, TestBroker};

const GROUP_ID_NOT_FOUND: i16 = 69;

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
