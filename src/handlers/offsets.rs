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

pub async fn offset_commit(ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let b = &ctx.broker;
    let now = now_ms();
    // Per-partition checks first; only valid partitions are committed.
    let mut codes: Vec<Vec<ErrorCode>> = Vec::with_capacity(req.topics.len());
    let mut valid = Vec::new();
    for t in &req.topics {
        let topic = b.metadata.topic(&t.name);
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
                    if !known {
                        ErrorCode::UnknownTopicOrPartition
                    } else if metadata.len() > b.groups.offset_metadata_max_bytes() {
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
        b.groups
            .commit(
                &req.group_id,
                req.generation_id_or_member_epoch,
                &req.member_id,
                instance,
                valid,
            )
            .await
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

fn fetch_group(
    ctx: &RequestContext,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<StableTopicOffsets> {
    ctx.broker
        .groups
        .fetch_offsets_stable(group, wanted, require_stable)
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
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let wanted = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                let topics = fetch_group(ctx, &g.group_id, wanted, require_stable)
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
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let topics = fetch_group(ctx, &req.group_id, wanted, require_stable)
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

pub async fn offset_delete(ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    match ctx
        .broker
        .groups
        .delete_offsets(&req.group_id, &wanted)
        .await
    {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code.code()),
        Ok(codes) => {
            let mut codes = codes.into_iter();
            let topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(codes.next().unwrap_or(ErrorCode::None).code())
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
