//! Cutting a partition log: run-time truncation from the end (a follower dropping what the
//! leader does not have — Kafka's `UnifiedLog.truncateTo`), and moving the log start
//! (DeleteRecords, retention). Truncation follows the read-path rule of
//! [`crate::log::read_plan`]: the generation is bumped first, and pinned segment files are
//! replaced rather than shrunk.

use std::io;

use super::{segment_config, PartitionLog};
use crate::error::{Error, ErrorCode, Result};
use crate::log::layout;
use crate::log::producer_state::ProducerStateManager;
use crate::log::segment::LogSegment;

impl PartitionLog {
    /// Drops every batch whose last offset is ≥ `offset` (a batch holding `offset` goes whole,
    /// as in Kafka), with its index entries; producer state is rebuilt as Kafka's
    /// `truncateAndReload` does (snapshots above the new end deleted, the newest remaining one
    /// loaded, later batches replayed) and the leader epoch cache is cut at the new end. An
    /// offset at or past the log end changes nothing. An offset at or below the log start
    /// empties the log and restarts it at `offset` (`truncateFullyAndStartAt`; Kafka keeps
    /// data below the log start in that case when it lies in the first segment, gregor drops
    /// it: it was deleted already). Safe while reads are in flight (see
    /// [`crate::log::read_plan`]).
    pub fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<()> {
        if offset < 0 {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!("cannot truncate to negative offset {offset}"),
            ));
        }
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        tracing::debug!(
            "{}: truncating from {} to {offset}",
            self.dir.display(),
            self.log_end_offset()
        );
        self.truncations.bump();
        if offset <= self.log_start_offset {
            return Ok(self.truncate_fully_and_start_at(offset, now_ms)?);
        }
        let doomed: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for b in doomed {
            if let Some(seg) = self.segments.remove(&b) {
                seg.delete_files()?;
            }
        }
        if self.segments.is_empty() {
            // Unreachable: the first segment's base is ≤ the log start < offset.
            return Ok(self.truncate_fully_and_start_at(offset, now_ms)?);
        }
        let active = self.active_mut();
        active.truncate_to(offset)?;
        active.unseal()?;
        let leo = self.log_end_offset();
        self.log_start_offset = self.log_start_offset.min(leo);
        self.recovery_point.lower_to(leo);
        self.epochs.truncate_from_end(leo)?;
        self.reload_producer_state()?;
        Ok(())
    }

    /// Kafka's `truncateFullyAndStartAt` for a follower whose fetch offset is out of the
    /// leader's range: the whole log goes and it restarts, empty, at `offset` (which may lie
    /// past the old log end). Safe while reads are in flight (see [`crate::log::read_plan`]).
    pub fn truncate_fully(&mut self, offset: i64, now_ms: i64) -> Result<()> {
        if offset < 0 {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!("cannot restart the log at negative offset {offset}"),
            ));
        }
        tracing::debug!(
            "{}: restarting the log at {offset} (was {}..{})",
            self.dir.display(),
            self.log_start_offset,
            self.log_end_offset()
        );
        self.truncations.bump();
        Ok(self.truncate_fully_and_start_at(offset, now_ms)?)
    }

    /// Deletes every segment and starts the log again, empty, at `offset` (also: a metadata
    /// observer that installed a snapshot).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64, now_ms: i64) -> io::Result<()> {
        for (_, seg) in std::mem::take(&mut self.segments) {
            seg.delete_files()?;
        }
        let seg = LogSegment::create(&self.dir, offset, segment_config(&self.config), now_ms)?;
        self.segments.insert(offset, seg);
        self.log_start_offset = offset;
        self.recovery_point.lower_to(offset);
        self.epochs.clear()?;
        self.reload_producer_state()
    }

    /// Kafka's `truncateAndReload`: forgets the producer state, deletes snapshots above the
    /// log end, loads the newest remaining one and replays the batches after it.
    fn reload_producer_state(&mut self) -> io::Result<()> {
        let leo = self.log_end_offset();
        let mut snapshots = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some(o) = layout::parse_offset(&name.to_string_lossy(), layout::SNAPSHOT_SUFFIX)
            {
                if o > leo || o < self.log_start_offset {
                    let _ = std::fs::remove_file(layout::snapshot_file(&self.dir, o));
                } else {
                    snapshots.push(o);
                }
            }
        }
        self.producers = ProducerStateManager::default();
        self.load_producer_state(&snapshots)?;
        Ok(())
    }

    /// DeleteRecords: moves the log start offset to `offset` (−1 = the log end) and deletes
    /// the segments wholly below it. Returns the new low watermark.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let leo = self.log_end_offset();
        let target = if offset == -1 { leo } else { offset };
        if target < 0 || target > leo {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!("offset {offset} is beyond the log end {leo}"),
            ));
        }
        if target > self.log_start_offset {
            self.log_start_offset = target;
            self.delete_segments_below_start()?;
            self.epochs.truncate_from_start(target)?;
        }
        Ok(self.log_start_offset)
    }

    fn delete_segments_below_start(&mut self) -> io::Result<()> {
        let active_base = self.active().base_offset();
        let doomed: Vec<i64> = self
            .segments
            .iter()
            .filter(|(b, s)| **b != active_base && s.next_offset() <= self.log_start_offset)
            .map(|(b, _)| *b)
            .collect();
        for b in doomed {
            if let Some(seg) = self.segments.remove(&b) {
                seg.delete_files()?;
            }
        }
        Ok(())
    }

    /// Deletes whole old segments past `retention.ms` or beyond `retention.bytes`, rolling the
    /// active segment first when it must go too. Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> io::Result<usize> {
        if !self.config.delete {
            return Ok(0);
        }
        let mut doomed = 0usize;
        let mut excess = if self.config.retention_bytes >= 0 {
            self.size_bytes() as i64 - self.config.retention_bytes
        } else {
            i64::MIN
        };
        for seg in self.segments.values() {
            if seg.is_empty() {
                break;
            }
            let expired = self.config.retention_ms >= 0
                && seg.max_timestamp() < now_ms - self.config.retention_ms;
            let over = excess != i64::MIN && excess - seg.size() as i64 >= 0;
            if !(expired || over) {
                break;
            }
            if over {
                excess -= seg.size() as i64;
            }
            doomed += 1;
        }
        if doomed == 0 {
            return Ok(0);
        }
        if doomed == self.segments.len() {
            self.roll(now_ms)?;
        }
        let bases: Vec<i64> = self.segments.keys().take(doomed).copied().collect();
        for b in &bases {
            if let Some(seg) = self.segments.remove(b) {
                seg.delete_files()?;
            }
        }
        let first = self.segments.keys().next().copied().unwrap_or(0);
        self.log_start_offset = self.log_start_offset.max(first);
        self.epochs.truncate_from_start(self.log_start_offset)?;
        Ok(bases.len())
    }
}
