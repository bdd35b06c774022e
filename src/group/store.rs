//! The coordinator's durable log: an internal partition `__consumer_offsets-0` in the data
//! directory, holding [`GroupRecord`]s in ordinary record batches, recovered like any log.
//!
//! Kafka compacts this topic; gregor instead rewrites it when it grows past
//! [`COMPACT_ABOVE`] at start-up: the current state is appended to a fresh segment and every
//! older segment is deleted, so replay reads at most one state's worth of records plus what
//! came after.
//!
//! Thread-safety: appends go through [`Partition`], which serialises them.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::records::GroupRecord;
use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::log::partition::now_ms;
use crate::log::{LogManager, Partition};

/// Name of the internal topic (never listed in Metadata; a user topic cannot take it).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Rewrite the log at start-up when it is larger than this.
pub const COMPACT_ABOVE: u64 = 64 << 20;
/// Records per batch when rewriting.
const BATCH: usize = 500;

/// The coordinator's log (see the module doc).
pub struct GroupStore {
    partition: Arc<Partition>,
}

/// One record batch holding `records`, as the log stores it.
fn encode_batch(records: &[GroupRecord]) -> Result<Bytes> {
    let entries: Vec<(Option<Bytes>, Option<Bytes>)> = records
        .iter()
        .map(|r| {
            let (key, value) = r.encode();
            (Some(key), value)
        })
        .collect();
    crate::log::records::encode_batch(&entries, None, now_ms())
        .map_err(|e| Error::Io(io::Error::other(e)))
}

impl GroupStore {
    /// Opens the log and reads every record in it (blocking).
    pub fn open(
        logs: &LogManager,
        config: &BrokerConfig,
    ) -> io::Result<(GroupStore, Vec<GroupRecord>)> {
        let mut overrides = BTreeMap::new();
        overrides.insert("cleanup.policy".to_string(), "compact".to_string());
        overrides.insert("segment.bytes".to_string(), "104857600".to_string());
        let partition = logs.open_partition(OFFSETS_TOPIC, 0, config.log_config(&overrides))?;
        let mut records = Vec::new();
        {
            let log = partition
                .lock()
                .map_err(|e| io::Error::other(e.to_string()))?;
            let mut offset = log.log_start_offset();
            while let Some(plan) = log
                .read_plan(offset)
                .map_err(|e| io::Error::other(e.to_string()))?
            {
                let chunk = plan.read(8 << 20, true)?;
                let mut last = offset;
                for (pos, h) in crate::log::batch::BatchWalker::new(&chunk) {
                    let bytes = &chunk[pos..pos + h.total_size()];
                    match crate::log::records::decode(bytes) {
                        Ok(recs) => {
                            for r in recs.into_iter().filter(|r| r.offset >= offset) {
                                match r
                                    .key
                                    .ok_or_else(|| "record without key".to_string())
                                    .and_then(|k| GroupRecord::decode(k, r.value))
                                {
                                    Ok(rec) => records.push(rec),
                                    Err(e) => tracing::warn!(
                                        "skipping unreadable group record at offset {}: {e}",
                                        r.offset
                                    ),
                                }
                            }
                        }
                        Err(e) => tracing::warn!(
                            "skipping unreadable group batch at offset {}: {e}",
                            h.base_offset
                        ),
                    }
                    last = h.last_offset() + 1;
                }
                if last == offset {
                    break;
                }
                offset = last;
            }
        }
        Ok((GroupStore { partition }, records))
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// Appends records durably as one batch before the caller acts on them.
    pub async fn append(&self, records: &[GroupRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.partition
            .append(encode_batch(records)?)
            .await
            .map(|_| ())
    }

    /// Rewrites the log as `state` when it has grown past [`COMPACT_ABOVE`] (blocking).
    pub fn compact_if_large(&self, state: &[GroupRecord]) -> Result<()> {
        let mut log = self.partition.lock()?;
        if log.size_bytes() <= COMPACT_ABOVE {
            return Ok(());
        }
        let before = log.size_bytes();
        log.roll(now_ms())?;
        let start = log.log_end_offset();
        for chunk in state.chunks(BATCH) {
            log.append(&encode_batch(chunk)?, now_ms())?;
        }
        log.delete_records_before(start)?;
        tracing::info!(
            "rewrote the group log: {before} bytes down to {}",
            log.size_bytes()
        );
        self.partition.publish(&log);
        Ok(())
    }
}
