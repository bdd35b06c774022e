//! The client side of `scripts/bench-replication`'s failover and catch-up figures, speaking
//! the protocol with the project's own codec so that what is timed is the cluster, not a
//! client library's retry policy.
//!
//! `probe`: produces one small batch after another (acks=all) to one partition's leader,
//! refreshing the leader from Metadata (any bootstrap node that answers) after every failure,
//! 10 ms apart. It prints one JSON line on stdout for the first success, for every success
//! after a failure or on another leader than the last success's, and for the first failure of
//! a run of them: `{"t":<unix ms>,"ok":true,"leader":N,"offset":O}` /
//! `{"t":…,"ok":false,"error":"…"}`. The driver kills the leader and reads how long the
//! partition took to accept an acks=all write again (a success on another leader, after the
//! kill).
//!
//! `caught-up`: waits until a follower is back in the partition's ISR (Metadata) and its copy
//! is as long as the leader's (DescribeLogDirs of both nodes: the same bytes, since followers
//! append the leader's batches as they are), then prints `{"t":<unix ms>}`.
//!
//! `cargo run --release --example replprobe -- probe --bootstrap 127.0.0.1:9092 --topic t`

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use gregor::tools::client::Client;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Produce acks=all to one partition's leader forever, reporting failovers.
    Probe {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 0)]
        partition: i32,
    },
    /// Wait until `--node` is in the ISR with as many bytes as the leader.
    CaughtUp {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 0)]
        partition: i32,
        /// The follower's id.
        #[arg(long)]
        node: i32,
        /// The follower's broker listener (Metadata lists it only once unfenced).
        #[arg(long)]
        node_addr: String,
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
    },
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn connect(addr: &str, read_timeout: Duration) -> Result<Client> {
    let c = Client::connect(addr).map_err(anyhow::Error::msg)?;
    c.stream.set_read_timeout(Some(read_timeout))?;
    Ok(c)
}

fn name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// One partition's leader (id and address) and ISR, as the first answering bootstrap node
/// says.
struct Leadership {
    leader: i32,
    addr: String,
    isr: Vec<i32>,
}

fn leadership(bootstrap: &str, topic: &str, partition: i32) -> Result<Leadership> {
    let mut last = anyhow::anyhow!("no bootstrap address");
    for addr in bootstrap.split(',').filter(|a| !a.is_empty()) {
        let answer = (|| -> Result<Leadership> {
            let mut c = connect(addr, Duration::from_secs(2))?;
            let md = c
                .call(
                    &MetadataRequest::default().with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(name(topic))),
                    ])),
                    12,
                )
                .map_err(anyhow::Error::msg)?;
            let p = md
                .topics
                .first()
                .and_then(|t| t.partitions.iter().find(|p| p.partition_index == partition))
                .ok_or_else(|| anyhow::anyhow!("no partition {topic}-{partition}"))?;
            let b = md
                .brokers
                .iter()
                .find(|b| b.node_id == p.leader_id)
                .ok_or_else(|| anyhow::anyhow!("leader {} not listed", p.leader_id.0))?;
            Ok(Leadership {
                leader: p.leader_id.0,
                addr: format!("{}:{}", b.host.as_str(), b.port),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            })
        })();
        match answer {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn emit(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn probe(bootstrap: &str, topic: &str, partition: i32) -> Result<()> {
    let value = Bytes::from_static(b"failover-probe");
    let batch = gregor::log::records::encode_batch(&[(None, Some(value))], None, 0)
        .map_err(anyhow::Error::msg)?;
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    let mut conn: Option<(i32, Client)> = None;
    let mut last_ok_leader = -1;
    let mut failing = true;
    let mut reported_failure = false;
    loop {
        if conn.is_none() {
            match leadership(bootstrap, topic, partition)
                .and_then(|l| Ok((l.leader, connect(&l.addr, Duration::from_secs(15))?)))
            {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if !reported_failure {
                        emit(format!(
                            "{{\"t\":{:.1},\"ok\":false,\"error\":{:?}}}",
                            now_ms(),
                            e.to_string()
                        ));
                        reported_failure = true;
                    }
                    failing = true;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let Some((leader, c)) = conn.as_mut() else {
            continue;
        };
        let leader = *leader;
        let result = c.call(&req, 9).map_err(anyhow::Error::msg).and_then(|r| {
            let p = r
                .responses
                .first()
                .and_then(|t| t.partition_responses.first())
                .ok_or_else(|| anyhow::anyhow!("empty produce answer"))?;
            if p.error_code != 0 {
                bail!("error code {}", p.error_code);
            }
            Ok(p.base_offset)
        });
        match result {
            Ok(offset) => {
                if failing || leader != last_ok_leader {
                    emit(format!(
                        "{{\"t\":{:.1},\"ok\":true,\"leader\":{leader},\"offset\":{offset}}}",
                        now_ms()
                    ));
                }
                failing = false;
                reported_failure = false;
                last_ok_leader = leader;
            }
            Err(e) => {
                if !reported_failure {
                    emit(format!(
                        "{{\"t\":{:.1},\"ok\":false,\"leader\":{leader},\"error\":{:?}}}",
                        now_ms(),
                        e.to_string()
                    ));
                    reported_failure = true;
                }
                failing = true;
                conn = None;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Bytes of `topic-partition` in the log directories of the broker at `addr`.
fn size_on(addr: &str, topic: &str, partition: i32) -> Result<i64> {
    let mut c = connect(addr, Duration::from_secs(5))?;
    let resp = c
        .call(
            &DescribeLogDirsRequest::default().with_topics(Some(vec![
                DescribableLogDirTopic::default()
                    .with_topic(name(topic))
                    .with_partitions(vec![partition]),
            ])),
            4,
        )
        .map_err(anyhow::Error::msg)?;
    resp.results
        .iter()
        .flat_map(|d| d.topics.iter())
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .map(|p| p.partition_size)
        .ok_or_else(|| anyhow::anyhow!("{addr} does not host {topic}-{partition}"))
}

#[allow(clippy::too_many_arguments)]
fn caught_up(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    node: i32,
    node_addr: &str,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let done = (|| -> Result<bool> {
            let l = leadership(bootstrap, topic, partition)?;
            if !l.isr.contains(&node) || l.leader == node {
                return Ok(false);
            }
            Ok(size_on(&l.addr, topic, partition)? == size_on(node_addr, topic, partition)?)
        })()
        .unwrap_or(false);
        if done {
            emit(format!("{{\"t\":{:.1}}}", now_ms()));
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("node {node} not caught up on {topic}-{partition} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() -> Result<()> {
    match Args::parse().command {
        Cmd::Probe {
            bootstrap,
            topic,
            partition,
        } => probe(&bootstrap, &topic, partition),
        Cmd::CaughtUp {
            bootstrap,
            topic,
            partition,
            node,
            node_addr,
            timeout_s,
        } => caught_up(
            &bootstrap,
            &topic,
            partition,
            node,
            &node_addr,
            Duration::from_secs(timeout_s),
        ),
    }
}
