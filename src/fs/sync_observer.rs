//! The fault-injection seam of the file system: the log calls [`synced`] after every fsync of a
//! segment's `.log` file with the length now known to be durable. In production no observer is
//! installed and the call does nothing. `gregor serve --record-syncs` (a hidden flag for tests)
//! installs [`RecordSyncedLengths`] before the broker starts, which writes that length to
//! `<segment>.log.synced`; after killing the broker a test cuts each segment back to it and so
//! simulates a power loss that drops everything the page cache had not written
//! (`tests/it/power_loss.rs`).
//!
//! The observer is process-wide and set at most once: the seam is for a whole broker process,
//! not for one partition, and installing it cannot race with the log using it.

use std::path::Path;
use std::sync::OnceLock;

/// Told what reached stable storage, so a test can reproduce a power loss faithfully.
pub trait SyncObserver: Send + Sync {
    /// The first `len` bytes of `path` are durable (an fsync of it just returned).
    fn synced(&self, path: &Path, len: u64);
}

static OBSERVER: OnceLock<Box<dyn SyncObserver>> = OnceLock::new();

/// Installs the process's observer. Only the first call has an effect; it returns false when
/// an observer was already installed.
pub fn install(observer: Box<dyn SyncObserver>) -> bool {
    OBSERVER.set(observer).is_ok()
}

/// Reports that the first `len` bytes of `path` are durable (a no-op without an observer).
pub fn synced(path: &Path, len: u64) {
    if let Some(o) = OBSERVER.get() {
        o.synced(path, len);
    }
}

/// Keeps the durable length of each file in `<file>.synced`, the observer behind
/// `gregor serve --record-syncs`: the file survives a SIGKILL, so a test can read it afterwards.
pub struct RecordSyncedLengths;

impl SyncObserver for RecordSyncedLengths {
    fn synced(&self, path: &Path, len: u64) {
        let mut p = path.as_os_str().to_owned();
        p.push(".synced");
        // A test aid: failing to record must not fail the broker's fsync.
        let _ = std::fs::write(p, len.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_synced_lengths_writes_the_sidecar_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("00000000000000000000.log");
        RecordSyncedLengths.synced(&log, 4096);
        RecordSyncedLengths.synced(&log, 8192);
        let sidecar = dir.path().join("00000000000000000000.log.synced");
        assert_eq!(std::fs::read_to_string(sidecar).unwrap(), "8192");
    }
}
