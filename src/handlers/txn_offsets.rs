//! TxnOffsetCommit (v0–4): offsets a transactional producer commits for a consumer group
//! (`sendOffsetsToTransaction`), pending until the transaction ends.
//!
//! As Kafka's `KafkaApis.handleTxnOffsetCommitRequest`: partitions of unknown topics answer
//! UNKNOWN_TOPIC_OR_PARTITION; the rest go to the group coordinator, whose request-level
//! error (INVALID_GROUP_ID, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
//! INVALID_PRODUCER_EPOCH, a write failure) answers all of them; otherwise a partition whose
//! metadata exceeds `offset.metadata.max.bytes` answers OFFSET_METADATA_TOO_LARGE and the
//! others are written.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::error::ErrorCode;
use crate::group::{OffsetValue, TxnCommitParams};
use crate::handlers::RequestContext;
use crate::log::partition::now_ms;
use crate::security::acl::{AclOperation, ResourceType};

/// What the handler decided for a partition before asking the coordinator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// No READ on the topic: TOPIC_AUTHORIZATION_FAILED.
    TopicDenied,
    UnknownPartition,
    MetadataTooLarge,
    Valid,
}

pub async fn handle(ctx: &RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let b = &ctx.broker;
    let now = now_ms();
    let max_metadata = b.config.offset_metadata_max_bytes;
    let mut checks: Vec<Vec<Check>> = Vec::with_capacity(req.topics.len());
    let mut offsets = Vec::new();
    // Kafka: WRITE on the transactional id, then READ on the group, refuse the whole request;
    // READ on each topic refuses its partitions.
    let denied_all = if !ctx.authorized(
        AclOperation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        Some(ErrorCode::TransactionalIdAuthorizationFailed)
    } else if !ctx.group_authorized(AclOperation::Read, &req.group_id) {
        Some(ErrorCode::GroupAuthorizationFailed)
    } else {
        None
    };
    for t in &req.topics {
        let topic = b.metadata.topic(&t.name);
        let topic_ok = denied_all.is_none() && ctx.topic_authorized(AclOperation::Read, &t.name);
        let topic_checks = t
            .partitions
            .iter()
            .map(|p| {
                if !topic_ok {
                    return Check::TopicDenied;
                }
                let known = topic.as_ref().is_some_and(|tp| {
                    p.partition_index >= 0 && (p.partition_index as usize) < tp.partitions.len()
                });
                let metadata = p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                if !known {
                    return Check::UnknownPartition;
                }
                if metadata.len() > max_metadata {
                    return Check::MetadataTooLarge;
                }
                let leader_epoch = if ctx.version >= 2 {
                    p.committed_leader_epoch
                } else {
                    -1
                };
                offsets.push((
                    t.name.to_string(),
                    p.partition_index,
                    OffsetValue {
                        offset: p.committed_offset,
                        leader_epoch,
                        metadata,
                        commit_timestamp: now,
                    },
                ));
                Check::Valid
            })
            .collect();
        checks.push(topic_checks);
    }
    let any_known = checks
        .iter()
        .flatten()
        .any(|c| !matches!(c, Check::UnknownPartition | Check::TopicDenied));
    let group_code = if any_known {
        let (generation, member_id, instance_id) = if ctx.version >= 3 {
            (
                req.generation_id,
                req.member_id.to_string(),
                req.group_instance_id.as_ref().map(|i| i.to_string()),
            )
        } else {
            (-1, String::new(), None)
        };
        match b.group_coordinator(&req.group_id).await {
            Ok(g) => {
                g.commit_transactional(TxnCommitParams {
                    group_id: req.group_id.to_string(),
                    producer_id: req.producer_id.0,
                    producer_epoch: req.producer_epoch,
                    generation,
                    member_id,
                    instance_id,
                    offsets,
                })
                .await
            }
            Err(code) => code,
        }
    } else {
        ErrorCode::None
    };
    let topics = req
        .topics
        .into_iter()
        .zip(checks)
        .map(|(t, checks)| {
            let partitions = t
                .partitions
                .iter()
                .zip(checks)
                .map(|(p, check)| {
                    let code = match check {
                        _ if denied_all.is_some() => denied_all.unwrap_or(ErrorCode::None),
                        Check::TopicDenied => ErrorCode::TopicAuthorizationFailed,
                        Check::UnknownPartition => ErrorCode::UnknownTopicOrPartition,
                        _ if group_code != ErrorCode::None => group_code,
                        Check::MetadataTooLarge => ErrorCode::OffsetMetadataTooLarge,
                        Check::Valid => ErrorCode::None,
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
