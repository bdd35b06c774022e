//! AlterConfigs (replace a topic's whole override set) and IncrementalAlterConfigs (SET,
//! DELETE, APPEND, SUBTRACT key by key) for topics. Each resource is answered on its own; the
//! checks and the ConfigRecords are the controller's ([`Controller::alter_topic_configs`]),
//! and the replica layer applies the new overrides to the hosted logs when it publishes.
//!
//! Broker resources (dynamic broker configs) are not served yet: they are refused with
//! INVALID_REQUEST and a message saying so.
//!
//! [`Controller::alter_topic_configs`]: crate::controller::Controller::alter_topic_configs

use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::controller::{ConfigOp, TopicConfigChange};
use crate::error::{Error, ErrorCode, Result};
use crate::handlers::{message, RequestContext};
use crate::metadata::records::{BROKER_RESOURCE, TOPIC_RESOURCE};

/// Changes one resource, or says why not.
async fn alter(
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
    change: Result<TopicConfigChange>,
    validate_only: bool,
) -> Result<()> {
    match resource_type {
        TOPIC_RESOURCE => {
            let change = change?;
            let name = name.to_string();
            ctx.broker
                .blocking(move |b| {
                    b.controller
                        .alter_topic_configs(&name, &change, &b.config, validate_only)
                })
                .await
        }
        BROKER_RESOURCE => Err(Error::kafka(
            ErrorCode::InvalidRequest,
            "Altering broker configs is not supported by this broker yet",
        )),
        other => Err(Error::kafka(
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {other}"),
        )),
    }
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
    for res in req.resources {
        let change = TopicConfigChange::Replace(
            res.configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect(),
        );
        let r = alter(
            ctx,
            res.resource_type,
            &res.resource_name,
            Ok(change),
            req.validate_only,
        )
        .await;
        let (code, msg) = outcome(&r);
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

pub async fn incremental_alter_configs(
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for res in req.resources {
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
        let r = alter(
            ctx,
            res.resource_type,
            &res.resource_name,
            change,
            req.validate_only,
        )
        .await;
        let (code, msg) = outcome(&r);
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
