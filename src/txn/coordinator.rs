//! The transaction coordinator: transactional producers' ids, epochs and transactions, run on
//! the [coordinator runtime](crate::coordinator::runtime) as a second shard type next to the
//! group coordinator.
//!
//! This file holds the coordinator itself — opening `__transaction_state-0`, the runtime, the
//! producer-id source and the marker writer it was given. The operations live by API:
//! [`init`](super::init) (InitProducerId), [`add`](super::add) (AddPartitionsToTxn,
//! AddOffsetsToTxn, and `verify` for the produce path), [`end`](super::end) (EndTxn and the
//! completion of a decided transaction), [`admin`](super::admin) (DescribeTransactions,
//! ListTransactions) and [`expiry`](super::expiry) (timeouts, expiration, recovery of
//! transactions left half-way). Each durable change is a record written, then replayed; a
//! failed write is answered with an error and changes nothing.
//!
//! Ending a transaction is three steps, as in Kafka: the PrepareCommit/PrepareAbort record
//! (from then on the outcome is decided), the markers on every partition, the
//! CompleteCommit/CompleteAbort record. Markers are written outside the runtime's write turn
//! (they take a disk write per partition); while they are, the id stays in a Prepare state,
//! where every other operation answers CONCURRENT_TRANSACTIONS or INVALID_TXN_STATE, so
//! nothing can change under them.
//!
//! Thread-safety: `Send + Sync`, shared by every connection; the runtime serialises the
//! operations; `completing` makes sure one task at a time writes a transaction's markers.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::api::TxnConfig;
use super::markers::TxnMarkerWriter;
use super::shard::TxnShard;
use super::store;
use crate::config::BrokerConfig;
use crate::coordinator::clock::{Clock, Now, SystemClock};
use crate::coordinator::log::CoordinatorLog;
use crate::coordinator::partition_log::PartitionCoordinatorLog;
use crate::coordinator::runtime::{write_error_code, CoordinatorResult, CoordinatorRuntime};
use crate::error::{ErrorCode, Result};
use crate::log::{LogManager, Partition};

/// Where new producer ids come from (the broker's allocator; blocking: it may commit a
/// metadata record to reserve a block).
pub type ProducerIdSource = Arc<dyn Fn() -> Result<i64> + Send + Sync>;

/// The coordinator epoch written into markers: the leader epoch of `__transaction_state-0`,
/// which on a single node never changes.
pub const COORDINATOR_EPOCH: i32 = 0;

/// The coordinator (see the module doc).
pub struct TxnCoordinator {
    pub(super) config: TxnConfig,
    pub(super) runtime: Arc<CoordinatorRuntime<TxnShard>>,
    partition: Option<Arc<Partition>>,
    producer_ids: ProducerIdSource,
    pub(super) markers: Arc<dyn TxnMarkerWriter>,
    /// Transactional ids whose markers some task is writing (in memory only).
    pub(super) completing: Mutex<HashSet<String>>,
    /// When timed-out transactions and expired ids were last looked for.
    pub(super) last_abort_check: Mutex<Instant>,
    pub(super) last_expire_check: Mutex<Instant>,
}

impl TxnCoordinator {
    /// Opens `__transaction_state-0` and rebuilds every transactional id from it (blocking).
    pub fn open(
        logs: &LogManager,
        broker: &BrokerConfig,
        producer_ids: ProducerIdSource,
        markers: Arc<dyn TxnMarkerWriter>,
    ) -> io::Result<TxnCoordinator> {
        let partition = store::open_partition(logs, broker)?;
        let log = Arc::new(PartitionCoordinatorLog::new(partition.clone()));
        let coordinator = TxnCoordinator::new(
            TxnConfig::from_broker(broker),
            log,
            Arc::new(SystemClock),
            producer_ids,
            markers,
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(TxnCoordinator {
            partition: Some(partition),
            ..coordinator
        })
    }

    /// A coordinator on any log and clock (unit tests: an in-memory log, a fake clock and a
    /// fake marker writer), rebuilt from what the log holds (blocking).
    pub fn new(
        config: TxnConfig,
        log: Arc<dyn CoordinatorLog>,
        clock: Arc<dyn Clock>,
        producer_ids: ProducerIdSource,
        markers: Arc<dyn TxnMarkerWriter>,
    ) -> Result<TxnCoordinator> {
        let (runtime, count) = CoordinatorRuntime::load(TxnShard::new(config.clone()), log, clock)?;
        if count > 0 {
            tracing::info!(
                "transaction coordinator: replayed {count} records into {} transactional id(s)",
                runtime.read(|s| s.txns.len())
            );
        }
        let now = runtime.now().instant;
        Ok(TxnCoordinator {
            config,
            runtime: Arc::new(runtime),
            partition: None,
            producer_ids,
            markers,
            completing: Mutex::new(HashSet::new()),
            last_abort_check: Mutex::new(now),
            last_expire_check: Mutex::new(now),
        })
    }

    /// The internal log's partition (closed, flushed and checkpointed with the others), if
    /// the coordinator runs on one.
    pub fn log(&self) -> Option<&Arc<Partition>> {
        self.partition.as_ref()
    }

    /// The marker writer (WriteTxnMarkers is served through it too).
    pub fn marker_writer(&self) -> &Arc<dyn TxnMarkerWriter> {
        &self.markers
    }

    /// Runs one operation; a failed write becomes the code Kafka answers for it.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&TxnShard, Now) -> CoordinatorResult<TxnShard, T>,
    ) -> std::result::Result<T, ErrorCode> {
        self.runtime.write(op).await.map_err(|e| {
            tracing::error!("transaction coordinator: write to its log failed: {e}");
            write_error_code(&e)
        })
    }

    /// A new producer id from the source, off the async workers.
    pub(super) async fn new_producer_id(&self) -> std::result::Result<i64, ErrorCode> {
        let source = self.producer_ids.clone();
        match tokio::task::spawn_blocking(move || source()).await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => {
                tracing::error!("allocating a producer id failed: {e}");
                Err(e.code())
            }
            Err(e) => {
                tracing::error!("allocating a producer id panicked: {e}");
                Err(ErrorCode::UnknownServerError)
            }
        }
    }

    /// Claims the right to write `id`'s markers; `None` if another task holds it.
    pub(super) fn claim(&self, id: &str) -> Option<Claim<'_>> {
        let mut set = self.completing.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(id.to_string()).then(|| Claim {
            owner: self,
            id: id.to_string(),
        })
    }
}

/// The right to write one transaction's markers, given back when dropped.
pub(super) struct Claim<'a> {
    owner: &'a TxnCoordinator,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut set = self
            .owner
            .completing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        set.remove(&self.id);
    }
}
