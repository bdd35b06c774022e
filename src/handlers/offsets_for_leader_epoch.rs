//! OffsetForLeaderEpoch (api key 23, v2–4): for each partition, the largest leader epoch at
//! or below the one asked for and the offset where it ends in this leader's log — from the
//! leader epoch cache (Kafka's `Partition.lastOffsetForLeaderEpoch` with
//! `fetchOnlyFromLeader`). A follower asks it to find where its log diverged (KIP-101/279); a
//! consumer asks it after a leader change, to check its position was not truncated away
//! (KIP-320).
//!
//! Per partition, as Kafka answers: UNKNOWN_TOPIC_OR_PARTITION when the metadata does not
//! know it; FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH when `current_leader_epoch` (−1: not
//! checked) is older / newer than the leader's; NOT_LEADER_OR_FOLLOWER when this node does
//! not lead it; else error NONE with `(epoch, end offset)`, or UNDEFINED (−1, −1) for an
//! epoch newer than any the log knows. The end offset of the latest epoch is the log end —
//! for consumers too (Kafka does not bound it by the high watermark). `replica_id` (v3+: −1
//! consumer, −2 debugging, ≥ 0 a broker) only selects Kafka's authorisation, which gregor
//! does not have.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::error::{Error, ErrorCode, Result};
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let b = &ctx.broker;
    let image = b.metadata.image();
    // Kafka: a follower (replica id ≥ 0) needs CLUSTER_ACTION, a client DESCRIBE on the topic.
    let follower = req.replica_id.0 >= 0;
    let cluster_ok = !follower || ctx.cluster_authorized(AclOperation::ClusterAction);
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let allowed = if follower {
            cluster_ok
        } else {
            ctx.topic_authorized(AclOperation::Describe, &t.topic)
        };
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let found: Result<Option<(i32, i64)>> = async {
                if !allowed {
                    return Err(Error::kafka(
                        ErrorCode::TopicAuthorizationFailed,
                        "OffsetForLeaderEpoch denied",
                    ));
                }
                let r = b.replicas.leader_at_epoch(
                    &image,
                    &t.topic,
                    p.partition,
                    p.current_leader_epoch,
                )?;
                r.end_offset_for_epoch(p.leader_epoch).await
            }
            .await;
            let answer = EpochEndOffset::default().with_partition(p.partition);
            partitions.push(match found {
                Ok(Some((epoch, end))) => answer.with_leader_epoch(epoch).with_end_offset(end),
                Ok(None) => answer,
                Err(e) => {
                    if e.is_broker_fault() {
                        tracing::error!("OffsetForLeaderEpoch {}-{}: {e}", t.topic.0, p.partition);
                    }
                    answer.with_error_code(e.code().code())
                }
            });
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
