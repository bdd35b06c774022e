//! Where the group coordinator's records live: the replicated internal topic
//! `__consumer_offsets`, holding [`GroupRecord`](super::records::GroupRecord)s in ordinary
//! record batches; a group's records go to partition `abs(hashCode(group id)) % partitions`
//! ([`crate::coordinator::placement`]).
//!
//! As in Kafka the topic is created through the controller on first need (the broker does
//! it, `broker::coordinators`) with `offsets.topic.num.partitions` partitions,
//! `cleanup.policy=compact` and `offsets.topic.segment.bytes` segments, and the
//! [log cleaner](crate::log::cleaner) compacts it like any compacted log: every record is
//! keyed (offset commit: group, topic, partition; group metadata: group), a deleted or
//! expired offset or group is a tombstone, transactional offset commits are transactional
//! batches ended by a marker (the cleaner drops aborted ones and keeps committed ones), so
//! replaying the cleaned log rebuilds the same groups and offsets.

use std::collections::BTreeMap;

use crate::config::BrokerConfig;

/// Name of the internal topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The topic configs `__consumer_offsets` is created with.
pub fn topic_configs(config: &BrokerConfig) -> BTreeMap<String, String> {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    overrides.insert(
        "segment.bytes".to_string(),
        config.offsets_topic_segment_bytes.to_string(),
    );
    overrides
}
