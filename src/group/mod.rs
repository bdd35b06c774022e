//! Consumer groups: Kafka's classic group protocol and committed offsets.
//!
//! [`state`] is one group's state machine, [`coordinator`] runs every group and checks and
//! applies requests, [`records`] are the durable facts it writes and [`store`] is the log
//! that holds them and is replayed at start.

pub mod coordinator;
pub mod records;
pub mod state;
pub mod store;

pub use coordinator::{GroupConfig, GroupCoordinator, JoinParams, SyncParams};
pub use records::OffsetValue;
