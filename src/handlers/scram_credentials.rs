//! DescribeUserScramCredentials (50) and AlterUserScramCredentials (51), KIP-554.
//!
//! Describe answers from the metadata image, as a KRaft broker answers from its `ScramImage`:
//! no users listed = every user with a credential; a user named twice gets
//! DUPLICATE_RESOURCE, a user without any credential RESOURCE_NOT_FOUND, with Kafka's
//! messages; each found user lists its mechanisms and iterations (never salts or keys).
//! Alter is forwarded to the active controller (a `forward` row of the table), which checks
//! and commits the change ([`crate::controller::scram`]). Describe needs DESCRIBE and Alter
//! ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED), as Kafka checks.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::controller::scram::ScramUpsertion;
use crate::error::ErrorCode;
use crate::handlers::authz::CLUSTER_DENIED;
use crate::handlers::{message, RequestContext};
use crate::security::acl::AclOperation;

/// The message of Kafka's `ClusterAuthorizationException` when no other is given.
const CLUSTER_DENIED_MESSAGE: &str = "Cluster authorization failed.";

pub async fn describe(
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Kafka: DESCRIBE on the cluster, else its error response — the code on the response and
    // on one (nameless) result per listed user.
    if !ctx.cluster_authorized(AclOperation::Describe) {
        let msg = Some(StrBytes::from_static_str(CLUSTER_DENIED_MESSAGE));
        let results = req
            .users
            .iter()
            .flatten()
            .map(|_| {
                DescribeUserScramCredentialsResult::default()
                    .with_error_code(CLUSTER_DENIED)
                    .with_error_message(msg.clone())
            })
            .collect();
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(CLUSTER_DENIED)
            .with_error_message(msg)
            .with_results(results);
    }
    let image = ctx.broker.metadata.image();
    let stored = image.scram_credentials();
    // user → named more than once
    let mut users: BTreeMap<String, bool> = BTreeMap::new();
    match req.users.as_ref().filter(|u| !u.is_empty()) {
        None => {
            for (name, _) in stored.keys() {
                users.insert(name.clone(), false);
            }
        }
        Some(listed) => {
            for u in listed {
                users
                    .entry(u.name.to_string())
                    .and_modify(|twice| *twice = true)
                    .or_insert(false);
            }
        }
    }
    let results = users
        .into_iter()
        .map(|(user, twice)| {
            let r = DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user.clone()));
            if twice {
                return r.with_error_code(ErrorCode::DuplicateResource.code()).with_error_message(Some(
                    StrBytes::from_string(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    )),
                ));
            }
            let infos: Vec<CredentialInfo> = stored
                .iter()
                .filter(|((name, _), _)| *name == user)
                .map(|((_, mechanism), c)| {
                    CredentialInfo::default()
                        .with_mechanism(*mechanism)
                        .with_iterations(c.iterations)
                })
                .collect();
            if infos.is_empty() {
                return r.with_error_code(ErrorCode::ResourceNotFound.code()).with_error_message(Some(
                    StrBytes::from_string(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )),
                ));
            }
            r.with_credential_infos(infos)
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

pub async fn alter(
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<(String, i8)> = req
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism))
        .collect();
    let upsertions: Vec<ScramUpsertion> = req
        .upsertions
        .iter()
        .map(|u| ScramUpsertion {
            name: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    let names: Vec<String> = deletions
        .iter()
        .map(|d| d.0.clone())
        .chain(upsertions.iter().map(|u| u.name.clone()))
        .collect();
    // Kafka's controller: ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for each
    // named user (sorted, once each).
    if !ctx.cluster_authorized(AclOperation::Alter) {
        let users: std::collections::BTreeSet<String> = names.into_iter().collect();
        let results = users
            .into_iter()
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user))
                    .with_error_code(CLUSTER_DENIED)
                    .with_error_message(Some(StrBytes::from_static_str(CLUSTER_DENIED_MESSAGE)))
            })
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let outcome = ctx
        .broker
        .blocking(move |b| {
            b.controller
                .alter_user_scram_credentials(&deletions, &upsertions)
        })
        .await;
    let results = match outcome {
        Ok(results) => results
            .into_iter()
            .map(|(user, code, msg)| {
                AlterUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user))
                    .with_error_code(code.code())
                    .with_error_message(msg.map(StrBytes::from_string))
            })
            .collect(),
        Err(e) => {
            let mut seen = std::collections::BTreeSet::new();
            names
                .into_iter()
                .filter(|n| seen.insert(n.clone()))
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(StrBytes::from_string(user))
                        .with_error_code(e.code().code())
                        .with_error_message(message(&e))
                })
                .collect()
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
