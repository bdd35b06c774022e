//! File-system operations gregor relies on for durability, in one place, so that a durability
//! rule is written once and a test can observe what reached the disk:
//! - [`write_atomic`]: replace a small checkpoint or state file so that after a crash or power
//!   loss it holds either the old or the new bytes, never a mix or nothing.
//! - [`sync_observer`]: the fault-injection seam. The log reports each segment fsync here; a
//!   test (via the hidden `gregor serve --record-syncs` flag) records what was durable, so it
//!   can simulate a power cut by dropping everything else. Nothing in production code reads
//!   the environment; without an installed observer the seam is one atomic load.

pub mod atomic;
pub mod sync_observer;

pub use atomic::{replace_unsynced, sync_dir, sync_file_and_dir, write_atomic};
