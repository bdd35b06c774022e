//! An in-memory partition log — a `Vec` of stored batches — implementing
//! [`ReplicatedLog`] with the same semantics as the disk log, written independently of it
//! (no segments, no indexes, no files; the epoch list restates the rules of Kafka's
//! `LeaderEpochFileCache` in a few lines), so a property test can drive both with the same
//! operations and require the same answers.
//!
//! It shares with the disk log only the batch format helpers, the producer checks
//! ([`super::append_checks`]), the marker format ([`super::control`]) and the producer
//! bookkeeping that decides what is accepted ([`ProducerStateManager`]), which have their own
//! tests. Transactions are modelled independently: the first unstable offset and the aborted
//! transactions are recomputed by walking the stored batches, with no transaction index and
//! no snapshots.
//!
//! Thread-safety: none; a test owns it.

use bytes::{Bytes, BytesMut};

use crate::config::{LogConfig, TimestampType};
use crate::error::{Error, ErrorCode, Result};

use super::append_checks;
use super::batch::{self, BatchHeader, HEADER_LEN};
use super::control::{self, ControlType};
use super::partition_log::AppendInfo;
use super::producer_state::{ProducerStateManager, SequenceCheck};
use super::read_plan::MAX_READ;
use super::replicated::ReplicatedLog;

/// What walking the batches finds: ongoing transactions as `(producer id, first offset)`,
/// aborted ones as `(producer id, first offset, marker offset)`.
type Transactions = (Vec<(i64, i64)>, Vec<(i64, i64, i64)>);

/// A partition log held in memory (see the module doc).
#[derive(Debug, Clone)]
pub struct MemoryLog {
    config: LogConfig,
    /// Every stored batch with its header, in increasing offset order (a follower's append
    /// may leave gaps between them, as a compacted leader's log has).
    batches: Vec<(BatchHeader, Bytes)>,
    start: i64,
    end: i64,
    /// Where the log last started empty (0, or the offset of a truncation at or below the log
    /// start): its end when a truncation keeps no batch — the base of the disk log's first
    /// segment.
    origin: i64,
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
            origin: 0,
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

    /// Walks the stored batches: the ongoing transactions and the aborted ones.
    fn transactions(&self) -> Transactions {
        let mut ongoing: Vec<(i64, i64)> = Vec::new();
        let mut aborted = Vec::new();
        for (h, b) in &self.batches {
            if h.producer_id < 0 || !h.is_transactional() {
                continue;
            }
            let open = ongoing.iter().position(|(p, _)| *p == h.producer_id);
            match (h.is_control(), open) {
                (false, None) => ongoing.push((h.producer_id, h.base_offset)),
                (false, Some(_)) => {}
                (true, Some(i)) => {
                    if let Some(m) = control::read_marker(b) {
                        let (pid, first) = ongoing.remove(i);
                        if m.kind == ControlType::Abort {
                            aborted.push((pid, first, h.base_offset));
                        }
                    }
                }
                (true, None) => {}
            }
        }
        (ongoing, aborted)
    }

    fn track(producers: &mut ProducerStateManager, h: &BatchHeader, bytes: &[u8]) {
        if h.is_control() {
            if let Some(m) = control::read_marker(bytes) {
                producers.complete(h, m);
            }
        } else {
            producers.update(h);
        }
    }

    fn push(&mut self, h: BatchHeader, bytes: Bytes) {
        Self::track(&mut self.producers, &h, &bytes);
        assign_epoch(&mut self.epochs, h.partition_leader_epoch, h.base_offset);
        self.end = h.last_offset() + 1;
        self.batches.push((h, bytes));
    }
}

/// A new entry when the epoch changes; entries at or past it are dropped first.
fn assign_epoch(epochs: &mut Vec<(i32, i64)>, e: i32, base: i64) {
    if e >= 0 && !epochs.last().is_some_and(|l| l.0 == e && l.1 <= base) {
        while epochs.last().is_some_and(|l| l.0 >= e || l.1 >= base) {
            epochs.pop();
        }
        epochs.push((e, base));
    }
}

impl MemoryLog {
    /// What reopening a log whose epoch checkpoint was lost does: the epochs are rebuilt from
    /// the batches reaching the log start or past it (a batch holding the log start counts
    /// from there), so an entry DeleteRecords had moved into a gap before the next batch
    /// starts at that batch again.
    pub fn reopen_without_epoch_file(&mut self) {
        let mut epochs = Vec::new();
        for (h, _) in self
            .batches
            .iter()
            .filter(|(h, _)| h.last_offset() >= self.start)
        {
            assign_epoch(
                &mut epochs,
                h.partition_leader_epoch,
                h.base_offset.max(self.start),
            );
        }
        self.epochs = epochs;
        self.reopen();
    }

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

    fn append_control(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlType,
        coordinator_epoch: i32,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        if leader_epoch < 0 || self.latest_epoch().is_some_and(|l| l > leader_epoch) {
            return Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                format!("leader epoch {leader_epoch} is older than the log's"),
            ));
        }
        self.producers
            .check_marker(producer_id, producer_epoch, coordinator_epoch)?;
        let bytes = control::encode_marker_batch(
            producer_id,
            producer_epoch,
            kind,
            coordinator_epoch,
            now_ms,
        )
        .map_err(Error::internal)?;
        let mut stored = bytes.to_vec();
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&stored[..HEADER_LEN]);
        batch::stamp_header(&mut header, self.end, leader_epoch, None);
        stored[..HEADER_LEN].copy_from_slice(&header);
        let h = BatchHeader::parse(&stored).ok_or_else(|| Error::internal("short marker"))?;
        let base = self.end;
        self.push(h, Bytes::from(stored));
        Ok(AppendInfo {
            base_offset: base,
            last_offset: base,
            log_append_time: -1,
            log_start_offset: self.start,
            duplicate: false,
        })
    }

    fn first_unstable_offset(&self) -> Option<i64> {
        let (ongoing, _) = self.transactions();
        ongoing.iter().map(|(_, o)| (*o).max(self.start)).min()
    }

    fn aborted_transactions(&self, fetch_offset: i64, upper_bound: i64) -> Vec<(i64, i64)> {
        let (_, aborted) = self.transactions();
        aborted
            .into_iter()
            .filter(|(_, first, last)| *last >= fetch_offset && *first < upper_bound)
            .map(|(pid, first, _)| (pid, first))
            .collect()
    }

    fn append_as_follower(&mut self, bytes: &[u8], _now_ms: i64) -> Result<AppendInfo> {
        let batches = append_checks::check_follower_batches(bytes, self.end)?;
        let base = batches.first().map_or(self.end, |(_, h)| h.base_offset);
        for (pos, h) in batches {
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
            self.origin = offset;
            self.epochs.clear();
        } else {
            let keep = self
                .batches
                .iter()
                .take_while(|(h, _)| h.last_offset() < offset)
                .count();
            // The end of the last batch kept — across a gap too, where the cut batch starts
            // later — or where the log began when none is kept.
            self.end = match keep.checked_sub(1) {
                Some(last) => self.batches[last].0.last_offset() + 1,
                None => self.origin,
            };
            self.batches.truncate(keep);
            self.start = self.start.min(self.end);
            let end = self.end;
            self.epochs.retain(|(_, s)| *s < end);
        }
        self.producers = ProducerStateManager::default();
        for (h, b) in &self.batches {
            Self::track(&mut self.producers, h, b);
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
