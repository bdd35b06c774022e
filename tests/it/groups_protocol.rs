//! The group protocol spoken by hand, so every step and error is checked exactly: joins and
//! generations, KIP-394 member ids, KIP-345 static members, Kafka's errors, DescribeGroups,
//! ListGroups, DeleteGroups, OffsetCommit/OffsetFetch/OffsetDelete, and durability of offsets
//! and groups across restarts and kill -9.

use std::time::Duration;

use crate::support::raw;
use crate::support::{wait_for, BrokerProcess, RawClient, TestBroker};
use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn join(
    c: &mut RawClient,
    group: &str,
    member: &str,
    instance: Option<&str>,
    protocol: &str,
) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s(protocol))
            .with_metadata(Bytes::from_static(b"meta"))]);
    c.call(&req, 7)
}

fn sync(
    c: &mut RawClient,
    group: &str,
    member: &str,
    instance: Option<&str>,
    generation: i32,
    assignments: &[(&str, &str)],
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a.as_bytes()))
                })
                .collect(),
        );
    c.call(&req, 5)
}

fn heartbeat(
    c: &mut RawClient,
    group: &str,
    member: &str,
    instance: Option<&str>,
    generation: i32,
) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s));
    c.call(&req, 4).error_code
}

fn describe(
    c: &mut RawClient,
    group: &str,
) -> kafka_protocol::messages::describe_groups_response::DescribedGroup {
    c.call(
        &DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
        5,
    )
    .groups
    .remove(0)
}

fn commit(
    c: &mut RawClient,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(raw::topic(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(0)
                .with_committed_metadata(Some(s("note")))])]);
    c.call(&req, 8).topics[0].partitions[0].error_code
}

/// (offset, metadata) committed for a partition, via OffsetFetch v8.
fn fetch_offset(c: &mut RawClient, group: &str, topic: &str, partition: i32) -> (i64, String) {
    let req = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(gid(group))
        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
            .with_name(raw::topic(topic))
            .with_partition_indexes(vec![partition])]))]);
    let r = c.call(&req, 8);
    let p = &r.groups[0].topics[0].partitions[0];
    (
        p.committed_offset,
        p.metadata
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

#[test]
fn static_member_restart_keeps_its_assignment_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let addr = broker.bootstrap();
    let mut a = RawClient::connect(&addr);

    let ja = join(&mut a, "static", "", Some("a"), "range");
    assert_eq!(
        ja.error_code, 0,
        "static members need no MEMBER_ID_REQUIRED round"
    );
    let (a_id, g1) = (ja.member_id.to_string(), ja.generation_id);
    assert_eq!(ja.leader.as_str(), a_id);
    assert_eq!(
        sync(&mut a, "static", &a_id, Some("a"), g1, &[(&a_id, "pa")])
            .assignment
            .as_ref(),
        b"pa"
    );

    // b joins: a learns of the rebalance by heartbeat and rejoins; both get the new generation.
    let b_thread = std::thread::spawn({
        let addr = addr.clone();
        move || {
            let mut b = RawClient::connect(&addr);
            let jb = join(&mut b, "static", "", Some("b"), "range");
            (b, jb)
        }
    });
    wait_for("a rebalance", Duration::from_secs(10), || {
        (heartbeat(&mut a, "static", &a_id, Some("a"), g1) == 27).then_some(())
    });
    let ja2 = join(&mut a, "static", &a_id, Some("a"), "range");
    let (mut b, jb) = b_thread.join().unwrap();
    let b_id = jb.member_id.to_string();
    assert_eq!((ja2.error_code, jb.error_code), (0, 0));
    let g2 = ja2.generation_id;
    assert_eq!((g2, jb.generation_id), (g1 + 1, g1 + 1));
    assert_eq!(ja2.members.len(), 2, "the leader gets every member");
    assert!(ja2
        .members
        .iter()
        .any(|m| m.group_instance_id.as_deref() == Some("b")));
    assert!(jb.members.is_empty());
    assert_eq!(
        sync(
            &mut a,
            "static",
            &a_id,
            Some("a"),
            g2,
            &[(&a_id, "pa"), (&b_id, "pb")]
        )
        .assignment
        .as_ref(),
        b"pa"
    );
    assert_eq!(
        sync(&mut b, "static", &b_id, Some("b"), g2, &[])
            .assignment
            .as_ref(),
        b"pb"
    );
    assert_eq!(describe(&mut a, "static").group_state.as_str(), "Stable");

    // a restarts (no LeaveGroup) and comes back with the same instance id.
    drop(a);
    let mut a2 = RawClient::connect(&addr);
    let j = join(&mut a2, "static", "", Some("a"), "range");
    assert_eq!(j.error_code, 0);
    assert_eq!(j.generation_id, g2, "no rebalance");
    let a2_id = j.member_id.to_string();
    assert_ne!(a2_id, a_id, "a fresh member id");
    assert_eq!(
        sync(&mut a2, "static", &a2_id, Some("a"), g2, &[])
            .assignment
            .as_ref(),
        b"pa",
        "the old assignment"
    );
    assert_eq!(
        heartbeat(&mut b, "static", &b_id, Some("b"), g2),
        0,
        "b sees no rebalance"
    );
    assert_eq!(
        heartbeat(&mut b, "static", &a_id, Some("a"), g2),
        82,
        "the old incarnation is fenced"
    );

    let d = describe(&mut b, "static");
    assert_eq!(d.group_state.as_str(), "Stable");
    let mut members: Vec<(String, String)> = d
        .members
        .iter()
        .map(|m| {
            (
                m.group_instance_id.as_ref().unwrap().to_string(),
                String::from_utf8(m.member_assignment.to_vec()).unwrap(),
            )
        })
        .collect();
    members.sort();
    assert_eq!(
        members,
        vec![("a".into(), "pa".into()), ("b".into(), "pb".into())]
    );
}

