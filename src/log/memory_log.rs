//! An in-memory partition log — a `Vec` of stored batches — implementing
//! [`ReplicatedLog`] with the same semantics as the disk log, written independently of it
//! (no segments, no indexes, no files; the epoch list restates the rules of Kafka's
//! `LeaderEpochFileCache` in a few lines), so a property test can drive both with the same
//! operations and require the same answers.
//!
//! It shares with the disk log only the batch format helpers, the producer checks
//! ([`super::append_checks`]) and the idempotence bookkeeping ([`ProducerStateManager`]),
//! which have their own tests.
//!
//! Thread-safety: none; a test owns it.

use bytes::{Bytes, BytesMut};

use crate::config::{LogConfig, TimestampType};
use crate::error::{Error, ErrorCode, Result};

use super::append_checks;
use super::batch::{self, BatchHeader, HEADER_LEN};
use super::partition_log::AppendInfo;
use super::producer_state::{ProducerStateManager, SequenceCheck};
use super::read_plan::MAX_READ;
use super::replicated::ReplicatedLog;

/// A partition log held in memory (see the module doc).
#[derive(Debug, Clone)]
pub struct MemoryLog {
    config: LogConfig,
    /// Every stored batch with its header, in offset order, contiguous.
    batches: Vec<(BatchHeader, Bytes)>,
    start: i64,
    end: i64,
    producers: ProducerStateManager,
    /// `(epoch, start offset)` as Kafka's epoch cache holds them.
    epochs: Vec<(i32, i64)>,
}

impl MemoryLog {
    pub fn new(config: LogConfig) -> Self {
        MemoryLog {
            config,
            batches: Vec::new(),
            start: 0,
            end: 0,
            producers: ProducerStateManager::default(),
            epochs: Vec::new(),
        }
    }

    /// DeleteRecords: moves the log start to `offset` (−1 = the log end); returns it.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let target = if offset == -1 { self.end } else { offset };
        if target < 0 || target > self.end {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!("offset {offset} is beyond the log end {}", self.end),
            ));
        }
        if target > self.start {
            self.start = target;
            // Entries starting at or below the new start collapse into one starting at it.
            let below = self.epochs.iter().filter(|(_, s)| *s <= target).count();
            if below > 0 {
                let epoch = self.epochs[below - 1].0;
                self.epochs.drain(..below);
                self.epochs.insert(0, (epoch, target));
            }
        }
        Ok(self.start)
    }

    fn push(&mut self, h: BatchHeader, bytes: Bytes) {
        self.producers.update(&h);
        // A new entry when the epoch changes; entries at or past it are dropped first.
        let (e, base) = (h.partition_leader_epoch, h.base_offset);
        if e >= 0 && !self.epochs.last().is_some_and(|l| l.0 == e && l.1 <= base) {
            while self.epochs.last().is_some_and(|l| l.0 >= e || l.1 >= base) {
                self.epochs.pop();
            }
            self.epochs.push((e, base));
        }
        self.end = h.last_offset() + 1;
        self.batches.push((h, bytes));
    }
}

impl MemoryLog {
    /// What reopening a log does to its epoch cache: like Kafka's loader, entries starting at
    /// or past the log end are dropped (`truncateFromEnd(logEndOffset)`), so a cache whose
    /// only entry was moved to the log end by DeleteRecords is empty after a restart.
    pub fn reopen(&mut self) {
        let end = self.end;
        self.epochs.retain(|(_, s)| *s < end);
    }
}

