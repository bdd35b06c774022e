//! One-time upgrade of a metadata log written before the quorum (gregor before issue 13:
//! plain batches, no `quorum-state`). openraft refuses to initialise a non-empty log, so the
//! old log is moved aside and its content committed again as the quorum's first entry:
//!
//! 1. the old records are read and replayed into an image;
//! 2. `__cluster_metadata-0` is renamed to `__cluster_metadata-0.pre-raft` (the data dir is
//!    fsynced) and a fresh, empty `__cluster_metadata-0` is created;
//! 3. the quorum starts on the fresh log (initialise, elect) and the broker commits the
//!    image's records ([`MetadataImage::to_records`]) as one entry;
//! 4. [`finish`] deletes the aside copy.
//!
//! Recovery: an aside directory at start means steps 2–3 did not complete: the new
//! directory (whatever it holds) is deleted, the aside one renamed back, and the upgrade
//! starts over. So a crash at any point leaves either the old log or the upgraded one. There
//! is no downgrade (older gregor cannot read control batches).
//!
//! Thread-safety: runs once at start-up, before anything else uses the metadata log.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::log::{layout, LogManager, Partition};
use crate::metadata::log::{self as metadata_log, METADATA_TOPIC, METADATA_TOPIC_ID};
use crate::metadata::records::MetadataRecord;
use crate::metadata::MetadataImage;

/// Suffix of the old metadata log kept aside during the upgrade.
pub const ASIDE_SUFFIX: &str = ".pre-raft";

fn aside_dir(data_dir: &Path) -> PathBuf {
    let mut name = layout::partition_dir(data_dir, METADATA_TOPIC, 0).into_os_string();
    name.push(ASIDE_SUFFIX);
    PathBuf::from(name)
}

/// Opens the metadata log for the quorum. When it was written before the quorum, moves it
/// aside (see the module doc) and returns, with the fresh log, the records to commit once
/// the quorum leads.
pub fn open(
    logs: &LogManager,
    config: &BrokerConfig,
) -> io::Result<(Arc<Partition>, Option<Vec<MetadataRecord>>)> {
    let data_dir = logs.data_dir().to_path_buf();
    let dir = layout::partition_dir(&data_dir, METADATA_TOPIC, 0);
    let aside = aside_dir(&data_dir);
    if aside.is_dir() {
        tracing::warn!("an interrupted metadata log upgrade is started over");
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::rename(&aside, &dir)?;
        crate::fs::sync_dir(&data_dir)?;
    }
    let partition = metadata_log::open(logs, config)?;
    if !metadata_log::is_pre_quorum(&partition)? {
        return Ok((partition, None));
    }
    let records = metadata_log::read_records(&partition)?;
    let mut image = MetadataImage::new(String::new());
    for r in &records {
        image.apply(r);
    }
    {
        let mut log = partition
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?;
        log.close(crate::log::partition::now_ms())?;
    }
    drop(partition);
    std::fs::rename(&dir, &aside)?;
    crate::fs::sync_dir(&data_dir)?;
    let fresh = logs.create_partition(
        METADATA_TOPIC,
        0,
        METADATA_TOPIC_ID,
        metadata_log::log_config(config),
    )?;
    tracing::info!(
        "upgrading the metadata log: {} records ({} after compaction) move into the quorum",
        records.len(),
        image.to_records().len()
    );
    Ok((fresh, Some(image.to_records())))
}

/// Deletes the old log kept aside, once its records are committed to the quorum.
pub fn finish(data_dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(aside_dir(data_dir)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => crate::fs::sync_dir(data_dir),
    }
}
