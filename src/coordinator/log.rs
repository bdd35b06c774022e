//! The log a coordinator writes its records to: a deliberately narrow interface.
//!
//! A coordinator needs only a few things from storage: append a batch of records (and learn
//! whether it was written) — either plainly or as a transactional batch of a producer, as
//! Kafka writes TxnOffsetCommit records — append a transaction marker ending a producer's
//! transaction, and, at start-up, read back everything it ever wrote, in order, knowing which
//! producer's transaction each record belongs to and where the markers are. Keeping the trait
//! that small lets the runtime run on the real partition log
//! ([`PartitionCoordinatorLog`](super::partition_log::PartitionCoordinatorLog)) and, in unit
//! tests, on [`MemoryLog`], which can be told to fail writes. Records cross this interface as
//! Kafka records do: a key and a value (`None` is a tombstone).
//!
//! Thread-safety: implementations are shared between tasks (`Send + Sync`); the runtime never
//! appends twice at once to the same log.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use crate::error::{Error, Result};

/// One record as stored: key and value (`None` = tombstone).
pub type RecordBytes = (Bytes, Option<Bytes>);

/// The future an append returns.
pub type AppendFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// The transactional producer a batch or a marker belongs to: the producer id and epoch Kafka
/// stamps into the batch header, so that a marker can later commit or abort it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// One entry of a coordinator log as read back at start-up: the replay needs to know whose
/// transaction a record belongs to and where transactions end, not just the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A record, with the producer whose transactional batch holds it (`None`: a plain batch).
    Record {
        record: RecordBytes,
        producer: Option<TxnProducer>,
    },
    /// A transaction marker: `producer`'s transaction committed (`true`) or aborted.
    Marker { producer: TxnProducer, commit: bool },
}

/// Storage for one coordinator partition (see the module doc).
pub trait CoordinatorLog: Send + Sync {
    /// Appends `records` as one batch. `Ok` only once they are written; on `Err` nothing of
    /// the batch may be read back.
    fn append(&self, records: Vec<RecordBytes>) -> AppendFuture<'_>;

    /// Appends `records` as one transactional batch of `producer` (same guarantees as
    /// [`append`](Self::append)).
    fn append_transactional(
        &self,
        producer: TxnProducer,
        records: Vec<RecordBytes>,
    ) -> AppendFuture<'_>;

    /// Appends a marker ending `producer`'s transaction: COMMIT when `commit`, else ABORT,
    /// with the transaction coordinator's epoch.
    fn append_marker(
        &self,
        producer: TxnProducer,
        commit: bool,
        coordinator_epoch: i32,
    ) -> AppendFuture<'_>;

    /// Every record and marker written so far, oldest first (blocking; used at start-up).
    fn read_all(&self) -> Result<Vec<LogEntry>>;
}

/// An in-memory log for tests; [`MemoryLog::fail_writes`] makes appends fail like a full disk.
#[derive(Debug, Default)]
pub struct MemoryLog {
    entries: Mutex<Vec<LogEntry>>,
    failing: AtomicBool,
}

impl MemoryLog {
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// While `fail` is true every append fails with an I/O error and stores nothing.
    pub fn fail_writes(&self, fail: bool) {
        self.failing.store(fail, Ordering::SeqCst);
    }

    /// How many entries (records and markers) have been written.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, entries: impl IntoIterator<Item = LogEntry>) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::Io(std::io::Error::other("injected write failure")));
        }
        self.entries
            .lock()
            .map_err(|_| Error::internal("memory log lock poisoned by an earlier panic"))?
            .extend(entries);
        Ok(())
    }
}

impl CoordinatorLog for MemoryLog {
    fn append(&self, records: Vec<RecordBytes>) -> AppendFuture<'_> {
        Box::pin(async move {
            self.push(records.into_iter().map(|record| LogEntry::Record {
                record,
                producer: None,
            }))
        })
    }

    fn append_transactional(
        &self,
        producer: TxnProducer,
        records: Vec<RecordBytes>,
    ) -> AppendFuture<'_> {
        Box::pin(async move {
            self.push(records.into_iter().map(|record| LogEntry::Record {
                record,
                producer: Some(producer),
            }))
        })
    }

    fn append_marker(&self, producer: TxnProducer, commit: bool, _: i32) -> AppendFuture<'_> {
        Box::pin(async move { self.push([LogEntry::Marker { producer, commit }]) })
    }

    fn read_all(&self) -> Result<Vec<LogEntry>> {
        Ok(self
            .entries
            .lock()
            .map_err(|_| Error::internal("memory log lock poisoned by an earlier panic"))?
            .clone())
    }
}
