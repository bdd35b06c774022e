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
//! Thread-safety: shared as `Arc<Replica>`; the epoch and leadership are atomics set by the
//! replica manager when a new image is published; the high watermark is a watch channel.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::Result;
use crate::log::partition::{now_ms, ReadResult};
use crate::log::partition_log::AppendInfo;
use crate::log::Partition;

/// One hosted replica (see the module doc).
pub struct Replica {
    log: Arc<Partition>,
    topic_id: Uuid,
    leader_epoch: AtomicI32,
    leader: AtomicBool,
    high_watermark: watch::Sender<i64>,
}

impl Replica {
    pub fn new(log: Arc<Partition>, topic_id: Uuid, leader_epoch: i32, leader: bool) -> Replica {
        let (hw, _) = watch::channel(log.log_end_offset());
        Replica {
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

    /// Appends one producer batch as the leader, stamped with the current leader epoch.
    pub async fn append_as_leader(&self, batch: Bytes) -> Result<AppendInfo> {
        let epoch = self.leader_epoch();
        let info = self
            .log
            .run(move |log| log.append_as_leader(&batch, epoch, now_ms()))
            .await;
        self.advance_high_watermark();
        info
    }

    /// Waits until the high watermark passes `offset` (acks=all), at most `timeout`.
    /// Returns whether it did.
    pub async fn wait_for_high_watermark(&self, offset: i64, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|hw| *hw > offset)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// Reads committed batches from `offset` (below the high watermark), at most `max_bytes`;
    /// with `whole_first` the first batch is returned even when it alone is larger.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<ReadResult> {
        // The bound is taken before reading: whatever is appended meanwhile is not committed
        // as far as this read knows.
        let hw = self.high_watermark();
        // Between the high watermark and the log end: nothing committed to send yet. Past
        // the log end (or below its start) the log answers OFFSET_OUT_OF_RANGE.
        if offset >= hw && offset <= self.log_end_offset() {
            return Ok(ReadResult {
                records: Bytes::new(),
                high_watermark: hw,
                log_start_offset: self.log_start_offset(),
            });
        }
        let mut r = self
            .log
            .read_bounded(offset, hw, max_bytes, whole_first)
            .await?;
        r.high_watermark = hw;
        Ok(r)
    }
}
