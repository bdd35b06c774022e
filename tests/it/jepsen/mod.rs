//! A Jepsen-style run (issue 13's checker): idempotent acks=all producers, a consumer group, an
//! `assign()` reader and a `ListOffsets(latest)` poller run against `gregor serve` processes
//! while a seeded schedule kills (-9), pauses (SIGSTOP) and isolates nodes; then every
//! partition is read in full and [`history::check`] judges the whole history.
//!
//! - [`history`]: the checker, pure (events + final log → report); [`history_tests`] its
//!   hand-made histories;
//! - [`workload`]: the client threads and the final read;
//! - [`faults`]: the seeded schedule and the target (`support::cluster` + proxies).
//!
//! Two entry points: [`smoke`] (part of the suite: one node, two kill -9/restart cycles,
//! about 15 s) and [`run`] (`#[ignore]`d; driven by `scripts/jepsen`, which passes its
//! parameters in `JEPSEN_*` variables — the harness lives in this test binary, which is the
//! only place `CARGO_BIN_EXE_gregor` exists, so the long run is an ignored test rather than an
//! example binary). Reading the environment is fine here; nothing writes it.
//!
//! What a single node checks: gregor acknowledges acks=all once the batch is in its log file
//! (page cache; the default flush policy never fsyncs), so kill -9 and SIGSTOP must lose no
//! acknowledged record, duplicate nothing (idempotence across restarts: producer state is
//! rebuilt from the log) and never move `ListOffsets(latest)` or a consumer backwards.
//! Several nodes (`JEPSEN_NODES=3`, RF=3, `min.insync.replicas=2`): [`run_with`] waits for
//! every broker, creates the topic and refuses to go on unless every partition has `rf`
//! replicas all in the ISR; the faults then also hit the leader of partition 0 and the
//! quorum leader, and isolate nodes through proxies. The producers' message timeout is long
//! there ([`MULTI_NODE_MESSAGE_TIMEOUT`]): what is checked is the broker's guarantee, not
//! librdkafka's epoch bump after a local timeout.

mod faults;
mod history;
mod history_tests;
mod workload;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::clients;
use faults::{schedule, Fault, Kind, Target};
use history::{check, History, Report};
use workload::{Clients, Recorder};

/// Everything a run is made of.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub nodes: usize,
    pub rf: i32,
    pub min_isr: i32,
    pub partitions: i32,
    pub producers: usize,
    pub group_consumers: usize,
    pub cycles: usize,
    /// The faulty part of the run (the final read comes after).
    pub duration: Duration,
    /// Fault kinds to draw from (empty: every kind that makes sense for `nodes`).
    pub kinds: Vec<Kind>,
    pub message_timeout: Duration,
    /// Pause between two sends of one producer (the offered load).
    pub send_every: Duration,
    /// Where to keep the history, the schedule and the nodes' logs (None: a temporary dir,
    /// kept only when the run fails).
    pub out: Option<PathBuf>,
}

