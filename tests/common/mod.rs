//! Shared test harness: a real broker (in-process on its own runtime, or as a child process
//! for kill -9 tests), a raw protocol client, rdkafka helpers, and deadline polling.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gregor::config::BrokerConfig;
use gregor::node::{self as server, ServerHandle};
use gregor::tools::client::Client;
use kafka_protocol::protocol::Request;

/// Polls `f` until it returns `Some`, or panics with `what` at the deadline.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A broker running in this process on its own tokio runtime, bound to 127.0.0.1:0.
pub struct TestBroker {
    rt: Option<tokio::runtime::Runtime>,
    handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl TestBroker {
    pub fn start(dir: &Path, props: &[(&str, &str)]) -> TestBroker {
        // RUST_LOG=gregor=debug shows the broker's logs in failing tests.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let pairs: Vec<(String, String)> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut warnings = Vec::new();
        let mut cfg = BrokerConfig::default();
        cfg.apply_properties(&pairs, &mut warnings)
            .expect("valid test config");
        assert!(warnings.is_empty(), "{warnings:?}");
        cfg.listen = "127.0.0.1:0".into();
        cfg.advertised = "127.0.0.1:0".into();
        cfg.data_dir = dir.to_path_buf();
        let handle = rt.block_on(server::start(cfg)).expect("broker starts");
        let addr = handle.local_addr();
        TestBroker {
            rt: Some(rt),
            handle: Some(handle),
            addr,
            dir: dir.to_path_buf(),
        }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Graceful shutdown: in-flight requests finish, logs are closed cleanly.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let (Some(rt), Some(h)) = (self.rt.take(), self.handle.take()) {
            rt.block_on(h.shutdown()).expect("clean shutdown");
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; a tiny race is acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The `gregor` binary as a child process, for tests that kill it.
pub struct BrokerProcess {
    child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl BrokerProcess {
    pub fn spawn(dir: &Path, extra: &[&str]) -> BrokerProcess {
        Self::spawn_on(free_port(), dir, extra)
    }

    /// Starts the broker on a given port (to restart it where clients expect it).
    pub fn spawn_on(port: u16, dir: &Path, extra: &[&str]) -> BrokerProcess {
        Self::spawn_limited(port, dir, extra, None)
    }

    /// Starts the broker, optionally under `ulimit -n fd_limit`.
    pub fn spawn_limited(
        port: u16,
        dir: &Path,
        extra: &[&str],
        fd_limit: Option<u32>,
    ) -> BrokerProcess {
        Self::spawn_with(port, dir, extra, fd_limit, &[])
    }

    /// Starts the broker with extra environment variables.
    pub fn spawn_with(
        port: u16,
        dir: &Path,
        extra: &[&str],
        fd_limit: Option<u32>,
        env: &[(&str, &str)],
    ) -> BrokerProcess {
        let addr = format!("127.0.0.1:{port}");
        let log = dir.with_extension(format!("{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = match fd_limit {
            None => Command::new(env!("CARGO_BIN_EXE_gregor")),
            Some(n) => {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    &format!("ulimit -n {n} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_gregor"),
                ]);
                c
            }
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .args(["serve", "--listen", &addr, "--data-dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn gregor");
        let p = BrokerProcess {
            child,
            addr: addr.clone(),
            log,
        };
        wait_for(
            "the broker to accept connections",
            Duration::from_secs(20),
            || TcpStream::connect(&addr).ok(),
        );
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Number of file descriptors the broker process holds now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(usize::MAX)
    }

    /// SIGKILL, like a crash or power cut of the process.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "gregor exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "gregor did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking client speaking the Kafka protocol directly (the library's tool client, with
/// panics instead of errors and a few raw-byte helpers).
pub struct RawClient {
    inner: Client,
}

impl RawClient {
    pub fn connect(addr: &str) -> RawClient {
        let inner = Client::connect(addr).expect("connect");
        inner
            .stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        RawClient { inner }
    }

    /// Encodes a request frame (size prefix included).
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> Vec<u8> {
        self.inner.frame(req, version).expect("encode request")
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.inner.stream.write_all(bytes).expect("write");
    }

    /// Reads one response frame; `None` when the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        self.inner.read_frame()
    }

    /// Sends a request and decodes its response.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.inner.call(req, version).expect("request answered")
    }

    /// True when the broker closed the connection (EOF or reset) within 5 s.
    pub fn is_closed(&mut self) -> bool {
        let stream = &mut self.inner.stream;
        let mut b = [0u8; 1];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let r = stream.read(&mut b);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        match r {
            Ok(0) => true,
            Ok(_) => false,
            // A timeout means the broker kept the connection open.
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// A record batch v2 as a producer would send it (the library's encoder).
pub fn encode_batch(
    records: &[(Option<&str>, &str)],
    producer: Option<(i64, i16, i32)>,
    timestamp: i64,
) -> Bytes {
    let entries: Vec<(Option<Bytes>, Option<Bytes>)> = records
        .iter()
        .map(|(k, v)| {
            (
                k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                Some(Bytes::copy_from_slice(v.as_bytes())),
            )
        })
        .collect();
    gregor::log::records::encode_batch(&entries, producer, timestamp).expect("encode batch")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// rdkafka helpers: producers, consumers and admin calls, all blocking.
pub mod kafka {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use futures::executor::block_on;
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::producer::FutureProducer;
    use rdkafka::{Offset, TopicPartitionList};

    pub fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap);
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c
    }

    pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
        let mut base = vec![
            ("message.timeout.ms", "30000"),
            ("queue.buffering.max.messages", "1000000"),
            ("linger.ms", "5"),
        ];
        base.extend_from_slice(extra);
        config(bootstrap, &base).create().expect("producer")
    }

    pub fn consumer(bootstrap: &str) -> BaseConsumer {
        config(
            bootstrap,
            &[
                ("enable.auto.commit", "false"),
                ("group.id", "gregor-test-unused"),
            ],
        )
        .create()
        .expect("consumer")
    }

    pub fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin: AdminClient<DefaultClientContext> =
            config(bootstrap, &[]).create().expect("admin");
        let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            t = t.set(k, v);
        }
        let res = block_on(admin.create_topics([&t], &AdminOptions::new())).expect("create_topics");
        for r in res {
            r.expect("topic created");
        }
    }

    /// One consumed record: key, value, headers (name → value).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Rec {
        pub key: Option<Vec<u8>>,
        pub value: Option<Vec<u8>>,
        pub headers: Vec<(String, Option<Vec<u8>>)>,
        pub timestamp: Option<i64>,
    }

    /// Reads every record of the given partitions from `start` until `expect` records have
    /// arrived, keyed by (partition, offset).
    pub fn consume(
        bootstrap: &str,
        topic: &str,
        partitions: &[i32],
        start: Offset,
        expect: usize,
    ) -> BTreeMap<(i32, i64), Rec> {
        let c = consumer(bootstrap);
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(topic, *p, start).expect("tpl");
        }
        c.assign(&tpl).expect("assign");
        let mut out = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while out.len() < expect {
            assert!(
                Instant::now() < deadline,
                "consumed {} of {expect}",
                out.len()
            );
            match c.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(e)) => panic!("consume error: {e}"),
                Some(Ok(m)) => {
                    let headers = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default();
                    let rec = Rec {
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        headers,
                        timestamp: m.timestamp().to_millis(),
                    };
                    assert!(
                        out.insert((m.partition(), m.offset()), rec).is_none(),
                        "record delivered twice"
                    );
                }
            }
        }
        out
    }

