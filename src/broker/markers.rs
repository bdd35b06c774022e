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
//! (`PartitionLog::append_control`, stamped with the current leader epoch) and answered once
//! the high watermark passes it (acks=all, as Kafka's `handleWriteTxnMarkersRequest`
//! appends with `requiredAcks = -1`), so a committed transaction's marker survives the loss
//! of this leader. A marker for a partition another broker leads goes to that broker as
//! WriteTxnMarkers (v1, Kafka's `TransactionMarkerChannelManager`) at its
//! `inter.broker.listener.name` endpoint; the receiver writes it locally only
//! ([`BrokerMarkers::write_local`]), so nothing is forwarded twice. A partition the image
//! does not know answers UNKNOWN_TOPIC_OR_PARTITION, one without a leader or whose leader
//! cannot be reached NOT_LEADER_OR_FOLLOWER — the replica layer's codes, which the
//! coordinator retries or drops.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};

use crate::coordinator::shards::ShardSet;
use crate::error::ErrorCode;
use crate::group::store::OFFSETS_TOPIC;
use crate::group::GroupCoordinator;
use crate::log::control::ControlType;
use crate::metadata::Metadata;
use crate::peer::PeerPool;
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
    pub node_id: i32,
    /// The listener other brokers are reached on (`inter.broker.listener.name`).
    pub inter_broker_listener: String,
    pub peers: PeerPool,
    /// How long a marker waits to be committed (`offsets.commit.timeout.ms`), and a remote
    /// one for its answer.
    pub timeout: Duration,
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
                .complete_transaction(
                    req.producer_id,
                    req.producer_epoch,
                    req.commit,
                    req.coordinator_epoch,
                )
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
        let epoch = replica.leader_epoch();
        let written = async {
            let info = replica
                .append_marker(
                    req.producer_id,
                    req.producer_epoch,
                    kind,
                    req.coordinator_epoch,
                )
                .await?;
            replica
                .wait_committed(info.last_offset, epoch, self.timeout)
                .await
        };
        match written.await {
            Ok(()) => ErrorCode::None,
            Err(e) => {
                tracing::warn!("transaction marker on {topic}-{partition} failed: {e}");
                e.code()
            }
        }
    }

    /// Writes `req`'s markers on this node's partitions only (WriteTxnMarkers from another
    /// broker or an admin client): one code per partition, in order.
    pub async fn write_local(&self, req: &MarkerRequest) -> Vec<((String, i32), ErrorCode)> {
        let mut out = Vec::with_capacity(req.partitions.len());
        for (topic, partition) in &req.partitions {
            let code = self.write_one(req, topic, *partition).await;
            out.push(((topic.clone(), *partition), code));
        }
        out
    }

    /// Sends the markers of `partitions` to broker `leader` (WriteTxnMarkers v1) and returns
    /// its code per partition; NOT_LEADER_OR_FOLLOWER for all when it cannot be reached.
    async fn write_remote(
        &self,
        req: &MarkerRequest,
        leader: i32,
        partitions: &[(String, i32)],
    ) -> Vec<ErrorCode> {
        let unreachable = vec![ErrorCode::NotLeaderOrFollower; partitions.len()];
        let image = self.metadata.image();
        let Some((host, port)) = image
            .brokers
            .get(&leader)
            .and_then(|b| b.endpoint(&self.inter_broker_listener))
        else {
            return unreachable;
        };
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            topics.entry(t.as_str()).or_default().push(*p);
        }
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(req.producer_id))
            .with_producer_epoch(req.producer_epoch)
            .with_transaction_result(req.commit)
            .with_coordinator_epoch(req.coordinator_epoch)
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        WritableTxnMarkerTopic::default()
                            .with_name(TopicName(t.to_string().into()))
                            .with_partition_indexes(ps.clone())
                    })
                    .collect(),
            );
        let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
        let peer = self.peers.get(&format!("{host}:{port}"));
        let resp = match peer.send(&request, 1, self.timeout * 2).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("transaction markers to broker {leader}: {e}");
                return unreachable;
            }
        };
        let mut codes: BTreeMap<(String, i32), ErrorCode> = BTreeMap::new();
        for m in &resp.markers {
            for t in &m.topics {
                for p in &t.partitions {
                    codes.insert(
                        (t.name.to_string(), p.partition_index),
                        ErrorCode::from_i16(p.error_code),
                    );
                }
            }
        }
        partitions
            .iter()
            .map(|k| {
                codes
                    .get(k)
                    .copied()
                    .unwrap_or(ErrorCode::NotLeaderOrFollower)
            })
            .collect()
    }
}

impl TxnMarkerWriter for BrokerMarkers {
    /// Partitions led here are written locally, the others sent to their leaders (see the
    /// module doc); one code per partition, in the request's order.
    fn write_markers<'a>(&'a self, req: &'a MarkerRequest) -> MarkerFuture<'a> {
        Box::pin(async move {
            let image = self.metadata.image();
            let mut remote: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            let mut local = req.clone();
            local.partitions.clear();
            for (t, p) in &req.partitions {
                match image.partition(t, *p).map(|x| x.leader) {
                    Some(l) if l >= 0 && l != self.node_id => {
                        remote.entry(l).or_default().push((t.clone(), *p));
                    }
                    _ => local.partitions.push((t.clone(), *p)),
                }
            }
            let mut codes: BTreeMap<(String, i32), ErrorCode> =
                self.write_local(&local).await.into_iter().collect();
            for (leader, partitions) in remote {
                let answered = self.write_remote(req, leader, &partitions).await;
                codes.extend(partitions.into_iter().zip(answered));
            }
            req.partitions
                .iter()
                .map(|k| {
                    let code = codes
                        .get(k)
                        .copied()
                        .unwrap_or(ErrorCode::UnknownServerError);
                    (k.clone(), code)
                })
                .collect()
        })
    }
}
