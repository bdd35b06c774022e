//! The clients of the Jepsen run, each on its own thread, all logging into one [`Recorder`]:
//! - `producers` idempotent acks=all producers (librdkafka, `enable.idempotence=true`), each
//!   writing unique values `p<id>-<seq>` round-robin over the topic's partitions, paced;
//! - `group_consumers` members of one consumer group (subscribe, auto-commit every 200 ms),
//!   whose assignments and revocations are logged from librdkafka's rebalance callback, so
//!   they sit before the first read of the new assignment;
//! - one `assign()` reader of every partition from offset 0, never reassigned;
//! - one `ListOffsets(latest)` poller (librdkafka's watermark query) over every partition;
//! - at the end, [`final_log`]: every partition read from the start up to its high watermark
//!   by a fresh client, after the faults healed.
//!
//! Send outcomes: success with its offset; *failed* only for errors that prove the batch never
//! reached a broker's log (purged from the local queue, refused locally, or refused by the
//! broker before any append: too large); everything else (timeouts, purged in flight, fatal
//! idempotence errors, broker errors after retries) is *unknown*.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::history::{Event, Op, Partition};
use crate::support::clients;

/// The shared, ordered event log with its clock.
pub struct Recorder {
    start: Instant,
    events: Mutex<Vec<Event>>,
    /// When the latest acknowledgement arrived (ms since the start; 0: none yet).
    last_ack_ms: AtomicU64,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
            last_ack_ms: AtomicU64::new(0),
        })
    }

    pub fn log(&self, op: Op) {
        let at_ms = self.start.elapsed().as_millis() as u64;
        if matches!(op, Op::SendOk { .. }) {
            self.last_ack_ms.fetch_max(at_ms, Ordering::AcqRel);
        }
        self.events
            .lock()
            .expect("recorder lock")
            .push(Event { at_ms, op });
    }

    pub fn last_ack_ms(&self) -> u64 {
        self.last_ack_ms.load(Ordering::Acquire)
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().expect("recorder lock"))
    }
}

/// What the clients are told (see the module doc).
#[derive(Debug, Clone)]
pub struct Clients {
    pub bootstrap: String,
    pub topic: String,
    pub partitions: i32,
    pub producers: usize,
    pub group_consumers: usize,
    /// Pause between two sends of one producer.
    pub send_every: Duration,
    /// librdkafka's `message.timeout.ms`: a send still unanswered then is *unknown*.
    pub message_timeout: Duration,
}

/// The running clients.
pub struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Idempotent producers that hit a fatal error and were replaced.
    pub fatal: Arc<AtomicUsize>,
}

impl Running {
    /// Stops every client: producers flush (up to `flush` each), then purge what is left.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts every client thread.
pub fn start(c: &Clients, rec: &Arc<Recorder>) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let fatal = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for id in 0..c.producers {
        let (c, rec, stop, fatal) = (c.clone(), rec.clone(), stop.clone(), fatal.clone());
        threads.push(std::thread::spawn(move || {
            produce(id, &c, &rec, &stop, &fatal)
        }));
    }
    for id in 0..c.group_consumers {
        let (c, rec, stop) = (c.clone(), rec.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            group_member(id, &c, &rec, &stop)
        }));
    }
    let (c2, rec2, stop2) = (c.clone(), rec.clone(), stop.clone());
    threads.push(std::thread::spawn(move || reader(&c2, &rec2, &stop2)));
    let (c3, rec3, stop3) = (c.clone(), rec.clone(), stop.clone());
    threads.push(std::thread::spawn(move || poll_latest(&c3, &rec3, &stop3)));
    Running {
        stop,
        threads,
        fatal,
    }
}

/// Logs every delivery report.
struct SendLog(Arc<Recorder>);

impl ClientContext for SendLog {
    /// librdkafka's own log (with `JEPSEN_CLIENT_DEBUG=eos` and the like: its debug contexts),
    /// stamped with the wall clock to line up with the nodes' logs.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        eprintln!("jepsen-client {ms} {level:?} {fac}: {log_message}");
    }
}

