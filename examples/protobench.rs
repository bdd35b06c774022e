//! A broker-bound load generator for `scripts/bench`-style runs: it speaks the protocol with
//! the project's own codec, pre-encodes one 64 KiB record batch (1 KiB records) and keeps
//! several Produce requests in flight on one connection, then reads everything back with large
//! Fetches — so the broker, not the client, is what is measured. Two baselines run in the same
//! process: (a) the same byte stream into a plain TCP sink that appends to a file in
//! `--dir`; (b) a plain file → socket copy of the same bytes.
//!
//! With `--partitions N` the Produce requests go round-robin over N partitions and each Fetch
//! asks for all of them. `--json` prints one JSON object for `scripts/bench`;
//! `--create-only N` just creates a topic of N partitions (for the start-up and RSS workloads).
//!
//! On a cluster (`scripts/bench-replication`): `--replication-factor` sets the topic's, the
//! bootstrap may list several brokers (the first that accepts is asked), and every partition's
//! requests go to its leader as Metadata names it (one connection, and one thread keeping
//! `--in-flight` requests outstanding, per leader); `--produce-only` skips the fetch and the
//! baselines, `--keep-topic` leaves the topic (an existing one is used as it is), and the
//! output adds each Produce request's latency (written → answered; p50 and p99): with
//! `--in-flight 1` that is the round trip of one acks=all request.
//!
//! `--tls-ca ca.pem` speaks TLS to an SSL listener (bootstrap and leaders; the CA verifies the
//! broker's certificate, which must name the host connected to): run it once against the
//! PLAINTEXT listener and once against the SSL listener of the same broker to compare.
//!
//! `cargo run --release --example protobench -- --bootstrap 127.0.0.1:9092 --dir /tmp/x`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use clap::Parser;
use gregor::tools::client::Client;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Where the baselines write their file (use the broker's disk).
    #[arg(long)]
    dir: std::path::PathBuf,
    /// Megabytes to produce.
    #[arg(long, default_value_t = 1024)]
    mb: usize,
    /// Produce requests in flight.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// acks for Produce (1 or -1).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    acks: i16,
    /// Partitions of the topic; requests go round-robin over them.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Only create a topic named `--topic` with this many partitions, then exit.
    #[arg(long)]
    create_only: Option<i32>,
    /// Topic name (default: protobench-<pid>).
    #[arg(long)]
    topic: Option<String>,
    /// Replication factor of the topic created.
    #[arg(long, default_value_t = 1)]
    replication_factor: i16,
    /// Only produce: no fetch, no baselines (their figures are printed as null).
    #[arg(long)]
    produce_only: bool,
    /// Do not delete the topic at the end; use it if it exists already.
    #[arg(long)]
    keep_topic: bool,
    /// Speak TLS, trusting the CA certificates of this PEM file.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
}

/// A blocking stream, plain or TLS.
trait Rw: Read + Write + Send {}
impl<T: Read + Write + Send> Rw for T {}

/// A protocol client over either.
type Conn = Client<Box<dyn Rw>>;

/// The TLS client configuration when `--tls-ca` is given.
static TLS: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();

fn tls_config(ca: &std::path::Path) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to `addr`, over TLS when `--tls-ca` was given.
fn connect(addr: &str) -> Result<Conn> {
    let sock = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let _ = sock.set_nodelay(true);
    let Some(Some(config)) = TLS.get() else {
        return Ok(Client::over(Box::new(sock) as Box<dyn Rw>));
    };
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())?;
    let conn = rustls::ClientConnection::new(config.clone(), name)?;
    Ok(Client::over(
        Box::new(rustls::StreamOwned::new(conn, sock)) as Box<dyn Rw>
    ))
}

fn topic_name(a: &Args) -> TopicName {
    TopicName(StrBytes::from_string(
        a.topic
            .clone()
            .unwrap_or_else(|| format!("protobench-{}", std::process::id())),
    ))
}

