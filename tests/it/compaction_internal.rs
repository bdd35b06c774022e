//! The coordinators' own logs are ordinary compacted logs: `__consumer_offsets` and
//! `__transaction_state` (one partition each here, so every key lands in partition 0), with
//! small segments (`offsets.topic.segment.bytes`,
//! `transaction.state.log.segment.bytes`), are compacted by the broker's cleaner thread while
//! real clients (librdkafka) commit offsets over and over, delete a group, and run
//! transactions that send offsets to a group, some committed and some aborted. Once cleaned,
//! every key is left once (a deleted group's offsets as tombstones only, aborted transactional
//! offsets gone), and after a restart — which replays the cleaned logs — the committed offsets
//! are exactly the latest ones and every transactional id is as before.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use futures::executor::block_on;
use gregor::group::records::GroupRecord;
use gregor::log::Partition;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::clients;
use crate::support::{wait_for, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(20);
const PARTITIONS: i32 = 4;
const TXN_IDS: i32 = 3;

fn props() -> Vec<(&'static str, &'static str)> {
    vec![
        ("offsets.topic.num.partitions", "1"),
        ("transaction.state.log.num.partitions", "1"),
        ("offsets.topic.segment.bytes", "2048"),
        ("transaction.state.log.segment.bytes", "2048"),
        ("log.cleaner.backoff.ms", "50"),
        ("log.cleaner.min.cleanable.ratio", "0.01"),
    ]
}

fn group_consumer(bs: &str, group: &str) -> BaseConsumer {
    clients::config(bs, &[("group.id", group), ("enable.auto.commit", "false")])
        .create()
        .expect("consumer")
}

fn tpl(offsets: &[(i32, i64)]) -> TopicPartitionList {
    let mut t = TopicPartitionList::new();
    for (p, o) in offsets {
        t.add_partition_offset("oc", *p, Offset::Offset(*o))
            .expect("tpl");
    }
    t
}

/// The group's committed offset of every partition of "oc" (None: nothing committed).
fn committed(bs: &str, group: &str) -> Vec<Option<i64>> {
    let c = group_consumer(bs, group);
    let all: Vec<(i32, i64)> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let got = c.committed_offsets(tpl(&all), TIMEOUT).expect("committed");
    (0..PARTITIONS)
        .map(|p| match got.find_partition("oc", p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect()
}

fn commit(bs: &str, group: &str, offsets: &[(i32, i64)]) {
    group_consumer(bs, group)
        .commit(&tpl(offsets), CommitMode::Sync)
        .expect("commit");
}

/// Every record of an internal log: (key, value).
fn records(p: &Partition) -> Vec<(Bytes, Option<Bytes>)> {
    let log = p.lock().expect("lock");
    let mut out = Vec::new();
    gregor::log::records::for_each_record(&log, 0, |r| {
        if let Some(k) = r.key {
            out.push((k, r.value));
        }
        Ok(())
    })
    .expect("readable");
    out
}

/// Per group: (offset records with a value, offset tombstones) in `__consumer_offsets-0`.
fn offset_records(broker: &TestBroker) -> HashMap<String, (usize, usize)> {
    let recs = broker.with_broker(|b| async move {
        let r = b.replicas.get("__consumer_offsets", 0).expect("hosted");
        records(r.log())
    });
    let mut out: HashMap<String, (usize, usize)> = HashMap::new();
    for (k, v) in recs {
        // Markers (control records) do not decode as group records.
        if let Ok(GroupRecord::Offset { group, value, .. }) = GroupRecord::decode(k, v) {
            let e = out.entry(group).or_default();
            if value.is_some() {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    out
}

/// How many records each transactional id has in `__transaction_state-0`.
fn txn_records(broker: &TestBroker) -> HashMap<String, usize> {
    let recs = broker.with_broker(|b| async move {
        let r = b.replicas.get("__transaction_state", 0).expect("hosted");
        records(r.log())
    });
    let mut out = HashMap::new();
    for (k, _) in recs {
        // Key: type i16 = 0, then the id as an i16-length string.
        if k.len() >= 4 && k[..2] == [0, 0] {
            let n = i16::from_be_bytes([k[2], k[3]]).max(0) as usize;
            if let Some(id) = k.get(4..4 + n) {
                *out.entry(String::from_utf8_lossy(id).into_owned())
                    .or_default() += 1;
            }
        }
    }
    out
}

fn describe_all(broker: &TestBroker) -> BTreeMap<String, String> {
    broker.with_broker(|b| async move {
        (0..TXN_IDS)
            .map(|i| {
                let id = format!("tx-{i}");
                let shard = b.txns.get(0).expect("loaded");
                let d = shard.describe(&id).expect("described");
                (id, format!("{d:?}"))
            })
            .collect()
    })
}

fn transactional(bs: &str, id: &str) -> FutureProducer {
    let p = clients::producer(bs, &[("transactional.id", id), ("acks", "all")]);
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p
}

#[test]
fn consumer_offsets_and_transaction_state_are_compacted_and_replay_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let props = props();
    let broker = TestBroker::start(dir.path(), &props);
    let bs = broker.bootstrap();
    clients::create_topic(&bs, "oc", PARTITIONS, &[]);
    clients::create_topic(&bs, "txo-out", 1, &[]);

    // Plain commits, over and over: the latest per partition is what counts.
    let mut latest = vec![None; PARTITIONS as usize];
    for round in 0..120i64 {
        let offsets: Vec<(i32, i64)> = (0..PARTITIONS)
            .map(|p| (p, round * 10 + p as i64))
            .collect();
        commit(&bs, "og", &offsets);
        for &(p, o) in &offsets {
            latest[p as usize] = Some(o);
        }
        if round < 30 {
            commit(&bs, "og-deleted", &offsets);
        }
    }
    let admin: AdminClient<DefaultClientContext> =
        clients::config(&bs, &[]).create().expect("admin");
    for r in
        block_on(admin.delete_groups(&["og-deleted"], &AdminOptions::new())).expect("delete_groups")
    {
        r.expect("group deleted");
    }

    // Transactions sending offsets of "oc" partition i to group "tg"; every third aborted,
    // the last one aborted too.
    let mut tg = vec![None; PARTITIONS as usize];
    let tg_consumer = group_consumer(&bs, "tg");
    let tg_meta = tg_consumer.group_metadata().expect("group metadata");
    for i in 0..TXN_IDS {
        let p = transactional(&bs, &format!("tx-{i}"));
        for round in 0..11i64 {
            let offset = 1000 * (i as i64 + 1) + round;
            p.begin_transaction().expect("begin");
            let r = FutureRecord::<str, str>::to("txo-out")
                .partition(0)
                .payload("x");
            block_on(p.send(r, TIMEOUT))
                .map_err(|(e, _)| e)
                .expect("delivered");
            p.send_offsets_to_transaction(&tpl(&[(i, offset)]), &tg_meta, TIMEOUT)
                .expect("send offsets");
            if round % 3 == 1 {
                p.abort_transaction(TIMEOUT).expect("abort");
            } else {
                p.commit_transaction(TIMEOUT).expect("commit");
                tg[i as usize] = Some(offset);
            }
        }
    }
    // Unique keys after it all, so every overwritten record lies in sealed segments.
    for i in 0..60 {
        commit(&bs, &format!("filler-{i}"), &[(0, i)]);
    }
    for i in 0..25 {
        let _ = transactional(&bs, &format!("filler-tx-{i}"));
    }
    assert_eq!(committed(&bs, "og"), latest);
    assert_eq!(committed(&bs, "tg"), tg);
    assert_eq!(
        committed(&bs, "og-deleted"),
        vec![None; PARTITIONS as usize]
    );
    let described = describe_all(&broker);

    wait_for(
        "the cleaner to compact __consumer_offsets-0",
        Duration::from_secs(60),
        || {
            let r = offset_records(&broker);
            let og = r.get("og").copied().unwrap_or_default();
            let tgr = r.get("tg").copied().unwrap_or_default();
            let del = r.get("og-deleted").copied().unwrap_or_default();
            // One record per key; the deleted group's offsets as tombstones only; of "tg",
            // only the committed transactions' latest offsets (aborted ones removed).
            (og == (PARTITIONS as usize, 0)
                && tgr == (TXN_IDS as usize, 0)
                && del == (0, PARTITIONS as usize))
                .then_some(())
        },
    );
    wait_for(
        "the cleaner to compact __transaction_state-0",
        Duration::from_secs(60),
        || {
            let r = txn_records(&broker);
            (0..TXN_IDS)
                .all(|i| r.get(&format!("tx-{i}")) == Some(&1))
                .then_some(())
        },
    );
    let checkpoint = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint"))
        .expect("cleaner checkpoint");
    assert!(checkpoint.contains("__consumer_offsets 0 "), "{checkpoint}");
    assert!(
        checkpoint.contains("__transaction_state 0 "),
        "{checkpoint}"
    );

    // Replay of the cleaned logs rebuilds the same state.
    drop(tg_consumer);
    drop(admin);
    broker.stop();
    let broker = TestBroker::start(dir.path(), &props);
    let bs = broker.bootstrap();
    assert_eq!(committed(&bs, "og"), latest, "the latest plain commits");
    assert_eq!(
        committed(&bs, "tg"),
        tg,
        "the last committed transactions' offsets"
    );
    assert_eq!(
        committed(&bs, "og-deleted"),
        vec![None; PARTITIONS as usize]
    );
    assert_eq!(
        describe_all(&broker),
        described,
        "transactional ids as before"
    );
    // A transactional id goes on from its replayed epoch.
    let p = transactional(&bs, "tx-0");
    p.begin_transaction().expect("begin");
    p.send_offsets_to_transaction(&tpl(&[(0, 5)]), &tg_meta, TIMEOUT)
        .expect("send offsets");
    p.commit_transaction(TIMEOUT).expect("commit");
    tg[0] = Some(5);
    assert_eq!(committed(&bs, "tg"), tg);
    drop(p);
    broker.stop();
}
