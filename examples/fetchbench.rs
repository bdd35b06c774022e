//! Fetch sessions (KIP-227) against none, with many partitions: request and response bytes,
//! round-trip time and the broker's CPU time per fetch, for a consumer that follows every
//! partition of one topic at its log end.
//!
//! Two workloads, each with and without a session, in the same run against the same broker:
//! - *idle*: nothing is written; every fetch returns no records (`min_bytes` 0, no wait), the
//!   steady state of a consumer caught up on many quiet partitions;
//! - *trickle*: one record is produced to the next partition (round-robin) before each fetch,
//!   so every fetch returns one partition's record and the next request moves that
//!   partition's fetch offset.
//!
//! Without a session every request lists all partitions (`session_id` 0, epoch −1, as a
//! client without KIP-227 sends); with one, a full request opens it and each later request
//! carries only the partitions whose fetch offset moved, and the answer only the partitions
//! that changed. The broker's CPU is read from `/proc/<pid>/stat` (user + system time of all
//! its threads) around each workload, so run it against a broker of its own.
//!
//! `cargo run --release --example fetchbench -- --bootstrap 127.0.0.1:9092 --broker-pid PID`

use std::io::Write;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use gregor::peer::frame;
use gregor::tools::client::Client;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Partitions of the topic the consumer follows.
    #[arg(long, default_value_t = 1000)]
    partitions: i32,
    /// Fetches per workload.
    #[arg(long, default_value_t = 1000)]
    rounds: usize,
    /// The broker's process id, for its CPU time (`/proc/<pid>/stat`); without it, no CPU figure.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

/// Fetch v12: the newest version that names topics (v13+ name them by id; sessions work alike).
const FETCH_VERSION: i16 = 12;

/// What one workload measured, per fetch.
struct Figures {
    request_bytes: f64,
    response_bytes: f64,
    round_trip_us: f64,
    broker_cpu_us: Option<f64>,
}

/// The consumer's view: the fetch offset of each partition and the session it holds.
struct Follower {
    topic: TopicName,
    offsets: Vec<i64>,
    /// Partitions whose fetch offset moved since the last request (sent in the next one).
    moved: Vec<i32>,
    session: Option<(i32, i32)>,
}

impl Follower {
    fn request(&mut self, use_session: bool) -> FetchRequest {
        let partitions: Vec<i32> = match (use_session, self.session) {
            (true, Some(_)) => std::mem::take(&mut self.moved),
            _ => {
                self.moved.clear();
                (0..self.offsets.len() as i32).collect()
            }
        };
        let (id, epoch) = match (use_session, self.session) {
            (false, _) => (0, -1),
            (true, None) => (0, 0),
            (true, Some((id, epoch))) => (id, epoch),
        };
        let topics = if partitions.is_empty() {
            vec![]
        } else {
            vec![FetchTopic::default()
                .with_topic(self.topic.clone())
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(self.offsets[p as usize])
                                .with_partition_max_bytes(1 << 20)
                        })
                        .collect(),
                )]
        };
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(50 << 20)
            .with_session_id(id)
            .with_session_epoch(epoch)
            .with_topics(topics)
    }

    /// Moves the fetch offset of every partition that returned records; returns how many records came.
    fn absorb(&mut self, r: &FetchResponse, use_session: bool) -> Result<usize> {
        ensure!(r.error_code == 0, "fetch error {}", r.error_code);
        if use_session {
            let epoch = self.session.map_or(1, |(_, e)| e + 1);
            ensure!(r.session_id != 0, "the broker opened no session");
            self.session = Some((r.session_id, epoch));
        }
        let mut records = 0;
        for p in r.responses.iter().flat_map(|t| t.partitions.iter()) {
            ensure!(
                p.error_code == 0,
                "partition {}: error {}",
                p.partition_index,
                p.error_code
            );
            let has_data = p.records.as_ref().is_some_and(|b| !b.is_empty());
            let offset = &mut self.offsets[p.partition_index as usize];
            if has_data && p.high_watermark > *offset {
                records += (p.high_watermark - *offset) as usize;
                *offset = p.high_watermark;
                self.moved.push(p.partition_index);
            }
        }
        Ok(records)
    }
}

fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at ") ": utime is the 14th
    // field of the line, stime the 15th.
    let rest = stat.rsplit_once(") ").context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

