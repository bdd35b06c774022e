//! ElectLeaders (api 43, v0–2): preferred and unclean leader elections, answered as Kafka's
//! controller (`ReplicationControlManager.electLeaders`) answers them.
//!
//! Per partition: an unknown topic or partition gets UNKNOWN_TOPIC_OR_PARTITION ("No such
//! topic as T" / "No such partition as T-P"); a preferred election where the leader already is
//! the first replica, or an unclean one where the partition has a leader, gets
//! ELECTION_NOT_NEEDED. A null partition list means every partition of every topic (each topic
//! answered, in name order); then partitions that need no election are left out, so a healthy
//! cluster answers every topic with an empty list. v0 has no election type: preferred.
//!
//! The elections themselves are the controller's (`controller::elections`): this handler
//! checks the election type (other than 0 or 1: INVALID_REQUEST on every partition), hands
//! the partitions over and shapes the answer. A node that is not the active controller
//! forwards the request there first (the `forward` row of the API table); when that fails,
//! the controller's error (NOT_CONTROLLER) is the top-level code and every partition's.
//!
//! Thread-safety: the election runs on a blocking thread under the controller's lock.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::controller::elections::ElectionType;
use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

fn result(partition: i32, code: ErrorCode, message: Option<String>) -> PartitionResult {
    PartitionResult::default()
        .with_partition_id(partition)
        .with_error_code(code.code())
        .with_error_message(message.map(StrBytes::from_string))
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// The answer when the request as a whole fails: `code` on top and on every partition.
fn failed(req: &ElectLeadersRequest, code: ErrorCode, message: String) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(
                    t.partitions
                        .iter()
                        .map(|&p| result(p, code, Some(message.clone())))
                        .collect(),
                )
        })
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(code.code())
        .with_replica_election_results(results)
}

/// Runs the elections (see the module doc).
async fn answer(ctx: &RequestContext, req: &ElectLeadersRequest) -> ElectLeadersResponse {
    if let Err(e) = ctx.authorize_cluster(AclOperation::Alter) {
        return failed(req, e.code(), e.message());
    }
    let kind = match (ctx.version, req.election_type) {
        (0, _) | (_, 0) => ElectionType::Preferred,
        (_, 1) => ElectionType::Unclean,
        (_, other) => {
            let message = format!("Unknown election type {other}");
            return failed(req, ErrorCode::InvalidRequest, message);
        }
    };
    let partitions = req.topic_partitions.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect::<Vec<_>>()
    });
    let outcome = ctx
        .broker
        .blocking(move |b| b.controller.elect_leaders(kind, partitions))
        .await;
    match outcome {
        Ok(topics) => ElectLeadersResponse::default().with_replica_election_results(
            topics
                .into_iter()
                .map(|t| {
                    ReplicaElectionResult::default()
                        .with_topic(topic_name(&t.topic))
                        .with_partition_result(
                            t.partitions
                                .into_iter()
                                .map(|(p, code, message)| result(p, code, message))
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(e) => failed(req, e.code(), e.message()),
    }
}

pub async fn handle(ctx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let mut resp = answer(ctx, &req).await;
    if ctx.version == 0 {
        // No top-level error code in v0: the per-partition errors carry it.
        resp.error_code = 0;
    }
    resp
}