impl Settings {
    /// One node, RF 1: what gregor can check today.
    pub fn single_node(seed: u64, cycles: usize, duration: Duration) -> Settings {
        Settings {
            seed,
            nodes: 1,
            rf: 1,
            min_isr: 1,
            partitions: 3,
            producers: 3,
            group_consumers: 2,
            cycles,
            duration,
            kinds: Vec::new(),
            message_timeout: Duration::from_secs(3),
            send_every: Duration::from_millis(3),
            out: None,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub schedule: Vec<Fault>,
    /// Idempotent producers replaced after a fatal error.
    pub fatal_producers: usize,
    pub history_file: PathBuf,
}

const TOPIC: &str = "jepsen";

/// The producers' `message.timeout.ms` with several nodes: longer than any fault plus a
/// failover. When a queued message of an idempotent librdkafka producer times out, the
/// producer bumps its epoch and re-sends the messages behind it under new sequence numbers
/// (INTRODUCTION.md, "Message timeout considerations"), including ones a timed-out request
/// may already have written: duplicates made by the client, which no broker can detect. One
/// node keeps the short timeout: a killed or paused single node is the whole partition and
/// its history needs sends of unknown outcome.
const MULTI_NODE_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the workload under the faults of `s` and checks it; `Err` when the run could not be
/// made (refused configuration, the cluster not coming back), not when it found violations.
pub fn run_with(s: &Settings) -> Result<Outcome, String> {
    let kinds = if s.kinds.is_empty() {
        faults::kinds_for(s.nodes)
    } else {
        s.kinds.clone()
    };
    let plan = schedule(s.seed, s.nodes, &kinds, s.cycles, s.duration);
    eprintln!(
        "jepsen: seed {} ({} nodes, RF {}, min.insync.replicas {}, {} partitions, {} cycles in {} s)",
        s.seed,
        s.nodes,
        s.rf,
        s.min_isr,
        s.partitions,
        s.cycles,
        s.duration.as_secs()
    );
    let settings: Vec<(String, String)> = [
        ("default.replication.factor", s.rf.to_string()),
        ("min.insync.replicas", s.min_isr.to_string()),
        ("offsets.topic.replication.factor", s.rf.to_string()),
        ("transaction.state.log.replication.factor", s.rf.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut target = Target::start(s.nodes, &settings);
    let bootstrap = target.bootstrap();
    if s.nodes > 1 {
        registered(&bootstrap, s.nodes).map_err(|e| refusal(s, &e))?;
        create_topic(&bootstrap, s).map_err(|e| refusal(s, &e))?;
        replicating(&bootstrap, s).map_err(|e| refusal(s, &e))?;
    } else {
        create_topic(&bootstrap, s)?;
    }
    let c = Clients {
        bootstrap,
        topic: TOPIC.into(),
        partitions: s.partitions,
        producers: s.producers,
        group_consumers: s.group_consumers,
        send_every: s.send_every,
        message_timeout: s.message_timeout,
    };
    for (n, f) in plan.iter().enumerate() {
        eprintln!("jepsen: cycle {}: {f}", n + 1);
    }
    let rec = Recorder::new();
    let running = workload::start(&c, &rec);
    let mut log = String::new();
    // Each cycle owns an equal slot of the duration: gap, fault, hold, heal, healed time.
    let slot = s.duration / s.cycles.max(1) as u32;
    let began = Instant::now();
    for (n, f) in plan.iter().enumerate() {
        std::thread::sleep(f.gap);
        let i = target.apply(f, TOPIC);
        let at = rec.elapsed_ms();
        let _ = writeln!(log, "{at} ms: cycle {}: {f} (node {})", n + 1, i + 1);
        std::thread::sleep(f.hold);
        target.heal(f, i);
        let _ = writeln!(log, "{} ms: healed", rec.elapsed_ms());
        let cycle_end = began + slot * (n as u32 + 1);
        std::thread::sleep(cycle_end.saturating_duration_since(Instant::now()));
    }
    // Liveness before the end: a send acknowledged after the last heal.
    let healed_at = rec.elapsed_ms();
    let progress = wait_until(Duration::from_secs(30), || rec.last_ack_ms() >= healed_at);
    let fatal_producers = running.fatal.load(std::sync::atomic::Ordering::Acquire);
    running.stop();
    let final_log = workload::final_log(&c, &rec, Duration::from_secs(60));
    let events = rec.take();
    let dir = keep_dir(s);
    let history_file = dir.join("history.tsv");
    let mut text: String = events.iter().map(|e| history::render(e) + "\n").collect();
    text.push_str(&log);
    let _ = std::fs::write(&history_file, text);
    for i in 0..target.cluster.len() {
        let _ = std::fs::write(
            dir.join(format!("node-{}.log", i + 1)),
            target.cluster.log(i),
        );
    }
    if s.out.is_some() {
        for i in 0..target.cluster.len() {
            keep_segments(
                target.cluster.data_dir(i),
                &dir.join(format!("node-{}-data", i + 1)),
            );
        }
    }
    if !progress {
        return Err(format!(
            "no send was acknowledged within 30 s after the last fault healed (seed {}, history {})",
            s.seed,
            history_file.display()
        ));
    }
    let final_log = final_log.map_err(|e| format!("{e} (seed {})", s.seed))?;
    let report = check(&History { events, final_log });
    Ok(Outcome {
        report,
        schedule: plan,
        fatal_producers,
        history_file,
    })
}

/// Copies the topic's partition directories (segments, indexes, epoch checkpoints) of a
/// node's data directory to `to`, for `gregor dump-log` after a kept run.
fn keep_segments(data: &std::path::Path, to: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(data) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{TOPIC}-")) {
            continue;
        }
        let dest = to.join(&name);
        let _ = std::fs::create_dir_all(&dest);
        for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            let _ = std::fs::copy(f.path(), dest.join(f.file_name()));
        }
    }
}

/// Polls `f` until true or the deadline; returns whether it became true.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where the run's files go: `s.out`, or a directory named after the seed under the
/// system's temporary directory (removed again by [`assert_clean`] when the run passed).
fn keep_dir(s: &Settings) -> PathBuf {
    let dir = s
        .out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("gregor-jepsen-{}", s.seed)));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Waits until the metadata lists `nodes` brokers: a CreateTopics sent while the brokers are
