//! The log cleaner: log compaction for partitions whose `cleanup.policy` contains `compact` —
//! Kafka's `LogCleaner`, keeping at least the latest record of every key.
//!
//! One concept per file: [`batch_io`] (buffered reading and writing of whole batches),
//! [`offset_map`] (key digest → latest offset, bounded memory),
//! [`raw_records`] (a batch's records inflated, walked and deflated again), [`filter`]
//! (rewriting one batch with its surviving records, delete horizons, empty headers),
//! [`txn_meta`] (aborted transactions and removable markers during a walk), [`pass`] (one
//! cleaning pass: snapshot, offset map, grouping, cleaning, swap), [`priority`] (cleaner
//! threads run at a lower CPU priority than the request path), [`swap`] (the crash-safe
//! `.cleaned` → `.swap` → final replacement and its recovery on open), [`throttle`] (the I/O
//! rate limit), [`checkpoint`] (`cleaner-offset-checkpoint`: where each log's dirty part
//! begins) and [`scheduler`] (the cleaner threads choosing the dirtiest log).
//!
//! Thread-safety: a pass runs on a cleaner thread and takes the partition lock only to
//! snapshot the segments and to swap cleaned ones in (see [`pass`]).

pub mod batch_io;
pub mod checkpoint;
pub mod filter;
pub mod offset_map;
pub mod pass;
pub mod priority;
pub mod raw_records;
pub mod scheduler;
pub mod swap;
pub mod throttle;
pub mod txn_meta;

pub use offset_map::OffsetMap;
pub use pass::{clean_partition, PassOutcome, PassParams};
pub use scheduler::{HighWatermarkOf, LogCleaner, LogSource};
pub use swap::{NoFaults, SwapFaults};
pub use throttle::Throttler;

#[cfg(test)]
mod tests;
