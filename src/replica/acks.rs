//! acks=all on a hosted leader replica, as Kafka's `Partition.appendRecordsToLeader` and
//! `DelayedProduce` answer it:
//! - before the append, a committed ISR smaller than the effective min ISR
//!   (`min(min.insync.replicas, replication factor)`) refuses an acks=all batch with
//!   NOT_ENOUGH_REPLICAS (19) and writes nothing; acks=0/1 are never refused for it;
//! - after it, the waiter completes once the high watermark passes the batch's last offset:
//!   NONE if the ISR still has the effective min ISR, else NOT_ENOUGH_REPLICAS_AFTER_APPEND
//!   (20); losing the leadership (or a new leader epoch) meanwhile → NOT_LEADER_OR_FOLLOWER;
//!   the request's `timeout_ms` passing → REQUEST_TIMED_OUT (7).
//!
//! Thread-safety: reads the replica's atomics and assignment mutex; waits on the
//! high-watermark watch channel, which the replica also pokes when its leadership ends.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::isr::effective_min_isr;
use super::Replica;
use crate::error::{Error, ErrorCode, Result};
use crate::log::partition::now_ms;
use crate::log::partition_log::AppendInfo;

impl Replica {
    /// The topic's `min.insync.replicas` and `replica.lag.time.max.ms` in force.
    pub fn set_limits(&self, min_insync_replicas: i32, max_lag_ms: u64) {
        self.min_insync
            .store(min_insync_replicas, Ordering::Release);
        self.max_lag_ms.store(
            i64::try_from(max_lag_ms).unwrap_or(i64::MAX),
            Ordering::Release,
        );
        self.advance_high_watermark();
    }

    /// The committed ISR's size and the effective min ISR.
    fn isr_against_min(&self) -> (usize, usize) {
        let a = self.assignment();
        let min = effective_min_isr(self.min_insync.load(Ordering::Acquire), a.replicas.len());
        (a.isr.committed().len(), min)
    }

    /// Kafka's `isUnderMinIsr` for a leader.
    pub fn under_min_isr(&self) -> bool {
        let (isr, min) = self.isr_against_min();
        self.is_leader() && isr < min
    }

    /// Appends one producer batch as the leader, stamped with the current leader epoch;
    /// with `acks` = −1 it is refused first when the ISR is below the min ISR (see the module
    /// doc).
    pub async fn append_as_leader(&self, batch: Bytes, acks: i16) -> Result<AppendInfo> {
        if acks == -1 {
            let (isr, min) = self.isr_against_min();
            if isr < min {
                return Err(Error::kafka(
                    ErrorCode::NotEnoughReplicas,
                    format!(
                        "The size of the current ISR {isr} is insufficient to satisfy the \
                         min.isr requirement of {min} for partition {}-{}",
                        self.topic(),
                        self.index()
                    ),
                ));
            }
        }
        let epoch = self.leader_epoch();
        let len = batch.len();
        self.change_short(
            move |log| log.append_may_block(len, now_ms()),
            move |log| log.append_as_leader(&batch, epoch, now_ms()),
        )
        .await
    }

    /// Waits until the batch ending at `last_offset`, appended in leader epoch `epoch`, is
    /// committed (acks=all; see the module doc for the answers).
    pub async fn wait_committed(
        &self,
        last_offset: i64,
        epoch: i32,
        timeout: Duration,
    ) -> Result<()> {
        let mut rx = self.subscribe();
        let still_leader = || self.is_leader() && self.leader_epoch() == epoch;
        let done = tokio::time::timeout(
            timeout,
            rx.wait_for(|hw| *hw > last_offset || !still_leader()),
        )
        .await;
        let name = || format!("{}-{}", self.topic(), self.index());
        match done {
            Err(_) => Err(Error::kafka(
                ErrorCode::RequestTimedOut,
                format!(
                    "{}: not committed within {} ms",
                    name(),
                    timeout.as_millis()
                ),
            )),
            Ok(Err(_)) => Err(Error::internal("the high watermark channel closed")),
            Ok(Ok(_)) if !still_leader() => Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                format!(
                    "{}: leadership lost before the records were committed",
                    name()
                ),
            )),
            Ok(Ok(_)) => {
                let (isr, min) = self.isr_against_min();
                if isr < min {
                    return Err(Error::kafka(
                        ErrorCode::NotEnoughReplicasAfterAppend,
                        format!(
                            "{}: the records are committed but the ISR shrank to {isr}, \
                             below the min.isr of {min}",
                            name()
                        ),
                    ));
                }
                Ok(())
            }
        }
    }
}
