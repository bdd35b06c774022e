//! The coordinators follow partition leadership (issue 13 step 5) on a 3-node cluster
//! (`support::cluster`, session 2 s): `__consumer_offsets` and `__transaction_state` are
//! created on first need with replication factor 3 (6 partitions each here), FindCoordinator
//! answers the leader of a key's partition (Kafka's hash) on every node, and kill -9 of the
//! broker that coordinates both a consumer group and a transactional id moves both
//! coordinators to the new leaders of their partitions:
//! - the group (librdkafka, subscribed) re-finds its coordinator, its committed offsets are
//!   intact (OffsetFetch at the new coordinator equals the one before) and it commits again;
//! - a transaction committed before the kill stays committed, one left open is aborted when
//!   a new producer with the same `transactional.id` initialises (fencing the old epoch), and
//!   read_committed consumers read exactly the committed records;
//! - KIP-890 verification asks a coordinator on another broker (AddPartitionsToTxn v4);
//! - a broker-only node creates the topic through the controller (replication factor capped
//!   at the registered brokers).

use std::collections::BTreeMap;
use std::time::Duration;

use gregor::coordinator::placement::partition_for;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::offset_commit_request;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::cluster::Cluster;
use crate::support::replicas::call_patient as call;
use crate::support::{clients, raw, wait_for};

const PATIENCE: Duration = Duration::from_secs(30);
const COORDINATOR_PARTITIONS: i32 = 6;
const PARTITIONS: i32 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn metadata(addr: &str) -> Option<MetadataResponse> {
    call(addr, &MetadataRequest::default().with_topics(None), 12)
}

/// The leader of `topic`-`partition` in `m`.
fn leader(m: &MetadataResponse, topic: &str, partition: i32) -> Option<i32> {
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))?;
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)?;
    (p.leader_id.0 >= 0).then_some(p.leader_id.0)
}

/// FindCoordinator v4 through `addr`: the node id, or the error code.
fn find_coordinator(addr: &str, key_type: i8, key: &str) -> Result<i32, i16> {
    let req = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(vec![s(key)]);
    let resp = call(addr, &req, 4).ok_or(-1i16)?;
    let c = resp.coordinators.first().ok_or(-1i16)?;
    if c.error_code != 0 {
        return Err(c.error_code);
    }
    Ok(c.node_id.0)
}

/// OffsetFetch v7 of `group`'s partitions of "orders" at `addr`: the top-level error or the
/// committed offsets.
fn offset_fetch(addr: &str, group: &str) -> Result<Vec<i64>, i16> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(raw::topic("orders"))
            .with_partition_indexes((0..PARTITIONS).collect())]));
    let resp = call(addr, &req, 7).ok_or(-1i16)?;
    if resp.error_code != 0 {
        return Err(resp.error_code);
    }
    let mut out: Vec<(i32, i64)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    out.sort();
    Ok(out.into_iter().map(|(_, o)| o).collect())
}

fn create_topic(addr: &str, name: &str) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(PARTITIONS)
            .with_replication_factor(3)]);
    let resp = call(addr, &req, 7).expect("CreateTopics answered");
    assert_eq!(resp.topics[0].error_code, 0, "create {name}");
}

fn send(p: &FutureProducer, topic: &str, partition: i32, value: &str) {
    let r = futures::executor::block_on(
        p.send(
            FutureRecord::<(), str>::to(topic)
                .partition(partition)
                .payload(value),
            Duration::from_secs(30),
        ),
    );
    assert!(r.is_ok(), "send {value} to {topic}-{partition}: {r:?}");
}

/// Polls `c` until `n` records have arrived; their values.
fn poll_values(c: &BaseConsumer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    wait_for("records", PATIENCE, || {
        // Errors are transient here (a killed broker's connection): librdkafka retries.
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        (out.len() >= n).then_some(())
    });
    out
}

