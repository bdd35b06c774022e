//! Leader elections on real clusters (issue 13, failover): ElectLeaders PREFERRED and
//! UNCLEAN with Kafka's error codes (forwarded from a voter that is not the active
//! controller), `unclean.leader.election.enable` on unfencing and on a config change, the
//! active controller's leader-imbalance task (`leader.imbalance.check.interval.seconds` = 1
//! here), and a controlled shutdown (SIGTERM) of a partition leader while an acks=all
//! producer keeps sending — a plain voter and the active controller itself: leadership moves
//! before the process exits, nothing is lost.
//!
//! Every cluster runs with the short timings of `support::cluster` (session 2 s).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

use crate::support::cluster::Cluster;
use crate::support::replicas::{call_patient as call, quorum_leader};
use crate::support::{clients, raw, wait_for, RawClient};

const PATIENCE: Duration = Duration::from_secs(20);

/// Kafka's codes.
const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
const ELECTION_NOT_NEEDED: i16 = 84;

/// A partition as Metadata v12 through `addr` shows it: (leader, leader epoch, ISR).
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    leader: i32,
    epoch: i32,
    isr: Vec<i32>,
}

fn state(addr: &str, t: &str, p: i32) -> Option<State> {
    let resp = call(addr, &MetadataRequest::default().with_topics(None), 12)?;
    let topic = resp
        .topics
        .iter()
        .find(|x| x.name.as_ref().is_some_and(|n| n.0.as_str() == t))?;
    let part = topic.partitions.iter().find(|x| x.partition_index == p)?;
    let mut isr: Vec<i32> = part.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort_unstable();
    Some(State {
        leader: part.leader_id.0,
        epoch: part.leader_epoch,
        isr,
    })
}

/// Waits until the partition's state through `addr` satisfies `ok`.
fn wait_state(addr: &str, t: &str, p: i32, what: &str, ok: impl Fn(&State) -> bool) -> State {
    wait_for(&format!("{t}-{p}: {what}"), PATIENCE, || {
        state(addr, t, p).filter(|s| ok(s))
    })
}

/// Unfenced broker ids Metadata through `addr` lists.
fn brokers(addr: &str) -> Option<Vec<i32>> {
    let resp = call(
        addr,
        &MetadataRequest::default().with_topics(Some(vec![])),
        12,
    )?;
    let mut ids: Vec<i32> = resp.brokers.iter().map(|b| b.node_id.0).collect();
    ids.sort_unstable();
    Some(ids)
}

/// CreateTopics through `addr` with one partition per assignment and topic configs; retried
/// while an election is under way.
fn create(addr: &str, name: &str, assignments: &[&[i32]], configs: &[(&str, &str)]) {
    let assignments: Vec<_> = assignments
        .iter()
        .enumerate()
        .map(|(i, r)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(i as i32)
                .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
        })
        .collect();
    let configs: Vec<_> = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments)
            .with_configs(configs)]);
    wait_for(&format!("{name} created"), PATIENCE, || {
        match call(addr, &req, 7).map(|r| r.topics[0].error_code) {
            Some(0) | Some(36) => Some(()),
            _ => None,
        }
    });
}

/// ElectLeaders v2 through `addr`: every (topic, partition, code) answered.
fn elect(addr: &str, kind: i8, tps: &[(&str, &[i32])]) -> Vec<(String, i32, i16)> {
    let req = ElectLeadersRequest::default()
        .with_election_type(kind)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(
            tps.iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(raw::topic(t))
                        .with_partitions(ps.to_vec())
                })
                .collect(),
        ));
    let resp = RawClient::connect(addr).call(&req, 2);
    assert_eq!(resp.error_code, 0, "ElectLeaders top-level error");
    resp.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(|p| (t.topic.to_string(), p.partition_id, p.error_code))
        })
        .collect()
}

