//! The rdkafka crate against a broker: every scenario of compat/SCENARIOS, printed as
//! PASS/FAIL lines like the other clients. (The crate is also what `tests/` drive.)
//!
//! `cargo run --example compat-rdkafka -- HOST:PORT`; with `HOST:PORT,... --cluster` the
//! cluster tier's scenarios instead (cluster.rs).

mod alter;
mod cluster;
mod rotation;
mod secured;
mod txn;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use futures::executor::block_on;
use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

type Rec = (Vec<u8>, Vec<u8>, String);

struct Ctx {
    bs: String,
    tag: String,
    topic: String,
    admin: AdminClient<DefaultClientContext>,
    sent: BTreeMap<(i32, i64), Rec>,
}

fn config(bs: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bs);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !f() {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

impl Ctx {
    fn create(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            t = t.set(k, v);
        }
        for r in block_on(self.admin.create_topics([&t], &AdminOptions::new()))? {
            r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
        }
        Ok(())
    }

    fn produce(
        &mut self,
        topic: &str,
        prefix: &str,
        n: usize,
        extra: &[(&str, &str)],
    ) -> Result<BTreeMap<(i32, i64), Rec>> {
        let p: FutureProducer =
            config(&self.bs, &[&[("linger.ms", "5")], extra].concat()).create()?;
        let recs: Vec<Rec> = (0..n)
            .map(|i| {
                (
                    format!("{prefix}-k{i}").into_bytes(),
                    format!("{prefix}-v{i}").repeat(3).into_bytes(),
                    i.to_string(),
                )
            })
            .collect();
        let futures: Vec<_> = recs
            .iter()
            .map(|(k, v, h)| {
                let headers = OwnedHeaders::new().insert(Header {
                    key: "i",
                    value: Some(h.as_bytes()),
                });
                p.send_result(FutureRecord::to(topic).key(k).payload(v).headers(headers))
                    .map_err(|(e, _)| e)
            })
            .collect::<Result<_, _>>()?;
        let mut acked = BTreeMap::new();
        for (r, d) in recs.into_iter().zip(block_on(join_all(futures))) {
            let d = d.context("cancelled")?.map_err(|(e, _)| e)?;
            acked.insert((d.partition, d.offset), r);
        }
        Ok(acked)
    }

    fn consume(&self, topic: &str, partitions: i32, n: usize) -> Result<BTreeMap<(i32, i64), Rec>> {
        let c: BaseConsumer = config(
            &self.bs,
            &[("group.id", "unused"), ("enable.auto.commit", "false")],
        )
        .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        c.assign(&tpl)?;
        let mut got = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while got.len() < n {
            ensure!(Instant::now() < deadline, "consumed {} of {n}", got.len());
            if let Some(m) = c.poll(Duration::from_millis(100)) {
                let m = m?;
                let h = m.headers().and_then(|h| {
                    h.iter()
                        .find(|x| x.key == "i")
                        .and_then(|x| x.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                });
                got.insert(
                    (m.partition(), m.offset()),
                    (
                        m.key().unwrap_or_default().to_vec(),
                        m.payload().unwrap_or_default().to_vec(),
                        h.unwrap_or_default(),
                    ),
                );
            }
        }
        Ok(got)
    }
}

fn metadata(c: &mut Ctx) -> Result<()> {
    let probe: BaseConsumer = config(&c.bs, &[]).create()?;
    let md = probe.fetch_metadata(None, Duration::from_secs(10))?;
    ensure!(md.brokers().len() == 1, "one broker");
    c.create(&c.topic.clone(), 3, &[])?;
    let md = probe.fetch_metadata(Some(&c.topic), Duration::from_secs(10))?;
    ensure!(md.topics()[0].partitions().len() == 3, "three partitions");
    Ok(())
}

fn admin_create_delete(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-tmp-{}", c.tag);
    c.create(&name, 2, &[("retention.ms", "3600000")])?;
    for r in block_on(c.admin.delete_topics(&[&name], &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("deleting {t}: {e}"))?;
    }
    let probe: BaseConsumer = config(&c.bs, &[("allow.auto.create.topics", "false")]).create()?;
    wait_until("the topic to disappear", Duration::from_secs(30), || {
        probe
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|m| m.topics().iter().all(|t| t.name() != name))
            .unwrap_or(false)
    })
}

