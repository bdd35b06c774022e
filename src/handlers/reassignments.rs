//! AlterPartitionReassignments (api 45, v0–1) and ListPartitionReassignments (api 46, v0), as
//! Kafka's controller (`ReplicationControlManager`) answers them.
//!
//! Alter, per partition, in Kafka's order of checks: an unknown topic or partition gets
//! UNKNOWN_TOPIC_OR_PARTITION; null replicas cancel a reassignment, and since none is ever in
//! progress here that is NO_REASSIGNMENT_IN_PROGRESS; a target list must be non-empty, name
//! only registered brokers and none twice (INVALID_REPLICA_ASSIGNMENT with Kafka's messages);
//! v1 with `allow_replication_factor_change` false refuses a target of another size
//! (INVALID_REPLICATION_FACTOR, KIP-860) and echoes the flag. A target equal to the current
//! replicas changes nothing and succeeds. On one node a valid target is always `[this node]`,
//! which is the current assignment; moving replicas between brokers waits for replication, so
//! a valid target that differs (possible only with several registered brokers) is refused
//! with INVALID_REPLICA_ASSIGNMENT saying so.
//!
//! List: nothing is ever being reassigned, so every answer is an empty list (Kafka lists only
//! partitions with a reassignment in progress, and skips unknown topics).
//!
//! Thread-safety: reads one metadata image; no locks.

use kafka_protocol::messages::alter_partition_reassignments_request::ReassignablePartition;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::metadata::MetadataImage;

/// Checks one partition's reassignment (see the module doc); `Ok` when nothing needs to move.
fn check(
    image: &MetadataImage,
    topic: &str,
    target: &ReassignablePartition,
    allow_rf_change: bool,
) -> Result<(), (ErrorCode, String)> {
    let Some(t) = image.topic(topic) else {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            format!("Unable to find a topic named {topic}."),
        ));
    };
    let index = target.partition_index;
    let Some(part) = usize::try_from(index)
        .ok()
        .and_then(|i| t.partitions.get(i))
    else {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            format!("Unable to find partition {topic}:{index}."),
        ));
    };
    let Some(replicas) = &target.replicas else {
        return Err((
            ErrorCode::NoReassignmentInProgress,
            "No partition reassignment is in progress.".to_string(),
        ));
    };
    if replicas.is_empty() {
        return Err((
            ErrorCode::InvalidReplicaAssignment,
            "The manual partition assignment includes an empty replica list.".to_string(),
        ));
    }
    let mut sorted: Vec<i32> = replicas.iter().map(|b| b.0).collect();
    sorted.sort_unstable();
    let mut previous = None;
    for id in sorted {
        if !image.brokers.contains_key(&id) {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                format!(
                    "The manual partition assignment includes broker {id}, but no such broker is registered."
                ),
            ));
        }
        if previous == Some(id) {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                format!("The manual partition assignment includes the broker {id} more than once."),
            ));
        }
        previous = Some(id);
    }
    if !allow_rf_change && replicas.len() != part.replicas.len() {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!(
                "The replication factor is changed from {} to {}",
                part.replicas.len(),
                replicas.len()
            ),
        ));
    }
    let same = replicas
        .iter()
        .map(|b| b.0)
        .eq(part.replicas.iter().copied());
    if same {
        Ok(())
    } else {
        Err((
            ErrorCode::InvalidReplicaAssignment,
            format!(
                "Unable to move {topic}:{index}: this broker cannot move replicas between brokers."
            ),
        ))
    }
}

pub async fn alter_partition_reassignments(
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let image = ctx.broker.metadata.image();
    // v0 has no flag: the replication factor may change.
    let allow_rf_change = ctx.version == 0 || req.allow_replication_factor_change;
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match check(&image, &t.name, p, allow_rf_change) {
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
    let mut resp = AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_responses(responses);
    if ctx.version >= 1 {
        resp = resp.with_allow_replication_factor_change(req.allow_replication_factor_change);
    }
    resp
}

pub async fn list_partition_reassignments(
    _ctx: &RequestContext,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // Nothing is ever being reassigned on one node (see the module doc).
    ListPartitionReassignmentsResponse::default().with_error_message(None)
}
