//! The replica fetcher's races between a fetch in flight and a new leader epoch, against an
//! in-process leader whose answers the test releases by hand: a fetch still unanswered when
//! the image re-adds the partition at a new epoch is given up and the partition fetched at
//! the new one, a FENCED_LEADER_EPOCH answer to an older epoch (already there when the re-add
//! comes) is stale and keeps the partition followed at the newer one, and a new epoch is
//! fetched at once, not after the backoff an old epoch's error started; and an answer that
//! comes after the follower became the leader writes nothing to its log.

use super::fetcher::{
    FetchPartition, FetchedPartition, FetcherSettings, LeaderEndPoint, LocalLeader, ReplicaFetcher,
};
use super::fetcher_tests::{converge, dump, empty_log, part, A, B};
use super::isr_driver::BoxFuture;
use super::tests::batch;
use super::Replica;
use crate::error::ErrorCode;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A leader whose Fetch replies only when the test says so: each request is announced on
/// `entered`, then waits for one `release` before the in-process leader answers it.
struct GatedLeader {
    inner: LocalLeader,
    entered: tokio::sync::mpsc::UnboundedSender<()>,
    release: Arc<tokio::sync::Semaphore>,
}

impl super::fetcher::LeaderEndPoint for GatedLeader {
    fn fetch(
        &self,
        partitions: Vec<super::fetcher::FetchPartition>,
    ) -> super::isr_driver::BoxFuture<
        Result<Vec<super::fetcher::FetchedPartition>, crate::error::ErrorCode>,
    > {
        let _ = self.entered.send(());
        let release = self.release.clone();
        let answer = self.inner.fetch(partitions);
        Box::pin(async move {
            if let Ok(p) = release.acquire().await {
                p.forget();
            }
            answer.await
        })
    }

    fn log_range(
        &self,
        topic: String,
        partition: i32,
        current_leader_epoch: i32,
    ) -> super::isr_driver::BoxFuture<Result<(i64, i64), crate::error::ErrorCode>> {
        self.inner.log_range(topic, partition, current_leader_epoch)
    }
}

type Gate = (
    tokio::sync::mpsc::UnboundedReceiver<()>,
    Arc<tokio::sync::Semaphore>,
);

fn gated(leader: &Arc<Replica>, backoff: Duration) -> (Arc<ReplicaFetcher>, Gate) {
    let (entered, rx) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let f = ReplicaFetcher::new(
        Arc::new(GatedLeader {
            inner: LocalLeader::new(B, vec![leader.clone()]),
            entered,
            release: release.clone(),
        }),
        FetcherSettings {
            partition_max_bytes: 1 << 20,
            backoff,
        },
    );
    (Arc::new(f), (rx, release))
}

fn pair(da: &std::path::Path, db: &std::path::Path) -> (Arc<Replica>, Arc<Replica>) {
    let leader = Arc::new(Replica::new(
        empty_log(da),
        Uuid::nil(),
        A,
        &part(A, 0),
        None,
    ));
    let follower = Arc::new(Replica::new(
        empty_log(db),
        Uuid::nil(),
        B,
        &part(A, 0),
        None,
    ));
    (leader, follower)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fetch_out_when_the_partition_is_re_added_is_given_up_and_the_new_epoch_fetched() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (leader, follower) = pair(da.path(), db.path());
    leader.append_as_leader(batch(2), 1).await.unwrap();
    leader.apply(&part(A, 1));
    let (f, (mut entered, release)) = gated(&leader, Duration::from_millis(1));
    // Followed at the node's first, stale image's epoch 0.
    f.add(follower.clone(), Uuid::nil(), 0);
    let round = tokio::spawn({
        let f = f.clone();
        async move { f.fetch_once().await }
    });
    entered.recv().await.unwrap();
    // While that fetch (epoch 0) is out, the image re-adds the partition at epoch 1: the
    // round ends unanswered (the leader would have held it for its long-poll).
    follower.apply(&part(A, 1));
    f.add(follower.clone(), Uuid::nil(), 1);
    let round = round.await.unwrap();
    assert!(round.interrupted, "{round:?}");
    assert!(round.fenced.is_empty() && round.stale.is_empty() && round.errors.is_empty());
    assert_eq!(f.followed(), vec![(("t".to_string(), 0), 1)]);
    assert!(f.backing_off().is_empty());
    // The next fetch at epoch 1 replicates.
    release.add_permits(1_000);
    converge(&f, &leader, &follower).await;
    assert_eq!(dump(&follower).await, dump(&leader).await);
}