/// still registering fails on too few brokers.
fn registered(bootstrap: &str, nodes: usize) -> Result<(), String> {
    let c: BaseConsumer = clients::config(bootstrap, &[])
        .create()
        .map_err(|e| e.to_string())?;
    let ok = wait_until(Duration::from_secs(30), || {
        c.fetch_metadata(None, Duration::from_secs(2))
            .is_ok_and(|m| m.brokers().len() == nodes)
    });
    ok.then_some(())
        .ok_or_else(|| format!("{nodes} brokers did not all register within 30 s"))
}

fn create_topic(bootstrap: &str, s: &Settings) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = clients::config(bootstrap, &[])
        .create()
        .map_err(|e| e.to_string())?;
    let min_isr = s.min_isr.to_string();
    let t = NewTopic::new(TOPIC, s.partitions, TopicReplication::Fixed(s.rf))
        .set("min.insync.replicas", &min_isr);
    // Bounded: librdkafka's admin request otherwise waits for a controller forever.
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(20)));
    let res =
        block_on(admin.create_topics([&t], &opts)).map_err(|e| format!("CreateTopics: {e}"))?;
    for r in res {
        r.map_err(|(t, e)| format!("creating {t} with replication factor {}: {e}", s.rf))?;
    }
    Ok(())
}

/// Refuses a multi-node run on a cluster that does not replicate (see the module doc).
fn replicating(bootstrap: &str, s: &Settings) -> Result<(), String> {
    let c: BaseConsumer = clients::config(bootstrap, &[])
        .create()
        .map_err(|e| e.to_string())?;
    let ok = wait_until(Duration::from_secs(20), || {
        let Ok(m) = c.fetch_metadata(Some(TOPIC), Duration::from_secs(2)) else {
            return false;
        };
        let brokers = m.brokers().len();
        let parts_ok = m.topics().first().is_some_and(|t| {
            t.partitions().len() == s.partitions as usize
                && t.partitions()
                    .iter()
                    .all(|p| p.replicas().len() == s.rf as usize && p.isr().len() == s.rf as usize)
        });
        brokers == s.nodes && parts_ok
    });
    if ok {
        return Ok(());
    }
    let seen = c
        .fetch_metadata(Some(TOPIC), Duration::from_secs(2))
        .map(|m| {
            let parts: Vec<_> = m
                .topics()
                .first()
                .map(|t| {
                    let rs = |p: &rdkafka::metadata::MetadataPartition| {
                        (p.replicas().len(), p.isr().len())
                    };
                    t.partitions().iter().map(rs).collect()
                })
                .unwrap_or_default();
            let brokers = m.brokers().len();
            format!("{brokers} brokers, (replicas, ISR) per partition {parts:?}")
        })
        .unwrap_or_else(|e| e.to_string());
    Err(format!(
        "the metadata should list {} brokers and {} replicas all in the ISR for every partition; it shows {seen}",
        s.nodes, s.rf
    ))
}

