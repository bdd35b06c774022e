//! DescribeTopicPartitions (api 75, KIP-966): topics and their partitions a page at a time, as
//! Kafka's `DescribeTopicPartitionsRequestHandler` and `getTopicMetadataForDescribeTopicResponse`
//! answer.
//!
//! Rules (Kafka's): an empty topic list means every topic, and then unknown ones cannot occur;
//! a listed topic that does not exist gets UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION
//! when its name is illegal) with a nil id and no partitions. Names are de-duplicated and
//! answered in name order, starting at the cursor's topic (topics before it are skipped; a
//! listed request must contain the cursor's topic, and the cursor's partition must not be
//! negative, else INVALID_REQUEST for every listed topic). At most
//! `max(min(2000, response_partition_limit), 1)` partitions are returned; when a topic is cut
//! short, `next_cursor` names it and its next partition; when the limit is used up exactly at
//! a topic's end and more topics follow, `next_cursor` names the next topic at partition 0.
//! Per partition: leader (−1 unless a registered broker), leader epoch, replicas, ISR,
//! eligible leader replicas and last known ELR (empty: gregor keeps no ELR) and offline
//! replicas (unregistered or fenced brokers).
//!
//! Authorization (Kafka's): a topic needs DESCRIBE. With every topic asked for, the others
//! are left out; a listed one the client may not describe is answered after the page with
//! TOPIC_AUTHORIZATION_FAILED, a nil id and no partitions, without saying whether it exists.
//! Each described topic carries the client's authorized operations on it (a bit field of
//! READ…ALTER_CONFIGS; all of them without an authorizer).
//!
//! Thread-safety: reads one metadata image; no locks.

use std::collections::BTreeSet;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::metadata::{validate_topic_name, MetadataImage, TopicImage};
use crate::security::acl::{AclOperation, ResourceType};

/// Kafka's `max.request.partition.size.limit` default: the most partitions one response holds.
pub const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

/// Every operation on a topic, as Kafka's `authorizedOperations` reports them without an
/// authorizer: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, DESCRIBE_CONFIGS 10,
/// ALTER_CONFIGS 11, one bit each.
pub const ALL_TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Topics Kafka calls internal (`Topic.isInternal`).
pub fn is_internal(name: &str) -> bool {
    matches!(
        name,
        "__consumer_offsets" | "__transaction_state" | "__share_group_state"
    )
}

fn brokers(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// The partitions `[start, start + max)` of a topic, and the index to continue from (−1 when
/// the topic is done).
fn partitions(
    image: &MetadataImage,
    t: &TopicImage,
    start: usize,
    max: usize,
) -> (Vec<DescribeTopicPartitionsResponsePartition>, i32) {
    let count = t.partitions.len();
    let upper = count.min(start.saturating_add(max));
    let next = if upper < count { upper as i32 } else { -1 };
    let registered = |id: i32| image.brokers.get(&id).filter(|b| !b.fenced);
    let out = t
        .partitions
        .iter()
        .enumerate()
        .take(upper)
        .skip(start)
        .map(|(i, p)| {
            let leader = if registered(p.leader).is_some() {
                p.leader
            } else {
                -1
            };
            let offline: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|&r| registered(r).is_none())
                .collect();
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(brokers(&p.replicas))
                .with_isr_nodes(brokers(&p.isr))
                .with_eligible_leader_replicas(Some(vec![]))
                .with_last_known_elr(Some(vec![]))
                .with_offline_replicas(brokers(&offline))
        })
        .collect();
    (out, next)
}

/// The answer for a request whose shape Kafka refuses: the error on every listed topic.
fn refused(
    req: &DescribeTopicPartitionsRequest,
    code: ErrorCode,
) -> DescribeTopicPartitionsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(t.name.clone()))
                .with_error_code(code.code())
                .with_topic_authorized_operations(ALL_TOPIC_OPERATIONS)
        })
        .collect();
    DescribeTopicPartitionsResponse::default().with_topics(topics)
}

/// What the client may do with topics: whether it may describe one, and its authorized
/// operations on one (a bit field).
pub struct TopicAccess<'a> {
    pub describe: &'a dyn Fn(&str) -> bool,
    pub operations: &'a dyn Fn(&str) -> i32,
}

/// Answers a request from an image (see the module doc).
pub fn describe(
    image: &MetadataImage,
    req: &DescribeTopicPartitionsRequest,
    access: &TopicAccess<'_>,
) -> DescribeTopicPartitionsResponse {
    let all = req.topics.is_empty();
    let (cursor_topic, cursor_partition) = match &req.cursor {
        Some(c) => (c.topic_name.as_str(), Some(c.partition_index)),
        None => ("", None),
    };
    let names: BTreeSet<&str> = if all {
        image
            .topics()
            .map(|t| t.name.as_str())
            .filter(|n| *n >= cursor_topic)
            .collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| *n >= cursor_topic)
            .collect()
    };
    if !all && req.cursor.is_some() && !names.contains(cursor_topic) {
        return refused(req, ErrorCode::InvalidRequest);
    }
    if cursor_partition.is_some_and(|p| p < 0) {
        return refused(req, ErrorCode::InvalidRequest);
    }
    // Listed topics the client may not describe: answered after the page (Kafka's order).
    let mut denied = Vec::new();
    let names: Vec<&str> = names
        .into_iter()
        .filter(|n| {
            let ok = (access.describe)(n);
            if !ok && !all {
                denied.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_name(Some(topic_name(n)))
                        .with_error_code(ErrorCode::TopicAuthorizationFailed.code()),
                );
            }
            ok
        })
        .collect();
    let mut remaining = req
        .response_partition_limit
        .clamp(1, MAX_PARTITIONS_PER_RESPONSE) as usize;
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names {
        if remaining == 0 {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(topic_name(name))
                    .with_partition_index(0),
            );
            break;
        }
        let start = match cursor_partition {
            Some(p) if name == cursor_topic => p as usize,
            _ => 0,
        };
        let entry = DescribeTopicPartitionsResponseTopic::default()
            .with_name(Some(topic_name(name)))
            .with_is_internal(is_internal(name))
            .with_topic_authorized_operations((access.operations)(name));
        match image.topic(name) {
            Some(t) => {
                let (parts, next) = partitions(image, t, start, remaining);
                remaining -= parts.len();
                topics.push(entry.with_topic_id(t.id).with_partitions(parts));
                if next != -1 {
                    next_cursor = Some(
                        Cursor::default()
                            .with_topic_name(topic_name(name))
                            .with_partition_index(next),
                    );
                    break;
                }
            }
            None if all => {}
            None => {
                let code = if validate_topic_name(name).is_ok() {
                    ErrorCode::UnknownTopicOrPartition
                } else {
                    ErrorCode::InvalidTopicException
                };
                topics.push(entry.with_error_code(code.code()));
            }
        }
    }
    topics.extend(denied);
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let access = TopicAccess {
        describe: &|t| ctx.topic_authorized(AclOperation::Describe, t),
        operations: &|t| ctx.authorized_operations(ResourceType::Topic, t),
    };
    describe(&ctx.broker.metadata.image(), &req, &access)
}
