//! A broker-only node's metadata: it runs no Raft; it follows `__cluster_metadata-0` as a
//! Kafka *observer* (KIP-595), as KRaft brokers do.
//!
//! - At open, the node's own copy of the log is replayed into the image (every batch in it
//!   was committed: the leader serves nothing above its high watermark). That image may be
//!   old: as Kafka's `MetadataLoader`, the observer hands nothing to the publishers (the
//!   replica layer) until it has applied up to the high watermark of a fetch answer
//!   ([`Observer::wait_caught_up`]); then the whole image goes to them once
//!   ([`Observer::go_live`]) and every later change follows, always to the publishers
//!   before the handlers see it. The node serves no client before that.
//! - Then [`Observer::run`] fetches from the active controller's CONTROLLER listener with
//!   Fetch v12 (`replica_id` = node id, `last_fetched_epoch`, topic `__cluster_metadata`
//!   partition 0), through a send function the broker gives it (this module opens no
//!   socket). Fetched batches are appended to the local log as a follower appends
//!   (offsets and epochs kept) and their records applied — with the quorum's own replay code
//!   ([`super::state_machine::replay`] / `run_publishers`) — up to the returned high
//!   watermark, so this node's image and publishers follow the controller's.
//! - NOT_LEADER_OR_FOLLOWER / NOT_CONTROLLER / a failed call: the send function moves to the
//!   next controller address; the loop backs off `retry` and asks again.
//! - Below the leader's log start (purged behind a snapshot) the answer carries the
//!   snapshot's id: the observer copies it with FetchSnapshot, writes it as its own
//!   `.checkpoint`, restarts its log empty at the snapshot's end offset and replaces the
//!   image; at open, the newest local `.checkpoint` is loaded before the log after it.
//!
//! Thread-safety: `Observer` is shared (`Arc`); only its run task appends and applies.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_snapshot_request::{
    PartitionSnapshot, SnapshotId, TopicSnapshot,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, FetchSnapshotRequest, FetchSnapshotResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::broadcast;

use super::state_machine::{replay, run_publishers};
use crate::error::ErrorCode;
use crate::log::batch::BatchWalker;
use crate::log::partition::now_ms;
use crate::log::Partition;
use crate::metadata::log::{read_records_from, METADATA_TOPIC};
use crate::metadata::records::MetadataRecord;
use crate::metadata::{Metadata, MetadataImage, MetadataPublisher};

/// Sends one Fetch to the active controller (the broker's outbound client).
pub type FetchFn = Arc<
    dyn Fn(FetchRequest) -> Pin<Box<dyn Future<Output = Result<FetchResponse, String>> + Send>>
        + Send
        + Sync,
>;

/// Sends one FetchSnapshot to the active controller.
pub type SnapshotFn = Arc<
    dyn Fn(
            FetchSnapshotRequest,
        ) -> Pin<Box<dyn Future<Output = Result<FetchSnapshotResponse, String>> + Send>>
        + Send
        + Sync,
>;

/// The FetchSnapshot version observers use.
pub const FETCH_SNAPSHOT_VERSION: i16 = 1;

/// Largest snapshot an observer accepts (bounds the copy in memory).
const MAX_SNAPSHOT: i64 = 1 << 30;

/// The Fetch version observers use (v12: `last_fetched_epoch`, topic names, cluster id).
pub const FETCH_VERSION: i16 = 12;

/// The metadata follower of a broker-only node (see the module doc).
pub struct Observer {
    node_id: i32,
    partition: Arc<Partition>,
    metadata: Arc<Metadata>,
    publishers: Vec<Arc<dyn MetadataPublisher>>,
    /// Whether the publishers follow the image yet (after the initial catch-up,
    /// [`Observer::go_live`]); held while an image is handed to them and published.
    live: Mutex<bool>,
    /// The leader's high watermark as last seen (−1: never fetched).
    high_watermark: AtomicI64,
}

impl Observer {
    /// Replays the local copy of the log into `metadata` (blocking). The publishers get
    /// nothing before [`go_live`](Self::go_live).
    pub fn open(
        node_id: i32,
        partition: Arc<Partition>,
        metadata: Arc<Metadata>,
        publishers: Vec<Arc<dyn MetadataPublisher>>,
    ) -> io::Result<Observer> {
        let empty = MetadataImage::new(metadata.image().cluster_id.clone());
        // The newest snapshot copied from the leader, if any, then the log after it.
        let dir = partition
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?
            .dir()
            .to_path_buf();
        // The snapshot is written before the log restarts at its end: a crash between the
        // two leaves older batches in the log, which the snapshot already holds (skipped).
        let (base, from) = match super::snapshot::list(&dir)?.pop() {
            Some((path, end)) => {
                let bytes = std::fs::read(&path)?;
                let image = super::snapshot::decode(&bytes, &empty.cluster_id)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                    .image;
                (image, end)
            }
            None => (empty.clone(), 0),
        };
        let records = read_records_from(&partition, from)?;
        let image = replay(&base, &records, partition.log_end_offset() - 1);
        metadata.publish(Arc::new(image));
        Ok(Observer {
            node_id,
            partition,
            metadata,
            publishers,
            live: Mutex::new(false),
            high_watermark: AtomicI64::new(-1),
        })
    }

