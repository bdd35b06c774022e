//! The follower's replica fetcher (Kafka's `ReplicaFetcherThread` / `AbstractFetcherThread`):
//! one per leader broker, fetching all the partitions this node follows there in one Fetch
//! (one session per leader), through a [`LeaderEndPoint`] — the seam: Fetch v12 over the
//! network ([`super::remote_leader`]) or an in-process leader replica
//! ([`LocalLeader`], tests).
//!
//! Per partition, each round:
//! - the fetch offset is this log's end and `last_fetched_epoch` its newest epoch (Fetch v12,
//!   KIP-320), with the leader epoch this node knows as `current_leader_epoch`;
//! - records: appended as the leader wrote them ([`Replica::append_as_follower`]), then the
//!   high watermark = min(leader's, own log end);
//! - `diverging_epoch {epoch, end}` (KIP-101/279): the local end of that epoch is looked up;
//!   same epoch here → truncate to min(end, local end); this log's floor epoch differs → to
//!   min(local end of it, log end) and ask again; no epoch ≤ it here → min(end, log end). The
//!   next round fetches with the epoch left after the truncation, so it converges;
//! - OFFSET_OUT_OF_RANGE: the leader's log start and end are asked; a leader ending below
//!   this log truncates it there, a leader starting above it restarts this log empty at the
//!   leader's log start, otherwise the next round tries again;
//! - FENCED_LEADER_EPOCH: the partition leaves this fetcher until the image names a new
//!   leadership (Kafka's `onPartitionFenced`); NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH and
//!   any other error back off for `replica.fetch.backoff.ms`; a failed request backs off
//!   every partition.
//!
//! A partition's outcome (records, truncation, any error) is applied only if the partition is
//! still followed at the leader epoch and fetch offset the request was built from (Kafka's
//! `AbstractFetcherThread` check): a response to a fetch sent before the image re-added the
//! partition at a new epoch is stale and dropped (counted in [`Round::stale`]), so an old
//! epoch's FENCED_LEADER_EPOCH cannot evict the partition followed at the new one. Since this
//! node may become the partition's leader between that check and the write (the image reaches
//! the replicas before the fetchers), every write names the fetch's epoch and is refused under
//! the log lock once the log has a newer one ([`super::follower`]): FENCED_LEADER_EPOCH, nothing
//! written, counted in [`Round::errors`].
//!
//! [`ReplicaFetcher::add`] (the image (re)adding a partition or changing its epoch) clears
//! its backoff and wakes the fetcher at once, as Kafka's `addPartitions` resets the fetch
//! state with no delay: a failover does not wait out a backoff taken at the old epoch. A
//! request already out to the leader (a long-poll of up to `replica.fetch.wait.max.ms`)
//! lacks the added partition: it is given up before anything of it is applied, and the next
//! round asks for the added partition too (gregor's; Kafka's fetcher thread finishes its
//! long-poll first).
//! Repeated errors at one epoch keep backing off.
//!
//! Becoming a follower never truncates by itself (KIP-101: not to the high watermark); the
//! first fetch's epoch check does whatever truncation is needed.
//!
//! Thread-safety: the partition map is a short mutex, never held across an await; `run`
//! is one task per leader.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use uuid::Uuid;

use super::isr_driver::BoxFuture;
use super::{Isolation, Replica};
use crate::error::ErrorCode;

/// One partition of a fetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub fetch_offset: i64,
    pub last_fetched_epoch: i32,
    pub current_leader_epoch: i32,
    pub log_start_offset: i64,
    pub max_bytes: i32,
}

/// One partition of a fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub topic: String,
    pub partition: i32,
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub records: Bytes,
    pub diverging_epoch: Option<(i32, i64)>,
}

/// The leader as the fetcher sees it (see the module doc).
pub trait LeaderEndPoint: Send + Sync + 'static {
    /// One Fetch for these partitions (a failed request: its code).
    fn fetch(
        &self,
        partitions: Vec<FetchPartition>,
    ) -> BoxFuture<Result<Vec<FetchedPartition>, ErrorCode>>;
    /// The leader's log start and end of one partition (ListOffsets earliest and latest).
    fn log_range(
        &self,
        topic: String,
        partition: i32,
        current_leader_epoch: i32,
    ) -> BoxFuture<Result<(i64, i64), ErrorCode>>;
}

/// How a fetcher fetches (`replica.fetch.*`).
#[derive(Debug, Clone)]
pub struct FetcherSettings {
    pub partition_max_bytes: i32,
    pub backoff: Duration,
}

/// One followed partition.
struct Followed {
    replica: Arc<Replica>,
    topic_id: Uuid,
    leader_epoch: i32,
    delayed_until: Option<Instant>,
}

type Key = (String, i32);

