//! Leader failover: kill -9 of a partition leader under an idempotent acks=all producer, and
//! the leaderless partition when the only ISR member dies (no unclean election).

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::producer::FutureRecord;

use super::{create, state_on, state_where, three_nodes, values, Net, PATIENCE};
use crate::support::replicas::{self, index_of};
use crate::support::{clients, wait_for};

const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const LEADER_NOT_AVAILABLE: i16 = 5;

#[test]
fn a_killed_leader_loses_and_duplicates_no_acknowledged_record_and_rejoins_identical() {
    let mut c = three_nodes(&[]);
    let topic = "ha";
    create(&c, topic, 1, 3, &[("min.insync.replicas", "2")]);
    let before = state_where(&c, topic, 0, "a leader", |s| s.leader >= 0);
    let victim = index_of(&c, before.leader);

    // An idempotent acks=all producer sends paced records on one thread; this thread awaits
    // each delivery in order and kills the leader once a third of them are acknowledged.
    let producer = clients::failover_producer(&c.bootstrap());
    let sent = values("r", 600);
    let (tx, rx) = mpsc::channel();
    let sender = {
        let producer = producer.clone();
        let sent = sent.clone();
        std::thread::spawn(move || {
            for (n, v) in sent.iter().enumerate() {
                let record = FutureRecord::<str, str>::to(topic).partition(0).payload(v);
                let f = producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("enqueued");
                if tx.send((n, Instant::now(), f)).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(4));
            }
        })
    };
    let mut acked: Vec<(i64, String)> = Vec::new();
    let mut killed_at: Option<Instant> = None;
    let mut failover: Option<Duration> = None;
    for (n, enqueued, f) in rx {
        let d = block_on(f)
            .expect("not cancelled")
            .unwrap_or_else(|(e, _)| panic!("record {n} not delivered: {e}"));
        acked.push((d.offset, sent[n].clone()));
        if let (Some(k), None) = (killed_at, failover) {
            if enqueued > k {
                failover = Some(k.elapsed());
            }
        }
        if n == 200 {
            c.kill9(victim);
            killed_at = Some(Instant::now());
        }
    }
    sender.join().expect("sender");
    eprintln!(
        "replication: kill -9 of leader {} → first acks=all ack of a record sent after it: {:?}",
        before.leader, failover
    );

    // A new leader from the ISR, in a newer epoch.
    let after = state_where(&c, topic, 0, "a new leader", |s| {
        s.leader >= 0 && s.leader != before.leader
    });
    assert!(after.leader_epoch > before.leader_epoch, "{after:?}");
    // Every acknowledged record exactly once, at the offset it was acknowledged with.
    acked.sort();
    let offsets: BTreeSet<i64> = acked.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        offsets.len(),
        acked.len(),
        "two records acknowledged at one offset"
    );
    let leader_addr = c.broker_addr(index_of(&c, after.leader));
    let log = wait_for(
        "the new leader to serve every acknowledged record",
        PATIENCE,
        || {
            let (recs, hw) = replicas::read_all(&leader_addr, topic, 0)?;
            (hw >= acked.len() as i64).then_some(recs)
        },
    );
    assert_eq!(
        log, acked,
        "the survivors' log is exactly the acknowledged records"
    );

    // The killed node comes back, rejoins the ISR and holds the leader's bytes.
    c.restart(victim);
    state_where(&c, topic, 0, "the restarted node back in the ISR", |s| {
        s.isr.len() == 3
    });
    let leader_dir = c.data_dir(index_of(&c, after.leader)).to_path_buf();
    wait_for(
        "every replica's log to equal the leader's",
        PATIENCE,
        || {
            let want = replicas::segments(&leader_dir, topic, 0);
            let same = (0..3).all(|i| replicas::segments(c.data_dir(i), topic, 0) == want);
            same.then_some(())
        },
    );
    let batches = replicas::batches(c.data_dir(victim), topic, 0);
    assert_eq!(
        batches.last().map(|b| b.1 + 1),
        Some(acked.len() as i64),
        "the restarted replica holds every record"
    );
}

