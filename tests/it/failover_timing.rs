//! Failover times with every timing at Kafka's default (issue 13's goals: ≤ 3 s after a
//! kill -9, ≤ 0.5 s after a controlled shutdown), on three combined nodes under an
//! idempotent acks=all producer (rdkafka) that keeps sending to one RF-3 partition
//! (`min.insync.replicas` 2):
//! - kill -9 of the partition's leader that is also the active controller: the metadata
//!   quorum elects a new leader after `controller.quorum.fetch.timeout.ms` (2 s), whose
//!   liveness probe fences the dead node at once (`quorum/timing.rs`, `controller/liveness.rs`);
//! - SIGTERM of a leader that is not the controller: the controlled shutdown moves the
//!   leadership first, and the surviving follower's fetch that reaches the new leader before
//!   it applied the new epoch waits for it instead of backing off `replica.fetch.backoff.ms`
//!   (1 s; `handlers/fetch.rs`).
//!
//! Each test measures the time from the signal until an acks=all Produce (the project's raw
//! client, through the survivors' Metadata, every ~20 ms, as `scripts/bench-replication`'s
//! probe) is acknowledged by the new leader. Timed tests are not benchmarks: each test
//! stretches the one slow path its fix avoids (the broker session after a kill, the fetch
//! backoff after a SIGTERM) far past a bound that a loaded machine still meets, so it fails
//! only if that path is taken; the figures come from `scripts/bench-replication`. The rdkafka
//! producer's own gap (signal → first acknowledgement of a record enqueued after it) is
//! printed: after a kill it adds librdkafka's metadata refresh policy (≈ 1.7 s here). Every
//! record of both must be acknowledged, and the new leader's log must be exactly those, each
//! once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::producer::FutureRecord;

use crate::replication::{create, state_on, state_where, values, PATIENCE};
use crate::support::cluster::{Cluster, KAFKA_DEFAULT_TIMINGS};
use crate::support::replicas::{self, index_of};
use crate::support::wait_for;

/// A kill -9 of the active controller: 2.1–2.5 s measured (the goal is 3 s). The test
/// stretches the broker session to [`LONG_SESSION`]: fencing the dead leader must come from the
/// new controller's liveness probe, not from its session running out.
const KILL_BOUND: Duration = Duration::from_secs(15);
const LONG_SESSION: &str = "40000";

/// A controlled shutdown: 0.1–0.25 s measured (the goal is 0.5 s). The test stretches
/// `replica.fetch.backoff.ms` to [`LONG_BACKOFF`]: a follower's fetch that reached the new
/// leader before it applied its epoch must wait for it, not back off.
const TERM_BOUND: Duration = Duration::from_secs(8);
const LONG_BACKOFF: &str = "20000";

/// Records the producer sends, 5 ms apart, at most (it stops once the failover is measured
/// and 50 more records were acknowledged).
const RECORDS: usize = 20_000;

/// Three nodes with Kafka's default timings but `stretched` (one slow path made long).
fn cluster(stretched: (&str, &str)) -> Cluster {
    let mut settings: Vec<(&str, &str)> = KAFKA_DEFAULT_TIMINGS
        .iter()
        .filter(|(k, _)| *k != stretched.0)
        .copied()
        .collect();
    settings.extend([stretched, ("auto.leader.rebalance.enable", "false")]);
    let c = Cluster::start_with(3, &settings);
    replicas::wait_brokers(&c.broker_addr(0), 3, PATIENCE);
    c
}

/// The active controller, as every node sees it.
fn controller(c: &Cluster) -> i32 {
    wait_for("one quorum leader on every node", PATIENCE, || {
        let seen: BTreeSet<Option<i32>> = (0..c.len())
            .map(|i| replicas::quorum_leader(&c.broker_addr(i)))
            .collect();
        match seen.into_iter().collect::<Vec<_>>()[..] {
            [Some(l)] => Some(l),
            _ => None,
        }
    })
}

