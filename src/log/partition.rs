//! A partition log shared between tasks: the log behind a mutex, plus a watch channel carrying
//! its log end offset. The high watermark is not kept here: it belongs to the replica layer
//! ([`crate::replica::Replica`]), which decides what is committed.
//!
//! Thread-safety: `Partition` is `Send + Sync` and shared as `Arc<Partition>`. Work that may
//! wait on the disk runs off the async workers ([`Partition::run`]: `block_in_place`, which
//! first hands the worker's other tasks to another thread, or the blocking pool). The hot
//! paths — an append that neither rolls nor fsyncs ([`Partition::run_short`]) and a read of
//! the active segment's tail — run on the worker under the lock when it is free, as Kafka's
//! request threads do: the hand-off cost more than the work (docs/design/replication.md §11).
//! Reads plan a byte range under the lock and read the file after releasing it, so a slow
//! reader never holds up producers.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

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

    /// Runs a short change `f` on the log right here on the async worker when the lock is
    /// free and `may_block` (asked under the lock) says `f` will not touch the disk beyond
    /// writing to the page cache (no roll, no fsync); otherwise as [`run`](Self::run) does.
    /// An append is a `pwrite` of one batch and a few index entries, shorter than the
    /// hand-off of a worker `block_in_place` costs (docs/design/replication.md §11); Kafka's
    /// request threads hold its log lock for as long. A held lock is not waited for here: its
    /// holder may be doing something slow (a truncation, retention), so the work goes off the
    /// worker then.
    pub async fn run_short<T, F>(
        self: &Arc<Self>,
        may_block: impl FnOnce(&PartitionLog) -> bool,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PartitionLog) -> Result<T> + Send + 'static,
    {
        match self.log.try_lock() {
            Ok(mut log) if !may_block(&log) => {
                let out = f(&mut log);
                self.publish(&log);
                return out;
            }
            Err(TryLockError::Poisoned(_)) => {
                return Err(Error::internal(
                    "partition log lock poisoned by an earlier panic",
                ))
            }
            _ => {}
        }
        self.run(f).await
    }

    /// Appends one producer batch.
    pub async fn append(self: &Arc<Self>, batch: Bytes) -> Result<AppendInfo> {
        let len = batch.len();
        self.run_short(
            move |log| log.append_may_block(len, now_ms()),
            move |log| log.append(&batch, now_ms()),
        )
        .await
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
        if let Some(hot) = self.read_hot(offset, max_offset, max_bytes, whole_first)? {
            return Ok(hot);
        }
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

impl Partition {
    /// [`read_bounded`](Self::read_bounded) on the async worker when that is cheap: the lock
    /// is free (see [`run_short`](Self::run_short)), the read starts in the active segment (in
    /// the page cache: just written) and reads at most [`HOT_READ_MAX`] bytes — a tailing
    /// follower's or consumer's read. `None`: go off the worker (also when a truncation raced
    /// the read: the caller plans again there).
    fn read_hot(
        &self,
        offset: i64,
        max_offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<Option<ReadResult>> {
        let (plan, leo, start) = {
            let log = match self.log.try_lock() {
                Ok(log) => log,
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Poisoned(_)) => {
                    return Err(Error::internal(
                        "partition log lock poisoned by an earlier panic",
                    ))
                }
            };
            if !log.reads_from_active(offset) {
                return Ok(None);
            }
            (
                log.read_plan_bounded(offset, max_offset)?,
                log.log_end_offset(),
                log.log_start_offset(),
            )
        };
        let records = match plan {
            None => Bytes::new(),
            Some(p) if p.read_len(max_bytes, whole_first) <= HOT_READ_MAX => {
                match p.read_checked(max_bytes, whole_first)? {
                    Some(records) => records,
                    None => return Ok(None),
                }
            }
            Some(_) => return Ok(None),
        };
        Ok(Some(ReadResult {
            records,
            high_watermark: leo,
            log_start_offset: start,
        }))
    }
}

/// Most bytes a read done on the async worker copies or maps ([`Partition::read_bounded`]):
/// Kafka's default `replica.fetch.max.bytes` and `max.partition.fetch.bytes`, so a tailing
/// reader's whole read, and a bound on how long it keeps the worker.
const HOT_READ_MAX: usize = 1 << 20;

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