fn produce_keyed(c: &mut Ctx) -> Result<()> {
    let t = c.topic.clone();
    let acked = c.produce(&t, "plain", 1000, &[])?;
    ensure!(acked.len() == 1000, "1000 distinct offsets");
    c.sent.extend(acked);
    Ok(())
}

fn compression(codec: &'static str) -> impl Fn(&mut Ctx) -> Result<()> {
    move |c| {
        let t = c.topic.clone();
        let acked = c.produce(&t, codec, 300, &[("compression.codec", codec)])?;
        ensure!(acked.len() == 300);
        c.sent.extend(acked);
        Ok(())
    }
}

fn consume_compare(c: &mut Ctx) -> Result<()> {
    let got = c.consume(&c.topic, 3, c.sent.len())?;
    ensure!(
        got == c.sent,
        "{} consumed, {} produced, not equal",
        got.len(),
        c.sent.len()
    );
    Ok(())
}

fn list_offsets(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-times-{}", c.tag);
    c.create(&name, 1, &[])?;
    let p: FutureProducer = config(&c.bs, &[]).create()?;
    let t0 = now_ms() - 100_000;
    for i in 0..20i64 {
        block_on(
            p.send_result(
                FutureRecord::<str, str>::to(&name)
                    .payload("x")
                    .partition(0)
                    .timestamp(t0 + i * 1000),
            )
            .map_err(|(e, _)| e)?,
        )
        .context("cancelled")?
        .map_err(|(e, _)| e)?;
    }
    let consumer: BaseConsumer = config(&c.bs, &[]).create()?;
    ensure!(
        consumer.fetch_watermarks(&name, 0, Duration::from_secs(10))? == (0, 20),
        "watermarks"
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&name, 0, Offset::Offset(t0 + 5500))?;
    let found = consumer.offsets_for_times(tpl, Duration::from_secs(10))?;
    ensure!(
        found.elements()[0].offset() == Offset::Offset(6),
        "by timestamp: {:?}",
        found.elements()[0].offset()
    );
    Ok(())
}

fn group_consumer(c: &Ctx, group: &str) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = config(
        &c.bs,
        &[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()?;
    consumer.subscribe(&[&c.topic])?;
    Ok(consumer)
}

fn close(consumer: BaseConsumer) {
    // Unsubscribe first: dropping a consumer that holds partitions polls (and loses) records.
    consumer.unsubscribe();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && consumer
            .assignment()
            .map(|a| a.count() > 0)
            .unwrap_or(false)
    {
        let _ = consumer.poll(Duration::from_millis(50));
    }
}

fn group_commit_resume(c: &mut Ctx) -> Result<()> {
    let group = format!("rd-group-{}", c.tag);
    let consumer = group_consumer(c, &group)?;
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while n < c.sent.len() {
        ensure!(
            Instant::now() < deadline,
            "group consumed {n} of {}",
            c.sent.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m?;
            n += 1;
        }
    }
    consumer.commit_consumer_state(CommitMode::Sync)?;
    close(consumer);
    let t = c.topic.clone();
    c.produce(&t, "late", 1, &[])?;
    let consumer = group_consumer(c, &group)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        ensure!(Instant::now() < deadline, "nothing after the restart");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            ensure!(
                m.payload() == Some(&b"late-v0late-v0late-v0"[..]),
                "resumed at a record consumed before"
            );
            break;
        }
    }
    close(consumer);
    Ok(())
}

