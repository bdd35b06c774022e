//! Offsets committed inside transactions, the group side of `sendOffsetsToTransaction`:
//! TxnOffsetCommit, the completion of a transaction by its marker, and OffsetFetch's
//! `require_stable`, as runtime operations.
//!
//! A TxnOffsetCommit is checked as Kafka checks it (`validateTransactionalOffsetCommit`: a
//! group that does not exist takes a commit only with generation −1; from v3 a member id or
//! generation given is checked — UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION —
//! but unlike OffsetCommit a group rebalancing does not refuse it), then written as one
//! transactional batch of the producer. Replaying it holds the offsets as pending for that
//! producer ([`PendingOffsets`](super::pending_offsets::PendingOffsets)): OffsetFetch does
//! not see them, and answers UNSTABLE_OFFSET_COMMIT for their partitions when it requires
//! stable offsets. The transaction coordinator ends the transaction with
//! [`GroupCoordinator::complete_transaction`], which writes a marker; replaying a commit marker
//! makes the offsets committed ones, an abort marker drops them. A producer epoch older than
//! the one its open transaction wrote with is refused with INVALID_PRODUCER_EPOCH, both for a
//! TxnOffsetCommit and for a marker (Kafka's log refuses such batches and markers).

use super::api::{StableTopicOffsets, TxnCommitParams};
use super::coordinator::GroupCoordinator;
use super::membership::check_member;
use super::offsets::committed_offsets;
use super::records::GroupRecord;
use super::shard::GroupShard;
use super::state::GroupState;
use crate::coordinator::log::TxnProducer;
use crate::coordinator::runtime::{write_error_code, CoordinatorResult};
use crate::error::{Error, ErrorCode, Result};

type Op<T> = CoordinatorResult<GroupShard, T>;

impl GroupCoordinator {
    /// TxnOffsetCommit: checks the group and the producer epoch, writes the offsets as a
    /// transactional batch of the producer and holds them as pending. Returns the code for
    /// every partition in `p.offsets`.
    pub async fn commit_transactional(&self, p: TxnCommitParams) -> ErrorCode {
        if p.group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        if p.producer_id < 0 || p.producer_epoch < 0 {
            // Without a producer the batch would not be transactional: nothing to commit.
            return ErrorCode::InvalidRequest;
        }
        let group = p.group_id.clone();
        match self.runtime.write(move |s, _| txn_commit_op(s, p)).await {
            Ok(code) => code,
            Err(e) => {
                tracing::error!("storing transactional offsets of group {group} failed: {e}");
                write_error_code(&e)
            }
        }
    }

    /// Ends `producer_id`'s transaction on the offsets log: writes a COMMIT (`commit`) or
    /// ABORT marker, after which its pending offsets become committed offsets or are dropped.
    /// The transaction coordinator calls it when EndTxn writes its markers. `Err`:
    /// INVALID_PRODUCER_EPOCH for an epoch older than the transaction's, or the write's error
    /// (nothing changed; map it with [`write_error_code`] for a client).
    pub(super) async fn end_transaction(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<()> {
        let producer = TxnProducer {
            producer_id,
            producer_epoch,
        };
        self.runtime
            .write(move |s, _| end_transaction_op(s, producer, commit, coordinator_epoch))
            .await?
            .map_err(|code| {
                Error::kafka(
                    code,
                    format!(
                        "producer {producer_id}: epoch {producer_epoch} is older than its open \
                         transaction's"
                    ),
                )
            })
    }

    /// OffsetFetch: committed offsets of the given partitions (or of every partition when
    /// `None`); with `require_stable` (v7+), a partition a transaction holds a pending offset
    /// of answers UNSTABLE_OFFSET_COMMIT instead.
    pub fn fetch_offsets_stable(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> Vec<StableTopicOffsets> {
        self.runtime.read(|s| {
            committed_offsets(s, group_id, wanted)
                .into_iter()
                .map(|(topic, parts)| {
                    let parts = parts
                        .into_iter()
                        .map(|(p, v)| {
                            if require_stable && s.txn.has_pending(group_id, &topic, p) {
                                (p, None, ErrorCode::UnstableOffsetCommit)
                            } else {
                                (p, v, ErrorCode::None)
                            }
                        })
                        .collect();
                    (topic, parts)
                })
                .collect()
        })
    }

    /// Whether an open transaction holds an offset of this partition of `group_id`.
    pub fn has_pending_transactional_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> bool {
        self.runtime
            .read(|s| s.txn.has_pending(group_id, topic, partition))
    }
}

/// Kafka's `validateTransactionalOffsetCommit` and `ClassicGroup.validateOffsetCommit` with
/// `isTransactional`: the error for the whole request, if any.
fn check_txn_commit(s: &GroupShard, p: &TxnCommitParams) -> Option<ErrorCode> {
    let Some(g) = s.group(&p.group_id) else {
        // A group that does not exist: a "simple" commit is accepted (the group is created).
        return (p.generation >= 0).then_some(ErrorCode::IllegalGeneration);
    };
    if g.is(GroupState::Dead) {
        return Some(ErrorCode::CoordinatorNotAvailable);
    }
    if let Some(c) = &g.consumer {
        // A KIP-848 group checks the member epoch (any version: the commit is transactional).
        return super::consumer::describe::check_commit(
            Some(c),
            &p.member_id,
            p.generation,
            i16::MAX,
            p.offsets.iter().map(|(t, p, _)| (t.as_str(), *p)),
        );
    }
    if p.generation < 0 && g.is(GroupState::Empty) {
        return None;
    }
    if p.generation >= 0 || !p.member_id.is_empty() || p.instance_id.is_some() {
        if let Some(e) = check_member(g, &p.member_id, p.instance_id.as_deref()) {
            return Some(e);
        }
        if p.generation != g.generation {
            return Some(ErrorCode::IllegalGeneration);
        }
    }
    // Versions before 3 carry no member: accepted whatever the group's state.
    None
}

fn txn_commit_op(s: &GroupShard, p: TxnCommitParams) -> Op<ErrorCode> {
    if let Some(e) = check_txn_commit(s, &p) {
        return CoordinatorResult::answer(e);
    }
    if s.txn
        .epoch_of(p.producer_id)
        .is_some_and(|open| p.producer_epoch < open)
    {
        return CoordinatorResult::answer(ErrorCode::InvalidProducerEpoch);
    }
    let producer = TxnProducer {
        producer_id: p.producer_id,
        producer_epoch: p.producer_epoch,
    };
    let records = p
        .offsets
        .into_iter()
        .map(|(topic, partition, value)| GroupRecord::Offset {
            group: p.group_id.clone(),
            topic,
            partition,
            value: Some(value),
        })
        .collect();
    CoordinatorResult::transactional(producer, records, ErrorCode::None)
}

fn end_transaction_op(
    s: &GroupShard,
    producer: TxnProducer,
    commit: bool,
    coordinator_epoch: i32,
) -> Op<std::result::Result<(), ErrorCode>> {
    if s.txn
        .epoch_of(producer.producer_id)
        .is_some_and(|open| producer.producer_epoch < open)
    {
        return CoordinatorResult::answer(Err(ErrorCode::InvalidProducerEpoch));
    }
    CoordinatorResult::end_transaction(producer, commit, coordinator_epoch, Ok(()))
}
