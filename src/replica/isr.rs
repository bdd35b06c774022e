//! The ISR as a partition leader keeps it (Kafka's `Partition.partitionState`: committed,
//! pending expand, pending shrink), as a state machine over numbers and explicit times, so
//! every rule is tested with a fake clock and no log.
//!
//! Rules (Kafka's `Partition`, KIP-497):
//! - **Shrink** ([`IsrState::out_of_sync`], every `replica.lag.time.max.ms / 2`): ISR
//!   members other than the leader that are not caught up ([`super::followers`]' rule) are
//!   proposed out — only while no change is pending.
//! - **Expand** ([`can_join`], on a follower's fetch): a follower outside the ISR joins when
//!   its log end is at or past the high watermark *and* the start offset of the current
//!   leader epoch, and its broker is ISR-eligible (registered, not fenced: the image's view)
//!   — only while no change is pending.
//! - **One AlterPartition in flight**: a proposal becomes the pending state until the
//!   controller's answer or a newer image ends it. While pending, the *maximal* ISR (committed
//!   ∪ the follower being added; a shrink keeps the larger committed set) is what the high
//!   watermark waits on, so a record is never called committed by an ISR the controller has
//!   not agreed to.
//! - **The answer** ([`IsrState::on_answer`]): an answer to a request that is no longer the
//!   pending one is ignored. Success is adopted (ISR and partition epoch) unless it names
//!   another leader epoch or an older partition epoch (ignored; the image will settle it).
//!   INELIGIBLE_REPLICA / OPERATION_NOT_ATTEMPTED revert to the last committed ISR, no retry.
//!   UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID, FENCED_LEADER_EPOCH,
//!   INVALID_UPDATE_VERSION, INVALID_REQUEST, NEW_LEADER_ELECTED keep the proposal pending
//!   until the next image (no retry). Anything else (NOT_CONTROLLER, timeouts, a lost
//!   connection) sends the same proposal again.
//! - **A new image** ([`IsrState::on_image`]) with a new leader epoch or a newer partition
//!   epoch replaces everything: committed = the image's ISR, nothing pending. An older one is
//!   ignored (Kafka's "partition epoch is smaller" skip).
//!
//! Thread-safety: none of its own; the replica keeps it behind its assignment mutex.

use super::followers::{FollowerState, Followers};
use crate::error::ErrorCode;
use crate::metadata::PartitionImage;

/// A change waiting for the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Adding one follower.
    Expand(i32),
    /// Removing these followers.
    Shrink(Vec<i32>),
}

/// One AlterPartition proposal for one partition: what the leader sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterIsr {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// The controller's accepted state for a partition (AlterPartition's answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedIsr {
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub partition_epoch: i32,
}

/// What the leader does after an answer (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The new ISR is the committed one now.
    Adopted,
    /// Stale answer, nothing changed.
    Ignored,
    /// Back to the last committed ISR; a new proposal may follow.
    Reverted,
    /// The proposal stays pending until the next image.
    AwaitMetadata,
    /// Send the same proposal again (after the backoff).
    Retry,
}

/// The leader's ISR (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IsrState {
    committed: Vec<i32>,
    leader_epoch: i32,
    partition_epoch: i32,
    pending: Option<(Pending, AlterIsr)>,
}

impl IsrState {
    pub fn from_image(p: &PartitionImage) -> IsrState {
        IsrState {
            committed: p.isr.clone(),
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            pending: None,
        }
    }

    /// A published image (see the module doc). Returns whether the state was replaced.
    pub fn on_image(&mut self, p: &PartitionImage) -> bool {
        let newer = p.leader_epoch != self.leader_epoch || p.partition_epoch > self.partition_epoch;
        if newer {
            *self = IsrState::from_image(p);
        }
        newer
    }

    /// The ISR the controller has committed.
    pub fn committed(&self) -> &[i32] {
        &self.committed
    }

    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// The committed ISR plus a follower being added (KIP-497).
    pub fn maximal(&self) -> Vec<i32> {
        let mut isr = self.committed.clone();
        if let Some((Pending::Expand(id), _)) = &self.pending {
            if !isr.contains(id) {
                isr.push(*id);
            }
        }
        isr
    }

    /// The change waiting for the controller, and the request that carries it.
    pub fn pending(&self) -> Option<&(Pending, AlterIsr)> {
        self.pending.as_ref()
    }

    pub fn in_flight(&self) -> bool {
        self.pending.is_some()
    }

    /// ISR members other than `leader` that are not caught up with a leader whose log ends
    /// at `leader_end` (none while a change is pending).
    pub fn out_of_sync(
        &self,
        leader: i32,
        followers: &Followers,
        leader_end: i64,
        now_ms: i64,
        max_lag_ms: i64,
    ) -> Vec<i32> {
        if self.in_flight() {
            return Vec::new();
        }
        self.committed
            .iter()
            .copied()
            .filter(|id| *id != leader)
            .filter(|id| {
                followers
                    .get(*id)
                    .is_none_or(|s| !s.is_caught_up(leader_end, now_ms, max_lag_ms))
            })
            .collect()
    }

