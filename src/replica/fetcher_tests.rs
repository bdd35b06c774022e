//! The replica fetcher against an in-process leader ([`LocalLeader`]): a follower's log ends
//! byte-identical to the leader's; a divergent tail written in an older epoch is truncated by
//! epoch and converges; KIP-279's double failover; OFFSET_OUT_OF_RANGE restarting at the
//! leader's log start; FENCED_LEADER_EPOCH removing the partition; and the follower's
//! producer state detecting an idempotent retry as a duplicate after promotion. The races
//! between a fetch in flight and a new epoch are in `fetcher_epoch_race_tests`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use super::fetcher::{FetcherSettings, LocalLeader, ReplicaFetcher};
use super::tests::batch;
use super::{Isolation, Replica};
use crate::config::LogConfig;
use crate::log::partition::now_ms;
use crate::log::{LogManager, Partition};
use crate::metadata::PartitionImage;

pub(super) const A: i32 = 1;
pub(super) const B: i32 = 2;

pub(super) fn part(leader: i32, epoch: i32) -> PartitionImage {
    PartitionImage {
        replicas: vec![A, B],
        isr: vec![A, B],
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader,
        leader_epoch: epoch,
        partition_epoch: epoch,
    }
}

pub(super) fn empty_log(dir: &std::path::Path) -> Arc<Partition> {
    let logs = LogManager::open(dir).unwrap();
    logs.create_partition("t", 0, &Uuid::nil().to_string(), LogConfig::default())
        .unwrap()
}

/// Writes `batch` into a log directly, stamped with `epoch` (an old leader's write).
pub(super) fn write(p: &Partition, bytes: &Bytes, epoch: i32) {
    let mut log = p.lock().unwrap();
    log.append_as_leader(bytes, epoch, now_ms()).unwrap();
    p.publish(&log);
}

/// Every stored byte from the log start to the end.
pub(super) async fn dump(r: &Replica) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = r.log_start_offset();
    while offset < r.log_end_offset() {
        let read = r
            .read(offset, 1 << 20, true, Isolation::LogEnd)
            .await
            .unwrap();
        let last = crate::log::batch::BatchWalker::new(&read.records)
            .last()
            .map(|(_, h)| h.last_offset())
            .expect("progress");
        out.extend_from_slice(&read.records);
        offset = last + 1;
    }
    out
}

pub(super) fn fetcher(
    leader: &Arc<Replica>,
    follower: &Arc<Replica>,
    epoch: i32,
) -> ReplicaFetcher {
    let f = ReplicaFetcher::new(
        Arc::new(LocalLeader::new(B, vec![leader.clone()])),
        FetcherSettings {
            partition_max_bytes: 1 << 20,
            backoff: Duration::from_millis(1),
        },
    );
    f.add(follower.clone(), Uuid::nil(), epoch);
    f
}

