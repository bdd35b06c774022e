//! The metadata log: the internal partition `__cluster_metadata-0` (KRaft's name) holding
//! every [`MetadataRecord`] ever committed, as record values (null keys) in ordinary record
//! batches, one batch per commit. It is recovered like any partition log; start-up replays it
//! from the beginning into a fresh image.
//!
//! Durability: a commit is flushed (fsync) before it is acknowledged, since a topic that a
//! client was told exists must survive a crash. In the replication issue a Raft quorum takes
//! the place of [`MetadataLog::append`]; nothing else changes.
//!
//! Thread-safety: appends go through the partition's lock; the controller serialises commits.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::records::MetadataRecord;
use crate::config::BrokerConfig;
use crate::log::partition::now_ms;
use crate::log::{LogManager, Partition};

/// Name of the internal topic (never listed in Metadata; a user topic cannot take it).
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The metadata log (see the module doc).
pub struct MetadataLog {
    partition: Arc<Partition>,
}

impl MetadataLog {
    /// Opens the log and reads every record in it (blocking). A record that does not decode
    /// fails the start: skipping it could lose or resurrect a topic.
    pub fn open(
        logs: &LogManager,
        config: &BrokerConfig,
    ) -> io::Result<(MetadataLog, Vec<MetadataRecord>)> {
        let mut overrides = BTreeMap::new();
        // Never compacted nor trimmed, whatever the broker-wide `log.cleanup.policy` says.
        overrides.insert("cleanup.policy".to_string(), "delete".to_string());
        overrides.insert("retention.ms".to_string(), "-1".to_string());
        overrides.insert("retention.bytes".to_string(), "-1".to_string());
        overrides.insert("segment.bytes".to_string(), "104857600".to_string());
        let partition = logs.open_partition(METADATA_TOPIC, 0, config.log_config(&overrides))?;
        let mut records = Vec::new();
        {
            let log = partition
                .lock()
                .map_err(|e| io::Error::other(e.to_string()))?;
            crate::log::records::for_each_record(&log, 0, |r| {
                let value = r.value.ok_or_else(|| {
                    format!("metadata record at offset {} has no value", r.offset)
                })?;
                let record = MetadataRecord::decode(value)
                    .map_err(|e| format!("metadata record at offset {}: {}", r.offset, e.0))?;
                records.push(record);
                Ok(())
            })
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Ok((MetadataLog { partition }, records))
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// Appends `records` as one batch and flushes it (blocking).
    pub fn append(&self, records: &[MetadataRecord]) -> crate::error::Result<()> {
        let entries: Vec<(Option<Bytes>, Option<Bytes>)> =
            records.iter().map(|r| (None, Some(r.encode()))).collect();
        let batch = crate::log::records::encode_batch(&entries, None, now_ms())
            .map_err(|e| crate::error::Error::Io(io::Error::other(e)))?;
        let mut log = self.partition.lock()?;
        log.append(&batch, now_ms())?;
        log.flush(now_ms())?;
        self.partition.publish(&log);
        Ok(())
    }
}
