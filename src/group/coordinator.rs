//! The group coordinator: consumer groups (the classic protocol) and their committed offsets,
//! run on the [coordinator runtime](crate::coordinator::runtime).
//!
//! This file holds one shard of the coordinator — the groups of one partition of
//! `__consumer_offsets`, the runtime it runs on, its settings; the broker runs one per
//! partition it leads (`coordinator::shards`). The operations live by concern: [`membership`](super::membership) (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup), [`offsets`](super::offsets) (OffsetCommit,
//! OffsetFetch, OffsetDelete), [`txn_offsets`](super::txn_offsets) (TxnOffsetCommit and
//! transaction completion), [`admin`](super::admin) (DescribeGroups, ListGroups,
//! DeleteGroups) and [`expiry`](super::expiry) (session expiry, rebalance deadlines, offset
//! retention). Each is a runtime operation: it reads the [`GroupShard`], returns the records
//! to write, and anything durable changes only when those records are replayed after the
//! write succeeded; a failed write is answered with an error and changes nothing.
//!
//! Thread-safety: `Send + Sync`, shared by every connection; the runtime serialises the
//! operations, and JoinGroup/SyncGroup wait for their answer on a oneshot channel after their
//! operation has finished, so a slow member never blocks another.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::api::GroupConfig;
use super::shard::GroupShard;
use super::state::{JoinResult, SyncResult};
use crate::coordinator::clock::Clock;
use crate::coordinator::log::CoordinatorLog;
use crate::coordinator::runtime::{CoordinatorResult, CoordinatorRuntime};
use crate::error::{ErrorCode, Result};

pub use super::api::{GroupDescription, JoinParams, MemberDescription, SyncParams, TopicOffsets};

/// The coordinator (see the module doc).
pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) runtime: Arc<CoordinatorRuntime<GroupShard>>,
    /// When offset retention last ran (in-memory only).
    pub(super) last_retention_check: Mutex<Instant>,
}

impl GroupCoordinator {
    /// A coordinator on any log and clock (unit tests use an in-memory log and a fake clock),
    /// rebuilt from what the log holds (blocking).
    pub fn new(
        config: GroupConfig,
        log: Arc<dyn CoordinatorLog>,
        clock: Arc<dyn Clock>,
    ) -> Result<GroupCoordinator> {
        let (runtime, count) =
            CoordinatorRuntime::load(GroupShard::new(config.clone()), log, clock)?;
        if count > 0 {
            tracing::info!(
                "group coordinator: replayed {count} records into {} group(s)",
                runtime.read(|s| s.groups.len())
            );
        }
        let now = runtime.now().instant;
        Ok(GroupCoordinator {
            config,
            runtime: Arc::new(runtime),
            last_retention_check: Mutex::new(now),
        })
    }

    /// This shard was dropped (its partition is no longer led here at its epoch): members
    /// waiting in JoinGroup or SyncGroup are answered NOT_COORDINATOR at once, as Kafka's
    /// unload does, so their clients look the coordinator up again instead of waiting for a
    /// deadline no timer will reach.
    pub async fn unload(&self) {
        let released = self
            .runtime
            .write(|_, _| {
                CoordinatorResult::then(Vec::new(), |s: &mut GroupShard, _| {
                    let mut n = 0;
                    for m in s.groups.values_mut().flat_map(|g| g.members.values_mut()) {
                        if let Some(tx) = m.join_waiter.take() {
                            let _ = tx.send(JoinResult::error(ErrorCode::NotCoordinator, &m.id));
                            n += 1;
                        }
                        if let Some(tx) = m.sync_waiter.take() {
                            let _ = tx.send(SyncResult {
                                error: ErrorCode::NotCoordinator,
                                protocol_type: None,
                                protocol: None,
                                assignment: Default::default(),
                            });
                            n += 1;
                        }
                    }
                    n
                })
            })
            .await;
        if let Ok(n @ 1..) = released {
            tracing::info!("unloaded group shard: {n} waiting member(s) told NOT_COORDINATOR");
        }
    }

    pub fn offset_metadata_max_bytes(&self) -> usize {
        self.config.offset_metadata_max_bytes
    }

    /// Ends `producer_id`'s transaction on the offsets log (the transaction coordinator calls
    /// it when EndTxn writes its markers): writes a COMMIT marker (`commit`) or an ABORT
    /// marker; on commit the offsets the producer sent with TxnOffsetCommit become committed
    /// offsets, on abort they are dropped. See [`txn_offsets`](super::txn_offsets). The marker
    /// carries `coordinator_epoch`, the transaction coordinator's epoch from its
    /// WriteTxnMarkers, as Kafka's `completeTransaction` writes it.
    pub async fn complete_transaction(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> crate::error::Result<()> {
        self.end_transaction(producer_id, producer_epoch, commit, coordinator_epoch)
            .await
    }
}
