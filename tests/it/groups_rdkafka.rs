//! Consumer groups with real clients: rdkafka consumers share partitions, rebalance when one
//! leaves, and together consume every record exactly once across the rebalance; a kcat member
//! killed without leaving loses its partitions after its session timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::clients;
use crate::support::{wait_for, TestBroker};
use futures::executor::block_on;
use futures::future::join_all;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;

/// A group consumer polling on its own thread, publishing its assignment and what it read.
pub(crate) struct Worker {
    stop: Arc<AtomicBool>,
    assignment: Arc<Mutex<Vec<i32>>>,
    thread: Option<JoinHandle<()>>,
}

pub(crate) type Seen = Arc<Mutex<Vec<(i32, i64, String)>>>;

impl Worker {
    pub(crate) fn start(
        bootstrap: &str,
        group: &str,
        topic: &str,
        seen: Seen,
        extra: &[(&str, &str)],
    ) -> Worker {
        let mut cfg = vec![
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "200"),
        ];
        cfg.extend_from_slice(extra);
        Worker::start_with(bootstrap, group, topic, seen, &cfg)
    }

    /// A consumer of `group` with auto-commit every 100 ms from the earliest offset, plus
    /// `cfg` (the group protocol's own settings).
    pub(crate) fn start_with(
        bootstrap: &str,
        group: &str,
        topic: &str,
        seen: Seen,
        extra: &[(&str, &str)],
    ) -> Worker {
        let mut cfg = vec![
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "100"),
        ];
        cfg.extend_from_slice(extra);
        let consumer: BaseConsumer = clients::config(bootstrap, &cfg).create().expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), assignment.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(m)) => {
                        let v =
                            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                        seen.lock().unwrap().push((m.partition(), m.offset(), v));
                    }
                    Some(Err(e)) => eprintln!("consumer error: {e}"),
                    None => {}
                }
                if let Ok(tpl) = consumer.assignment() {
                    let mut parts: Vec<i32> =
                        tpl.elements().iter().map(|e| e.partition()).collect();
                    parts.sort_unstable();
                    *a.lock().unwrap() = parts;
                }
            }
            // Leave cleanly: unsubscribing revokes the assignment (with a final auto-commit),
            // and anything polled meanwhile is still recorded. Dropping a consumer that still
            // holds partitions would poll — and silently discard, yet commit — records.
            consumer.unsubscribe();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(m)) => {
                        let v =
                            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                        seen.lock().unwrap().push((m.partition(), m.offset(), v));
                    }
                    Some(Err(_)) => {}
                    None => {
                        if consumer
                            .assignment()
                            .map(|a| a.count() == 0)
                            .unwrap_or(true)
                        {
                            break;
                        }
                    }
                }
            }
            drop(consumer);
        });
        Worker {
            stop,
            assignment,
            thread: Some(thread),
        }
    }

    pub(crate) fn assigned(&self) -> Vec<i32> {
        self.assignment.lock().unwrap().clone()
    }

    pub(crate) fn close(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<usize>) {
    let p = clients::producer(bootstrap, &[]);
    let values: Vec<String> = range.map(|i| format!("value-{i}")).collect();
    let fs: Vec<_> = values
        .iter()
        .map(|v| {
            p.send_result(FutureRecord::to(topic).key(v).payload(v))
                .map_err(|(e, _)| e)
                .expect("enqueue")
        })
        .collect();
    for d in block_on(join_all(fs)) {
        d.expect("not cancelled").expect("delivered");
    }
}

