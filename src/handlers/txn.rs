//! The transactional producer's APIs: AddPartitionsToTxn (v0–5, the v4+ batched form with
//! per-transaction results and `verify_only`), AddOffsetsToTxn and EndTxn. The transaction
//! coordinator decides; this file translates, checks that partitions exist (as Kafka's
//! `KafkaApis` does: unknown partitions get UNKNOWN_TOPIC_OR_PARTITION and the others
//! OPERATION_NOT_ATTEMPTED), and answers clients older than KIP-588 (v0–1)
//! INVALID_PRODUCER_EPOCH where newer ones get PRODUCER_FENCED.

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse,
};

use crate::broker::coordinators::CoordinatorKind;
use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

/// PRODUCER_FENCED as a client of this version understands it (KIP-588: v2+ of these APIs).
fn fenced_for(version: i16, code: ErrorCode) -> ErrorCode {
    if version < 2 && code == ErrorCode::ProducerFenced {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

/// One transaction of an AddPartitionsToTxn request, answered per topic and partition.
async fn one_transaction(
    ctx: &RequestContext,
    id: &str,
    producer_id: i64,
    producer_epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let txn = if verify_only || ctx.authorize_txn_id(AclOperation::Write, id).is_ok() {
        ctx.broker.txn_coordinator(id).await
    } else {
        Err(ErrorCode::TransactionalIdAuthorizationFailed)
    };
    let txns = match txn {
        Ok(t) => t,
        Err(code) => {
            return topics
                .iter()
                .map(|t| {
                    let results = t.partitions.iter().map(|p| {
                        AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(*p)
                            .with_partition_error_code(code.code())
                    });
                    AddPartitionsToTxnTopicResult::default()
                        .with_name(t.name.clone())
                        .with_results_by_partition(results.collect())
                })
                .collect()
        }
    };
    let codes: Vec<ErrorCode> = if verify_only {
        txns.verify_partitions(id, producer_id, producer_epoch, &partitions)
            .unwrap_or_else(|c| vec![c; partitions.len()])
    } else {
        let image = ctx.broker.metadata.image();
        // WRITE on each topic (TOPIC_AUTHORIZATION_FAILED), then known partitions.
        let refused: Vec<Option<ErrorCode>> = partitions
            .iter()
            .map(|(t, p)| {
                if !ctx.topic_authorized(AclOperation::Write, t) {
                    Some(ErrorCode::TopicAuthorizationFailed)
                } else if image.partition(t, *p).is_none() {
                    Some(ErrorCode::UnknownTopicOrPartition)
                } else {
                    None
                }
            })
            .collect();
        if refused.iter().any(|u| u.is_some()) {
            refused
                .iter()
                .map(|u| u.unwrap_or(ErrorCode::OperationNotAttempted))
                .collect()
        } else {
            let code = txns
                .add_partitions(id, producer_id, producer_epoch, partitions.clone())
                .await;
            vec![code; partitions.len()]
        }
    };
    let mut codes = codes.into_iter();
    topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    let code = codes.next().unwrap_or(ErrorCode::UnknownServerError);
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(fenced_for(ctx.version, code).code())
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(results)
        })
        .collect()
}

pub async fn add_partitions_to_txn(
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    // v4+ is the brokers' batched form (KIP-890): CLUSTER_ACTION, as in Kafka.
    if ctx.version >= 4 && !ctx.cluster_authorized(AclOperation::ClusterAction) {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    if ctx.version < 4 {
        let results = one_transaction(
            ctx,
            &req.v3_and_below_transactional_id,
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            &req.v3_and_below_topics,
            false,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let mut out = Vec::with_capacity(req.transactions.len());
    for t in req.transactions {
        let results = one_transaction(
            ctx,
            &t.transactional_id,
            t.producer_id.0,
            t.producer_epoch,
            &t.topics,
            t.verify_only,
        )
        .await;
        out.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id)
                .with_topic_results(results),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(out)
}

pub async fn add_offsets_to_txn(
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let code = if !ctx.authorized(
        AclOperation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        ErrorCode::TransactionalIdAuthorizationFailed
    } else if !ctx.group_authorized(AclOperation::Read, &req.group_id) {
        ErrorCode::GroupAuthorizationFailed
    } else if req.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else {
        let b = &ctx.broker;
        let offsets_partition = b
            .coordinator_partition(CoordinatorKind::Group, &req.group_id)
            .await;
        match (
            offsets_partition,
            b.txn_coordinator(&req.transactional_id).await,
        ) {
            (Ok(p), Ok(t)) => {
                t.add_offsets(
                    &req.transactional_id,
                    req.producer_id.0,
                    req.producer_epoch,
                    p,
                )
                .await
            }
            (_, Err(code)) | (Err(code), _) => code,
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(fenced_for(ctx.version, code).code())
}

pub async fn end_txn(ctx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let id = &req.transactional_id;
    let allowed = ctx.authorized(AclOperation::Write, ResourceType::TransactionalId, id);
    let coordinator = if allowed {
        ctx.broker.txn_coordinator(id).await
    } else {
        Err(ErrorCode::TransactionalIdAuthorizationFailed)
    };
    let code = match coordinator {
        Ok(t) => {
            t.end_txn(
                &req.transactional_id,
                req.producer_id.0,
                req.producer_epoch,
                req.committed,
            )
            .await
        }
        Err(code) => code,
    };
    EndTxnResponse::default().with_error_code(fenced_for(ctx.version, code).code())
}
