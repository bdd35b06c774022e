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
use crate::error::{Error, ErrorCode, Result};
use crate::handlers::message;
use crate::handlers::RequestContext;
use crate::metadata::validate_topic_name;

/// What a valid CreateTopics entry asks for.
struct TopicPlan {
    partitions: i32,
    replication_factor: i16,
    overrides: BTreeMap<String, String>,
}

fn plan(cfg: &BrokerConfig, t: &CreatableTopic) -> Result<TopicPlan> {
    validate_topic_name(&t.name).map_err(|m| Error::kafka(ErrorCode::InvalidTopicException, m))?;
    let (partitions, rf) = if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(Error::kafka(
                ErrorCode::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        for a in &t.assignments {
            if a.broker_ids.iter().any(|b| b.0 != cfg.node_id) || a.broker_ids.is_empty() {
                return Err(Error::kafka(
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "Unknown broker in assignment of partition {}",
                        a.partition_index
                    ),
                ));
            }
        }
        (
            t.assignments.len() as i32,
            t.assignments[0].broker_ids.len() as i16,
        )
    } else {
        let partitions = if t.num_partitions == -1 {
            cfg.num_partitions
        } else {
            t.num_partitions
        };
        let rf = if t.replication_factor == -1 {
            cfg.default_replication_factor
        } else {
            t.replication_factor
        };
        (partitions, rf)
    };
    if partitions <= 0 {
        return Err(Error::kafka(
            ErrorCode::InvalidPartitions,
            "Number of partitions must be larger than 0.",
        ));
    }
    if rf <= 0 {
        return Err(Error::kafka(
            ErrorCode::InvalidReplicationFactor,
            "Replication factor must be larger than 0.",
        ));
    }
    if rf > 1 {
        return Err(Error::kafka(
            ErrorCode::InvalidReplicationFactor,
            format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."),
        ));
    }
    let mut overrides = BTreeMap::new();
    for c in &t.configs {
        let Some(v) = &c.value else { continue };
        validate_topic_config(&c.name, v).map_err(|m| Error::kafka(ErrorCode::InvalidConfig, m))?;
        overrides.insert(c.name.to_string(), v.to_string());
    }
    Ok(TopicPlan {
        partitions,
        replication_factor: rf,
        overrides,
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
        let outcome: Result<(TopicPlan, Option<uuid::Uuid>)> = async {
            if seen.get(&t.name).copied().unwrap_or(0) > 1 {
                return Err(Error::kafka(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Create topics request from client contains a duplicate topic: {}",
                        t.name.0
                    ),
                ));
            }
            let plan = plan(&b.config, &t)?;
            if b.metadata.topic(&t.name).is_some() {
                return Err(Error::kafka(
                    ErrorCode::TopicAlreadyExists,
                    format!("Topic '{}' already exists.", t.name.0),
                ));
            }
            if req.validate_only {
                return Ok((plan, None));
            }
            let name = t.name.to_string();
            let (partitions, overrides) = (plan.partitions, plan.overrides.clone());
            let topic = b
                .blocking(move |b| {
                    b.metadata
                        .create_topic(&b.config, &b.logs, &name, partitions, overrides)
                })
                .await?;
            Ok((plan, Some(topic.id)))
        }
        .await;
        match outcome {
            Ok((plan, id)) => {
                if let Some(id) = id {
                    r = r.with_topic_id(id);
                }
                if ctx.version >= 5 {
                    r = r
                        .with_num_partitions(plan.partitions)
                        .with_replication_factor(plan.replication_factor)
                        .with_configs(Some(created_configs(&b.config, &plan.overrides)));
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
        let result = match topic {
            None if name.is_none() => Err(Error::kafka(
                ErrorCode::UnknownTopicId,
                "This server does not host this topic ID.",
            )),
            None => Err(Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            )),
            Some(_) if !b.config.delete_topic_enable => Err(Error::kafka(
                ErrorCode::PolicyViolation,
                "Topic deletion is disabled (delete.topic.enable=false)",
            )),
            Some(t) => {
                let tname = t.name.clone();
                r = r.with_name(Some(TopicName(StrBytes::from_string(tname.clone()))));
                b.blocking(move |b| b.metadata.delete_topic(&b.logs, &tname))
                    .await
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
            let topic = b.metadata.topic(&name).ok_or_else(|| {
                Error::kafka(ErrorCode::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))
            })?;
            let current = topic.partitions.len() as i32;
            if t.count < current {
                return Err(Error::kafka(
                    ErrorCode::InvalidPartitions,
                    format!("Topic currently has {current} partitions, which is higher than the requested {}.", t.count),
                ));
            }
            if t.count == current {
                return Err(Error::kafka(ErrorCode::InvalidPartitions, format!("Topic already has {current} partitions.")));
            }
            if let Some(a) = t.assignments.as_ref().filter(|a| !a.is_empty()) {
                if a.len() as i32 != t.count - current || a.iter().any(|x| x.broker_ids.iter().any(|id| id.0 != b.config.node_id)) {
                    return Err(Error::kafka(ErrorCode::InvalidReplicaAssignment, "Invalid replica assignment"));
                }
            }
            if req.validate_only {
                return Ok(());
            }
            let count = t.count;
            b.blocking(move |b| b.metadata.add_partitions(&b.config, &b.logs, &name, count)).await
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