/// What one round did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub appended_batches: usize,
    pub truncated: Vec<(Key, i64)>,
    /// Partitions removed for FENCED_LEADER_EPOCH.
    pub fenced: Vec<Key>,
    pub errors: Vec<(Key, ErrorCode)>,
    /// Partitions whose outcome was dropped: re-added at another epoch or fetch offset while
    /// the request was out.
    pub stale: Vec<Key>,
    /// The request was given up unanswered because a partition was (re)added meanwhile.
    pub interrupted: bool,
}

/// One leader's fetcher (see the module doc).
pub struct ReplicaFetcher {
    leader: Arc<dyn LeaderEndPoint>,
    settings: FetcherSettings,
    partitions: Mutex<HashMap<Key, Followed>>,
    /// Partitions dropped for FENCED_LEADER_EPOCH, with the epoch they were followed at: not
    /// taken back at that epoch (the image must name a newer leadership first).
    fenced: Mutex<std::collections::HashSet<(Key, i32)>>,
    /// Woken when a partition is (re)added, so `run` stops any backoff pause and an
    /// outstanding request is given up.
    wake: tokio::sync::Notify,
    /// Bumped by every (re)add: a request built before the bump lacks that partition.
    added: AtomicU64,
}

impl ReplicaFetcher {
    pub fn new(leader: Arc<dyn LeaderEndPoint>, settings: FetcherSettings) -> ReplicaFetcher {
        ReplicaFetcher {
            leader,
            settings,
            partitions: Mutex::new(HashMap::new()),
            fenced: Mutex::new(std::collections::HashSet::new()),
            wake: tokio::sync::Notify::new(),
            added: AtomicU64::new(0),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Followed>> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows `replica` from this leader at `leader_epoch` (again, if already followed) —
    /// unless it was fenced at that very epoch.
    pub fn add(&self, replica: Arc<Replica>, topic_id: Uuid, leader_epoch: i32) {
        let key = (replica.topic().to_string(), replica.index());
        {
            let mut fenced = self.fenced.lock().unwrap_or_else(|p| p.into_inner());
            if fenced.contains(&(key.clone(), leader_epoch)) {
                return;
            }
            fenced.retain(|(k, _)| *k != key);
        }
        self.map().insert(
            key,
            Followed {
                replica,
                topic_id,
                leader_epoch,
                delayed_until: None,
            },
        );
        self.added.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// Resolves once a partition was (re)added after `seen` (a value of `added`).
    async fn added_since(&self, seen: u64) {
        while self.added.load(Ordering::Acquire) == seen {
            self.wake.notified().await;
        }
    }

    pub fn remove(&self, topic: &str, partition: i32) {
        self.map().remove(&(topic.to_string(), partition));
    }

    /// The partitions followed and the leader epoch each is followed at.
    pub fn followed(&self) -> Vec<(Key, i32)> {
        self.map()
            .iter()
            .map(|(k, f)| (k.clone(), f.leader_epoch))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// The partitions backing off now (tests, logs).
    pub fn backing_off(&self) -> Vec<Key> {
        let now = Instant::now();
        self.map()
            .iter()
            .filter(|(_, f)| f.delayed_until.is_some_and(|t| t > now))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether `key` is still followed through `r` at `epoch` from `fetch_offset` — the
    /// state a request was built from (see the module doc).
    fn still_current(&self, key: &Key, r: &Arc<Replica>, epoch: i32, fetch_offset: i64) -> bool {
        self.map().get(key).is_some_and(|f| {
            f.leader_epoch == epoch
                && Arc::ptr_eq(&f.replica, r)
                && r.log_end_offset() == fetch_offset
        })
    }

    fn delay(&self, key: &Key) {
        if let Some(f) = self.map().get_mut(key) {
            f.delayed_until = Some(Instant::now() + self.settings.backoff);
        }
    }

    /// One fetch round over every partition not backing off (see the module doc).
    pub async fn fetch_once(&self) -> Round {
        let seen = self.added.load(Ordering::Acquire);
        let now = Instant::now();
        let ready: Vec<(Key, Arc<Replica>, Uuid, i32)> = self
            .map()
            .iter_mut()
            .filter(|(_, f)| f.delayed_until.is_none_or(|t| t <= now))
            .map(|(k, f)| {
                f.delayed_until = None;
                (k.clone(), f.replica.clone(), f.topic_id, f.leader_epoch)
            })
            .collect();
        let mut round = Round::default();
        if ready.is_empty() {
            return round;
        }
        let mut request = Vec::with_capacity(ready.len());
        let mut offsets = Vec::with_capacity(ready.len());
        for (key, r, topic_id, epoch) in &ready {
            let last_fetched_epoch = r.latest_epoch().await.unwrap_or(-1);
            let fetch_offset = r.log_end_offset();
            offsets.push(fetch_offset);
            request.push(FetchPartition {
                topic: key.0.clone(),
                topic_id: *topic_id,
                partition: key.1,
                fetch_offset,
                last_fetched_epoch,
                current_leader_epoch: *epoch,
                log_start_offset: r.log_start_offset(),
                max_bytes: self.settings.partition_max_bytes,
            });
        }
        // A partition (re)added while the request is out (a failover moved its leadership
        // here) is not in it and would wait out the leader's long-poll
        // (`replica.fetch.wait.max.ms`): the request is given up — nothing of it was applied
        // yet; the peer reconnects — and the next round, with it, starts at once.
        let answer = tokio::select! {
            // An answer already there is used (its stale parts are dropped below).
            biased;
            r = self.leader.fetch(request) => Some(r),
            _ = self.added_since(seen) => None,
        };
        let Some(answer) = answer else {
            round.interrupted = true;
            return round;
        };
        let results = match answer {
            Ok(r) => r,
            Err(code) => {
                for ((key, r, _, epoch), offset) in ready.iter().zip(&offsets) {
                    if self.still_current(key, r, *epoch, *offset) {
                        self.delay(key);
                        round.errors.push((key.clone(), code));
                    } else {
                        round.stale.push(key.clone());
                    }
                }
                return round;
            }
        };
        for p in results {
            let key = (p.topic.clone(), p.partition);
            let Some(i) = ready.iter().position(|(k, ..)| *k == key) else {
                continue;
            };
            let (_, r, _, epoch) = &ready[i];
            if !self.still_current(&key, r, *epoch, offsets[i]) {
                round.stale.push(key);
                continue;
            }
            self.handle(&key, r, *epoch, p, &mut round).await;
        }
        round
    }

    async fn handle(
        &self,
        key: &Key,
        r: &Replica,
        epoch: i32,
        p: FetchedPartition,
        round: &mut Round,
    ) {
        match p.error {
            ErrorCode::None => {}
            ErrorCode::OffsetOutOfRange => {
                match self.out_of_range(key, r, epoch).await {
                    Ok(Some(offset)) => round.truncated.push((key.clone(), offset)),
                    Ok(None) => {}
                    Err(code) => {
                        self.delay(key);
                        round.errors.push((key.clone(), code));
                    }
                }
                return;
            }
            ErrorCode::FencedLeaderEpoch => {
                // Only the fetch state this answer belongs to: a newer image may have followed
                // the partition again at a newer epoch while the request was out (Kafka applies
                // a response only to a fetch state with the request's epoch). Removing that
                // one left a restarted follower out of an idle partition for good.
                let mut map = self.map();
                if map.get(key).is_some_and(|f| f.leader_epoch == epoch) {
                    map.remove(key);
                    drop(map);
                    self.fenced
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((key.clone(), epoch));
                    round.fenced.push(key.clone());
                }
                return;
            }
            code => {
                self.delay(key);
                round.errors.push((key.clone(), code));
                return;
            }
        }
        if let Some((div_epoch, div_end)) = p.diverging_epoch {
            match self.truncate_diverging(r, epoch, div_epoch, div_end).await {
                Ok(offset) => round.truncated.push((key.clone(), offset)),
                Err(code) => {
                    self.delay(key);
                    round.errors.push((key.clone(), code));
                }
            }
            return;
        }
        if !p.records.is_empty() {
            let batches = crate::log::batch::BatchWalker::new(&p.records).count();
            if let Err(e) = r.append_as_follower(p.records, epoch).await {
                tracing::warn!("{}-{}: follower append failed: {e}", key.0, key.1);
                self.delay(key);
                round.errors.push((key.clone(), e.code()));
                return;
            }
            round.appended_batches += batches;
        }
        r.update_follower_high_watermark(p.high_watermark);
    }

    /// KIP-279's truncation offset for a diverging epoch (see the module doc).
    async fn truncate_diverging(
        &self,
        r: &Replica,
        fetch_epoch: i32,
        epoch: i32,
        leader_end: i64,
    ) -> Result<i64, ErrorCode> {
        let leo = r.log_end_offset();
        let local = r.end_offset_for_epoch(epoch).await.map_err(|e| e.code())?;
        let target = match local {
            Some((e, end)) if e == epoch => end.min(leader_end),
            Some((_, end)) => end,
            None => leader_end,
        }
        .min(leo)
        .max(0);
        r.truncate_to(target, fetch_epoch)
            .await
            .map_err(|e| e.code())?;
        Ok(target)
    }

    /// Kafka's `handleOutOfRangeError` (see the module doc): the offset truncated or
    /// restarted at, if any.
    async fn out_of_range(
        &self,
        key: &Key,
        r: &Replica,
        epoch: i32,
    ) -> Result<Option<i64>, ErrorCode> {
        let (start, end) = self.leader.log_range(key.0.clone(), key.1, epoch).await?;
        let leo = r.log_end_offset();
        if end < leo {
            r.truncate_to(end, epoch).await.map_err(|e| e.code())?;
            return Ok(Some(end));
        }
        if start > leo || r.log_start_offset() > leo {
            r.truncate_fully(start, epoch).await.map_err(|e| e.code())?;
            return Ok(Some(start));
        }
        Ok(None)
    }

    /// Fetches until `shutdown` resolves, pausing for the backoff when a round had nothing
    /// to do (every partition backing off, or none followed).
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let round = tokio::select! {
                _ = &mut shutdown => return,
                round = self.fetch_once() => round,
            };
            let idle = round.appended_batches == 0 && round.truncated.is_empty();
            if idle {
                // A remote leader long-polls (`replica.fetch.wait.max.ms`); this pause only
                // keeps a failing or empty fetcher from spinning.
                let pause = if self.is_empty() || !round.errors.is_empty() {
                    self.settings.backoff
                } else {
                    Duration::from_millis(1)
                };
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(pause) => {}
                    _ = self.wake.notified() => {}
                }
            }
        }
    }
}

/// An in-process leader (tests, and the shape of what the Fetch handler does for a
/// follower): each partition is served from a leader [`Replica`] as the Fetch handler
/// serves a broker replica id — epoch and follower checks, the diverging-epoch check, a read
/// to the log end, the follower's fetch recorded.
pub struct LocalLeader {
    follower_id: i32,
    replicas: HashMap<Key, Arc<Replica>>,
}

impl LocalLeader {
    pub fn new(follower_id: i32, leaders: Vec<Arc<Replica>>) -> LocalLeader {
        let replicas = leaders
            .into_iter()
            .map(|r| ((r.topic().to_string(), r.index()), r))
            .collect();
        LocalLeader {
            follower_id,
            replicas,
        }
    }

    async fn one(follower_id: i32, r: Arc<Replica>, p: FetchPartition) -> FetchedPartition {
        let mut out = FetchedPartition {
            topic: p.topic.clone(),
            partition: p.partition,
            error: ErrorCode::None,
            high_watermark: -1,
            log_start_offset: -1,
            records: Bytes::new(),
            diverging_epoch: None,
        };
        let checked = r
            .check_epoch(p.current_leader_epoch, true)
            .and_then(|_| r.check_follower(follower_id, p.current_leader_epoch));
        if let Err(e) = checked {
            out.error = e.code();
            return out;
        }
        let leo = r.log_end_offset();
        match r
            .diverging_epoch(p.last_fetched_epoch, p.fetch_offset)
            .await
        {
            Err(e) => out.error = e.code(),
            Ok(Some(d)) => out.diverging_epoch = Some(d),
            Ok(None) => {
                let max = usize::try_from(p.max_bytes).unwrap_or(0);
                match r.read(p.fetch_offset, max, true, Isolation::LogEnd).await {
                    Ok(read) => {
                        out.records = read.records;
                        r.record_follower_fetch(
                            follower_id,
                            p.fetch_offset,
                            p.log_start_offset,
                            leo,
                        );
                    }
                    Err(e) => out.error = e.code(),
                }
            }
        }
        out.high_watermark = r.high_watermark();
        out.log_start_offset = r.log_start_offset();
        out
    }
}

impl LeaderEndPoint for LocalLeader {
    fn fetch(
        &self,
        partitions: Vec<FetchPartition>,
    ) -> BoxFuture<Result<Vec<FetchedPartition>, ErrorCode>> {
        let follower_id = self.follower_id;
        let work: Vec<(Option<Arc<Replica>>, FetchPartition)> = partitions
            .into_iter()
            .map(|p| {
                (
                    self.replicas.get(&(p.topic.clone(), p.partition)).cloned(),
                    p,
                )
            })
            .collect();
        Box::pin(async move {
            let mut out = Vec::with_capacity(work.len());
            for (r, p) in work {
                match r {
                    Some(r) => out.push(LocalLeader::one(follower_id, r, p).await),
                    None => out.push(FetchedPartition {
                        topic: p.topic,
                        partition: p.partition,
                        error: ErrorCode::UnknownTopicOrPartition,
                        high_watermark: -1,
                        log_start_offset: -1,
                        records: Bytes::new(),
                        diverging_epoch: None,
                    }),
                }
            }
            Ok(out)
        })
    }

    fn log_range(
        &self,
        topic: String,
        partition: i32,
        _current_leader_epoch: i32,
    ) -> BoxFuture<Result<(i64, i64), ErrorCode>> {
        let r = self.replicas.get(&(topic, partition)).cloned();
        Box::pin(async move {
            let r = r.ok_or(ErrorCode::UnknownTopicOrPartition)?;
            Ok((r.log_start_offset(), r.log_end_offset()))
        })
    }
}
