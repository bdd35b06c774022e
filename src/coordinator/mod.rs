//! Coordinators' shared engine: the [`runtime`] that runs a coordinator's operations against
//! its state and its log (Kafka's `CoordinatorRuntime`), the [`clock`] it takes time from, the
//! narrow [`log`] interface it writes to, and that interface on a real partition
//! ([`partition_log`]).
//!
//! A coordinator is a [`Shard`](runtime::Shard) type — its state and how a record changes it —
//! plus operations written as functions returning a
//! [`CoordinatorResult`](runtime::CoordinatorResult). The group coordinator
//! ([`crate::group`]) is the first, the transaction coordinator ([`crate::txn`]) the second. Each
//! runs one shard per partition of its topic that this node leads ([`shards`]); a key's
//! partition is Kafka's hash ([`placement`]).

pub mod clock;
pub mod log;
pub mod partition_log;
pub mod placement;
pub mod runtime;
pub mod shards;

pub use clock::{Clock, FakeClock, Now, SystemClock};
pub use log::{CoordinatorLog, MemoryLog};
pub use runtime::{
    write_error_code, CoordinatorRecord, CoordinatorResult, CoordinatorRuntime, Shard,
};
