//! The log a coordinator writes its records to: a deliberately narrow interface.
//!
//! A coordinator needs only two things from storage: append a batch of records (and learn
//! whether it was written) and, at start-up, read back everything it ever wrote. Keeping the
//! trait that small lets the runtime run on the real partition log
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

/// Storage for one coordinator partition (see the module doc).
pub trait CoordinatorLog: Send + Sync {
    /// Appends `records` as one batch. `Ok` only once they are written; on `Err` nothing of
    /// the batch may be read back.
    fn append(&self, records: Vec<RecordBytes>) -> AppendFuture<'_>;

    /// Every record written so far, oldest first (blocking; used at start-up).
    fn read_all(&self) -> Result<Vec<RecordBytes>>;
}

/// An in-memory log for tests; [`MemoryLog::fail_writes`] makes appends fail like a full disk.
#[derive(Debug, Default)]
pub struct MemoryLog {
    records: Mutex<Vec<RecordBytes>>,
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

    /// How many records have been written.
    pub fn len(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CoordinatorLog for MemoryLog {
    fn append(&self, records: Vec<RecordBytes>) -> AppendFuture<'_> {
        Box::pin(async move {
            if self.failing.load(Ordering::SeqCst) {
                return Err(Error::Io(std::io::Error::other("injected write failure")));
            }
            self.records
                .lock()
                .map_err(|_| Error::internal("memory log lock poisoned by an earlier panic"))?
                .extend(records);
            Ok(())
        })
    }

    fn read_all(&self) -> Result<Vec<RecordBytes>> {
        Ok(self
            .records
            .lock()
            .map_err(|_| Error::internal("memory log lock poisoned by an earlier panic"))?
            .clone())
    }
}
