//! KIP-848 consumer groups with a real client: librdkafka 2.12 (rdkafka crate) with
//! `group.protocol=consumer` — three members split six partitions, one leaves, every record is
//! consumed exactly once and committed; a classic group and a consumer group side by side on
//! the same topic, each listed with its type; a consumer group, once empty, taken over by a
//! classic consumer that resumes from its committed offsets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, GroupId, ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::groups_rdkafka::{produce, Seen, Worker};
use crate::support::clients;
use crate::support::{wait_for, RawClient, TestBroker};

const CONSUMER: &[(&str, &str)] = &[("group.protocol", "consumer")];

/// A broker whose consumer groups heartbeat every 300 ms, so rebalances take under a second
/// (the lower bound moved too: Kafka's is 5 s).
fn broker(dir: &std::path::Path) -> TestBroker {
    TestBroker::start(
        dir,
        &[
            ("group.consumer.min.heartbeat.interval.ms", "300"),
            ("group.consumer.heartbeat.interval.ms", "300"),
        ],
    )
}

/// Each worker's partition count, and how many distinct partitions they hold (0 if two
/// workers hold the same one).
fn split(workers: &[Worker]) -> (Vec<usize>, usize) {
    let a: Vec<Vec<i32>> = workers.iter().map(Worker::assigned).collect();
    let all: BTreeSet<i32> = a.iter().flatten().copied().collect();
    let sum: usize = a.iter().map(Vec::len).sum();
    (
        a.iter().map(Vec::len).collect(),
        if sum == all.len() { all.len() } else { 0 },
    )
}

fn wait_consumed(seen: &Seen, n: usize) {
    wait_for("every record consumed", Duration::from_secs(60), || {
        (seen.lock().unwrap().len() >= n).then_some(())
    });
}

/// Each record of `0..n` exactly once, by (partition, offset) and by value.
fn assert_exactly_once(seen: &Seen, n: usize) {
    let seen = seen.lock().unwrap().clone();
    let mut by_position: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for (p, o, v) in &seen {
        assert!(
            by_position.insert((*p, *o), v.clone()).is_none(),
            "offset {p}/{o} consumed twice"
        );
    }
    let values: BTreeSet<String> = by_position.values().cloned().collect();
    let expected: BTreeSet<String> = (0..n).map(|i| format!("value-{i}")).collect();
    assert_eq!(seen.len(), n, "no duplicates");
    assert_eq!(values, expected, "every record exactly once");
}

/// Each partition's committed offset for `group` (negative for none) and its end offset.
fn positions(bs: &str, group: &str, topic: &str, partitions: i32) -> (Vec<i64>, Vec<i64>) {
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = clients::config(bs, &[("group.id", group)])
        .create::<BaseConsumer>()
        .unwrap()
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let mut by_partition: Vec<(i32, i64)> = committed
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset().to_raw().unwrap_or(-1)))
        .collect();
    by_partition.sort_unstable();
    let c = clients::consumer(bs);
    let end = (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(5))
                .unwrap()
                .1
        })
        .collect();
    (by_partition.into_iter().map(|(_, o)| o).collect(), end)
}

fn committed_total(bs: &str, group: &str, topic: &str, partitions: i32) -> (i64, i64) {
    let (committed, end) = positions(bs, group, topic, partitions);
    (committed.iter().map(|o| o.max(&0)).sum(), end.iter().sum())
}

fn describe(
    bs: &str,
    group: &str,
) -> kafka_protocol::messages::consumer_group_describe_response::DescribedGroup {
    let mut c = RawClient::connect(bs);
    let req = ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    c.call(&req, 1).groups.remove(0)
}

