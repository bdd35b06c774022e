//! Real clients for tests: rdkafka (librdkafka) producers, consumers and admin calls, all
//! blocking, so a test reads like the client application it stands for.

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

/// The producer failover tests run under: idempotent, acks=all, a minute to deliver, and
/// retries/reconnects every 50–100 ms so that the time to fail over is the broker's, not a
/// client backoff's.
pub fn failover_producer(bootstrap: &str) -> FutureProducer {
    producer(
        bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("message.timeout.ms", "60000"),
            ("retry.backoff.ms", "50"),
            ("retry.backoff.max.ms", "100"),
            ("reconnect.backoff.max.ms", "100"),
        ],
    )
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
    let admin: AdminClient<DefaultClientContext> = config(bootstrap, &[]).create().expect("admin");
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