    fn propose(&mut self, change: Pending, new_isr: Vec<i32>) -> AlterIsr {
        let req = AlterIsr {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr,
        };
        self.pending = Some((change, req.clone()));
        req
    }

    /// Proposes the ISR without `out` (nothing when a change is pending or `out` is empty).
    pub fn propose_shrink(&mut self, out: Vec<i32>) -> Option<AlterIsr> {
        if self.in_flight() || out.is_empty() {
            return None;
        }
        let new_isr = self
            .committed
            .iter()
            .copied()
            .filter(|id| !out.contains(id))
            .collect();
        Some(self.propose(Pending::Shrink(out), new_isr))
    }

    /// Proposes the ISR with `id` added (nothing when a change is pending or it is a member).
    pub fn propose_expand(&mut self, id: i32) -> Option<AlterIsr> {
        if self.in_flight() || self.committed.contains(&id) {
            return None;
        }
        let mut new_isr = self.committed.clone();
        new_isr.push(id);
        Some(self.propose(Pending::Expand(id), new_isr))
    }

    /// The controller's answer to `sent` (see the module doc).
    pub fn on_answer(
        &mut self,
        sent: &AlterIsr,
        answer: Result<CommittedIsr, ErrorCode>,
    ) -> Outcome {
        if self.pending.as_ref().is_none_or(|(_, req)| req != sent) {
            return Outcome::Ignored;
        }
        match answer {
            Ok(c)
                if c.leader_epoch != self.leader_epoch
                    || c.partition_epoch < self.partition_epoch =>
            {
                Outcome::Ignored
            }
            Ok(c) => {
                self.committed = c.isr;
                self.partition_epoch = c.partition_epoch;
                self.pending = None;
                Outcome::Adopted
            }
            Err(ErrorCode::IneligibleReplica | ErrorCode::OperationNotAttempted) => {
                self.pending = None;
                Outcome::Reverted
            }
            Err(
                ErrorCode::UnknownTopicOrPartition
                | ErrorCode::UnknownTopicId
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::InvalidUpdateVersion
                | ErrorCode::InvalidRequest
                | ErrorCode::NewLeaderElected,
            ) => Outcome::AwaitMetadata,
            Err(_) => Outcome::Retry,
        }
    }
}

/// Kafka's `isFollowerInSync` and `isReplicaIsrEligible`: may this follower join the ISR?
pub fn can_join(
    state: &FollowerState,
    high_watermark: i64,
    epoch_start: i64,
    eligible: bool,
) -> bool {
    eligible && state.log_end_offset >= high_watermark && state.log_end_offset >= epoch_start
}

