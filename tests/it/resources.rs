//! Resource faults: many concurrent connections past `max.connections`, and running out of
//! file descriptors. The broker refuses what it cannot take, logs why, and keeps serving the
//! connections it has. Idle partitions hold no file descriptors, so a thousand of them fit
//! under a 256-descriptor limit. The connection test holds about 1,000 sockets in the test
//! process, which every integration test shares: it needs `ulimit -n` well above that (the
//! limits tested are the broker child's own).

use std::time::Duration;

use crate::support::{encode_batch, free_port, now_ms, raw, wait_for, BrokerProcess, RawClient};
use kafka_protocol::messages::ApiVersionsRequest;

fn answers(c: &mut RawClient) -> bool {
    let f = c.frame(&ApiVersionsRequest::default(), 3);
    c.send_raw(&f);
    c.read_frame().is_some()
}

#[test]
fn a_thousand_connections_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(&dir.path().join("data"), &["--set", "max.connections=900"]);
    // The readiness probe's connection is gone once its slot is free again.
    let mut held: Vec<RawClient> = Vec::new();
    wait_for("900 connections served", Duration::from_secs(60), || {
        while held.len() < 900 {
            let mut c = RawClient::connect(&broker.addr);
            if !answers(&mut c) {
                return None;
            }
            held.push(c);
        }
        Some(())
    });
    let mut refused = 0;
    for _ in 0..100 {
        let mut c = RawClient::connect(&broker.addr);
        if c.is_closed() {
            refused += 1;
        }
    }
    assert_eq!(refused, 100, "connections past max.connections are refused");
    for c in held.iter_mut().step_by(37) {
        assert!(answers(c), "existing connections are unharmed");
    }
    let log = std::fs::read_to_string(&broker.log).unwrap();
    assert!(
        log.contains("max.connections (900) reached"),
        "a clear log line:\n{}",
        &log[..log.len().min(2000)]
    );
    held.truncate(10);
    wait_for("a freed slot", Duration::from_secs(10), || {
        let mut c = RawClient::connect(&broker.addr);
        answers(&mut c).then_some(())
    });
}

#[test]
fn running_out_of_file_descriptors_does_not_stop_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn_limited(free_port(), &dir.path().join("data"), &[], Some(64));
    let mut first = RawClient::connect(&broker.addr);
    assert!(answers(&mut first));
    // More connections than descriptors: the kernel completes them, the broker cannot accept.
    let extra: Vec<std::net::TcpStream> = (0..120)
        .filter_map(|_| std::net::TcpStream::connect(&broker.addr).ok())
        .collect();
    assert!(!extra.is_empty());
    wait_for(
        "the accept failure to be logged",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(&broker.log)
                .unwrap()
                .contains("accept failed")
                .then_some(())
        },
    );
    assert!(
        answers(&mut first),
        "an existing connection keeps being served"
    );
    drop(extra);
    wait_for(
        "new connections once descriptors are free",
        Duration::from_secs(30),
        || {
            let mut c = RawClient::connect(&broker.addr);
            answers(&mut c).then_some(())
        },
    );
    assert!(answers(&mut first));
}

/// Writes one record to each of 1,000 partitions and reads them all back after a restart, with
/// the broker limited to 256 descriptors: segments release their files once idle, so only the
/// partitions in use hold any (Kafka keeps three per segment open for good).
#[test]
fn a_thousand_partitions_under_256_descriptors() {
    const PARTITIONS: i32 = 1000;
    const ROUND: i32 = 100;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let extra = ["--set", "log.flush.scheduler.interval.ms=50"];
    let broker = BrokerProcess::spawn_limited(port, &data, &extra, Some(256));
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(raw::create_topic(&mut c, "many", PARTITIONS, &[]), 0);
    let settle = |b: &BrokerProcess| {
        wait_for("idle files to be released", Duration::from_secs(20), || {
            (b.open_fds() < 64).then_some(())
        })
    };
    settle(&broker);
    for first in (0..PARTITIONS).step_by(ROUND as usize) {
        for p in first..first + ROUND {
            let batch = encode_batch(&[(None, &format!("record of {p}"))], None, now_ms());
            let r = raw::produce(&mut c, "many", p, batch);
            assert_eq!((r.error_code, r.base_offset), (0, 0), "partition {p}");
        }
        settle(&broker);
    }
    drop(c);
    broker.terminate();

    let broker = BrokerProcess::spawn_limited(port, &data, &extra, Some(256));
    settle(&broker);
    let mut c = RawClient::connect(&broker.addr);
    for first in (0..PARTITIONS).step_by(ROUND as usize) {
        for p in first..first + ROUND {
            let d = raw::fetch(&mut c, "many", p, 0, 1 << 20);
            assert_eq!((d.error_code, d.high_watermark), (0, 1), "partition {p}");
            let records = d.records.expect("records");
            let got = gregor::log::records::decode(&records).expect("decode");
            let values: Vec<_> = got.iter().filter_map(|r| r.value.clone()).collect();
            assert_eq!(values, vec![bytes::Bytes::from(format!("record of {p}"))]);
        }
        settle(&broker);
    }
}