impl ProducerContext for SendLog {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        let value = |m: &rdkafka::message::BorrowedMessage<'_>| {
            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
        };
        let op = match r {
            Ok(m) => Op::SendOk {
                value: value(m),
                partition: m.partition(),
                offset: m.offset(),
            },
            Err((e, m)) if definite(e) => Op::SendFailed {
                value: value(m),
                why: e.to_string(),
            },
            Err((e, m)) => Op::SendUnknown {
                value: value(m),
                why: e.to_string(),
            },
        };
        self.0.log(op);
    }
}

/// Errors after which the record is certainly not in any log (see the module doc).
fn definite(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::PurgeQueue
                | RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopic
        )
    )
}

fn new_producer(c: &Clients, rec: &Arc<Recorder>) -> ThreadedProducer<SendLog> {
    let timeout = c.message_timeout.as_millis().to_string();
    let request_timeout = (c.message_timeout.as_millis() / 2)
        .clamp(1000, 5000)
        .to_string();
    let debug = std::env::var("JEPSEN_CLIENT_DEBUG").unwrap_or_default();
    let mut cfg = clients::config(
        &c.bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
            ("message.timeout.ms", &timeout),
            ("request.timeout.ms", &request_timeout),
            ("retry.backoff.ms", "50"),
            ("retry.backoff.max.ms", "200"),
            ("reconnect.backoff.max.ms", "200"),
            ("queue.buffering.max.messages", "100000"),
        ],
    );
    if !debug.is_empty() {
        cfg.set("debug", &debug)
            .set_log_level(rdkafka::config::RDKafkaLogLevel::Debug);
    }
    cfg.create_with_context(SendLog(rec.clone()))
        .expect("producer")
}

fn produce(id: usize, c: &Clients, rec: &Arc<Recorder>, stop: &AtomicBool, fatal: &AtomicUsize) {
    let mut p = new_producer(c, rec);
    let mut seq: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        if p.client().fatal_error().is_some() {
            // The idempotent producer is dead; its unanswered sends are purged (unknown or
            // failed) when it drops. A new one has a new producer id; values stay unique.
            fatal.fetch_add(1, Ordering::AcqRel);
            p = new_producer(c, rec);
        }
        let value = format!("p{id}-{seq}");
        let partition = (seq % c.partitions as u64) as Partition;
        seq += 1;
        rec.log(Op::SendInvoke {
            value: value.clone(),
            partition,
        });
        loop {
            let r = BaseRecord::<(), str>::to(&c.topic)
                .payload(&value)
                .partition(partition);
            match p.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if !stop.load(Ordering::Acquire) =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err((e, _)) => {
                    // Refused before it was queued: never sent.
                    rec.log(Op::SendFailed {
                        value: value.clone(),
                        why: e.to_string(),
                    });
                    break;
                }
            }
        }
        std::thread::sleep(c.send_every);
    }
    let _ = p.flush(c.message_timeout);
    // Dropping purges the rest and delivers their reports.
}

/// Logs a group member's assignments.
struct Member {
    rec: Arc<Recorder>,
    name: String,
}

impl ClientContext for Member {}

impl ConsumerContext for Member {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        let parts = |t: &TopicPartitionList| t.elements().iter().map(|e| e.partition()).collect();
        match r {
            Rebalance::Assign(t) => self.rec.log(Op::Assign {
                consumer: self.name.clone(),
                partitions: parts(t),
                from: None,
            }),
            Rebalance::Revoke(t) => self.rec.log(Op::Revoke {
                consumer: self.name.clone(),
                partitions: parts(t),
            }),
            Rebalance::Error(_) => {}
        }
    }
}

fn log_polls<C: ConsumerContext>(
    name: &str,
    consumer: &BaseConsumer<C>,
    rec: &Recorder,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Acquire) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            rec.log(Op::Poll {
                consumer: name.to_string(),
                partition: m.partition(),
                offset: m.offset(),
                value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            });
        }
    }
}

