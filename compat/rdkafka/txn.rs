//! The transaction scenarios for the rdkafka crate: commit and abort seen through both
//! isolation levels, fencing by a second producer of the same transactional.id, and
//! consume-transform-produce with the input offsets committed inside the transaction.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{config, Ctx};

const T: Duration = Duration::from_secs(30);

fn txn_producer(c: &Ctx, id: &str) -> Result<BaseProducer> {
    let p: BaseProducer = config(&c.bs, &[("transactional.id", id)]).create()?;
    p.init_transactions(T)?;
    Ok(p)
}

fn send(p: &BaseProducer, topic: &str, value: &str) -> Result<()> {
    p.send(BaseRecord::<(), str>::to(topic).partition(0).payload(value))
        .map_err(|(e, _)| e)?;
    p.poll(Duration::ZERO);
    Ok(())
}

/// Every value of partition 0 up to the end the consumer sees (the LSO for read_committed).
fn read_values(c: &Ctx, topic: &str, isolation: &str) -> Result<Vec<String>> {
    let consumer: BaseConsumer = config(
        &c.bs,
        &[
            ("group.id", "unused"),
            ("isolation.level", isolation),
            ("enable.partition.eof", "true"),
        ],
    )
    .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    loop {
        ensure!(
            Instant::now() < deadline,
            "timed out after {} records",
            got.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok(got),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                got.push(String::from_utf8_lossy(m.payload().unwrap_or(&[])).into_owned())
            }
        }
    }
}

pub fn commit_abort(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-txn-{}", c.tag);
    c.create(&name, 1, &[])?;
    let p = txn_producer(c, &name)?;
    let mut expected = Vec::new();
    for (txn, n, commit) in [(0, 100, true), (1, 50, false), (2, 100, true)] {
        p.begin_transaction()?;
        let values: Vec<String> = (0..n).map(|i| format!("t{txn}-{i}")).collect();
        for v in &values {
            send(&p, &name, v)?;
        }
        if commit {
            p.commit_transaction(T)?;
            expected.extend(values);
        } else {
            p.flush(T)?;
            p.abort_transaction(T)?;
        }
    }
    let committed = read_values(c, &name, "read_committed")?;
    ensure!(
        committed == expected,
        "read_committed: {} records, expected 200 in order",
        committed.len()
    );
    let all = read_values(c, &name, "read_uncommitted")?;
    ensure!(all.len() == 250, "read_uncommitted: {}", all.len());
    Ok(())
}

pub fn fencing(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-fence-{}", c.tag);
    c.create(&name, 1, &[])?;
    let first = txn_producer(c, &name)?;
    first.begin_transaction()?;
    send(&first, &name, "zombie")?;
    first.flush(T)?;
    let second = txn_producer(c, &name)?;
    second.begin_transaction()?;
    send(&second, &name, "winner")?;
    second.commit_transaction(T)?;
    let fenced = first.commit_transaction(T);
    ensure!(fenced.is_err(), "the fenced producer committed");
    let got = read_values(c, &name, "read_committed")?;
    ensure!(got == ["winner"], "{got:?}");
    Ok(())
}

pub fn offsets(c: &mut Ctx) -> Result<()> {
    let (src, dst, group) = (
        format!("rd-eos-in-{}", c.tag),
        format!("rd-eos-out-{}", c.tag),
        format!("rd-eos-{}", c.tag),
    );
    c.create(&src, 1, &[])?;
    c.create(&dst, 1, &[])?;
    let plain: BaseProducer = config(&c.bs, &[]).create()?;
    for i in 0..100 {
        send(&plain, &src, &format!("in-{i}"))?;
    }
    plain.flush(T)?;
    let consumer: BaseConsumer = config(
        &c.bs,
        &[
            ("group.id", &group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
        ],
    )
    .create()?;
    consumer.subscribe(&[&src])?;
    let p = txn_producer(c, &group)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = 0;
    while done < 100 {
        ensure!(Instant::now() < deadline, "timed out after {done}");
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        let value = String::from_utf8_lossy(m.payload().unwrap_or(&[])).replace("in-", "out-");
        p.begin_transaction()?;
        send(&p, &dst, &value)?;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(&src, 0, Offset::Offset(m.offset() + 1))?;
        let cgm = consumer.group_metadata().context("group metadata")?;
        p.send_offsets_to_transaction(&offsets, &cgm, T)?;
        p.commit_transaction(T)?;
        done += 1;
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&src, 0);
    let committed = consumer.committed_offsets(tpl, T)?;
    let at = committed.find_partition(&src, 0).map(|e| e.offset());
    ensure!(at == Some(Offset::Offset(100)), "committed {at:?}");
    super::close(consumer);
    let mut out = read_values(c, &dst, "read_committed")?;
    out.sort();
    let mut want: Vec<String> = (0..100).map(|i| format!("out-{i}")).collect();
    want.sort();
    ensure!(out == want, "{} outputs", out.len());
    Ok(())
}