/// Waits until all three brokers are registered and unfenced, and the coordinators' topics
/// exist with a leader for every partition.
fn cluster_with_internal_topics() -> Cluster {
    let c = Cluster::start_with(
        3,
        &[
            ("offsets.topic.num.partitions", "6"),
            ("transaction.state.log.num.partitions", "6"),
            ("default.replication.factor", "3"),
            ("transaction.state.log.min.isr", "2"),
        ],
    );
    let bs = c.broker_addr(0);
    wait_for("three live brokers", PATIENCE, || {
        (metadata(&bs)?.brokers.len() == 3).then_some(())
    });
    // The first FindCoordinator of each kind creates its topic through the controller.
    wait_for("the coordinators' topics", PATIENCE, || {
        find_coordinator(&bs, 0, "first").ok()?;
        find_coordinator(&bs, 1, "first").ok()?;
        let m = metadata(&bs)?;
        let led = (0..COORDINATOR_PARTITIONS).all(|p| {
            leader(&m, "__consumer_offsets", p).is_some()
                && leader(&m, "__transaction_state", p).is_some()
        });
        led.then_some(())
    });
    c
}

/// A raw transactional producer whose coordinator is not the leader of the partition it
/// writes: unverified → INVALID_TXN_STATE (48), after AddPartitionsToTxn → written; then
/// aborted (the coordinator's markers reach the other leader).
fn verify_remotely(addrs: &[String]) {
    let m = wait_for("payments leaders", PATIENCE, || {
        let m = metadata(&addrs[0])?;
        (0..PARTITIONS)
            .all(|p| leader(&m, "payments", p).is_some())
            .then_some(m)
    });
    let (id, coordinator, partition, leader_of) = (0..100)
        .map(|i| format!("raw-txn-{i}"))
        .find_map(|id| {
            let c = leader(
                &m,
                "__transaction_state",
                partition_for(&id, COORDINATOR_PARTITIONS),
            )?;
            let p = (0..PARTITIONS).find(|p| leader(&m, "payments", *p) != Some(c))?;
            Some((id, c, p, leader(&m, "payments", p)?))
        })
        .expect("an id coordinated away from a payments leader");
    let mut coord = crate::support::RawClient::connect(&addrs[(coordinator - 1) as usize]);
    let mut data = crate::support::RawClient::connect(&addrs[(leader_of - 1) as usize]);
    let producer = raw::init_producer_id(&mut coord, Some(&id));
    let batch = |seq| raw::encode_txn_batch(&["raw"], producer, seq, raw::now_ms());
    let refused = raw::produce_txn(&mut data, &id, "payments", partition, batch(0));
    assert_eq!(
        refused.error_code, 48,
        "INVALID_TXN_STATE from the coordinator"
    );
    assert_eq!(
        raw::add_partition(&mut coord, &id, producer, "payments", partition),
        0
    );
    let written = raw::produce_txn(&mut data, &id, "payments", partition, batch(0));
    assert_eq!(written.error_code, 0);
    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(&id)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(false);
    assert_eq!(coord.call(&end, 3).error_code, 0);
}

