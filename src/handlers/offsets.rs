//! OffsetCommit, OffsetFetch (v8: several groups at once; v7+: `require_stable`, answered
//! UNSTABLE_OFFSET_COMMIT for partitions with offsets of an open transaction) and
//! OffsetDelete.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::group::api::StableTopicOffsets;
use crate::group::OffsetValue;
use crate::handlers::RequestContext;
use crate::log::partition::now_ms;
use crate::security::acl::AclOperation;

pub async fn offset_commit(ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let b = &ctx.broker;
    let now = now_ms();
    let max_metadata = b.config.offset_metadata_max_bytes;
    // Per-partition checks first; only valid partitions are committed.
    let mut codes: Vec<Vec<ErrorCode>> = Vec::with_capacity(req.topics.len());
    let mut valid = Vec::new();
    // Kafka: READ on the group (else every partition GROUP_AUTHORIZATION_FAILED) and on
    // each topic (else TOPIC_AUTHORIZATION_FAILED for its partitions).
    let group_ok = ctx.group_authorized(AclOperation::Read, &req.group_id);
    for t in &req.topics {
        let topic = b.metadata.topic(&t.name);
        let topic_ok = ctx.topic_authorized(AclOperation::Read, &t.name);
        codes.push(
            t.partitions
                .iter()
                .map(|p| {
                    let known = topic.as_ref().is_some_and(|tp| {
                        p.partition_index >= 0 && (p.partition_index as usize) < tp.partitions.len()
                    });
                    let metadata = p
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default();
                    if !group_ok {
                        ErrorCode::GroupAuthorizationFailed
                    } else if !topic_ok {
                        ErrorCode::TopicAuthorizationFailed
                    } else if !known {
                        ErrorCode::UnknownTopicOrPartition
                    } else if metadata.len() > max_metadata {
                        ErrorCode::OffsetMetadataTooLarge
                    } else {
                        let leader_epoch = if ctx.version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        };
                        valid.push((
                            t.name.to_string(),
                            p.partition_index,
                            OffsetValue {
                                offset: p.committed_offset,
                                leader_epoch,
                                metadata,
                                commit_timestamp: now,
                            },
                        ));
                        ErrorCode::None
                    }
                })
                .collect(),
        );
    }
    let instance = req.group_instance_id.as_ref().map(|i| i.as_str());
    let group_code = if valid.is_empty() {
        ErrorCode::None
    } else {
        match b.group_coordinator(&req.group_id).await {
            Ok(g) => {
                g.commit_at_version(
                    &req.group_id,
                    req.generation_id_or_member_epoch,
                    &req.member_id,
                    instance,
                    valid,
                    ctx.version,
                )
                .await
            }
            Err(code) => code,
        }
    };
    let topics = req
        .topics
        .into_iter()
        .zip(codes)
        .map(|(t, codes)| {
            let parts = t
                .partitions
                .iter()
                .zip(codes)
                .map(|(p, code)| {
                    let code = if code == ErrorCode::None {
                        group_code
                    } else {
                        code
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(parts)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One group's offsets, or the code that stands for all of them (not the coordinator).
async fn fetch_group(
    ctx: &RequestContext,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
    member: Option<(Option<&str>, i32)>,
) -> Result<Vec<StableTopicOffsets>, ErrorCode> {
    // Kafka: DESCRIBE on the group; topics the client may not DESCRIBE are left out of an
    // all-topics fetch and answer TOPIC_AUTHORIZATION_FAILED when named.
    if !ctx.group_authorized(AclOperation::Describe, group) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    let all = wanted.is_none();
    let g = ctx.broker.group_coordinator(group).await?;
    // v9+: a consumer group member's id and epoch are checked (KIP-848).
    if let Some((member_id, epoch)) = member {
        if let Some(code) = g.check_offset_fetch(group, member_id, epoch) {
            return Err(code);
        }
    }
    let found = g.fetch_offsets_stable(group, wanted, require_stable);
    Ok(found
        .into_iter()
        .filter_map(|(t, ps)| {
            if ctx.topic_authorized(AclOperation::Describe, &t) {
                Some((t, ps))
            } else if all {
                None
            } else {
                let ps = ps
                    .into_iter()
                    .map(|(p, _, _)| (p, None, ErrorCode::TopicAuthorizationFailed))
                    .collect();
                Some((t, ps))
            }
        })
        .collect())
}

fn parts(v: &Option<OffsetValue>) -> (i64, i32, StrBytes) {
    match v {
        Some(o) => (
            o.offset,
            o.leader_epoch,
            StrBytes::from_string(o.metadata.clone()),
        ),
        None => (-1, -1, StrBytes::new()),
    }
}

pub async fn offset_fetch(ctx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let require_stable = ctx.version >= 7 && req.require_stable;
    if ctx.version >= 8 {
        let mut groups = Vec::with_capacity(req.groups.len());
        for g in req.groups {
            let wanted = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name.to_string(), t.partition_indexes))
                    .collect()
            });
            let member = (ctx.version >= 9).then_some((g.member_id.as_deref(), g.member_epoch));
            let found = fetch_group(ctx, &g.group_id, wanted, require_stable, member).await;
            groups.push({
                let (found, code) = match found {
                    Ok(f) => (f, ErrorCode::None),
                    Err(code) => (Vec::new(), code),
                };
                let topics = found
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(StrBytes::from_string(t)))
                            .with_partitions(
                                ps.iter()
                                    .map(|(p, v, code)| {
                                        let (offset, epoch, meta) = parts(v);
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(Some(meta))
                                            .with_error_code(code.code())
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(topics)
                    .with_error_code(code.code())
            });
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let found = match fetch_group(ctx, &req.group_id, wanted, require_stable, None).await {
        Ok(f) => f,
        // v2+ carry a top-level error; v1 has none, so its partitions say it.
        Err(code) if ctx.version >= 2 => {
            return OffsetFetchResponse::default().with_error_code(code.code())
        }
        Err(code) => {
            let topics = req.topics.unwrap_or_default().into_iter().map(|t| {
                OffsetFetchResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(-1)
                                    .with_metadata(Some(StrBytes::new()))
                                    .with_error_code(code.code())
                            })
                            .collect(),
                    )
            });
            return OffsetFetchResponse::default().with_topics(topics.collect());
        }
    };
    let topics = found
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(t)))
                .with_partitions(
                    ps.iter()
                        .map(|(p, v, code)| {
                            let (offset, epoch, meta) = parts(v);
                            let r = OffsetFetchResponsePartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(offset)
                                .with_metadata(Some(meta))
                                .with_error_code(code.code());
                            if ctx.version >= 5 {
                                r.with_committed_leader_epoch(epoch)
                            } else {
                                r
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// OffsetDelete: Kafka's `handleOffsetDeleteRequest` — DELETE on the group (else
/// GROUP_AUTHORIZATION_FAILED for the whole request), then READ on each topic (else
/// TOPIC_AUTHORIZATION_FAILED on its partitions, which are not deleted).
pub async fn offset_delete(ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    if !ctx.group_authorized(AclOperation::Delete, &req.group_id) {
        return OffsetDeleteResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let readable: Vec<bool> = req
        .topics
        .iter()
        .map(|t| ctx.topic_authorized(AclOperation::Read, &t.name))
        .collect();
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
        .zip(&readable)
        .filter(|(_, ok)| **ok)
        .flat_map(|(t, _)| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    let result = match ctx.broker.group_coordinator(&req.group_id).await {
        Ok(g) => g.delete_offsets(&req.group_id, &wanted).await,
        Err(code) => Err(code),
    };
    match result {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code.code()),
        Ok(codes) => {
            let mut codes = codes.into_iter();
            let topics = req
                .topics
                .into_iter()
                .zip(readable)
                .map(|(t, ok)| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let code = if ok {
                                codes.next().unwrap_or(ErrorCode::None)
                            } else {
                                ErrorCode::TopicAuthorizationFailed
                            };
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code.code())
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(parts)
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
