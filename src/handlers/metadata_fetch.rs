//! Fetch on a CONTROLLER listener: observers (broker-only nodes) follow
//! `__cluster_metadata-0` with Kafka's Fetch, as KRaft brokers do (KIP-595). Only that
//! partition is served here, and only committed data: batches below the quorum's high
//! watermark, never more (so an observer never has to truncate). The fetcher's
//! `replica_id` is recorded for DescribeQuorum's observers. A node that is not the quorum's
//! leader answers NOT_LEADER_OR_FOLLOWER with `current_leader` (v12+), so the observer
//! switches. An empty read long-polls up to `max_wait_ms`, re-reading whenever the log end
//! moves (and at least every 50 ms, as the commit follows the append).
//!
//! A fetch below the leader's log start (purged behind a snapshot) is answered with the
//! newest snapshot's id (`snapshot_id`, v12+), which the observer then copies with
//! FetchSnapshot ([`fetch_snapshot`], v0–1: the `.checkpoint` file's bytes from a position).
//!
//! Any other topic on this listener gets UNKNOWN_TOPIC_OR_PARTITION; a request naming
//! another cluster id gets INCONSISTENT_CLUSTER_ID (104) at the top level.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, LeaderIdAndEpoch, PartitionData, SnapshotId,
};
use kafka_protocol::messages::fetch_snapshot_response::{self as fsr, PartitionSnapshot};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, FetchSnapshotRequest, FetchSnapshotResponse,
};
use tokio::time::Instant;

use crate::error::{Error, ErrorCode};
use crate::handlers::RequestContext;
use crate::metadata::log::{METADATA_TOPIC, METADATA_TOPIC_ID};
use crate::quorum::CommittedRead;
use crate::security::acl::AclOperation;

/// Longest long-poll honoured.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// Re-read at least this often while long-polling.
const RECHECK: Duration = Duration::from_millis(50);

/// Kafka's `Uuid.METADATA_TOPIC_ID` (`AAAAAAAAAAAAAAAAAAAAAQ`): the uuid whose last byte is 1.
pub fn metadata_topic_id() -> uuid::Uuid {
    debug_assert_eq!(METADATA_TOPIC_ID.len(), 22);
    uuid::Uuid::from_u128(1)
}

fn error_partition(index: i32, code: ErrorCode) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Bytes::new()))
}

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let replica_id = if ctx.version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    // Kafka's controller refuses a fetcher of another cluster (KafkaRaftClient).
    if let Some(id) = req.cluster_id.as_ref() {
        if id.as_str() != ctx.broker.metadata.cluster_id() {
            return FetchResponse::default()
                .with_error_code(ErrorCode::InconsistentClusterId.code())
                .with_session_id(0);
        }
    }
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let quorum = ctx.broker.controller.quorum().cloned();
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let is_metadata = t.topic.0.as_str() == METADATA_TOPIC || t.topic_id == metadata_topic_id();
        let mut out = FetchableTopicResponse::default()
            .with_topic(t.topic.clone())
            .with_topic_id(t.topic_id);
        for p in t.partitions {
            let data = match (&quorum, is_metadata && p.partition == 0) {
                (Some(q), true) => {
                    let max = p.partition_max_bytes.max(0) as usize;
                    let mut changes = q.partition().map(|part| part.subscribe());
                    let mut got = read_committed(q, replica_id, p.fetch_offset, max).await;
                    while matches!(&got, Ok(r) if r.records.is_empty()) && Instant::now() < deadline
                    {
                        let until = deadline.min(Instant::now() + RECHECK);
                        match changes.as_mut() {
                            Some(rx) => {
                                let _ = tokio::time::timeout_at(until, rx.changed()).await;
                            }
                            None => tokio::time::sleep_until(until).await,
                        }
                        got = read_committed(q, replica_id, p.fetch_offset, max).await;
                    }
                    match got {
                        Ok(r) => PartitionData::default()
                            .with_partition_index(0)
                            .with_high_watermark(r.high_watermark)
                            .with_last_stable_offset(r.high_watermark)
                            .with_log_start_offset(r.log_start_offset)
                            .with_records(Some(r.records)),
                        Err(e)
                            if e.code() == ErrorCode::OffsetOutOfRange
                                && ctx.version >= 12
                                && q.latest_snapshot()
                                    .is_some_and(|(end, _, _)| p.fetch_offset < end) =>
                        {
                            // Below the log start: fetch the snapshot first (KIP-630).
                            let (end, epoch, _) =
                                q.latest_snapshot().unwrap_or((-1, -1, Default::default()));
                            PartitionData::default()
                                .with_partition_index(0)
                                .with_high_watermark(q.high_watermark())
                                .with_last_stable_offset(q.high_watermark())
                                .with_log_start_offset(end)
                                .with_snapshot_id(
                                    SnapshotId::default().with_end_offset(end).with_epoch(epoch),
                                )
                                .with_records(Some(Bytes::new()))
                        }
                        Err(e) => {
                            let mut d = error_partition(0, e.code());
                            if e.code() == ErrorCode::NotLeaderOrFollower && ctx.version >= 12 {
                                let view = q.describe();
                                d = d.with_current_leader(
                                    LeaderIdAndEpoch::default()
                                        .with_leader_id(BrokerId(view.leader_id.unwrap_or(-1)))
                                        .with_leader_epoch(view.leader_epoch),
                                );
                            }
                            d
                        }
                    }
                }
                (None, true) => error_partition(p.partition, ErrorCode::NotLeaderOrFollower),
                (_, false) => error_partition(p.partition, ErrorCode::UnknownTopicOrPartition),
            };
            out.partitions.push(data);
        }
        responses.push(out);
    }
    FetchResponse::default()
        .with_responses(responses)
        .with_session_id(0)
}