/// Why a multi-node run cannot go on.
fn refusal(s: &Settings, why: &str) -> String {
    format!(
        "the {}-node mode (RF {}) needs a replicating cluster and this one is not: {why}. \
         Until replication lands, run with one node (scripts/jepsen without --nodes).",
        s.nodes, s.rf
    )
}

/// Prints the outcome and fails on any violation, naming the seed.
fn assert_clean(s: &Settings, o: &Outcome) {
    eprintln!("jepsen: {}", o.report);
    eprintln!(
        "jepsen: {} idempotent producer(s) replaced after a fatal error",
        o.fatal_producers
    );
    // Counts by kind, and the first few of each.
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for v in &o.report.violations {
        let n = kinds.entry(v.kind()).or_default();
        *n += 1;
        if *n <= 3 {
            eprintln!("jepsen: VIOLATION {v}");
        }
    }
    for (kind, n) in &kinds {
        eprintln!("jepsen: {n} × {kind}");
    }
    assert!(
        o.report.violations.is_empty(),
        "{} violations with seed {} (replay with --seed {}); history in {}",
        o.report.violations.len(),
        s.seed,
        s.seed,
        o.history_file.display()
    );
    assert!(
        o.report.acked > 0,
        "nothing was acknowledged (seed {})",
        s.seed
    );
    match (&s.out, o.history_file.parent()) {
        (None, Some(dir)) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        _ => eprintln!("jepsen: history in {}", o.history_file.display()),
    }
}

/// A short real run in the suite: one node, two kill -9/restart cycles.
#[test]
fn smoke() {
    let seed = random_seed();
    let mut s = Settings::single_node(seed, 2, Duration::from_secs(8));
    s.kinds = vec![Kind::Kill9];
    // A lighter load than the script's: the suite runs other tests beside it.
    s.send_every = Duration::from_millis(10);
    let o = run_with(&s).unwrap_or_else(|e| panic!("{e}"));
    assert_clean(&s, &o);
    assert_eq!(o.schedule.len(), 2);
    assert!(
        o.report.polls > 0 && o.report.final_records > 0,
        "{}",
        o.report
    );
}

/// A seed from the clock (printed by the run, so a failure replays).
fn random_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(1, |d| d.as_nanos() as u64) ^ u64::from(std::process::id())
}

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The long run `scripts/jepsen` drives (see the module doc for the variables).
#[test]
#[ignore = "long; run through scripts/jepsen"]
fn run() {
    let seed = env("JEPSEN_SEED", random_seed());
    let nodes = env("JEPSEN_NODES", 1usize);
    let mut s = Settings::single_node(
        seed,
        env("JEPSEN_CYCLES", 10),
        Duration::from_secs(env("JEPSEN_DURATION", 60)),
    );
    s.nodes = nodes;
    if nodes > 1 {
        s.message_timeout = MULTI_NODE_MESSAGE_TIMEOUT;
    }
    s.rf = env("JEPSEN_RF", nodes as i32);
    s.min_isr = env("JEPSEN_MIN_ISR", if s.rf > 1 { 2 } else { 1 });
    s.partitions = env("JEPSEN_PARTITIONS", 3);
    s.producers = env("JEPSEN_PRODUCERS", 3);
    s.group_consumers = env("JEPSEN_CONSUMERS", 2);
    s.out = std::env::var("JEPSEN_OUT").ok().map(PathBuf::from);
    let o = run_with(&s).unwrap_or_else(|e| panic!("{e}"));
    assert_clean(&s, &o);
}
