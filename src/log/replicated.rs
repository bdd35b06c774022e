//! The narrow interface the replica layer uses to drive a partition's log, shaped like Kafka's
//! raft `ReplicatedLog` (and the parts of `UnifiedLog` a replica needs): leader appends that
//! assign offsets and stamp the leader epoch, follower appends that trust the leader, run-time
//! truncation, reads bounded by a caller-given offset, and the leader epoch lookups of
//! OffsetsForLeaderEpoch.
//!
//! Why a trait: the disk log ([`PartitionLog`]) and an in-memory model
//! ([`super::memory_log::MemoryLog`]) implement it, and a property test drives both with the
//! same operations and requires the same answers (tests/it/log_model.rs).
//!
//! Semantics (Kafka's):
//! - offsets: the log holds `[log_start_offset, log_end_offset)`; the log start can lie
//!   inside a batch (DeleteRecords), and reads from it return that whole batch.
//! - `read(offset, max_offset, ..)`: OFFSET_OUT_OF_RANGE outside `[log start, log end]`;
//!   otherwise whole batches from the one holding `offset`, stopping before the first batch
//!   whose last offset is ≥ `max_offset` (as a fetch bounded by the high watermark: Kafka cuts
//!   at the position of the batch holding the bound). At most `max_bytes`, except that with
//!   `whole_first` a larger first batch is returned whole (KIP-74), and without it such a read
//!   is empty. A disk read may stop early at a segment end; read on from there.
//! - `truncate_to(offset)`: drops every batch whose last offset is ≥ `offset` (a batch
//!   holding `offset` goes whole); the log then ends after the last batch kept (or where it
//!   began, when none is); at or below the log start the log restarts empty at `offset`; at
//!   or past the end nothing happens.
//! - `end_offset_for_epoch(epoch)`: `LeaderEpochFileCache.endOffsetFor` — `None` for a
//!   negative epoch or one newer than the latest.
//! - transactions: a transactional batch starts or continues its producer's transaction, a
//!   marker (`append_control`) ends it; `first_unstable_offset` is the smallest first offset
//!   of an ongoing transaction (never below the log start), `aborted_transactions(from,
//!   upper)` every aborted transaction whose marker is at or past `from` and whose first
//!   offset is below `upper`, in marker order (Kafka's `collectAbortedTransactions`).

use bytes::Bytes;

use crate::error::Result;

use super::control::ControlType;
use super::partition_log::{AppendInfo, PartitionLog};

/// A partition log as a replica drives it (see the module doc).
pub trait ReplicatedLog {
    /// Validates a producer's batch, assigns its offsets, stamps `leader_epoch`
    /// (NOT_LEADER_OR_FOLLOWER when older than [`latest_epoch`](Self::latest_epoch)).
    fn append_as_leader(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo>;

    /// Appends a transaction marker as the leader (see [`PartitionLog::append_control`]).
    fn append_control(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlType,
        coordinator_epoch: i32,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo>;

    /// The first offset of the oldest ongoing transaction (see the module doc).
    fn first_unstable_offset(&self) -> Option<i64>;

    /// `(producer id, first offset)` of the aborted transactions overlapping
    /// `[fetch_offset, upper_bound)` (see the module doc).
    fn aborted_transactions(&self, fetch_offset: i64, upper_bound: i64) -> Vec<(i64, i64)>;

    /// Appends the leader's batches as they are: each must be well-formed with a valid CRC,
    /// and their offsets must keep increasing from the log end — gaps allowed (a compacted
    /// leader), overlaps not (else nothing is written). Producer state and the epoch cache
    /// follow the appended batches.
    fn append_as_follower(&mut self, batches: &[u8], now_ms: i64) -> Result<AppendInfo>;

    /// Drops every batch whose last offset is ≥ `offset` (see the module doc).
    fn truncate_to(&mut self, offset: i64) -> Result<()>;

    /// Whole batches from `offset` ending below `max_offset` (see the module doc).
    fn read(
        &self,
        offset: i64,
        max_offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<Bytes>;

    /// The greatest known epoch ≤ `epoch` and the offset where it ends.
    fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)>;

    fn log_end_offset(&self) -> i64;

    fn log_start_offset(&self) -> i64;

    /// The epoch of the newest epoch-cache entry, if any.
    fn latest_epoch(&self) -> Option<i32>;
}

impl ReplicatedLog for PartitionLog {
    fn append_as_leader(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        PartitionLog::append_as_leader(self, batch, leader_epoch, now_ms)
    }

    fn append_as_follower(&mut self, batches: &[u8], now_ms: i64) -> Result<AppendInfo> {
        PartitionLog::append_as_follower(self, batches, now_ms)
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
        PartitionLog::append_control(
            self,
            producer_id,
            producer_epoch,
            kind,
            coordinator_epoch,
            leader_epoch,
            now_ms,
        )
    }

    fn first_unstable_offset(&self) -> Option<i64> {
        PartitionLog::first_unstable_offset(self)
    }

    fn aborted_transactions(&self, fetch_offset: i64, upper_bound: i64) -> Vec<(i64, i64)> {
        PartitionLog::aborted_transactions(self, fetch_offset, upper_bound)
    }

    fn truncate_to(&mut self, offset: i64) -> Result<()> {
        PartitionLog::truncate_to(self, offset, super::partition::now_ms())
    }

    fn read(
        &self,
        offset: i64,
        max_offset: i64,
        max_bytes: usize,
        whole_first: bool,
    ) -> Result<Bytes> {
        PartitionLog::read(self, offset, max_offset, max_bytes, whole_first)
    }

    fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        PartitionLog::end_offset_for_epoch(self, epoch)
    }

    fn log_end_offset(&self) -> i64 {
        PartitionLog::log_end_offset(self)
    }

    fn log_start_offset(&self) -> i64 {
        PartitionLog::log_start_offset(self)
    }

    fn latest_epoch(&self) -> Option<i32> {
        PartitionLog::latest_epoch(self)
    }
}
