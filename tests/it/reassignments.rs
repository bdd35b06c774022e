//! Partition reassignments on a real 3-node cluster (issue 13): AlterPartitionReassignments
//! moves an RF2 partition to another broker pair — ListPartitionReassignments shows the
//! adding and removing replicas while the new replica cannot catch up (its node is paused),
//! then the move completes once it is in sync: Metadata shows the target replicas, the new
//! replica's log holds the same bytes, the removed broker's partition directory is gone and a
//! consumer reads every record. A move away from the leader hands leadership to the target;
//! a cancellation reverts the replicas (and a second one is NO_REASSIGNMENT_IN_PROGRESS); v1
//! with `allow_replication_factor_change` false refuses a target of another size.
//!
//! Every cluster runs with the short timings of `support::cluster` (session 2 s).

use std::time::Duration;

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::*;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

use crate::support::cluster::Cluster;
use crate::support::replicas::{call_patient as call, quorum_leader};
use crate::support::{clients, raw, wait_for};

const PATIENCE: Duration = Duration::from_secs(20);

const INVALID_REPLICATION_FACTOR: i16 = 38;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

/// Partition 0 through `addr`: (leader, replicas, sorted ISR).
fn partition(addr: &str, t: &str) -> Option<(i32, Vec<i32>, Vec<i32>)> {
    let resp = call(addr, &MetadataRequest::default().with_topics(None), 12)?;
    let topic = resp
        .topics
        .iter()
        .find(|x| x.name.as_ref().is_some_and(|n| n.0.as_str() == t))?;
    let p = topic.partitions.iter().find(|x| x.partition_index == 0)?;
    let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort_unstable();
    Some((
        p.leader_id.0,
        p.replica_nodes.iter().map(|b| b.0).collect(),
        isr,
    ))
}

fn create(addr: &str, name: &str, replicas: &[i32]) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(
                    replicas.iter().map(|b| BrokerId(*b)).collect(),
                )])]);
    wait_for(&format!("{name} created"), PATIENCE, || {
        match call(addr, &req, 7).map(|r| r.topics[0].error_code) {
            Some(0) | Some(36) => Some(()),
            _ => None,
        }
    });
}

/// AlterPartitionReassignments v1 of partition 0 of `t` (`None` cancels): (top-level code,
/// the partition's code).
fn reassign(addr: &str, t: &str, target: Option<&[i32]>, allow_rf: bool) -> (i16, i16) {
    let req = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_allow_replication_factor_change(allow_rf)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(raw::topic(t))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(
                    target.map(|r| r.iter().map(|b| BrokerId(*b)).collect()),
                )])]);
    let resp = wait_for("AlterPartitionReassignments answered", PATIENCE, || {
        call(addr, &req, 1)
    });
    let code = resp
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .map_or(-1, |p| p.error_code);
    (resp.error_code, code)
}

/// ListPartitionReassignments of every partition through `addr`: (topic, replicas, adding,
/// removing).
type Listed = Vec<(String, Vec<i32>, Vec<i32>, Vec<i32>)>;

fn listed(addr: &str) -> Option<Listed> {
    let req = ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000);
    let resp = call(addr, &req, 0)?;
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    Some(
        resp.topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.to_string(),
                        ids(&p.replicas),
                        ids(&p.adding_replicas),
                        ids(&p.removing_replicas),
                    )
                })
            })
            .collect(),
    )
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

