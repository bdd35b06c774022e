//! Where the transaction coordinator's records live: the replicated internal topic
//! `__transaction_state`, holding [`TxnRecord`](super::records::TxnRecord)s in ordinary
//! record batches; a transactional id's records go to partition
//! `abs(hashCode(transactional id)) % partitions` ([`crate::coordinator::placement`]).
//!
//! As in Kafka the topic is created through the controller on first need (the broker does
//! it, `broker::coordinators`) with `transaction.state.log.num.partitions` partitions,
//! `cleanup.policy=compact`, `transaction.state.log.segment.bytes` segments and
//! `min.insync.replicas` = `transaction.state.log.min.isr`, and compacted by the
//! [log cleaner](crate::log::cleaner) like any compacted log: a record is keyed by its
//! transactional id and carries the id's whole metadata, and an expired id is a tombstone, so
//! the latest record per key rebuilds the same state.

use std::collections::BTreeMap;

use crate::config::BrokerConfig;

/// Name of the internal topic.
pub const TXN_TOPIC: &str = "__transaction_state";

/// The topic configs `__transaction_state` is created with.
pub fn topic_configs(config: &BrokerConfig, min_isr: i32) -> BTreeMap<String, String> {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    overrides.insert(
        "segment.bytes".to_string(),
        config.transaction_state_segment_bytes.to_string(),
    );
    overrides.insert("min.insync.replicas".to_string(), min_isr.to_string());
    overrides
}
