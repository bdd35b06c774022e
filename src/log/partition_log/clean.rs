//! The two moments the log cleaner ([`crate::log::cleaner`]) needs the partition lock: taking a
//! snapshot of the sealed segments it may clean (Kafka's `LogCleanerManager.cleanableOffsets`
//! and `LogToClean`), and swapping a cleaned segment in for the segments it replaces (Kafka's
//! `LocalLog.replaceSegments`). Everything between — reading, filtering, writing the
//! `.cleaned` files — happens outside the lock.
//!
//! Why the snapshot stays valid without the lock: sealed segments are never appended to, and
//! the snapshot holds each file's `Arc<File>` and read pin ([`crate::log::read_plan`]), so a
//! truncation cannot shrink them under the cleaner. What can change is recorded and checked
//! at swap time: the truncation generation (run-time truncation), and each replaced segment's
//! presence and size (retention, DeleteRecords, truncation). On any change the swap is
//! abandoned and the `.cleaned` files deleted.
//!
//! Thread-safety: both methods run under the partition's lock (`&self` / `&mut self`).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::{segment_config, PartitionLog};
use crate::config::LogConfig;
use crate::log::cleaner::swap::{self, SwapFaults};
use crate::log::read_plan::FileReaders;
use crate::log::segment::LogSegment;
use crate::log::txn_index::AbortedTxn;

/// One sealed segment as the cleaner reads it, pinned so it stays readable.
#[derive(Debug, Clone)]
pub struct SegmentView {
    pub base: i64,
    pub size: u32,
    pub next_offset: i64,
    pub max_timestamp: i64,
    pub offset_index_bytes: u64,
    pub time_index_bytes: u64,
    pub file: Arc<File>,
    _pin: Arc<FileReaders>,
}

/// What one cleaning pass works from (see the module doc).
#[derive(Debug, Clone)]
pub struct CleanSnapshot {
    pub dir: PathBuf,
    pub config: LogConfig,
    pub log_start: i64,
    /// The sealed segments below the first uncleanable offset, in offset order.
    pub segments: Vec<SegmentView>,
    /// Where the dirty (never cleaned) part begins.
    pub first_dirty: i64,
    /// Nothing at or past it is cleaned (active segment, open transactions, high watermark,
    /// `min.compaction.lag.ms`).
    pub first_uncleanable: i64,
    /// Every aborted transaction in the log's transaction indexes.
    pub aborted: Vec<AbortedTxn>,
    /// Per producer: last data offset and epoch (batches kept so idempotence survives).
    pub last_records: HashMap<i64, (Option<i64>, i16)>,
    /// Bytes of the log before `first_dirty` (already cleaned) and in the dirty range.
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// The max timestamp of the first dirty batch (for `max.compaction.lag.ms`).
    pub first_dirty_timestamp: Option<i64>,
    generation: u64,
}

impl PartitionLog {
    /// The cleaner's view of this log (see the module doc). `checkpoint`: the first dirty
    /// offset the cleaner recorded (ignored when outside the log); `high_watermark`: nothing
    /// at or past it is cleaned.
    pub fn clean_snapshot(
        &self,
        checkpoint: Option<i64>,
        high_watermark: Option<i64>,
        now_ms: i64,
    ) -> io::Result<CleanSnapshot> {
        let leo = self.log_end_offset();
        let first_dirty = checkpoint
            .filter(|c| *c >= self.log_start_offset && *c <= leo)
            .unwrap_or(self.log_start_offset);
        let mut first_uncleanable = self.active().base_offset();
        if let Some(u) = self.first_unstable_offset() {
            first_uncleanable = first_uncleanable.min(u);
        }
        if let Some(hw) = high_watermark {
            first_uncleanable = first_uncleanable.min(hw);
        }
        let lag = self.config.min_compaction_lag_ms;
        if lag > 0 {
            if let Some(s) = self.segments.values().find(|s| {
                s.next_offset() > first_dirty && s.max_timestamp() > now_ms.saturating_sub(lag)
            }) {
                first_uncleanable = first_uncleanable.min(s.base_offset());
            }
        }
        let mut segments = Vec::new();
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        let mut first_dirty_timestamp = None;
        for s in self.segments.values() {
            if s.base_offset() >= first_uncleanable {
                break;
            }
            if s.next_offset() <= first_dirty {
                clean_bytes += s.size() as u64;
            } else {
                dirty_bytes += s.size() as u64;
                if first_dirty_timestamp.is_none() {
                    first_dirty_timestamp =
                        s.find_position(first_dirty)?.map(|(_, h)| h.max_timestamp);
                }
            }
            segments.push(SegmentView {
                base: s.base_offset(),
                size: s.size(),
                next_offset: s.next_offset(),
                max_timestamp: s.max_timestamp(),
                offset_index_bytes: s.offset_index().len() as u64 * 8,
                time_index_bytes: s.time_index().len() as u64 * 12,
                file: s.file()?,
                _pin: s.pin(),
            });
        }
        if first_dirty >= first_uncleanable {
            dirty_bytes = 0;
        }
        let aborted = self
            .segments
            .values()
            .flat_map(|s| s.txn_index().entries().iter().copied())
            .collect();
        Ok(CleanSnapshot {
            dir: self.dir.clone(),
            config: self.config.clone(),
            log_start: self.log_start_offset,
            segments,
            first_dirty,
            first_uncleanable,
            aborted,
            last_records: self.producers.last_records(),
            clean_bytes,
            dirty_bytes,
            first_dirty_timestamp,
            generation: self.truncations.current(),
        })
    }

    /// Swaps the cleaned segment `<base>.*.cleaned` in for the segments `replaced` (`(base,
    /// size)` as in `snap`), following Kafka's protocol (see [`swap`]). Returns false, having
    /// deleted the `.cleaned` files and changed nothing, when the log changed under the
    /// cleaner since `snap` was taken.
    pub fn replace_segments(
        &mut self,
        snap: &CleanSnapshot,
        base: i64,
        replaced: &[(i64, u32)],
        faults: &dyn SwapFaults,
    ) -> io::Result<bool> {
        let active = self.active().base_offset();
        let unchanged = self.truncations.current() == snap.generation
            && replaced.iter().all(|(b, size)| {
                *b != active && self.segments.get(b).is_some_and(|s| s.size() == *size)
            });
        if !unchanged {
            swap::discard_cleaned(&self.dir, base)?;
            return Ok(false);
        }
        swap::commit_cleaned(&self.dir, base, faults)?;
        let mut retired = Vec::new();
        for (b, _) in replaced {
            if let Some(old) = self.segments.remove(b) {
                drop(old);
                if *b != base {
                    swap::retire(&self.dir, *b, faults)?;
                    retired.push(*b);
                }
            }
        }
        swap::install(&self.dir, base, faults)?;
        swap::delete_retired(&self.dir, &retired, faults)?;
        let seg = LogSegment::open(&self.dir, base, segment_config(&self.config), false, 0)?;
        self.segments.insert(base, seg);
        Ok(true)
    }
}