#[test]
fn group_and_transaction_coordinators_fail_over_with_their_partitions() {
    let mut cluster = cluster_with_internal_topics();
    let addrs: Vec<String> = (0..3).map(|i| cluster.broker_addr(i)).collect();
    let bootstrap = cluster.bootstrap();
    let m = metadata(&addrs[0]).expect("metadata");
    for t in ["__consumer_offsets", "__transaction_state"] {
        let topic = m
            .topics
            .iter()
            .find(|x| x.name.as_ref().is_some_and(|n| n.as_str() == t))
            .expect("internal topic listed");
        assert!(topic.is_internal, "{t} is internal");
        assert_eq!(topic.partitions.len(), COORDINATOR_PARTITIONS as usize);
        assert!(topic.partitions.iter().all(|p| p.replica_nodes.len() == 3));
    }

    // A group and a transactional id whose partitions the same broker leads.
    let offsets_leader = |g: &str| {
        leader(
            &m,
            "__consumer_offsets",
            partition_for(g, COORDINATOR_PARTITIONS),
        )
    };
    let txn_leader = |t: &str| {
        leader(
            &m,
            "__transaction_state",
            partition_for(t, COORDINATOR_PARTITIONS),
        )
    };
    let (group, txn_id, victim) = (0..100)
        .flat_map(|i| (0..100).map(move |j| (format!("group-{i}"), format!("txn-{j}"))))
        .find_map(|(g, t)| {
            let l = offsets_leader(&g)?;
            (txn_leader(&t) == Some(l)).then_some((g, t, l))
        })
        .expect("a group and an id led by one broker");

    // FindCoordinator answers that leader on every node, for both kinds.
    for a in &addrs {
        assert_eq!(find_coordinator(a, 0, &group), Ok(victim), "group via {a}");
        assert_eq!(find_coordinator(a, 1, &txn_id), Ok(victim), "txn via {a}");
    }

    create_topic(&addrs[0], "orders");
    create_topic(&addrs[0], "payments");
    let producer = clients::producer(&bootstrap, &[("acks", "all")]);
    for p in 0..PARTITIONS {
        for i in 0..10 {
            send(&producer, "orders", p, &format!("o-{p}-{i}"));
        }
    }

    // A subscribed member consumes everything and commits.
    let member: BaseConsumer = clients::config(
        &bootstrap,
        &[
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
    .create()
    .expect("member");
    member.subscribe(&["orders"]).expect("subscribe");
    assert_eq!(poll_values(&member, 30).len(), 30);
    member
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit");
    let victim_addr = addrs[(victim - 1) as usize].clone();
    let before = offset_fetch(&victim_addr, &group).expect("offsets at the coordinator");
    assert_eq!(before, vec![10; PARTITIONS as usize]);
    // `gregor groups` through a node that coordinates nothing of it finds the group, its
    // member and its offsets (listing every broker, asking the coordinator and the leaders).
    let elsewhere = addrs[(victim % 3) as usize].clone();
    let report = gregor::tools::groups::report(&elsewhere, Some(&group)).expect("report");
    assert!(
        report.contains(&format!("GROUP {group}  state Stable")),
        "{report}"
    );
    assert!(report.contains("members 1"), "{report}");
    for p in 0..PARTITIONS {
        let row = format!("  {:<30} {p:>9} {:>12} {:>12} {:>8}", "orders", 10, 10, 0);
        assert!(report.contains(&row), "{report}");
    }

    // KIP-890 across brokers: a transactional batch for a partition outside the transaction
    // is refused by a leader whose coordinator is another broker; once added, accepted.
    verify_remotely(&addrs);

    // A transaction committed, a second one left open.
    let txn = clients::producer(&bootstrap, &[("transactional.id", txn_id.as_str())]);
    txn.init_transactions(PATIENCE).expect("init");
    txn.begin_transaction().expect("begin");
    for p in 0..PARTITIONS {
        send(&txn, "payments", p, &format!("committed-{p}"));
    }
    txn.commit_transaction(PATIENCE).expect("commit");
    txn.begin_transaction().expect("begin");
    for p in 0..PARTITIONS {
        send(&txn, "payments", p, &format!("open-{p}"));
    }

    cluster.kill9((victim - 1) as usize);
    let alive: Vec<String> = addrs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as i32 + 1 != victim)
        .map(|(_, a)| a.clone())
        .collect();

    // Both coordinators move to the new leaders; the offsets are intact there.
    let (new_group_coordinator, after) = wait_for("the group's new coordinator", PATIENCE, || {
        let node = find_coordinator(&alive[0], 0, &group).ok()?;
        if node == victim {
            return None;
        }
        let at = &addrs[(node - 1) as usize];
        Some((node, offset_fetch(at, &group).ok()?))
    });
    assert_eq!(
        after, before,
        "committed offsets intact at {new_group_coordinator}"
    );
    for a in &alive {
        assert_eq!(find_coordinator(a, 0, &group), Ok(new_group_coordinator));
    }

    // The member re-finds its coordinator: new records are consumed and committed there.
    for p in 0..PARTITIONS {
        send(&producer, "orders", p, &format!("o-{p}-after"));
    }
    let fresh = poll_values(&member, 3);
    assert!(fresh.iter().all(|v| v.ends_with("-after")), "{fresh:?}");
    wait_for("a commit at the new coordinator", PATIENCE, || {
        member.commit_consumer_state(CommitMode::Sync).ok()?;
        let at = &addrs[(new_group_coordinator - 1) as usize];
        (offset_fetch(at, &group).ok()? == vec![11; PARTITIONS as usize]).then_some(())
    });
    // Another client of the group sees the same committed offsets.
    let other: BaseConsumer = clients::config(
        &alive[0],
        &[
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()
    .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition("orders", p);
    }
    let committed = other.committed_offsets(tpl, PATIENCE).expect("committed");
    for p in 0..PARTITIONS {
        let e = committed.find_partition("orders", p).expect("partition");
        assert_eq!(e.offset(), Offset::Offset(11), "orders-{p}");
    }

    // A new producer with the same id takes over: the open transaction is aborted, the old
    // epoch fenced.
    let next = clients::producer(&alive[0], &[("transactional.id", txn_id.as_str())]);
    next.init_transactions(PATIENCE)
        .expect("init after the failover");
    assert!(
        txn.commit_transaction(Duration::from_secs(15)).is_err(),
        "the old producer is fenced"
    );
    next.begin_transaction().expect("begin");
    for p in 0..PARTITIONS {
        send(&next, "payments", p, &format!("after-{p}"));
    }
    next.commit_transaction(PATIENCE)
        .expect("commit after the failover");

    // read_committed: exactly the committed records (the "after" ones are the last of each
    // partition, so once all three arrived everything before them has been delivered).
    let reader = clients::consumer(&alive[0]);
    let mut assign = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assign
            .add_partition_offset("payments", p, Offset::Beginning)
            .expect("tpl");
    }
    reader.assign(&assign).expect("assign");
    let mut seen: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    wait_for("the committed transactions", PATIENCE, || {
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(100)) {
            seen.entry(m.partition())
                .or_default()
                .push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        let done = (0..PARTITIONS).all(|p| {
            seen.get(&p)
                .is_some_and(|v| v.last() == Some(&format!("after-{p}")))
        });
        done.then_some(())
    });
    for p in 0..PARTITIONS {
        assert_eq!(
            seen[&p],
            vec![format!("committed-{p}"), format!("after-{p}")],
            "payments-{p}"
        );
    }
}

#[test]
fn a_broker_only_node_creates_the_coordinators_topic_through_the_controller() {
    let mut cluster = Cluster::with_brokers(1, 1);
    cluster.set(None, "offsets.topic.num.partitions", "4");
    cluster.start_all();
    let broker_only = cluster.broker_addr(1);
    wait_for("two live brokers", PATIENCE, || {
        (metadata(&broker_only)?.brokers.len() == 2).then_some(())
    });
    // The first FindCoordinator reaches the broker-only node: it asks the controller.
    let node = wait_for("a coordinator", PATIENCE, || {
        find_coordinator(&broker_only, 0, "g").ok()
    });
    let m = metadata(&broker_only).expect("metadata");
    let p = partition_for("g", 4);
    assert_eq!(leader(&m, "__consumer_offsets", p), Some(node));
    let topic = m
        .topics
        .iter()
        .find(|t| {
            t.name
                .as_ref()
                .is_some_and(|n| n.as_str() == "__consumer_offsets")
        })
        .expect("listed");
    assert_eq!(topic.partitions.len(), 4);
    assert!(
        topic.partitions.iter().all(|p| p.replica_nodes.len() == 2),
        "replication factor min(3, registered brokers)"
    );
    // The group works through its coordinator, whichever node that is.
    let at = cluster.broker_addr((node - 1) as usize);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(raw::topic("__consumer_offsets"))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(3),
                ]),
        ]);
    let r = wait_for("a commit", PATIENCE, || {
        let r = call(&at, &commit, 8)?;
        (r.topics[0].partitions[0].error_code == 0).then_some(r)
    });
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}
