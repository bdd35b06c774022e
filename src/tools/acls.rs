//! `gregor acls`: list, add and remove ACLs of a running broker or cluster over
//! DescribeAcls / CreateAcls / DeleteAcls, like Kafka's `kafka-acls.sh`.
//!
//! Why a tool of its own: an operator needs to grant the first ACLs without a Kafka
//! distribution at hand; the broker's answer (SECURITY_DISABLED, CLUSTER_AUTHORIZATION_FAILED,
//! INVALID_REQUEST) is printed as Kafka names it.

use std::fmt::Write as _;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::client::Client;
use crate::error::ErrorCode;
use crate::security::acl::{AclOperation, AclPermission, PatternType, ResourceType};

/// One ACL as the command line names it.
#[derive(Debug, Clone)]
pub struct AclSpec {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn check(code: i16, message: Option<&StrBytes>) -> Result<(), String> {
    if code == 0 {
        return Ok(());
    }
    let name = ErrorCode::from_i16(code).name();
    Err(match message {
        Some(m) if !m.is_empty() => format!("{name}: {}", m.as_str()),
        _ => name.to_string(),
    })
}

/// Every ACL, one line each (`TOPIC pay- PREFIXED User:alice * WRITE ALLOW`).
pub fn list(bootstrap: &str) -> Result<String, String> {
    let mut c = Client::connect(bootstrap)?;
    let req = DescribeAclsRequest::default()
        .with_resource_type_filter(ResourceType::Any.code())
        .with_resource_name_filter(None)
        .with_pattern_type_filter(PatternType::Any.code())
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(AclOperation::Any.code())
        .with_permission_type(AclPermission::Any.code());
    let r = c.call(&req, 3)?;
    check(r.error_code, r.error_message.as_ref())?;
    let mut out = String::new();
    let name = |code, f: fn(i8) -> Option<&'static str>| f(code).unwrap_or("UNKNOWN");
    for res in &r.resources {
        for a in &res.acls {
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {}",
                name(res.resource_type, |c| ResourceType::from_code(c)
                    .map(|v| v.name())),
                res.resource_name.as_str(),
                name(res.pattern_type, |c| PatternType::from_code(c)
                    .map(|v| v.name())),
                a.principal.as_str(),
                a.host.as_str(),
                name(a.operation, |c| AclOperation::from_code(c)
                    .map(|v| v.name())),
                name(a.permission_type, |c| AclPermission::from_code(c)
                    .map(|v| v.name())),
            );
        }
    }
    Ok(out)
}

/// Creates the ACL.
pub fn add(bootstrap: &str, spec: &AclSpec) -> Result<(), String> {
    let mut c = Client::connect(bootstrap)?;
    let creation = AclCreation::default()
        .with_resource_type(spec.resource_type.code())
        .with_resource_name(sb(&spec.resource_name))
        .with_resource_pattern_type(spec.pattern_type.code())
        .with_principal(sb(&spec.principal))
        .with_host(sb(&spec.host))
        .with_operation(spec.operation.code())
        .with_permission_type(spec.permission.code());
    let r = c.call(
        &CreateAclsRequest::default().with_creations(vec![creation]),
        3,
    )?;
    let first = r.results.first().ok_or("no result in the answer")?;
    check(first.error_code, first.error_message.as_ref())
}

/// Removes the ACLs exactly matching the spec; returns how many were removed.
pub fn remove(bootstrap: &str, spec: &AclSpec) -> Result<usize, String> {
    let mut c = Client::connect(bootstrap)?;
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(spec.resource_type.code())
        .with_resource_name_filter(Some(sb(&spec.resource_name)))
        .with_pattern_type_filter(spec.pattern_type.code())
        .with_principal_filter(Some(sb(&spec.principal)))
        .with_host_filter(Some(sb(&spec.host)))
        .with_operation(spec.operation.code())
        .with_permission_type(spec.permission.code());
    let r = c.call(&DeleteAclsRequest::default().with_filters(vec![filter]), 3)?;
    let first = r.filter_results.first().ok_or("no result in the answer")?;
    check(first.error_code, first.error_message.as_ref())?;
    Ok(first.matching_acls.len())
}
