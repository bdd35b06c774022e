//! AddPartitionsToTxn and AddOffsetsToTxn (Kafka's `handleAddPartitionsToTransaction`), and
//! the read-only check the produce path makes (KIP-890 part 1, `verify_only`).
//!
//! Checks, in Kafka's order: unknown id or another producer id → INVALID_PRODUCER_ID_MAPPING;
//! another epoch → PRODUCER_FENCED; PrepareCommit/PrepareAbort → CONCURRENT_TRANSACTIONS.
//! Partitions already in an Ongoing transaction answer NONE without a write; otherwise the
//! transaction becomes (or stays) Ongoing with them added. Whether the partitions exist is
//! the handler's check (it knows the metadata), as in Kafka's `KafkaApis`.

use super::coordinator::TxnCoordinator;
use super::records::TxnRecord;
use super::shard::TxnShard;
use super::state::{TransactionMetadata, TxnState};
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::CoordinatorResult;
use crate::error::ErrorCode;
use crate::group::store::OFFSETS_TOPIC;

/// The producer checks every transactional request starts with.
fn check_producer<'a>(
    s: &'a TxnShard,
    id: &str,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<&'a TransactionMetadata, ErrorCode> {
    let m = s.get(id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    if m.producer_id != producer_id {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if m.producer_epoch != producer_epoch {
        return Err(ErrorCode::ProducerFenced);
    }
    if m.state.is_prepare() {
        return Err(ErrorCode::ConcurrentTransactions);
    }
    Ok(m)
}

fn add_op(
    s: &TxnShard,
    id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: Vec<(String, i32)>,
    now: Now,
) -> CoordinatorResult<TxnShard, ErrorCode> {
    let m = match check_producer(s, id, producer_id, producer_epoch) {
        Ok(m) => m,
        Err(c) => return CoordinatorResult::answer(c),
    };
    if m.state == TxnState::Ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
        return CoordinatorResult::answer(ErrorCode::None);
    }
    match m.prepare_add_partitions(partitions, now.wall_ms) {
        Ok(next) => CoordinatorResult::new(
            vec![TxnRecord {
                transactional_id: id.to_string(),
                value: Some(next),
            }],
            ErrorCode::None,
        ),
        Err(c) => CoordinatorResult::answer(c),
    }
}

impl TxnCoordinator {
    /// AddPartitionsToTxn for one transaction (see the module doc): one code for all.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> ErrorCode {
        if transactional_id.is_empty() {
            return ErrorCode::InvalidRequest;
        }
        let id = transactional_id.to_string();
        self.write(move |s, now| add_op(s, &id, producer_id, producer_epoch, partitions, now))
            .await
            .unwrap_or_else(|c| c)
    }

    /// AddOffsetsToTxn: adds the group's partition of `__consumer_offsets`
    /// (`offsets_partition`, the caller's hash of the group id) to the transaction.
    pub async fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets_partition: i32,
    ) -> ErrorCode {
        let partition = (OFFSETS_TOPIC.to_string(), offsets_partition);
        self.add_partitions(
            transactional_id,
            producer_id,
            producer_epoch,
            vec![partition],
        )
        .await
    }

    /// AddPartitionsToTxn with `verify_only`: per partition, NONE if it is in the producer's
    /// Ongoing transaction, INVALID_TXN_STATE if not; `Err` when the producer check fails
    /// (it applies to every partition).
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.runtime.read(|s| {
            let m = check_producer(s, transactional_id, producer_id, producer_epoch)?;
            Ok(partitions
                .iter()
                .map(|p| {
                    if m.state == TxnState::Ongoing && m.partitions.contains(p) {
                        ErrorCode::None
                    } else {
                        ErrorCode::InvalidTxnState
                    }
                })
                .collect())
        })
    }

    /// For the produce path (KIP-890 part 1): is `topic`-`partition` part of the ongoing
    /// transaction of this producer? Read-only; never waits for a write.
    pub fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ErrorCode> {
        let p = [(topic.to_string(), partition)];
        match self
            .verify_partitions(transactional_id, producer_id, producer_epoch, &p)?
            .first()
        {
            Some(ErrorCode::None) => Ok(()),
            Some(c) => Err(*c),
            None => Err(ErrorCode::InvalidTxnState),
        }
    }
}
