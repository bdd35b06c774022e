//! Consumer-group timings against a running broker (rdkafka clients):
//! 1. time from `subscribe` to the first record for one new consumer on an existing topic,
//!    next to the same for a consumer that `assign`s the partition (no group) — the baseline;
//! 2. time for a group of 3 to settle after one member leaves (until the other two own every
//!    partition), with the classic protocol (client heartbeats every 100 ms) and with KIP-848
//!    (`group.protocol=consumer`: the broker's `group.consumer.heartbeat.interval.ms` paces
//!    it), side by side in the same run.
//!
//! `cargo run --release --example groupbench -- --bootstrap 127.0.0.1:9092`

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Repetitions of the first-record measurement (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Repetitions of the settle measurement, alternating the protocols (medians reported).
    #[arg(long, default_value_t = 5)]
    settle_runs: usize,
}

fn consumer(bs: &str, group: &str) -> Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("heartbeat.interval.ms", "100")
        .create()?)
}

/// A KIP-848 member (the heartbeat interval is the broker's to set).
fn consumer_848(bs: &str, group: &str) -> Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?)
}

fn first_record(c: &BaseConsumer, start: Instant) -> Result<Duration> {
    loop {
        if let Some(m) = c.poll(Duration::from_millis(10)) {
            m?;
            return Ok(start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("no record within 60 s");
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    let a = Args::parse();
    let topic = format!("groupbench-{}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .create()?;
    futures::executor::block_on(admin.create_topics(
        [&NewTopic::new(&topic, 6, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ))?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .create()?;
    for i in 0..600u32 {
        let v = i.to_string();
        producer
            .send(
                BaseRecord::<str, str>::to(&topic)
                    .payload(&v)
                    .partition((i % 6) as i32),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;

    let mut grouped = Vec::new();
    let mut assigned = Vec::new();
    for run in 0..a.runs {
        // Both consumers learn the topic's metadata before the clock starts, so the baseline
        // does not include librdkafka's 500 ms offset-query timer for unknown partitions.
        let c = consumer(&a.bootstrap, &format!("{topic}-g{run}"))?;
        c.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        let start = Instant::now();
        c.subscribe(&[&topic])?;
        grouped.push(first_record(&c, start)?);
        drop(c);
        let c = consumer(&a.bootstrap, "unused")?;
        c.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        let start = Instant::now();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning)?;
        c.assign(&tpl)?;
        assigned.push(first_record(&c, start)?);
    }
    let (g, b) = (median(grouped), median(assigned));
    println!(
        "subscribe to first record (new group, median of {}): {:.1} ms",
        a.runs,
        ms(g)
    );
    println!(
        "assign to first record (no group, baseline):       {:.1} ms  -> group overhead {:.2}x",
        ms(b),
        ms(g) / ms(b)
    );

    let (mut classic, mut modern) = (Vec::new(), Vec::new());
    for run in 0..a.settle_runs.max(1) {
        classic.push(settle_after_leave(&topic, || {
            consumer(&a.bootstrap, &format!("{topic}-trio{run}"))
        })?);
        modern.push(settle_after_leave(&topic, || {
            consumer_848(&a.bootstrap, &format!("{topic}-trio848-{run}"))
        })?);
    }
    let each = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
    };
    println!(
        "group of 3 settles after one member leaves (median of {}): classic {:.1} ms {:?}, KIP-848 {:.1} ms {:?}",
        classic.len(),
        ms(median(classic.clone())),
        each(&classic),
        ms(median(modern.clone())),
        each(&modern)
    );
    Ok(())
}

/// Three members settle; one leaves; the time until the other two own all six partitions.
fn settle_after_leave(topic: &str, make: impl Fn() -> Result<BaseConsumer>) -> Result<Duration> {
    let members: Vec<BaseConsumer> = (0..3).map(|_| make()).collect::<Result<_>>()?;
    for m in &members {
        m.subscribe(&[topic])?;
    }
    let owned = |ms: &[BaseConsumer]| -> Vec<usize> {
        ms.iter()
            .map(|m| m.assignment().map(|t| t.count()).unwrap_or(0))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while owned(&members) != vec![2, 2, 2] {
        for m in &members {
            let _ = m.poll(Duration::from_millis(5));
        }
        if Instant::now() > deadline {
            bail!("the group of three did not settle: {:?}", owned(&members));
        }
    }
    let mut members = members;
    let leaver = members.pop().expect("three members");
    let start = Instant::now();
    leaver.unsubscribe();
    drop(leaver);
    loop {
        for m in &members {
            let _ = m.poll(Duration::from_millis(5));
        }
        let all: BTreeSet<i32> = members
            .iter()
            .flat_map(|m| {
                m.assignment()
                    .map(|t| {
                        t.elements()
                            .iter()
                            .map(|e| e.partition())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect();
        if all.len() == 6 && owned(&members) == vec![3, 3] {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the group did not settle after a leave");
        }
    }
    Ok(start.elapsed())
}
