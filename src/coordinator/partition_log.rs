//! [`CoordinatorLog`] on a real partition log (a partition of `__consumer_offsets` for groups,
//! of `__transaction_state` for transactions).
//!
//! On a broker the partition is replicated: appends go through a [`LeaderWriter`] the broker
//! implements on the replica layer — appended as the partition's leader at the shard's
//! epoch and answered only once the high watermark passes them (acks=all, Kafka's
//! coordinator writes), failing with NOT_LEADER_OR_FOLLOWER once the leadership is gone.
//! Without one (unit tests) appends go straight to the partition.
//!
//! The one place the coordinators touch the partition layer, and only through
//! `Partition::append`, `Partition::run` and `Partition::lock`, so that a rework of that layer
//! changes this file alone. Records go into ordinary record batches v2, one batch per append;
//! a transactional append is a batch with the producer's id and epoch and the transactional
//! attribute (no sequence: Kafka skips sequence checks for a coordinator's own writes), and a
//! marker is Kafka's control batch, written by
//! [`PartitionLog::append_control`](crate::log::partition_log::PartitionLog::append_control).
//! Reading back, a batch's header says whose transaction its records belong to, and a control
//! batch is a marker.
//!
//! The log is `cleanup.policy=compact`: the log cleaner may rewrite its sealed segments at
//! any time, keeping the latest record per key, so [`CoordinatorLog::read_all`] may find
//! batches with fewer records than offsets, or none (an emptied batch kept as a header).
//!
//! Thread-safety: [`Partition`] serialises appends; reads hold its lock and are blocking (they
//! run before the broker serves requests).

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::log::{AppendFuture, CoordinatorLog, LogEntry, RecordBytes, TxnProducer};
use crate::error::{Error, Result};
use crate::log::control::{decode_marker, ControlType};
use crate::log::partition::now_ms;
use crate::log::Partition;

/// How a coordinator's batches reach a replicated partition (see the module doc).
pub trait LeaderWriter: Send + Sync {
    /// Appends one batch as the leader; `Ok` once it is committed.
    fn append(&self, batch: Bytes) -> AppendFuture<'_>;
    /// Appends a marker ending `producer`'s transaction, stamped with the transaction
    /// coordinator's epoch; `Ok` once it is committed.
    fn append_marker(
        &self,
        producer: TxnProducer,
        commit: bool,
        coordinator_epoch: i32,
    ) -> AppendFuture<'_>;
}

/// A coordinator log kept in a partition (see the module doc).
pub struct PartitionCoordinatorLog {
    partition: Arc<Partition>,
    writer: Option<Arc<dyn LeaderWriter>>,
}

fn entries(records: &[RecordBytes]) -> Vec<(Option<Bytes>, Option<Bytes>)> {
    records
        .iter()
        .map(|(k, v)| (Some(k.clone()), v.clone()))
        .collect()
}

/// One record batch holding `records`, as the log stores it.
fn encode_batch(records: &[RecordBytes]) -> Result<Bytes> {
    crate::log::records::encode_batch(&entries(records), None, now_ms())
        .map_err(|e| Error::Io(io::Error::other(e)))
}

/// One transactional record batch of `producer` holding `records`.
fn encode_transactional(producer: TxnProducer, records: &[RecordBytes]) -> Result<Bytes> {
    crate::log::records::encode_transactional_batch(
        &entries(records),
        producer.producer_id,
        producer.producer_epoch,
        now_ms(),
    )
    .map_err(|e| Error::Io(io::Error::other(e)))
}

impl PartitionCoordinatorLog {
    pub fn new(partition: Arc<Partition>) -> PartitionCoordinatorLog {
        PartitionCoordinatorLog {
            partition,
            writer: None,
        }
    }

    /// The log of a replicated partition: reads from `partition`, writes through `writer`.
    pub fn replicated(
        partition: Arc<Partition>,
        writer: Arc<dyn LeaderWriter>,
    ) -> PartitionCoordinatorLog {
        PartitionCoordinatorLog {
            partition,
            writer: Some(writer),
        }
    }

    async fn write(&self, batch: Bytes) -> Result<()> {
        match &self.writer {
            Some(w) => w.append(batch).await,
            None => self.partition.append(batch).await.map(|_| ()),
        }
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }
}

