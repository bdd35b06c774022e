//! The on-disk directory layout, in one place.
//!
//! ```text
//! <data-dir>/
//!   meta.properties                      cluster.id, node.id, version (as Kafka's)
//!   .gregor_cleanshutdown                present only between a clean stop and the next start
//!   recovery-point-offset-checkpoint     per partition: offset below which data is fsynced
//!   log-start-offset-checkpoint          per partition: log start offset (DeleteRecords)
//!   cleaner-offset-checkpoint            per compacted partition: first dirty offset (cleaner)
//!   producer-id-block                    next free producer id block
//!   topics/<topic>.properties            topic id, partition count, topic config overrides
//!   <topic>-<partition>/
//!     partition.metadata                 topic id, as Kafka writes it
//!     00000000000000000000.log           record batches v2, base offset in the name
//!     00000000000000000000.index         offset index (8-byte entries)
//!     00000000000000000000.timeindex     time index (12-byte entries)
//!     00000000000000000000.txnindex      aborted transactions (34-byte entries, Kafka's)
//!     00000000000000001234.snapshot      producer state as of offset 1234
//!     leader-epoch-checkpoint            leader epoch → start offset (Kafka's format)
//!     <segment files>.cleaned            a cleaned segment being written (deleted on open)
//!     <segment files>.swap               a cleaned segment being swapped in (completed on open)
//!     <segment files>.deleted            a replaced segment being removed (deleted on open)
//!   <topic>-<partition>.<uuid>-delete     a partition directory being deleted (removed at start-up)
//! ```

use std::path::{Path, PathBuf};

pub const LOG_SUFFIX: &str = ".log";
pub const INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
pub const CLEAN_SHUTDOWN_FILE: &str = ".gregor_cleanshutdown";
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
/// The replica layer's high watermarks (Kafka's `ReplicaManager.HighWatermarkFilename`).
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";
pub const TOPICS_DIR: &str = "topics";
pub const META_FILE: &str = "meta.properties";
pub const PRODUCER_ID_FILE: &str = "producer-id-block";
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Suffixes of the log cleaner's segment replacement (Kafka's `LogFileUtils`).
pub const CLEANED_SUFFIX: &str = ".cleaned";
pub const SWAP_SUFFIX: &str = ".swap";
pub const DELETED_SUFFIX: &str = ".deleted";
/// Suffix of a partition directory being deleted (`<topic>-<partition>.<uuid>-delete`, as
/// Kafka names it); never parsed as a partition, removed at start-up if left over.
pub const DELETE_DIR_SUFFIX: &str = "-delete";

/// `<offset>` zero-padded to 20 digits, Kafka's file name stem.
pub fn file_stem(offset: i64) -> String {
    format!("{offset:020}")
}

pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

pub fn log_file(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}{LOG_SUFFIX}", file_stem(base)))
}

pub fn index_file(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}{INDEX_SUFFIX}", file_stem(base)))
}

pub fn time_index_file(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}{TIME_INDEX_SUFFIX}", file_stem(base)))
}

pub fn txn_index_file(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}{TXN_INDEX_SUFFIX}", file_stem(base)))
}

/// The four files of a segment: `.log`, `.index`, `.timeindex`, `.txnindex`, log first.
pub fn segment_files(dir: &Path, base: i64) -> [PathBuf; 4] {
    [
        log_file(dir, base),
        index_file(dir, base),
        time_index_file(dir, base),
        txn_index_file(dir, base),
    ]
}

/// `path` with `suffix` appended to its file name (`x.log` → `x.log.swap`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn snapshot_file(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{}{SNAPSHOT_SUFFIX}", file_stem(offset)))
}

/// The base offset encoded in a file name with the given suffix, if it is one of ours.
pub fn parse_offset(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Splits a partition directory name `<topic>-<partition>` at its last dash.
pub fn parse_partition_dir(name: &str) -> Option<(&str, i32)> {
    let (topic, p) = name.rsplit_once('-')?;
    if topic.is_empty() {
        return None;
    }
    Some((topic, p.parse().ok().filter(|p: &i32| *p >= 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_stem(1234), "00000000000000001234");
        assert_eq!(
            parse_offset("00000000000000001234.log", LOG_SUFFIX),
            Some(1234)
        );
        assert_eq!(parse_offset("1234.log", LOG_SUFFIX), None);
        assert_eq!(parse_partition_dir("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(parse_partition_dir("topics"), None);
    }
}
