//! Metadata: this node as the only broker and controller, and every requested topic with
//! its id and partitions (this node leads them all, at leader epoch 0). Unknown topics are
//! created when the request allows it and `auto.create.topics.enable` is on.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::metadata::Topic;

pub(crate) fn topic_entry(node: i32, t: &Topic) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index())
                .with_leader_id(BrokerId(node))
                .with_leader_epoch(0)
                .with_replica_nodes(vec![BrokerId(node)])
                .with_isr_nodes(vec![BrokerId(node)])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_topic_id(t.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(i32::MIN)
}

pub async fn handle(ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let b = &ctx.broker;
    let node = b.config.node_id;
    // v1+: null = all topics; v0: an empty list = all topics.
    let wanted = match req.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(t),
    };
    let allow_auto = ctx.version < 4 || req.allow_auto_topic_creation;
    let topics: Vec<MetadataResponseTopic> = match wanted {
        None => b
            .metadata
            .topics()
            .iter()
            .map(|t| topic_entry(node, t))
            .collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for rt in list {
                let found: Result<Arc<Topic>, (ErrorCode, Option<TopicName>)> =
                    match (&rt.name, rt.topic_id.is_nil()) {
                        (Some(name), _) => b
                            .topic_or_create(name, allow_auto)
                            .await
                            .map_err(|e| (e.code(), Some(name.clone()))),
                        (None, false) => b
                            .metadata
                            .topic_by_id(rt.topic_id)
                            .ok_or((ErrorCode::UnknownTopicId, None)),
                        (None, true) => Err((ErrorCode::InvalidRequest, None)),
                    };
                out.push(match found {
                    Ok(t) => topic_entry(node, &t),
                    Err((code, name)) => MetadataResponseTopic::default()
                        .with_error_code(code.code())
                        .with_name(name)
                        .with_topic_id(rt.topic_id)
                        .with_topic_authorized_operations(i32::MIN),
                });
            }
            out
        }
    };
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(node))
        .with_host(StrBytes::from_string(b.advertised_host.clone()))
        .with_port(b.advertised_port);
    let mut resp = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_topics(topics);
    if ctx.version >= 1 {
        resp = resp.with_controller_id(BrokerId(node));
    }
    if ctx.version >= 2 {
        resp = resp.with_cluster_id(Some(StrBytes::from_string(
            b.metadata.cluster_id().to_string(),
        )));
    }
    if (8..=10).contains(&ctx.version) {
        resp = resp.with_cluster_authorized_operations(i32::MIN);
    }
    resp
}
