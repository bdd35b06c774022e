//! The transaction coordinator: transactional producers' ids, epochs and transactions, run on
//! the [coordinator runtime](crate::coordinator::runtime) as a second shard type next to the
//! group coordinator.
//!
//! This file holds one shard of the coordinator — the transactional ids of one partition of
//! `__transaction_state`, the runtime, the producer-id source and the marker writer it was
//! given, and its coordinator epoch (the partition's leader epoch, written into every
//! marker); the broker runs one per partition it leads (`coordinator::shards`). The operations live by API:
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
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::api::TxnConfig;
use super::markers::TxnMarkerWriter;
use super::shard::TxnShard;
use crate::coordinator::clock::{Clock, Now};
use crate::coordinator::log::CoordinatorLog;
use crate::coordinator::runtime::{write_error_code, CoordinatorResult, CoordinatorRuntime};
use crate::error::{ErrorCode, Result};

/// Where new producer ids come from (the broker's allocator; blocking: it may commit a
/// metadata record to reserve a block).
pub type ProducerIdSource = Arc<dyn Fn() -> Result<i64> + Send + Sync>;

/// The coordinator (see the module doc).
pub struct TxnCoordinator {
    pub(super) config: TxnConfig,
    pub(super) runtime: Arc<CoordinatorRuntime<TxnShard>>,
    /// The coordinator epoch written into markers: the leader epoch of this shard's
    /// partition when it was loaded (Kafka's `coordinatorEpoch`).
    pub(super) coordinator_epoch: i32,
    producer_ids: ProducerIdSource,
    pub(super) markers: Arc<dyn TxnMarkerWriter>,
    /// Transactional ids whose markers some task is writing (in memory only).
    pub(super) completing: Mutex<HashSet<String>>,
    /// When timed-out transactions and expired ids were last looked for.
    pub(super) last_abort_check: Mutex<Instant>,
    pub(super) last_expire_check: Mutex<Instant>,
}

impl TxnCoordinator {
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
            coordinator_epoch: 0,
            producer_ids,
            markers,
            completing: Mutex::new(HashSet::new()),
            last_abort_check: Mutex::new(now),
            last_expire_check: Mutex::new(now),
        })
    }

    /// The same shard with `epoch` as its coordinator epoch (the partition's leader epoch).
    pub fn with_coordinator_epoch(self, epoch: i32) -> TxnCoordinator {
        TxnCoordinator {
            coordinator_epoch: epoch,
            ..self
        }
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
