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
//! gregor's controller never moves a leader (one node leads everything it hosts), so an
//! election is never needed in practice; a partition that would need one is answered
//! PREFERRED_LEADER_NOT_AVAILABLE (or ELIGIBLE_LEADERS_NOT_AVAILABLE for unclean), Kafka's
//! answer when no acceptable leader exists, until replication makes elections real. An
//! election type other than 0 or 1 is refused with INVALID_REQUEST on every partition.
//!
//! Thread-safety: reads one metadata image; no locks.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::metadata::MetadataImage;

/// Kafka's `ElectionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Election {
    Preferred,
    Unclean,
}

/// The outcome for one partition: an error code and Kafka's message.
fn elect(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    kind: Election,
) -> (ErrorCode, String) {
    let Some(t) = image.topic(topic) else {
        return (
            ErrorCode::UnknownTopicOrPartition,
            format!("No such topic as {topic}"),
        );
    };
    let Some(p) = usize::try_from(partition)
        .ok()
        .and_then(|i| t.partitions.get(i))
    else {
        return (
            ErrorCode::UnknownTopicOrPartition,
            format!("No such partition as {topic}-{partition}"),
        );
    };
    let not_needed = match kind {
        Election::Preferred => p.replicas.first() == Some(&p.leader),
        Election::Unclean => p.leader >= 0,
    };
    let code = if not_needed {
        ErrorCode::ElectionNotNeeded
    } else if kind == Election::Preferred {
        ErrorCode::PreferredLeaderNotAvailable
    } else {
        ErrorCode::EligibleLeadersNotAvailable
    };
    (code, default_message(code).to_string())
}

/// Kafka's default message of the codes answered without a specific one.
fn default_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ElectionNotNeeded => "Leader election not needed for topic partition.",
        ErrorCode::PreferredLeaderNotAvailable => "The preferred leader was not available.",
        ErrorCode::EligibleLeadersNotAvailable => {
            "Eligible topic partition leaders are not available."
        }
        _ => "",
    }
}

fn result(partition: i32, code: ErrorCode, message: String) -> PartitionResult {
    PartitionResult::default()
        .with_partition_id(partition)
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Answers a request from an image (see the module doc).
pub fn answer(
    image: &MetadataImage,
    version: i16,
    req: &ElectLeadersRequest,
) -> ElectLeadersResponse {
    let kind = match (version, req.election_type) {
        (0, _) | (_, 0) => Some(Election::Preferred),
        (_, 1) => Some(Election::Unclean),
        _ => None,
    };
    let Some(kind) = kind else {
        let message = format!("Unknown election type {}", req.election_type);
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
                            .map(|&p| result(p, ErrorCode::InvalidRequest, message.clone()))
                            .collect(),
                    )
            })
            .collect();
        let resp = ElectLeadersResponse::default().with_replica_election_results(results);
        return resp.with_error_code(ErrorCode::InvalidRequest.code());
    };
    let results = match &req.topic_partitions {
        None => image
            .topics()
            .map(|t| {
                let partitions = (0..t.partitions.len() as i32)
                    .map(|p| (p, elect(image, &t.name, p, kind)))
                    .filter(|(_, (code, _))| *code != ErrorCode::ElectionNotNeeded)
                    .map(|(p, (code, message))| result(p, code, message))
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&t.name))
                    .with_partition_result(partitions)
            })
            .collect(),
        Some(topics) => topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|&p| {
                        let (code, message) = elect(image, &t.topic, p, kind);
                        result(p, code, message)
                    })
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(t.topic.clone())
                    .with_partition_result(partitions)
            })
            .collect(),
    };
    ElectLeadersResponse::default().with_replica_election_results(results)
}

pub async fn handle(ctx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let image = ctx.broker.metadata.image();
    let mut resp = answer(&image, ctx.version, &req);
    if ctx.version == 0 {
        // No top-level error code in v0: the per-partition errors carry it.
        resp.error_code = 0;
    }
    resp
}
