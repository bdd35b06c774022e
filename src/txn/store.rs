//! Where the transaction coordinator's records live: an internal partition
//! `__transaction_state-0` in the data directory (compacted in Kafka, never listed in
//! Metadata), holding [`TxnRecord`](super::records::TxnRecord)s in ordinary record batches,
//! recovered like any log. Rewritten at start-up past [`COMPACT_ABOVE`], as the group store.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::log::{LogManager, Partition};

/// Name of the internal topic.
pub const TXN_TOPIC: &str = "__transaction_state";
/// Rewrite the log at start-up when it is larger than this.
pub const COMPACT_ABOVE: u64 = 64 << 20;

/// Opens (or creates) the coordinator's partition (blocking).
pub fn open_partition(logs: &LogManager, config: &BrokerConfig) -> io::Result<Arc<Partition>> {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    overrides.insert("segment.bytes".to_string(), "104857600".to_string());
    logs.open_partition(TXN_TOPIC, 0, config.log_config(&overrides))
}
