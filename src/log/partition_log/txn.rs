//! Transactions on a partition log (Kafka's `UnifiedLog` transaction paths): appending the
//! coordinator's markers, the first unstable offset that bounds read_committed fetches, and
//! the aborted transactions a read_committed consumer must filter out, from the segments'
//! transaction indexes ([`crate::log::txn_index`]).
//!
//! Invariant: every stored batch goes through [`track_batch`], at append time and when the
//! loader replays the log, so the producer state's ongoing transactions and the transaction
//! indexes always describe the batches below the log end. An ABORT marker that ends a
//! transaction adds one entry to the index of the segment it is written in, with the last
//! stable offset right after it (Kafka's `ProducerStateManager.lastStableOffset`).
//!
//! Thread-safety: that of the partition log — called under its partition's lock, off the
//! async workers ([`crate::log::Partition`]'s helpers).

use super::{AppendInfo, PartitionLog};
use crate::error::{Error, Result};
use crate::log::batch::{self, BatchHeader, HEADER_LEN};
use crate::log::control::{self, encode_marker_batch, ControlType, Marker};
use crate::log::producer_state::{ProducerStateManager, ProducerSummary};
use crate::log::txn_index::AbortedTxn;

/// Accounts for one stored batch in the producer state (`marker`: what a control batch
/// says, when it is a marker); returns the index entry of a transaction the batch aborted.
pub(super) fn track_batch(
    producers: &mut ProducerStateManager,
    h: &BatchHeader,
    marker: Option<Marker>,
) -> Option<AbortedTxn> {
    if !h.is_control() {
        producers.update(h);
        return None;
    }
    let done = producers.complete(h, marker?)?;
    if !done.aborted {
        return None;
    }
    let lso = producers
        .first_unstable_offset()
        .unwrap_or(done.last_offset + 1);
    Some(AbortedTxn {
        producer_id: done.producer_id,
        first_offset: done.first_offset,
        last_offset: done.last_offset,
        last_stable_offset: lso,
    })
}

/// The marker of a stored batch given as its header and the rest of its bytes; `None` for a
/// data batch.
pub(super) fn marker_of(h: &BatchHeader, header: &[u8], rest: &[u8]) -> Option<Marker> {
    if !h.is_control() {
        return None;
    }
    let mut whole = Vec::with_capacity(header.len() + rest.len());
    whole.extend_from_slice(header);
    whole.extend_from_slice(rest);
    control::read_marker(&whole)
}

impl PartitionLog {
    /// Appends a transaction marker (see [`crate::log::control`]) ending `producer_id`'s
    /// transaction on this partition, as the leader at `leader_epoch`. Only the broker calls
    /// this (WriteTxnMarkers); the produce path refuses control batches. Refused, with nothing
    /// written, as Kafka refuses it: a producer epoch older than the producer's current one
    /// (INVALID_PRODUCER_EPOCH; a newer one is accepted and becomes current), a coordinator
    /// epoch older than the producer's last marker's (TRANSACTION_COORDINATOR_FENCED), a leader
    /// epoch older than the log's (NOT_LEADER_OR_FOLLOWER). A marker for a producer with no
    /// ongoing transaction is written and ends nothing.
    pub fn append_control(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlType,
        coordinator_epoch: i32,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        self.check_leader_epoch(leader_epoch)?;
        self.producers
            .check_marker(producer_id, producer_epoch, coordinator_epoch)?;
        let bytes =
            encode_marker_batch(producer_id, producer_epoch, kind, coordinator_epoch, now_ms)
                .map_err(|e| Error::Internal(format!("encoding a transaction marker: {e}")))?;
        let h = BatchHeader::parse(&bytes)
            .ok_or_else(|| Error::Internal("short transaction marker".into()))?;
        let end = self.log_end_offset();
        self.maybe_roll(bytes.len(), end, end + h.last_offset_delta as i64, now_ms)?;
        let base = self.log_end_offset();
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&bytes[..HEADER_LEN]);
        batch::stamp_header(&mut header, base, leader_epoch, None);
        let stored = BatchHeader::parse(&header)
            .ok_or_else(|| Error::Internal("short transaction marker".into()))?;
        self.store(&header, &bytes[HEADER_LEN..], &stored, now_ms)?;
        Ok(AppendInfo {
            base_offset: base,
            last_offset: stored.last_offset(),
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// The smallest first offset of any ongoing transaction, never below the log start
    /// (Kafka's `UnifiedLog.firstUnstableOffset`); `None` when no transaction is open. The
    /// last stable offset is `min(high watermark, this)`.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers
            .first_unstable_offset()
            .map(|o| o.max(self.log_start_offset))
    }

    /// Every producer of this partition's producer state, by id (DescribeProducers).
    pub fn active_producers(&self) -> Vec<ProducerSummary> {
        self.producers.summaries()
    }

    /// `(producer id, first offset)` of every ongoing transaction, oldest first.
    pub fn ongoing_transactions(&self) -> Vec<(i64, i64)> {
        self.producers.ongoing_transactions().collect()
    }

    /// Kafka's `collectAbortedTransactions`: `(producer id, first offset)` of every aborted
    /// transaction overlapping `[fetch_offset, upper_bound)` — marker at or past
    /// `fetch_offset`, first offset below `upper_bound` — read from the transaction indexes of
    /// the segment holding `fetch_offset` and the ones after it, stopping at the first entry
    /// whose last stable offset reaches `upper_bound`. In marker order.
    pub fn aborted_transactions(&self, fetch_offset: i64, upper_bound: i64) -> Vec<(i64, i64)> {
        let start = self
            .segments
            .range(..=fetch_offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN);
        let mut found = Vec::new();
        for seg in self.segments.range(start..).map(|(_, s)| s) {
            if seg
                .txn_index()
                .collect(fetch_offset, upper_bound, &mut found)
            {
                break;
            }
        }
        found
            .into_iter()
            .map(|t| (t.producer_id, t.first_offset))
            .collect()
    }
}
