//! AlterConfigs (replace a resource's whole config set) and IncrementalAlterConfigs (SET,
//! DELETE, APPEND, SUBTRACT key by key) for topics and brokers. Each resource is answered on its
//! own; as Kafka's `ConfigAdminManager` preprocessing, a resource named twice in one request
//! (both times), a key given twice and a null value (but for DELETE) are refused with
//! INVALID_REQUEST before the resource is looked at. The checks and the ConfigRecords are the controller's
//! ([`Controller::alter_topic_configs`], [`Controller::alter_broker_configs`]), and the replica
//! layer applies the change to the hosted logs when it publishes.
//!
//! BROKER resources are dynamic broker configs: "" is the cluster-wide default, "<node.id>"
//! this broker. Another id is refused with INVALID_REQUEST ("Unexpected broker id, …"), as a
//! Kafka broker refuses a resource naming another node (the admin client sends each broker
//! its own).
//!
//! [`Controller::alter_topic_configs`]: crate::controller::Controller::alter_topic_configs
//! [`Controller::alter_broker_configs`]: crate::controller::Controller::alter_broker_configs

use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::controller::{ConfigOp, TopicConfigChange};
use crate::error::{Error, ErrorCode, Result};
use crate::handlers::{message, RequestContext};
use crate::metadata::records::{BROKER_RESOURCE, TOPIC_RESOURCE};
use crate::security::acl::AclOperation;

/// Kafka's `ConfigAdminManager.preprocess`, for every resource type: a key given twice, or a
/// null value for anything but DELETE, is INVALID_REQUEST before the resource is looked at.
fn preprocess(change: &TopicConfigChange) -> Result<()> {
    let (names, nulls): (Vec<&String>, Vec<&str>) = match change {
        TopicConfigChange::Replace(c) => (
            c.iter().map(|(n, _)| n).collect(),
            c.iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| n.as_str())
                .collect(),
        ),
        TopicConfigChange::Incremental(ops) => (
            ops.iter().map(|(n, _, _)| n).collect(),
            ops.iter()
                .filter(|(_, op, v)| *op != ConfigOp::Delete && v.is_none())
                .map(|(n, _, _)| n.as_str())
                .collect(),
        ),
    };
    let mut seen = std::collections::HashSet::new();
    if !names.iter().all(|n| seen.insert(*n)) {
        return Err(Error::kafka(
            ErrorCode::InvalidRequest,
            "Error due to duplicate config keys",
        ));
    }
    if !nulls.is_empty() {
        return Err(Error::kafka(
            ErrorCode::InvalidRequest,
            format!("Null value not supported for : {}", nulls.join(", ")),
        ));
    }
    Ok(())
}

/// Changes one resource, or says why not.
async fn alter(
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
    change: Result<TopicConfigChange>,
    validate_only: bool,
) -> Result<()> {
    ctx.authorize_config(AclOperation::AlterConfigs, resource_type, name)?;
    if let Ok(c) = &change {
        preprocess(c)?;
    }
    match resource_type {
        TOPIC_RESOURCE => {
            let change = change?;
            let name = name.to_string();
            ctx.broker
                .blocking(move |b| {
                    let current = b.config_now();
                    b.controller
                        .alter_topic_configs(&name, &change, &current, validate_only)
                })
                .await
        }
        BROKER_RESOURCE => {
            let change = change?;
            if !name.is_empty() {
                check_node_id(name, ctx.broker.config.node_id)?;
            }
            let name = name.to_string();
            ctx.broker
                .blocking(move |b| {
                    let current = b.config_now();
                    b.controller
                        .alter_broker_configs(&name, &change, &current, validate_only)
                })
                .await
        }
        other => Err(Error::kafka(
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {other}"),
        )),
    }
}

/// Kafka's `validateResourceNameIsCurrentNodeId`: a BROKER resource must name this node.
fn check_node_id(name: &str, node_id: i32) -> Result<()> {
    let id: i32 = name.parse().map_err(|_| {
        Error::kafka(
            ErrorCode::InvalidRequest,
            format!("Node id must be an integer, but it is: {name}"),
        )
    })?;
    if id != node_id {
        return Err(Error::kafka(
            ErrorCode::InvalidRequest,
            format!("Unexpected broker id, expected {node_id}, but received {name}"),
        ));
    }
    Ok(())
}

/// For each resource, whether another one of the request has the same type and name.
fn repeated<'a>(resources: impl Iterator<Item = (i8, &'a str)> + Clone) -> Vec<bool> {
    let mut counts: std::collections::HashMap<(i8, &str), usize> = Default::default();
    for r in resources.clone() {
        *counts.entry(r).or_default() += 1;
    }
    resources
        .map(|r| counts.get(&r).is_some_and(|n| *n > 1))
        .collect()
}

fn each_once() -> Error {
    Error::kafka(
        ErrorCode::InvalidRequest,
        "Each resource must appear at most once.",
    )
}

/// `(error code, message)` of a result, as both responses carry them.
fn outcome(r: &Result<()>) -> (i16, Option<StrBytes>) {
    match r {
        Ok(()) => (0, None),
        Err(e) => (e.code().code(), message(e)),
    }
}

pub async fn alter_configs(ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    let twice = repeated(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    for (res, twice) in req.resources.into_iter().zip(twice) {
        let change = TopicConfigChange::Replace(
            res.configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect(),
        );
        let (code, msg) = answer(
            ctx,
            twice,
            res.resource_type,
            &res.resource_name,
            Ok(change),
            req.validate_only,
        )
        .await;
        responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg)
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// One resource's error code and message: refused when it was named twice in the request,
/// else altered (or only validated).
async fn answer(
    ctx: &RequestContext,
    twice: bool,
    resource_type: i8,
    resource_name: &str,
    change: Result<TopicConfigChange>,
    validate_only: bool,
) -> (i16, Option<StrBytes>) {
    let r = if twice {
        Err(each_once())
    } else {
        alter(ctx, resource_type, resource_name, change, validate_only).await
    };
    outcome(&r)
}

pub async fn incremental_alter_configs(
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    let twice = repeated(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    for (res, twice) in req.resources.into_iter().zip(twice) {
        let change = res
            .configs
            .iter()
            .map(|c| {
                Ok((
                    c.name.to_string(),
                    ConfigOp::from_code(c.config_operation)?,
                    c.value.as_ref().map(|v| v.to_string()),
                ))
            })
            .collect::<Result<Vec<_>>>()
            .map(TopicConfigChange::Incremental);
        let (code, msg) = answer(
            ctx,
            twice,
            res.resource_type,
            &res.resource_name,
            change,
            req.validate_only,
        )
        .await;
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg)
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
