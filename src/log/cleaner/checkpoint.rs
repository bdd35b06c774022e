//! `cleaner-offset-checkpoint` in the data directory: per compacted partition, the first dirty
//! offset — where the next cleaning pass starts building its offset map (Kafka's file of the
//! same name, format and purpose).
//!
//! Format (Kafka's `OffsetCheckpointFile`, shared with the other checkpoints of
//! [`crate::log::manager`]): a version line `0`, a count line, then `topic partition offset` per
//! line. Replaced atomically and durably on every update ([`crate::fs::write_atomic`]).
//!
//! Recovery: a lost or stale checkpoint only makes the next pass deduplicate more than needed;
//! an offset outside a log's `[log start, log end]` is ignored by the pass.
//!
//! Thread-safety: the map and the file are behind one mutex, so writers never interleave and
//! the last file written holds the newest offsets.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::log::layout;
use crate::log::manager::{read_checkpoint, write_checkpoint, Checkpoint};

/// The first dirty offset of every cleaned partition, mirrored in the checkpoint file.
pub struct CleanerCheckpoint {
    path: PathBuf,
    offsets: Mutex<Checkpoint>,
}

impl CleanerCheckpoint {
    pub fn load(data_dir: &Path) -> CleanerCheckpoint {
        let path = data_dir.join(layout::CLEANER_CHECKPOINT_FILE);
        let offsets = Mutex::new(read_checkpoint(&path));
        CleanerCheckpoint { path, offsets }
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        let m = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(topic.to_string(), partition)).copied()
    }

    /// Records `offset` for a partition and rewrites the file, keeping only the partitions in
    /// `live` (deleted partitions drop out).
    pub fn update(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        live: &HashSet<(String, i32)>,
    ) -> io::Result<()> {
        let mut m = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        m.insert((topic.to_string(), partition), offset);
        m.retain(|k, _| live.contains(k));
        let mut entries: Vec<(String, i32, i64)> =
            m.iter().map(|((t, p), o)| (t.clone(), *p, *o)).collect();
        entries.sort();
        write_checkpoint(&self.path, &entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload_and_forgets_deleted_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let c = CleanerCheckpoint::load(dir.path());
        assert_eq!(c.get("t", 0), None);
        let live: HashSet<_> = [("t".to_string(), 0), ("u".to_string(), 1)].into();
        c.update("t", 0, 42, &live).unwrap();
        c.update("u", 1, 7, &live).unwrap();
        let text = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint")).unwrap();
        assert_eq!(text, "0\n2\nt 0 42\nu 1 7\n");
        let live: HashSet<_> = [("t".to_string(), 0)].into();
        c.update("t", 0, 50, &live).unwrap();
        let c = CleanerCheckpoint::load(dir.path());
        assert_eq!((c.get("t", 0), c.get("u", 1)), (Some(50), None));
    }
}