#[test]
fn three_consumers_split_partitions_and_survive_a_leave_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "shared", 6, &[]);
    produce(&bs, "shared", 0..5000);

    let seen: Seen = Arc::default();
    let workers: Vec<Worker> = (0..3)
        .map(|_| Worker::start(&bs, "trio", "shared", seen.clone(), &[]))
        .collect();
    wait_for(
        "three members with two partitions each",
        Duration::from_secs(60),
        || {
            let a: Vec<Vec<i32>> = workers.iter().map(Worker::assigned).collect();
            let all: BTreeSet<i32> = a.iter().flatten().copied().collect();
            (a.iter().all(|p| p.len() == 2) && all.len() == 6).then_some(())
        },
    );

    // One member leaves while more records arrive.
    let mut workers = workers;
    let leaver = workers.pop().unwrap();
    let producer = std::thread::spawn({
        let bs = bs.clone();
        move || produce(&bs, "shared", 5000..10_000)
    });
    leaver.close();
    producer.join().unwrap();
    wait_for(
        "the remaining two to own all six partitions",
        Duration::from_secs(60),
        || {
            let a: Vec<Vec<i32>> = workers.iter().map(Worker::assigned).collect();
            let all: BTreeSet<i32> = a.iter().flatten().copied().collect();
            (a.iter().all(|p| p.len() == 3) && all.len() == 6).then_some(())
        },
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < 10_000 {
        if std::time::Instant::now() > deadline {
            let s = seen.lock().unwrap();
            let mut per: BTreeMap<i32, (usize, i64)> = BTreeMap::new();
            for (p, o, _) in s.iter() {
                let e = per.entry(*p).or_default();
                e.0 += 1;
                e.1 = e.1.max(*o);
            }
            let c = clients::consumer(&bs);
            let ends: Vec<i64> = (0..6)
                .map(|p| {
                    c.fetch_watermarks("shared", p, Duration::from_secs(5))
                        .unwrap()
                        .1
                })
                .collect();
            let a: Vec<Vec<i32>> = workers.iter().map(Worker::assigned).collect();
            let committed = clients::config(&bs, &[("group.id", "trio")])
                .create::<BaseConsumer>()
                .unwrap()
                .committed_offsets(
                    {
                        let mut tpl = rdkafka::TopicPartitionList::new();
                        for p in 0..6 {
                            tpl.add_partition("shared", p);
                        }
                        tpl
                    },
                    Duration::from_secs(10),
                )
                .unwrap();
            eprintln!(
                "committed: {:?}",
                committed
                    .elements()
                    .iter()
                    .map(|e| (e.partition(), e.offset()))
                    .collect::<Vec<_>>()
            );
            panic!("consumed {} of 10000; per partition (count, max offset) {per:?}; ends {ends:?}; assignment {a:?}", s.len());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for w in workers {
        w.close();
    }

    let seen = seen.lock().unwrap().clone();
    let mut by_position: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for (p, o, v) in &seen {
        assert!(
            by_position.insert((*p, *o), v.clone()).is_none(),
            "offset {p}/{o} consumed twice"
        );
    }
    let values: BTreeSet<String> = by_position.values().cloned().collect();
    let expected: BTreeSet<String> = (0..10_000).map(|i| format!("value-{i}")).collect();
    assert_eq!(seen.len(), 10_000, "no duplicates");
    assert_eq!(values, expected, "every record exactly once");

    // The group committed everything it consumed.
    let c = clients::consumer(&bs);
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..6 {
        tpl.add_partition("shared", p);
    }
    let committed = clients::config(&bs, &[("group.id", "trio")])
        .create::<BaseConsumer>()
        .unwrap()
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| e.offset().to_raw().unwrap_or(0))
        .sum();
    let end: i64 = (0..6)
        .map(|p| {
            c.fetch_watermarks("shared", p, Duration::from_secs(5))
                .unwrap()
                .1
        })
        .sum();
    assert_eq!(
        total, end,
        "committed offsets reach the end of every partition"
    );
}

#[test]
fn a_killed_member_loses_its_partitions_after_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("group.min.session.timeout.ms", "500")]);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "pair", 2, &[]);
    let seen: Seen = Arc::default();
    let survivor = Worker::start(
        &bs,
        "duo",
        "pair",
        seen.clone(),
        &[("session.timeout.ms", "2000")],
    );
    wait_for(
        "the first member to own both partitions",
        Duration::from_secs(30),
        || (survivor.assigned() == vec![0, 1]).then_some(()),
    );

    let mut kcat = Command::new("kcat")
        .args([
            "-b",
            &bs,
            "-G",
            "duo",
            "pair",
            "-q",
            "-X",
            "session.timeout.ms=2000",
            "-X",
            "heartbeat.interval.ms=200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kcat installed (scripts/setup-test-deps)");
    wait_for(
        "kcat to take one partition",
        Duration::from_secs(30),
        || (survivor.assigned().len() == 1).then_some(()),
    );
    let d = broker_describe(&bs, "duo");
    assert_eq!(d, 2, "two members");

    kcat.kill().unwrap();
    kcat.wait().unwrap();
    wait_for(
        "the killed member's partition to move",
        Duration::from_secs(30),
        || (survivor.assigned() == vec![0, 1]).then_some(()),
    );
    assert_eq!(broker_describe(&bs, "duo"), 1);
    survivor.close();
}

/// Number of members DescribeGroups reports.
fn broker_describe(bs: &str, group: &str) -> usize {
    let mut c = crate::support::RawClient::connect(bs);
    let req = kafka_protocol::messages::DescribeGroupsRequest::default().with_groups(vec![
        kafka_protocol::messages::GroupId(kafka_protocol::protocol::StrBytes::from_string(
            group.to_string(),
        )),
    ]);
    c.call(&req, 5).groups[0].members.len()
}
