//! The log of one partition: its ordered segments, the offsets that bound it, and the
//! idempotent-producer state — Kafka's `UnifiedLog`/`LocalLog` for a single node.
//!
//! Invariants: segments are keyed by base offset and hold disjoint, increasing offset ranges;
//! only the last segment is active (appended to, indexes unsealed); `log_start_offset` lies
//! within `[first segment base, log end offset]`; the producer state (ongoing transactions
//! included) and the segments' transaction indexes reflect every batch up to the log end
//! offset.
//!
//! Thread-safety: none of its own. [`super::Partition`] owns it behind a mutex and calls it
//! from blocking threads only, never from async worker threads. Reads are planned under that
//! mutex and executed outside it ([`super::read_plan`] states why that stays safe while the
//! log is truncated at run time).
//!
//! Split by concept: [`open`] (loading and recovery), [`append`] (leader and follower
//! appends, rolling), [`truncate`] (run-time truncation, DeleteRecords, retention), [`txn`]
//! (transaction markers, the first unstable offset, aborted transactions), [`clean`] (the log
//! cleaner's snapshot and segment swap); this file holds
//! the state, the offsets and the read path.

mod append;
mod clean;
mod open;
mod truncate;
mod txn;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::config::LogConfig;
use crate::error::{Error, ErrorCode, Result};

use super::batch::BatchHeader;
use super::epoch_cache::LeaderEpochCache;
use super::producer_state::ProducerStateManager;
pub use super::read_plan::ReadPlan;
use super::read_plan::TruncationGeneration;
use super::records;
use super::recovery_point::RecoveryPoint;
use super::segment::{LogSegment, SegmentConfig};
pub use clean::{CleanSnapshot, SegmentView};

/// Where recovery may start and what the last checkpoints said, handed in at open.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// The previous stop was clean: trust indexes, recover nothing.
    pub clean_shutdown: bool,
    /// Offset below which data is known to be on disk (from the checkpoint file).
    pub recovery_point: i64,
    /// Log start offset from the checkpoint file (DeleteRecords survives restarts).
    pub log_start_offset: i64,
}

/// What opening a log found, for logging.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub segments: usize,
    pub recovered_segments: usize,
    pub truncated_bytes: u64,
    pub scanned_producer_batches: u64,
    /// Segments whose transaction index was rebuilt from the log.
    pub rebuilt_txn_indexes: usize,
}

/// The outcome of one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, −1 otherwise.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch had been appended before (an idempotent retry); nothing was written.
    pub duplicate: bool,
}

/// The on-disk log of one partition (see the module doc).
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    /// Offset below which everything is fsynced; raised by flushes, including the
    /// background flush of a rolled segment, lowered by truncation.
    recovery_point: RecoveryPoint,
    producers: ProducerStateManager,
    /// Leader epochs and where they start (`leader-epoch-checkpoint`).
    epochs: LeaderEpochCache,
    /// Bumped before every run-time truncation; read plans re-check it.
    truncations: TruncationGeneration,
    unflushed_messages: i64,
    last_flush_ms: i64,
}

fn segment_config(c: &LogConfig) -> SegmentConfig {
    SegmentConfig {
        index_interval_bytes: c.index_interval_bytes,
        index_max_bytes: c.segment_index_bytes,
    }
}

