//! File-system operations gregor relies on for durability, in one place, so that a durability
//! rule is written once and a test can observe what reached the disk:
//! - [`write_atomic`]: replace a small checkpoint or state file so that after a crash or power
//!   loss it holds either the old or the new bytes, never a mix or nothing.

pub mod atomic;

pub use atomic::{replace_unsynced, sync_dir, sync_file_and_dir, write_atomic};