fn create_topic(c: &mut Conn, name: &TopicName, partitions: i32, a: &Args) -> Result<()> {
    let created = c
        .call(
            &CreateTopicsRequest::default()
                .with_timeout_ms(60_000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(name.clone())
                    .with_num_partitions(partitions)
                    .with_replication_factor(a.replication_factor)]),
            7,
        )
        .map_err(anyhow::Error::msg)?;
    let code = created.topics[0].error_code;
    // 36: TOPIC_ALREADY_EXISTS, fine when the topic is kept between runs.
    ensure!(
        code == 0 || (code == 36 && a.keep_topic),
        "create topic {}: error {code}",
        name.0
    );
    Ok(())
}

/// The first address of a comma-separated list that accepts a connection.
fn connect_any(bootstrap: &str) -> Result<Conn> {
    let mut last = anyhow::anyhow!("no address in {bootstrap:?}");
    for addr in bootstrap.split(',').filter(|s| !s.is_empty()) {
        match connect(addr) {
            Ok(c) => return Ok(c),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Each partition's leader address (index = partition), once Metadata names one for all.
fn leaders(c: &mut Conn, name: &TopicName, partitions: i32) -> Result<Vec<String>> {
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let md = c
            .call(
                &MetadataRequest::default().with_topics(Some(vec![
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(name.clone())),
                ])),
                12,
            )
            .map_err(anyhow::Error::msg)?;
        let addrs: std::collections::HashMap<i32, String> = md
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        let mut out = vec![String::new(); partitions as usize];
        let mut all = true;
        if let Some(t) = md.topics.first() {
            for p in &t.partitions {
                match (
                    addrs.get(&p.leader_id.0),
                    out.get_mut(p.partition_index as usize),
                ) {
                    (Some(addr), Some(slot)) if p.error_code == 0 => *slot = addr.clone(),
                    _ => all = false,
                }
            }
        }
        if all && out.iter().all(|a| !a.is_empty()) {
            return Ok(out);
        }
        ensure!(
            Instant::now() < deadline,
            "no leader for every partition of {}",
            name.0
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Sends `frames` on one connection to `addr`, `in_flight` outstanding, checking every answer;
/// returns each request's latency (written → its answer read), in seconds.
fn produce_to(addr: &str, frames: &[Vec<u8>], in_flight: usize) -> Result<Vec<f64>> {
    let mut c = connect(addr)?;
    let n = frames.len();
    let (mut sent, mut done) = (0, 0);
    let mut started = std::collections::VecDeque::with_capacity(in_flight);
    let mut latencies = Vec::with_capacity(n);
    while done < n {
        while sent < n && sent - done < in_flight {
            started.push_back(Instant::now());
            c.stream.write_all(&frames[sent])?;
            sent += 1;
        }
        c.stream.flush()?;
        let mut resp = c.read_frame().context("broker closed the connection")?;
        if let Some(t) = started.pop_front() {
            latencies.push(t.elapsed().as_secs_f64());
        }
        ResponseHeader::decode(&mut resp, ApiKey::Produce.response_header_version(9))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let r = ProduceResponse::decode(&mut resp, 9).map_err(|e| anyhow::anyhow!("{e}"))?;
        let p = &r.responses[0].partition_responses[0];
        ensure!(p.error_code == 0, "produce error {}", p.error_code);
        done += 1;
    }
    Ok(latencies)
}

/// The nearest-rank `q`th percentile of `xs` (sorted), in milliseconds (0 when empty).
fn percentile_ms(xs: &[f64], q: usize) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let k = (xs.len() * q).div_ceil(100).clamp(1, xs.len()) - 1;
    xs[k] * 1e3
}

fn batch() -> Bytes {
    let value = Bytes::from(vec![b'x'; 1024]);
    let entries: Vec<(Option<Bytes>, Option<Bytes>)> =
        (0..64).map(|_| (None, Some(value.clone()))).collect();
    gregor::log::records::encode_batch(&entries, None, 0).expect("encode")
}

fn produce_frames(c: &mut Conn, a: &Args, batch: &Bytes, n: usize) -> Result<Vec<Vec<u8>>> {
    (0..n)
        .map(|i| {
            let req = ProduceRequest::default()
                .with_acks(a.acks)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic_name(a))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(i as i32 % a.partitions)
                        .with_records(Some(batch.clone()))])]);
            c.frame(&req, 9).map_err(anyhow::Error::msg)
        })
        .collect()
}

