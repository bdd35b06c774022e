//! EndTxn, and how a decided transaction is completed: Kafka's
//! `TransactionCoordinator.endTransaction` and the marker channel's completion.
//!
//! EndTxn checks the producer (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED), then the
//! state: Ongoing → PrepareCommit/PrepareAbort is written; a retry after the transaction
//! completed the same way answers NONE; PrepareX with the same outcome answers
//! CONCURRENT_TRANSACTIONS; anything else INVALID_TXN_STATE. Once the Prepare record is
//! written the outcome is decided: the markers are written and the Complete record follows
//! ([`TxnCoordinator::complete`]); EndTxn answers NONE even when a marker must wait for the
//! timer tick to be retried, as Kafka answers once the Prepare record is written.
//!
//! The coordinator itself aborts a transaction in two cases — InitProducerId from a new
//! producer instance, and a transaction past its timeout — by fencing the epoch (Kafka's
//! PrepareEpochFence: the epoch is bumped, never returned to a client) and writing
//! PrepareAbort with the bumped epoch ([`fence_abort_op`]): the markers then carry an epoch
//! the old producer cannot use any more.

use super::coordinator::TxnCoordinator;
use super::markers::{write_with_retries, MarkerRequest};
use super::records::TxnRecord;
use super::shard::TxnShard;
use super::state::{TransactionMetadata, TxnState};
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::CoordinatorResult;
use crate::error::ErrorCode;

/// What an EndTxn operation decided.
enum EndOutcome {
    Answer(ErrorCode),
    Prepared,
}

fn end_txn_op(
    s: &TxnShard,
    id: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    now: Now,
) -> CoordinatorResult<TxnShard, EndOutcome> {
    let answer = |c| CoordinatorResult::answer(EndOutcome::Answer(c));
    let Some(m) = s.get(id) else {
        return answer(ErrorCode::InvalidProducerIdMapping);
    };
    if m.producer_id != producer_id {
        return answer(ErrorCode::InvalidProducerIdMapping);
    }
    if producer_epoch != m.producer_epoch {
        return answer(ErrorCode::ProducerFenced);
    }
    match m.state {
        TxnState::Ongoing => match m.prepare_abort_or_commit(commit, now.wall_ms) {
            Ok(next) => CoordinatorResult::new(
                vec![TxnRecord {
                    transactional_id: id.to_string(),
                    value: Some(next),
                }],
                EndOutcome::Prepared,
            ),
            Err(c) => answer(c),
        },
        // A retry of an EndTxn that already completed.
        TxnState::CompleteCommit if commit => answer(ErrorCode::None),
        TxnState::CompleteAbort if !commit => answer(ErrorCode::None),
        TxnState::PrepareCommit if commit => answer(ErrorCode::ConcurrentTransactions),
        TxnState::PrepareAbort if !commit => answer(ErrorCode::ConcurrentTransactions),
        TxnState::Dead | TxnState::PrepareEpochFence => {
            tracing::error!("transactional id {id} found in state {}", m.state.name());
            answer(ErrorCode::UnknownServerError)
        }
        _ => {
            tracing::debug!(
                "transactional id {id}: EndTxn(commit={commit}) in state {}",
                m.state.name()
            );
            answer(ErrorCode::InvalidTxnState)
        }
    }
}

/// Aborts `id`'s Ongoing transaction with a fenced (bumped) epoch, if it is still the
/// transaction of `producer_id` at `producer_epoch`. Returns whether PrepareAbort was written.
pub(super) fn fence_abort_op(
    s: &TxnShard,
    id: &str,
    producer_id: i64,
    producer_epoch: i16,
    now: Now,
) -> CoordinatorResult<TxnShard, bool> {
    let Some(m) = s.get(id) else {
        return CoordinatorResult::answer(false);
    };
    if m.state != TxnState::Ongoing
        || m.producer_id != producer_id
        || m.producer_epoch != producer_epoch
    {
        return CoordinatorResult::answer(false);
    }
    match fence_abort_record(id, m, now) {
        Some(r) => CoordinatorResult::new(vec![r], true),
        None => CoordinatorResult::answer(false),
    }
}

/// The PrepareAbort record aborting `m`'s Ongoing transaction with a fenced epoch.
pub(super) fn fence_abort_record(id: &str, m: &TransactionMetadata, now: Now) -> Option<TxnRecord> {
    let next = m
        .prepare_fence_epoch()
        .and_then(|f| f.prepare_abort_or_commit(false, now.wall_ms))
        .ok()?;
    Some(TxnRecord {
        transactional_id: id.to_string(),
        value: Some(next),
    })
}

/// Writes CompleteCommit/CompleteAbort if `id` is still in the Prepare state of that
/// producer and epoch.
fn complete_op(
    s: &TxnShard,
    id: &str,
    producer_id: i64,
    producer_epoch: i16,
    now: Now,
) -> CoordinatorResult<TxnShard, bool> {
    let Some(m) = s.get(id) else {
        return CoordinatorResult::answer(false);
    };
    if !m.state.is_prepare() || m.producer_id != producer_id || m.producer_epoch != producer_epoch {
        return CoordinatorResult::answer(false);
    }
    match m.prepare_complete(now.wall_ms) {
        Ok(next) => CoordinatorResult::new(
            vec![TxnRecord {
                transactional_id: id.to_string(),
                value: Some(next),
            }],
            true,
        ),
        Err(_) => CoordinatorResult::answer(false),
    }
}

impl TxnCoordinator {
    /// EndTxn (see the module doc).
    pub async fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> ErrorCode {
        if transactional_id.is_empty() {
            return ErrorCode::InvalidRequest;
        }
        let id = transactional_id.to_string();
        let outcome = self
            .write(move |s, now| end_txn_op(s, &id, producer_id, producer_epoch, commit, now))
            .await;
        match outcome {
            Err(c) => c,
            Ok(EndOutcome::Answer(c)) => c,
            Ok(EndOutcome::Prepared) => {
                self.complete(transactional_id).await;
                ErrorCode::None
            }
        }
    }

    /// Writes the markers of `id`'s decided transaction, then its Complete record. Returns
    /// whether the transaction is now complete (false: another task is completing it, a
    /// marker is still failing, or the write failed — the timer tick tries again).
    pub(super) async fn complete(&self, id: &str) -> bool {
        let Some(_claim) = self.claim(id) else {
            return false;
        };
        let Some(m) = self.runtime.read(|s| s.get(id).cloned()) else {
            return true;
        };
        if !m.state.is_prepare() {
            return true;
        }
        let req = MarkerRequest {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit: m.state == TxnState::PrepareCommit,
            coordinator_epoch: self.coordinator_epoch,
            partitions: m.partitions.iter().cloned().collect(),
        };
        let left = write_with_retries(
            &*self.markers,
            &req,
            self.config.marker_attempts,
            self.config.marker_backoff,
        )
        .await;
        if !left.is_empty() {
            tracing::warn!(
                "transactional id {id}: markers for {left:?} not written yet; retrying later"
            );
            return false;
        }
        let key = id.to_string();
        let (pid, epoch) = (m.producer_id, m.producer_epoch);
        match self
            .write(move |s, now| complete_op(s, &key, pid, epoch, now))
            .await
        {
            Ok(done) => done,
            Err(c) => {
                tracing::error!("transactional id {id}: Complete record not written ({c})");
                false
            }
        }
    }
}
