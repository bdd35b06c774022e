//! The group coordinator's requests, answers and settings, as handlers see them: plain values
//! translated from and to the wire messages, so that the coordinator never depends on the
//! protocol crate's message types.

use std::time::Duration;

use bytes::Bytes;

use super::records::OffsetValue;
use super::state::GroupState;
use crate::config::BrokerConfig;
use crate::error::ErrorCode;

/// Coordinator settings (Kafka's `group.*` and `offsets.*` broker keys).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay: Duration,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval: Duration,
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.*`: KIP-848 consumer groups.
    pub consumer_session_timeout_ms: i32,
    pub consumer_heartbeat_interval_ms: i32,
    pub consumer_assignors: Vec<String>,
    pub consumer_max_size: i32,
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay: Duration::from_millis(c.group_initial_rebalance_delay_ms),
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            offsets_retention_ms: c.offsets_retention_minutes.saturating_mul(60_000),
            offsets_retention_check_interval: Duration::from_millis(
                c.offsets_retention_check_interval_ms,
            ),
            offset_metadata_max_bytes: c.offset_metadata_max_bytes,
            consumer_session_timeout_ms: c.group_consumer_session_timeout_ms,
            consumer_heartbeat_interval_ms: c.group_consumer_heartbeat_interval_ms,
            consumer_assignors: c.group_consumer_assignors.clone(),
            consumer_max_size: c.group_consumer_max_size,
        }
    }
}

/// A JoinGroup request, as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct JoinParams {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a member must first be given an id (KIP-394).
    pub require_known_member_id: bool,
}

/// A SyncGroup request.
#[derive(Debug, Clone)]
pub struct SyncParams {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// What DescribeGroups reports of a member.
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// What DescribeGroups reports of a group.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// Committed offsets of one topic: `(partition, offset if any)`.
pub type TopicOffsets = (String, Vec<(i32, Option<OffsetValue>)>);

/// A TxnOffsetCommit request, as the coordinator needs it: the offsets of one group committed
/// inside `producer_id`'s transaction (only those with known partitions and acceptable
/// metadata; the handler answers the others itself).
#[derive(Debug, Clone)]
pub struct TxnCommitParams {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// v3+; −1, "" and `None` in older versions.
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub offsets: Vec<(String, i32, OffsetValue)>,
}

/// Committed offsets of one topic as OffsetFetch answers them: `(partition, offset if any,
/// error)` — UNSTABLE_OFFSET_COMMIT, without an offset, for a partition a transaction holds
/// a pending offset of when the fetch requires stable offsets.
pub type StableTopicOffsets = (String, Vec<(i32, Option<OffsetValue>, ErrorCode)>);