fn produce(c: &mut Client, topic: &TopicName, partition: i32, value: &[u8]) -> Result<()> {
    let batch = gregor::log::records::encode_batch(
        &[(None, Some(bytes::Bytes::copy_from_slice(value)))],
        None,
        0,
    )
    .map_err(|e| anyhow::anyhow!("encode: {e:?}"))?;
    let r = c
        .call(
            &ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic.clone())
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch))])]),
            9,
        )
        .map_err(anyhow::Error::msg)?;
    let code = r.responses[0].partition_responses[0].error_code;
    ensure!(code == 0, "produce to {partition}: error {code}");
    Ok(())
}

fn run(
    a: &Args,
    c: &mut Client,
    producer: &mut Client,
    f: &mut Follower,
    use_session: bool,
    trickle: bool,
) -> Result<Figures> {
    f.session = None;
    // A session (when used) is opened by a first full fetch, outside the measurement.
    if use_session {
        let req = f.request(true);
        let r = c.call(&req, FETCH_VERSION).map_err(anyhow::Error::msg)?;
        f.absorb(&r, true)?;
    }
    let (mut req_bytes, mut resp_bytes, mut records) = (0usize, 0usize, 0usize);
    let mut elapsed = std::time::Duration::ZERO;
    let cpu0 = a.broker_pid.map(cpu_ticks).transpose()?;
    for round in 0..a.rounds {
        if trickle {
            let p = (round as i32) % a.partitions;
            produce(producer, &f.topic, p, format!("r{round}").as_bytes())?;
        }
        let frame = c
            .frame(&f.request(use_session), FETCH_VERSION)
            .map_err(anyhow::Error::msg)?;
        req_bytes += frame.len();
        let t = Instant::now();
        c.stream.write_all(&frame)?;
        let body = c.read_frame().context("connection closed")?;
        elapsed += t.elapsed();
        resp_bytes += body.len() + 4;
        let (_, body) = frame::response_body(FetchRequest::KEY, FETCH_VERSION, body)
            .map_err(anyhow::Error::msg)?;
        let r =
            frame::decode_body::<FetchRequest>(body, FETCH_VERSION).map_err(anyhow::Error::msg)?;
        records += f.absorb(&r, use_session)?;
    }
    let cpu1 = a.broker_pid.map(cpu_ticks).transpose()?;
    if trickle {
        ensure!(
            records == a.rounds,
            "{records} records fetched, {} produced",
            a.rounds
        );
    } else {
        ensure!(
            records == 0,
            "{records} records fetched from quiet partitions"
        );
    }
    let n = a.rounds as f64;
    Ok(Figures {
        request_bytes: req_bytes as f64 / n,
        response_bytes: resp_bytes as f64 / n,
        round_trip_us: elapsed.as_secs_f64() * 1e6 / n,
        broker_cpu_us: cpu0
            .zip(cpu1)
            .map(|(x, y)| (y - x) as f64 * 1e6 / a.clk_tck as f64 / n),
    })
}

fn main() -> Result<()> {
    let a = Args::parse();
    let mut c = Client::connect(&a.bootstrap).map_err(anyhow::Error::msg)?;
    let mut producer = Client::connect(&a.bootstrap).map_err(anyhow::Error::msg)?;
    let topic = TopicName(StrBytes::from_string(format!(
        "fetchbench-{}",
        std::process::id()
    )));
    let created = c
        .call(
            &CreateTopicsRequest::default()
                .with_timeout_ms(60_000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(topic.clone())
                    .with_num_partitions(a.partitions)
                    .with_replication_factor(1)]),
            7,
        )
        .map_err(anyhow::Error::msg)?;
    ensure!(
        created.topics[0].error_code == 0,
        "create topic: error {}",
        created.topics[0].error_code
    );
    let mut f = Follower {
        topic,
        offsets: vec![0; a.partitions as usize],
        moved: vec![],
        session: None,
    };
    println!(
        "fetchbench: {} partitions, {} fetches per workload, Fetch v{FETCH_VERSION}",
        a.partitions, a.rounds
    );
    println!("| workload | session | request B | response B | round trip µs | broker CPU µs |");
    println!("|---|---|---|---|---|---|");
    for trickle in [false, true] {
        for use_session in [false, true] {
            let fig = run(&a, &mut c, &mut producer, &mut f, use_session, trickle)?;
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} |",
                if trickle { "trickle" } else { "idle" },
                if use_session {
                    "yes (incremental)"
                } else {
                    "no (full)"
                },
                fig.request_bytes,
                fig.response_bytes,
                fig.round_trip_us,
                fig.broker_cpu_us.map_or("-".into(), |u| format!("{u:.0}")),
            );
        }
    }
    Ok(())
}
