//! Request handlers, one file per API family. Each takes the decoded request and its
//! [`RequestContext`] and returns the response; none of them touches sockets or framing.

pub mod acls;
pub mod alter_configs;
pub mod alter_partition;
pub mod authz;
pub mod broker_lifecycle;
pub mod cluster;
pub mod config_resources;
pub mod configs;
pub mod consumer_groups;
mod context;
pub mod coordinator;
pub mod delete_records;
pub mod describe_partitions;
pub mod elections;
pub mod fetch;
pub mod fetch_session;
pub mod group_admin;
pub mod groups;
pub mod leader_hints;
pub mod list_offsets;
pub mod log_dirs;
pub mod metadata;
pub mod metadata_fetch;
pub mod offsets;
pub mod offsets_for_leader_epoch;
pub mod produce;
pub mod producer_id;
pub mod quorum;
pub mod reassignments;
pub mod sasl;
pub mod scram_credentials;
pub mod topics;
pub mod txn;
pub mod txn_admin;
pub mod txn_offsets;

use kafka_protocol::protocol::StrBytes;

pub use context::{Reply, RequestContext};

use crate::error::Error;

/// An error's message as Kafka's optional `error_message` field.
pub(crate) fn message(e: &Error) -> Option<StrBytes> {
    Some(StrBytes::from_string(e.message()))
}
