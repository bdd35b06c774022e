//! [`CoordinatorLog`] on a real partition log (`__consumer_offsets-0` for groups).
//!
//! The one place the coordinators touch the partition layer, and only through
//! `Partition::append` and `Partition::lock`, so that a rework of that layer changes this
//! file alone. Records go into ordinary record batches v2, one batch per append.
//!
//! Thread-safety: [`Partition`] serialises appends; reads and the start-up rewrite hold its
//! lock and are blocking (they run before the broker serves requests).

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::log::{AppendFuture, CoordinatorLog, RecordBytes};
use crate::error::{Error, Result};
use crate::log::partition::now_ms;
use crate::log::Partition;

/// Records per batch when rewriting the log.
const REWRITE_BATCH: usize = 500;

/// A coordinator log kept in a partition (see the module doc).
pub struct PartitionCoordinatorLog {
    partition: Arc<Partition>,
}

/// One record batch holding `records`, as the log stores it.
fn encode_batch(records: &[RecordBytes]) -> Result<Bytes> {
    let entries: Vec<(Option<Bytes>, Option<Bytes>)> = records
        .iter()
        .map(|(k, v)| (Some(k.clone()), v.clone()))
        .collect();
    crate::log::records::encode_batch(&entries, None, now_ms())
        .map_err(|e| Error::Io(io::Error::other(e)))
}

impl PartitionCoordinatorLog {
    pub fn new(partition: Arc<Partition>) -> PartitionCoordinatorLog {
        PartitionCoordinatorLog { partition }
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// Kafka compacts a coordinator topic; gregor instead rewrites it when it is larger than
    /// `above` bytes: `state` (the records that rebuild the current state) is appended to a
    /// fresh segment and every older segment is deleted (blocking; start-up only).
    pub fn rewrite_if_larger(&self, above: u64, state: &[RecordBytes]) -> Result<()> {
        let mut log = self.partition.lock()?;
        if log.size_bytes() <= above {
            return Ok(());
        }
        let before = log.size_bytes();
        log.roll(now_ms())?;
        let start = log.log_end_offset();
        for chunk in state.chunks(REWRITE_BATCH) {
            log.append(&encode_batch(chunk)?, now_ms())?;
        }
        log.delete_records_before(start)?;
        tracing::info!(
            "rewrote {}-{}: {before} bytes down to {}",
            self.partition.topic(),
            self.partition.index(),
            log.size_bytes()
        );
        self.partition.publish(&log);
        Ok(())
    }
}

impl CoordinatorLog for PartitionCoordinatorLog {
    fn append(&self, records: Vec<RecordBytes>) -> AppendFuture<'_> {
        Box::pin(async move {
            if records.is_empty() {
                return Ok(());
            }
            self.partition
                .append(encode_batch(&records)?)
                .await
                .map(|_| ())
        })
    }

    /// Unreadable batches or records are skipped with a warning, as a damaged tail was
    /// already cut off by recovery.
    fn read_all(&self) -> Result<Vec<RecordBytes>> {
        let mut records = Vec::new();
        let log = self.partition.lock()?;
        let mut offset = log.log_start_offset();
        while let Some(plan) = log.read_plan(offset)? {
            let chunk = plan.read(8 << 20, true)?;
            let mut last = offset;
            for (pos, h) in crate::log::batch::BatchWalker::new(&chunk) {
                let bytes = &chunk[pos..pos + h.total_size()];
                match crate::log::records::decode(bytes) {
                    Ok(recs) => {
                        for r in recs.into_iter().filter(|r| r.offset >= offset) {
                            match r.key {
                                Some(k) => records.push((k, r.value)),
                                None => tracing::warn!(
                                    "skipping coordinator record without key at offset {}",
                                    r.offset
                                ),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(
                        "skipping unreadable coordinator batch at offset {}: {e}",
                        h.base_offset
                    ),
                }
                last = h.last_offset() + 1;
            }
            if last == offset {
                break;
            }
            offset = last;
        }
        Ok(records)
    }
}
