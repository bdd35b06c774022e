//! Consumer groups: Kafka's classic group protocol and committed offsets, run on the
//! [coordinator runtime](crate::coordinator).
//!
//! - [`coordinator`]: the coordinator — opening its log, its runtime, its settings;
//! - [`shard`]: every group's state and the replay of records into it;
//! - [`state`]: one group's state machine;
//! - [`consumer`]: KIP-848 consumer groups (ConsumerGroupHeartbeat, server-side assignors);
//! - [`membership`]: JoinGroup, SyncGroup, Heartbeat, LeaveGroup;
//! - [`conversion`]: a JoinGroup taking over an empty KIP-848 consumer group;
//! - [`offsets`]: OffsetCommit, OffsetFetch, OffsetDelete;
//! - [`txn_offsets`]: TxnOffsetCommit, transaction completion, OffsetFetch `require_stable`;
//! - [`pending_offsets`]: offsets of open transactions, until their marker;
//! - [`admin`]: DescribeGroups, ListGroups, DeleteGroups;
//! - [`expiry`]: session expiry, rebalance deadlines, offset retention (timers);
//! - [`records`]: the durable facts it writes, in Kafka's `__consumer_offsets` layout;
//! - [`store`]: the internal partition that holds them;
//! - [`api`]: the requests, answers and settings handlers exchange with it.

pub mod admin;
pub mod api;
pub mod consumer;
pub mod conversion;
pub mod coordinator;
pub mod expiry;
pub mod membership;
pub mod offsets;
pub mod pending_offsets;
pub mod records;
pub mod shard;
pub mod state;
pub mod store;
pub mod txn_offsets;

#[cfg(test)]
mod tests;

pub use api::{GroupConfig, JoinParams, SyncParams, TxnCommitParams};
pub use coordinator::GroupCoordinator;
pub use records::OffsetValue;
