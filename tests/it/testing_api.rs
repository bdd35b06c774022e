//! The public test API (`gregor::testing`) as a user's suite uses it: many brokers in one
//! process without leaks, fault rules seen by rdkafka exactly as configured, call counters,
//! restart on the same port and data, and an in-process cluster losing a partition leader.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use gregor::testing::{api, codes, Error, Rule, TestBroker, TestCluster};
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;

use crate::support::clients;
use crate::support::wait::poll;
use crate::support::RawClient;

/// Entries of a /proc/self directory (descriptors, threads).
fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Runs [`fifty_brokers_in_this_process`] alone in a child process of this test binary: the
/// other tests of this binary open descriptors and threads meanwhile, which would blur the
/// counts.
#[test]
fn fifty_brokers_start_and_stop_in_parallel_without_leaks() {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "testing_api::fifty_brokers_in_this_process",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .expect("run the child");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run alone in a child process by fifty_brokers_start_and_stop_in_parallel_without_leaks"]
fn fifty_brokers_in_this_process() {
    // Warm up what the process keeps for good (the first runtime's statics, rdkafka-free).
    drop(TestBroker::start().expect("broker starts"));
    let fds_before = count("/proc/self/fd");
    let threads_before = count("/proc/self/task");
    let brokers: Vec<TestBroker> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..50)
            .map(|_| s.spawn(|| TestBroker::start().expect("broker starts")))
            .collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut dirs = Vec::new();
    let mut addrs = Vec::new();
    for b in &brokers {
        // Each one answers a request over TCP.
        let mut c = RawClient::connect(&b.bootstrap());
        let resp = c.call(&ApiVersionsRequest::default(), 3);
        assert_eq!(resp.error_code, 0);
        assert_eq!(b.faults().calls(api::API_VERSIONS), 1);
        dirs.push(b.data_dir().to_path_buf());
        addrs.push(b.bootstrap());
    }
    let distinct: std::collections::BTreeSet<&String> = addrs.iter().collect();
    assert_eq!(distinct.len(), 50, "every broker has its own port");
    std::thread::scope(|s| {
        for b in brokers {
            s.spawn(move || drop(b));
        }
    });
    for (d, a) in dirs.iter().zip(&addrs) {
        assert!(!d.exists(), "{} left behind", d.display());
        assert!(
            std::net::TcpStream::connect(a).is_err(),
            "{a} still accepts connections"
        );
    }
    // Other tests of this binary run meanwhile: poll until the counts are back.
    let fds = poll(Duration::from_secs(20), || {
        let n = count("/proc/self/fd");
        (n <= fds_before).then_some(n)
    });
    assert!(
        fds.is_some(),
        "descriptors: {fds_before} before, {} after",
        count("/proc/self/fd")
    );
    let threads = poll(Duration::from_secs(20), || {
        let n = count("/proc/self/task");
        (n <= threads_before).then_some(n)
    });
    assert!(
        threads.is_some(),
        "threads: {threads_before} before, {} after",
        count("/proc/self/task")
    );
}

#[test]
fn an_injected_not_leader_is_retried_by_rdkafka_and_lands_once() {
    let broker = TestBroker::start().expect("broker starts");
    broker.create_topic("retried", 1, 1).expect("topic created");
    let rule = broker
        .faults()
        .add(
            Rule::new(api::PRODUCE)
                .partition("retried", 0)
                .error(codes::NOT_LEADER_OR_FOLLOWER)
                .once(),
        )
        .expect("rule installed");
    let bs = broker.bootstrap();
    let producer = clients::producer(&bs, &[("linger.ms", "0"), ("retry.backoff.ms", "10")]);
    let record = FutureRecord::<str, str>::to("retried")
        .key("k")
        .payload("once")
        .partition(0);
    let delivered = block_on(producer.send(record, Duration::from_secs(30)))
        .map_err(|(e, _)| e)
        .expect("delivered after the retry");
    assert_eq!((delivered.partition, delivered.offset), (0, 0));
    assert_eq!(rule.hits(), 1);
    assert_eq!(broker.faults().rules(), 0, "a one-shot rule goes");
    assert_eq!(
        broker.faults().calls(api::PRODUCE),
        2,
        "the first and the retry"
    );
    assert_eq!(clients::watermarks(&bs, "retried", 0), (0, 1));
    let got = clients::consume(&bs, "retried", &[0], rdkafka::Offset::Beginning, 1);
    let (_, rec) = got.iter().next().expect("one record");
    assert_eq!(rec.value.as_deref(), Some(&b"once"[..]));
}

