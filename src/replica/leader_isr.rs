//! The leader's ISR operations on a hosted replica: follower fetches recorded (and an
//! expansion proposed when one may join), the periodic shrink, the pending AlterPartition
//! proposal and the controller's answer — the rules are [`super::isr`]'s; this file applies
//! them to the replica's assignment and moves the high watermark after each change.
//!
//! A proposal is kept in the replica's ISR state and announced (topic, partition) to the
//! AlterPartition sender's queue when the replica has one ([`super::isr_driver`]); the sender
//! reads the pending request from here, so one request per partition is ever in flight.
//!
//! Thread-safety: every operation takes the assignment mutex briefly, never across an await.

use std::sync::atomic::Ordering;

use super::isr::{can_join, AlterIsr, CommittedIsr, Outcome};
use super::Replica;
use crate::error::ErrorCode;
use crate::log::partition::now_ms;

impl Replica {
    /// The ISR the controller has committed (the image's, or an adopted AlterPartition
    /// answer).
    pub fn isr(&self) -> Vec<i32> {
        self.assignment().isr.committed().to_vec()
    }

    /// The committed ISR plus a follower being added (KIP-497).
    pub fn maximal_isr(&self) -> Vec<i32> {
        self.assignment().isr.maximal()
    }

    /// Records a follower's fetch at `fetch_offset`, served while the log ended at
    /// `leader_end` (see [`super::followers`]), advances the high watermark (which may wait on
    /// this follower) and proposes the follower into the ISR if it may join.
    pub fn record_follower_fetch(
        &self,
        replica_id: i32,
        fetch_offset: i64,
        follower_start: i64,
        leader_end: i64,
    ) {
        self.record_follower_fetch_at(
            replica_id,
            fetch_offset,
            follower_start,
            leader_end,
            now_ms(),
        );
    }

    /// [`record_follower_fetch`](Self::record_follower_fetch) at a given time (tests drive a
    /// fake clock through it).
    pub fn record_follower_fetch_at(
        &self,
        replica_id: i32,
        fetch_offset: i64,
        follower_start: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> Option<AlterIsr> {
        let known = self.assignment().followers.record_fetch(
            replica_id,
            fetch_offset,
            follower_start,
            leader_end,
            now_ms,
        );
        if !known {
            return None;
        }
        self.advance_high_watermark();
        let proposal = self.maybe_expand_isr(replica_id);
        if proposal.is_some() {
            self.announce();
        }
        proposal
    }

    /// Kafka's `maybeExpandIsr`: proposes `follower` into the ISR when it may join.
    fn maybe_expand_isr(&self, follower: i32) -> Option<AlterIsr> {
        let epoch_start = self.epoch_start_offset()?;
        let hw = self.high_watermark();
        let mut a = self.assignment();
        let state = a.followers.get(follower)?;
        // KIP-903 (Kafka's `isReplicaIsrEligible`): the broker must be eligible in the image
        // and its fetch must carry its registered epoch (or −1, which checks nothing): a
        // fetch from a previous incarnation of the broker cannot bring it into the ISR.
        let epoch_ok = match a.fetch_epochs.get(&follower) {
            None | Some(-1) => true,
            Some(e) => a.registered_epochs.get(&follower) == Some(e),
        };
        let eligible = !a.ineligible.contains(&follower) && epoch_ok;
        if a.isr.in_flight() || a.isr.committed().contains(&follower) {
            return None;
        }
        if !can_join(&state, hw, epoch_start, eligible) {
            return None;
        }
        a.isr.propose_expand(follower)
    }

    /// Kafka's `maybeShrinkIsr` (every `replica.lag.time.max.ms / 2`): proposes the ISR
    /// without its members that are not caught up at `now_ms`.
    pub fn maybe_shrink_isr(&self, now_ms: i64) -> Option<AlterIsr> {
        if !self.is_leader() {
            return None;
        }
        let leo = self.log_end_offset();
        let lag = self.max_lag_ms.load(Ordering::Acquire);
        let proposal = {
            let mut a = self.assignment();
            let out = a
                .isr
                .out_of_sync(self.node_id, &a.followers, leo, now_ms, lag);
            a.isr.propose_shrink(out)
        };
        if proposal.is_some() {
            self.announce();
        }
        proposal
    }

    /// The AlterPartition request waiting for an answer, if any.
    pub fn pending_alter(&self) -> Option<AlterIsr> {
        self.assignment().isr.pending().map(|(_, req)| req.clone())
    }

    /// The controller's answer to `sent` (see [`super::isr`] for what each outcome means);
    /// the high watermark follows the adopted or reverted ISR at once.
    pub fn on_alter_answer(
        &self,
        sent: &AlterIsr,
        answer: std::result::Result<CommittedIsr, ErrorCode>,
    ) -> Outcome {
        let outcome = self.assignment().isr.on_answer(sent, answer);
        if matches!(outcome, Outcome::Adopted | Outcome::Reverted) {
            self.advance_high_watermark();
            // acks=all waiters re-check the ISR against the min ISR.
            self.high_watermark.send_modify(|_| {});
        }
        outcome
    }

    fn announce(&self) {
        if let Some(sink) = self.alter_sink.get() {
            let _ = sink.send((self.topic().to_string(), self.index()));
        }
    }
}
