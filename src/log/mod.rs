//! Partition logs on disk, laid out as Kafka lays them out (see [`layout`]).
//!
//! One concept per file: [`batch`] (the record batch v2 header and its checks),
//! [`append_checks`] (what a leader checks before accepting a producer's batch, and a follower
//! before trusting the leader's), [`compression`] (the bounded inflation check of compressed
//! batches), [`index_file`], [`offset_index`] and [`time_index`] (the sparse memory-mapped
//! indexes), [`txn_index`] (a segment's aborted transactions, `.txnindex`), [`header_scan`]
//! (walking batch headers in a file), [`segment`] (one `.log` + its indexes; its `truncate`
//! child cuts it short), [`control`] (transaction markers), [`producer_state`] (idempotence
//! and each producer's open transaction), [`epoch_cache`] (leader epochs and
//! `leader-epoch-checkpoint`), [`recovery_point`] (the fsynced-below offset, shared with
//! background flushes), [`read_plan`] (lock-free reads and the rule that keeps them safe under
//! run-time truncation), [`partition_log`] (the ordered segments of one partition; children
//! `open`, `append`, `truncate`, `txn` — markers, the first unstable offset, aborted
//! transactions), [`replicated`] (the `ReplicatedLog` interface the replica layer drives),
//! [`memory_log`] (its in-memory model,
//! for tests), [`partition`] (the log shared between tasks, with its high-watermark signal),
//! [`manager`] (all partitions of the data directory, checkpoints and background work),
//! [`records`] (record-level decoding for the rare paths that need it), [`cleaner`] (log
//! compaction) and [`dump`] (the `dump-log` tool).

pub mod append_checks;
pub mod batch;
pub mod cleaner;
pub mod compression;
pub mod control;
pub mod dump;
pub mod epoch_cache;
pub mod header_scan;
pub mod index_file;
pub mod layout;
pub mod manager;
pub mod memory_log;
pub mod offset;
pub mod offset_index;
pub mod partition;
pub mod partition_log;
pub mod producer_state;
pub mod read_plan;
pub mod records;
pub mod recovery_point;
pub mod replicated;
pub mod segment;
pub mod time_index;
pub mod txn_index;

pub use manager::LogManager;
pub use partition::Partition;

#[cfg(test)]
mod partition_tests;
#[cfg(test)]
mod truncation_race_tests;
#[cfg(test)]
mod txn_tests;