fn group_split(c: &mut Ctx) -> Result<()> {
    let group = format!("rd-split-{}", c.tag);
    let (a, b) = (group_consumer(c, &group)?, group_consumer(c, &group)?);
    let parts = |x: &BaseConsumer| -> BTreeSet<i32> {
        x.assignment()
            .map(|t| t.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    };
    wait_until(
        "two members to split three partitions",
        Duration::from_secs(60),
        || {
            let _ = a.poll(Duration::from_millis(20));
            let _ = b.poll(Duration::from_millis(20));
            let (pa, pb) = (parts(&a), parts(&b));
            !pa.is_empty() && !pb.is_empty() && pa.is_disjoint(&pb) && pa.union(&pb).count() == 3
        },
    )?;
    close(a);
    close(b);
    Ok(())
}

/// KIP-848 (`group.protocol=consumer`): three members split six partitions, one leaves, the
/// other two take its partitions; every record exactly once.
fn group_consumer_protocol(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-kip848-{}", c.tag);
    c.create(&name, 6, &[])?;
    c.produce(&name, "kip848a", 600, &[])?;
    let group = format!("rd-kip848-{}", c.tag);
    let conf = [
        ("group.id", group.as_str()),
        ("group.protocol", "consumer"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ];
    let mut cs: Vec<BaseConsumer> = Vec::new();
    for _ in 0..3 {
        let consumer: BaseConsumer = config(&c.bs, &conf).create()?;
        consumer.subscribe(&[&name])?;
        cs.push(consumer);
    }
    let mut seen: BTreeMap<(i32, i64), Vec<u8>> = BTreeMap::new();
    let mut twice = None;
    let mut polled = |cs: &[BaseConsumer], each: usize, total: usize| {
        let mut union = BTreeSet::new();
        let mut sized = true;
        for x in cs {
            if let Some(Ok(m)) = x.poll(Duration::from_millis(20)) {
                let at = (m.partition(), m.offset());
                if seen
                    .insert(at, m.payload().unwrap_or_default().to_vec())
                    .is_some()
                {
                    twice = Some(at);
                }
                // Each record committed as consumed: a partition that moves while the
                // members join resumes after it, so nothing is consumed twice (without
                // commits, Kafka too would serve the moved partition from the start).
                let _ = x.commit_message(&m, rdkafka::consumer::CommitMode::Sync);
            }
            let parts: Vec<i32> = x
                .assignment()
                .map(|t| t.elements().iter().map(|e| e.partition()).collect())
                .unwrap_or_default();
            sized &= parts.len() == each;
            union.extend(parts);
        }
        sized && union.len() == each * cs.len() && seen.len() >= total
    };
    wait_until(
        "three members with two partitions each",
        Duration::from_secs(60),
        || polled(&cs, 2, 600),
    )?;
    if let Some(x) = cs.pop() {
        close(x);
    }
    c.produce(&name, "kip848b", 300, &[])?;
    wait_until(
        "two members with three partitions each",
        Duration::from_secs(60),
        || polled(&cs, 3, 900),
    )?;
    for x in cs {
        close(x);
    }
    ensure!(twice.is_none(), "offset {twice:?} consumed twice");
    ensure!(seen.len() == 900, "{} of 900 records", seen.len());
    Ok(())
}

fn idempotent(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-idem-{}", c.tag);
    c.create(&name, 2, &[])?;
    let acked = c.produce(
        &name,
        "idem",
        2000,
        &[("enable.idempotence", "true"), ("acks", "all")],
    )?;
    ensure!(acked.len() == 2000);
    let got = c.consume(&name, 2, 2000)?;
    ensure!(got == acked, "idempotent records differ");
    Ok(())
}

fn too_large(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-big-{}", c.tag);
    c.create(&name, 1, &[])?;
    let p: FutureProducer = config(&c.bs, &[("message.max.bytes", "2000000")]).create()?;
    let big = vec![b'x'; 1100 * 1024];
    let refused = block_on(
        p.send_result(FutureRecord::<str, [u8]>::to(&name).payload(&big))
            .map_err(|(e, _)| e)?,
    )
    .context("cancelled")?;
    match refused {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => bail!(
            "expected MessageSizeTooLarge, got {:?}",
            other.map(|d| d.offset)
        ),
    }
    let ok = vec![b'y'; 900 * 1024];
    let d = block_on(
        p.send_result(FutureRecord::<str, [u8]>::to(&name).payload(&ok))
            .map_err(|(e, _)| e)?,
    )
    .context("cancelled")?
    .map_err(|(e, _)| e)?;
    ensure!(d.offset == 0, "900 KiB accepted");
    Ok(())
}

fn describe_configs(c: &mut Ctx) -> Result<()> {
    let res = block_on(
        c.admin
            .describe_configs([&ResourceSpecifier::Topic(&c.topic)], &AdminOptions::new()),
    )?;
    let r = res
        .into_iter()
        .next()
        .context("one result")?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(
        r.get("max.message.bytes").and_then(|e| e.value.as_deref()) == Some("1048588"),
        "max.message.bytes"
    );
    ensure!(
        r.get("retention.ms").is_some_and(|e| e.is_default),
        "retention.ms is a default"
    );
    Ok(())
}

fn delete_records(c: &mut Ctx) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&c.topic, 0, Offset::Offset(5))?;
    block_on(c.admin.delete_records(&tpl, &AdminOptions::new()))?;
    let consumer: BaseConsumer = config(&c.bs, &[]).create()?;
    let (low, _) = consumer.fetch_watermarks(&c.topic, 0, Duration::from_secs(10))?;
    ensure!(low == 5, "log start {low}");
    Ok(())
}