fn produce(bootstrap: &str, t: &str, values: &[String]) {
    let producer = clients::producer(bootstrap, &[("acks", "all")]);
    for v in values {
        let r = futures::executor::block_on(producer.send(
            FutureRecord::<(), str>::to(t).partition(0).payload(v),
            Duration::from_secs(20),
        ));
        assert!(r.is_ok(), "produce to {t}: {r:?}");
    }
}

/// Partition 0's high watermark through `bootstrap`; `None` on a (transient) error.
fn high_watermark(bootstrap: &str, t: &str) -> Option<i64> {
    use rdkafka::consumer::Consumer;
    clients::consumer(bootstrap)
        .fetch_watermarks(t, 0, Duration::from_secs(5))
        .ok()
        .map(|(_, high)| high)
}

fn values_of(bootstrap: &str, t: &str, n: usize) -> Vec<String> {
    clients::consume(bootstrap, t, &[0], Offset::Beginning, n)
        .values()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// ElectLeaders through the Java admin client (`compat/java/elect.sh`): the outcome it
/// prints ("NONE" or the exception's class), or `None` when Java or its jars
/// (`scripts/setup-test-deps`) are missing.
fn java_elect(bootstrap: &str, kind: &str, t: &str, p: i32) -> Option<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let jar = root.join("compat/.cache/java-lib/kafka-clients.jar");
    let javac = std::process::Command::new("javac").arg("-version").output();
    if !jar.exists() || !javac.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipping the Java admin step: no javac or no {}",
            jar.display()
        );
        return None;
    }
    let out = std::process::Command::new(root.join("compat/java/elect.sh"))
        .args([bootstrap, kind, t, &p.to_string()])
        .output()
        .expect("run compat/java/elect.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("RESULT {t}-{p} ")))
        .unwrap_or_else(|| {
            panic!(
                "no result from Java: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    Some(line.trim().to_string())
}

fn index_of(c: &Cluster, id: i32) -> usize {
    (0..c.len()).find(|&i| c.id(i) == id).expect("a node id")
}

/// The active controller of a 3-voter cluster and the two other node ids.
fn roles(c: &Cluster) -> (i32, i32, i32) {
    let leader = wait_for("a quorum leader", PATIENCE, || {
        quorum_leader(&c.broker_addr(0))
    });
    let others: Vec<i32> = (1..=3).filter(|id| *id != leader).collect();
    (leader, others[0], others[1])
}

#[test]
fn controlled_shutdown_moves_leadership_first_and_elect_leaders_moves_it_back() {
    // The shutdown must find y in the ISR (it then becomes the leader): on a loaded machine
    // the harness's 2 s replica lag could drop it for a moment while the producer runs, so
    // this cluster allows 15 s, and the test also waits for the full ISR just before SIGTERM.
    let mut c = Cluster::start_with(
        3,
        &[
            ("auto.leader.rebalance.enable", "false"),
            ("replica.lag.time.max.ms", "15000"),
        ],
    );
    let (controller, x, y) = roles(&c);
    let (xi, yi) = (index_of(&c, x), index_of(&c, y));
    let y_addr = c.broker_addr(yi);
    wait_for("three brokers", PATIENCE, || {
        (brokers(&y_addr)? == vec![1, 2, 3]).then_some(())
    });
    // x leads (it is first), then y, then the controller.
    create(
        &y_addr,
        "cs",
        &[&[x, y, controller]],
        &[("min.insync.replicas", "2")],
    );
    let before = wait_state(&y_addr, "cs", 0, "led by x with a full ISR", |s| {
        s.leader == x && s.isr.len() == 3
    });

    // An idempotent acks=all producer sends throughout the shutdown of x.
    let bootstrap = c.bootstrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (bootstrap, stop) = (bootstrap.clone(), stop.clone());
        std::thread::spawn(move || {
            let producer = clients::producer(
                &bootstrap,
                &[("acks", "all"), ("enable.idempotence", "true")],
            );
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            let mut i = 0;
            let mut slowest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) || i < 50 {
                let v = format!("v{i}");
                let sent = std::time::Instant::now();
                let r = futures::executor::block_on(producer.send(
                    FutureRecord::<(), str>::to("cs").partition(0).payload(&v),
                    Duration::from_secs(30),
                ));
                if i > 0 {
                    // (The first send also connects and gets a producer id.)
                    slowest = slowest.max(sent.elapsed());
                }
                match r {
                    Ok(_) => acked.push(v),
                    Err((e, _)) => failed.push(format!("{v}: {e}")),
                }
                i += 1;
            }
            // A figure for the record (not asserted): the longest a send waited, i.e. the
            // produce gap the leader's SIGTERM caused.
            eprintln!("controlled shutdown: slowest acks=all send {slowest:?}");
            (acked, failed)
        })
    };
    wait_for("some records acked before the shutdown", PATIENCE, || {
        (high_watermark(&y_addr, "cs")? >= 20).then_some(())
    });
    // The precondition of the shutdown's election, as every node (whichever is the active
    // controller by now) sees it: x leads and y is in the ISR (an ISR that shrank under load
    // expands again once y catches up).
    let addrs: Vec<String> = (0..3).map(|i| c.broker_addr(i)).collect();
    wait_for(
        "x leading with y in the ISR on every node",
        PATIENCE,
        || {
            addrs
                .iter()
                .all(|a| {
                    state(a, "cs", 0).is_some_and(|s| {
                        s.leader == x && s.epoch == before.epoch && s.isr.contains(&y)
                    })
                })
                .then_some(())
        },
    );
    let status = c.terminate(xi, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "x exits cleanly on SIGTERM: {status:?}"
    );
    let log = c.log(xi);
    assert!(
        log.contains("the controller lets this broker go"),
        "x waited for the controller's should_shut_down:\n{log}"
    );
    // Leadership moved (to y, the next ISR member) with a new leader epoch; x left the ISR.
    let after = state(&y_addr, "cs", 0).expect("metadata");
    assert_eq!(after.leader, y, "{after:?}");
    assert!(after.epoch > before.epoch, "{before:?} -> {after:?}");
    assert!(!after.isr.contains(&x), "{after:?}");
    wait_for("more records acked after the shutdown", PATIENCE, || {
        (high_watermark(&y_addr, "cs")? >= 60).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = sender.join().expect("producer thread");
    assert!(failed.is_empty(), "sends failed: {failed:?}");
    let read = values_of(&y_addr, "cs", acked.len());
    assert_eq!(read, acked, "every acked record, once, in order");

    // x is down: the preferred replica is not available; an unclean election is not
    // needed (the partition has a leader); both asked of y, which forwards them.
    assert_ne!(quorum_leader(&y_addr), Some(y), "y is not the controller");
    assert_eq!(
        elect(&y_addr, 0, &[("cs", &[0, 5]), ("nope", &[0])]),
        vec![
            ("cs".into(), 0, PREFERRED_LEADER_NOT_AVAILABLE),
            ("cs".into(), 5, UNKNOWN_TOPIC_OR_PARTITION),
            ("nope".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    assert_eq!(
        elect(&y_addr, 1, &[("cs", &[0])]),
        vec![("cs".into(), 0, ELECTION_NOT_NEEDED)]
    );
    // x comes back and catches up; the preferred election gives it the partition again.
    c.start_node(xi);
    let caught_up = wait_state(&y_addr, "cs", 0, "x back in the ISR", |s| {
        s.isr.contains(&x)
    });
    assert_eq!(caught_up.leader, y, "no rebalance without ElectLeaders");
    assert_eq!(
        elect(&y_addr, 0, &[("cs", &[0])]),
        vec![("cs".into(), 0, NONE)]
    );
    // y applies the committed change shortly after the controller answered.
    let back = wait_state(&y_addr, "cs", 0, "led by x again", |s| s.leader == x);
    assert_eq!(back.epoch, caught_up.epoch + 1, "{caught_up:?} -> {back:?}");
    assert_eq!(
        elect(&y_addr, 0, &[("cs", &[0])]),
        vec![("cs".into(), 0, ELECTION_NOT_NEEDED)]
    );
    // The new leader serves every record.
    produce(&bootstrap, "cs", &["after".to_string()]);
    let mut expected = acked;
    expected.push("after".into());
    assert_eq!(values_of(&bootstrap, "cs", expected.len()), expected);
}

#[test]
fn the_controller_moves_leaders_back_to_their_preferred_replica() {
    let mut c = Cluster::start_with(3, &[("leader.imbalance.check.interval.seconds", "1")]);
    let (controller, x, y) = roles(&c);
    let xi = index_of(&c, x);
    let y_addr = c.broker_addr(index_of(&c, y));
    create(&y_addr, "rb", &[&[x, controller, y]], &[]);
    let first = wait_state(&y_addr, "rb", 0, "led by x with a full ISR", |s| {
        s.leader == x && s.isr.len() == 3
    });
    produce(&c.bootstrap(), "rb", &["a".to_string(), "b".to_string()]);
    c.kill9(xi);
    let moved = wait_state(&y_addr, "rb", 0, "led by the next replica", |s| {
        s.leader == controller
    });
    assert_eq!(moved.epoch, first.epoch + 1);
    c.start_node(xi);
    // Back in the ISR, x gets its leadership back from the imbalance task alone.
    let back = wait_state(&y_addr, "rb", 0, "led by x again", |s| s.leader == x);
    assert_eq!(back.epoch, moved.epoch + 1, "one election back");
    assert!(back.isr.contains(&x));
    produce(&c.bootstrap(), "rb", &["c".to_string()]);
    assert_eq!(values_of(&c.bootstrap(), "rb", 3), vec!["a", "b", "c"]);
}

#[test]
fn unclean_elections_only_when_asked_or_enabled() {
    // Node 1 is the only voter (it never goes away); 2 and 3 are broker-only nodes that
    // hold every replica.
    let mut c = Cluster::with_brokers(1, 2);
    for i in 0..3 {
        c.start_node(i);
    }
    let addr = c.broker_addr(0);
    wait_for("three brokers", PATIENCE, || {
        (brokers(&addr)? == vec![1, 2, 3]).then_some(())
    });
    create(&addr, "asked", &[&[2, 3]], &[]);
    create(&addr, "later", &[&[2, 3]], &[]);
    create(
        &addr,
        "topic-on",
        &[&[2, 3]],
        &[("unclean.leader.election.enable", "true")],
    );
    create(&addr, "java", &[&[2, 3]], &[]);
    let all = ["asked", "later", "topic-on", "java"];
    for t in all {
        wait_state(&addr, t, 0, "a full ISR", |s| {
            s.leader == 2 && s.isr.len() == 2
        });
        produce(&addr, t, &["kept".to_string()]);
    }
    // 3 dies and leaves every ISR; then 2, the last ISR member, dies: no leader anywhere.
    c.kill9(2);
    for t in all {
        wait_state(&addr, t, 0, "ISR [2]", |s| s.isr == vec![2]);
    }
    c.kill9(1);
    for t in all {
        wait_state(&addr, t, 0, "no leader", |s| s.leader < 0);
    }
    assert_eq!(
        elect(&addr, 1, &[("asked", &[0])]),
        vec![("asked".into(), 0, ELIGIBLE_LEADERS_NOT_AVAILABLE)],
        "no live replica at all"
    );
    // 3 comes back outside the ISR: only the topic that enables unclean election gets it as
    // leader, in the commit that unfences it.
    let before = state(&addr, "asked", 0).expect("metadata");
    c.start_node(2);
    wait_for("broker 3 unfenced", PATIENCE, || {
        (brokers(&addr)? == vec![1, 3]).then_some(())
    });
    let on = state(&addr, "topic-on", 0).expect("metadata");
    assert_eq!((on.leader, on.isr.clone()), (3, vec![3]), "{on:?}");
    for t in ["asked", "later", "java"] {
        let s = state(&addr, t, 0).expect("metadata");
        assert_eq!((s.leader, s.isr.clone()), (-1, vec![2]), "{t}: {s:?}");
    }
    // ElectLeaders UNCLEAN elects it; PREFERRED cannot (2, the preferred, is dead).
    assert_eq!(
        elect(&addr, 0, &[("asked", &[0])]),
        vec![("asked".into(), 0, PREFERRED_LEADER_NOT_AVAILABLE)]
    );
    assert_eq!(
        elect(&addr, 1, &[("asked", &[0])]),
        vec![("asked".into(), 0, NONE)]
    );
    let asked = state(&addr, "asked", 0).expect("metadata");
    assert_eq!((asked.leader, asked.isr.clone()), (3, vec![3]));
    assert_eq!(asked.epoch, before.epoch + 1);
    // Turning the topic config on elects at once (same commit as the config change).
    let mut raw_client = RawClient::connect(&addr);
    let (code, msg) = raw::incremental_alter_configs(
        &mut raw_client,
        2,
        "later",
        &[("unclean.leader.election.enable", 0, Some("true"))],
        false,
    );
    assert_eq!(code, 0, "{msg:?}");
    let later = state(&addr, "later", 0).expect("metadata");
    assert_eq!((later.leader, later.isr.clone()), (3, vec![3]), "{later:?}");
    // The Java admin client: PREFERRED is refused, UNCLEAN elects.
    if let Some(outcome) = java_elect(&addr, "PREFERRED", "java", 0) {
        assert_eq!(outcome, "PreferredLeaderNotAvailableException");
        assert_eq!(
            java_elect(&addr, "UNCLEAN", "java", 0).as_deref(),
            Some("NONE")
        );
        let java = state(&addr, "java", 0).expect("metadata");
        assert_eq!((java.leader, java.isr.clone()), (3, vec![3]), "{java:?}");
        assert_eq!(
            java_elect(&addr, "UNCLEAN", "java", 0).as_deref(),
            Some("ElectionNotNeededException")
        );
    } else {
        assert_eq!(
            elect(&addr, 1, &[("java", &[0])]),
            vec![("java".into(), 0, NONE)]
        );
    }
    // Every unclean leader serves what it had replicated while it was in the ISR.
    for t in all {
        assert_eq!(values_of(&addr, t, 1), vec!["kept"], "{t}");
    }
}

#[test]
fn sigterm_of_the_active_controller_that_leads_a_partition() {
    let mut c = Cluster::start_with(3, &[("auto.leader.rebalance.enable", "false")]);
    let (controller, x, y) = roles(&c);
    let ci = index_of(&c, controller);
    let x_addr = c.broker_addr(index_of(&c, x));
    create(
        &x_addr,
        "ctl",
        &[&[controller, x, y]],
        &[("min.insync.replicas", "2")],
    );
    let before = wait_state(&x_addr, "ctl", 0, "led by the controller, full ISR", |s| {
        s.leader == controller && s.isr.len() == 3
    });
    let values: Vec<String> = (0..20).map(|i| format!("a{i}")).collect();
    produce(&c.bootstrap(), "ctl", &values);
    let status = c.terminate(ci, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "exits cleanly: {status:?}"
    );
    assert!(
        c.log(ci).contains("the controller lets this broker go"),
        "it waited for should_shut_down:\n{}",
        c.log(ci)
    );
    // The partition moved to x (next in the ISR) before the node left; a new controller
    // was elected among the two others.
    let after = wait_state(&x_addr, "ctl", 0, "led by x", |s| s.leader == x);
    assert_eq!(after.epoch, before.epoch + 1, "{before:?} -> {after:?}");
    let new_controller = wait_for("a new quorum leader", PATIENCE, || {
        quorum_leader(&x_addr).filter(|l| *l != controller)
    });
    assert!([x, y].contains(&new_controller));
    produce(&c.bootstrap(), "ctl", &["b".to_string()]);
    let mut expected = values;
    expected.push("b".into());
    assert_eq!(values_of(&x_addr, "ctl", expected.len()), expected);
}