#[test]
fn injected_error_codes_reach_rdkafka_as_configured() {
    let broker = TestBroker::start().expect("broker starts");
    broker.create_topic("denied", 1, 1).expect("topic created");
    broker.create_topic("open", 1, 1).expect("topic created");
    // Persistent, and for one topic only: the other is served.
    let rule = broker
        .faults()
        .add(
            Rule::new(api::PRODUCE)
                .topic("denied")
                .error(codes::TOPIC_AUTHORIZATION_FAILED),
        )
        .expect("rule installed");
    let bs = broker.bootstrap();
    let producer = clients::producer(&bs, &[("linger.ms", "0")]);
    for i in 0..3 {
        let r = block_on(
            producer.send(
                FutureRecord::<str, str>::to("denied")
                    .payload("x")
                    .partition(0),
                Duration::from_secs(30),
            ),
        );
        match r {
            Err((KafkaError::MessageProduction(code), _)) => {
                assert_eq!(code, RDKafkaErrorCode::TopicAuthorizationFailed, "send {i}")
            }
            other => panic!("send {i}: expected TOPIC_AUTHORIZATION_FAILED, got {other:?}"),
        }
        let ok = block_on(
            producer.send(
                FutureRecord::<str, str>::to("open")
                    .payload("y")
                    .partition(0),
                Duration::from_secs(30),
            ),
        )
        .map_err(|(e, _)| e)
        .expect("the other topic is served");
        assert_eq!(ok.offset, i);
    }
    // librdkafka may fail a send locally once the topic is known unauthorized: every
    // Produce that reached the broker for it was answered by the rule, and only those.
    assert!(rule.hits() >= 1);
    assert_eq!(broker.faults().calls(api::PRODUCE), rule.hits() + 3);
    assert_eq!(clients::watermarks(&bs, "denied", 0), (0, 0));
    broker.faults().remove(&rule);
    // Served once the rule is removed. librdkafka may still fail a send locally with the
    // error it cached for the topic until its metadata refresh lands: such a send never
    // reaches the broker, so it is sent again (with a deadline), never counted as served.
    let ok = crate::support::wait::wait_for(
        "a send served once the rule is removed",
        Duration::from_secs(30),
        || {
            let r = block_on(
                producer.send(
                    FutureRecord::<str, str>::to("denied")
                        .payload("z")
                        .partition(0),
                    Duration::from_secs(30),
                ),
            );
            match r {
                Ok(delivered) => Some(delivered),
                Err((
                    KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed),
                    _,
                )) => None,
                Err((e, _)) => panic!("served once the rule is removed: {e}"),
            }
        },
    );
    assert_eq!(ok.offset, 0);
    assert_eq!(clients::watermarks(&bs, "denied", 0), (0, 1));
}

