//! The high-watermark checkpoint: Kafka's `replication-offset-checkpoint` in the data
//! directory's root, in the `OffsetCheckpointFile` format every offset checkpoint shares (a
//! version line `0`, a count line, then `topic partition offset` per line).
//!
//! Written whole and atomically (`crate::fs::write_atomic`: temp, fsync, rename, fsync of the
//! directory) every `replica.high.watermark.checkpoint.interval.ms` and at shutdown, so after a
//! crash it holds the values of the last complete write, never a torn file; a missing or
//! unreadable file reads as empty.
//!
//! At start-up a replica takes its high watermark from here ([`initial_high_watermark`]),
//! clamped into the log's `[log start, log end]` — not from the log end, which on a cluster
//! may hold records no other replica has (uncommitted). A leader then advances it by the ISR
//! rule at once; with an ISR of this node alone that is the log end, so on one node nothing a
//! client sees changes.
//!
//! Thread-safety: writers are serialised by the caller (one maintenance task and shutdown,
//! which runs after it stopped); reads happen once, at start-up.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use crate::log::layout::HIGH_WATERMARK_FILE;
use crate::log::manager::{read_checkpoint, write_checkpoint};

/// High watermarks by `(topic, partition)`.
pub type HighWatermarks = HashMap<(String, i32), i64>;

/// Reads the checkpoint in `data_dir` (empty when missing or unreadable).
pub fn read(data_dir: &Path) -> HighWatermarks {
    read_checkpoint(&data_dir.join(HIGH_WATERMARK_FILE))
}

/// Replaces the checkpoint in `data_dir` with `entries`.
pub fn write(data_dir: &Path, entries: &[(String, i32, i64)]) -> io::Result<()> {
    write_checkpoint(&data_dir.join(HIGH_WATERMARK_FILE), entries)
}

/// The high watermark a replica starts from: the checkpointed one clamped into
/// `[log_start, log_end]`, or the log start when none was checkpointed (Kafka's
/// `UnifiedLog` initialises it to the log start and the checkpoint then raises it).
pub fn initial_high_watermark(checkpointed: Option<i64>, log_start: i64, log_end: i64) -> i64 {
    checkpointed
        .unwrap_or(log_start)
        .clamp(log_start, log_end.max(log_start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        write(dir.path(), &[("a".into(), 0, 5), ("b-c".into(), 3, 0)]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(HIGH_WATERMARK_FILE)).unwrap();
        assert_eq!(text, "0\n2\na 0 5\nb-c 3 0\n");
        let hw = read(dir.path());
        assert_eq!(hw.get(&("a".to_string(), 0)), Some(&5));
        assert_eq!(hw.get(&("b-c".to_string(), 3)), Some(&0));
    }

    #[test]
    fn initial_value_is_clamped_into_the_log() {
        assert_eq!(initial_high_watermark(Some(7), 2, 10), 7);
        assert_eq!(
            initial_high_watermark(Some(50), 2, 10),
            10,
            "log cut below it"
        );
        assert_eq!(initial_high_watermark(Some(1), 2, 10), 2, "below the start");
        assert_eq!(initial_high_watermark(None, 2, 10), 2);
    }
}