/// Rounds until the follower's log end and high watermark match the leader's (bounded).
pub(super) async fn converge(f: &ReplicaFetcher, leader: &Replica, follower: &Replica) -> Vec<i64> {
    let mut truncations = Vec::new();
    for _ in 0..50 {
        let round = f.fetch_once().await;
        assert!(round.errors.is_empty(), "{round:?}");
        truncations.extend(round.truncated.iter().map(|(_, o)| *o));
        if follower.log_end_offset() == leader.log_end_offset()
            && follower.high_watermark() == leader.high_watermark()
            && round.appended_batches == 0
            && round.truncated.is_empty()
        {
            return truncations;
        }
    }
    panic!(
        "no convergence: leader {} follower {}",
        leader.log_end_offset(),
        follower.log_end_offset()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_ends_byte_identical_and_keeps_producer_state_across_promotion() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = Arc::new(Replica::new(
        empty_log(da.path()),
        Uuid::nil(),
        A,
        &part(A, 0),
        None,
    ));
    let follower = Arc::new(Replica::new(
        empty_log(db.path()),
        Uuid::nil(),
        B,
        &part(A, 0),
        None,
    ));
    let entries = |n: usize| -> Vec<(Option<Bytes>, Option<Bytes>)> {
        (0..n)
            .map(|i| (Some(Bytes::from(format!("k{i}"))), Some(Bytes::from("v"))))
            .collect()
    };
    let idempotent = |seq: i32| {
        crate::log::records::encode_batch(&entries(3), Some((7, 0, seq)), now_ms()).unwrap()
    };
    leader.append_as_leader(batch(2), 1).await.unwrap();
    let retried = idempotent(3);
    for b in [idempotent(0), retried.clone(), batch(5)] {
        leader.append_as_leader(b, 1).await.unwrap();
    }
    let f = fetcher(&leader, &follower, 0);
    assert!(converge(&f, &leader, &follower).await.is_empty());
    assert_eq!(
        leader.high_watermark(),
        13,
        "the follower's fetches committed it"
    );
    assert_eq!(follower.high_watermark(), 13);
    assert_eq!(dump(&follower).await, dump(&leader).await);

    // B is promoted (epoch 1); the producer retries its sequence-3 batch: a duplicate.
    follower.apply(&part(B, 1));
    let info = follower.append_as_leader(retried, 1).await.unwrap();
    assert!(
        info.duplicate,
        "producer state came with the replicated batches"
    );
    assert_eq!(info.base_offset, 5);
    assert_eq!(follower.log_end_offset(), 13);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_divergent_tail_is_truncated_by_epoch_and_converges() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = Arc::new(Replica::new(
        empty_log(da.path()),
        Uuid::nil(),
        A,
        &part(A, 0),
        None,
    ));
    let follower = Arc::new(Replica::new(
        empty_log(db.path()),
        Uuid::nil(),
        B,
        &part(A, 0),
        None,
    ));
    for _ in 0..4 {
        leader.append_as_leader(batch(2), 1).await.unwrap();
    }
    let f = fetcher(&leader, &follower, 0);
    converge(&f, &leader, &follower).await;
    // B got two batches of epoch 0 the leader never committed (it was an old leader then),
    // while A went on in epoch 1.
    write(follower.log(), &batch(2), 0);
    write(follower.log(), &batch(2), 0);
    assert_eq!(follower.log_end_offset(), 12);
    assert_eq!(follower.latest_epoch().await.unwrap(), 0);
    leader.apply(&part(A, 1));
    follower.apply(&part(A, 1));
    leader.append_as_leader(batch(3), 1).await.unwrap();
    let f = fetcher(&leader, &follower, 1);
    let truncations = converge(&f, &leader, &follower).await;
    assert_eq!(
        truncations,
        vec![8],
        "to the end of epoch 0 on the leader, not to the HW"
    );
    assert_eq!(follower.log_end_offset(), 11);
    assert_eq!(follower.latest_epoch().await.unwrap(), 1);
    assert_eq!(dump(&follower).await, dump(&leader).await);
    assert_eq!(
        follower.end_offset_for_epoch(0).await.unwrap(),
        Some((0, 8))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kip_279_double_failover_converges() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Arc::new(Replica::new(
        empty_log(da.path()),
        Uuid::nil(),
        A,
        &part(A, 0),
        None,
    ));
    let b = Arc::new(Replica::new(
        empty_log(db.path()),
        Uuid::nil(),
        B,
        &part(A, 0),
        None,
    ));
    // Epoch 0, A leads: m0 (0-1) reaches B, m1 (2-3) does not.
    a.append_as_leader(batch(2), 1).await.unwrap();
    converge(&fetcher(&a, &b, 0), &a, &b).await;
    write(a.log(), &batch(2), 0);
    // A dies; B leads epoch 1 and writes m1' at 2-3.
    b.apply(&part(B, 1));
    b.append_as_leader(batch(2), 1).await.unwrap();
    // B dies before A fetches; A comes back as leader of epoch 2 and writes m2 at 4-5.
    a.apply(&part(A, 2));
    a.append_as_leader(batch(2), 1).await.unwrap();
    // B returns as A's follower. KIP-101 alone would keep B's offset 2 (A's epoch 0 ends at
    // 4 ≥ B's end); KIP-279 sends back epoch 0, B looks up its own end of epoch 0 (2).
    b.apply(&part(A, 2));
    assert_eq!(a.diverging_epoch(1, 4).await.unwrap(), Some((0, 4)));
    let truncations = converge(&fetcher(&a, &b, 2), &a, &b).await;
    assert_eq!(truncations, vec![2]);
    assert_eq!(dump(&b).await, dump(&a).await);
    assert_eq!(
        b.end_offset_for_epoch(1).await.unwrap(),
        Some((0, 4)),
        "epoch 1 is gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_range_restarts_at_the_leaders_log_start_and_fencing_stops_fetching() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = Arc::new(Replica::new(
        empty_log(da.path()),
        Uuid::nil(),
        A,
        &part(A, 0),
        None,
    ));
    let follower = Arc::new(Replica::new(
        empty_log(db.path()),
        Uuid::nil(),
        B,
        &part(A, 0),
        None,
    ));
    for _ in 0..4 {
        leader.append_as_leader(batch(2), 1).await.unwrap();
    }
    leader
        .change(|log| log.delete_records_before(4).map(|_| ()))
        .await
        .unwrap();
    assert_eq!(leader.log_start_offset(), 4);
    let f = fetcher(&leader, &follower, 0);
    let truncations = converge(&f, &leader, &follower).await;
    assert_eq!(truncations, vec![4]);
    assert_eq!(follower.log_start_offset(), 4);
    assert_eq!(dump(&follower).await, dump(&leader).await);

    // The leader moved on to epoch 1; this fetcher still asks as of epoch 0.
    leader.apply(&part(A, 1));
    let round = f.fetch_once().await;
    assert_eq!(round.fenced, vec![("t".to_string(), 0)]);
    assert!(f.is_empty(), "left until the image names a new leadership");
    f.add(follower.clone(), Uuid::nil(), 0);
    assert!(f.is_empty(), "not taken back at the fenced epoch");
    follower.apply(&part(A, 1));
    f.add(follower.clone(), Uuid::nil(), 1);
    assert_eq!(f.followed(), vec![(("t".to_string(), 0), 1)]);
    leader.append_as_leader(batch(2), 1).await.unwrap();
    converge(&f, &leader, &follower).await;
    assert_eq!(dump(&follower).await, dump(&leader).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_starts_and_stops_fetching() {
    use super::fetcher::LeaderEndPoint;
    use super::fetcher_manager::FetcherManager;
    use super::ReplicaManager;
    use crate::config::BrokerConfig;
    use crate::metadata::records::{EndPoint, MetadataRecord};
    use crate::metadata::{MetadataImage, MetadataPublisher};

    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = Arc::new(Replica::new(
        empty_log(da.path()),
        Uuid::nil(),
        A,
        &part(A, 0),
        None,
    ));
    let topic_id = Uuid::from_u128(9);
    let mut img = MetadataImage::new("c".into());
    for id in [A, B] {
        img.apply(&MetadataRecord::RegisterBroker {
            broker_id: id,
            incarnation_id: Uuid::nil(),
            broker_epoch: 1,
            endpoints: vec![EndPoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 1,
                security_protocol: 0,
            }],
            rack: None,
            fenced: false,
        });
    }
    img.apply(&MetadataRecord::Topic {
        name: "t".into(),
        topic_id,
    });
    img.apply(&MetadataRecord::Partition {
        partition_id: 0,
        topic_id,
        replicas: vec![A, B],
        isr: vec![A, B],
        leader: A,
        leader_epoch: 0,
        partition_epoch: 0,
        removing_replicas: vec![],
        adding_replicas: vec![],
    });
    let manager = ReplicaManager::new(
        B,
        BrokerConfig::default(),
        LogManager::open(db.path()).unwrap(),
    );
    manager.publish(&MetadataImage::default(), &img).unwrap();
    let local = leader.clone();
    let fetchers = Arc::new(FetcherManager::new(
        B,
        Arc::new(move |b| {
            (b.id == A).then(|| {
                Arc::new(LocalLeader::new(B, vec![local.clone()])) as Arc<dyn LeaderEndPoint>
            })
        }),
        FetcherSettings {
            partition_max_bytes: 1 << 20,
            backoff: Duration::from_millis(5),
        },
    ));
    manager.set_fetchers(fetchers.clone(), &img);
    assert_eq!(
        fetchers.leaders(),
        vec![(A, vec![(("t".to_string(), 0), 0)])]
    );
    for _ in 0..3 {
        leader.append_as_leader(batch(2), 1).await.unwrap();
    }
    let follower = manager.get("t", 0).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while follower.log_end_offset() < 6 || follower.high_watermark() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fetcher task replicates"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(dump(&follower).await, dump(&leader).await);

    // B becomes the leader (epoch 1): no fetching any more, its epoch starts at its log end.
    let mut img2 = img.clone();
    img2.apply(&MetadataRecord::PartitionChange {
        partition_id: 0,
        topic_id,
        isr: None,
        leader: B,
        replicas: None,
        removing_replicas: None,
        adding_replicas: None,
    });
    manager.publish(&img, &img2).unwrap();
    assert!(fetchers.leaders().is_empty());
    assert!(follower.is_leader());
    assert_eq!(follower.epoch_start_offset(), Some(6));
    fetchers.shutdown();
}
