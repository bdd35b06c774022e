//! AlterPartitionReassignments (api 45, v0–1) and ListPartitionReassignments (api 46, v0), as
//! Kafka's controller (`ReplicationControlManager`) answers them.
//!
//! Alter is forwarded to the active controller (the `forward` row of the API table) and run
//! there (`controller::reassignments`): per partition, in Kafka's order of checks, an unknown
//! topic or partition gets UNKNOWN_TOPIC_OR_PARTITION; null replicas cancel the reassignment
//! in progress (NO_REASSIGNMENT_IN_PROGRESS when none); a target list must be non-empty, name
//! only registered brokers and none twice (INVALID_REPLICA_ASSIGNMENT with Kafka's messages);
//! v1 with `allow_replication_factor_change` false refuses a target of another size
//! (INVALID_REPLICATION_FACTOR, KIP-860) and echoes the flag. A fenced broker is registered,
//! so Kafka accepts it as a target (it catches up once unfenced). Accepted targets start
//! moving replicas; the reassignment completes when every target replica is in the ISR.
//! `timeout_ms` is Kafka's controller deadline: a request that could not start before it
//! (waiting behind other controller commits; `timeout_ms` ≤ 0 at once) is REQUEST_TIMED_OUT
//! and changes nothing. When the controller call fails as a whole (NOT_CONTROLLER, the
//! timeout) the error is at the top and on every partition, as Kafka's `getErrorResponse`.
//!
//! List (forwarded to the active controller like Alter, as Kafka's brokers forward it, so the
//! answer never lags the controller by a publish): the partitions with a reassignment in
//! progress in the image (all of them,
//! or those asked for; unknown topics and partitions are skipped, as Kafka does), with their
//! replicas and the adding and removing ones.
//!
//! Thread-safety: the controller call runs on a blocking thread; List reads one image.

use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::controller::reassignments::{ongoing, TopicTargets};
use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

pub async fn alter_partition_reassignments(
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if !ctx.cluster_authorized(AclOperation::Alter) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    // v0 has no flag: the replication factor may change.
    let allow_rf_change = ctx.version == 0 || req.allow_replication_factor_change;
    let topics: Vec<TopicTargets> = req
        .topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| {
                    let target = p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
                    (p.partition_index, target)
                })
                .collect();
            (t.name.0.to_string(), parts)
        })
        .collect();
    if req.topics.is_empty() {
        // Kafka answers an empty request at once, without a controller event.
        let resp = AlterPartitionReassignmentsResponse::default().with_error_message(None);
        return if ctx.version >= 1 {
            resp.with_allow_replication_factor_change(req.allow_replication_factor_change)
        } else {
            resp
        };
    }
    // Kafka's deadline: the request's timeout from its arrival at the controller.
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    let answers = ctx
        .broker
        .blocking(move |b| {
            b.controller
                .alter_partition_reassignments(topics, allow_rf_change, Some(deadline))
        })
        .await;
    let mut resp = AlterPartitionReassignmentsResponse::default().with_error_message(None);
    match answers {
        Ok(answers) => {
            resp.responses = req
                .topics
                .iter()
                .zip(answers)
                .map(|(t, answers)| {
                    let partitions = t
                        .partitions
                        .iter()
                        .zip(answers)
                        .map(|(p, answer)| {
                            let r = ReassignablePartitionResponse::default()
                                .with_partition_index(p.partition_index);
                            match answer {
                                Ok(()) => r.with_error_message(None),
                                Err((code, message)) => r
                                    .with_error_code(code.code())
                                    .with_error_message(Some(StrBytes::from_string(message))),
                            }
                        })
                        .collect();
                    ReassignableTopicResponse::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
        }
        Err(e) => {
            // Kafka's `getErrorResponse`: the error at the top and on every partition; a
            // timeout carries no message (its exception has none).
            let message = (e.code() != ErrorCode::RequestTimedOut)
                .then(|| StrBytes::from_string(e.message()));
            resp.responses = req
                .topics
                .iter()
                .map(|t| {
                    let partitions = t.partitions.iter().map(|p| {
                        ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(e.code().code())
                            .with_error_message(message.clone())
                    });
                    ReassignableTopicResponse::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions.collect())
                })
                .collect();
            resp = resp
                .with_error_code(e.code().code())
                .with_error_message(message);
        }
    }
    if ctx.version >= 1 {
        resp = resp.with_allow_replication_factor_change(req.allow_replication_factor_change);
    }
    resp
}

pub async fn list_partition_reassignments(
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !ctx.cluster_authorized(AclOperation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    let image = ctx.broker.metadata.image();
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let ids = |v: Vec<i32>| v.into_iter().map(BrokerId).collect::<Vec<_>>();
    let topics = ongoing(&image, wanted.as_deref())
        .into_iter()
        .map(|(name, parts)| {
            OngoingTopicReassignment::default()
                .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
                    name,
                )))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|p| {
                            OngoingPartitionReassignment::default()
                                .with_partition_index(p.partition)
                                .with_replicas(ids(p.replicas))
                                .with_adding_replicas(ids(p.adding))
                                .with_removing_replicas(ids(p.removing))
                        })
                        .collect(),
                )
        })
        .collect();
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}