#[test]
fn the_only_isr_member_dying_leaves_the_partition_leaderless_and_loses_nothing() {
    let mut net = Net::start(&[]);
    let topic = "solo";
    // Leader node 1, follower node 2 (RF 2; unclean.leader.election.enable is false).
    wait_for("solo created", PATIENCE, || {
        matches!(
            replicas::create_assigned(&net.cluster.broker_addr(0), topic, &[1, 2], &[]),
            Some(0) | Some(36)
        )
        .then_some(())
    });
    let first = state_where(&net.cluster, topic, 0, "leader 1 with a full ISR", |s| {
        s.leader == 1 && s.isr == [1, 2]
    });
    let leader = index_of(&net.cluster, 1);
    let addr = net.cluster.broker_addr(leader);
    let a = values("a", 20);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&a), -1).map(|r| r.0),
        Some(0)
    );
    // The follower cannot fetch any more: once it lags (a write it cannot fetch) the leader
    // shrinks the ISR to itself and keeps acknowledging acks=all (min.insync.replicas is 1).
    net.cut_fetches_from(leader, true);
    let b = values("b", 20);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&b), 1),
        Some((0, 20))
    );
    state_where(
        &net.cluster,
        topic,
        0,
        "the ISR shrunk to the leader",
        |s| s.isr == [1],
    );
    let d = values("d", 5);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&d), -1),
        Some((0, 40))
    );

    // The only ISR member dies: the follower is alive and registered but not eligible.
    net.cluster.kill9(leader);
    let dead = state_where(&net.cluster, topic, 0, "no leader", |s| s.leader == -1);
    assert_eq!(
        dead.isr,
        [1],
        "the ISR keeps the last member (Kafka's rule)"
    );
    let follower = net.cluster.broker_addr(index_of(&net.cluster, 2));
    wait_for("node 1 fenced, node 2 still registered", PATIENCE, || {
        let req = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![]));
        let m = replicas::call(&follower, &req, 12)?;
        let ids: BTreeSet<i32> = m.brokers.iter().map(|b| b.node_id.0).collect();
        (ids.contains(&2) && !ids.contains(&1)).then_some(())
    });
    let still = replicas::partition(&follower, topic, 0).expect("metadata");
    assert_eq!(still.leader, -1, "no unclean election: {still:?}");
    assert_eq!(still.error, LEADER_NOT_AVAILABLE, "{still:?}");
    let refused = replicas::produce(&follower, topic, 0, replicas::batch(&values("x", 1)), -1);
    assert!(
        matches!(refused, Some((e, _)) if e == NOT_LEADER_OR_FOLLOWER || e == LEADER_NOT_AVAILABLE),
        "{refused:?}"
    );

    // The leader returns: it leads again in a newer epoch and nothing acknowledged is lost.
    net.cut_fetches_from(leader, false);
    net.cluster.restart(leader);
    let others = [index_of(&net.cluster, 2), index_of(&net.cluster, 3)];
    let back = state_on(
        &net.cluster,
        &others,
        topic,
        0,
        "node 1 leading again",
        |s| s.leader == 1,
    );
    assert!(back.leader_epoch > first.leader_epoch, "{back:?}");
    let (log, _) = wait_for("every acknowledged record readable", PATIENCE, || {
        replicas::read_all(&addr, topic, 0).filter(|(r, _)| r.len() >= 45)
    });
    let want: Vec<(i64, String)> = a
        .iter()
        .chain(&b)
        .chain(&d)
        .cloned()
        .enumerate()
        .map(|(i, v)| (i as i64, v))
        .collect();
    assert_eq!(log, want);
    state_where(
        &net.cluster,
        topic,
        0,
        "the follower back in the ISR",
        |s| s.isr == [1, 2],
    );
}

#[test]
fn a_retried_idempotent_batch_is_a_duplicate_on_the_new_leader() {
    let mut c = three_nodes(&[]);
    let topic = "dedup";
    create(&c, topic, 1, 3, &[("min.insync.replicas", "2")]);
    let before = state_where(&c, topic, 0, "a leader", |s| s.leader >= 0);
    let victim = index_of(&c, before.leader);
    let addr = c.broker_addr(victim);
    let pid =
        crate::support::raw::init_producer_id(&mut crate::support::RawClient::connect(&addr), None);
    let batch = |seq: i32, vals: &[&str]| {
        let recs: Vec<(Option<&str>, &str)> = vals.iter().map(|v| (None, *v)).collect();
        crate::support::raw::encode_batch(
            &recs,
            Some((pid.0, pid.1, seq)),
            crate::support::raw::now_ms(),
        )
    };
    let b0 = batch(0, &["a", "b"]);
    let b1 = batch(2, &["c", "d", "e"]);
    assert_eq!(
        replicas::produce(&addr, topic, 0, b0.clone(), -1),
        Some((0, 0))
    );
    assert_eq!(
        replicas::produce(&addr, topic, 0, b1.clone(), -1),
        Some((0, 2))
    );
    c.kill9(victim);
    let after = state_where(&c, topic, 0, "a new leader", |s| {
        s.leader >= 0 && s.leader != before.leader
    });
    let new_addr = c.broker_addr(index_of(&c, after.leader));
    // The producer never saw the second answer and retries it on the new leader: Kafka
    // answers the original offset (the last five batches per producer are remembered).
    let retry = wait_for("the retry answered", PATIENCE, || {
        replicas::produce(&new_addr, topic, 0, b1.clone(), -1).filter(|r| r.0 != 6 && r.0 != 5)
    });
    assert_eq!(retry, (0, 2), "a retried batch is not appended twice");
    assert_eq!(
        replicas::produce(&new_addr, topic, 0, b0.clone(), -1),
        Some((0, 0))
    );
    let next = replicas::produce(&new_addr, topic, 0, batch(5, &["f"]), -1);
    assert_eq!(next, Some((0, 5)));
    let (log, _) = replicas::read_all(&new_addr, topic, 0).expect("fetch");
    let vals: Vec<String> = log.into_iter().map(|r| r.1).collect();
    assert_eq!(vals, ["a", "b", "c", "d", "e", "f"]);
}