fn consumer_config(c: &Clients, group: &str, auto_commit: bool) -> rdkafka::ClientConfig {
    clients::config(
        &c.bootstrap,
        &[
            ("group.id", group),
            (
                "enable.auto.commit",
                if auto_commit { "true" } else { "false" },
            ),
            ("auto.commit.interval.ms", "200"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
            ("reconnect.backoff.max.ms", "200"),
        ],
    )
}

fn group_member(id: usize, c: &Clients, rec: &Arc<Recorder>, stop: &AtomicBool) {
    let name = format!("group-{id}");
    let consumer: BaseConsumer<Member> = consumer_config(c, "jepsen", true)
        .create_with_context(Member {
            rec: rec.clone(),
            name: name.clone(),
        })
        .expect("group consumer");
    consumer.subscribe(&[&c.topic]).expect("subscribe");
    log_polls(&name, &consumer, rec, stop);
}

fn reader(c: &Clients, rec: &Arc<Recorder>, stop: &AtomicBool) {
    let consumer: BaseConsumer = consumer_config(c, "jepsen-reader-unused", false)
        .create()
        .expect("reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..c.partitions {
        tpl.add_partition_offset(&c.topic, p, Offset::Beginning)
            .expect("tpl");
    }
    rec.log(Op::Assign {
        consumer: "reader".into(),
        partitions: (0..c.partitions).collect(),
        from: Some(0),
    });
    consumer.assign(&tpl).expect("assign");
    log_polls("reader", &consumer, rec, stop);
}

fn poll_latest(c: &Clients, rec: &Arc<Recorder>, stop: &AtomicBool) {
    let consumer: BaseConsumer = consumer_config(c, "jepsen-latest-unused", false)
        .create()
        .expect("ListOffsets client");
    while !stop.load(Ordering::Acquire) {
        for p in 0..c.partitions {
            if let Ok((_, high)) = consumer.fetch_watermarks(&c.topic, p, Duration::from_secs(1)) {
                rec.log(Op::Latest {
                    partition: p,
                    offset: high,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads every partition from offset 0 to its high watermark within `deadline`; the high
/// watermarks are logged as `ListOffsets(latest)` observations too. Fails if the read is not
/// contiguous from 0 or not done in time.
pub fn final_log(
    c: &Clients,
    rec: &Recorder,
    deadline: Duration,
) -> Result<BTreeMap<Partition, Vec<(i64, String)>>, String> {
    let until = Instant::now() + deadline;
    let consumer: BaseConsumer = consumer_config(c, "jepsen-final-unused", false)
        .create()
        .map_err(|e| e.to_string())?;
    let mut high = BTreeMap::new();
    for p in 0..c.partitions {
        let hw = loop {
            match consumer.fetch_watermarks(&c.topic, p, Duration::from_secs(2)) {
                Ok((_, h)) => break h,
                Err(e) if Instant::now() > until => {
                    return Err(format!("no high watermark for partition {p}: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        rec.log(Op::Latest {
            partition: p,
            offset: hw,
        });
        high.insert(p, hw);
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..c.partitions {
        tpl.add_partition_offset(&c.topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut log: BTreeMap<Partition, Vec<(i64, String)>> =
        (0..c.partitions).map(|p| (p, Vec::new())).collect();
    let done = |log: &BTreeMap<Partition, Vec<(i64, String)>>| {
        high.iter()
            .all(|(p, hw)| log[p].last().map_or(0, |(o, _)| o + 1) >= *hw)
    };
    while !done(&log) {
        if Instant::now() > until {
            let got: Vec<_> = log.iter().map(|(p, l)| (p, l.len(), high[p])).collect();
            return Err(format!(
                "final read incomplete (partition, read, high watermark): {got:?}"
            ));
        }
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
        let Some(l) = log.get_mut(&m.partition()) else {
            continue;
        };
        // Offsets are dense here (no transactions, no compaction): a gap in the final
        // read would fake lost writes, so it fails the run instead.
        let next = l.last().map_or(0, |(o, _)| o + 1);
        if m.offset() == next {
            l.push((m.offset(), value));
        } else if m.offset() > next {
            return Err(format!(
                "the final read of partition {} jumped from {next} to {}",
                m.partition(),
                m.offset()
            ));
        }
    }
    Ok(log)
}
