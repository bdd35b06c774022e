//! CreateAcls (30), DescribeAcls (29), DeleteAcls (31): Kafka's ACL admin APIs.
//!
//! Why these rules: Kafka's `AclApis` — without an authorizer every answer is
//! SECURITY_DISABLED; creating and deleting need ALTER on the cluster, describing DESCRIBE
//! (else CLUSTER_AUTHORIZATION_FAILED for each entry); a binding or filter with an UNKNOWN
//! (or, for a binding, a filter-only) code is INVALID_REQUEST. Create and delete are
//! controller writes (forwarded by the router when this node is not the active controller);
//! describe answers from this node's image.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{message, RequestContext};
use crate::error::{Error, ErrorCode, Result};
use crate::security::acl::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType,
};

/// SECURITY_DISABLED when no authorizer is configured, else the cluster check for `op`.
fn gate(ctx: &RequestContext, op: AclOperation) -> Result<()> {
    if !ctx.broker.authorizer.enabled {
        return Err(Error::kafka(
            ErrorCode::SecurityDisabled,
            "No Authorizer is configured on the broker",
        ));
    }
    ctx.authorize_cluster(op)
}

fn s(v: &StrBytes) -> String {
    v.to_string()
}

/// A code as the enum, or UNKNOWN (refused later as INVALID_REQUEST).
fn binding(c: &AclCreation) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::from_code(c.resource_type).unwrap_or(ResourceType::Unknown),
        resource_name: s(&c.resource_name),
        pattern_type: PatternType::from_code(c.resource_pattern_type)
            .unwrap_or(PatternType::Unknown),
        principal: s(&c.principal),
        host: s(&c.host),
        operation: AclOperation::from_code(c.operation).unwrap_or(AclOperation::Unknown),
        permission: AclPermission::from_code(c.permission_type).unwrap_or(AclPermission::Unknown),
    }
}

#[allow(clippy::too_many_arguments)]
fn filter(
    rt: i8,
    name: &Option<StrBytes>,
    pt: i8,
    principal: &Option<StrBytes>,
    host: &Option<StrBytes>,
    op: i8,
    perm: i8,
) -> AclFilter {
    AclFilter {
        resource_type: ResourceType::from_code(rt).unwrap_or(ResourceType::Unknown),
        resource_name: name.as_ref().map(s),
        pattern_type: PatternType::from_code(pt).unwrap_or(PatternType::Unknown),
        principal: principal.as_ref().map(s),
        host: host.as_ref().map(s),
        operation: AclOperation::from_code(op).unwrap_or(AclOperation::Unknown),
        permission: AclPermission::from_code(perm).unwrap_or(AclPermission::Unknown),
    }
}

fn str_bytes(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub async fn create_acls(ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let failed = |e: &Error| {
        let results = req.creations.iter().map(|_| {
            AclCreationResult::default()
                .with_error_code(e.code() as i16)
                .with_error_message(message(e))
        });
        CreateAclsResponse::default().with_results(results.collect())
    };
    if let Err(e) = gate(ctx, AclOperation::Alter) {
        return failed(&e);
    }
    let bindings: Vec<AclBinding> = req.creations.iter().map(binding).collect();
    let outcome = ctx
        .broker
        .blocking(move |b| b.controller.create_acls(&bindings))
        .await;
    match outcome {
        Err(e) => failed(&e),
        Ok(results) => {
            let results = results.iter().map(|r| match r {
                Ok(()) => AclCreationResult::default(),
                Err(e) => AclCreationResult::default()
                    .with_error_code(e.code() as i16)
                    .with_error_message(message(e)),
            });
            CreateAclsResponse::default().with_results(results.collect())
        }
    }
}

pub async fn describe_acls(ctx: &RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let failed = |e: &Error| {
        DescribeAclsResponse::default()
            .with_error_code(e.code() as i16)
            .with_error_message(message(e))
    };
    if let Err(e) = gate(ctx, AclOperation::Describe) {
        return failed(&e);
    }
    let f = filter(
        req.resource_type_filter,
        &req.resource_name_filter,
        req.pattern_type_filter,
        &req.principal_filter,
        &req.host_filter,
        req.operation,
        req.permission_type,
    );
    if let Some(reason) = f.invalid_reason() {
        return failed(&Error::kafka(ErrorCode::InvalidRequest, reason));
    }
    let image = ctx.broker.metadata.image();
    // Kafka groups the answer by resource pattern.
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in image.acls.values().filter(|a| f.matches(a)) {
        let key = (
            acl.resource_type.code(),
            acl.resource_name.clone(),
            acl.pattern_type.code(),
        );
        by_resource.entry(key).or_default().push(
            AclDescription::default()
                .with_principal(str_bytes(&acl.principal))
                .with_host(str_bytes(&acl.host))
                .with_operation(acl.operation.code())
                .with_permission_type(acl.permission.code()),
        );
    }
    let resources = by_resource.into_iter().map(|((rt, name, pt), acls)| {
        DescribeAclsResource::default()
            .with_resource_type(rt)
            .with_resource_name(str_bytes(&name))
            .with_pattern_type(pt)
            .with_acls(acls)
    });
    DescribeAclsResponse::default().with_resources(resources.collect())
}

fn delete_filter(f: &DeleteAclsFilter) -> AclFilter {
    filter(
        f.resource_type_filter,
        &f.resource_name_filter,
        f.pattern_type_filter,
        &f.principal_filter,
        &f.host_filter,
        f.operation,
        f.permission_type,
    )
}

pub async fn delete_acls(ctx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let failed = |e: &Error| {
        let results = req.filters.iter().map(|_| {
            DeleteAclsFilterResult::default()
                .with_error_code(e.code() as i16)
                .with_error_message(message(e))
        });
        DeleteAclsResponse::default().with_filter_results(results.collect())
    };
    if let Err(e) = gate(ctx, AclOperation::Alter) {
        return failed(&e);
    }
    let filters: Vec<AclFilter> = req.filters.iter().map(delete_filter).collect();
    let outcome = ctx
        .broker
        .blocking(move |b| b.controller.delete_acls(&filters))
        .await;
    let results = match outcome {
        Err(e) => return failed(&e),
        Ok(r) => r,
    };
    let results = results.iter().map(|r| match r {
        Err(e) => DeleteAclsFilterResult::default()
            .with_error_code(e.code() as i16)
            .with_error_message(message(e)),
        Ok(acls) => DeleteAclsFilterResult::default().with_matching_acls(
            acls.iter()
                .map(|a| {
                    DeleteAclsMatchingAcl::default()
                        .with_resource_type(a.resource_type.code())
                        .with_resource_name(str_bytes(&a.resource_name))
                        .with_pattern_type(a.pattern_type.code())
                        .with_principal(str_bytes(&a.principal))
                        .with_host(str_bytes(&a.host))
                        .with_operation(a.operation.code())
                        .with_permission_type(a.permission.code())
                })
                .collect(),
        ),
    });
    DeleteAclsResponse::default().with_filter_results(results.collect())
}
