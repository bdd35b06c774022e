//! The realistic load generator for `scripts/bench`: the rdkafka crate (librdkafka) with
//! normal client settings — `linger.ms=5`, `batch.size=65536`, idempotence on for `acks=all`.
//!
//! Throughput mode produces N records of S bytes to a fresh topic of P partitions (keyed, so
//! the default partitioner spreads them), consumes them all back from the beginning, checks
//! every payload, and reports MB/s and records/s for both directions.
//!
//! Latency mode (`--latency-rate R --seconds T`) sends R records/s for T seconds to a fresh
//! one-partition topic while a consumer reads them; each payload carries its send time, and
//! the consumer reports end-to-end latency percentiles (produce call → consumer receipt) after
//! a one-second warm-up. Like Kafka's own `EndToEndLatency` tool it sets `linger.ms=0`: with
//! the default 5 ms linger the linger alone would dominate the figure.
//!
//! `--json` prints one JSON object for `scripts/bench`; `--baseline-dir` adds a file-write
//! baseline to the text output.
//!
//! `cargo run --release --example loadgen -- --bootstrap 127.0.0.1:9092 --records 1000000`

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// `1` or `all` (`all` also turns idempotence on, as a careful producer would).
    #[arg(long, default_value = "1")]
    acks: String,
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    #[arg(long, default_value = "none")]
    compression: String,
    /// Latency mode: records per second to send.
    #[arg(long)]
    latency_rate: Option<u64>,
    /// Latency mode: seconds to send for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// A directory for the file-write baseline (ideally on the broker's disk).
    #[arg(long)]
    baseline_dir: Option<std::path::PathBuf>,
}

fn payload(i: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    let tag = format!("record-{i:012}-");
    while v.len() < size {
        v.extend_from_slice(tag.as_bytes());
    }
    v.truncate(size);
    v
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let res = futures::executor::block_on(admin.create_topics([&t], &AdminOptions::new()))?;
    for r in res {
        if let Err((name, code)) = r {
            bail!("creating {name}: {code}");
        }
    }
    Ok(())
}

fn producer(a: &Args, linger_ms: &str) -> Result<ThreadedProducer<DefaultProducerContext>> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &a.bootstrap)
        .set("acks", &a.acks)
        .set("linger.ms", linger_ms)
        .set("batch.size", "65536")
        .set("compression.codec", &a.compression)
        .set("queue.buffering.max.messages", "500000");
    if a.acks == "all" || a.acks == "-1" {
        cfg.set("enable.idempotence", "true");
    }
    Ok(cfg.create()?)
}

fn consumer(a: &Args, topic: &str, partitions: i32) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("group.id", "loadgen-unused")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Sends one record, waiting for room in the client's queue when it is full.
fn send(
    p: &ThreadedProducer<DefaultProducerContext>,
    mut rec: BaseRecord<[u8], [u8]>,
) -> Result<()> {
    loop {
        match p.send(rec) {
            Ok(()) => return Ok(()),
            Err((e, r)) => {
                if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                    bail!("produce failed: {e}");
                }
                rec = r;
                p.poll(Duration::from_millis(5));
            }
        }
    }
}

