//! Appending to a partition log: as the leader (validate, deduplicate, assign offsets, stamp
//! the leader epoch), as a follower (trust the leader's offsets and epochs), and rolling
//! segments (Kafka's `shouldRoll`).

use std::io;

use super::{segment_config, AppendInfo, PartitionLog};
use crate::config::TimestampType;
use crate::error::{Error, ErrorCode, Result};
use crate::log::append_checks;
use crate::log::batch::{self, BatchHeader, HEADER_LEN};
use crate::log::layout;
use crate::log::producer_state::SequenceCheck;
use crate::log::segment::LogSegment;

impl PartitionLog {
    /// Validates and appends one record batch as a producer sent it, stamped with the log's
    /// latest leader epoch (0 for a log that never had one: a single node).
    pub fn append(&mut self, bytes: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let epoch = self.epochs.latest_epoch().unwrap_or(0);
        self.append_as_leader(bytes, epoch, now_ms)
    }

    /// Kafka's `appendAsLeader`: validates a producer's batch (structure, CRC, size,
    /// timestamps, compression, idempotent sequence), assigns its offsets from the log end,
    /// stamps `leader_epoch` into its partitionLeaderEpoch field (outside the CRC) and records
    /// a new epoch in the epoch cache. A duplicate of one of a producer's last five batches is
    /// not appended and answers its original offsets. An epoch older than the log's latest is
    /// refused with NOT_LEADER_OR_FOLLOWER.
    pub fn append_as_leader(
        &mut self,
        bytes: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        self.check_leader_epoch(leader_epoch)?;
        let h = append_checks::check_producer_batch(bytes, &self.config, now_ms)?;
        if let SequenceCheck::Duplicate(m) = self.producers.check(&h)? {
            tracing::debug!(
                "{}: duplicate of producer {} epoch {} sequences {}..={} (at {}..={})",
                self.dir.display(),
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
                h.last_sequence(),
                m.first_offset,
                m.last_offset
            );
            return Ok(AppendInfo {
                base_offset: m.first_offset,
                last_offset: m.last_offset,
                log_append_time: -1,
                log_start_offset: self.log_start_offset,
                duplicate: true,
            });
        }
        let base = self.log_end_offset();
        self.maybe_roll(bytes.len(), base, base + h.last_offset_delta as i64, now_ms)?;
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&bytes[..HEADER_LEN]);
        let rest = &bytes[HEADER_LEN..];
        let log_append_time = match self.config.timestamp_type {
            TimestampType::LogAppendTime => Some(now_ms),
            TimestampType::CreateTime => None,
        };
        batch::stamp_header(&mut header, base, leader_epoch, log_append_time);
        if log_append_time.is_some() {
            batch::finish_crc(&mut header, rest);
        }
        let stored = BatchHeader::parse(&header)
            .ok_or_else(|| Error::kafka(ErrorCode::CorruptMessage, "short batch"))?;
        self.store(&header, rest, &stored, now_ms)?;
        if stored.producer_id >= 0 {
            tracing::trace!(
                "{}: producer {} epoch {} sequences {}..={} at {base}..={} (leader epoch {leader_epoch})",
                self.dir.display(),
                stored.producer_id,
                stored.producer_epoch,
                stored.base_sequence,
                stored.last_sequence(),
                stored.last_offset()
            );
        }
        Ok(AppendInfo {
            base_offset: base,
            last_offset: stored.last_offset(),
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// NOT_LEADER_OR_FOLLOWER for a negative leader epoch or one older than the log's latest.
    pub(super) fn check_leader_epoch(&self, leader_epoch: i32) -> Result<()> {
        if leader_epoch < 0 || self.epochs.latest_epoch() > Some(leader_epoch) {
            return Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                format!(
                    "leader epoch {leader_epoch} is older than the log's latest epoch {:?}",
                    self.epochs.latest_epoch()
                ),
            ));
        }
        Ok(())
    }