#[test]
fn rules_delay_drop_and_match_client_ids_and_counters_count() {
    let broker = TestBroker::start().expect("broker starts");
    let f = broker.faults();
    // Metadata from client "slow" waits 300 ms; from anyone else it is served at once.
    let slow = f
        .add(
            Rule::new(api::METADATA)
                .client_id("slow")
                .delay(Duration::from_millis(300))
                .times(2),
        )
        .expect("delay rule");
    let mut other = RawClient::connect(&broker.bootstrap());
    let t = Instant::now();
    let resp = other.call(&MetadataRequest::default(), 12);
    assert_eq!(resp.brokers.len(), 1);
    assert!(t.elapsed() < Duration::from_millis(300));
    assert_eq!(slow.hits(), 0);
    let mut slow_client = RawClient::connect_as(&broker.bootstrap(), "slow");
    for _ in 0..2 {
        let t = Instant::now();
        let resp = slow_client.call(&MetadataRequest::default(), 12);
        assert_eq!(resp.brokers.len(), 1);
        assert!(t.elapsed() >= Duration::from_millis(300));
    }
    assert_eq!(slow.hits(), 2);
    // The next ApiVersions closes the connection, unanswered; the one after is served.
    f.add(Rule::new(api::API_VERSIONS).drop_connection().once())
        .expect("drop rule");
    let mut c = RawClient::connect(&broker.bootstrap());
    let frame = c.frame(&ApiVersionsRequest::default(), 3);
    c.send_raw(&frame);
    assert!(c.read_frame().is_none(), "connection closed unanswered");
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(c.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    assert_eq!(f.calls(api::API_VERSIONS), 2);
    assert_eq!(f.calls(api::METADATA), 3);
    assert_eq!(f.calls(api::PRODUCE), 0);
    f.reset_calls();
    assert_eq!(f.calls(api::METADATA), 0);
    // An error answer is built only for the APIs that have one.
    assert!(f
        .add(Rule::new(api::METADATA).error(codes::LEADER_NOT_AVAILABLE))
        .is_err());
}

#[test]
fn restart_keeps_port_data_and_rules_and_config_errors_are_reported() {
    let mut broker = TestBroker::builder()
        .config("num.partitions", "2")
        .config("retention.ms", "86400000")
        .start()
        .expect("broker starts");
    let bs = broker.bootstrap();
    broker.create_topic("kept", 1, 1).expect("topic created");
    let producer = clients::producer(&bs, &[("linger.ms", "0")]);
    let d = block_on(
        producer.send(
            FutureRecord::<str, str>::to("kept")
                .payload("v")
                .partition(0),
            Duration::from_secs(30),
        ),
    )
    .map_err(|(e, _)| e)
    .expect("delivered");
    assert_eq!(d.offset, 0);
    drop(producer);
    broker.stop().expect("stopped");
    assert!(!broker.is_running());
    assert!(matches!(
        broker.create_topic("x", 1, 1),
        Err(Error::Stopped)
    ));
    broker.restart().expect("restarted");
    assert_eq!(broker.bootstrap(), bs, "same port");
    assert_eq!(clients::watermarks(&bs, "kept", 0), (0, 1));
    assert!(matches!(
        broker.create_topic("kept", 1, 1),
        Err(Error::Kafka { code: 36, .. })
    ));

    let unknown = TestBroker::builder().config("no.such.key", "1").start();
    assert!(matches!(unknown, Err(Error::Config(m)) if m.contains("no.such.key")));
    let bad = TestBroker::builder().config("num.partitions", "0").start();
    assert!(matches!(bad, Err(Error::Config(m)) if m.contains("at least 1")));
}

#[test]
fn a_cluster_loses_its_partition_leader_and_elects_another() {
    let mut cluster = TestCluster::builder()
        .nodes(3)
        .start()
        .expect("cluster starts");
    cluster.create_topic("ha", 1, 3).expect("topic created");
    let bs = cluster.bootstrap();
    let producer = clients::producer(&bs, &[("linger.ms", "0"), ("acks", "all")]);
    let d = block_on(
        producer.send(
            FutureRecord::<str, str>::to("ha")
                .payload("before")
                .partition(0),
            Duration::from_secs(30),
        ),
    )
    .map_err(|(e, _)| e)
    .expect("delivered");
    assert_eq!(d.offset, 0);
    let leader = cluster.wait_for_leader("ha", 0).expect("a leader");
    cluster.kill(leader).expect("killed");
    let next = cluster.wait_for_leader("ha", 0).expect("a new leader");
    assert_ne!(next, leader);
    let d = block_on(
        producer.send(
            FutureRecord::<str, str>::to("ha")
                .payload("after")
                .partition(0),
            Duration::from_secs(30),
        ),
    )
    .map_err(|(e, _)| e)
    .expect("delivered to the new leader");
    assert_eq!(d.offset, 1);
    cluster.restart(leader).expect("restarted");
    assert!(cluster.is_running(leader));
    let got = clients::consume(
        &cluster.bootstrap(),
        "ha",
        &[0],
        rdkafka::Offset::Beginning,
        2,
    );
    let values: Vec<_> = got.values().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(values, vec![b"before".to_vec(), b"after".to_vec()]);
    // Dropping the cluster stops every node and removes every data directory.
    let dirs: Vec<std::path::PathBuf> = (0..cluster.len())
        .filter_map(|i| cluster.data_dir(i).map(|d| d.to_path_buf()))
        .collect();
    assert_eq!(dirs.len(), 3);
    let addrs: Vec<std::net::SocketAddr> = (0..3).filter_map(|i| cluster.node_addr(i)).collect();
    drop(cluster);
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    for a in &addrs {
        assert!(
            std::net::TcpStream::connect(a).is_err(),
            "{a} still accepts"
        );
    }
}
