//! InitProducerId: hands idempotent producers an id (or bumps the epoch of the one they
//! have, KIP-360); with a `transactional.id`, the transaction coordinator answers (fencing,
//! epoch bumps, aborting the previous instance's transaction).

use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId,
};

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |code: ErrorCode| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if let Some(id) = &req.transactional_id {
        if !ctx.authorized(AclOperation::Write, ResourceType::TransactionalId, id) {
            return fail(ErrorCode::TransactionalIdAuthorizationFailed);
        }
        // Kafka: an id and an epoch come together (KIP-360), or neither does.
        let expected = match (req.producer_id.0, req.producer_epoch) {
            (-1, -1) => None,
            (-1, _) | (_, -1) => return fail(ErrorCode::InvalidRequest),
            (pid, epoch) => Some((pid, epoch)),
        };
        let txns = match ctx.broker.txn_coordinator(id).await {
            Ok(t) => t,
            Err(code) => return fail(code),
        };
        return match txns
            .init_producer_id(id, req.transaction_timeout_ms, expected)
            .await
        {
            Ok((pid, epoch)) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            // Clients before v4 (KIP-588) know only INVALID_PRODUCER_EPOCH.
            Err(ErrorCode::ProducerFenced) if ctx.version < 4 => {
                fail(ErrorCode::InvalidProducerEpoch)
            }
            Err(code) => fail(code),
        };
    }
    // KIP-679: an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on
    // some topic.
    if !ctx.cluster_authorized(AclOperation::IdempotentWrite)
        && !ctx.authorized_any(AclOperation::Write, ResourceType::Topic)
    {
        return fail(ErrorCode::ClusterAuthorizationFailed);
    }
    // KIP-360: a producer that already has an id asks for the next epoch.
    if ctx.version >= 3
        && req.producer_id.0 >= 0
        && req.producer_epoch >= 0
        && req.producer_epoch < i16::MAX - 1
    {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match ctx.broker.blocking(|b| b.next_producer_id()).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!("allocating a producer id failed: {e}");
            fail(e.code())
        }
    }
}

/// AllocateProducerIds (67), on a controller listener: a block of producer ids for the
/// broker that asks (a node that is not the active controller forwards its own need here,
/// `broker::forward`). Not the active controller: NOT_CONTROLLER. The broker epoch is not
/// checked yet (broker lifecycle: issue 13 step 3).
pub async fn allocate_producer_ids(
    ctx: &RequestContext,
    req: AllocateProducerIdsRequest,
) -> AllocateProducerIdsResponse {
    if !ctx.cluster_authorized(AclOperation::ClusterAction) {
        return AllocateProducerIdsResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    let broker_id = req.broker_id.0;
    let result = ctx
        .broker
        .blocking(move |b| b.controller.allocate_producer_ids_for(broker_id))
        .await;
    match result {
        Ok((start, end)) => AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(start))
            .with_producer_id_len(i32::try_from(end - start).unwrap_or(i32::MAX)),
        Err(e) => AllocateProducerIdsResponse::default()
            .with_error_code(e.code().code())
            .with_producer_id_start(ProducerId(-1)),
    }
}
