//! The follower's replica fetcher over the wire (Fetch v12 and ListOffsets v7 through the peer
//! client) against a real broker: a local follower log ends byte-identical to the broker's,
//! a divergent tail in an old epoch is cut by the broker's `diverging_epoch`, and a follower
//! below the broker's log start restarts at it (OFFSET_OUT_OF_RANGE). One node has no second
//! replica, so the fetcher asks as replica id −1 (the broker serves it up to the high
//! watermark, which on one node is the log end); the follower-specific checks of a broker
//! replica id are covered by `leader_epochs`.

use std::sync::Arc;
use std::time::Duration;

use gregor::config::LogConfig;
use gregor::log::LogManager;
use gregor::metadata::PartitionImage;
use gregor::peer::{Peer, PeerSettings};
use gregor::replica::fetcher::{FetcherSettings, ReplicaFetcher};
use gregor::replica::remote_leader::{RemoteLeader, RemoteSettings};
use gregor::replica::{Isolation, Replica};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::{DeleteRecordsRequest, MetadataRequest, MetadataResponse};
use uuid::Uuid;

use crate::support::raw;
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};

/// A follower replica of `t-0` (leader: node 1, epoch 0) in `dir`, as node 2.
fn follower(dir: &std::path::Path) -> Arc<Replica> {
    let logs = LogManager::open(dir).unwrap();
    let log = logs
        .create_partition("t", 0, &Uuid::nil().to_string(), LogConfig::default())
        .unwrap();
    let image = PartitionImage {
        replicas: vec![1, 2],
        isr: vec![1, 2],
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
    };
    Arc::new(Replica::new(log, Uuid::nil(), 2, &image, None))
}

/// Every record batch byte of the broker's `t-0` from `from`.
fn broker_bytes(c: &mut RawClient, from: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let p = raw::fetch(c, "t", 0, offset, 1 << 20);
        assert_eq!(p.error_code, 0);
        let records = p.records.unwrap_or_default();
        match raw::batch_ranges(&records).last() {
            Some((_, last)) => offset = last + 1,
            None => return out,
        }
        out.extend_from_slice(&records);
    }
}

async fn local_bytes(r: &Replica) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = r.log_start_offset();
    while offset < r.log_end_offset() {
        let read = r
            .read(offset, 1 << 20, true, Isolation::LogEnd)
            .await
            .unwrap();
        let last = gregor::log::batch::BatchWalker::new(&read.records)
            .last()
            .map(|(_, h)| h.last_offset())
            .unwrap();
        out.extend_from_slice(&read.records);
        offset = last + 1;
    }
    out
}

/// A fetcher for the broker at `addr` (asking as replica id −1, see the module doc).
fn remote_fetcher(addr: String) -> ReplicaFetcher {
    let peer = Arc::new(Peer::new(addr, Arc::new(PeerSettings::for_node(2))));
    let leader = RemoteLeader::new(
        peer,
        RemoteSettings {
            replica_id: -1,
            broker_epoch: gregor::replica::remote_leader::BrokerEpoch(Arc::new(|| -1)),
            max_wait_ms: 10,
            min_bytes: 1,
            response_max_bytes: 10 << 20,
            timeout: Duration::from_secs(10),
        },
    );
    ReplicaFetcher::new(
        Arc::new(leader),
        FetcherSettings {
            partition_max_bytes: 1 << 20,
            backoff: Duration::from_millis(5),
        },
    )
}

fn produce(c: &mut RawClient, n: usize) {
    for i in 0..n {
        let v = format!("value-{i}");
        let r = raw::produce(
            c,
            "t",
            0,
            encode_batch(&[(None, v.as_str())], None, now_ms()),
        );
        assert_eq!(r.error_code, 0);
    }
}

/// Rounds until the follower's log end reaches `end` (bounded); the truncations seen.
async fn fetch_to(f: &ReplicaFetcher, r: &Replica, end: i64) -> Vec<i64> {
    let mut truncated = Vec::new();
    for _ in 0..50 {
        let round = f.fetch_once().await;
        assert!(round.errors.is_empty(), "{round:?}");
        truncated.extend(round.truncated.iter().map(|(_, o)| *o));
        if r.log_end_offset() == end && round.appended_batches == 0 && round.truncated.is_empty() {
            return truncated;
        }
    }
    panic!("follower stuck at {}", r.log_end_offset());
}

#[test]
fn a_follower_fetching_over_the_wire_converges_truncates_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let fdir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t", 1, &[]), 0);
    // Fetch v15 names the topic by the leader's id.
    let meta: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    let topic_id = meta.topics[0].topic_id;
    produce(&mut c, 6);
    let addr = broker.bootstrap();
    let f_dir = fdir.path().to_path_buf();
    let (local, truncated) = broker.with_broker(move |_| async move {
        let r = follower(&f_dir);
        let f = remote_fetcher(addr);
        f.add(r.clone(), topic_id, 0);
        assert!(fetch_to(&f, &r, 6).await.is_empty());
        assert_eq!(r.high_watermark(), 6, "the leader's, capped at the log end");
        // A tail the leader never had, in the same old epoch: cut at the leader's end of it.
        let extra = encode_batch(&[(None, "stray")], None, now_ms());
        {
            let mut log = r.log().lock().unwrap();
            log.append_as_leader(&extra, 0, now_ms()).unwrap();
            log.append_as_leader(&extra, 0, now_ms()).unwrap();
            r.log().publish(&log);
        }
        assert_eq!(r.log_end_offset(), 8);
        let truncated = fetch_to(&f, &r, 6).await;
        (local_bytes(&r).await, (truncated, r))
    });
    let (truncated, r) = truncated;
    assert_eq!(truncated, vec![6]);
    assert_eq!(local, broker_bytes(&mut c, 0), "byte-identical");

    // The broker drops records below 4 and gets more; a fresh follower starts from nothing.
    produce(&mut c, 2);
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(raw::topic("t"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(4)])]);
    assert_eq!(c.call(&req, 2).topics[0].partitions[0].error_code, 0);
    drop(r);
    let fdir2 = tempfile::tempdir().unwrap();
    let f_dir = fdir2.path().to_path_buf();
    let addr = broker.bootstrap();
    let (local, truncated) = broker.with_broker(move |_| async move {
        let r = follower(&f_dir);
        let f = remote_fetcher(addr);
        f.add(r.clone(), topic_id, 0);
        let truncated = fetch_to(&f, &r, 8).await;
        assert_eq!(r.log_start_offset(), 4);
        (local_bytes(&r).await, truncated)
    });
    assert_eq!(truncated, vec![4], "restarted at the leader's log start");
    assert_eq!(local, broker_bytes(&mut c, 4));
}
