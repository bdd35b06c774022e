//! gregor: a Kafka-compatible message broker.
//!
//! Module map, from the socket inwards (each layer calls only the ones below it; see
//! ARCHITECTURE.md):
//! - [`node`]: a running node: opens the broker, binds the listener, background work, shutdown.
//! - [`server`]: TCP listener and connection framing; frames only.
//! - [`router`]: the one table of served APIs, version checks, dispatch to the handlers.
//! - [`handlers`]: one file per API family; request in, response out.
//! - [`protocol`]: request headers, response framing (Fetch responses as chunks around mapped
//!   record bytes), hand-encoded legacy replies; depends on nothing else in gregor.
//! - [`broker`]: the shared state handlers use.
//! - [`controller`]: the only writer of metadata: validates admin requests, commits records.
//! - [`quorum`]: the metadata quorum: `__cluster_metadata-0` as an openraft Raft log, the
//!   image as its state machine.
//! - [`metadata`]: the metadata image (brokers, topics, partitions, configs), its records and
//!   log.
//! - [`replica`]: the hosted partitions: high watermark, leader epoch, "not hosted here".
//! - [`group`]: the group coordinator: consumer groups and committed offsets.
//! - [`txn`]: the transaction coordinator: transactional ids, transactions, markers.
//! - [`coordinator`]: the runtime coordinators run on (serialised operations, write then
//!   apply, replay, injected clock).
//! - [`log`]: partition logs on disk (segments, indexes, recovery, retention).
//! - [`producer_ids`]: producer id allocation for idempotent producers.
//! - [`security`]: principals (who a connection is); authentication and authorization.
//! - [`config`]: Kafka-named broker and topic configuration.
//! - [`error`]: Kafka error codes.
//! - [`fs`]: atomic replacement of state files, and the fsync seam for fault-injection tests.
//! - [`testing`]: gregor as a library: in-process brokers and clusters for test suites, with
//!   fault injection (the public, semver-minded API).
//! - [`tools`]: command-line tools that talk to a running broker (`gregor groups`, `gregor configs`).

pub mod broker;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod error;
pub mod fs;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod node;
pub mod peer;
pub mod producer_ids;
pub mod protocol;
pub mod quorum;
pub mod replica;
pub mod router;
pub mod security;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tools;
pub mod txn;

#[cfg(test)]
mod layering;