impl PartitionLog {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    fn active(&self) -> &LogSegment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.get()
    }

    pub fn segments(&self) -> impl Iterator<Item = &LogSegment> {
        self.segments.values()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size() as u64).sum()
    }

    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Closes the files of segments nobody used since the previous call (see
    /// [`LogSegment::release_if_idle`]), the active one included: an idle partition holds no
    /// descriptor and no mapping. Returns how many segments let go of their files.
    pub fn release_idle_files(&mut self) -> usize {
        self.segments
            .values_mut()
            .map(|s| s.release_if_idle() as usize)
            .sum()
    }

    /// Plans a read starting at `offset` up to the log end: `None` at the log end,
    /// OFFSET_OUT_OF_RANGE outside `[log start, log end]`.
    pub fn read_plan(&self, offset: i64) -> Result<Option<ReadPlan>> {
        self.read_plan_bounded(offset, i64::MAX)
    }

    /// Whether a read from `offset` starts in the active segment, the part of the log just
    /// written and so in the page cache ([`crate::log::Partition::read_bounded`] reads it on
    /// the async worker).
    pub fn reads_from_active(&self, offset: i64) -> bool {
        offset >= self.active().base_offset()
    }

    /// Plans a read starting at `offset` of the batches that end below `max_offset` (the high
    /// watermark or the last stable offset), as Kafka bounds a fetch: a batch whose last
    /// offset is at or past the bound is not returned, so a read starting inside such a batch
    /// is empty (`None`). OFFSET_OUT_OF_RANGE outside `[log start, log end]`. The plan covers
    /// one segment; read again from where it ends for more.
    pub fn read_plan_bounded(&self, offset: i64, max_offset: i64) -> Result<Option<ReadPlan>> {
        let leo = self.log_end_offset();
        if offset < self.log_start_offset || offset > leo {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!(
                    "offset {offset} is outside [{}, {leo}]",
                    self.log_start_offset
                ),
            ));
        }
        if offset >= leo.min(max_offset) {
            return Ok(None);
        }
        let first = self
            .segments
            .range(..=offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(offset);
        for seg in self.segments.range(first..).map(|(_, s)| s) {
            let Some((pos, h)) = seg.find_position(offset)? else {
                continue;
            };
            if h.last_offset() >= max_offset {
                return Ok(None);
            }
            let end = if max_offset >= seg.next_offset() {
                seg.size()
            } else {
                seg.find_position(max_offset)?
                    .map(|(p, _)| p.0)
                    .unwrap_or(seg.size())
            };
            return Ok(Some(ReadPlan::new(
                seg.file()?,
                pos.0 as u64,
                end as u64,
                h.total_size(),
                seg.pin(),
                &self.truncations,
            )));
        }
        Ok(None)
    }

    /// Reads whole batches from `offset` that end below `max_offset` (see
    /// [`read_plan_bounded`](Self::read_plan_bounded)), at most `max_bytes` unless
    /// `whole_first` lets a larger first batch through. Holds `&self` for the whole read;
    /// [`super::Partition`] plans under its lock and reads outside it instead.
    pub fn read(
        &self,
        offset: i64,
        max_offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<Bytes> {
        loop {
            let Some(plan) = self.read_plan_bounded(offset, max_offset)? else {
                return Ok(Bytes::new());
            };
            if let Some(bytes) = plan.read_checked(max_bytes, whole_first)? {
                return Ok(bytes);
            }
        }
    }

    /// The newest leader epoch in the log, if any batch carried one.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// A new leadership of `epoch` begins at the log end (Kafka's
    /// `maybeAssignEpochStartOffset`): recorded in the epoch cache at once, so the epoch is
    /// known before its first batch (the file is written with the first change after it). Nothing changes for an epoch the cache already has as its
    /// latest, or an older one (a stale image).
    pub fn assign_epoch_start(&mut self, epoch: i32) {
        if self.epochs.latest_epoch().is_some_and(|l| l >= epoch) {
            return;
        }
        // Not written now: see `LeaderEpochCache::assign_unflushed`.
        self.epochs.assign_unflushed(epoch, self.log_end_offset());
    }

    /// OffsetsForLeaderEpoch: the greatest epoch ≤ `epoch` the log knows and where it ends
    /// (Kafka's `LeaderEpochFileCache.endOffsetFor`); `None` for an unknown newer epoch.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The leader epoch cache (epoch, start offset) entries.
    pub fn epoch_entries(&self) -> &[super::epoch_cache::EpochEntry] {
        self.epochs.entries()
    }

    /// The earliest record whose timestamp is ≥ `ts`: `(offset, timestamp)`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>> {
        for seg in self.segments.values() {
            if seg.max_timestamp() < ts || seg.next_offset() <= self.log_start_offset {
                continue;
            }
            if let Some((pos, h)) = seg.find_by_timestamp(ts)? {
                let bytes = read_batch(seg, pos.0, &h)?;
                if let Some((off, t)) = records::first_at_or_after(&bytes, &h, ts) {
                    if off >= self.log_start_offset {
                        return Ok(Some((off, t)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The record with the greatest timestamp: `(offset, timestamp)` (ListOffsets −3).
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>> {
        let best = self
            .segments
            .values()
            .filter(|s| !s.is_empty() && s.next_offset() > self.log_start_offset)
            .max_by_key(|s| (s.max_timestamp(), std::cmp::Reverse(s.base_offset())));
        let Some(seg) = best else { return Ok(None) };
        let ts = seg.max_timestamp();
        let Some((pos, h)) = seg.find_position(seg.offset_of_max_timestamp())? else {
            return Ok(None);
        };
        let bytes = read_batch(seg, pos.0, &h)?;
        Ok(records::first_at_or_after(&bytes, &h, ts).or(Some((h.base_offset, ts))))
    }

    /// fsyncs the active segment when `flush.ms` has passed with unflushed data.
    pub fn flush_if_due(&mut self, now_ms: i64) -> io::Result<()> {
        if self.unflushed_messages > 0 && now_ms - self.last_flush_ms >= self.config.flush_ms {
            self.flush(now_ms)?;
        }
        Ok(())
    }

    /// fsyncs everything appended so far and moves the recovery point to the log end.
    pub fn flush(&mut self, now_ms: i64) -> io::Result<()> {
        self.active_mut().flush()?;
        self.recovery_point.raise(self.log_end_offset());
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Clean close: flush, seal the active segment's indexes, snapshot producer state.
    pub fn close(&mut self, now_ms: i64) -> io::Result<()> {
        self.flush(now_ms)?;
        self.active_mut().seal()?;
        let leo = self.log_end_offset();
        self.producers
            .write_snapshot(&super::layout::snapshot_file(&self.dir, leo))?;
        self.prune_snapshots();
        Ok(())
    }

    /// Removes the log's directory and everything in it.
    pub fn delete(self) -> io::Result<()> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(dir)
    }
}

fn read_batch(seg: &LogSegment, pos: u32, h: &BatchHeader) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; h.total_size()];
    seg.file()?.read_exact_at(&mut buf, pos as u64)?;
    Ok(buf)
}
