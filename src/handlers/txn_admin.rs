//! Transaction administration: DescribeTransactions, ListTransactions (state, producer-id
//! and duration filters) and WriteTxnMarkers — which `kafka-transactions.sh abort` sends to
//! end a hanging transaction, and which is routed to the same marker writer the transaction
//! coordinator uses.

use kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as DescribedTxn,
};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedTxn;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, TopicName, TransactionalId, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::txn::{MarkerRequest, TxnMarkerWriter, TxnState};

pub async fn describe_transactions(
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| match ctx.broker.txns.describe(&id) {
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
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(TopicName(StrBytes::from_string(t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                ),
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

pub async fn list_transactions(
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
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
        ctx.broker.txns.list(&states, &pids, duration)
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

pub async fn write_txn_markers(
    ctx: &RequestContext,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let mut results = Vec::with_capacity(req.markers.len());
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
        let written = ctx.broker.markers.write_markers(&marker).await;
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
