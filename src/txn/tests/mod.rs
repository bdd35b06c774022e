//! Unit tests of the transaction coordinator on the coordinator runtime: no sockets, an
//! in-memory log that can be told to fail, a fake clock moved by hand and a fake marker
//! writer that records what it was asked to write.

mod lifecycle;
mod recovery;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::api::TxnConfig;
use super::coordinator::{ProducerIdSource, TxnCoordinator};
use super::markers::fake::FakeMarkers;
use super::state::{TransactionMetadata, TxnState};
use crate::coordinator::clock::FakeClock;
use crate::coordinator::log::MemoryLog;

const TXN: &str = "tx";
const TIMEOUT_MS: i32 = 60_000;

fn config() -> TxnConfig {
    TxnConfig {
        max_timeout_ms: 900_000,
        id_expiration_ms: 3_600_000,
        abort_check_interval: Duration::from_secs(10),
        expire_check_interval: Duration::from_secs(60),
        marker_attempts: 2,
        marker_backoff: Duration::from_millis(1),
    }
}

/// A coordinator with its log, clock, marker writer and producer-id counter.
struct Harness {
    coord: TxnCoordinator,
    log: Arc<MemoryLog>,
    clock: Arc<FakeClock>,
    markers: Arc<FakeMarkers>,
    next_id: Arc<AtomicI64>,
}

fn source(next: &Arc<AtomicI64>) -> ProducerIdSource {
    let next = next.clone();
    Arc::new(move || Ok(next.fetch_add(1, Ordering::SeqCst)))
}

impl Harness {
    fn new() -> Harness {
        Harness::on(
            Arc::new(MemoryLog::new()),
            Arc::new(FakeClock::new()),
            Arc::new(AtomicI64::new(1000)),
        )
    }

    /// A coordinator rebuilt from whatever `log` holds, with a fresh marker writer.
    fn on(log: Arc<MemoryLog>, clock: Arc<FakeClock>, next_id: Arc<AtomicI64>) -> Harness {
        let markers = Arc::new(FakeMarkers::default());
        let coord = TxnCoordinator::new(
            config(),
            log.clone(),
            clock.clone(),
            source(&next_id),
            markers.clone(),
        )
        .unwrap();
        Harness {
            coord,
            log,
            clock,
            markers,
            next_id,
        }
    }

    /// A second coordinator rebuilt from this one's log, as after a restart.
    fn restarted(&self) -> Harness {
        Harness::on(self.log.clone(), self.clock.clone(), self.next_id.clone())
    }

    fn meta(&self) -> Option<TransactionMetadata> {
        self.coord.runtime.read(|s| s.get(TXN).cloned())
    }

    fn state(&self) -> TxnState {
        self.meta().map(|m| m.state).unwrap_or(TxnState::Dead)
    }

    async fn init(&self) -> (i64, i16) {
        self.coord
            .init_producer_id(TXN, TIMEOUT_MS, None)
            .await
            .expect("init")
    }

    /// A producer with an Ongoing transaction on `t-0` and `t-1`.
    async fn ongoing(&self) -> (i64, i16) {
        let (pid, epoch) = self.init().await;
        let parts = vec![("t".to_string(), 0), ("t".to_string(), 1)];
        let code = self.coord.add_partitions(TXN, pid, epoch, parts).await;
        assert_eq!(code, crate::error::ErrorCode::None);
        (pid, epoch)
    }
}
