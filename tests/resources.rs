//! Resource faults: many concurrent connections past `max.connections`, and running out of
//! file descriptors. The broker refuses what it cannot take, logs why, and keeps serving the
//! connections it has.

mod common;

use std::time::Duration;

use common::{free_port, wait_for, BrokerProcess, RawClient};
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
