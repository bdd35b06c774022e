//! A hosted replica as a follower: the fetcher's writes to it (Kafka's `Partition` follower
//! paths). The leader's batches are appended as they are (offsets and epochs kept, producer
//! state and the epoch cache following them, so idempotence checks survive a promotion);
//! truncation only ever comes from the leader's epochs (diverging epoch) or its log range
//! (OFFSET_OUT_OF_RANGE) — never from the high watermark (KIP-101); the high watermark is the
//! leader's, capped at this log's end. Each write names the leader epoch of the fetch it comes
//! from and is refused with FENCED_LEADER_EPOCH, nothing written, once the log has a newer
//! epoch: this node became the leader meanwhile (its epoch starts at its log end, recorded
//! under the same lock), and a late answer of the old leader must not append to or truncate
//! the new leader's log. Kafka gets this by removing a partition's fetcher, which waits for
//! the answer in hand, before making it leader; gregor applies the image to the replicas before
//! it syncs the fetchers, and an answer in hand is not waited for.
//!
//! Thread-safety: every write goes through [`Replica::change`] (the partition lock on a
//! blocking thread; an append that neither rolls nor fsyncs on the async worker,
//! [`Replica::change_short`]), which refreshes the first unstable offset and the high
//! watermark bound.

use bytes::Bytes;

use super::Replica;
use crate::error::{Error, ErrorCode, Result};
use crate::log::partition::now_ms;
use crate::log::partition_log::{AppendInfo, PartitionLog};

/// FENCED_LEADER_EPOCH when `log` has an epoch newer than `epoch`, the fetch's (see the
/// module doc).
fn still_following(log: &PartitionLog, epoch: i32) -> Result<()> {
    match log.latest_epoch() {
        Some(latest) if latest > epoch => Err(Error::kafka(
            ErrorCode::FencedLeaderEpoch,
            format!("the log is at leader epoch {latest}, past the fetch's {epoch}"),
        )),
        _ => Ok(()),
    }
}

impl Replica {
    /// Appends the leader's batches (laid end to end), fetched at leader epoch `epoch`.
    pub async fn append_as_follower(&self, records: Bytes, epoch: i32) -> Result<AppendInfo> {
        let len = records.len();
        self.change_short(
            move |log| log.append_may_block(len, now_ms()),
            move |log| {
                still_following(log, epoch)?;
                log.append_as_follower(&records, now_ms())
            },
        )
        .await
    }

    /// Drops everything from `offset` on (a batch holding it goes whole), as the leader of
    /// `epoch` said.
    pub async fn truncate_to(&self, offset: i64, epoch: i32) -> Result<()> {
        self.change(move |log| {
            still_following(log, epoch)?;
            log.truncate_to(offset, now_ms())
        })
        .await
    }

    /// Empties the log and restarts it at `offset` (the log start of the leader of `epoch`).
    pub async fn truncate_fully(&self, offset: i64, epoch: i32) -> Result<()> {
        self.change(move |log| {
            still_following(log, epoch)?;
            log.truncate_fully(offset, now_ms())
        })
        .await
    }

    /// The newest leader epoch in this log (−1 when none): a fetch's `last_fetched_epoch`.
    /// Read from the last published change: no lock, no hop off the async worker.
    pub async fn latest_epoch(&self) -> Result<i32> {
        Ok(self.log.latest_epoch())
    }

    /// A follower's high watermark: the leader's, capped at this log's end. A leader's is its
    /// own business and is left alone.
    pub fn update_follower_high_watermark(&self, leader_high_watermark: i64) {
        if self.is_leader() {
            return;
        }
        let new = leader_high_watermark.min(self.log_end_offset()).max(0);
        self.high_watermark.send_if_modified(|hw| {
            let changed = *hw != new;
            *hw = new;
            changed
        });
    }
}
