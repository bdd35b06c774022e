//! The cluster tier (`compat-rdkafka HOST:PORT,... --cluster`, run by `scripts/compat
//! --cluster`): the scenarios of compat/SCENARIOS-cluster against a 3-node cluster, with the
//! fault hook `$COMPAT_FAULT` (compat/cluster.py). Single-threaded: one scenario at a time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures::executor::block_on;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::Offset;
use rdkafka::TopicPartitionList;

use crate::{close, config, wait_until, Ctx};

/// What the producer's delivery reports said, by value: the failover scenario needs every
/// acknowledged value, not the futures of a batch.
#[derive(Default)]
struct Deliveries {
    acked: Mutex<HashSet<Vec<u8>>>,
    failed: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(m) => {
                if let Ok(mut a) = self.acked.lock() {
                    a.insert(m.payload().unwrap_or_default().to_vec());
                }
            }
            Err((e, _)) => {
                if let Ok(mut f) = self.failed.lock() {
                    f.push(e.to_string());
                }
            }
        }
    }
}

/// Runs `$COMPAT_FAULT args...`; its output.
fn fault(args: &[&str]) -> Result<String> {
    let hook = std::env::var("COMPAT_FAULT")
        .context("no fault hook: run through scripts/compat --cluster")?;
    let out = Command::new(hook).args(args).output()?;
    ensure!(
        out.status.success(),
        "fault {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn create(c: &Ctx, name: &str) -> Result<()> {
    let t = NewTopic::new(name, 3, TopicReplication::Fixed(3));
    for r in block_on(c.admin.create_topics([&t], &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    Ok(())
}

fn producer(c: &Ctx, extra: &[(&str, &str)]) -> Result<BaseProducer<Deliveries>> {
    Ok(config(
        &c.bs,
        &[&[("linger.ms", "5"), ("acks", "all")], extra].concat(),
    )
    .create_with_context(Deliveries::default())?)
}

fn send(p: &BaseProducer<Deliveries>, topic: &str, key: &str, value: &str) -> Result<()> {
    p.send(BaseRecord::to(topic).key(key).payload(value))
        .map_err(|(e, _)| anyhow::anyhow!("send: {e}"))
}

fn produce_consume(c: &mut Ctx) -> Result<String> {
    let name = format!("rd-rf3-{}", c.tag);
    create(c, &name)?;
    let p = producer(c, &[])?;
    for i in 0..1000 {
        send(&p, &name, &format!("k{i}"), &format!("v{i}"))?;
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60))?;
    let acked = p.context().acked.lock().map(|a| a.len()).unwrap_or(0);
    let failed = p
        .context()
        .failed
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    ensure!(
        acked == 1000 && failed.is_empty(),
        "{acked} acked, failed: {failed:?}"
    );
    let consumer: BaseConsumer = config(&c.bs, &[("group.id", "unused")]).create()?;
    let mut tpl = TopicPartitionList::new();
    for part in 0..3 {
        tpl.add_partition_offset(&name, part, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < 1000 {
        ensure!(Instant::now() < deadline, "consumed {} of 1000", got.len());
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            let (k, v) = (m.key().unwrap_or_default(), m.payload().unwrap_or_default());
            ensure!(k[1..] == v[1..], "key {k:?} with value {v:?}");
            got.insert(v.to_vec(), (m.partition(), m.offset()));
        }
    }
    ensure!(
        (0..1000).all(|i| got.contains_key(format!("v{i}").as_bytes())),
        "not every record read back"
    );
    Ok("1000 records".into())
}

/// A group consumer commits after every poll round; midway the leader of partition 2 is killed
/// (kill -9) while an idempotent acks=all producer keeps producing. Every acknowledged record is
/// consumed, no committed record is consumed twice, and a restarted member of the group sees
/// nothing already processed.
fn failover_group(c: &mut Ctx) -> Result<String> {
    let name = format!("rd-fo-{}", c.tag);
    create(c, &name)?;
    let result = failover_run(c, &name);
    let restarted = fault(&["restart-all"]);
    let note = result?;
    restarted?;
    Ok(note)
}

fn group_member(c: &Ctx, group: &str, topic: &str) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = config(
        &c.bs,
        &[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

fn failover_run(c: &Ctx, name: &str) -> Result<String> {
    let total = 2000;
    let p = producer(
        c,
        &[
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "60000"),
        ],
    )?;
    let consumer = group_member(c, name, name)?;
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let (mut committed, mut pending) = (HashSet::new(), Vec::new());
    let mut dup_committed = 0;
    let (mut next, mut killed, mut commit_failures) = (0, None, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let acked = p
            .context()
            .acked
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        ensure!(
            Instant::now() < deadline,
            "timed out: {} acked, {} consumed",
            acked.len(),
            seen.len()
        );
        if next < total && (next < total / 2 || killed.is_some()) && p.in_flight_count() < 200 {
            for i in next..next + 100 {
                send(&p, name, &format!("k{}", i % 50), &format!("v{i}"))?;
            }
            next += 100;
        }
        p.poll(Duration::ZERO);
        let round = Instant::now() + Duration::from_millis(200);
        while Instant::now() < round {
            let Some(m) = consumer.poll(Duration::from_millis(20)) else {
                continue;
            };
            let Ok(m) = m else { continue };
            let v = m.payload().unwrap_or_default().to_vec();
            if committed.contains(&v) {
                dup_committed += 1;
            }
            *seen.entry(v.clone()).or_default() += 1;
            pending.push(v);
        }
        if !pending.is_empty() {
            if consumer.commit_consumer_state(CommitMode::Sync).is_ok() {
                committed.extend(pending.drain(..));
            } else {
                commit_failures += 1; // the batch may come again: at-least-once
            }
        }
        if killed.is_none() && seen.len() >= total / 4 {
            killed = Some(fault(&["kill-leader", name, "2"])?);
        }
        if next >= total
            && p.in_flight_count() == 0
            && acked.iter().all(|v| seen.contains_key(v))
            && pending.is_empty()
        {
            break;
        }
    }
    close(consumer);
    let n_acked = p.context().acked.lock().map(|a| a.len()).unwrap_or(0);
    let failed = p
        .context()
        .failed
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    let dups: usize = seen.values().map(|n| n - 1).sum();
    ensure!(
        failed.is_empty(),
        "{} sends failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(2)]
    );
    ensure!(
        dup_committed == 0,
        "{dup_committed} committed records consumed again"
    );
    // A restarted member resumes at the committed offsets: only the new end markers come.
    for part in 0..3 {
        p.send(BaseRecord::<(), _>::to(name).partition(part).payload("end"))
            .map_err(|(e, _)| anyhow::anyhow!("send: {e}"))?;
    }
    p.flush(Duration::from_secs(60))?;
    let consumer = group_member(c, name, name)?;
    let (mut again, mut ends) = (Vec::new(), 0);
    let until = Instant::now() + Duration::from_secs(60);
    while ends < 3 {
        ensure!(Instant::now() < until, "timed out: {ends} of 3 end markers");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            match m.payload() {
                Some(b"end") => ends += 1,
                v => again.push(String::from_utf8_lossy(v.unwrap_or_default()).into_owned()),
            }
        }
    }
    close(consumer);
    if !again.is_empty() {
        bail!(
            "a restarted member re-read {} processed records: {:?}",
            again.len(),
            &again[..again.len().min(3)]
        );
    }
    Ok(format!(
        "node {} killed; {n_acked} acked, all consumed; {dups} duplicates before commit, 0 after; {commit_failures} failed commits",
        killed.unwrap_or_default()
    ))
}

/// CreateTopics RF 3; Metadata (the crate has no DescribeTopics): three replicas and an ISR of
/// three on every partition; DeleteTopics.
fn cluster_admin(c: &mut Ctx) -> Result<String> {
    let name = format!("rd-adm-{}", c.tag);
    create(c, &name)?;
    let probe: BaseConsumer = config(&c.bs, &[]).create()?;
    let mut leaders = Vec::new();
    wait_until(
        "3 replicas and an ISR of 3 on every partition",
        Duration::from_secs(30),
        || {
            let Ok(md) = probe.fetch_metadata(Some(&name), Duration::from_secs(5)) else {
                return false;
            };
            let Some(t) = md.topics().first() else {
                return false;
            };
            leaders = t.partitions().iter().map(|p| p.leader()).collect();
            leaders.sort_unstable();
            t.partitions().len() == 3
                && t.partitions()
                    .iter()
                    .all(|p| p.replicas().len() == 3 && p.isr().len() == 3)
        },
    )?;
    for r in block_on(c.admin.delete_topics(&[&name], &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("deleting {t}: {e}"))?;
    }
    wait_until("the topic to disappear", Duration::from_secs(30), || {
        probe
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|md| md.topics().iter().all(|t| t.name() != name))
            .unwrap_or(false)
    })?;
    Ok(format!("leaders on nodes {leaders:?}"))
}

/// Runs the cluster scenarios; the number of failures.
pub fn run(c: &mut Ctx) -> usize {
    type Scenario = fn(&mut Ctx) -> Result<String>;
    let scenarios: [(&str, Scenario); 3] = [
        ("cluster-produce-consume", produce_consume),
        ("cluster-failover-group", failover_group),
        ("cluster-admin", cluster_admin),
    ];
    let mut failures = 0;
    for (name, f) in scenarios {
        match f(c) {
            Ok(note) => println!("PASS rdkafka {name} ({note})"),
            Err(e) => {
                failures += 1;
                println!("FAIL rdkafka {name} ({e:#})");
            }
        }
    }
    failures
}