type Scenario = Box<dyn Fn(&mut Ctx) -> Result<()>>;

fn main() -> Result<()> {
    let bs = std::env::args()
        .nth(1)
        .context("usage: compat-rdkafka HOST:PORT")?;
    let tag = format!("{:x}", now_ms() % 0xffffff);
    let admin = config(&bs, &[]).create()?;
    let mut c = Ctx {
        topic: format!("rd-{tag}"),
        bs,
        tag,
        admin,
        sent: BTreeMap::new(),
    };
    if std::env::args().nth(2).as_deref() == Some("--cluster") {
        let failures = cluster::run(&mut c);
        std::process::exit(i32::from(failures > 0));
    }
    let scenarios: Vec<(&str, Scenario)> = vec![
        ("metadata", Box::new(metadata)),
        ("admin-create-delete-topic", Box::new(admin_create_delete)),
        ("produce-keyed-headers", Box::new(produce_keyed)),
        ("compression-gzip", Box::new(compression("gzip"))),
        ("compression-snappy", Box::new(compression("snappy"))),
        ("compression-lz4", Box::new(compression("lz4"))),
        ("compression-zstd", Box::new(compression("zstd"))),
        ("consume-compare", Box::new(consume_compare)),
        ("fetch-rotation", Box::new(rotation::fetch_rotation)),
        ("list-offsets", Box::new(list_offsets)),
        ("group-commit-resume", Box::new(group_commit_resume)),
        ("group-split", Box::new(group_split)),
        ("group-consumer-protocol", Box::new(group_consumer_protocol)),
        ("idempotent-producer", Box::new(idempotent)),
        ("message-too-large", Box::new(too_large)),
        ("describe-configs", Box::new(describe_configs)),
        ("delete-records", Box::new(delete_records)),
        ("txn-commit-abort", Box::new(txn::commit_abort)),
        ("txn-fencing", Box::new(txn::fencing)),
        ("txn-offsets", Box::new(txn::offsets)),
        ("alter-config", Box::new(alter::alter_config)),
        ("alter-broker-config", Box::new(alter::alter_broker_config)),
    ];
    // $COMPAT_SCENARIOS: when set, only the scenarios it names run.
    let only = std::env::var("COMPAT_SCENARIOS").unwrap_or_default();
    let wanted = |name: &str| only.trim().is_empty() || only.split_whitespace().any(|s| s == name);
    let mut failures = 0;
    for (name, f) in scenarios {
        if !wanted(name) {
            continue;
        }
        match f(&mut c) {
            Ok(()) => println!("PASS rdkafka {name}"),
            Err(e) => {
                failures += 1;
                println!("FAIL rdkafka {name} ({e:#})");
            }
        }
    }
    for (name, reason) in [
        (
            "groupless-subscribe",
            "subscribe() needs a group.id in librdkafka",
        ),
        (
            "describe-log-dirs",
            "the rdkafka crate has no DescribeLogDirs API",
        ),
        ("elect-leaders", "the rdkafka crate has no ElectLeaders API"),
        (
            "list-reassignments",
            "the rdkafka crate has no partition reassignment API",
        ),
        (
            "describe-quorum",
            "the rdkafka crate has no DescribeQuorum API",
        ),
    ] {
        if wanted(name) {
            println!("SKIP rdkafka {name} ({reason})");
        }
    }
    failures += secured::run(&c.tag, wanted);
    std::process::exit(i32::from(failures > 0));
}