/// Kafka's `effectiveMinIsr`: `min.insync.replicas`, capped at the replication factor.
pub fn effective_min_isr(min_insync_replicas: i32, replication_factor: usize) -> usize {
    usize::try_from(min_insync_replicas.max(1))
        .unwrap_or(1)
        .min(replication_factor.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: i64 = 10_000;

    fn image(isr: &[i32], leader_epoch: i32, partition_epoch: i32) -> PartitionImage {
        PartitionImage {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: 1,
            leader_epoch,
            partition_epoch,
        }
    }

    fn committed(isr: &[i32], leader_epoch: i32, partition_epoch: i32) -> CommittedIsr {
        CommittedIsr {
            leader_epoch,
            isr: isr.to_vec(),
            partition_epoch,
        }
    }

    #[test]
    fn lagging_followers_are_shrunk_out_with_a_fake_clock() {
        let mut s = IsrState::from_image(&image(&[1, 2, 3], 4, 9));
        let mut f = Followers::default();
        f.reset(&[2, 3], &[2, 3], 1_000);
        // Both caught up at t=1000 by the reset; at t=5000 nothing lags.
        assert!(s.out_of_sync(1, &f, 100, 5_000, LAG).is_empty());
        // 2 keeps fetching at the log end, 3 stops.
        f.record_fetch(2, 100, 0, 100, 9_000);
        assert_eq!(s.out_of_sync(1, &f, 100, 11_001, LAG), vec![3]);
        let req = s.propose_shrink(vec![3]).unwrap();
        assert_eq!(
            req,
            AlterIsr {
                leader_epoch: 4,
                partition_epoch: 9,
                new_isr: vec![1, 2]
            }
        );
        assert_eq!(
            s.maximal(),
            vec![1, 2, 3],
            "a shrink keeps the larger set until committed"
        );
        assert!(
            s.out_of_sync(1, &f, 100, 30_000, LAG).is_empty(),
            "one change at a time"
        );
        assert!(s.propose_expand(3).is_none());
        assert_eq!(
            s.on_answer(&req, Ok(committed(&[1, 2], 4, 10))),
            Outcome::Adopted
        );
        assert_eq!((s.committed(), s.partition_epoch()), (&[1, 2][..], 10));
        assert!(!s.in_flight());
        // The image carrying the same change is no news.
        assert!(!s.on_image(&image(&[1, 2], 4, 10)));
    }

    #[test]
    fn a_follower_joins_when_caught_up_to_the_hw_and_epoch_start() {
        let mut f = Followers::default();
        f.reset(&[2, 3], &[2], 0);
        f.record_fetch(3, 50, 0, 60, 100);
        let st = f.get(3).unwrap();
        assert!(!can_join(&st, 55, 40, true), "below the high watermark");
        assert!(!can_join(&st, 50, 51, true), "below the epoch start");
        assert!(!can_join(&st, 50, 40, false), "fenced");
        assert!(can_join(&st, 50, 50, true));

        let mut s = IsrState::from_image(&image(&[1, 2], 0, 3));
        assert!(s.propose_expand(2).is_none(), "already a member");
        let req = s.propose_expand(3).unwrap();
        assert_eq!(req.new_isr, vec![1, 2, 3]);
        assert_eq!(
            s.maximal(),
            vec![1, 2, 3],
            "the high watermark waits on it already"
        );
        assert_eq!(s.committed(), &[1, 2]);
    }

    #[test]
    fn answers_are_handled_as_kafkas_partition_does() {
        let fresh = || {
            let mut s = IsrState::from_image(&image(&[1, 2], 2, 5));
            let req = s.propose_expand(3).unwrap();
            (s, req)
        };
        let (mut s, req) = fresh();
        assert_eq!(
            s.on_answer(&req, Err(ErrorCode::IneligibleReplica)),
            Outcome::Reverted
        );
        assert_eq!((s.maximal(), s.in_flight()), (vec![1, 2], false));
        let (mut s, req) = fresh();
        assert_eq!(
            s.on_answer(&req, Err(ErrorCode::OperationNotAttempted)),
            Outcome::Reverted
        );
        for code in [
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::UnknownTopicId,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::InvalidUpdateVersion,
            ErrorCode::InvalidRequest,
            ErrorCode::NewLeaderElected,
        ] {
            let (mut s, req) = fresh();
            assert_eq!(
                s.on_answer(&req, Err(code)),
                Outcome::AwaitMetadata,
                "{code}"
            );
            assert!(s.in_flight(), "{code}: maximal ISR kept until the image");
            assert_eq!(s.maximal(), vec![1, 2, 3]);
        }
        for code in [
            ErrorCode::NotController,
            ErrorCode::RequestTimedOut,
            ErrorCode::UnknownServerError,
        ] {
            let (mut s, req) = fresh();
            assert_eq!(s.on_answer(&req, Err(code)), Outcome::Retry, "{code}");
            assert_eq!(
                s.pending().map(|p| &p.1),
                Some(&req),
                "the same request again"
            );
        }
        // Success naming another leader epoch, or an older partition epoch: ignored.
        let (mut s, req) = fresh();
        assert_eq!(
            s.on_answer(&req, Ok(committed(&[1, 2, 3], 3, 6))),
            Outcome::Ignored
        );
        assert_eq!(
            s.on_answer(&req, Ok(committed(&[1, 2, 3], 2, 4))),
            Outcome::Ignored
        );
        assert!(s.in_flight());
        // An answer to something no longer pending: ignored.
        let other = AlterIsr {
            new_isr: vec![1],
            ..req.clone()
        };
        assert_eq!(
            s.on_answer(&other, Ok(committed(&[1], 2, 6))),
            Outcome::Ignored
        );
        assert_eq!(
            s.on_answer(&req, Ok(committed(&[1, 2, 3], 2, 6))),
            Outcome::Adopted
        );
        assert_eq!(s.committed(), &[1, 2, 3]);
    }

    #[test]
    fn a_newer_image_replaces_a_pending_change() {
        let mut s = IsrState::from_image(&image(&[1, 2, 3], 2, 5));
        let req = s.propose_shrink(vec![3]).unwrap();
        assert!(
            !s.on_image(&image(&[1, 2, 3], 2, 4)),
            "older partition epoch"
        );
        assert!(s.in_flight());
        assert!(s.on_image(&image(&[1, 3], 2, 6)));
        assert_eq!((s.committed(), s.in_flight()), (&[1, 3][..], false));
        assert_eq!(
            s.on_answer(&req, Ok(committed(&[1, 2], 2, 6))),
            Outcome::Ignored
        );
        // A new leader epoch resets even at the same partition epoch.
        s.propose_expand(2).unwrap();
        assert!(s.on_image(&image(&[1, 3], 3, 6)));
        assert!(!s.in_flight());
    }

    #[test]
    fn effective_min_isr_is_capped_by_the_replication_factor() {
        assert_eq!(effective_min_isr(2, 1), 1);
        assert_eq!(effective_min_isr(2, 3), 2);
        assert_eq!(effective_min_isr(1, 3), 1);
        assert_eq!(effective_min_isr(0, 3), 1);
    }
}
