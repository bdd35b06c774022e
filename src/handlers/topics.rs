//! CreateTopics, DeleteTopics and CreatePartitions, with Kafka's validation and errors.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::config::{validate_topic_config, BrokerConfig};
use crate::controller::{NewPartitions, NewTopic};
use crate::error::{Error, ErrorCode, Result};
use crate::handlers::message;
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

/// A CreateTopics entry as the controller's [`NewTopic`], with the request-shape checks
/// (assignments and counts not both set, config values) done here; everything that depends
/// on the cluster is the controller's.
fn new_topic(cfg: &BrokerConfig, t: &CreatableTopic) -> Result<NewTopic> {
    let mut assignments = Vec::with_capacity(t.assignments.len());
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(Error::kafka(
                ErrorCode::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        let mut sorted: Vec<_> = t.assignments.iter().collect();
        sorted.sort_by_key(|a| a.partition_index);
        for (i, a) in sorted.into_iter().enumerate() {
            if a.partition_index != i as i32 {
                return Err(Error::kafka(
                    ErrorCode::InvalidReplicaAssignment,
                    "Partitions should be a consecutive 0-based integer sequence",
                ));
            }
            assignments.push(a.broker_ids.iter().map(|b| b.0).collect());
        }
    }
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        let Some(v) = &c.value else { continue };
        validate_topic_config(&c.name, v).map_err(|m| Error::kafka(ErrorCode::InvalidConfig, m))?;
        configs.insert(c.name.to_string(), v.to_string());
    }
    let partitions = if t.num_partitions == -1 {
        cfg.num_partitions
    } else {
        t.num_partitions
    };
    let replication_factor = if t.replication_factor == -1 {
        cfg.default_replication_factor
    } else {
        t.replication_factor
    };
    Ok(NewTopic {
        name: t.name.to_string(),
        partitions,
        replication_factor,
        assignments,
        configs,
    })
}

fn created_configs(
    cfg: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    cfg.resolve_topic(overrides)
        .into_iter()
        .map(|(name, (value, source))| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source as i8)
        })
        .collect()
}

pub async fn create_topics(ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let b = &ctx.broker;
    let mut seen: HashMap<TopicName, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.clone()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut r = CreatableTopicResult::default().with_name(t.name.clone());
        let outcome: Result<(NewTopic, Option<uuid::Uuid>)> = async {
            if seen.get(&t.name).copied().unwrap_or(0) > 1 {
                return Err(Error::kafka(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Create topics request from client contains a duplicate topic: {}",
                        t.name.0
                    ),
                ));
            }
            if !super::metadata::may_create(ctx, &t.name) {
                ctx.authorize_topic(AclOperation::Create, &t.name)?;
            }
            let plan = new_topic(&b.config_now(), &t)?;
            if req.validate_only {
                b.controller.validate_topic(&plan)?;
                return Ok((plan, None));
            }
            let new = plan.clone();
            let topic = b.blocking(move |b| b.controller.create_topic(&new)).await?;
            Ok((plan, Some(topic.id)))
        }
        .await;
        match outcome {
            Ok((plan, id)) => {
                if let Some(id) = id {
                    r = r.with_topic_id(id);
                }
                if ctx.version >= 5 {
                    let (partitions, rf) = match plan.assignments.first() {
                        Some(a) => (plan.assignments.len() as i32, a.len() as i16),
                        None => (plan.partitions, plan.replication_factor),
                    };
                    r = r
                        .with_num_partitions(partitions)
                        .with_replication_factor(rf)
                        .with_configs(Some(created_configs(&b.config_now(), &plan.configs)));
                }
            }
            Err(e) => {
                r = r
                    .with_error_code(e.code().code())
                    .with_error_message(message(&e));
                if ctx.version >= 5 {
                    r = r.with_num_partitions(-1).with_replication_factor(-1);
                }
            }
        }
        results.push(r);
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete_topics(ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let b = &ctx.broker;
    // v6 names topics by name or id; earlier versions by name only.
    let targets: Vec<(Option<TopicName>, uuid::Uuid)> = if ctx.version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let topic = match (&name, id.is_nil()) {
            (Some(n), _) => b.metadata.topic(n),
            (None, false) => b.metadata.topic_by_id(id),
            (None, true) => None,
        };
        let mut r = DeletableTopicResult::default().with_name(name.clone());
        // DELETE on the topic (named, or found by id), else TOPIC_AUTHORIZATION_FAILED.
        let checked = name.as_ref().map(|n| n.to_string());
        let checked = checked.or_else(|| topic.as_ref().map(|t| t.name.clone()));
        let denied = checked.and_then(|n| ctx.authorize_topic(AclOperation::Delete, &n).err());
        let result = match (denied, topic) {
            (Some(e), _) => Err(e),
            (None, None) if name.is_none() => Err(Error::kafka(
                ErrorCode::UnknownTopicId,
                "This server does not host this topic ID.",
            )),
            (None, None) => Err(Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            )),
            (None, Some(_)) if !b.config.delete_topic_enable => Err(Error::kafka(
                ErrorCode::PolicyViolation,
                "Topic deletion is disabled (delete.topic.enable=false)",
            )),
            (None, Some(t)) => {
                let tname = t.name.clone();
                r = r.with_name(Some(TopicName(StrBytes::from_string(tname.clone()))));
                b.blocking(move |b| b.controller.delete_topic(&tname)).await
            }
        };
        match result {
            Ok(id) => {
                if ctx.version >= 6 {
                    r = r.with_topic_id(id);
                }
            }
            Err(e) => {
                r = r.with_error_code(e.code().code());
                if ctx.version >= 5 {
                    r = r.with_error_message(message(&e));
                }
            }
        }
        responses.push(r);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let b = &ctx.broker;
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.to_string();
        let result: Result<()> = async {
            ctx.authorize_topic(AclOperation::Alter, &name)?;
            let growth = NewPartitions {
                name,
                count: t.count,
                assignments: t
                    .assignments
                    .iter()
                    .flatten()
                    .map(|a| a.broker_ids.iter().map(|id| id.0).collect())
                    .collect(),
            };
            if req.validate_only {
                return b.controller.validate_partitions(&growth);
            }
            b.blocking(move |b| b.controller.create_partitions(&growth))
                .await
        }
        .await;
        let mut r = CreatePartitionsTopicResult::default().with_name(t.name);
        if let Err(e) = result {
            r = r
                .with_error_code(e.code().code())
                .with_error_message(message(&e));
        }
        results.push(r);
    }
    CreatePartitionsResponse::default().with_results(results)
}
