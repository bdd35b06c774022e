//! Transactions: Kafka's transaction coordinator, run on the
//! [coordinator runtime](crate::coordinator) as the second shard type after groups.
//!
//! - [`coordinator`]: the coordinator — its log, runtime, producer-id source, marker writer;
//! - [`state`]: one transactional id's metadata and Kafka's transaction state machine;
//! - [`shard`]: every transactional id, and the replay of records into them;
//! - [`records`]: `__transaction_state` records in Kafka's key/value layouts;
//! - [`store`]: the internal partition that holds them;
//! - [`init`]: InitProducerId with a transactional id (fencing, epoch bumps, KIP-360);
//! - [`add`]: AddPartitionsToTxn, AddOffsetsToTxn, and `verify` for the produce path;
//! - [`end`]: EndTxn and the completion of decided transactions;
//! - [`markers`]: the trait markers are written through, and its retries;
//! - [`admin`]: DescribeTransactions, ListTransactions;
//! - [`expiry`]: timeouts, expiration, completion of transactions left half-way (timers);
//! - [`api`]: settings and the plain answers handlers get.

pub mod add;
pub mod admin;
pub mod api;
pub mod coordinator;
pub mod end;
pub mod expiry;
pub mod init;
pub mod markers;
pub mod records;
pub mod shard;
pub mod state;
pub mod store;

#[cfg(test)]
mod tests;

pub use api::{TxnConfig, TxnDescription, TxnListing};
pub use coordinator::{ProducerIdSource, TxnCoordinator};
pub use markers::{MarkerRequest, TxnMarkerWriter};
pub use state::TxnState;