#[test]
fn membership_errors_are_kafkas() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t", 2, &[]), 0);

    let first = join(&mut c, "g", "", None, "range");
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let id = first.member_id.to_string();
    assert!(!id.is_empty());
    let j = join(&mut c, "g", &id, None, "range");
    assert_eq!((j.error_code, j.member_id.as_str()), (0, id.as_str()));
    let generation = j.generation_id;
    assert_eq!(
        sync(&mut c, "g", &id, None, generation + 1, &[]).error_code,
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        sync(&mut c, "g", &id, None, generation, &[(&id, "x")]).error_code,
        0
    );
    assert_eq!(
        heartbeat(&mut c, "g", "nobody", None, generation),
        25,
        "UNKNOWN_MEMBER_ID"
    );
    assert_eq!(heartbeat(&mut c, "g", &id, None, generation - 1), 22);
    assert_eq!(heartbeat(&mut c, "g", &id, None, generation), 0);
    assert_eq!(
        join(&mut c, "g", "unknown-member", None, "range").error_code,
        25
    );
    assert_eq!(
        join(&mut c, "nope", "unknown-member", None, "range").error_code,
        25
    );
    let mut other = RawClient::connect(&broker.bootstrap());
    let mut inconsistent = join(&mut other, "g", "", None, "roundrobin");
    if inconsistent.error_code == 79 {
        inconsistent = join(
            &mut other,
            "g",
            &inconsistent.member_id.to_string(),
            None,
            "roundrobin",
        );
    }
    assert_eq!(inconsistent.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    let short = JoinGroupRequest::default()
        .with_group_id(gid("g"))
        .with_session_timeout_ms(10)
        .with_protocol_type(s("consumer"));
    assert_eq!(c.call(&short, 7).error_code, 26, "INVALID_SESSION_TIMEOUT");

    // Offsets: unknown topics refused, never-committed partitions are -1.
    assert_eq!(
        commit(&mut c, "g", generation, &id, "no-such-topic", 0, 5),
        3
    );
    assert_eq!(commit(&mut c, "g", generation + 5, &id, "t", 0, 5), 22);
    assert_eq!(commit(&mut c, "g", generation, &id, "t", 0, 5), 0);
    assert_eq!(fetch_offset(&mut c, "g", "t", 0), (5, "note".to_string()));
    assert_eq!(fetch_offset(&mut c, "g", "t", 1).0, -1);
    assert_eq!(fetch_offset(&mut c, "never-seen", "t", 0).0, -1);
    // v1 OffsetFetch (one group, old layout) agrees.
    let v1 = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(gid("g"))
            .with_topics(Some(vec![
                kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(raw::topic("t"))
                    .with_partition_indexes(vec![0]),
            ])),
        1,
    );
    assert_eq!(v1.topics[0].partitions[0].committed_offset, 5);

    // A group with members cannot be deleted, nor can offsets of topics it consumes... unless
    // the metadata says otherwise (ours is not a consumer subscription).
    let del = |c: &mut RawClient, g: &str| {
        c.call(
            &DeleteGroupsRequest::default().with_groups_names(vec![gid(g)]),
            2,
        )
        .results[0]
            .error_code
    };
    assert_eq!(del(&mut c, "g"), 68, "NON_EMPTY_GROUP");
    let listed = c.call(
        &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]),
        4,
    );
    assert_eq!(
        listed
            .groups
            .iter()
            .map(|g| g.group_id.as_str())
            .collect::<Vec<_>>(),
        vec!["g"]
    );
    assert!(c
        .call(
            &ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
            4
        )
        .groups
        .is_empty());
    let leave = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(gid("g"))
            .with_members(vec![MemberIdentity::default().with_member_id(s(&id))]),
        5,
    );
    assert_eq!((leave.error_code, leave.members[0].error_code), (0, 0));
    assert_eq!(describe(&mut c, "g").group_state.as_str(), "Empty");
    let od = c.call(
        &OffsetDeleteRequest::default()
            .with_group_id(gid("g"))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(raw::topic("t"))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0)
                ])]),
        0,
    );
    assert_eq!(
        (od.error_code, od.topics[0].partitions[0].error_code),
        (0, 0)
    );
    assert_eq!(fetch_offset(&mut c, "g", "t", 0).0, -1);
    assert_eq!(del(&mut c, "g"), 0);
    assert_eq!(del(&mut c, "g"), 69, "GROUP_ID_NOT_FOUND");
    assert_eq!(describe(&mut c, "g").group_state.as_str(), "Dead");
}