/// A partition of `topic` (3 partitions) whose leader satisfies `want`, with a full ISR.
fn partition_led(c: &Cluster, topic: &str, want: impl Fn(i32) -> bool) -> (i32, i32) {
    wait_for("a partition with the wanted leader", PATIENCE, || {
        (0..3).find_map(|p| {
            let s = replicas::partition(&c.broker_addr(0), topic, p)?;
            (s.leader >= 0 && s.isr.len() == 3 && want(s.leader)).then_some((p, s.leader))
        })
    })
}

/// What one fault cost.
struct Failover {
    /// Fault → an acks=all Produce acknowledged by a new leader (raw client).
    cluster: Duration,
    /// Fault → the rdkafka producer's first acknowledgement of a record enqueued after it.
    client: Duration,
    /// Every (offset, value) acknowledged, by either.
    acked: Vec<(i64, String)>,
}

/// Polls the `survivors`' Metadata for a leader of `topic`-`p` other than `old` and produces
/// one acks=all batch to it until one is acknowledged: (offset, value).
fn raw_acks_all(c: &Cluster, survivors: &[usize], topic: &str, p: i32, old: i32) -> (i64, String) {
    let value = format!("raw-after-{old}");
    let batch = replicas::batch(std::slice::from_ref(&value));
    let offset = wait_for("an acks=all produce on a new leader", PATIENCE, || {
        let s = survivors
            .iter()
            .find_map(|&i| replicas::partition(&c.broker_addr(i), topic, p))?;
        if s.leader < 0 || s.leader == old {
            return None;
        }
        let addr = c.broker_addr(index_of(c, s.leader));
        match replicas::produce(&addr, topic, p, batch.clone(), -1)? {
            (0, offset) => Some(offset),
            _ => None,
        }
    });
    (offset, value)
}

/// An idempotent acks=all producer (rdkafka) sends records to `topic`-`p` (led by `leader`)
/// until the failover is measured; once 100 are acknowledged `fault` hits the cluster and [`raw_acks_all`]
/// times the failover (see [`Failover`]).
fn failover_under_producer(
    c: &mut Cluster,
    topic: &'static str,
    p: i32,
    leader: i32,
    fault: impl FnOnce(&mut Cluster),
) -> Failover {
    let producer = crate::support::clients::failover_producer(&c.bootstrap());
    let sent = values("f", RECORDS);
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (producer, sent, stop) = (producer.clone(), sent.clone(), stop.clone());
        std::thread::spawn(move || {
            for (n, v) in sent.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    return n;
                }
                let record = FutureRecord::<str, str>::to(topic).partition(p).payload(v);
                let f = producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("enqueued");
                if tx.send((n, Instant::now(), f)).is_err() {
                    return n;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            sent.len()
        })
    };
    // Deliveries are awaited in order on their own thread, each with the time it came.
    let progress = Arc::new(AtomicUsize::new(0));
    let acker = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            for (n, enqueued, f) in rx {
                let d = block_on(f)
                    .expect("not cancelled")
                    .unwrap_or_else(|(e, _)| panic!("record {n} not delivered: {e}"));
                out.push((n, enqueued, Instant::now(), d.offset));
                progress.fetch_add(1, Ordering::Relaxed);
            }
            out
        })
    };
    wait_for("100 records acknowledged", PATIENCE, || {
        (progress.load(Ordering::Relaxed) >= 100).then_some(())
    });
    let victim = index_of(c, leader);
    let survivors: Vec<usize> = (0..c.len()).filter(|&i| i != victim).collect();
    let at = Instant::now();
    fault(c);
    let raw = raw_acks_all(c, &survivors, topic, p, leader);
    let cluster = at.elapsed();
    // The producer goes on until records enqueued after the fault are acknowledged too.
    let now = progress.load(Ordering::Relaxed);
    wait_for("50 more records acknowledged", PATIENCE, || {
        (progress.load(Ordering::Relaxed) >= now + 50).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    let enqueued = sender.join().expect("sender");
    let delivered = acker.join().expect("acker");
    assert_eq!(delivered.len(), enqueued, "every record acknowledged");
    let client = delivered
        .iter()
        .find(|(_, enqueued, _, _)| *enqueued > at)
        .map(|(_, _, acked, _)| acked.duration_since(at))
        .expect("records enqueued after the fault");
    let mut acked: Vec<(i64, String)> = delivered
        .iter()
        .map(|(n, _, _, offset)| (*offset, sent[*n].clone()))
        .collect();
    acked.push(raw);
    acked.sort();
    Failover {
        cluster,
        client,
        acked,
    }
}

/// The new leader's log is exactly the acknowledged records, each once.
fn nothing_lost(c: &Cluster, survivors: &[usize], topic: &str, p: i32, acked: &[(i64, String)]) {
    let offsets: BTreeSet<i64> = acked.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        offsets.len(),
        acked.len(),
        "two records acked at one offset"
    );
    let now = state_on(c, survivors, topic, p, "a leader", |s| s.leader >= 0);
    let addr = c.broker_addr(index_of(c, now.leader));
    let log = wait_for("every acknowledged record readable", PATIENCE, || {
        let (recs, hw) = replicas::read_all(&addr, topic, p)?;
        (hw >= acked.len() as i64).then_some(recs)
    });
    assert_eq!(log, acked, "the log is exactly the acknowledged records");
}

