//! One hosted partition replica: its log, the leader epoch the image gives it, and the high
//! watermark — kept apart from the log end offset, as Kafka's `Partition` keeps it.
//!
//! The high watermark is the offset below which every record is committed (held by every
//! in-sync replica). Consumers are served only below it and long-polls wait on it; acks=all
//! producers wait until it passes their batch. A leader moves it to the smallest log end
//! offset of its maximal ISR ([`super::isr`]) — its own, and its followers' as their fetches
//! report them ([`super::followers`]), caught-up eligible followers about to join included —
//! and never back (except when its own log is cut below it); not at all while the committed
//! ISR is below min(`min.insync.replicas`, replication factor) (KAFKA-15583; until the
//! topic's value is set the minimum is every replica). On a single node the ISR is this node
//! alone, so it reaches the log end as soon as an append returns. A replica starts from the
//! checkpointed value ([`super::hw_checkpoint`]); a follower takes the leader's, capped at
//! its own log end ([`super::follower`]), and otherwise only lowers it to its own log end.
//!
//! The last stable offset (LSO) is the high watermark, or the first offset of the oldest
//! transaction still open on this partition if that is lower: read_committed consumers are
//! served below it. The first unstable offset is refreshed under the partition lock after
//! every append, marker and log-start move, so computing the LSO never takes the lock.
//!
//! Leadership: when the image makes this node the leader of a new epoch, the epoch starts at
//! the log end (Kafka's `leaderEpochStartOffsetOpt`, also written into the epoch cache so
//! OffsetForLeaderEpoch answers before the first append) and every follower's state is reset.
//! Followers (replica id ≥ 0) may read up to the log end; consumers up to the high watermark
//! or the LSO.
//!
//! Thread-safety: shared as `Arc<Replica>`; the epoch, leadership, epoch start and first
//! unstable offset are atomics; the high watermark is a watch channel; the assignment and the
//! follower states sit behind one short mutex, never held across an await or the log lock.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use super::epoch::{check_current_leader_epoch, diverging_epoch, NO_EPOCH};
use super::followers::{Followers, UNKNOWN_OFFSET};
use super::hw_checkpoint::initial_high_watermark;
use super::isr::{effective_min_isr, IsrState};
use crate::error::{Error, ErrorCode, Result};
use crate::log::batch::BatchWalker;
use crate::log::control::ControlType;
use crate::log::partition::{now_ms, ReadResult};
use crate::log::partition_log::{AppendInfo, PartitionLog};
use crate::log::Partition;
use crate::metadata::PartitionImage;

/// What a fetch of one partition returns: the records, the offsets that bound them and, for
/// read_committed, the aborted transactions among them.
#[derive(Debug, Clone)]
pub struct FetchRead {
    pub records: Bytes,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// `(producer id, first offset)` of each aborted transaction overlapping the records
    /// (read_committed only; empty otherwise).
    pub aborted: Vec<(i64, i64)>,
}

/// How far a read may go (Kafka's `FetchIsolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A follower replica: up to the log end.
    LogEnd,
    /// A read_uncommitted consumer: up to the high watermark.
    HighWatermark,
    /// A read_committed consumer: up to the last stable offset.
    Committed,
}

impl Isolation {
    /// Kafka's `FetchIsolation.of`: a broker replica id (≥ 0) reads to the log end, anyone
    /// else (−1 consumer, −2 debugging) as its isolation level says.
    pub fn of(replica_id: i32, read_committed: bool) -> Isolation {
        if replica_id >= 0 {
            Isolation::LogEnd
        } else if read_committed {
            Isolation::Committed
        } else {
            Isolation::HighWatermark
        }
    }
}

/// "No open transaction" in [`Replica`]'s first-unstable-offset atomic.
const NONE_UNSTABLE: i64 = i64::MAX;

fn first_unstable(log: &PartitionLog) -> i64 {
    log.first_unstable_offset().unwrap_or(NONE_UNSTABLE)
}