impl ReplicatedLog for MemoryLog {
    fn append_as_leader(
        &mut self,
        bytes: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        if leader_epoch < 0 || self.latest_epoch().is_some_and(|l| l > leader_epoch) {
            return Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                format!("leader epoch {leader_epoch} is older than the log's"),
            ));
        }
        let h = append_checks::check_producer_batch(bytes, &self.config, now_ms)?;
        if let SequenceCheck::Duplicate(m) = self.producers.check(&h)? {
            return Ok(AppendInfo {
                base_offset: m.first_offset,
                last_offset: m.last_offset,
                log_append_time: -1,
                log_start_offset: self.start,
                duplicate: true,
            });
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&bytes[..HEADER_LEN]);
        let lat = (self.config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        batch::stamp_header(&mut header, self.end, leader_epoch, lat);
        if lat.is_some() {
            batch::finish_crc(&mut header, &bytes[HEADER_LEN..]);
        }
        let mut stored = header.to_vec();
        stored.extend_from_slice(&bytes[HEADER_LEN..]);
        let sh = BatchHeader::parse(&stored)
            .ok_or_else(|| Error::kafka(ErrorCode::CorruptMessage, "short batch"))?;
        let base = self.end;
        self.push(sh, Bytes::from(stored));
        Ok(AppendInfo {
            base_offset: base,
            last_offset: sh.last_offset(),
            log_append_time: lat.unwrap_or(-1),
            log_start_offset: self.start,
            duplicate: false,
        })
    }

    fn append_as_follower(&mut self, bytes: &[u8], _now_ms: i64) -> Result<AppendInfo> {
        let base = self.end;
        for (pos, h) in append_checks::check_follower_batches(bytes, self.end)? {
            let b = Bytes::copy_from_slice(&bytes[pos..pos + h.total_size()]);
            self.push(h, b);
        }
        Ok(AppendInfo {
            base_offset: base,
            last_offset: self.end - 1,
            log_append_time: -1,
            log_start_offset: self.start,
            duplicate: false,
        })
    }

    fn truncate_to(&mut self, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!("cannot truncate to negative offset {offset}"),
            ));
        }
        if offset >= self.end {
            return Ok(());
        }
        if offset <= self.start {
            self.batches.clear();
            self.start = offset;
            self.end = offset;
            self.epochs.clear();
        } else {
            let keep = self
                .batches
                .iter()
                .take_while(|(h, _)| h.last_offset() < offset)
                .count();
            self.end = self.batches[keep].0.base_offset;
            self.batches.truncate(keep);
            self.start = self.start.min(self.end);
            let end = self.end;
            self.epochs.retain(|(_, s)| *s < end);
        }
        self.producers = ProducerStateManager::default();
        for (h, _) in &self.batches {
            self.producers.update(h);
        }
        Ok(())
    }

    fn read(
        &self,
        offset: i64,
        max_offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<Bytes> {
        if offset < self.start || offset > self.end {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!("offset {offset} is outside [{}, {}]", self.start, self.end),
            ));
        }
        let mut from = self
            .batches
            .iter()
            .skip_while(|(h, _)| h.last_offset() < offset)
            .take_while(|(h, _)| h.last_offset() < max_offset)
            .peekable();
        let Some((_, first)) = from.peek() else {
            return Ok(Bytes::new());
        };
        if !whole_first && first.len() > max_bytes {
            return Ok(Bytes::new());
        }
        let limit = max_bytes.min(MAX_READ).max(first.len());
        let mut out = BytesMut::new();
        for (_, b) in from {
            if out.len() + b.len() > limit {
                break;
            }
            out.extend_from_slice(b);
        }
        Ok(out.freeze())
    }

    fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let epochs = &self.epochs;
        if epoch < 0 {
            return None;
        }
        if epochs.last().map(|l| l.0) == Some(epoch) {
            return Some((epoch, self.end));
        }
        let next = epochs.iter().position(|(e, _)| *e > epoch)?;
        let floor = epochs[..next].last().map(|(e, _)| *e).unwrap_or(epoch);
        Some((floor, epochs[next].1))
    }

    fn log_end_offset(&self) -> i64 {
        self.end
    }

    fn log_start_offset(&self) -> i64 {
        self.start
    }

    fn latest_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|l| l.0)
    }
}
