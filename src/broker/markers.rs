//! Transaction markers on this broker: the [`TxnMarkerWriter`] the transaction coordinator
//! and WriteTxnMarkers use.
//!
//! Why here: writing a marker touches three services the coordinator must not depend on —
//! the metadata image (who leads the partition), the replica layer (the log and its high
//! watermark) and the group coordinator (its shard of the `__consumer_offsets` partition,
//! where a marker makes transactional offsets visible or drops them). The broker holds all
//! three.
//!
//! A marker for a partition this node leads is appended under the partition lock
//! (`PartitionLog::append_control`, stamped with the current leader epoch), then the high
//! watermark advances, so read_uncommitted consumers see it at once. A partition the image
//! does not know answers UNKNOWN_TOPIC_OR_PARTITION, one led elsewhere
//! NOT_LEADER_OR_FOLLOWER — the replica layer's codes, which the coordinator retries or drops.

use std::sync::Arc;

use crate::coordinator::shards::ShardSet;
use crate::error::ErrorCode;
use crate::group::store::OFFSETS_TOPIC;
use crate::group::GroupCoordinator;
use crate::log::control::ControlType;
use crate::metadata::Metadata;
use crate::replica::ReplicaManager;
use crate::txn::markers::MarkerFuture;
use crate::txn::{MarkerRequest, TxnMarkerWriter};

/// Writes markers to this broker's partitions (see the module doc).
pub struct BrokerMarkers {
    pub metadata: Arc<Metadata>,
    pub replicas: Arc<ReplicaManager>,
    /// The group shards this node runs (a marker on `__consumer_offsets` goes through one).
    pub groups: Arc<ShardSet<GroupCoordinator>>,
    /// Test seam (`BrokerConfig::fail_markers_for`): markers for this topic are refused with
    /// NOT_ENOUGH_REPLICAS, which the coordinator retries, so its transactions stay decided
    /// but incomplete until a restart without the seam.
    pub refuse_topic: Option<String>,
}

impl BrokerMarkers {
    async fn write_one(&self, req: &MarkerRequest, topic: &str, partition: i32) -> ErrorCode {
        if self.refuse_topic.as_deref() == Some(topic) {
            tracing::warn!("transaction marker on {topic}-{partition} refused (test seam)");
            return ErrorCode::NotEnoughReplicas;
        }
        let image = self.metadata.image();
        if topic == OFFSETS_TOPIC {
            // Led here (else the replica layer's code), and the shard loaded.
            if let Err(e) = self.replicas.leader(&image, topic, partition) {
                return e.code();
            }
            let shard = match self.groups.get(partition) {
                Ok(g) => g,
                Err(code) => return code,
            };
            let done = shard
                .complete_transaction(req.producer_id, req.producer_epoch, req.commit)
                .await;
            return done.err().map_or(ErrorCode::None, |e| {
                crate::coordinator::runtime::write_error_code(&e)
            });
        }
        let replica = match self.replicas.leader(&image, topic, partition) {
            Ok(r) => r,
            Err(e) => return e.code(),
        };
        let kind = ControlType::from_commit(req.commit);
        let written = replica
            .append_marker(
                req.producer_id,
                req.producer_epoch,
                kind,
                req.coordinator_epoch,
            )
            .await;
        match written {
            Ok(_) => ErrorCode::None,
            Err(e) => {
                tracing::warn!("transaction marker on {topic}-{partition} failed: {e}");
                e.code()
            }
        }
    }
}

impl TxnMarkerWriter for BrokerMarkers {
    fn write_markers<'a>(&'a self, req: &'a MarkerRequest) -> MarkerFuture<'a> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(req.partitions.len());
            for (topic, partition) in &req.partitions {
                let code = self.write_one(req, topic, *partition).await;
                out.push(((topic.clone(), *partition), code));
            }
            out
        })
    }
}
