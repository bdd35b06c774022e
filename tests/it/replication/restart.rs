//! A node restarted after its partition leadership moved away never serves its old view
//! (Kafka's initial metadata catch-up: a broker answers no client, and its replica layer
//! takes no leadership, before its metadata image reaches the quorum's high watermark).
//! The victim leads an RF-3 partition and is killed with -9; the controller fences it and
//! elects a follower (leader epoch +1); the victim restarts on its old data directory (its
//! snapshot and metadata log name it leader in the old epoch). From the moment its port
//! accepts, every Metadata answer it gives carries the new epoch, and a Produce (acks=1)
//! sent straight to it is refused with NOT_LEADER_OR_FOLLOWER, never appended. Run for a
//! combined voter, for the quorum's leader (restored as leader from its vote at restart)
//! and for a broker-only node (the metadata observer).

use super::{state_on, PATIENCE};
use crate::support::cluster::Cluster;
use crate::support::replicas::{self, index_of, PartState};
use crate::support::wait_for;

/// NOT_LEADER_OR_FOLLOWER.
const NOT_LEADER: i16 = 6;

/// The scenario of the module doc on a started cluster: `victim` leads `topic`-0, whose
/// replicas are `replicas` (the victim first).
fn restart_after_leadership_moved(c: &mut Cluster, topic: &str, replicas: &[i32]) {
    let victim = replicas[0];
    wait_for(&format!("{topic} created"), PATIENCE, || {
        matches!(
            replicas::create_assigned(&c.broker_addr(0), topic, replicas, &[]),
            Some(0) | Some(36)
        )
        .then_some(())
    });
    let vi = index_of(c, victim);
    let first = state_on(c, &[vi], topic, 0, "the victim leading a full ISR", |s| {
        s.leader == victim && s.isr.len() == replicas.len()
    });
    // A record in the victim's log, so it has something to serve from its old view.
    let mut batch = replicas::batch(&["before".to_string()]);
    assert_eq!(
        replicas::produce(&c.broker_addr(vi), topic, 0, batch.clone(), -1),
        Some((0, 0))
    );

    c.kill9(vi);
    let others: Vec<usize> = (0..c.len()).filter(|&i| i != vi).collect();
    let moved = state_on(c, &others, topic, 0, "a new leader in a newer epoch", |s| {
        s.leader >= 0 && s.leader != victim && s.leader_epoch > first.leader_epoch
    });

    c.restart(vi);
    let addr = c.broker_addr(vi);
    let stale = |s: &PartState| {
        s.leader_epoch < moved.leader_epoch
            || (s.leader == victim && s.leader_epoch == moved.leader_epoch)
    };
    let mut answers: Vec<PartState> = Vec::new();
    let mut refused = 0;
    let caught_up = crate::support::wait::poll(PATIENCE, || {
        if let Some(s) = replicas::partition(&addr, topic, 0) {
            assert!(
                !stale(&s),
                "the restarted node {victim} answered Metadata from its old image: {s:?} \
                 (current: {moved:?}; its answers so far: {answers:?})"
            );
            answers.push(s);
        }
        batch = replicas::batch(&[format!("after-{refused}")]);
        if let Some((code, offset)) = replicas::produce(&addr, topic, 0, batch.clone(), 1) {
            assert_eq!(
                code, NOT_LEADER,
                "acks=1 to the restarted former leader {victim}: code {code}, offset {offset}"
            );
            refused += 1;
        }
        let last = answers.last()?;
        (last.leader == moved.leader && last.isr.contains(&victim) && refused >= 3)
            .then_some(last.clone())
    });
    let now = caught_up.unwrap_or_else(|| {
        panic!("node {victim} did not rejoin the ISR of {topic}-0; answers {answers:?}")
    });
    assert!(now.leader_epoch >= moved.leader_epoch, "{now:?}");
    // Nothing of the refused writes reached the log: the leader holds the one record.
    let (records, _) = wait_for("the leader's records", PATIENCE, || {
        replicas::read_all(&c.broker_addr(index_of(c, moved.leader)), topic, 0)
    });
    let values: Vec<&str> = records.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["before"]);
}

#[test]
fn a_restarted_voter_never_answers_from_its_old_image() {
    let mut c = super::three_nodes(&[]);
    // The victim is not the quorum leader, so the quorum keeps its leader while it is away.
    let quorum = wait_for("a quorum leader", PATIENCE, || {
        replicas::quorum_leader(&c.broker_addr(0))
    });
    let mut ids: Vec<i32> = (0..3).map(|i| c.id(i)).collect();
    ids.sort_by_key(|&id| id == quorum);
    restart_after_leadership_moved(&mut c, "stale-voter", &ids);
}

#[test]
fn a_restarted_quorum_leader_never_answers_from_its_old_image() {
    // openraft restores a restarted leader from its committed vote: it believes it leads
    // until a majority answers it.
    let mut c = super::three_nodes(&[]);
    let quorum = wait_for("a quorum leader", PATIENCE, || {
        replicas::quorum_leader(&c.broker_addr(0))
    });
    let mut ids: Vec<i32> = (0..3).map(|i| c.id(i)).collect();
    ids.sort_by_key(|&id| id != quorum);
    restart_after_leadership_moved(&mut c, "stale-quorum-leader", &ids);
}

#[test]
fn a_restarted_broker_only_node_never_answers_from_its_old_image() {
    let mut c = Cluster::with_brokers(3, 1);
    c.start_all();
    replicas::wait_brokers(&c.broker_addr(0), 4, PATIENCE);
    // The broker-only node (id 4) leads; two voters follow.
    let ids = [c.id(3), c.id(0), c.id(1)];
    restart_after_leadership_moved(&mut c, "stale-observer", &ids);
}
