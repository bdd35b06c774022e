//! A partition log shared between tasks: the log behind a mutex, plus a watch channel carrying
//! its log end offset. The high watermark is not kept here: it belongs to the replica layer
//! ([`crate::replica::Replica`]), which decides what is committed.
//!
//! Thread-safety: `Partition` is `Send + Sync` and shared as `Arc<Partition>`. The log is only
//! touched off the async workers ([`Partition::run`]: `block_in_place`, which first hands the
//! worker's other tasks to another thread, or the blocking pool); reads plan
//! a byte range under the lock and read the file after releasing it, so a slow reader never
//! holds up producers.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;

use crate::error::{Error, Result};

use super::control::ControlType;
use super::partition_log::{AppendInfo, PartitionLog};

/// What a fetch of one partition returns.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// One partition of a topic, shared between connections.
pub struct Partition {
    topic: String,
    index: i32,
    log: Mutex<PartitionLog>,
    log_end: watch::Sender<i64>,
    log_start: AtomicI64,
    /// The log's newest leader epoch (−1: none) as of the last publish, so a fetch's epoch
    /// check need not take the lock off the async worker.
    latest_epoch: AtomicI32,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Partition {
    pub fn new(topic: &str, index: i32, log: PartitionLog) -> Partition {
        let (tx, _) = watch::channel(log.log_end_offset());
        let start = AtomicI64::new(log.log_start_offset());
        let latest_epoch = AtomicI32::new(log.latest_epoch().unwrap_or(-1));
        Partition {
            topic: topic.to_string(),
            index,
            latest_epoch,
            log: Mutex::new(log),
            log_end: tx,
            log_start: start,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn index(&self) -> i32 {
        self.index
    }

    /// The log end offset as of the last published change.
    pub fn log_end_offset(&self) -> i64 {
        *self.log_end.borrow()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// The newest leader epoch in the log (−1: none) as of the last published change.
    pub fn latest_epoch(&self) -> i32 {
        self.latest_epoch.load(Ordering::Acquire)
    }

    /// A receiver that changes whenever the log end offset moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.log_end.subscribe()
    }

    /// Locks the log. Only for blocking contexts (see [`Partition::run`]).
    pub fn lock(&self) -> Result<MutexGuard<'_, PartitionLog>> {
        self.log
            .lock()
            .map_err(|_| Error::internal("partition log lock poisoned by an earlier panic"))
    }

    /// Publishes the log's offsets after a change made under the lock.
    pub fn publish(&self, log: &PartitionLog) {
        self.log_start
            .store(log.log_start_offset(), Ordering::Release);
        self.latest_epoch
            .store(log.latest_epoch().unwrap_or(-1), Ordering::Release);
        self.log_end.send_if_modified(|hw| {
            let leo = log.log_end_offset();
            let changed = *hw != leo;
            *hw = leo;
            changed
        });
    }

    /// Runs `f` on the log on a blocking thread and publishes the offsets afterwards.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PartitionLog) -> Result<T> + Send + 'static,
    {
        let me = self.clone();
        off_worker(move || {
            let mut log = me.lock()?;
            let out = f(&mut log);
            me.publish(&log);
            out
        })
        .await
    }

    /// Appends one producer batch.
    pub async fn append(self: &Arc<Self>, batch: Bytes) -> Result<AppendInfo> {
        self.run(move |log| log.append(&batch, now_ms())).await
    }

    /// Appends a transaction marker as the leader at `leader_epoch`
    /// ([`PartitionLog::append_control`]).
    pub async fn append_control(
        self: &Arc<Self>,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlType,
        coordinator_epoch: i32,
        leader_epoch: i32,
    ) -> Result<AppendInfo> {
        self.run(move |log| {
            log.append_control(
                producer_id,
                producer_epoch,
                kind,
                coordinator_epoch,
                leader_epoch,
                now_ms(),
            )
        })
        .await
    }

    /// The first offset of the oldest ongoing transaction, if any
    /// ([`PartitionLog::first_unstable_offset`]).
    pub async fn first_unstable_offset(self: &Arc<Self>) -> Result<Option<i64>> {
        self.inspect(|log| log.first_unstable_offset()).await
    }

    /// `(producer id, first offset)` of the aborted transactions overlapping
    /// `[fetch_offset, upper_bound)` ([`PartitionLog::aborted_transactions`]), for a
    /// read_committed fetch.
    pub async fn aborted_transactions(
        self: &Arc<Self>,
        fetch_offset: i64,
        upper_bound: i64,
    ) -> Result<Vec<(i64, i64)>> {
        self.inspect(move |log| log.aborted_transactions(fetch_offset, upper_bound))
            .await
    }

    /// Runs a read-only `f` on the log off the async workers; publishes nothing.
    async fn inspect<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&PartitionLog) -> T + Send + 'static,
    {
        let me = self.clone();
        off_worker(move || Ok(f(&*me.lock()?))).await
    }

    /// Reads whole batches from `offset`, at most `max_bytes`; with `whole_first` the first
    /// batch is returned even when it alone is larger.
    pub async fn read(
        self: &Arc<Self>,
        offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<ReadResult> {
        self.read_bounded(offset, i64::MAX, max_bytes, whole_first)
            .await
    }

    /// As [`read`](Self::read), returning only batches that end below `max_offset` (the high
    /// watermark or last stable offset the replica layer passes). The read is planned under
    /// the lock and done outside it; a read that raced a truncation is planned again.
    pub async fn read_bounded(
        self: &Arc<Self>,
        offset: i64,
        max_offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<ReadResult> {
        let me = self.clone();
        off_worker(move || loop {
            let (plan, hw, start) = {
                let log = me.lock()?;
                (
                    log.read_plan_bounded(offset, max_offset)?,
                    log.log_end_offset(),
                    log.log_start_offset(),
                )
            };
            let records = match plan {
                Some(p) => match p.read_checked(max_bytes, whole_first)? {
                    Some(records) => records,
                    None => continue,
                },
                None => Bytes::new(),
            };
            return Ok(ReadResult {
                records,
                high_watermark: hw,
                log_start_offset: start,
            });
        })
        .await
    }
}

/// Runs blocking log work (file I/O, the partition lock) so that no async worker waits on it.
/// On the broker's multi-threaded runtime, `block_in_place` hands this worker's queued tasks
/// to another thread and runs `f` right here: no hop to the blocking pool and back, which cost
/// about a third of a 64 KiB produce request on a 2-core machine (BENCHMARKS.md). On a
/// current-thread runtime, where that is not possible, `f` goes to the blocking pool.
async fn off_worker<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::internal(format!("log task failed: {e}")))?,
        Err(_) => f(),
    }
}
