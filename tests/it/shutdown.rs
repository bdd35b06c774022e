//! Graceful shutdown is bounded: a request still waiting when SIGTERM arrives — here a
//! JoinGroup parked until a rebalance that needs another member (and the group timers that
//! shutdown stops) — is cut short after the grace period instead of holding the broker up.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{DescribeGroupsRequest, GroupId, JoinGroupRequest};
use kafka_protocol::protocol::StrBytes;

use crate::support::wait::wait_for;
use crate::support::{BrokerProcess, RawClient};

fn join(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_session_timeout_ms(60_000)
        .with_rebalance_timeout_ms(60_000)
        .with_member_id(StrBytes::from_string(member.into()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::from_static(b"meta"))])
}

/// Joins as a new member (KIP-394: the first answer names the member id).
fn member_id(c: &mut RawClient, group: &str) -> String {
    let first = c.call(&join(group, ""), 7);
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED first");
    first.member_id.to_string()
}

#[test]
fn a_join_waiting_at_shutdown_does_not_hold_the_broker_up() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(dir.path(), &[]);
    let group = "parked";
    let mut a = RawClient::connect(&broker.addr);
    let id_a = member_id(&mut a, group);
    let joined = a.call(&join(group, &id_a), 7);
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    // A second member's join starts a rebalance that waits up to 60 s for the first to rejoin.
    let mut b = RawClient::connect(&broker.addr);
    let id_b = member_id(&mut b, group);
    let frame = b.frame(&join(group, &id_b), 7);
    b.send_raw(&frame);
    let mut admin = RawClient::connect(&broker.addr);
    wait_for("the rebalance to start", Duration::from_secs(10), || {
        let d = admin.call(
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_static_str("parked"))]),
            5,
        );
        (d.groups[0].group_state.as_str() == "PreparingRebalance").then_some(())
    });
    let started = Instant::now();
    broker.terminate();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "shutdown took {took:?} with a join in flight"
    );
}
