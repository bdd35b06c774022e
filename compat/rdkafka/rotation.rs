//! The fetch-rotation scenario for the rdkafka crate: with fetch.max.bytes below one batch on
//! a 4-partition topic, the broker still serves every partition in turn (KIP-227's rotation),
//! so all four partitions appear among the first 12 records.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use futures::executor::block_on;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::{config, Ctx};

const PARTS: i32 = 4;
const ROUNDS: i64 = 6;

/// A 20 KB payload, far above the consumer's fetch.max.bytes of 1024.
fn value(p: i32, r: i64) -> Vec<u8> {
    format!("p{p}r{r}.").repeat(4000).into_bytes()[..20000].to_vec()
}

pub fn fetch_rotation(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-rot-{}", c.tag);
    c.create(&name, PARTS, &[])?;
    let p: FutureProducer = config(&c.bs, &[("linger.ms", "0")]).create()?;
    for r in 0..ROUNDS {
        // One round at a time: one batch per partition and round.
        let sends: Vec<_> = (0..PARTS)
            .map(|part| {
                let key = format!("p{part}r{r}");
                let v = value(part, r);
                p.send_result(
                    FutureRecord::to(&name)
                        .key(&key)
                        .payload(&v)
                        .partition(part),
                )
                .map_err(|(e, _)| e)
            })
            .collect::<std::result::Result<_, _>>()?;
        for s in sends {
            block_on(s)?.map_err(|(e, _)| e)?;
        }
    }
    // librdkafka raises fetch.max.bytes to message.max.bytes: lower both.
    let consumer: BaseConsumer = config(
        &c.bs,
        &[
            ("group.id", "unused"),
            ("enable.auto.commit", "false"),
            ("message.max.bytes", "1000"),
            ("fetch.max.bytes", "1024"),
            ("max.partition.fetch.bytes", "1024"),
        ],
    )
    .create()?;
    let mut tpl = TopicPartitionList::new();
    for part in 0..PARTS {
        tpl.add_partition_offset(&name, part, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let (mut order, mut got) = (Vec::new(), BTreeMap::new());
    while got.len() < (PARTS as i64 * ROUNDS) as usize {
        let m = consumer
            .poll(Duration::from_secs(10))
            .with_context(|| format!("timed out after {}; order {order:?}", got.len()))??;
        order.push(m.partition());
        got.insert(
            (m.partition(), m.offset()),
            (
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            ),
        );
    }
    let first: BTreeSet<i32> = order.iter().take(12).copied().collect();
    ensure!(
        first.len() == PARTS as usize,
        "first 12 from partitions {:?}",
        &order[..12]
    );
    let want: BTreeMap<(i32, i64), (Vec<u8>, Vec<u8>)> = (0..PARTS)
        .flat_map(|part| {
            (0..ROUNDS).map(move |r| {
                (
                    (part, r),
                    (format!("p{part}r{r}").into_bytes(), value(part, r)),
                )
            })
        })
        .collect();
    ensure!(got == want, "{} consumed, payloads not equal", got.len());
    Ok(())
}
