//! Metadata: the registered brokers (each with its endpoint for the listener the request came
//! in on, as Kafka answers; a broker without one is left out) and every requested topic with its id and partitions —
//! leader, leader epoch, replicas and ISR — all read from the metadata image. Unknown topics
//! are created when the request allows it and `auto.create.topics.enable` is on. A topic asked
//! for by id (v12+) is looked up by its id whatever its name field holds (Kafka's rule).

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::authz::OPERATIONS_NOT_REQUESTED;
use crate::handlers::RequestContext;
use crate::metadata::{MetadataImage, TopicImage};
use crate::security::acl::{AclOperation, ResourceType};

fn brokers(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

/// One topic's entry; replicas on brokers that are fenced or not registered are listed as
/// `offline_replicas` (v5+), and a partition without a leader carries LEADER_NOT_AVAILABLE.
pub(crate) fn topic_entry(t: &TopicImage, image: &MetadataImage) -> MetadataResponseTopic {
    let offline = |replicas: &[i32]| -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
            .collect()
    };
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut entry = MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(brokers(&p.replicas))
                .with_isr_nodes(brokers(&p.isr))
                .with_offline_replicas(brokers(&offline(&p.replicas)));
            if p.leader < 0 {
                entry = entry.with_error_code(ErrorCode::LeaderNotAvailable.code());
            }
            entry
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(crate::handlers::describe_partitions::is_internal(&t.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}

/// CREATE on the cluster or on the topic (Kafka's rule for created topics).
pub(crate) fn may_create(ctx: &RequestContext, topic: &str) -> bool {
    ctx.cluster_authorized(AclOperation::Create)
        || ctx.topic_authorized(AclOperation::Create, topic)
}

pub async fn handle(ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let b = &ctx.broker;
    // v1+: null = all topics; v0: an empty list = all topics.
    let wanted = match req.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(t),
    };
    let allow_auto = ctx.version < 4 || req.allow_auto_topic_creation;
    let req_cluster_ops = ctx.version >= 8 && req.include_cluster_authorized_operations;
    let topic_ops = ctx.version >= 8 && req.include_topic_authorized_operations;
    // Kafka fills a topic's operations when asked, for the topics the client may describe.
    let with_ops = |t: MetadataResponseTopic| match &t.name {
        Some(name) if topic_ops => {
            let ops = ctx.authorized_operations(ResourceType::Topic, name);
            t.with_topic_authorized_operations(ops)
        }
        _ => t,
    };
    let image = b.metadata.image();
    let topics: Vec<MetadataResponseTopic> = match wanted {
        // Kafka lists only the topics the client may DESCRIBE.
        None => image
            .topics()
            .filter(|t| ctx.topic_authorized(AclOperation::Describe, &t.name))
            .map(|t| with_ops(topic_entry(t, &image)))
            .collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for rt in list {
                let found: Result<Arc<TopicImage>, (ErrorCode, Option<TopicName>)> =
                    match (&rt.name, rt.topic_id.is_nil()) {
                        // A topic id names the topic whatever the name holds: Kafka looks
                        // topics up by id once the request carries ids, and the Java admin's
                        // describeTopics by id sends "" as the name (the field's default).
                        // A topic id the client may not DESCRIBE is unknown to it (Kafka).
                        (_, false) => b
                            .metadata
                            .topic_by_id(rt.topic_id)
                            .filter(|t| ctx.topic_authorized(AclOperation::Describe, &t.name))
                            .ok_or((ErrorCode::UnknownTopicId, None)),
                        (Some(name), _) if !ctx.topic_authorized(AclOperation::Describe, name) => {
                            Err((ErrorCode::TopicAuthorizationFailed, Some(name.clone())))
                        }
                        // Auto-creation needs CREATE on the cluster or on the topic.
                        (Some(name), _)
                            if allow_auto
                                && b.config_now().auto_create_topics
                                && b.metadata.image().topic(name).is_none()
                                && !may_create(ctx, name) =>
                        {
                            Err((ErrorCode::TopicAuthorizationFailed, Some(name.clone())))
                        }
                        (Some(name), _) => b
                            .topic_or_create(name, allow_auto)
                            .await
                            .map_err(|e| (e.code(), Some(name.clone()))),
                        (None, true) => Err((ErrorCode::InvalidRequest, None)),
                    };
                out.push(match found {
                    Ok(t) => with_ops(topic_entry(&t, &b.metadata.image())),
                    Err((code, name)) => {
                        let entry = MetadataResponseTopic::default()
                            .with_error_code(code.code())
                            .with_name(name)
                            .with_topic_id(rt.topic_id)
                            .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED);
                        // Refused or unknown by id: no operations (Kafka's lists).
                        match code {
                            ErrorCode::TopicAuthorizationFailed
                            | ErrorCode::UnknownTopicId
                            | ErrorCode::InvalidRequest => entry,
                            _ => with_ops(entry),
                        }
                    }
                });
            }
            out
        }
    };
    // `is_internal` exists from v1 on (a v0 answer may not carry it).
    let topics: Vec<MetadataResponseTopic> = if ctx.version == 0 {
        topics
            .into_iter()
            .map(|t| t.with_is_internal(false))
            .collect()
    } else {
        topics
    };
    let image = b.metadata.image();
    let brokers = image
        .live_brokers()
        .filter_map(|br| {
            let (host, port) = br.endpoint(&ctx.listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(br.id))
                    .with_host(StrBytes::from_string(host.to_string()))
                    .with_port(port)
                    .with_rack(br.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect();
    let mut resp = MetadataResponse::default()
        .with_brokers(brokers)
        .with_topics(topics);
    if ctx.version >= 1 {
        resp = resp.with_controller_id(BrokerId(b.config.node_id));
    }
    if ctx.version >= 2 {
        resp = resp.with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())));
    }
    if (8..=10).contains(&ctx.version) {
        let ops = crate::handlers::cluster::cluster_operations(ctx, req_cluster_ops);
        resp = resp.with_cluster_authorized_operations(ops);
    }
    resp
}
