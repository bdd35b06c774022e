//! A small rdkafka load generator: produces N records of S bytes to a fresh topic, consumes
//! them all back and checks every payload, and reports MB/s for both directions next to a
//! baseline measured in the same run (writing the same bytes to a file in `--baseline-dir`).
//!
//! `cargo run --release --example loadgen -- --bootstrap 127.0.0.1:9092 --records 1000000`

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
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
    #[arg(long, default_value = "1")]
    acks: String,
    #[arg(long, default_value = "none")]
    compression: String,
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

fn main() -> Result<()> {
    let a = Args::parse();
    let topic = format!("loadgen-{}", std::process::id());
    let bytes = a.records as f64 * a.size as f64;

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("acks", &a.acks)
        .set("linger.ms", "5")
        .set("batch.size", "65536")
        .set("compression.codec", &a.compression)
        .set("queue.buffering.max.messages", "500000")
        .create()?;
    let start = Instant::now();
    for i in 0..a.records {
        let key = i.to_be_bytes();
        let value = payload(i, a.size);
        let mut rec = BaseRecord::to(&topic).key(&key[..]).payload(&value[..]);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                        bail!("produce failed: {e}");
                    }
                    rec = r;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300))?;
    let produce_s = start.elapsed().as_secs_f64();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("group.id", "loadgen-unused")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
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
    println!(
        "records: {} x {} B, all {} consumed back and equal",
        a.records,
        a.size,
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
    if let Some(dir) = a.baseline_dir {
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
