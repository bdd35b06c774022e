//! Where the transaction coordinator's records live: an internal partition
//! `__transaction_state-0` in the data directory (never listed in Metadata), holding
//! [`TxnRecord`](super::records::TxnRecord)s in ordinary record batches, recovered like any
//! log.
//!
//! As in Kafka the topic is `cleanup.policy=compact` with
//! `transaction.state.log.segment.bytes` segments, compacted by the
//! [log cleaner](crate::log::cleaner) like any compacted log: a record is keyed by its
//! transactional id and carries the id's whole metadata, and an expired id is a tombstone, so
//! the latest record per key rebuilds the same state.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::log::{LogManager, Partition};

/// Name of the internal topic.
pub const TXN_TOPIC: &str = "__transaction_state";

/// Opens (or creates) the coordinator's partition (blocking).
pub fn open_partition(logs: &LogManager, config: &BrokerConfig) -> io::Result<Arc<Partition>> {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    overrides.insert(
        "segment.bytes".to_string(),
        config.transaction_state_segment_bytes.to_string(),
    );
    logs.open_partition(TXN_TOPIC, 0, config.log_config(&overrides))
}
