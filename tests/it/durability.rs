//! Data survives restarts: graceful stops, kill -9, and torn or corrupted tails, which are cut
//! back to the last whole, valid batch on restart.

use std::path::Path;
use std::process::Command;

use crate::support::clients;
use crate::support::{BrokerProcess, TestBroker};
use futures::executor::block_on;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

/// Produces `n` records one at a time (one batch each), returning their offsets.
fn produce_each(bootstrap: &str, topic: &str, partition: i32, prefix: &str, n: usize) -> Vec<i64> {
    let p = clients::producer(bootstrap, &[("linger.ms", "0"), ("acks", "all")]);
    (0..n)
        .map(|i| {
            let key = format!("{prefix}-k{i}");
            let value = format!("{prefix}-v{i}");
            let f = p
                .send_result(
                    FutureRecord::to(topic)
                        .key(&key)
                        .payload(&value)
                        .partition(partition),
                )
                .map_err(|(e, _)| e)
                .expect("enqueue");
            block_on(f)
                .expect("not cancelled")
                .expect("acknowledged")
                .offset
        })
        .collect()
}

fn values(bootstrap: &str, topic: &str, partition: i32, n: usize) -> Vec<String> {
    clients::consume(bootstrap, topic, &[partition], Offset::Beginning, n)
        .into_values()
        .map(|r| String::from_utf8(r.value.unwrap_or_default()).unwrap())
        .collect()
}

#[test]
fn graceful_restart_keeps_records_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("log.segment.bytes", "2000")]);
    clients::create_topic(&broker.bootstrap(), "g", 1, &[]);
    let first = produce_each(&broker.bootstrap(), "g", 0, "a", 60);
    assert_eq!(first, (0..60).collect::<Vec<_>>());
    broker.stop();
    assert!(
        dir.path().join(".gregor_cleanshutdown").exists(),
        "clean shutdown marker written"
    );

    let broker = TestBroker::start(dir.path(), &[("log.segment.bytes", "2000")]);
    assert!(
        !dir.path().join(".gregor_cleanshutdown").exists(),
        "marker consumed at start"
    );
    let bs = broker.bootstrap();
    assert_eq!(clients::watermarks(&bs, "g", 0), (0, 60));
    let more = produce_each(&bs, "g", 0, "b", 5);
    assert_eq!(more, (60..65).collect::<Vec<_>>());
    let got = values(&bs, "g", 0, 65);
    let want: Vec<String> = (0..60)
        .map(|i| format!("a-v{i}"))
        .chain((0..5).map(|i| format!("b-v{i}")))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn kill9_restart_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::spawn(&data, &[]);
    clients::create_topic(&broker.addr, "k", 2, &[]);
    let p0 = produce_each(&broker.addr, "k", 0, "p0", 40);
    let p1 = produce_each(&broker.addr, "k", 1, "p1", 25);
    broker.kill9();
    assert!(!data.join(".gregor_cleanshutdown").exists());

    let broker = BrokerProcess::spawn(&data, &[]);
    assert_eq!(
        clients::watermarks(&broker.addr, "k", 0),
        (0, p0.len() as i64)
    );
    assert_eq!(
        clients::watermarks(&broker.addr, "k", 1),
        (0, p1.len() as i64)
    );
    assert_eq!(
        values(&broker.addr, "k", 0, 40),
        (0..40).map(|i| format!("p0-v{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        produce_each(&broker.addr, "k", 1, "after", 3),
        vec![25, 26, 27]
    );
    broker.terminate();
    assert!(
        data.join(".gregor_cleanshutdown").exists(),
        "SIGTERM shuts down cleanly"
    );
}

fn dump(segment: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gregor"))
        .arg("dump-log")
        .arg(segment)
        .output()
        .expect("dump-log runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Crashes a broker after 30 single-record batches, damages the tail with `damage`, restarts,
/// and checks reads end at the last good batch and producing continues from there.
fn damaged_tail(damage: impl Fn(&Path, u64), expect_in_dump: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::spawn(&data, &[]);
    clients::create_topic(&broker.addr, "t", 1, &[]);
    produce_each(&broker.addr, "t", 0, "x", 30);
    broker.kill9();

    let seg = data.join("t-0/00000000000000000000.log");
    let len = std::fs::metadata(&seg).unwrap().len();
    damage(&seg, len);
    assert!(
        dump(&seg).contains(expect_in_dump),
        "dump-log reports the damage:\n{}",
        dump(&seg)
    );

    let broker = BrokerProcess::spawn(&data, &[]);
    assert_eq!(
        clients::watermarks(&broker.addr, "t", 0),
        (0, 29),
        "the damaged last batch is gone"
    );
    assert_eq!(
        values(&broker.addr, "t", 0, 29),
        (0..29).map(|i| format!("x-v{i}")).collect::<Vec<_>>()
    );
    assert_eq!(produce_each(&broker.addr, "t", 0, "y", 2), vec![29, 30]);
    let log = std::fs::read_to_string(&broker.log).unwrap();
    assert!(log.contains("truncated"), "recovery is logged:\n{log}");
    let after = dump(&seg);
    assert!(
        !after.contains("isvalid: false") && !after.contains("invalid bytes"),
        "{after}"
    );
}

#[test]
fn torn_tail_is_cut_back_to_the_last_whole_batch() {
    damaged_tail(
        |seg, len| {
            let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
            f.set_len(len - 7).unwrap();
        },
        "invalid bytes at the end",
    );
}

#[test]
fn corrupt_last_batch_is_cut_back() {
    damaged_tail(
        |seg, len| {
            let mut bytes = std::fs::read(seg).unwrap();
            bytes[len as usize - 3] ^= 0x5a;
            std::fs::write(seg, bytes).unwrap();
        },
        "isvalid: false",
    );
}
