//! The network side of the [`LeaderEndPoint`] seam: Fetch v15 to the leader broker over
//! [`crate::peer`], as Kafka's `RemoteLeaderEndPoint` sends it — KIP-903's `ReplicaState`
//! (`replica_id` = this node, `replica_epoch` = its registered broker epoch, read from the
//! image at each request), topics by id,
//! `max_wait_ms` = `replica.fetch.wait.max.ms`, `min_bytes` = `replica.fetch.min.bytes`,
//! `max_bytes` = `replica.fetch.response.max.bytes`, per partition `fetch_offset`,
//! `last_fetched_epoch`, `current_leader_epoch`, `log_start_offset` and
//! `replica.fetch.max.bytes`; ListOffsets v7 (earliest / latest as a replica, so latest is the
//! leader's log end) for OFFSET_OUT_OF_RANGE.
//!
//! Every partition goes in one full fetch (`session_epoch` −1: no incremental session, the
//! leader keeps no session state); one [`super::fetcher::ReplicaFetcher`] per leader makes
//! that one request per leader broker. The answer names topics by id: they are mapped back
//! to the names of the request.
//!
//! Thread-safety: `Send + Sync`; the [`Peer`] serialises requests on its one connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{
    FetchPartition as WirePartition, FetchTopic as WireTopic, ReplicaState,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::fetcher::{FetchPartition, FetchedPartition, LeaderEndPoint};
use super::isr_driver::BoxFuture;
use crate::error::ErrorCode;
use crate::peer::Peer;

/// The Fetch version a follower sends (KIP-903's `ReplicaState`; gregor's served maximum).
pub const FETCH_VERSION: i16 = 15;
/// The ListOffsets version sent.
pub const LIST_OFFSETS_VERSION: i16 = 7;

/// `replica.fetch.*` as a fetch request uses them.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    pub replica_id: i32,
    /// This broker's registered epoch now (−1 before its registration is in the image).
    pub broker_epoch: BrokerEpoch,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub response_max_bytes: i32,
    /// `replica.socket.timeout.ms`.
    pub timeout: Duration,
}

/// Where a follower reads its own broker epoch (the image's registration of this node).
#[derive(Clone)]
pub struct BrokerEpoch(pub Arc<dyn Fn() -> i64 + Send + Sync>);

impl std::fmt::Debug for BrokerEpoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BrokerEpoch({})", (self.0)())
    }
}

/// A leader broker reached over the network (see the module doc).
pub struct RemoteLeader {
    peer: Arc<Peer>,
    settings: RemoteSettings,
}

impl RemoteLeader {
    pub fn new(peer: Arc<Peer>, settings: RemoteSettings) -> RemoteLeader {
        RemoteLeader { peer, settings }
    }
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// The Fetch request for these partitions, grouped by topic in order of first appearance.
pub fn fetch_request(s: &RemoteSettings, partitions: &[FetchPartition]) -> FetchRequest {
    let mut topics: Vec<WireTopic> = Vec::new();
    for p in partitions {
        let wire = WirePartition::default()
            .with_partition(p.partition)
            .with_current_leader_epoch(p.current_leader_epoch)
            .with_fetch_offset(p.fetch_offset)
            .with_last_fetched_epoch(p.last_fetched_epoch)
            .with_log_start_offset(p.log_start_offset)
            .with_partition_max_bytes(p.max_bytes);
        match topics.iter_mut().find(|t| t.topic_id == p.topic_id) {
            Some(t) => t.partitions.push(wire),
            None => topics.push(
                WireTopic::default()
                    .with_topic_id(p.topic_id)
                    .with_partitions(vec![wire]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(s.replica_id))
                .with_replica_epoch((s.broker_epoch.0)()),
        )
        .with_max_wait_ms(s.max_wait_ms)
        .with_min_bytes(s.min_bytes)
        .with_max_bytes(s.response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// The fetcher's view of a Fetch response.
/// Topics come back by id (v13+): `asked` gives their names; an id not asked for is skipped.
pub fn fetched(
    resp: kafka_protocol::messages::FetchResponse,
    asked: &[FetchPartition],
) -> Result<Vec<FetchedPartition>, ErrorCode> {
    if resp.error_code != 0 {
        return Err(ErrorCode::from_i16(resp.error_code));
    }
    let mut out = Vec::new();
    for t in resp.responses {
        let Some(topic) = asked
            .iter()
            .find(|p| p.topic_id == t.topic_id)
            .map(|p| p.topic.clone())
        else {
            continue;
        };
        for p in t.partitions {
            let d = &p.diverging_epoch;
            out.push(FetchedPartition {
                topic: topic.clone(),
                partition: p.partition_index,
                error: ErrorCode::from_i16(p.error_code),
                high_watermark: p.high_watermark,
                log_start_offset: p.log_start_offset,
                records: p.records.unwrap_or_else(Bytes::new),
                diverging_epoch: (d.epoch >= 0 && d.end_offset >= 0)
                    .then_some((d.epoch, d.end_offset)),
            });
        }
    }
    Ok(out)
}

impl LeaderEndPoint for RemoteLeader {
    fn fetch(
        &self,
        partitions: Vec<FetchPartition>,
    ) -> BoxFuture<Result<Vec<FetchedPartition>, ErrorCode>> {
        let peer = self.peer.clone();
        let req = fetch_request(&self.settings, &partitions);
        let timeout = self.settings.timeout;
        Box::pin(async move {
            match peer.send(&req, FETCH_VERSION, timeout).await {
                Ok(resp) => fetched(resp, &partitions),
                Err(e) => {
                    tracing::debug!("fetch from {} failed: {e}", peer.addr());
                    Err(ErrorCode::RequestTimedOut)
                }
            }
        })
    }

    fn log_range(
        &self,
        topic: String,
        partition: i32,
        current_leader_epoch: i32,
    ) -> BoxFuture<Result<(i64, i64), ErrorCode>> {
        let peer = self.peer.clone();
        let replica_id = self.settings.replica_id;
        let timeout = self.settings.timeout;
        Box::pin(async move {
            let mut found = [0i64; 2];
            for (slot, timestamp) in [(0usize, -2i64), (1, -1)] {
                let req = ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(replica_id))
                    .with_topics(vec![ListOffsetsTopic::default()
                        .with_name(name(&topic))
                        .with_partitions(vec![ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_current_leader_epoch(current_leader_epoch)
                            .with_timestamp(timestamp)])]);
                let resp = peer
                    .send(&req, LIST_OFFSETS_VERSION, timeout)
                    .await
                    .map_err(|_| ErrorCode::RequestTimedOut)?;
                let p = resp
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == partition)
                    .ok_or(ErrorCode::UnknownTopicOrPartition)?;
                if p.error_code != 0 {
                    return Err(ErrorCode::from_i16(p.error_code));
                }
                found[slot] = p.offset;
            }
            Ok((found[0], found[1]))
        })
    }
}
