//! Transaction throughput and commit latency against a running broker (rdkafka clients), next
//! to a same-run baseline:
//! 1. the baseline: N × 1 KiB records through an idempotent producer (acks=all);
//! 2. the same N records through a transactional producer, in transactions of 100 and of
//!    1,000 records (begin, send, commit) — reported as ratios to the baseline;
//! 3. commit latency: `commit_transaction` of a one-record transaction whose record was
//!    already delivered, so the time is EndTxn until the markers are written; p50/p99.
//!
//! `cargo run --release --example txnbench -- --bootstrap 127.0.0.1:9092`

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use clap::Parser;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Records per throughput run.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Commits timed for the latency figure.
    #[arg(long, default_value_t = 300)]
    commits: usize,
}

const T: Duration = Duration::from_secs(60);

fn producer(bs: &str, extra: &[(&str, &str)]) -> Result<BaseProducer> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bs).set("linger.ms", "0");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    Ok(c.create()?)
}

fn send_all(p: &BaseProducer, topic: &str, n: usize, payload: &[u8]) -> Result<()> {
    for _ in 0..n {
        let mut rec = BaseRecord::<(), [u8]>::to(topic)
            .partition(0)
            .payload(payload);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((e, back)) => {
                    ensure!(
                        matches!(
                            e,
                            rdkafka::error::KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull
                            )
                        ),
                        "send failed: {e}"
                    );
                    rec = back;
                    p.poll(Duration::from_millis(1));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    Ok(())
}

/// Serves delivery reports until every record sent is acknowledged. (The rdkafka crate's own
/// `flush`, which `commit_transaction` calls first, polls in steps of up to 100 ms, which
/// would add up to 100 ms per transaction that neither librdkafka nor the broker spends;
/// confluent-kafka's commit of the same transaction takes about a millisecond.)
fn drain(p: &BaseProducer) -> Result<()> {
    let deadline = Instant::now() + T;
    while p.in_flight_count() > 0 {
        ensure!(
            Instant::now() < deadline,
            "records not acknowledged within {T:?}"
        );
        p.poll(Duration::from_millis(1));
    }
    Ok(())
}

/// Records per second through an idempotent producer.
fn idempotent(bs: &str, topic: &str, n: usize, payload: &[u8]) -> Result<f64> {
    let p = producer(bs, &[("enable.idempotence", "true"), ("acks", "all")])?;
    // Warm up as the transactional producers are by init_transactions: metadata, producer id.
    send_all(&p, topic, 1, payload)?;
    drain(&p)?;
    let start = Instant::now();
    send_all(&p, topic, n, payload)?;
    drain(&p)?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Records per second through transactions of `per_txn` records.
fn transactional(bs: &str, topic: &str, n: usize, per_txn: usize, payload: &[u8]) -> Result<f64> {
    let p = producer(
        bs,
        &[("transactional.id", &format!("txnbench-{topic}-{per_txn}"))],
    )?;
    p.init_transactions(T)?;
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(per_txn);
        p.begin_transaction()?;
        send_all(&p, topic, k, payload)?;
        drain(&p)?;
        p.commit_transaction(T)?;
        left -= k;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    let a = Args::parse();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .create()?;
    let tag = std::process::id();
    let topics: Vec<String> = ["idem", "txn100", "txn1000", "commit"]
        .iter()
        .map(|t| format!("txnbench-{t}-{tag}"))
        .collect();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)))
        .collect();
    for r in futures::executor::block_on(admin.create_topics(&new, &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    let payload = vec![b'x'; 1024];
    let base = idempotent(&a.bootstrap, &topics[0], a.records, &payload)?;
    let t100 = transactional(&a.bootstrap, &topics[1], a.records, 100, &payload)?;
    let t1000 = transactional(&a.bootstrap, &topics[2], a.records, 1000, &payload)?;

    let p = producer(
        &a.bootstrap,
        &[("transactional.id", &topics[3]), ("linger.ms", "0")],
    )?;
    p.init_transactions(T)?;
    let mut latencies = Vec::with_capacity(a.commits);
    for _ in 0..a.commits {
        p.begin_transaction()?;
        send_all(&p, &topics[3], 1, &payload)?;
        drain(&p)?;
        let start = Instant::now();
        p.commit_transaction(T)?;
        latencies.push(start.elapsed());
    }
    latencies.sort();
    println!("records of 1 KiB per run: {}", a.records);
    println!("idempotent producer (baseline): {base:.0} records/s");
    println!(
        "transactions of 100:   {t100:.0} records/s = {:.2}x the baseline",
        t100 / base
    );
    println!(
        "transactions of 1,000: {t1000:.0} records/s = {:.2}x the baseline",
        t1000 / base
    );
    println!(
        "commit latency (EndTxn to markers written, {} commits): p50 {:.2} ms, p99 {:.2} ms",
        a.commits,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    Ok(())
}
