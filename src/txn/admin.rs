//! DescribeTransactions and ListTransactions: read-only views of the shard, as Kafka's
//! `TransactionCoordinator.handleDescribeTransactions` and
//! `TransactionStateManager.listTransactionStates` give them.

use std::collections::BTreeMap;

use super::api::{TxnDescription, TxnListing};
use super::coordinator::TxnCoordinator;
use super::state::TxnState;
use crate::error::ErrorCode;

impl TxnCoordinator {
    /// One transactional id's state: TRANSACTIONAL_ID_NOT_FOUND if unknown (or expired),
    /// INVALID_REQUEST for an empty id.
    pub fn describe(&self, transactional_id: &str) -> Result<TxnDescription, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        self.runtime.read(|s| {
            let m = s
                .get(transactional_id)
                .filter(|m| m.state != TxnState::Dead)
                .ok_or(ErrorCode::TransactionalIdNotFound)?;
            let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in &m.partitions {
                topics.entry(t.clone()).or_default().push(*p);
            }
            Ok(TxnDescription {
                state: m.state,
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                timeout_ms: m.timeout_ms,
                start_ms: m.start_ms,
                topics: topics.into_iter().collect(),
            })
        })
    }

    /// Every transactional id matching all the filters given: states (empty: any), producer
    /// ids (empty: any), and `min_duration_ms` (−1: any; else running for longer than it).
    pub fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Vec<TxnListing> {
        let now = self.runtime.now().wall_ms;
        self.runtime.read(|s| {
            s.txns
                .iter()
                .filter(|(_, m)| m.state != TxnState::Dead)
                .filter(|(_, m)| states.is_empty() || states.contains(&m.state))
                .filter(|(_, m)| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
                .filter(|(_, m)| min_duration_ms < 0 || now - m.start_ms > min_duration_ms)
                .map(|(id, m)| TxnListing {
                    transactional_id: id.clone(),
                    producer_id: m.producer_id,
                    state: m.state,
                })
                .collect()
        })
    }
}