    /// Kafka's `appendAsFollower`: appends the leader's batches (laid end to end) as they
    /// are — offsets and epochs included — after checking that each is well-formed with a
    /// valid CRC and that their offsets keep increasing from the log end (gaps allowed: a
    /// compacted leader's log has them; overlaps refused). Producer state and the epoch cache
    /// follow the appended batches as they do for a leader's, so idempotence checks and
    /// OffsetForLeaderEpoch answers survive a failover. Nothing is written unless every batch
    /// passes. An empty input appends nothing.
    pub fn append_as_follower(&mut self, bytes: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let leo = self.log_end_offset();
        let batches = append_checks::check_follower_batches(bytes, leo)?;
        for &(pos, h) in &batches {
            let size = h.total_size();
            self.maybe_roll(size, h.base_offset, h.last_offset(), now_ms)?;
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&bytes[pos..pos + HEADER_LEN]);
            self.store(&header, &bytes[pos + HEADER_LEN..pos + size], &h, now_ms)?;
        }
        Ok(AppendInfo {
            base_offset: batches.first().map_or(leo, |(_, h)| h.base_offset),
            last_offset: self.log_end_offset() - 1,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// Writes one stamped batch to the active segment and accounts for it: producer state
    /// and transaction index ([`super::txn::track_batch`]), epoch cache, flush policy.
    pub(super) fn store(
        &mut self,
        header: &[u8; HEADER_LEN],
        rest: &[u8],
        stored: &BatchHeader,
        now_ms: i64,
    ) -> Result<()> {
        let marker = super::txn::marker_of(stored, header, rest);
        self.active_mut().append(header, rest, stored)?;
        if let Some(aborted) = super::txn::track_batch(&mut self.producers, stored, marker) {
            self.active_mut().txn_index_mut().append(aborted)?;
        }
        self.epochs
            .assign(stored.partition_leader_epoch, stored.base_offset)?;
        self.unflushed_messages += stored.record_count as i64;
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush(now_ms)?;
        }
        Ok(())
    }

    /// Whether appending `len` bytes now may do more than write to the page cache: roll a
    /// segment (new files, a producer snapshot) or fsync (`flush.messages`; a record is at
    /// least a byte, so `len` bounds the count). [`crate::log::Partition::run_short`] sends
    /// such an append off the async worker. A roll this cannot foresee (a follower's batch
    /// more than `i32::MAX` offsets past the log end) only creates files: its fsync runs on
    /// its own thread like every roll's.
    pub fn append_may_block(&self, len: usize, now_ms: i64) -> bool {
        let cfg = &self.config;
        let active = self.active();
        self.unflushed_messages.saturating_add(len as i64) >= cfg.flush_messages
            || active.size() as u64 + len as u64 > cfg.segment_bytes as u64
            || now_ms - active.created_ms() > cfg.segment_ms
            || active.indexes_full()
    }

    /// Kafka's `shouldRoll`: the batch (`base_offset..=last_offset`) would overflow
    /// `segment.bytes`, the segment is older than `segment.ms`, an index is full, or relative
    /// offsets would overflow. The new segment starts at the log end — or, when a follower's
    /// batch lies more than `i32::MAX` offsets past it, at that batch's base (Kafka's roll at
    /// the first offset of the append).
    pub(super) fn maybe_roll(
        &mut self,
        batch_len: usize,
        base_offset: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> io::Result<()> {
        // A gap too wide for a segment at the log end: start one at the batch.
        if last_offset - self.active().base_offset() > i32::MAX as i64
            && last_offset - self.log_end_offset() > i32::MAX as i64
        {
            return self.roll_at(base_offset, now_ms);
        }
        let cfg = &self.config;
        let active = self.active();
        if active.is_empty() {
            return Ok(());
        }
        let too_big = active.size() as u64 + batch_len as u64 > cfg.segment_bytes as u64;
        let too_old = now_ms - active.created_ms() > cfg.segment_ms;
        let rel_overflow = last_offset - active.base_offset() > i32::MAX as i64;
        if too_big || too_old || active.indexes_full() || rel_overflow {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Starts a new active segment at the log end offset. The old one is sealed and fsynced in
    /// the background, with the producer snapshot taken here and the directory (as Kafka does
    /// since 3.5, so a roll never waits for the disk); the recovery point moves once that is done.
    pub fn roll(&mut self, now_ms: i64) -> io::Result<()> {
        self.roll_at(self.log_end_offset(), now_ms)
    }

    /// [`roll`](Self::roll) with the new segment starting at `new_base` (≥ the log end).
    fn roll_at(&mut self, new_base: i64, now_ms: i64) -> io::Result<()> {
        if self.active().base_offset() == new_base {
            return Ok(());
        }
        let old = self.active_mut();
        old.seal()?;
        let file = old.file()?;
        let (path, len) = (old.log_path().to_path_buf(), old.size() as u64);
        let txn_file = old.txn_index_mut().unsynced_file()?;
        let seg = LogSegment::create(&self.dir, new_base, segment_config(&self.config), now_ms)?;
        self.segments.insert(new_base, seg);
        let snapshot = layout::snapshot_file(&self.dir, new_base);
        self.producers.write_snapshot_unsynced(&snapshot)?;
        self.prune_snapshots();
        let rp = self.recovery_point.clone();
        let ticket = rp.ticket();
        std::thread::Builder::new()
            .name("gregor-flush".into())
            .spawn(move || {
                if file.sync_data().is_err() {
                    return;
                }
                if txn_file.is_some_and(|f| f.sync_data().is_err()) {
                    return;
                }
                crate::fs::sync_observer::synced(&path, len);
                // Also makes the new segment's files durable; a snapshot already pruned by
                // later rolls needs nothing.
                match crate::fs::sync_file_and_dir(&snapshot) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {}
                    _ => rp.raise_if_untruncated(ticket, new_base),
                }
            })?;
        Ok(())
    }

    /// Keeps the two newest producer snapshots.
    pub(super) fn prune_snapshots(&self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut offs: Vec<i64> = rd
            .flatten()
            .filter_map(|e| {
                layout::parse_offset(&e.file_name().to_string_lossy(), layout::SNAPSHOT_SUFFIX)
            })
            .collect();
        offs.sort_unstable();
        let n = offs.len().saturating_sub(2);
        for off in &offs[..n] {
            let _ = std::fs::remove_file(layout::snapshot_file(&self.dir, *off));
        }
    }
}
