//! Injected error answers, built from the real request so that they look like the broker's
//! own: every partition (or topic, or group, or coordinator key) the request names gets the
//! chosen error code, the other fields the values Kafka sends with an error (offsets −1, no
//! records, node −1), and the response is encoded at the request's version.
//!
//! Also the topics and partitions a request names, for rules that match on them.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::protocol::codec::encode_response;
use crate::protocol::{DispatchError, Frame};

/// The APIs whose error answer is built here.
pub(super) const ERROR_APIS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::InitProducerId,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
];

pub(super) fn supports_error(key: ApiKey) -> bool {
    ERROR_APIS.contains(&key)
}

fn decode<R: Decodable>(body: &Bytes, version: i16) -> Result<R, DispatchError> {
    let mut b = body.clone();
    R::decode(&mut b, version).map_err(|e| DispatchError::Decode(e.to_string()))
}

fn name(t: &TopicName) -> String {
    t.0.to_string()
}

/// The (topic, partition) pairs a request names (partition −1: the topic as a whole).
/// Undecodable requests and APIs without topics name none.
/// A Fetch v13+ topic named by id takes the name `names` gives it.
pub(super) fn topics(
    key: ApiKey,
    version: i16,
    body: &Bytes,
    names: &dyn Fn(uuid::Uuid) -> Option<String>,
) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    match key {
        ApiKey::Produce => {
            if let Ok(r) = decode::<ProduceRequest>(body, version) {
                for t in &r.topic_data {
                    out.extend(t.partition_data.iter().map(|p| (name(&t.name), p.index)));
                }
            }
        }
        ApiKey::Fetch => {
            if let Ok(r) = decode::<FetchRequest>(body, version) {
                for t in &r.topics {
                    let n = if t.topic_id.is_nil() {
                        name(&t.topic)
                    } else {
                        names(t.topic_id).unwrap_or_default()
                    };
                    out.extend(t.partitions.iter().map(|p| (n.clone(), p.partition)));
                }
            }
        }
        ApiKey::ListOffsets => {
            if let Ok(r) = decode::<ListOffsetsRequest>(body, version) {
                for t in &r.topics {
                    out.extend(
                        t.partitions
                            .iter()
                            .map(|p| (name(&t.name), p.partition_index)),
                    );
                }
            }
        }
        ApiKey::OffsetCommit => {
            if let Ok(r) = decode::<OffsetCommitRequest>(body, version) {
                for t in &r.topics {
                    out.extend(
                        t.partitions
                            .iter()
                            .map(|p| (name(&t.name), p.partition_index)),
                    );
                }
            }
        }
        ApiKey::Metadata => {
            if let Ok(r) = decode::<MetadataRequest>(body, version) {
                for t in r.topics.iter().flatten() {
                    if let Some(n) = &t.name {
                        out.push((name(n), -1));
                    }
                }
            }
        }
        ApiKey::CreateTopics => {
            if let Ok(r) = decode::<CreateTopicsRequest>(body, version) {
                out.extend(r.topics.iter().map(|t| (name(&t.name), -1)));
            }
        }
        ApiKey::DeleteTopics => {
            if let Ok(r) = decode::<DeleteTopicsRequest>(body, version) {
                out.extend(r.topic_names.iter().map(|t| (name(t), -1)));
                out.extend(
                    r.topics
                        .iter()
                        .filter_map(|t| t.name.as_ref().map(|n| (name(n), -1))),
                );
            }
        }
        _ => {}
    }
    out
}

/// A Produce partition answered with `code` (offsets −1, as Kafka's error answer).
pub(super) fn produce_error(index: i32, code: i16) -> produce_response::PartitionProduceResponse {
    produce_response::PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
}

/// A Fetch partition answered with `code` and no records.
pub(super) fn fetch_error(index: i32, code: i16) -> fetch_response::PartitionData {
    fetch_response::PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Bytes::new()))
}

/// A ListOffsets partition answered with `code`.
pub(super) fn list_offsets_error(
    index: i32,
    code: i16,
) -> list_offsets_response::ListOffsetsPartitionResponse {
    list_offsets_response::ListOffsetsPartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_timestamp(-1)
        .with_offset(-1)
        .with_leader_epoch(-1)
}

/// An OffsetCommit partition answered with `code`.
pub(super) fn offset_commit_error(
    index: i32,
    code: i16,
) -> offset_commit_response::OffsetCommitResponsePartition {
    offset_commit_response::OffsetCommitResponsePartition::default()
        .with_partition_index(index)
        .with_error_code(code)
}

fn frame<R: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: &R,
) -> Result<Frame, DispatchError> {
    encode_response(
        correlation_id,
        key.response_header_version(version),
        resp,
        version,
    )
    .map(Frame::from)
}

