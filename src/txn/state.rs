//! One transactional id's state: Kafka's `TransactionMetadata` and its state machine
//! (`TransactionState`).
//!
//! The states, with Kafka's ids (stored in `__transaction_state`) and names (reported by
//! DescribeTransactions and ListTransactions):
//!
//! | id | state | entered from | by |
//! |---|---|---|---|
//! | 0 | Empty | Empty, CompleteCommit, CompleteAbort | InitProducerId |
//! | 1 | Ongoing | Ongoing, Empty, CompleteCommit, CompleteAbort | AddPartitionsToTxn, AddOffsetsToTxn |
//! | 2 | PrepareCommit | Ongoing | EndTxn(commit) |
//! | 3 | PrepareAbort | Ongoing, PrepareEpochFence | EndTxn(abort), fencing, timeout |
//! | 4 | CompleteCommit | PrepareCommit | every marker written |
//! | 5 | CompleteAbort | PrepareAbort | every marker written |
//! | 6 | Dead | Empty, CompleteCommit, CompleteAbort | `transactional.id.expiration.ms` (tombstone) |
//! | 7 | PrepareEpochFence | Ongoing | InitProducerId or a timeout fencing the epoch; never stored |
//!
//! The `prepare_*` methods are Kafka's transitions: each returns the metadata the transaction
//! will have once the record carrying it is written (Kafka's `TxnTransitMetadata`), never
//! changing `self`; the shard replaces the stored metadata only by replaying that record.

use std::collections::BTreeSet;

use crate::error::ErrorCode;