#[test]
fn a_killed_active_controller_that_leads_fails_over_without_waiting_for_its_session() {
    let mut c = cluster(("broker.session.timeout.ms", LONG_SESSION));
    let topic = "kill-controller";
    create(&c, topic, 3, 3, &[("min.insync.replicas", "2")]);
    let ctl = controller(&c);
    let (p, leader) = partition_led(&c, topic, |l| l == ctl);
    let before = state_where(&c, topic, p, "a full ISR", |s| s.isr.len() == 3);
    let victim = index_of(&c, leader);
    let survivors: Vec<usize> = (0..3).filter(|&i| i != victim).collect();
    let f = failover_under_producer(&mut c, topic, p, leader, |c| c.kill9(victim));
    eprintln!(
        "failover: kill -9 of the controller {leader} (leader of {topic}-{p}) → acks=all again after {:?} (rdkafka: {:?})",
        f.cluster, f.client
    );
    let after = state_on(&c, &survivors, topic, p, "a new leader", |s| {
        s.leader >= 0 && s.leader != leader
    });
    assert!(after.leader_epoch > before.leader_epoch, "{after:?}");
    assert!(
        f.cluster < KILL_BOUND,
        "acks=all resumed {:?} after the controller's kill",
        f.cluster
    );
    nothing_lost(&c, &survivors, topic, p, &f.acked);
}

#[test]
fn a_controlled_shutdown_fails_over_without_a_fetch_backoff() {
    let mut c = cluster(("replica.fetch.backoff.ms", LONG_BACKOFF));
    let topic = "term-leader";
    create(&c, topic, 3, 3, &[("min.insync.replicas", "2")]);
    let ctl = controller(&c);
    let (p, leader) = partition_led(&c, topic, |l| l != ctl);
    let victim = index_of(&c, leader);
    let survivors: Vec<usize> = (0..3).filter(|&i| i != victim).collect();
    let pid = c.pid(victim).expect("running");
    let f = failover_under_producer(&mut c, topic, p, leader, |_| {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "SIGTERM {pid}");
    });
    eprintln!(
        "failover: SIGTERM of leader {leader} of {topic}-{p} → acks=all again after {:?} (rdkafka: {:?})",
        f.cluster, f.client
    );
    let status = c.terminate(victim, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit: {status:?}"
    );
    assert!(
        f.cluster < TERM_BOUND && f.client < TERM_BOUND,
        "acks=all resumed {:?} (rdkafka: {:?}) after the leader's SIGTERM",
        f.cluster,
        f.client
    );
    nothing_lost(&c, &survivors, topic, p, &f.acked);
}