    fn live(&self) -> std::sync::MutexGuard<'_, bool> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the image has reached the high watermark of the first (or a later) fetch
    /// answer: Kafka's `MetadataLoader` leaves its catching-up state there.
    pub fn caught_up(&self) -> bool {
        let hw = self.high_watermark();
        hw >= 0 && self.metadata.image().applied_offset >= hw - 1
    }

    /// Waits until [`caught_up`](Self::caught_up) (the run task fetches meanwhile), saying
    /// so every ten seconds. No deadline of its own: as Kafka's broker, the node gives up
    /// when its initial registration times out (the caller's business).
    pub async fn wait_caught_up(&self) {
        let started = tokio::time::Instant::now();
        let mut said = started;
        while !self.caught_up() {
            if said.elapsed() >= Duration::from_secs(10) {
                said = tokio::time::Instant::now();
                tracing::info!(
                    "waiting for the initial metadata catch-up: applied offset {}, leader's high watermark {}",
                    self.metadata.image().applied_offset,
                    self.high_watermark()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::info!(
            "caught up with the metadata log at offset {} after {} ms",
            self.metadata.image().applied_offset,
            started.elapsed().as_millis()
        );
    }

    /// Hands the whole image to the publishers (as a change from an empty image) and lets
    /// every later change reach them (blocking; once caught up).
    pub fn go_live(&self) -> io::Result<()> {
        let mut live = self.live();
        if *live {
            return Ok(());
        }
        let image = self.metadata.image();
        let empty = MetadataImage::new(image.cluster_id.clone());
        if let Some(e) = run_publishers(&self.publishers, &empty, &image) {
            return Err(io::Error::other(e));
        }
        *live = true;
        Ok(())
    }

    /// Publishes a new image: to the publishers first once live, then to the handlers
    /// (see `state_machine`'s order); the first publisher error, if any.
    fn publish(&self, old: &MetadataImage, new: Arc<MetadataImage>) -> Option<String> {
        let live = self.live();
        let error = if *live {
            run_publishers(&self.publishers, old, &new)
        } else {
            None
        };
        self.metadata.publish(new);
        error
    }

    /// The local copy of the metadata log.
    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// The leader's high watermark as last fetched (−1 before the first answer).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Relaxed)
    }

    fn request(&self, wait_ms: i32) -> FetchRequest {
        let (offset, epoch) = match self.partition.lock() {
            Ok(log) => (log.log_end_offset(), log.latest_epoch().unwrap_or(-1)),
            Err(_) => (self.partition.log_end_offset(), -1),
        };
        let cluster_id = self.metadata.cluster_id();
        FetchRequest::default()
            .with_cluster_id(Some(StrBytes::from_string(cluster_id)))
            .with_replica_id(BrokerId(self.node_id))
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(8 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_last_fetched_epoch(epoch)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(8 << 20)])])
    }

    /// Appends fetched batches to the local log and applies their records (blocking).
    fn apply(&self, records: &Bytes, high_watermark: i64) -> io::Result<()> {
        self.high_watermark.store(high_watermark, Ordering::Relaxed);
        if records.is_empty() {
            return Ok(());
        }
        let mut decoded: Vec<MetadataRecord> = Vec::new();
        let mut end = records.len();
        for (pos, h) in BatchWalker::new(records) {
            if h.last_offset() >= high_watermark {
                end = pos;
                break;
            }
            if h.is_control() {
                continue;
            }
            let batch = &records[pos..pos + h.total_size()];
            for r in crate::log::records::decode(batch).map_err(io::Error::other)? {
                let Some(value) = r.value else {
                    continue;
                };
                decoded.push(MetadataRecord::decode(value).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("metadata record: {}", e.0),
                    )
                })?);
            }
        }
        let whole = BatchWalker::new(&records[..end])
            .last()
            .map_or(0, |(p, h)| p + h.total_size());
        if whole == 0 {
            return Ok(());
        }
        let applied = {
            let mut log = self
                .partition
                .lock()
                .map_err(|e| io::Error::other(e.to_string()))?;
            log.append_as_follower(&records[..whole], now_ms())
                .map_err(|e| io::Error::other(e.to_string()))?;
            log.flush(now_ms())?;
            self.partition.publish(&log);
            log.log_end_offset() - 1
        };
        let old = self.metadata.image();
        let new = Arc::new(replay(&old, &decoded, applied));
        if let Some(e) = self.publish(&old, new) {
            tracing::warn!("applying fetched metadata: {e}");
        }
        Ok(())
    }

    /// Installs a snapshot copied from the leader (blocking): written as this node's
    /// `.checkpoint`, the local log restarted empty at its end offset, the image replaced.
    fn install_snapshot(&self, bytes: &[u8], end_offset: i64, epoch: i32) -> io::Result<()> {
        let decoded = super::snapshot::decode(bytes, &self.metadata.cluster_id())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut log = self
            .partition
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let name = super::snapshot::snapshot_name(end_offset, u64::try_from(epoch).unwrap_or(0));
        super::snapshot::write_file(log.dir(), &name, bytes)?;
        log.truncate_fully_and_start_at(end_offset, now_ms())?;
        self.partition.publish(&log);
        drop(log);
        let old = self.metadata.image();
        let mut image = decoded.image;
        image.applied_offset = end_offset - 1;
        if let Some(e) = self.publish(&old, Arc::new(image)) {
            tracing::warn!("applying a metadata snapshot: {e}");
        }
        tracing::info!("metadata snapshot {name} installed from the controller");
        Ok(())
    }

    /// Copies snapshot `(end_offset, epoch)` with FetchSnapshot, chunk by chunk.
    async fn copy_snapshot(
        &self,
        send: &SnapshotFn,
        end_offset: i64,
        epoch: i32,
    ) -> Result<Vec<u8>, String> {
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let req = FetchSnapshotRequest::default()
                .with_cluster_id(Some(StrBytes::from_string(self.metadata.cluster_id())))
                .with_replica_id(BrokerId(self.node_id))
                .with_max_bytes(1 << 20)
                .with_topics(vec![TopicSnapshot::default()
                    .with_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                    .with_partitions(vec![PartitionSnapshot::default()
                        .with_partition(0)
                        .with_current_leader_epoch(-1)
                        .with_snapshot_id(
                            SnapshotId::default()
                                .with_end_offset(end_offset)
                                .with_epoch(epoch),
                        )
                        .with_position(bytes.len() as i64)])]);
            let resp = send(req).await?;
            if resp.error_code != 0 {
                return Err(format!("FetchSnapshot error {}", resp.error_code));
            }
            let p = resp
                .topics
                .first()
                .and_then(|t| t.partitions.first())
                .ok_or("empty FetchSnapshot response")?;
            if p.error_code != 0 {
                return Err(format!("FetchSnapshot error {}", p.error_code));
            }
            if p.size > MAX_SNAPSHOT || p.position != bytes.len() as i64 {
                return Err(format!(
                    "FetchSnapshot answered position {} of {} bytes",
                    p.position, p.size
                ));
            }
            bytes.extend_from_slice(&p.unaligned_records);
            if bytes.len() as i64 >= p.size {
                return Ok(bytes);
            }
            if p.unaligned_records.is_empty() {
                return Err("FetchSnapshot made no progress".into());
            }
        }
    }

    /// Follows the controller until `shutdown` fires (see the module doc). `wait_ms` is the
    /// long-poll asked of the leader, `retry` the back-off after an error.
    pub async fn run(
        self: Arc<Self>,
        fetch: FetchFn,
        snapshots: SnapshotFn,
        wait_ms: i32,
        retry: Duration,
        mut shutdown: broadcast::Receiver<()>,
    ) {
        let mut warned = false;
        loop {
            let req = self.request(wait_ms);
            let result = tokio::select! {
                r = fetch(req) => r,
                _ = shutdown.recv() => return,
            };
            let outcome = match result {
                Ok(resp) => self.handle(resp, &snapshots).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => warned = false,
                Err(e) => {
                    if !warned {
                        tracing::warn!("following the metadata log: {e}");
                        warned = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = shutdown.recv() => return,
                    }
                }
            }
        }
    }

    async fn handle(
        self: &Arc<Self>,
        resp: FetchResponse,
        snapshots: &SnapshotFn,
    ) -> Result<(), String> {
        if resp.error_code != 0 {
            return Err(format!("fetch error {}", resp.error_code));
        }
        let Some(p) = resp.responses.first().and_then(|t| t.partitions.first()) else {
            return Err("empty fetch response".into());
        };
        if p.error_code != 0 {
            let code = ErrorCode::from_code(p.error_code);
            return Err(match code {
                ErrorCode::OffsetOutOfRange => format!(
                    "this node's metadata log end is outside the leader's log (start {})",
                    p.log_start_offset
                ),
                _ => format!("{code:?} from the controller"),
            });
        }
        if p.snapshot_id.end_offset >= 0 {
            let (end, epoch) = (p.snapshot_id.end_offset, p.snapshot_id.epoch);
            let bytes = self.copy_snapshot(snapshots, end, epoch).await?;
            let me = self.clone();
            return tokio::task::spawn_blocking(move || me.install_snapshot(&bytes, end, epoch))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string());
        }
        let records = p.records.clone().unwrap_or_default();
        let hw = p.high_watermark;
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.apply(&records, hw))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}
