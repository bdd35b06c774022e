//! The metadata log: the internal partition `__cluster_metadata-0` (KRaft's name). Since
//! issue 13 it is the metadata quorum's Raft log (`crate::quorum` reads and writes it: one
//! entry per record batch, control batches LEADER_CHANGE and KRAFT_VOTERS among the
//! metadata batches, `quorum-state` in its directory); this file opens it with its fixed
//! configuration and reads the metadata records of its plain batches.
//!
//! A log written before the quorum holds plain batches only; [`is_pre_quorum`] tells it
//! apart (a quorum's log always starts with a KRAFT_VOTERS control batch) for the one-time
//! upgrade (`crate::quorum::upgrade`). [`append_plain`] writes that old format — kept for
//! that upgrade's tests.
//!
//! Durability: every write is flushed (fsync) before it is acknowledged.
//!
//! Thread-safety: through the partition's lock.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::records::MetadataRecord;
use crate::config::{BrokerConfig, LogConfig};
use crate::log::batch::BatchWalker;
use crate::log::partition::now_ms;
use crate::log::{LogManager, Partition};

/// Name of the internal topic (never listed in Metadata; a user topic cannot take it).
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The metadata quorum's state file in the log's directory (Kafka's name).
pub const QUORUM_STATE_FILE: &str = "quorum-state";

/// Kafka's fixed topic id of `__cluster_metadata` (`Uuid.METADATA_TOPIC_ID`), base64.
pub const METADATA_TOPIC_ID: &str = "AAAAAAAAAAAAAAAAAAAAAQ";

/// The metadata log's configuration: never compacted nor trimmed, whatever the broker-wide
/// `log.cleanup.policy` says.
pub fn log_config(config: &BrokerConfig) -> LogConfig {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "delete".to_string());
    overrides.insert("retention.ms".to_string(), "-1".to_string());
    overrides.insert("retention.bytes".to_string(), "-1".to_string());
    overrides.insert("segment.bytes".to_string(), "104857600".to_string());
    config.log_config(&overrides)
}

/// Opens (or creates) the metadata log (blocking).
pub fn open(logs: &LogManager, config: &BrokerConfig) -> io::Result<Arc<Partition>> {
    logs.open_partition(METADATA_TOPIC, 0, log_config(config))
}

/// Every metadata record of the log's plain batches, in order (control batches skipped;
/// blocking). A record that does not decode is an error: skipping it could lose or
/// resurrect a topic.
pub fn read_records(partition: &Partition) -> io::Result<Vec<MetadataRecord>> {
    read_records_from(partition, 0)
}

/// As [`read_records`], from offset `from` on (the records after a snapshot).
pub fn read_records_from(partition: &Partition, from: i64) -> io::Result<Vec<MetadataRecord>> {
    let log = partition
        .lock()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut records = Vec::new();
    crate::log::records::for_each_record(&log, from, |r| {
        if r.control {
            return Ok(());
        }
        let value = r
            .value
            .ok_or_else(|| format!("metadata record at offset {} has no value", r.offset))?;
        let record = MetadataRecord::decode(value)
            .map_err(|e| format!("metadata record at offset {}: {}", r.offset, e.0))?;
        records.push(record);
        Ok(())
    })
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(records)
}

/// Whether the log was written before the quorum: no `quorum-state` file (the quorum writes
/// it before the log start ever moves), not empty, and its first batch is not a control
/// batch (a quorum's log starts with KRAFT_VOTERS).
pub fn is_pre_quorum(partition: &Partition) -> io::Result<bool> {
    let log = partition
        .lock()
        .map_err(|e| io::Error::other(e.to_string()))?;
    if log.dir().join(QUORUM_STATE_FILE).exists() {
        return Ok(false);
    }
    let Some(plan) = log
        .read_plan(log.log_start_offset())
        .map_err(|e| io::Error::other(e.to_string()))?
    else {
        return Ok(false);
    };
    let chunk = plan
        .read(1, true)
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(BatchWalker::new(&chunk)
        .next()
        .is_some_and(|(_, h)| !h.is_control()))
}

/// Appends `records` as one plain batch and flushes it: the pre-quorum format (see the
/// module doc; blocking).
pub fn append_plain(partition: &Partition, records: &[MetadataRecord]) -> crate::error::Result<()> {
    let entries: Vec<(Option<Bytes>, Option<Bytes>)> =
        records.iter().map(|r| (None, Some(r.encode()))).collect();
    let batch = crate::log::records::encode_batch(&entries, None, now_ms())
        .map_err(|e| crate::error::Error::Io(io::Error::other(e)))?;
    let mut log = partition.lock()?;
    log.append(&batch, now_ms())?;
    log.flush(now_ms())?;
    partition.publish(&log);
    Ok(())
}
