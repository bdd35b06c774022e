//! How the coordinator ends a transaction on its partitions: COMMIT or ABORT markers (control
//! batches, [`crate::log::control`]) written through [`TxnMarkerWriter`].
//!
//! Why a trait: the coordinator decides *which* markers to write; *how* a marker reaches a
//! partition is the broker's business (today an append to a local replica, later a
//! WriteTxnMarkers request to another broker). Unit tests use a fake writer that can be told
//! to fail.
//!
//! Retries follow Kafka's `TransactionMarkerRequestCompletionHandler`: a partition whose
//! marker failed with a retriable error (not leader, storage, timeout) is tried again with a
//! doubling backoff; a partition that no longer exists (UNKNOWN_TOPIC_OR_PARTITION: its
//! topic was deleted) is done, as Kafka drops markers for deleted topics; any other error is
//! logged and the partition given up, so that one broken partition cannot hold the
//! transaction in PrepareCommit/PrepareAbort forever.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::error::ErrorCode;

/// The markers ending one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerRequest {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
    pub partitions: Vec<(String, i32)>,
}

/// What [`TxnMarkerWriter::write_markers`] returns: one code per partition, in order.
pub type MarkerFuture<'a> =
    Pin<Box<dyn Future<Output = Vec<((String, i32), ErrorCode)>> + Send + 'a>>;

/// Writes markers to partitions; answers one code per partition (see the module doc).
pub trait TxnMarkerWriter: Send + Sync {
    fn write_markers<'a>(&'a self, req: &'a MarkerRequest) -> MarkerFuture<'a>;
}

/// Writes `req`'s markers, retrying retriable failures up to `attempts` times in all.
/// Returns the partitions still failing with a retriable error (empty: every marker is
/// written or given up as the module doc says).
pub async fn write_with_retries(
    writer: &dyn TxnMarkerWriter,
    req: &MarkerRequest,
    attempts: u32,
    backoff: Duration,
) -> Vec<(String, i32)> {
    let mut pending = req.clone();
    let mut wait = backoff;
    for attempt in 1..=attempts.max(1) {
        let results = writer.write_markers(&pending).await;
        let mut retry = Vec::new();
        for (partition, code) in results {
            match code {
                ErrorCode::None => {}
                ErrorCode::UnknownTopicOrPartition => tracing::info!(
                    "transaction marker for {}-{} dropped: the partition no longer exists",
                    partition.0,
                    partition.1
                ),
                c if c.retriable() => retry.push(partition),
                c => tracing::error!(
                    "transaction marker for {}-{} (producer {}) failed with {c}; giving it up",
                    partition.0,
                    partition.1,
                    req.producer_id
                ),
            }
        }
        if retry.is_empty() {
            return retry;
        }
        pending.partitions = retry;
        if attempt < attempts {
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
    pending.partitions
}

#[cfg(test)]
pub(crate) mod fake {
    //! A marker writer for unit tests: records every request, fails partitions on demand.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// Records requests; `fail` maps a partition to the code it answers (until cleared).
    #[derive(Default)]
    pub struct FakeMarkers {
        pub written: Mutex<Vec<MarkerRequest>>,
        pub fail: Mutex<HashMap<(String, i32), ErrorCode>>,
    }

    impl FakeMarkers {
        /// Every `(partition, commit, epoch)` written successfully, in order.
        pub fn markers(&self) -> Vec<((String, i32), bool, i16)> {
            let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            written
                .iter()
                .flat_map(|r| {
                    r.partitions
                        .iter()
                        .map(|p| (p.clone(), r.commit, r.producer_epoch))
                })
                .collect()
        }
    }

    impl TxnMarkerWriter for FakeMarkers {
        fn write_markers<'a>(&'a self, req: &'a MarkerRequest) -> MarkerFuture<'a> {
            Box::pin(async move {
                let fail = self.fail.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut ok = req.clone();
                ok.partitions.retain(|p| !fail.contains_key(p));
                if !ok.partitions.is_empty() {
                    self.written
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(ok);
                }
                req.partitions
                    .iter()
                    .map(|p| (p.clone(), fail.get(p).copied().unwrap_or(ErrorCode::None)))
                    .collect()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeMarkers;
    use super::*;

    #[tokio::test]
    async fn retriable_failures_are_retried_and_others_given_up() {
        let w = FakeMarkers::default();
        w.fail
            .lock()
            .unwrap()
            .insert(("a".into(), 0), ErrorCode::NotLeaderOrFollower);
        w.fail
            .lock()
            .unwrap()
            .insert(("gone".into(), 0), ErrorCode::UnknownTopicOrPartition);
        w.fail
            .lock()
            .unwrap()
            .insert(("bad".into(), 0), ErrorCode::MessageTooLarge);
        let req = MarkerRequest {
            producer_id: 1,
            producer_epoch: 0,
            commit: true,
            coordinator_epoch: 0,
            partitions: vec![
                ("a".into(), 0),
                ("b".into(), 0),
                ("gone".into(), 0),
                ("bad".into(), 0),
            ],
        };
        let left = write_with_retries(&w, &req, 3, Duration::from_millis(1)).await;
        assert_eq!(left, vec![("a".to_string(), 0)]);
        assert_eq!(w.written.lock().unwrap().len(), 1, "b written once");
        assert_eq!(w.markers(), vec![(("b".to_string(), 0), true, 0)]);
    }
}