/// The response to the request in `body` with `code` in each of its error fields.
pub(super) fn error_frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &Bytes,
    code: i16,
) -> Result<Frame, DispatchError> {
    let f = |resp: &dyn ErasedEncode| resp.frame(key, version, correlation_id);
    match key {
        ApiKey::Produce => {
            let r: ProduceRequest = decode(body, version)?;
            let responses = r
                .topic_data
                .iter()
                .map(|t| {
                    produce_response::TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_topic_id(t.topic_id)
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| produce_error(p.index, code))
                                .collect(),
                        )
                })
                .collect();
            f(&ProduceResponse::default().with_responses(responses))
        }
        ApiKey::Fetch => {
            let r: FetchRequest = decode(body, version)?;
            let responses = r
                .topics
                .iter()
                .map(|t| {
                    fetch_response::FetchableTopicResponse::default()
                        .with_topic(t.topic.clone())
                        .with_topic_id(t.topic_id)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| fetch_error(p.partition, code))
                                .collect(),
                        )
                })
                .collect();
            f(&FetchResponse::default()
                .with_session_id(0)
                .with_responses(responses))
        }
        ApiKey::ListOffsets => {
            let r: ListOffsetsRequest = decode(body, version)?;
            let topics = r
                .topics
                .iter()
                .map(|t| {
                    list_offsets_response::ListOffsetsTopicResponse::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| list_offsets_error(p.partition_index, code))
                                .collect(),
                        )
                })
                .collect();
            f(&ListOffsetsResponse::default().with_topics(topics))
        }
        ApiKey::OffsetCommit => {
            let r: OffsetCommitRequest = decode(body, version)?;
            let topics = r
                .topics
                .iter()
                .map(|t| {
                    offset_commit_response::OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_topic_id(t.topic_id)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| offset_commit_error(p.partition_index, code))
                                .collect(),
                        )
                })
                .collect();
            f(&OffsetCommitResponse::default().with_topics(topics))
        }
        ApiKey::OffsetFetch => {
            let r: OffsetFetchRequest = decode(body, version)?;
            let resp = match version {
                8.. => OffsetFetchResponse::default().with_groups(
                    r.groups
                        .iter()
                        .map(|g| {
                            offset_fetch_response::OffsetFetchResponseGroup::default()
                                .with_group_id(g.group_id.clone())
                                .with_error_code(code)
                        })
                        .collect(),
                ),
                2..=7 => OffsetFetchResponse::default().with_error_code(code),
                _ => OffsetFetchResponse::default().with_topics(
                    r.topics
                        .iter()
                        .flatten()
                        .map(|t| {
                            offset_fetch_response::OffsetFetchResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partition_indexes
                                        .iter()
                                        .map(|p| {
                                            offset_fetch_response::OffsetFetchResponsePartition::default()
                                                .with_partition_index(*p)
                                                .with_committed_offset(-1)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            };
            f(&resp)
        }
        ApiKey::FindCoordinator => {
            let r: FindCoordinatorRequest = decode(body, version)?;
            let resp = if version >= 4 {
                FindCoordinatorResponse::default().with_coordinators(
                    r.coordinator_keys
                        .iter()
                        .map(|k| {
                            find_coordinator_response::Coordinator::default()
                                .with_key(k.clone())
                                .with_node_id(BrokerId(-1))
                                .with_host(StrBytes::default())
                                .with_port(-1)
                                .with_error_code(code)
                        })
                        .collect(),
                )
            } else {
                FindCoordinatorResponse::default()
                    .with_error_code(code)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
            };
            f(&resp)
        }
        ApiKey::JoinGroup => {
            let _: JoinGroupRequest = decode(body, version)?;
            f(&JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1))
        }
        ApiKey::Heartbeat => {
            let _: HeartbeatRequest = decode(body, version)?;
            f(&HeartbeatResponse::default().with_error_code(code))
        }
        ApiKey::LeaveGroup => {
            let _: LeaveGroupRequest = decode(body, version)?;
            f(&LeaveGroupResponse::default().with_error_code(code))
        }
        ApiKey::SyncGroup => {
            let _: SyncGroupRequest = decode(body, version)?;
            f(&SyncGroupResponse::default().with_error_code(code))
        }
        ApiKey::CreateTopics => {
            let r: CreateTopicsRequest = decode(body, version)?;
            let topics = r
                .topics
                .iter()
                .map(|t| {
                    create_topics_response::CreatableTopicResult::default()
                        .with_name(t.name.clone())
                        .with_error_code(code)
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                })
                .collect();
            f(&CreateTopicsResponse::default().with_topics(topics))
        }
        ApiKey::DeleteTopics => {
            let r: DeleteTopicsRequest = decode(body, version)?;
            let mut results: Vec<_> = r
                .topic_names
                .iter()
                .map(|n| {
                    delete_topics_response::DeletableTopicResult::default()
                        .with_name(Some(n.clone()))
                        .with_error_code(code)
                })
                .collect();
            results.extend(r.topics.iter().map(|t| {
                delete_topics_response::DeletableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.topic_id)
                    .with_error_code(code)
            }));
            f(&DeleteTopicsResponse::default().with_responses(results))
        }
        ApiKey::InitProducerId => {
            let _: InitProducerIdRequest = decode(body, version)?;
            f(&InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1))
        }
        ApiKey::AddOffsetsToTxn => {
            let _: AddOffsetsToTxnRequest = decode(body, version)?;
            f(&AddOffsetsToTxnResponse::default().with_error_code(code))
        }
        ApiKey::EndTxn => {
            let _: EndTxnRequest = decode(body, version)?;
            f(&EndTxnResponse::default().with_error_code(code))
        }
        other => Err(DispatchError::UnknownApi(other as i16)),
    }
}

/// `Encodable` is not object safe (its methods are generic over the buffer): this erases it
/// for the one call each arm makes.
pub(super) trait ErasedEncode {
    fn frame(&self, key: ApiKey, version: i16, correlation_id: i32)
        -> Result<Frame, DispatchError>;
}

impl<R: Encodable> ErasedEncode for R {
    fn frame(
        &self,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Result<Frame, DispatchError> {
        frame(key, version, correlation_id, self)
    }
}
