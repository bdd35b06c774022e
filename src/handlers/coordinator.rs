//! FindCoordinator (v0–6; v4+ batches several keys; v6's share key type answers
//! COORDINATOR_NOT_AVAILABLE: no share coordinator runs here, INVALID_REQUEST below v6): a group's or transactional id's
//! coordinator is the leader of its partition of `__consumer_offsets` /
//! `__transaction_state` (Kafka's hash, `coordinator::placement`), at the address the
//! metadata image has for that broker on the listener the request came in on. The topic is
//! created through the controller on the first request (as Kafka does); no leader, no
//! endpoint on this listener, or a topic that cannot be created yet answer
//! COORDINATOR_NOT_AVAILABLE, which clients retry.
//!
//! Serving it also matters to librdkafka, which only enables LZ4 compression when a broker
//! advertises FindCoordinator.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::coordinators::CoordinatorKind;
use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;
/// KIP-932 share coordinators (v6+): gregor serves no share groups.
const SHARE: i8 = 2;

/// The coordinator of one key: `(node, host, port)` or Kafka's error code and message.
async fn locate(
    ctx: &RequestContext,
    key_type: i8,
    key: &str,
) -> Result<(i32, String, i32), (ErrorCode, String)> {
    let kind = match key_type {
        GROUP => CoordinatorKind::Group,
        TRANSACTION => CoordinatorKind::Txn,
        // As a Kafka broker without a share coordinator answers (the client retries).
        SHARE if ctx.version >= 6 => {
            return Err((
                ErrorCode::CoordinatorNotAvailable,
                "share groups are not served".to_string(),
            ))
        }
        other => {
            return Err((
                ErrorCode::InvalidRequest,
                format!("unknown key type {other}"),
            ))
        }
    };
    // Kafka: DESCRIBE on the group or the transactional id.
    let denied = match kind {
        CoordinatorKind::Group => ctx.authorize_group(AclOperation::Describe, key),
        CoordinatorKind::Txn => ctx.authorize_txn_id(AclOperation::Describe, key),
    };
    denied.map_err(|e| (e.code(), e.message()))?;
    let b = &ctx.broker;
    let not_available = |code: ErrorCode| (code, code.to_string());
    let node = b
        .coordinator_leader(kind, key)
        .await
        .map_err(not_available)?;
    let image = b.metadata.image();
    let endpoint = image
        .brokers
        .get(&node)
        .filter(|n| !n.fenced)
        .and_then(|n| n.endpoint(&ctx.listener))
        .map(|(h, p)| (h.to_string(), p));
    match endpoint {
        Some((host, port)) => Ok((node, host, port)),
        None => Err(not_available(ErrorCode::CoordinatorNotAvailable)),
    }
}

pub async fn find_coordinator(
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if ctx.version >= 4 {
        let mut coordinators = Vec::with_capacity(req.coordinator_keys.len());
        for key in req.coordinator_keys {
            let c = Coordinator::default();
            coordinators.push(match locate(ctx, req.key_type, &key).await {
                Ok((node, host, port)) => c
                    .with_key(key)
                    .with_node_id(BrokerId(node))
                    .with_host(StrBytes::from_string(host))
                    .with_port(port),
                Err((code, message)) => c
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            });
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match locate(ctx, req.key_type, &req.key).await {
        Ok((node, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node))
            .with_host(StrBytes::from_string(host))
            .with_port(port),
        Err((code, message)) => {
            let mut r = FindCoordinatorResponse::default()
                .with_error_code(code.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1);
            if ctx.version >= 1 {
                r = r.with_error_message(Some(StrBytes::from_string(message)));
            }
            r
        }
    }
}