#[test]
fn three_kip848_consumers_split_six_partitions_and_survive_a_leave_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "shared848", 6, &[]);
    produce(&bs, "shared848", 0..3000);

    let seen: Seen = Arc::default();
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| Worker::start_with(&bs, "trio848", "shared848", seen.clone(), CONSUMER))
        .collect();
    wait_for(
        "three members with two partitions each",
        Duration::from_secs(60),
        || (split(&workers) == (vec![2, 2, 2], 6)).then_some(()),
    );
    let d = describe(&bs, "trio848");
    assert_eq!(
        (d.error_code, d.group_state.as_str(), d.members.len()),
        (0, "Stable", 3)
    );
    assert!(d.members.iter().all(|m| m.member_epoch == d.group_epoch
        && m.assignment.topic_partitions[0].partitions.len() == 2));

    // One member leaves while more records arrive.
    let leaver = workers.pop().unwrap();
    let producer = std::thread::spawn({
        let bs = bs.clone();
        move || produce(&bs, "shared848", 3000..6000)
    });
    leaver.close();
    producer.join().unwrap();
    wait_for(
        "the remaining two to own all six partitions",
        Duration::from_secs(60),
        || (split(&workers) == (vec![3, 3], 6)).then_some(()),
    );
    wait_consumed(&seen, 6000);
    for w in workers {
        w.close();
    }
    assert_exactly_once(&seen, 6000);
    let (total, end) = committed_total(&bs, "trio848", "shared848", 6);
    assert_eq!(
        total, end,
        "committed offsets reach the end of every partition"
    );
    let d = describe(&bs, "trio848");
    assert_eq!((d.group_state.as_str(), d.members.len()), ("Empty", 0));
}

#[test]
fn a_classic_group_and_a_consumer_group_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "both", 4, &[]);
    produce(&bs, "both", 0..2000);

    let (classic_seen, modern_seen): (Seen, Seen) = (Arc::default(), Arc::default());
    let classic: Vec<Worker> = (0..2)
        .map(|_| Worker::start(&bs, "old-style", "both", classic_seen.clone(), &[]))
        .collect();
    let modern: Vec<Worker> = (0..2)
        .map(|_| Worker::start_with(&bs, "new-style", "both", modern_seen.clone(), CONSUMER))
        .collect();
    wait_for(
        "both groups to split four partitions two and two",
        Duration::from_secs(60),
        || (split(&classic) == (vec![2, 2], 4) && split(&modern) == (vec![2, 2], 4)).then_some(()),
    );
    wait_consumed(&classic_seen, 2000);
    wait_consumed(&modern_seen, 2000);

    // ListGroups v5 tells the two kinds apart; its type filter selects one.
    let mut c = RawClient::connect(&bs);
    let listed = c.call(&ListGroupsRequest::default(), 5).groups;
    let kinds: BTreeMap<String, (String, String)> = listed
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                (g.group_type.to_string(), g.protocol_type.to_string()),
            )
        })
        .collect();
    assert_eq!(
        kinds["old-style"],
        ("classic".to_string(), "consumer".to_string())
    );
    assert_eq!(
        kinds["new-style"],
        ("consumer".to_string(), "consumer".to_string())
    );
    let only = c.call(
        &ListGroupsRequest::default()
            .with_types_filter(vec![StrBytes::from_static_str("consumer")]),
        5,
    );
    assert_eq!(
        only.groups
            .iter()
            .map(|g| g.group_id.to_string())
            .collect::<Vec<_>>(),
        vec!["new-style"]
    );
    // ConsumerGroupDescribe knows only the consumer group.
    assert_eq!(
        describe(&bs, "old-style").error_code,
        69,
        "GROUP_ID_NOT_FOUND"
    );
    assert_eq!(describe(&bs, "new-style").members.len(), 2);

    // `gregor groups` shows both kinds; the consumer group with its epochs and assignments.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
        .args(["groups", "-b", &bs])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "GROUP new-style  state Stable  protocol consumer/uniform  members 2  type consumer"
        ),
        "{text}"
    );
    assert!(
        text.contains("protocol consumer/range  members 2  type classic"),
        "{text}"
    );
    let modern_lines = text
        .lines()
        .filter(|l| l.contains(" epoch ") && l.contains("assigned both["))
        .count();
    assert_eq!(modern_lines, 2, "{text}");

    for w in classic.into_iter().chain(modern) {
        w.close();
    }
    assert_exactly_once(&classic_seen, 2000);
    assert_exactly_once(&modern_seen, 2000);
    for g in ["old-style", "new-style"] {
        let (total, end) = committed_total(&bs, g, "both", 4);
        assert_eq!(total, end, "{g} committed everything");
    }
}

