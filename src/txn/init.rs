//! InitProducerId with a `transactional.id`: Kafka's `handleInitProducerId` and
//! `prepareInitProducerIdTransit`.
//!
//! - An empty id is INVALID_REQUEST; a timeout of 0 or above `transaction.max.timeout.ms` is
//!   INVALID_TRANSACTION_TIMEOUT.
//! - A new id gets a fresh producer id at epoch 0.
//! - A producer that gives its id and epoch (KIP-360, InitProducerId v3+) is fenced
//!   (PRODUCER_FENCED) unless the id is the current one, the metadata was just created, or
//!   it is the previous id at an exhausted epoch (a retry after a rotation); a retried call
//!   gets the same epoch again.
//! - Finished transaction (Empty, CompleteCommit, CompleteAbort): the epoch is bumped, or,
//!   once the epochs are exhausted, a new producer id starts at epoch 0.
//! - Ongoing transaction: it is aborted with a fenced epoch first (see [`super::end`]) and
//!   the caller gets CONCURRENT_TRANSACTIONS; its retry bumps the epoch once more.
//! - PrepareCommit/PrepareAbort: CONCURRENT_TRANSACTIONS (the markers are being written).

use super::coordinator::TxnCoordinator;
use super::end::fence_abort_record;
use super::records::TxnRecord;
use super::shard::TxnShard;
use super::state::{epoch_exhausted, TransactionMetadata, TxnState, NO_PRODUCER_EPOCH};
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::CoordinatorResult;
use crate::error::ErrorCode;

/// What an InitProducerId operation decided.
enum InitOutcome {
    Done(i64, i16),
    Failed(ErrorCode),
    /// A new producer id is needed: allocate one and run the operation again.
    NeedProducerId,
    /// The ongoing transaction was aborted with a fenced epoch: complete it, then answer
    /// CONCURRENT_TRANSACTIONS.
    Fencing,
}

fn init_op(
    s: &TxnShard,
    id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    new_id: Option<i64>,
    now: Now,
) -> CoordinatorResult<TxnShard, InitOutcome> {
    let failed = |c| CoordinatorResult::answer(InitOutcome::Failed(c));
    let m = match (s.get(id), new_id) {
        (Some(m), _) => m.clone(),
        (None, Some(pid)) => TransactionMetadata::new(pid, timeout_ms, now.wall_ms),
        (None, None) => return CoordinatorResult::answer(InitOutcome::NeedProducerId),
    };
    if let Some((pid, epoch)) = expected {
        let valid = m.producer_epoch == NO_PRODUCER_EPOCH
            || pid == m.producer_id
            || (pid == m.prev_producer_id && epoch_exhausted(epoch));
        if !valid {
            return failed(ErrorCode::ProducerFenced);
        }
    }
    let write = |next: TransactionMetadata, outcome| {
        CoordinatorResult::new(
            vec![TxnRecord {
                transactional_id: id.to_string(),
                value: Some(next),
            }],
            outcome,
        )
    };
    match m.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort => {
            failed(ErrorCode::ConcurrentTransactions)
        }
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
            let rotate = m.epoch_exhausted() && expected.is_none_or(|(_, e)| e == m.producer_epoch);
            let next = if rotate {
                match new_id.filter(|pid| *pid != m.producer_id) {
                    Some(pid) => {
                        m.prepare_rotation(pid, timeout_ms, now.wall_ms, expected.is_some())
                    }
                    None => return CoordinatorResult::answer(InitOutcome::NeedProducerId),
                }
            } else {
                m.prepare_increment_epoch(timeout_ms, expected.map(|(_, e)| e), now.wall_ms)
            };
            match next {
                Ok(n) => {
                    let (pid, epoch) = (n.producer_id, n.producer_epoch);
                    write(n, InitOutcome::Done(pid, epoch))
                }
                Err(c) => failed(c),
            }
        }
        TxnState::Ongoing => match fence_abort_record(id, &m, now) {
            Some(r) => CoordinatorResult::new(vec![r], InitOutcome::Fencing),
            None => failed(ErrorCode::UnknownServerError),
        },
        TxnState::Dead | TxnState::PrepareEpochFence => {
            tracing::error!("transactional id {id} found in state {}", m.state.name());
            failed(ErrorCode::UnknownServerError)
        }
    }
}

impl TxnCoordinator {
    /// InitProducerId for `transactional_id` (see the module doc). `expected` is the
    /// producer id and epoch the producer already has (KIP-360), if any.
    pub async fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        let mut new_id = None;
        for _ in 0..3 {
            let id = transactional_id.to_string();
            let outcome = self
                .write(move |s, now| init_op(s, &id, timeout_ms, expected, new_id, now))
                .await?;
            match outcome {
                InitOutcome::Done(pid, epoch) => {
                    tracing::info!(
                        "transactional id {transactional_id}: producer id {pid}, epoch {epoch}"
                    );
                    return Ok((pid, epoch));
                }
                InitOutcome::Failed(c) => return Err(c),
                InitOutcome::NeedProducerId => new_id = Some(self.new_producer_id().await?),
                InitOutcome::Fencing => {
                    tracing::info!(
                        "transactional id {transactional_id}: aborting the ongoing transaction \
                         of the previous producer"
                    );
                    self.complete(transactional_id).await;
                    return Err(ErrorCode::ConcurrentTransactions);
                }
            }
        }
        Err(ErrorCode::ConcurrentTransactions)
    }
}