impl CoordinatorLog for PartitionCoordinatorLog {
    fn append(&self, records: Vec<RecordBytes>) -> AppendFuture<'_> {
        Box::pin(async move {
            if records.is_empty() {
                return Ok(());
            }
            self.write(encode_batch(&records)?).await
        })
    }

    fn append_transactional(
        &self,
        producer: TxnProducer,
        records: Vec<RecordBytes>,
    ) -> AppendFuture<'_> {
        Box::pin(async move {
            if records.is_empty() {
                return Ok(());
            }
            self.write(encode_transactional(producer, &records)?).await
        })
    }

    /// The marker carries the epoch of the transaction coordinator that asked for it (the
    /// WriteTxnMarkers request's), as Kafka's group coordinator writes it.
    fn append_marker(
        &self,
        producer: TxnProducer,
        commit: bool,
        coordinator_epoch: i32,
    ) -> AppendFuture<'_> {
        Box::pin(async move {
            if let Some(w) = &self.writer {
                return w.append_marker(producer, commit, coordinator_epoch).await;
            }
            self.partition
                .run(move |log| {
                    let leader_epoch = log.latest_epoch().unwrap_or(0);
                    log.append_control(
                        producer.producer_id,
                        producer.producer_epoch,
                        ControlType::from_commit(commit),
                        coordinator_epoch,
                        leader_epoch,
                        now_ms(),
                    )
                })
                .await
                .map(|_| ())
        })
    }

    /// Unreadable batches or records are skipped with a warning, as a damaged tail was
    /// already cut off by recovery.
    fn read_all(&self) -> Result<Vec<LogEntry>> {
        let mut records = Vec::new();
        let log = self.partition.lock()?;
        let mut offset = log.log_start_offset();
        while let Some(plan) = log.read_plan(offset)? {
            let chunk = plan.read(8 << 20, true)?;
            let mut last = offset;
            for (pos, h) in crate::log::batch::BatchWalker::new(&chunk) {
                let bytes = &chunk[pos..pos + h.total_size()];
                let producer = h.is_transactional().then_some(TxnProducer {
                    producer_id: h.producer_id,
                    producer_epoch: h.producer_epoch,
                });
                match crate::log::records::decode(bytes) {
                    Ok(recs) => {
                        for r in recs.into_iter().filter(|r| r.offset >= offset) {
                            match (r.key, producer) {
                                (Some(k), Some(producer)) if h.is_control() => {
                                    match decode_marker(&k, r.value.as_deref().unwrap_or(&[])) {
                                        Some(m) => records.push(LogEntry::Marker {
                                            producer,
                                            commit: m.kind == ControlType::Commit,
                                        }),
                                        None => tracing::warn!(
                                            "skipping unreadable marker at offset {}",
                                            r.offset
                                        ),
                                    }
                                }
                                (Some(k), producer) => records.push(LogEntry::Record {
                                    record: (k, r.value),
                                    producer,
                                }),
                                (None, _) => tracing::warn!(
                                    "skipping coordinator record without key at offset {}",
                                    r.offset
                                ),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(
                        "skipping unreadable coordinator batch at offset {}: {e}",
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
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::log::batch::{BatchHeader, BatchWalker};
    use crate::log::partition_log::{LoadOptions, PartitionLog};

    fn record(k: &'static [u8], v: &'static [u8]) -> RecordBytes {
        (Bytes::from_static(k), Some(Bytes::from_static(v)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transactional_batches_and_markers_read_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = BrokerConfig::default().log_config(&Default::default());
        let opts = LoadOptions {
            clean_shutdown: true,
            recovery_point: 0,
            log_start_offset: 0,
        };
        let (log, _) = PartitionLog::open(dir.path(), cfg, opts, now_ms()).expect("open");
        let log = PartitionCoordinatorLog::new(Arc::new(Partition::new("__t", 0, log)));
        let p = TxnProducer {
            producer_id: 7,
            producer_epoch: 2,
        };
        log.append(vec![record(b"a", b"1")]).await.expect("plain");
        log.append_transactional(p, vec![record(b"b", b"2"), record(b"c", b"3")])
            .await
            .expect("transactional");
        // A second transaction of the same producer, without sequence numbers, is appended
        // (not taken for a duplicate of the first).
        log.append_transactional(p, vec![record(b"d", b"4"), record(b"e", b"5")])
            .await
            .expect("transactional again");
        log.append_marker(p, true, 9).await.expect("marker");

        let entries = log.read_all().expect("read");
        let txn = |k, v| LogEntry::Record {
            record: record(k, v),
            producer: Some(p),
        };
        assert_eq!(
            entries,
            vec![
                LogEntry::Record {
                    record: record(b"a", b"1"),
                    producer: None
                },
                txn(b"b", b"2"),
                txn(b"c", b"3"),
                txn(b"d", b"4"),
                txn(b"e", b"5"),
                LogEntry::Marker {
                    producer: p,
                    commit: true
                },
            ]
        );

        // The bytes are Kafka's: transactional batches carry the producer, the marker is a
        // control batch.
        let guard = log.partition().lock().expect("lock");
        let plan = guard.read_plan(0).expect("plan").expect("data");
        let chunk = plan.read(1 << 20, true).expect("read");
        let headers: Vec<BatchHeader> = BatchWalker::new(&chunk).map(|(_, h)| h).collect();
        assert_eq!(headers.len(), 4);
        assert!(!headers[0].is_transactional() && headers[0].producer_id == -1);
        assert!(headers[1].is_transactional() && !headers[1].is_control());
        assert_eq!((headers[1].producer_id, headers[1].producer_epoch), (7, 2));
        assert!(headers[3].is_transactional() && headers[3].is_control());
        // The marker carries the transaction coordinator's epoch it was given.
        let (pos, h) = BatchWalker::new(&chunk).nth(3).expect("marker batch");
        let recs = crate::log::records::decode(&chunk[pos..pos + h.total_size()]).expect("decode");
        let r = &recs[0];
        let key = r.key.as_deref().expect("key");
        let marker = crate::log::control::decode_marker(key, r.value.as_deref().unwrap_or(&[]))
            .expect("marker");
        assert_eq!(
            (marker.kind, marker.coordinator_epoch),
            (ControlType::Commit, 9)
        );
    }
}
