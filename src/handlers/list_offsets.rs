//! ListOffsets: earliest (−2), latest (−1), max timestamp (−3, v7+, KIP-734), earliest local
//! (−4, v8+, KIP-405: the log start, as gregor has no tiered storage), latest tiered (−5, v9+,
//! KIP-1005: offset and epoch −1, as Kafka answers for a topic without remote storage), and the
//! first offset whose timestamp is at or after a given time, looked up through the time index.
//! v10 (KIP-1075) adds only `timeout_ms`, for remote lookups gregor never waits on.
//!
//! As Kafka's `Partition.fetchOffsetForTimestamp`: the request's `current_leader_epoch` is
//! checked (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH); a consumer (replica id −1) sees the
//! log up to the high watermark (read_uncommitted) or the last stable offset
//! (read_committed), a lookup that finds an offset at or past that bound answers −1; anyone
//! else (−2 debugging, a broker) sees up to the log end. While a new leader's high watermark
//! is still below the start offset of its epoch, a consumer's "latest" — and a lookup past
//! the bound — is OFFSET_NOT_AVAILABLE, so offsets never go backwards across a leader change.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::error::{Error, ErrorCode, Result};
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Kafka's `ListOffsetsRequest.CONSUMER_REPLICA_ID`.
const CONSUMER: i32 = -1;

pub async fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let b = &ctx.broker;
    let image = b.metadata.image();
    let consumer = req.replica_id.0 == CONSUMER;
    let read_committed = ctx.version >= 2 && req.isolation_level == 1;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for rp in t.partitions {
            let ts = rp.timestamp;
            let mut epoch = -1;
            let result: Result<(i64, i64)> = async {
                ctx.authorize_topic(AclOperation::Describe, &t.name)?;
                let r = b.replicas.leader_at_epoch(
                    &image,
                    &t.name,
                    rp.partition_index,
                    rp.current_leader_epoch,
                )?;
                epoch = r.leader_epoch();
                let last_fetchable = match (consumer, read_committed) {
                    (false, _) => r.log_end_offset(),
                    (true, true) => r.last_stable_offset(),
                    (true, false) => r.high_watermark(),
                };
                let lagging = if consumer { r.offsets_lagging() } else { None };
                let p = r.log();
                // A lookup finding nothing this client may see: −1, or the lagging error
                // (Kafka's `filter(offset < lastFetchable).orElse(throw maybeOffsetsError)`).
                let bounded = |found: Option<(i64, i64)>| match found {
                    Some((o, t)) if o < last_fetchable => Ok((t, o)),
                    _ => r
                        .offsets_lagging()
                        .filter(|_| consumer)
                        .map_or(Ok((-1, -1)), Err),
                };
                match ts {
                    LATEST => match lagging {
                        Some(e) => Err(e),
                        None => Ok((-1, last_fetchable)),
                    },
                    EARLIEST => Ok((-1, r.log_start_offset())),
                    EARLIEST_LOCAL if ctx.version >= 8 => Ok((-1, r.log_start_offset())),
                    LATEST_TIERED if ctx.version >= 9 => {
                        // Kafka's `UnifiedLog` without remote storage: offset −1, epoch −1.
                        epoch = -1;
                        bounded(Some((-1, -1)))
                    }
                    MAX_TIMESTAMP if ctx.version >= 7 => {
                        bounded(p.run(|log| log.max_timestamp_offset()).await?)
                    }
                    t if t >= 0 => bounded(p.run(move |log| log.offset_for_timestamp(t)).await?),
                    _ => Err(Error::kafka(
                        ErrorCode::UnsupportedVersion,
                        format!("timestamp {ts} is not supported"),
                    )),
                }
            }
            .await;
            let mut resp =
                ListOffsetsPartitionResponse::default().with_partition_index(rp.partition_index);
            match result {
                Ok((timestamp, offset)) => {
                    resp = resp.with_timestamp(timestamp).with_offset(offset);
                    if ctx.version >= 4 {
                        resp = resp.with_leader_epoch(epoch);
                    }
                }
                Err(e) => {
                    resp = resp
                        .with_error_code(e.code().code())
                        .with_timestamp(-1)
                        .with_offset(-1)
                }
            }
            partitions.push(resp);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