fn delete_topic(c: &mut Conn, name: &TopicName) -> Result<()> {
    let deleted = c
        .call(
            &DeleteTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topic_names(vec![name.clone()]),
            4,
        )
        .map_err(anyhow::Error::msg)?;
    ensure!(
        deleted.responses.first().map(|r| r.error_code) == Some(0),
        "delete topic failed"
    );
    Ok(())
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn main() -> Result<()> {
    let a = Args::parse();
    let tls = a.tls_ca.as_deref().map(tls_config).transpose()?;
    let _ = TLS.set(tls);
    let mut c = connect_any(&a.bootstrap)?;
    if let Some(n) = a.create_only {
        create_topic(&mut c, &topic_name(&a), n, &a)?;
        return Ok(());
    }
    let batch = batch();
    let n = a.mb * 1_000_000 / batch.len();
    let total = n * batch.len();
    create_topic(&mut c, &topic_name(&a), a.partitions, &a)?;
    let leader_of = leaders(&mut c, &topic_name(&a), a.partitions)?;

    // Produce: frame i goes to partition i % partitions, on its leader's connection; each
    // leader's connection keeps `in_flight` requests outstanding (one thread per leader).
    let frames = produce_frames(&mut c, &a, &batch, n)?;
    let wire: usize = frames.iter().map(Vec::len).sum();
    let mut by_leader: std::collections::BTreeMap<String, Vec<Vec<u8>>> = Default::default();
    for (i, f) in frames.iter().enumerate() {
        let leader = &leader_of[i % a.partitions as usize];
        by_leader.entry(leader.clone()).or_default().push(f.clone());
    }
    let start = Instant::now();
    let in_flight = a.in_flight;
    let workers: Vec<_> = by_leader
        .into_iter()
        .map(|(addr, fs)| std::thread::spawn(move || produce_to(&addr, &fs, in_flight)))
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(
            w.join()
                .map_err(|_| anyhow::anyhow!("producer thread panicked"))??,
        );
    }
    let produce_s = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile_ms(&latencies, 50), percentile_ms(&latencies, 99));
    if a.produce_only {
        if !a.keep_topic {
            delete_topic(&mut c, &topic_name(&a))?;
        }
        if a.json {
            println!(
                "{{\"records\":{},\"bytes\":{total},\"produce_s\":{produce_s},\"fetch_s\":null,\"sink_s\":null,\"file_s\":null,\"wire_bytes\":{wire},\"produce_p50_ms\":{p50},\"produce_p99_ms\":{p99}}}",
                n * 64
            );
        } else {
            println!(
                "produce: {:8.1} MB/s ({} x 64 KiB batches, acks={}, RF {}, {} partition(s)); \
                 latency p50 {p50:.2} ms, p99 {p99:.2} ms",
                mbps(total, produce_s),
                n,
                a.acks,
                a.replication_factor,
                a.partitions
            );
        }
        return Ok(());
    }

    // Fetch everything back with large fetches, all of one leader's partitions in each
    // request (the others are asked for from offset "done", past their end: none here).
    let start = Instant::now();
    let mut offsets = vec![0i64; a.partitions as usize];
    let mut fetched = 0usize;
    let per_partition = ((32 << 20) / a.partitions).max(1 << 20);
    let single_leader = leader_of.iter().all(|l| *l == leader_of[0]);
    ensure!(
        single_leader,
        "fetching from several leaders is not done: use --produce-only"
    );
    let mut c_fetch = connect(&leader_of[0])?;
    while fetched < total {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&a))
                .with_partitions(
                    offsets
                        .iter()
                        .enumerate()
                        .map(|(i, o)| {
                            FetchPartition::default()
                                .with_partition(i as i32)
                                .with_fetch_offset(*o)
                                .with_partition_max_bytes(per_partition)
                        })
                        .collect(),
                )]);
        let r = c_fetch.call(&req, 12).map_err(anyhow::Error::msg)?;
        let mut progress = false;
        for p in &r.responses[0].partitions {
            ensure!(p.error_code == 0, "fetch error {}", p.error_code);
            let Some(offset) = offsets.get_mut(p.partition_index as usize) else {
                bail!("answer for unknown partition {}", p.partition_index);
            };
            let records = p.records.clone().unwrap_or_default();
            for (_, h) in gregor::log::batch::BatchWalker::new(&records) {
                ensure!(
                    h.base_offset == *offset,
                    "expected offset {offset}, got {}",
                    h.base_offset
                );
                *offset = h.last_offset() + 1;
                progress = true;
            }
            fetched += records.len();
        }
        if !progress {
            bail!("no progress at offsets {offsets:?}");
        }
    }
    let fetch_s = start.elapsed().as_secs_f64();

    // Baseline (a): the same produce byte stream into a TCP sink that appends to a file.
    let sink = TcpListener::bind("127.0.0.1:0")?;
    let sink_addr = sink.local_addr()?;
    let path = a
        .dir
        .join(format!("protobench-sink-{}", std::process::id()));
    let sink_path = path.clone();
    let sink_thread = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = sink.accept()?;
        let mut f = std::fs::File::create(&sink_path)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = s.read(&mut buf)?;
            if k == 0 {
                return Ok(());
            }
            f.write_all(&buf[..k])?;
        }
    });
    let start = Instant::now();
    let mut out = TcpStream::connect(sink_addr)?;
    for f in &frames {
        out.write_all(f)?;
    }
    drop(out);
    sink_thread
        .join()
        .map_err(|_| anyhow::anyhow!("sink panicked"))??;
    let sink_s = start.elapsed().as_secs_f64();

    // Baseline (b): that file → socket → a reader.
    let reader = TcpListener::bind("127.0.0.1:0")?;
    let reader_addr = reader.local_addr()?;
    let reader_thread = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut s, _) = reader.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0;
        loop {
            let k = s.read(&mut buf)?;
            if k == 0 {
                return Ok(n);
            }
            n += k;
        }
    });
    let start = Instant::now();
    let mut src = std::fs::File::open(&path)?;
    let mut out = TcpStream::connect(reader_addr)?;
    std::io::copy(&mut src, &mut out)?;
    drop(out);
    let read_back = reader_thread
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    let file_s = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    ensure!(
        read_back == wire,
        "baseline (b) moved {read_back} of {wire} bytes"
    );

    // Leave the disk as we found it for the next run.
    if !a.keep_topic {
        delete_topic(&mut c, &topic_name(&a))?;
    }
    if a.json {
        println!(
            "{{\"records\":{},\"bytes\":{total},\"produce_s\":{produce_s},\"fetch_s\":{fetch_s},\"sink_s\":{sink_s},\"file_s\":{file_s},\"wire_bytes\":{wire}}}",
            n * 64
        );
        return Ok(());
    }
    println!(
        "records: {} x 1 KiB in {} batches of 64 KiB, acks={}, {} in flight, {} partition(s)",
        n * 64,
        n,
        a.acks,
        a.in_flight,
        a.partitions
    );
    println!(
        "produce: {:8.1} MB/s   baseline (a) socket -> file: {:8.1} MB/s   ratio {:.2}",
        mbps(total, produce_s),
        mbps(wire, sink_s),
        sink_s / produce_s
    );
    println!(
        "fetch:   {:8.1} MB/s   baseline (b) file -> socket: {:8.1} MB/s   ratio {:.2}",
        mbps(total, fetch_s),
        mbps(wire, file_s),
        file_s / fetch_s
    );
    Ok(())
}
