//! Where the group coordinator's records live: an internal partition `__consumer_offsets-0`
//! in the data directory, holding [`GroupRecord`](super::records::GroupRecord)s in ordinary
//! record batches, recovered like any log.
//!
//! Kafka compacts this topic; gregor instead rewrites it at start-up when it has grown past
//! [`COMPACT_ABOVE`] (see
//! [`PartitionCoordinatorLog::rewrite_if_larger`](crate::coordinator::partition_log::PartitionCoordinatorLog::rewrite_if_larger)),
//! so replay reads at most one state's worth of records plus what came after.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::log::{LogManager, Partition};

/// Name of the internal topic (never listed in Metadata; a user topic cannot take it).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Rewrite the log at start-up when it is larger than this.
pub const COMPACT_ABOVE: u64 = 64 << 20;

/// Opens (or creates) the coordinator's partition (blocking).
pub fn open_partition(logs: &LogManager, config: &BrokerConfig) -> io::Result<Arc<Partition>> {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    overrides.insert("segment.bytes".to_string(), "104857600".to_string());
    logs.open_partition(OFFSETS_TOPIC, 0, config.log_config(&overrides))
}
