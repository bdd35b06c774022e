//! Transaction administration: DescribeTransactions, ListTransactions (state, producer-id
//! and duration filters) and WriteTxnMarkers — which `kafka-transactions.sh abort` sends to
//! end a hanging transaction, and which is routed to the same marker writer the transaction
//! coordinator uses — and DescribeProducers, the producers a partition's log knows
//! (`kafka-transactions.sh describe-producers`, used to find a hanging transaction).
//!
//! Authorization (Kafka's `KafkaApis`): DescribeTransactions needs DESCRIBE on each
//! transactional id and lists only the topics the client may describe; ListTransactions
//! lists only the ids the client may describe; DescribeProducers needs READ on the topic;
//! WriteTxnMarkers needs CLUSTER_ACTION.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse as ProducersPartition, ProducerState, TopicResponse as ProducersTopic,
};
use kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as DescribedTxn,
};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedTxn;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, ListTransactionsRequest, ListTransactionsResponse, ProducerId,
    TopicName, TransactionalId, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::{message, RequestContext};
use crate::security::acl::{AclOperation, ResourceType};
use crate::txn::{MarkerRequest, TxnState};

pub async fn describe_transactions(
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(req.transactional_ids.len());
    for id in req.transactional_ids {
        // Kafka: DESCRIBE on the transactional id, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
        let described =
            if !ctx.authorized(AclOperation::Describe, ResourceType::TransactionalId, &id) {
                Err(ErrorCode::TransactionalIdAuthorizationFailed)
            } else {
                match ctx.broker.txn_coordinator(&id).await {
                    Ok(t) => t.describe(&id),
                    Err(code) => Err(code),
                }
            };
        states.push(match described {
            Err(code) => DescribedTxn::default()
                .with_transactional_id(id)
                .with_error_code(code.code()),
            Ok(d) => DescribedTxn::default()
                .with_transactional_id(id)
                .with_transaction_state(StrBytes::from_static_str(d.state.name()))
                .with_transaction_timeout_ms(d.timeout_ms)
                .with_transaction_start_time_ms(d.start_ms)
                .with_producer_id(ProducerId(d.producer_id))
                .with_producer_epoch(d.producer_epoch)
                .with_topics(
                    d.topics
                        .into_iter()
                        // Only the topics the client may describe (Kafka drops the others).
                        .filter(|(t, _)| ctx.topic_authorized(AclOperation::Describe, t))
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(TopicName(StrBytes::from_string(t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                ),
        });
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

pub async fn list_transactions(
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    // v2 (KIP-1152): a transactional id pattern, RE2 syntax matched against the whole id
    // (RE2/J's `matches()`), ANDed with the other filters; empty or null filters nothing.
    let pattern = match req.transactional_id_pattern.as_deref() {
        Some(p) if ctx.version >= 2 && !p.is_empty() => match id_pattern(p) {
            Some(re) => Some(re),
            None => {
                return ListTransactionsResponse::default()
                    .with_error_code(ErrorCode::InvalidRegularExpression.code())
            }
        },
        _ => None,
    };
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for s in req.state_filters {
        match TxnState::from_name(&s) {
            Some(state) => states.push(state),
            None => unknown.push(s),
        }
    }
    // Only unknown states asked for: nothing can match (Kafka answers the same).
    let listed = if states.is_empty() && !unknown.is_empty() {
        Vec::new()
    } else {
        let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
        let duration = if ctx.version >= 1 {
            req.duration_filter
        } else {
            -1
        };
        // Every shard this node runs (Kafka answers for its own coordinators).
        ctx.broker
            .txns
            .loaded()
            .into_iter()
            .flat_map(|(_, t)| t.list(&states, &pids, duration))
            .filter(|t| {
                pattern
                    .as_ref()
                    .is_none_or(|re| re.is_match(&t.transactional_id))
            })
            // Only the ids the client may describe (Kafka's filter).
            .filter(|t| {
                ctx.authorized(
                    AclOperation::Describe,
                    ResourceType::TransactionalId,
                    &t.transactional_id,
                )
            })
            .collect()
    };
    let listed = listed
        .into_iter()
        .map(|t| {
            ListedTxn::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(t.transactional_id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(StrBytes::from_static_str(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(listed)
}

/// ListTransactions v2's pattern, anchored at both ends; `None` if it does not compile
/// (INVALID_REGULAR_EXPRESSION). The `regex` crate bounds the compiled size itself.
fn id_pattern(p: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{p})$")).ok()
}

pub async fn write_txn_markers(
    ctx: &RequestContext,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let mut results = Vec::with_capacity(req.markers.len());
    // Kafka: only brokers (CLUSTER_ACTION) write markers; else every partition is refused.
    let allowed = ctx.cluster_authorized(AclOperation::ClusterAction);
    for m in req.markers {
        let marker = MarkerRequest {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            commit: m.transaction_result,
            coordinator_epoch: m.coordinator_epoch,
            partitions: m
                .topics
                .iter()
                .flat_map(|t| t.partition_indexes.iter().map(|p| (t.name.to_string(), *p)))
                .collect(),
        };
        // This node's partitions only: a marker is never forwarded again.
        let written = if allowed {
            ctx.broker.markers.write_local(&marker).await
        } else {
            let denied = ErrorCode::ClusterAuthorizationFailed;
            marker
                .partitions
                .iter()
                .map(|p| (p.clone(), denied))
                .collect()
        };
        let mut codes = written.into_iter().map(|(_, c)| c);
        let topics = m
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partition_indexes
                    .iter()
                    .map(|p| {
                        let code = codes.next().unwrap_or(ErrorCode::UnknownServerError);
                        WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(*p)
                            .with_error_code(code.code())
                    })
                    .collect();
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect();
        tracing::info!(
            "WriteTxnMarkers from {}: {} marker(s) for producer {} (commit={})",
            ctx.peer,
            marker.partitions.len(),
            marker.producer_id,
            marker.commit
        );
        results.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}

/// One partition of DescribeProducers: its producers if this node leads it, else the replica
/// layer's UNKNOWN_TOPIC_OR_PARTITION / NOT_LEADER_OR_FOLLOWER (Kafka's
/// `ReplicaManager.activeProducerState`).
async fn producers_of(ctx: &RequestContext, topic: &str, index: i32) -> ProducersPartition {
    let image = ctx.broker.metadata.image();
    let found = match ctx.broker.replicas.leader(&image, topic, index) {
        Ok(replica) => replica.log().run(|l| Ok(l.active_producers())).await,
        Err(e) => Err(e),
    };
    let out = ProducersPartition::default().with_partition_index(index);
    match found {
        Err(e) => out
            .with_error_code(e.code().code())
            .with_error_message(message(&e)),
        Ok(producers) => out.with_active_producers(
            producers
                .into_iter()
                .map(|p| {
                    ProducerState::default()
                        .with_producer_id(ProducerId(p.producer_id))
                        .with_producer_epoch(p.epoch.into())
                        .with_last_sequence(p.last_sequence)
                        .with_last_timestamp(p.last_timestamp)
                        .with_coordinator_epoch(p.coordinator_epoch)
                        .with_current_txn_start_offset(p.txn_start_offset)
                })
                .collect(),
        ),
    }
}

pub async fn describe_producers(
    ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partition_indexes.len());
        // Kafka: READ on the topic, else TOPIC_AUTHORIZATION_FAILED on each partition.
        let readable = ctx.topic_authorized(AclOperation::Read, &t.name);
        for p in &t.partition_indexes {
            partitions.push(if readable {
                producers_of(ctx, &t.name, *p).await
            } else {
                ProducersPartition::default()
                    .with_partition_index(*p)
                    .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "Topic authorization failed.",
                    )))
            });
        }
        topics.push(
            ProducersTopic::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DescribeProducersResponse::default().with_topics(topics)
}