/// The image's assignment of the partition, the leader's ISR state and what the leader
/// knows of its followers.
#[derive(Debug, Default)]
pub(super) struct Assignment {
    pub(super) replicas: Vec<i32>,
    pub(super) isr: IsrState,
    pub(super) followers: Followers,
    /// Replicas whose brokers may not join the ISR (fenced, in controlled shutdown or not
    /// registered in the image).
    pub(super) ineligible: Vec<i32>,
    /// The registered broker epoch of every eligible replica, from the image (KIP-903).
    pub(super) registered_epochs: std::collections::HashMap<i32, i64>,
    /// The broker epoch each follower's latest fetch carried (Fetch v15 `replica_epoch`; −1
    /// from an older fetch: nothing to check, as Kafka).
    pub(super) fetch_epochs: std::collections::HashMap<i32, i64>,
}

/// One hosted replica (see the module doc).
pub struct Replica {
    pub(super) log: Arc<Partition>,
    topic_id: Uuid,
    pub(super) node_id: i32,
    leader_epoch: AtomicI32,
    leader: AtomicBool,
    /// The log end when this node became leader of the current epoch; −1 when not leader.
    epoch_start_offset: AtomicI64,
    pub(super) high_watermark: watch::Sender<i64>,
    first_unstable: AtomicI64,
    /// Where ISR proposals are announced to the AlterPartition sender (see [`super::isr_driver`]).
    pub(super) alter_sink: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<(String, i32)>>,
    /// The topic's `min.insync.replicas` (see [`super::acks`]).
    pub(super) min_insync: AtomicI32,
    /// `replica.lag.time.max.ms` (the caught-up rule).
    pub(super) max_lag_ms: AtomicI64,
    pub(super) assignment: Mutex<Assignment>,
}

impl Replica {
    /// A replica of `log` as `image` assigns it to `node_id`, starting from the checkpointed
    /// high watermark (see [`super::hw_checkpoint`]).
    pub fn new(
        log: Arc<Partition>,
        topic_id: Uuid,
        node_id: i32,
        image: &PartitionImage,
        checkpointed_hw: Option<i64>,
    ) -> Replica {
        let hw = initial_high_watermark(
            checkpointed_hw,
            log.log_start_offset(),
            log.log_end_offset(),
        );
        let (hw, _) = watch::channel(hw);
        let unstable = log
            .lock()
            .map(|l| first_unstable(&l))
            .unwrap_or(NONE_UNSTABLE);
        let r = Replica {
            first_unstable: AtomicI64::new(unstable),
            log,
            topic_id,
            node_id,
            leader_epoch: AtomicI32::new(NO_EPOCH),
            leader: AtomicBool::new(false),
            epoch_start_offset: AtomicI64::new(UNKNOWN_OFFSET),
            high_watermark: hw,
            alter_sink: std::sync::OnceLock::new(),
            // Not known until `set_limits`: every replica, the safe side.
            min_insync: AtomicI32::new(i32::MAX),
            max_lag_ms: AtomicI64::new(30_000),
            assignment: Mutex::new(Assignment::default()),
        };
        r.apply(image);
        r
    }

    pub fn topic(&self) -> &str {
        self.log.topic()
    }

