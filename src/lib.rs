//! gregor: a Kafka-compatible message broker.
//!
//! Module map, from the socket inwards:
//! - [`server`]: TCP listener, connection framing, graceful shutdown.
//! - [`protocol`]: request headers, response framing (Fetch responses as chunks around mapped
//!   record bytes), the one table of served APIs.
//! - [`handlers`]: one file per API family; request in, response out.
//! - [`broker`]: the shared state handlers use.
//! - [`metadata`]: topics, partitions, topic ids, cluster id.
//! - [`group`]: the group coordinator: consumer groups and committed offsets.
//! - [`log`]: partition logs on disk (segments, indexes, recovery, retention).
//! - [`producer_ids`]: producer id allocation for idempotent producers.
//! - [`config`]: Kafka-named broker and topic configuration.
//! - [`error`]: Kafka error codes.
//! - [`tools`]: command-line tools that talk to a running broker (`gregor groups`).

pub mod broker;
pub mod config;
pub mod error;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod producer_ids;
pub mod protocol;
pub mod server;
pub mod tools;
