//! The transaction coordinator's settings and the plain answers it gives handlers, so that
//! the coordinator never depends on the protocol crate's message types.

use std::time::Duration;

use super::state::TxnState;
use crate::config::BrokerConfig;

/// Coordinator settings (Kafka's `transaction.*` and `transactional.id.*` broker keys).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: longer `transaction.timeout.ms` values are refused.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_check_interval: Duration,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub expire_check_interval: Duration,
    /// Attempts at writing markers that failed with a retriable error, per completion run
    /// (the timer tick runs another when they are used up).
    pub marker_attempts: u32,
    /// Wait before the first retry of markers; doubled at each further attempt.
    pub marker_backoff: Duration,
}

impl TxnConfig {
    pub fn from_broker(c: &BrokerConfig) -> TxnConfig {
        TxnConfig {
            max_timeout_ms: c.transaction_max_timeout_ms,
            id_expiration_ms: c.transactional_id_expiration_ms,
            abort_check_interval: Duration::from_millis(c.transaction_abort_timed_out_interval_ms),
            expire_check_interval: Duration::from_millis(c.transaction_remove_expired_interval_ms),
            marker_attempts: 5,
            marker_backoff: Duration::from_millis(10),
        }
    }
}

/// What DescribeTransactions reports of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    pub state: TxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_ms: i64,
    /// `(topic, partitions)`, topics in name order.
    pub topics: Vec<(String, Vec<i32>)>,
}

/// One row of ListTransactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}
