//! Where the group coordinator's records live: an internal partition `__consumer_offsets-0`
//! in the data directory, holding [`GroupRecord`](super::records::GroupRecord)s in ordinary
//! record batches, recovered like any log.
//!
//! As in Kafka the topic is `cleanup.policy=compact` with `offsets.topic.segment.bytes`
//! segments, and the [log cleaner](crate::log::cleaner) compacts it like any compacted log:
//! every record is keyed (offset commit: group, topic, partition; group metadata: group), a
//! deleted or expired offset or group is a tombstone, transactional offset commits are
//! transactional batches ended by a marker (the cleaner drops aborted ones and keeps committed
//! ones), so replaying the cleaned log rebuilds the same groups and offsets.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::log::{LogManager, Partition};

/// Name of the internal topic (never listed in Metadata; a user topic cannot take it).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Opens (or creates) the coordinator's partition (blocking).
pub fn open_partition(logs: &LogManager, config: &BrokerConfig) -> io::Result<Arc<Partition>> {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    overrides.insert(
        "segment.bytes".to_string(),
        config.offsets_topic_segment_bytes.to_string(),
    );
    logs.open_partition(OFFSETS_TOPIC, 0, config.log_config(&overrides))
}