    /// (low, high) watermarks of a partition.
    pub fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
        consumer(bootstrap)
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .expect("watermarks")
    }
}

/// Raw-protocol requests the tests use often.
pub mod raw {
    use bytes::Bytes;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::fetch_response::PartitionData;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::produce_response::PartitionProduceResponse;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;

    use super::RawClient;

    pub fn topic(name: &str) -> TopicName {
        TopicName(StrBytes::from_string(name.to_string()))
    }

    pub fn produce_request(t: &str, partition: i32, batch: Bytes, acks: i16) -> ProduceRequest {
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic(t))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])])
    }

    pub fn produce(
        c: &mut RawClient,
        t: &str,
        partition: i32,
        batch: Bytes,
    ) -> PartitionProduceResponse {
        let resp = c.call(&produce_request(t, partition, batch, -1), 9);
        resp.responses[0].partition_responses[0].clone()
    }

    pub fn fetch(
        c: &mut RawClient,
        t: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    ) -> PartitionData {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(max_bytes)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic(t))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(max_bytes)])]);
        let resp = c.call(&req, 12);
        resp.responses[0].partitions[0].clone()
    }

    /// (error code, offset) of ListOffsets at `timestamp` (−1 latest, −2 earliest).
    pub fn list_offset(c: &mut RawClient, t: &str, partition: i32, timestamp: i64) -> (i16, i64) {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic(t))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)])]);
        let resp = c.call(&req, 7);
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.offset)
    }

    pub fn create_topic(
        c: &mut RawClient,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> i16 {
        use kafka_protocol::messages::create_topics_request::{
            CreatableTopic, CreatableTopicConfig,
        };
        let configs = configs
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(k.to_string()))
                    .with_value(Some(StrBytes::from_string(v.to_string())))
            })
            .collect();
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic(name))
                .with_num_partitions(partitions)
                .with_replication_factor(1)
                .with_configs(configs)]);
        c.call(&req, 7).topics[0].error_code
    }

    /// The batches of a fetch response: (base offset, last offset) each.
    pub fn batch_ranges(records: &Bytes) -> Vec<(i64, i64)> {
        gregor::log::batch::BatchWalker::new(records)
            .map(|(_, h)| (h.base_offset, h.last_offset()))
            .collect()
    }
}