#[test]
fn committed_offsets_and_groups_survive_restarts_and_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::spawn(&data, &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(raw::create_topic(&mut c, "t", 3, &[]), 0);
    for p in 0..3 {
        assert_eq!(
            commit(&mut c, "simple", -1, "", "t", p, 100 + p as i64),
            0,
            "simple (generation -1) commits"
        );
    }
    let j = join(&mut c, "members", "", Some("i1"), "range");
    assert_eq!(
        sync(
            &mut c,
            "members",
            &j.member_id,
            Some("i1"),
            j.generation_id,
            &[(&j.member_id, "asg")]
        )
        .error_code,
        0
    );
    assert_eq!(
        commit(&mut c, "members", j.generation_id, &j.member_id, "t", 1, 7),
        0
    );
    drop(c);
    broker.terminate();

    let broker = BrokerProcess::spawn(&data, &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(
        fetch_offset(&mut c, "simple", "t", 2),
        (102, "note".to_string())
    );
    assert_eq!(fetch_offset(&mut c, "members", "t", 1).0, 7);
    let d = describe(&mut c, "members");
    assert_eq!(
        (
            d.group_state.as_str(),
            d.protocol_data.as_str(),
            d.members.len()
        ),
        ("Stable", "range", 1)
    );
    // The static member comes back after the restart and keeps its assignment.
    let back = join(&mut c, "members", "", Some("i1"), "range");
    assert_eq!((back.error_code, back.generation_id), (0, j.generation_id));
    assert_eq!(
        sync(
            &mut c,
            "members",
            &back.member_id,
            Some("i1"),
            back.generation_id,
            &[]
        )
        .assignment
        .as_ref(),
        b"asg"
    );
    assert_eq!(commit(&mut c, "simple", -1, "", "t", 0, 555), 0);
    drop(c);
    broker.kill9();

    let broker = BrokerProcess::spawn(&data, &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(
        fetch_offset(&mut c, "simple", "t", 0).0,
        555,
        "acknowledged commits survive kill -9"
    );
    assert_eq!(fetch_offset(&mut c, "simple", "t", 1).0, 101);
    assert_eq!(fetch_offset(&mut c, "members", "t", 1).0, 7);
    let listed = c.call(&ListGroupsRequest::default(), 4);
    let mut names: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["members", "simple"]);
}

#[test]
fn silent_members_expire_after_their_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("group.min.session.timeout.ms", "100")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let req = JoinGroupRequest::default()
        .with_group_id(gid("quiet"))
        .with_session_timeout_ms(300)
        .with_rebalance_timeout_ms(300)
        .with_member_id(s(""))
        .with_group_instance_id(Some(s("q")))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::new())]);
    let j = c.call(&req, 7);
    assert_eq!(
        sync(
            &mut c,
            "quiet",
            &j.member_id,
            Some("q"),
            j.generation_id,
            &[]
        )
        .error_code,
        0
    );
    assert_eq!(describe(&mut c, "quiet").members.len(), 1);
    // No heartbeats: the member is removed and the group becomes empty.
    wait_for("session expiry", Duration::from_secs(10), || {
        (describe(&mut c, "quiet").group_state.as_str() == "Empty").then_some(())
    });
    assert!(describe(&mut c, "quiet").members.is_empty());
    assert_eq!(
        heartbeat(&mut c, "quiet", &j.member_id, Some("q"), j.generation_id),
        25
    );
}

#[test]
fn groups_cli_reports_members_offsets_and_lag() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "lagging", 1, &[]), 0);
    for i in 0..10 {
        let v = format!("v{i}");
        assert_eq!(
            raw::produce(
                &mut c,
                "lagging",
                0,
                crate::support::encode_batch(&[(None, &v)], None, crate::support::now_ms())
            )
            .error_code,
            0
        );
    }
    assert_eq!(commit(&mut c, "watchers", -1, "", "lagging", 0, 4), 0);
    let j = join(&mut c, "busy", "", Some("inst-1"), "range");
    assert_eq!(
        sync(
            &mut c,
            "busy",
            &j.member_id,
            Some("inst-1"),
            j.generation_id,
            &[(&j.member_id, "")]
        )
        .error_code,
        0
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
        .args(["groups", "-b", &broker.bootstrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GROUP watchers  state Empty"), "{text}");
    let lag_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("lagging"))
        .expect("a partition line");
    assert_eq!(
        lag_line.split_whitespace().collect::<Vec<_>>(),
        vec!["lagging", "0", "4", "10", "6"]
    );
    assert!(
        text.contains("GROUP busy  state Stable  protocol consumer/range  members 1"),
        "{text}"
    );
    assert!(text.contains("instance inst-1"), "{text}");

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
        .args(["groups", "-b", &broker.bootstrap(), "nope"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}