fn throughput(a: &Args, topic: &str) -> Result<()> {
    create_topic(&a.bootstrap, topic, a.partitions)?;
    let bytes = a.records as f64 * a.size as f64;
    let producer = producer(a, "5")?;
    let start = Instant::now();
    for i in 0..a.records {
        let key = i.to_be_bytes();
        let value = payload(i, a.size);
        send(
            &producer,
            BaseRecord::to(topic).key(&key[..]).payload(&value[..]),
        )?;
    }
    producer.flush(Duration::from_secs(300))?;
    let produce_s = start.elapsed().as_secs_f64();

    let consumer = consumer(a, topic, a.partitions)?;
    let mut seen = HashSet::with_capacity(a.records as usize);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    while (seen.len() as u64) < a.records {
        if Instant::now() > deadline {
            bail!("consumed only {} of {} records", seen.len(), a.records);
        }
        let Some(m) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.context("consume")?;
        let key = m.key().context("key")?;
        let i = u64::from_be_bytes(key.try_into().context("8-byte key")?);
        if m.payload() != Some(&payload(i, a.size)[..]) {
            bail!("record {i} at offset {} came back different", m.offset());
        }
        if !seen.insert(i) {
            bail!("record {i} consumed twice");
        }
    }
    let consume_s = start.elapsed().as_secs_f64();

    let mb = bytes / 1e6;
    if a.json {
        println!(
            "{{\"records\":{},\"bytes\":{bytes},\"produce_s\":{produce_s},\"consume_s\":{consume_s}}}",
            a.records
        );
        return Ok(());
    }
    println!(
        "records: {} x {} B over {} partition(s), acks={}, all {} consumed back and equal",
        a.records,
        a.size,
        a.partitions,
        a.acks,
        seen.len()
    );
    println!(
        "produce: {:.1} MB/s ({:.0} records/s)",
        mb / produce_s,
        a.records as f64 / produce_s
    );
    println!(
        "consume: {:.1} MB/s ({:.0} records/s)",
        mb / consume_s,
        a.records as f64 / consume_s
    );
    if let Some(dir) = &a.baseline_dir {
        let path = dir.join(format!("baseline-{}", std::process::id()));
        let chunk = vec![7u8; 64 * 1024];
        let start = Instant::now();
        let mut f = std::fs::File::create(&path)?;
        let mut written = 0f64;
        while written < bytes {
            f.write_all(&chunk)?;
            written += chunk.len() as f64;
        }
        drop(f);
        let base_s = start.elapsed().as_secs_f64();
        std::fs::remove_file(&path)?;
        println!(
            "baseline file write: {:.1} MB/s; produce = {:.2}x, consume = {:.2}x of it",
            mb / base_s,
            base_s / produce_s,
            base_s / consume_s
        );
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

fn latency(a: &Args, topic: &str, rate: u64) -> Result<()> {
    ensure!(
        rate > 0 && a.size >= 16,
        "need a positive rate and records of 16 B or more"
    );
    create_topic(&a.bootstrap, topic, 1)?;
    let total = rate * a.seconds;
    let warmup = rate; // the first second's records are not counted
    let base = Instant::now();
    let consumer = consumer(a, topic, 1)?;
    let reader = std::thread::spawn(move || -> Result<Vec<u64>> {
        let mut lat = Vec::with_capacity(total as usize);
        // The sending time plus a generous margin.
        let deadline = Instant::now() + Duration::from_secs(total / rate + 60);
        let mut next = 0u64;
        while next < total {
            ensure!(
                Instant::now() < deadline,
                "received only {next} of {total} records"
            );
            let Some(m) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let m = m.context("consume")?;
            let now = base.elapsed().as_nanos() as u64;
            let p = m.payload().context("payload")?;
            let seq = u64::from_be_bytes(p[0..8].try_into()?);
            let sent = u64::from_be_bytes(p[8..16].try_into()?);
            ensure!(seq == next, "expected record {next}, got {seq}");
            next += 1;
            if seq >= warmup {
                lat.push(now.saturating_sub(sent));
            }
        }
        Ok(lat)
    });
    let producer = producer(a, "0")?;
    let period = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut value = vec![b'x'; a.size];
    for i in 0..total {
        let due = start + period * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        value[0..8].copy_from_slice(&i.to_be_bytes());
        value[8..16].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
        send(
            &producer,
            BaseRecord::<[u8], [u8]>::to(topic).payload(&value[..]),
        )?;
    }
    producer.flush(Duration::from_secs(60))?;
    let mut lat = reader
        .join()
        .map_err(|_| anyhow::anyhow!("consumer thread panicked"))??;
    lat.sort_unstable();
    let (p50, p99, p999, max) = (
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        percentile(&lat, 1.0),
    );
    if a.json {
        println!(
            "{{\"samples\":{},\"p50_ms\":{p50},\"p99_ms\":{p99},\"p999_ms\":{p999},\"max_ms\":{max}}}",
            lat.len()
        );
    } else {
        println!(
            "end-to-end latency at {rate} records/s, {} samples: p50 {p50:.3} ms, p99 {p99:.3} ms, p99.9 {p999:.3} ms, max {max:.3} ms",
            lat.len()
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let a = Args::parse();
    let topic = format!("loadgen-{}", std::process::id());
    match a.latency_rate {
        Some(rate) => latency(&a, &topic, rate),
        None => throughput(&a, &topic),
    }
}