#[test]
fn a_static_kip848_member_restarts_into_its_own_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "statics", 4, &[]);
    produce(&bs, "statics", 0..400);
    let seen: Seen = Arc::default();
    let with_instance = |i: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("group.protocol", "consumer"), ("group.instance.id", i)]
    };
    let a = Worker::start_with(&bs, "pinned", "statics", seen.clone(), &with_instance("a"));
    let b = Worker::start_with(&bs, "pinned", "statics", seen.clone(), &with_instance("b"));
    let pair = [a, b];
    wait_for(
        "two static members with two partitions each",
        Duration::from_secs(60),
        || (split(&pair) == (vec![2, 2], 4)).then_some(()),
    );
    wait_consumed(&seen, 400);
    let [a, b] = pair;
    let a_parts = a.assigned();
    let epoch = describe(&bs, "pinned").group_epoch;
    // a closes: a static member leaves with epoch −2 and keeps its place.
    a.close();
    let d = describe(&bs, "pinned");
    let left = d
        .members
        .iter()
        .find(|m| m.instance_id.as_deref() == Some("a"))
        .expect("a keeps its place");
    assert_eq!(left.member_epoch, -2);
    assert_eq!(b.assigned().len(), 2, "b is not given a's partitions");
    // Its next incarnation gets the same partitions back, without a new group epoch.
    let a2 = Worker::start_with(&bs, "pinned", "statics", seen.clone(), &with_instance("a"));
    wait_for(
        "a's new incarnation to own its old partitions",
        Duration::from_secs(60),
        || (a2.assigned() == a_parts).then_some(()),
    );
    produce(&bs, "statics", 400..800);
    wait_consumed(&seen, 800);
    assert_eq!(describe(&bs, "pinned").group_epoch, epoch, "no rebalance");
    a2.close();
    b.close();
    assert_exactly_once(&seen, 800);
}

#[test]
fn a_regex_subscription_is_resolved_by_the_broker_and_follows_new_topics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let bs = broker.bootstrap();
    for t in ["re848-a", "re848-b", "other848"] {
        clients::create_topic(&bs, t, 2, &[]);
    }
    produce(&bs, "re848-a", 0..100);
    produce(&bs, "re848-b", 100..200);
    produce(&bs, "other848", 200..300);
    let seen: Seen = Arc::default();
    let workers: Vec<Worker> = (0..2)
        .map(|_| Worker::start_with(&bs, "by-regex", "^re848-.*", seen.clone(), CONSUMER))
        .collect();
    let counts = |ws: &[Worker]| ws.iter().map(|w| w.assigned().len()).collect::<Vec<_>>();
    let values = |seen: &Seen| {
        let v: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, v)| v.clone())
            .collect();
        let set: BTreeSet<String> = v.iter().cloned().collect();
        assert_eq!(v.len(), set.len(), "a record consumed twice");
        set
    };
    wait_for(
        "two members with two of the four matching partitions each",
        Duration::from_secs(60),
        || (counts(&workers) == vec![2, 2] && values(&seen).len() == 200).then_some(()),
    );
    let d = describe(&bs, "by-regex");
    // librdkafka sends its patterns joined as `(^re848-.*)`.
    let regex = d.members[0]
        .subscribed_topic_regex
        .as_deref()
        .unwrap_or_default();
    assert!(regex.contains("^re848-.*"), "{regex}");

    // A new matching topic joins the subscription at the next heartbeat.
    clients::create_topic(&bs, "re848-c", 2, &[]);
    produce(&bs, "re848-c", 300..350);
    wait_for(
        "the new topic's partitions assigned and read",
        Duration::from_secs(60),
        || (counts(&workers) == vec![3, 3] && values(&seen).len() == 250).then_some(()),
    );
    for w in workers {
        w.close();
    }
    let expected: BTreeSet<String> = (0..200)
        .chain(300..350)
        .map(|i| format!("value-{i}"))
        .collect();
    assert_eq!(
        values(&seen),
        expected,
        "the matching topics exactly once, other848 never"
    );
}

