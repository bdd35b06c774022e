//! The transaction coordinator's timers, run by [`TxnCoordinator::tick`] (every 50 ms by the
//! broker, by hand on a fake clock in tests):
//!
//! - transactions left in PrepareCommit/PrepareAbort — by a restart between the Prepare
//!   record and the Complete one, or by markers that kept failing — are completed: markers
//!   written again, then the Complete record;
//! - every `transaction.abort.timed.out.transaction.cleanup.interval.ms`, Ongoing
//!   transactions older than their `transaction.timeout.ms` are aborted with a fenced epoch
//!   (the producer's next request is answered PRODUCER_FENCED), as Kafka's
//!   `abortTimedOutTransactions` does;
//! - every `transaction.remove.expired.transaction.cleanup.interval.ms`, transactional ids in
//!   Empty/CompleteCommit/CompleteAbort not updated for `transactional.id.expiration.ms` are
//!   removed with a tombstone.
//!
//! Each change is an ordinary runtime operation that re-checks its condition; a failed write
//! is logged (no client waits for a timer) and tried again at the next round.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::coordinator::TxnCoordinator;
use super::end::fence_abort_op;
use super::records::TxnRecord;
use super::shard::TxnShard;
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::CoordinatorResult;

/// Whether `every` has passed since `last` (and if so, restarts the period).
fn due(last: &Mutex<Instant>, every: Duration, now: Instant) -> bool {
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    let due = now.duration_since(*last) >= every;
    if due {
        *last = now;
    }
    due
}

fn expire_op(s: &TxnShard, id: &str, now: Now) -> CoordinatorResult<TxnShard, bool> {
    match s.get(id) {
        Some(m) if m.expired(now.wall_ms, s.config.id_expiration_ms) => CoordinatorResult::new(
            vec![TxnRecord {
                transactional_id: id.to_string(),
                value: None,
            }],
            true,
        ),
        _ => CoordinatorResult::answer(false),
    }
}

impl TxnCoordinator {
    /// One round of timers (see the module doc).
    pub async fn tick(&self) {
        let now = self.runtime.now();
        let preparing: Vec<String> = self.runtime.read(|s| {
            s.txns
                .iter()
                .filter(|(_, m)| m.state.is_prepare())
                .map(|(id, _)| id.clone())
                .collect()
        });
        for id in preparing {
            if self.complete(&id).await {
                tracing::info!("transactional id {id}: decided transaction completed");
            }
        }
        if due(
            &self.last_abort_check,
            self.config.abort_check_interval,
            now.instant,
        ) {
            let timed_out: Vec<(String, i64, i16)> = self.runtime.read(|s| {
                s.txns
                    .iter()
                    .filter(|(_, m)| m.timed_out(now.wall_ms))
                    .map(|(id, m)| (id.clone(), m.producer_id, m.producer_epoch))
                    .collect()
            });
            for (id, pid, epoch) in timed_out {
                let key = id.clone();
                match self
                    .write(move |s, now| fence_abort_op(s, &key, pid, epoch, now))
                    .await
                {
                    Ok(true) => {
                        tracing::info!(
                            "transactional id {id}: transaction timed out, aborting it \
                             (producer {pid} epoch {epoch} fenced)"
                        );
                        self.complete(&id).await;
                    }
                    Ok(false) => {}
                    Err(c) => tracing::error!("transactional id {id}: timeout abort failed: {c}"),
                }
            }
        }
        if due(
            &self.last_expire_check,
            self.config.expire_check_interval,
            now.instant,
        ) {
            let expiration = self.config.id_expiration_ms;
            let expired: Vec<String> = self.runtime.read(|s| {
                s.txns
                    .iter()
                    .filter(|(_, m)| m.expired(now.wall_ms, expiration))
                    .map(|(id, _)| id.clone())
                    .collect()
            });
            for id in expired {
                let key = id.clone();
                match self.write(move |s, now| expire_op(s, &key, now)).await {
                    Ok(true) => tracing::info!("transactional id {id} expired"),
                    Ok(false) => {}
                    Err(c) => tracing::error!("transactional id {id}: expiration failed: {c}"),
                }
            }
        }
    }
}