/// A leader that answers every fetch FENCED_LEADER_EPOCH, after running `meanwhile` (what a
/// newer image does to the fetcher while the request is out).
struct FencingLeader {
    meanwhile: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl LeaderEndPoint for FencingLeader {
    fn fetch(
        &self,
        partitions: Vec<FetchPartition>,
    ) -> BoxFuture<Result<Vec<FetchedPartition>, ErrorCode>> {
        if let Some(f) = self.meanwhile.lock().unwrap().take() {
            f();
        }
        let answer = partitions
            .into_iter()
            .map(|p| FetchedPartition {
                topic: p.topic,
                partition: p.partition,
                error: ErrorCode::FencedLeaderEpoch,
                high_watermark: -1,
                log_start_offset: -1,
                records: Bytes::new(),
                diverging_epoch: None,
            })
            .collect();
        Box::pin(async move { Ok(answer) })
    }

    fn log_range(&self, _: String, _: i32, _: i32) -> BoxFuture<Result<(i64, i64), ErrorCode>> {
        Box::pin(async { Err(ErrorCode::FencedLeaderEpoch) })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fenced_answer_to_an_older_epoch_keeps_the_partition_followed_at_a_newer_one() {
    let d = tempfile::tempdir().unwrap();
    let follower = Arc::new(Replica::new(
        empty_log(d.path()),
        Uuid::nil(),
        B,
        &part(A, 0),
        None,
    ));
    let fetcher = Arc::new_cyclic(|me: &std::sync::Weak<ReplicaFetcher>| {
        let (me, again) = (me.clone(), follower.clone());
        let meanwhile: Box<dyn FnOnce() + Send> = Box::new(move || {
            // The image names epoch 1 while the epoch-0 fetch is out.
            again.apply(&part(A, 1));
            if let Some(f) = me.upgrade() {
                f.add(again, Uuid::nil(), 1);
            }
        });
        ReplicaFetcher::new(
            Arc::new(FencingLeader {
                meanwhile: std::sync::Mutex::new(Some(meanwhile)),
            }),
            FetcherSettings {
                partition_max_bytes: 1 << 20,
                backoff: Duration::from_millis(1),
            },
        )
    });
    fetcher.add(follower.clone(), Uuid::nil(), 0);
    let round = fetcher.fetch_once().await;
    assert!(round.fenced.is_empty(), "{round:?}");
    assert_eq!(fetcher.followed(), vec![(("t".to_string(), 0), 1)]);
    // An answer fencing the epoch it is followed at still removes it.
    let round = fetcher.fetch_once().await;
    assert_eq!(round.fenced, vec![("t".to_string(), 0)]);
    assert!(fetcher.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_epoch_is_fetched_at_once_not_after_the_old_epochs_backoff() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (leader, follower) = pair(da.path(), db.path());
    leader.append_as_leader(batch(3), 0).await.unwrap();
    // A backoff no test run could wait out.
    let (f, (mut entered, release)) = gated(&leader, Duration::from_secs(3600));
    release.add_permits(1_000_000);
    // The follower's image is ahead of the leader's: UNKNOWN_LEADER_EPOCH, backing off.
    follower.apply(&part(A, 1));
    f.add(follower.clone(), Uuid::nil(), 1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(f.clone().run(async move {
        let _ = stopped.await;
    }));
    entered.recv().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while f.backing_off().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never backed off");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A second error at the same epoch keeps the backoff: no new fetch goes out.
    assert!(entered.try_recv().is_err());
    // The leader reaches epoch 2 and the image says so: fetched now, not in an hour.
    leader.apply(&part(A, 2));
    follower.apply(&part(A, 2));
    f.add(follower.clone(), Uuid::nil(), 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while follower.log_end_offset() != leader.log_end_offset() {
        assert!(tokio::time::Instant::now() < deadline, "not fetched");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(f.backing_off().is_empty());
    let _ = stop.send(());
    task.await.unwrap();
    assert_eq!(dump(&follower).await, dump(&leader).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_coming_after_the_follower_became_leader_writes_nothing() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (leader, follower) = pair(da.path(), db.path());
    leader.append_as_leader(batch(2), 1).await.unwrap();
    let (f, (mut entered, release)) = gated(&leader, Duration::from_millis(1));
    f.add(follower.clone(), Uuid::nil(), 0);
    let round = tokio::spawn({
        let f = f.clone();
        async move { f.fetch_once().await }
    });
    entered.recv().await.unwrap();
    // While the epoch-0 fetch is out, the image makes the follower the leader of epoch 1; the
    // fetcher hears of it only afterwards (the image is applied to the replicas first).
    follower.apply(&part(B, 1));
    assert_eq!(follower.epoch_start_offset(), Some(0));
    release.add_permits(1);
    let round = round.await.unwrap();
    assert_eq!(
        round.errors,
        vec![(("t".to_string(), 0), ErrorCode::FencedLeaderEpoch)]
    );
    assert_eq!(round.appended_batches, 0);
    // The new leader's log is what it had when its epoch began: empty, epoch 1 from 0.
    assert_eq!(follower.log_end_offset(), 0);
    let epochs: Vec<(i32, i64)> = follower
        .log()
        .lock()
        .unwrap()
        .epoch_entries()
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect();
    assert_eq!(epochs, vec![(1, 0)]);
}