/// "No producer id" and "no epoch" (Kafka's `RecordBatch.NO_PRODUCER_ID` / `_EPOCH`).
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A transaction's state (see the module doc for the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The id stored in `TransactionLogValue.TransactionStatus`.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// Kafka's name, as the admin APIs report it.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The states this one may be entered from (Kafka's `validPreviousStates`).
    pub fn valid_previous(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether an idle transactional id in this state may expire.
    pub fn expiration_allowed(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }

    /// PrepareCommit or PrepareAbort: the outcome is decided, markers are being written.
    pub fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// Whether every epoch of a producer id is used up (Kafka keeps `Short.MAX_VALUE` for fencing).
pub fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// One transactional id's producer and transaction (Kafka's `TransactionMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    pub producer_id: i64,
    /// The producer id before the last rotation (KIP-360 retries), −1 if none.
    pub prev_producer_id: i64,
    /// Stored by transaction version 2 only; −1 here.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, for retried InitProducerId calls (KIP-360). Not
    /// stored in the v0 value: −1 after a replay from the log, as in Kafka.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// When the first partition was added (−1 when no transaction is open).
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The client's transaction version (`ClientTransactionVersion`, v1 values only).
    pub client_txn_version: i16,
}

impl TransactionMetadata {
    /// A transactional id seen for the first time: a fresh producer id, no epoch yet.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> TransactionMetadata {
        TransactionMetadata {
            producer_id,
            prev_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            client_txn_version: 0,
        }
    }

    pub fn epoch_exhausted(&self) -> bool {
        epoch_exhausted(self.producer_epoch)
    }

    /// `self` moved to `to`, if the state machine allows it.
    fn transit(&self, to: TxnState) -> Result<TransactionMetadata, ErrorCode> {
        if !to.valid_previous().contains(&self.state) {
            tracing::error!(
                "illegal transaction state transition {} -> {}",
                self.state.name(),
                to.name()
            );
            return Err(ErrorCode::InvalidTxnState);
        }
        Ok(TransactionMetadata {
            state: to,
            ..self.clone()
        })
    }

    /// InitProducerId on an Ongoing transaction: the epoch is bumped in memory to fence the
    /// producer; the transaction is then aborted with it.
    pub fn prepare_fence_epoch(&self) -> Result<TransactionMetadata, ErrorCode> {
        let mut next = self.transit(TxnState::PrepareEpochFence)?;
        if self.producer_epoch < i16::MAX {
            next.producer_epoch = self.producer_epoch + 1;
        }
        next.last_producer_epoch = NO_PRODUCER_EPOCH;
        Ok(next)
    }

    /// InitProducerId on a finished transaction: the next epoch (or the same one for a
    /// retried call, KIP-360). `expected_epoch` is the epoch the producer says it has.
    pub fn prepare_increment_epoch(
        &self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Result<TransactionMetadata, ErrorCode> {
        let mut next = self.transit(TxnState::Empty)?;
        let bumped = self.producer_epoch.checked_add(1).ok_or_else(|| {
            tracing::error!("producer {}: no epoch left to bump", self.producer_id);
            ErrorCode::UnknownServerError
        })?;
        match expected_epoch {
            None => {
                next.producer_epoch = bumped;
                next.last_producer_epoch = NO_PRODUCER_EPOCH;
            }
            Some(e) if self.producer_epoch == NO_PRODUCER_EPOCH || e == self.producer_epoch => {
                next.producer_epoch = bumped;
                next.last_producer_epoch = self.producer_epoch;
            }
            // A retry of a call that succeeded: the same epoch again.
            Some(e) if e == self.last_producer_epoch => {}
            Some(_) => return Err(ErrorCode::ProducerFenced),
        }
        next.timeout_ms = timeout_ms;
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms;
        Ok(next)
    }

    /// InitProducerId once the epochs of the producer id are exhausted: a new producer id at
    /// epoch 0. `record_last_epoch`: the producer gave its id and epoch (KIP-360).
    pub fn prepare_rotation(
        &self,
        new_producer_id: i64,
        timeout_ms: i32,
        now_ms: i64,
        record_last_epoch: bool,
    ) -> Result<TransactionMetadata, ErrorCode> {
        let mut next = self.transit(TxnState::Empty)?;
        next.prev_producer_id = self.producer_id;
        next.producer_id = new_producer_id;
        next.producer_epoch = 0;
        next.last_producer_epoch = if record_last_epoch {
            self.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        next.timeout_ms = timeout_ms;
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms;
        Ok(next)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: Ongoing with `added` included.
    pub fn prepare_add_partitions(
        &self,
        added: impl IntoIterator<Item = (String, i32)>,
        now_ms: i64,
    ) -> Result<TransactionMetadata, ErrorCode> {
        let mut next = self.transit(TxnState::Ongoing)?;
        if self.state != TxnState::Ongoing {
            next.start_ms = now_ms;
        }
        next.partitions.extend(added);
        next.last_update_ms = now_ms;
        Ok(next)
    }

    /// EndTxn (or an abort by the coordinator): PrepareCommit or PrepareAbort.
    pub fn prepare_abort_or_commit(
        &self,
        commit: bool,
        now_ms: i64,
    ) -> Result<TransactionMetadata, ErrorCode> {
        let to = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        let mut next = self.transit(to)?;
        next.last_update_ms = now_ms;
        Ok(next)
    }

    /// Every marker is written: CompleteCommit or CompleteAbort, no partitions left.
    pub fn prepare_complete(&self, now_ms: i64) -> Result<TransactionMetadata, ErrorCode> {
        let to = if self.state == TxnState::PrepareCommit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        let mut next = self.transit(to)?;
        next.next_producer_id = NO_PRODUCER_ID;
        next.partitions.clear();
        next.last_update_ms = now_ms;
        Ok(next)
    }

    /// Whether the transactional id may be expired (Dead) at `now_ms`.
    pub fn expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        self.state.expiration_allowed()
            && self.last_update_ms.saturating_add(expiration_ms) <= now_ms
    }

    /// Whether an Ongoing transaction has run past its timeout at `now_ms`.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing
            && self.start_ms.saturating_add(self.timeout_ms as i64) < now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_kafkas() {
        for s in TxnState::ALL {
            assert_eq!(TxnState::from_id(s.id()), Some(s));
            assert_eq!(TxnState::from_name(s.name()), Some(s));
        }
        assert_eq!(TxnState::PrepareEpochFence.id(), 7);
        assert_eq!(TxnState::Dead.id(), 6);
        assert_eq!(TxnState::from_id(8), None);
    }

    #[test]
    fn transitions_follow_the_state_machine() {
        let m = TransactionMetadata::new(7, 60_000, 0);
        let m = m.prepare_increment_epoch(60_000, None, 1).unwrap();
        assert_eq!((m.state, m.producer_epoch), (TxnState::Empty, 0));
        assert_eq!(
            m.prepare_abort_or_commit(true, 2),
            Err(ErrorCode::InvalidTxnState)
        );
        let m = m.prepare_add_partitions([("t".to_string(), 0)], 3).unwrap();
        assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 3));
        let m2 = m.prepare_add_partitions([("t".to_string(), 1)], 4).unwrap();
        assert_eq!((m2.start_ms, m2.partitions.len()), (3, 2));
        let fenced = m2.prepare_fence_epoch().unwrap();
        assert_eq!(fenced.producer_epoch, 1);
        let abort = fenced.prepare_abort_or_commit(false, 5).unwrap();
        assert_eq!(abort.state, TxnState::PrepareAbort);
        let done = abort.prepare_complete(6).unwrap();
        assert_eq!(
            (done.state, done.partitions.len()),
            (TxnState::CompleteAbort, 0)
        );
        assert!(done.prepare_fence_epoch().is_err());
    }

    #[test]
    fn retried_init_keeps_the_epoch_and_strangers_are_fenced() {
        let m = TransactionMetadata::new(7, 1000, 0)
            .prepare_increment_epoch(1000, None, 0)
            .unwrap();
        let bumped = m.prepare_increment_epoch(1000, Some(0), 1).unwrap();
        assert_eq!((bumped.producer_epoch, bumped.last_producer_epoch), (1, 0));
        let retry = bumped.prepare_increment_epoch(1000, Some(0), 2).unwrap();
        assert_eq!(retry.producer_epoch, 1);
        assert_eq!(
            bumped.prepare_increment_epoch(1000, Some(5), 2),
            Err(ErrorCode::ProducerFenced)
        );
    }
}