fn values_of(bootstrap: &str, t: &str, n: usize) -> Vec<String> {
    clients::consume(bootstrap, t, &[0], Offset::Beginning, n)
        .values()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// AlterPartitionReassignments + ListPartitionReassignments through the Java admin client
/// (`compat/java/reassign.sh`): its two output lines, or `None` when Java or its jars
/// (`scripts/setup-test-deps`) are missing.
fn java_reassign(bootstrap: &str, t: &str, target: &[i32]) -> Option<(String, String)> {
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
    let list: Vec<String> = target.iter().map(|b| b.to_string()).collect();
    let out = std::process::Command::new(root.join("compat/java/reassign.sh"))
        .args([bootstrap, t, "0", &list.join(",")])
        .output()
        .expect("run compat/java/reassign.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| {
                panic!(
                    "no {prefix} from Java: {stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    Some((line("ALTER "), line("LISTED ")))
}

fn segment(c: &Cluster, i: usize, t: &str) -> Option<Vec<u8>> {
    std::fs::read(
        c.data_dir(i)
            .join(format!("{t}-0"))
            .join("00000000000000000000.log"),
    )
    .ok()
}

#[test]
fn replicas_move_after_catching_up_and_cancellation_reverts() {
    let mut c = Cluster::start(3);
    let addr0 = c.broker_addr(0);
    let active = wait_for("a quorum leader", PATIENCE, || quorum_leader(&addr0));
    // keep = the active controller (never paused); old and new: the other two.
    let index = |id: i32| (0..3).find(|&i| c.id(i) == id).unwrap_or(0);
    let keep = index(active);
    let others: Vec<usize> = (0..3).filter(|&i| i != keep).collect();
    let (old, new) = (others[0], others[1]);
    let (k, o, n) = (c.id(keep), c.id(old), c.id(new));
    let via = c.broker_addr(keep);
    let bootstrap = c.bootstrap();

    // A partition on [old, keep] with records.
    create(&via, "moving", &[o, k]);
    let values: Vec<String> = (0..300).map(|i| format!("record-{i:04}")).collect();
    produce(&bootstrap, "moving", &values);

    // RF change refused with the v1 flag false; nothing starts.
    assert_eq!(
        reassign(&via, "moving", Some(&[o, k, n]), false),
        (0, INVALID_REPLICATION_FACTOR)
    );
    assert_eq!(listed(&via), Some(vec![]));

    // The new replica's node is paused: the move cannot complete and is listed.
    c.pause(new);
    assert_eq!(reassign(&via, "moving", Some(&[k, n]), false), (0, 0));
    let want = vec![("moving".to_string(), vec![k, n, o], vec![n], vec![o])];
    assert_eq!(listed(&via), Some(want.clone()));
    let (_, replicas, _) = wait_for("merged replicas in Metadata", PATIENCE, || {
        partition(&via, "moving")
    });
    assert_eq!(replicas, vec![k, n, o]);

    // Resumed: it catches up, joins the ISR and the move completes.
    c.resume(new);
    let (_, replicas, isr) = wait_for("the move completes", PATIENCE, || {
        partition(&via, "moving").filter(|(_, r, _)| r.len() == 2)
    });
    assert_eq!(replicas, vec![k, n]);
    assert!(isr.iter().all(|r| [k, n].contains(r)), "ISR {isr:?}");
    assert_eq!(listed(&via), Some(vec![]));
    // Renamed to `moving-0.<uuid>-delete`, then removed: nothing of it is left.
    wait_for("old replica's directory deleted", PATIENCE, || {
        let names: Vec<String> = std::fs::read_dir(c.data_dir(old))
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        (!names.iter().any(|n| n.starts_with("moving-"))).then_some(())
    });
    let kept = segment(&c, keep, "moving");
    assert!(kept.as_ref().is_some_and(|b| !b.is_empty()));
    wait_for("new replica holds the same bytes", PATIENCE, || {
        (segment(&c, new, "moving") == kept).then_some(())
    });
    assert_eq!(values_of(&bootstrap, "moving", values.len()), values);

    // A move away from the leader: [old, keep] led by old → [new, keep].
    create(&via, "leaderless-move", &[o, k]);
    let (leader, _, _) = wait_for("led by old", PATIENCE, || {
        partition(&via, "leaderless-move").filter(|(l, _, isr)| *l == o && isr.len() == 2)
    });
    assert_eq!(leader, o);
    let few: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
    produce(&bootstrap, "leaderless-move", &few);
    assert_eq!(
        reassign(&via, "leaderless-move", Some(&[n, k]), false),
        (0, 0)
    );
    let (leader, replicas, _) = wait_for("leadership moves to the target", PATIENCE, || {
        partition(&via, "leaderless-move").filter(|(_, r, _)| r.len() == 2)
    });
    assert_eq!(replicas, vec![n, k]);
    assert_eq!(leader, n, "the first target replica in sync leads");
    assert_eq!(values_of(&bootstrap, "leaderless-move", few.len()), few);

    // Cancellation: the node to add is paused, then the move is cancelled.
    create(&via, "cancelled", &[o, k]);
    produce(&bootstrap, "cancelled", &few);
    c.pause(new);
    assert_eq!(reassign(&via, "cancelled", Some(&[n, k]), true), (0, 0));
    assert_eq!(listed(&via).map(|l| l.len()), Some(1));
    assert_eq!(reassign(&via, "cancelled", None, true), (0, 0));
    c.resume(new);
    assert_eq!(listed(&via), Some(vec![]));
    let (_, replicas, _) = wait_for("reverted replicas", PATIENCE, || {
        partition(&via, "cancelled").filter(|(_, r, _)| r.len() == 2)
    });
    // Kafka's PartitionReassignmentRevert: the merged list without the adding replicas.
    assert_eq!(replicas, vec![k, o]);
    assert_eq!(
        reassign(&via, "cancelled", None, true),
        (0, NO_REASSIGNMENT_IN_PROGRESS)
    );
    wait_for("the added replica's directory is gone", PATIENCE, || {
        (!c.data_dir(new).join("cancelled-0").exists()).then_some(())
    });
    assert_eq!(values_of(&bootstrap, "cancelled", few.len()), few);

    // The Java admin client: alter while the new replica's node is paused, then list.
    create(&via, "java-moved", &[o, k]);
    produce(&bootstrap, "java-moved", &few);
    c.pause(new);
    // Bootstrapped through `keep` only, so the client talks to a node that answers.
    let java = java_reassign(&via, "java-moved", &[k, n]);
    c.resume(new);
    if let Some((alter, list)) = java {
        assert_eq!(alter, "NONE");
        assert_eq!(
            list,
            format!("replicas=[{k}, {n}, {o}] adding=[{n}] removing=[{o}]")
        );
        let (_, replicas, _) = wait_for("the Java-started move completes", PATIENCE, || {
            partition(&via, "java-moved").filter(|(_, r, _)| r.len() == 2)
        });
        assert_eq!(replicas, vec![k, n]);
        assert_eq!(values_of(&bootstrap, "java-moved", few.len()), few);
    }
}