/// Kafka 4's join rule: an empty list of topic names (or an empty regex) joins the group
/// subscribed to nothing; only both null is INVALID_REQUEST. The Java client 4.x joins with
/// `[]` while its `java.util.regex.Pattern` subscription has matched no topic yet, then sends
/// the matched names; gregor used to refuse that first heartbeat.
#[test]
fn heartbeat_joins_with_an_empty_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(
        crate::support::raw::create_topic(&mut c, "empty848", 2, &[]),
        0
    );
    let s = |v: &str| StrBytes::from_string(v.to_string());
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g-empty")))
        .with_member_id(s("m-empty"))
        .with_rebalance_timeout_ms(30_000)
        .with_topic_partitions(Some(Vec::new()));
    let neither = c.call(&join.clone().with_subscribed_topic_names(None), 1);
    assert_eq!(neither.error_code, 42, "both null: INVALID_REQUEST");
    let joined = c.call(&join.clone().with_subscribed_topic_names(Some(vec![])), 1);
    assert_eq!((joined.error_code, joined.member_epoch), (0, 1));
    let parts = |r: &kafka_protocol::messages::ConsumerGroupHeartbeatResponse| -> usize {
        r.assignment.as_ref().map_or(0, |a| {
            a.topic_partitions.iter().map(|t| t.partitions.len()).sum()
        })
    };
    assert_eq!(parts(&joined), 0, "subscribed to nothing: {joined:?}");
    // The names arrive in a later heartbeat: both partitions are assigned.
    let mut epoch = joined.member_epoch;
    let mut names = Some(vec![crate::support::raw::topic("empty848")]);
    wait_for(
        "the two partitions assigned",
        Duration::from_secs(20),
        || {
            let r = c.call(
                &join
                    .clone()
                    .with_member_epoch(epoch)
                    .with_rebalance_timeout_ms(-1)
                    .with_subscribed_topic_names(names.take())
                    .with_topic_partitions(None),
                1,
            );
            assert_eq!(r.error_code, 0, "{r:?}");
            epoch = r.member_epoch;
            (parts(&r) == 2).then_some(())
        },
    );
}

#[test]
fn a_classic_consumer_takes_over_an_empty_consumer_group_from_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "handover", 2, &[]);
    produce(&bs, "handover", 0..200);

    // A KIP-848 consumer reads and commits everything, then leaves: the group is empty.
    let first: Seen = Arc::default();
    let modern = Worker::start_with(&bs, "switch", "handover", first.clone(), CONSUMER);
    wait_consumed(&first, 200);
    modern.close();
    assert_exactly_once(&first, 200);
    let (committed, end) = positions(&bs, "switch", "handover", 2);
    assert_eq!(committed, end, "the consumer group committed everything");
    assert_eq!(end.iter().sum::<i64>(), 200);
    wait_for(
        "the consumer group to be empty",
        Duration::from_secs(30),
        || {
            let d = describe(&bs, "switch");
            (d.error_code == 0 && d.members.is_empty()).then_some(())
        },
    );

    // A classic consumer of the same group id converts it and resumes at those offsets.
    produce(&bs, "handover", 200..300);
    let second: Seen = Arc::default();
    let classic = Worker::start(
        &bs,
        "switch",
        "handover",
        second.clone(),
        &[("group.protocol", "classic")],
    );
    wait_consumed(&second, 100);
    let mut c = RawClient::connect(&bs);
    let listed = c.call(&ListGroupsRequest::default(), 5).groups;
    let switch = listed
        .iter()
        .find(|g| g.group_id.as_str() == "switch")
        .expect("listed");
    assert_eq!(
        (switch.group_type.as_str(), switch.protocol_type.as_str()),
        ("classic", "consumer")
    );
    assert_eq!(describe(&bs, "switch").error_code, 69, "GROUP_ID_NOT_FOUND");
    classic.close();

    let (after, end_after) = positions(&bs, "switch", "handover", 2);
    assert_eq!(after, end_after, "the classic group committed everything");
    let mut got: Vec<(i32, i64, String)> = second.lock().unwrap().clone();
    got.sort();
    let offsets: Vec<(i32, i64)> = got.iter().map(|(p, o, _)| (*p, *o)).collect();
    let expected: Vec<(i32, i64)> = (0..2)
        .flat_map(|p| (committed[p]..end_after[p]).map(move |o| (p as i32, o)))
        .collect();
    assert_eq!(
        offsets, expected,
        "exactly the records after the committed offsets"
    );
    let values: BTreeSet<String> = got.into_iter().map(|(_, _, v)| v).collect();
    let wanted: BTreeSet<String> = (200..300).map(|i| format!("value-{i}")).collect();
    assert_eq!(values, wanted);
}