async fn read_committed(
    q: &std::sync::Arc<crate::quorum::Quorum>,
    replica_id: i32,
    offset: i64,
    max: usize,
) -> Result<CommittedRead, Error> {
    let q = q.clone();
    tokio::task::spawn_blocking(move || q.read_committed(replica_id, offset, max))
        .await
        .map_err(Error::from)?
}

/// Largest FetchSnapshot chunk sent.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// FetchSnapshot (59) of `__cluster_metadata-0`: the snapshot file's bytes from `position`.
pub async fn fetch_snapshot(
    ctx: &RequestContext,
    req: FetchSnapshotRequest,
) -> FetchSnapshotResponse {
    // Kafka's controller: CLUSTER_ACTION (only nodes of the cluster read snapshots).
    if !ctx.cluster_authorized(AclOperation::ClusterAction) {
        return FetchSnapshotResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    if let Some(id) = req.cluster_id.as_ref() {
        if id.as_str() != ctx.broker.metadata.cluster_id() {
            return FetchSnapshotResponse::default()
                .with_error_code(ErrorCode::InconsistentClusterId.code());
        }
    }
    let max = (req.max_bytes.max(1) as usize).min(SNAPSHOT_CHUNK);
    let quorum = ctx.broker.controller.quorum().cloned();
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let is_metadata = t.name.0.as_str() == METADATA_TOPIC;
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let id = fsr::SnapshotId::default()
                .with_end_offset(p.snapshot_id.end_offset)
                .with_epoch(p.snapshot_id.epoch);
            let out = PartitionSnapshot::default()
                .with_index(p.partition)
                .with_snapshot_id(id);
            let read = match (&quorum, is_metadata && p.partition == 0) {
                (Some(q), true) => {
                    let q = q.clone();
                    let (end, epoch, pos) =
                        (p.snapshot_id.end_offset, p.snapshot_id.epoch, p.position);
                    tokio::task::spawn_blocking(move || q.read_snapshot(end, epoch, pos, max))
                        .await
                        .map_err(Error::from)
                        .and_then(|r| r)
                }
                (None, true) => Err(Error::kafka(ErrorCode::NotLeaderOrFollower, "no quorum")),
                (_, false) => Err(Error::kafka(ErrorCode::UnknownTopicOrPartition, "unknown")),
            };
            partitions.push(match read {
                Ok((size, bytes)) => out
                    .with_size(size)
                    .with_position(p.position)
                    .with_unaligned_records(bytes),
                Err(e) => out.with_error_code(e.code().code()),
            });
        }
        topics.push(
            fsr::TopicSnapshot::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    FetchSnapshotResponse::default().with_topics(topics)
}
