//! KIP-951: a Produce (v10+) sent to a node that does not lead the partition is refused with
//! NOT_LEADER_OR_FOLLOWER and names the current leader, its epoch and its endpoint, so the
//! client redirects without a Metadata round trip; before v10 the response has no such
//! fields. Nothing is appended on the follower.

use super::{state_on, PATIENCE};
use crate::support::replicas::{self, index_of};
use crate::support::wait_for;

const NOT_LEADER_OR_FOLLOWER: i16 = 6;

#[test]
fn a_follower_refusing_a_produce_names_the_leader_and_its_endpoint() {
    let c = super::three_nodes(&[]);
    let ids: Vec<i32> = (0..3).map(|i| c.id(i)).collect();
    wait_for("hints created", PATIENCE, || {
        matches!(
            replicas::create_assigned(&c.broker_addr(0), "hints", &ids, &[]),
            Some(0) | Some(36)
        )
        .then_some(())
    });
    let all: Vec<usize> = (0..3).collect();
    let s = state_on(&c, &all, "hints", 0, "a leader and a full ISR", |s| {
        s.leader >= 0 && s.isr.len() == 3
    });
    let follower = (0..3).find(|&i| c.id(i) != s.leader).expect("a follower");
    // The follower's own image knows the partition and its leader (else it answers 3).
    state_on(
        &c,
        &[follower],
        "hints",
        0,
        "the leader, on the follower",
        |f| f.leader == s.leader && f.leader_epoch == s.leader_epoch,
    );
    let leader_port: i32 = c
        .broker_addr(index_of(&c, s.leader))
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the leader's port");
    let req = crate::support::raw::produce_request(
        "hints",
        0,
        replicas::batch(&["refused".to_string()]),
        1,
    );

    let resp = replicas::call(&c.broker_addr(follower), &req, 10).expect("a v10 answer");
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(p.current_leader.leader_id.0, s.leader);
    assert_eq!(p.current_leader.leader_epoch, s.leader_epoch);
    assert_eq!(resp.node_endpoints.len(), 1, "{:?}", resp.node_endpoints);
    let e = &resp.node_endpoints[0];
    assert_eq!(
        (e.node_id.0, e.host.as_str(), e.port),
        (s.leader, "127.0.0.1", leader_port)
    );

    // v9 has no leader hints: the same refusal without them.
    let resp = replicas::call(&c.broker_addr(follower), &req, 9).expect("a v9 answer");
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(p.current_leader.leader_id.0, -1);
    assert!(resp.node_endpoints.is_empty());

    // Nothing was appended anywhere: the log end is still 0.
    assert_eq!(
        replicas::latest(&c.broker_addr(index_of(&c, s.leader)), "hints", 0),
        Some((0, 0))
    );
}
