//! One hosted partition replica: its log, the leader epoch the image gives it, and the high
//! watermark — kept apart from the log end offset, as Kafka's `Partition` keeps it.
//!
//! The high watermark is the offset below which every record is committed (held by every
//! in-sync replica). Readers are served only below it and long-polls wait on it; acks=all
//! producers wait until it passes their batch. On a single node the in-sync set is this node
//! alone, so it reaches the log end as soon as an append returns — but the two are separate
//! values, advanced by [`Replica::advance_high_watermark`], which is where the replication
//! issue plugs in the followers' log end offsets.
//!
//! The last stable offset (LSO) is the high watermark, or the first offset of the oldest
//! transaction still open on this partition if that is lower: read_committed consumers are
//! served below it. The first unstable offset is refreshed under the partition lock after
//! every append, marker and log-start move, so computing the LSO never takes the lock.
//!
//! Thread-safety: shared as `Arc<Replica>`; the epoch, leadership and first unstable offset
//! are atomics; the high watermark is a watch channel.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::Result;
use crate::log::batch::BatchWalker;
use crate::log::control::ControlType;
use crate::log::partition::{now_ms, ReadResult};
use crate::log::partition_log::{AppendInfo, PartitionLog};
use crate::log::Partition;

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

/// "No open transaction" in [`Replica`]'s first-unstable-offset atomic.
const NONE_UNSTABLE: i64 = i64::MAX;

fn first_unstable(log: &PartitionLog) -> i64 {
    log.first_unstable_offset().unwrap_or(NONE_UNSTABLE)
}

/// One hosted replica (see the module doc).
pub struct Replica {
    log: Arc<Partition>,
    topic_id: Uuid,
    leader_epoch: AtomicI32,
    leader: AtomicBool,
    high_watermark: watch::Sender<i64>,
    first_unstable: AtomicI64,
}

impl Replica {
    pub fn new(log: Arc<Partition>, topic_id: Uuid, leader_epoch: i32, leader: bool) -> Replica {
        let (hw, _) = watch::channel(log.log_end_offset());
        let unstable = log
            .lock()
            .map(|l| first_unstable(&l))
            .unwrap_or(NONE_UNSTABLE);
        Replica {
            first_unstable: AtomicI64::new(unstable),
            log,
            topic_id,
            leader_epoch: AtomicI32::new(leader_epoch),
            leader: AtomicBool::new(leader),
            high_watermark: hw,
        }
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

    /// Applies the leadership the published image gives this replica.
    pub fn set_leadership(&self, leader: bool, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Release);
        self.leader.store(leader, Ordering::Release);
        self.advance_high_watermark();
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

    /// Moves the high watermark to the smallest log end offset of the in-sync replicas —
    /// here, this node's own (see the module doc). It never moves backwards except when the
    /// log itself was cut below it (DeleteRecords cannot, truncation can).
    pub fn advance_high_watermark(&self) {
        let leo = self.log.log_end_offset();
        self.high_watermark.send_if_modified(|hw| {
            let changed = *hw != leo;
            *hw = leo;
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
        let out = self
            .log
            .run(move |log| {
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

    /// Appends one producer batch as the leader, stamped with the current leader epoch.
    pub async fn append_as_leader(&self, batch: Bytes) -> Result<AppendInfo> {
        let epoch = self.leader_epoch();
        self.change(move |log| log.append_as_leader(&batch, epoch, now_ms()))
            .await
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

    /// Waits until the high watermark passes `offset` (acks=all), at most `timeout`.
    /// Returns whether it did.
    pub async fn wait_for_high_watermark(&self, offset: i64, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|hw| *hw > offset)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// Reads from `offset`, at most `max_bytes` (with `whole_first` the first batch is
    /// returned even when it alone is larger): below the high watermark, or below the last
    /// stable offset for read_committed, with the aborted transactions among the records.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        whole_first: bool,
        read_committed: bool,
    ) -> Result<FetchRead> {
        // The bounds are taken before reading: whatever is appended meanwhile is not
        // committed as far as this read knows.
        let hw = self.high_watermark();
        let lso = self.last_stable_offset();
        let bound = if read_committed { lso } else { hw };
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