    pub fn index(&self) -> i32 {
        self.log.index()
    }

    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }

    /// The partition log itself (maintenance, checkpoints, admin paths).
    pub fn log(&self) -> &Arc<Partition> {
        &self.log
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// The offset where this node's leadership of the current epoch began (`None` when it is
    /// not the leader).
    pub fn epoch_start_offset(&self) -> Option<i64> {
        Some(self.epoch_start_offset.load(Ordering::Acquire)).filter(|o| *o >= 0)
    }

    pub(super) fn assignment(&self) -> MutexGuard<'_, Assignment> {
        self.assignment.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies the leadership and assignment the published image gives this replica. A new
    /// leadership (this node becomes leader, or leads a newer epoch) starts its epoch at the
    /// log end and resets the follower states (see the module doc).
    pub fn apply(&self, image: &PartitionImage) {
        self.apply_with(image, |_| Some(-1));
    }

    /// [`apply`](Self::apply) with the image's view of which brokers may join an ISR
    /// (registered, not fenced, not shutting down): `registered` gives such a broker's
    /// registered epoch, `None` for any other.
    pub fn apply_with(&self, image: &PartitionImage, registered: impl Fn(i32) -> Option<i64>) {
        let leader = image.leader == self.node_id;
        let epoch = image.leader_epoch;
        let new_leadership = leader && (!self.is_leader() || self.leader_epoch() != epoch);
        let followers: Vec<i32> = image
            .replicas
            .iter()
            .copied()
            .filter(|id| *id != self.node_id)
            .collect();
        if new_leadership {
            let start = match self.log.lock() {
                Ok(mut log) => {
                    log.assign_epoch_start(epoch);
                    self.log.publish(&log);
                    log.log_end_offset()
                }
                Err(_) => self.log.log_end_offset(),
            };
            self.epoch_start_offset.store(start, Ordering::Release);
        } else if !leader {
            self.epoch_start_offset
                .store(UNKNOWN_OFFSET, Ordering::Release);
        }
        {
            let mut a = self.assignment();
            if new_leadership {
                a.followers.reset(&followers, &image.isr, now_ms());
            } else {
                a.followers.retain_assigned(&followers);
            }
            a.replicas = image.replicas.clone();
            if new_leadership || !leader {
                a.isr = IsrState::from_image(image);
            } else {
                a.isr.on_image(image);
            }
            a.registered_epochs = image
                .replicas
                .iter()
                .filter_map(|&id| registered(id).map(|e| (id, e)))
                .collect();
            a.ineligible = image
                .replicas
                .iter()
                .copied()
                .filter(|id| !a.registered_epochs.contains_key(id))
                .collect();
            if new_leadership {
                a.fetch_epochs.clear();
            }
        }
        let lost = self.is_leader() && (!leader || self.leader_epoch() != epoch);
        if new_leadership || lost {
            tracing::debug!(
                "{}-{}: {} in leader epoch {epoch} (leader {}, ISR {:?}) at log end {}, HW {}",
                self.topic(),
                self.index(),
                if new_leadership {
                    "leading"
                } else {
                    "no longer leading"
                },
                image.leader,
                image.isr,
                self.log_end_offset(),
                self.high_watermark()
            );
        }
        self.leader_epoch.store(epoch, Ordering::Release);
        self.leader.store(leader, Ordering::Release);
        self.advance_high_watermark();
        if lost {
            // acks=all waiters re-check their leadership (see [`super::acks`]).
            self.high_watermark.send_modify(|_| {});
        }
    }

    /// Kafka's `localLogWithEpochOrThrow`: the request's `current_leader_epoch` checked
    /// against this replica's (see [`super::epoch`]), then NOT_LEADER_OR_FOLLOWER when
    /// `require_leader` and this node does not lead.
    pub fn check_epoch(&self, current_leader_epoch: i32, require_leader: bool) -> Result<()> {
        check_current_leader_epoch(self.leader_epoch(), current_leader_epoch)?;
        if require_leader && !self.is_leader() {
            return Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                format!(
                    "This server is not the leader for {}-{}",
                    self.topic(),
                    self.index()
                ),
            ));
        }
        Ok(())
    }

    /// Kafka's `followerReplicaOrThrow`: a fetch from broker `replica_id` is served only if it
    /// is one of this partition's followers — else UNKNOWN_LEADER_EPOCH when the request named
    /// an epoch (its metadata may be ahead of ours), NOT_LEADER_OR_FOLLOWER when not.
    /// Records the broker epoch a follower's fetch carried (KIP-903; −1: none).
    pub fn record_follower_epoch(&self, replica_id: i32, broker_epoch: i64) {
        self.assignment()
            .fetch_epochs
            .insert(replica_id, broker_epoch);
    }

    /// The broker epochs the ISR members' latest fetches carried, for AlterPartition's
    /// `new_isr_with_epochs` (Kafka's `addBrokerEpochToIsr`; a member not seen: −1).
    pub fn follower_epochs(&self) -> std::collections::HashMap<i32, i64> {
        self.assignment().fetch_epochs.clone()
    }

    pub fn check_follower(&self, replica_id: i32, current_leader_epoch: i32) -> Result<()> {
        if self.assignment().followers.contains(replica_id) {
            return Ok(());
        }
        let code = if current_leader_epoch == NO_EPOCH {
            ErrorCode::NotLeaderOrFollower
        } else {
            ErrorCode::UnknownLeaderEpoch
        };
        Err(Error::kafka(
            code,
            format!(
                "replica {replica_id} is not a follower of {}-{} in leader epoch {}",
                self.topic(),
                self.index(),
                self.leader_epoch()
            ),
        ))
    }

    /// The greatest epoch ≤ `epoch` in the log and where it ends (Kafka's
    /// `UnifiedLog.endOffsetForEpoch`); `None` = UNDEFINED.
    pub async fn end_offset_for_epoch(&self, epoch: i32) -> Result<Option<(i32, i64)>> {
        self.log
            .run(move |log| Ok(log.end_offset_for_epoch(epoch)))
            .await
    }

    /// Where a fetcher whose last fetched batch had `last_fetched_epoch` diverged from this
    /// log, if it did (see [`super::epoch::diverging_epoch`]); nothing to check for −1.
    pub async fn diverging_epoch(
        &self,
        last_fetched_epoch: i32,
        fetch_offset: i64,
    ) -> Result<Option<(i32, i64)>> {
        if last_fetched_epoch < 0 {
            return Ok(None);
        }
        // The usual case, decided without the lock: the fetcher's last epoch is this log's
        // newest and it fetches within the log, so that epoch ends at the log end, past
        // the fetch offset. The log end is read first: a publish stores the epoch before
        // the end, so the epoch read is at least as new as that end.
        let leo = self.log.log_end_offset();
        if last_fetched_epoch == self.log.latest_epoch()
            && fetch_offset <= leo
            && fetch_offset >= self.log_start_offset()
        {
            return Ok(None);
        }
        let end_for = self.end_offset_for_epoch(last_fetched_epoch).await?;
        diverging_epoch(
            end_for,
            last_fetched_epoch,
            fetch_offset,
            self.log_start_offset(),
        )
    }

    /// OFFSET_NOT_AVAILABLE while this leader's high watermark is below the start offset of
    /// its epoch (Kafka's `fetchOffsetForTimestamp`): the records between were written by an
    /// earlier leader and are not known to be committed yet, so answering "latest" with the
    /// high watermark could move a client's offsets backwards. Only possible with followers.
    pub fn offsets_lagging(&self) -> Option<Error> {
        let start = self.epoch_start_offset()?;
        let hw = self.high_watermark();
        (start > hw).then(|| {
            Error::kafka(
                ErrorCode::OffsetNotAvailable,
                format!(
                    "the high watermark {hw} of {}-{} is lagging behind the start offset {start} \
                     of leader epoch {}",
                    self.topic(),
                    self.index(),
                    self.leader_epoch()
                ),
            )
        })
    }

    /// What this leader knows of follower `replica_id`.
    pub fn follower_state(&self, replica_id: i32) -> Option<super::followers::FollowerState> {
        self.assignment().followers.get(replica_id)
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// A receiver that changes whenever the high watermark moves (long-poll waiters).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// The high-watermark rule (see the module doc): a leader moves it up to the smallest log
    /// end of its maximal ISR and of the caught-up eligible followers about to join it (a
    /// follower whose log end is not known yet holds it where it is), and not at all while
    /// its committed ISR is below the effective `min.insync.replicas` (KAFKA-15583); any
    /// replica lowers it to its own log end when the log was cut below it.
    pub fn advance_high_watermark(&self) {
        let leo = self.log.log_end_offset();
        let isr_end = if self.is_leader() {
            let a = self.assignment();
            let min_isr =
                effective_min_isr(self.min_insync.load(Ordering::Acquire), a.replicas.len());
            if a.isr.committed().len() < min_isr {
                None
            } else {
                let maximal = a.isr.maximal();
                let lag = self.max_lag_ms.load(Ordering::Acquire);
                let now = now_ms();
                Some(
                    a.followers
                        .iter()
                        .filter(|(id, s)| {
                            maximal.contains(id)
                                || (!a.ineligible.contains(id) && s.is_caught_up(leo, now, lag))
                        })
                        .map(|(_, s)| s.log_end_offset)
                        .chain(
                            maximal
                                .iter()
                                .filter(|id| **id != self.node_id && !a.followers.contains(**id))
                                .map(|_| UNKNOWN_OFFSET),
                        )
                        .fold(leo, i64::min),
                )
            }
        } else {
            None
        };
        self.high_watermark.send_if_modified(|hw| {
            let raised = isr_end.map_or(*hw, |end| (*hw).max(end));
            let new = raised.min(leo);
            let changed = *hw != new;
            *hw = new;
            changed
        });
    }

    /// The last stable offset (see the module doc).
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
            .min(self.first_unstable.load(Ordering::Acquire))
    }

    /// Runs `f` on the log under its lock, then refreshes the first unstable offset and the
    /// high watermark: every change that can open or close a transaction goes through here.
    pub async fn change<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PartitionLog) -> Result<T> + Send + 'static,
    {
        self.change_short(|_| true, f).await
    }

    /// [`change`](Self::change) for a short `f` (an append): run on the async worker when
    /// `may_block` says it will not wait on the disk ([`Partition::run_short`]).
    pub async fn change_short<T, F>(
        &self,
        may_block: impl FnOnce(&PartitionLog) -> bool,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PartitionLog) -> Result<T> + Send + 'static,
    {
        let out = self
            .log
            .run_short(may_block, move |log| {
                let out = f(log);
                Ok((out, first_unstable(log)))
            })
            .await;
        let out = match out {
            Ok((out, unstable)) => {
                self.first_unstable.store(unstable, Ordering::Release);
                out
            }
            Err(e) => Err(e),
        };
        self.advance_high_watermark();
        out
    }

    /// Writes the marker that ends `producer_id`'s transaction on this partition.
    pub async fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlType,
        coordinator_epoch: i32,
    ) -> Result<AppendInfo> {
        let epoch = self.leader_epoch();
        self.change(move |log| {
            log.append_control(
                producer_id,
                producer_epoch,
                kind,
                coordinator_epoch,
                epoch,
                now_ms(),
            )
        })
        .await
    }

    /// Reads from `offset`, at most `max_bytes` (with `whole_first` the first batch is
    /// returned even when it alone is larger): below the bound `isolation` names, with the
    /// aborted transactions among the records for read_committed.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        whole_first: bool,
        isolation: Isolation,
    ) -> Result<FetchRead> {
        // The bounds are taken before reading: whatever is appended meanwhile is not
        // committed as far as this read knows.
        let hw = self.high_watermark();
        let lso = self.last_stable_offset();
        let read_committed = isolation == Isolation::Committed;
        let bound = match isolation {
            Isolation::LogEnd => self.log_end_offset(),
            Isolation::HighWatermark => hw,
            Isolation::Committed => lso,
        };
        let empty = |start| FetchRead {
            records: Bytes::new(),
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: start,
            aborted: Vec::new(),
        };
        // Between the bound and the log end: nothing to send yet. Past the log end (or below
        // its start) the log answers OFFSET_OUT_OF_RANGE.
        if offset >= bound && offset <= self.log_end_offset() {
            return Ok(empty(self.log_start_offset()));
        }
        let ReadResult {
            records,
            log_start_offset,
            ..
        } = self
            .log
            .read_bounded(offset, bound, max_bytes, whole_first)
            .await?;
        let mut read = empty(log_start_offset);
        if read_committed && !records.is_empty() {
            let end = BatchWalker::new(&records)
                .last()
                .map_or(offset, |(_, h)| h.last_offset() + 1);
            read.aborted = self.log.aborted_transactions(offset, end).await?;
        }
        read.records = records;
        Ok(read)
    }
}
