//! Sends the leaders' ISR proposals to the controller (Kafka's `AlterPartitionManager` and
//! the `isr-expiration` task): every `replica.lag.time.max.ms / 2` each led partition is
//! checked for members to shrink out ([`Replica::maybe_shrink_isr`]); expansions are proposed
//! by follower fetches. Either way the replica announces (topic, partition) on the
//! [`ReplicaManager`]'s queue, and the driver sends that partition's pending request through
//! an [`AlterPartitionSender`] — the seam: AlterPartition over the network to the active
//! controller in a cluster ([`super::alter_partition_client`]), a fake in tests.
//!
//! One request per partition is in flight: a partition already being sent is skipped, and
//! the answer goes to [`Replica::on_alter_answer`]. A `Retry` outcome sends the same request
//! again after `replica.fetch.backoff.ms`-style backoff while it is still the pending one;
//! `AwaitMetadata` leaves it pending until the next image (no resend).
//!
//! Thread-safety: shared as `Arc<IsrDriver>`; the in-flight set is a short mutex.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use super::isr::{AlterIsr, CommittedIsr, Outcome};
use super::{Replica, ReplicaManager};
use crate::error::ErrorCode;
use crate::log::partition::now_ms;
use crate::metadata::Metadata;

/// One partition's AlterPartition, with who sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrCall {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub topic_id: Uuid,
    pub partition: i32,
    pub alter: AlterIsr,
    /// The broker epoch of each new ISR member as its latest fetch carried (KIP-903; absent:
    /// −1, and this node's own is `broker_epoch`).
    pub member_epochs: Vec<(i32, i64)>,
}

/// The controller's answer for one partition: a top-level error (STALE_BROKER_EPOCH,
/// NOT_CONTROLLER) or a transport failure arrives as its code too.
pub type IsrReply = std::result::Result<CommittedIsr, ErrorCode>;

/// A boxed, sendable future (the seam returns one so it stays object-safe).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The seam to the controller (see the module doc).
pub trait AlterPartitionSender: Send + Sync + 'static {
    fn send(&self, call: IsrCall) -> BoxFuture<IsrReply>;
}

/// The driver (see the module doc).
pub struct IsrDriver {
    replicas: Arc<ReplicaManager>,
    metadata: Arc<Metadata>,
    sender: Arc<dyn AlterPartitionSender>,
    node_id: i32,
    retry_backoff: Duration,
    in_flight: Mutex<HashSet<(String, i32)>>,
}

impl IsrDriver {
    pub fn new(
        replicas: Arc<ReplicaManager>,
        metadata: Arc<Metadata>,
        sender: Arc<dyn AlterPartitionSender>,
        node_id: i32,
        retry_backoff: Duration,
    ) -> Arc<IsrDriver> {
        Arc::new(IsrDriver {
            replicas,
            metadata,
            sender,
            node_id,
            retry_backoff,
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// One `isr-expiration` pass at `now_ms`: the partitions whose shrink was proposed.
    pub fn shrink_pass(&self, now_ms: i64) -> Vec<(String, i32)> {
        self.replicas
            .all()
            .into_iter()
            .filter(|r| r.maybe_shrink_isr(now_ms).is_some())
            .map(|r| (r.topic().to_string(), r.index()))
            .collect()
    }

    fn call_for(&self, r: &Replica, alter: AlterIsr) -> IsrCall {
        let broker_epoch = self
            .metadata
            .image()
            .brokers
            .get(&self.node_id)
            .map_or(-1, |b| b.epoch);
        let seen = r.follower_epochs();
        let member_epochs = alter
            .new_isr
            .iter()
            .filter_map(|id| seen.get(id).map(|e| (*id, *e)))
            .collect();
        IsrCall {
            broker_id: self.node_id,
            broker_epoch,
            topic_id: r.topic_id(),
            partition: r.index(),
            alter,
            member_epochs,
        }
    }

    /// Sends the pending request of one partition until it is answered for good, then any
    /// proposal made meanwhile (see the module doc); `None` when nothing was sent (nothing
    /// pending, or already in flight).
    pub async fn send_pending(&self, key: (String, i32)) -> Option<Outcome> {
        let r = self.replicas.get(&key.0, key.1)?;
        let mut last: Option<Outcome> = None;
        let mut last_sent: Option<AlterIsr> = None;
        loop {
            {
                let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                if !set.insert(key.clone()) {
                    return last;
                }
            }
            while let Some(alter) = r.pending_alter() {
                let again = last_sent.as_ref() == Some(&alter);
                if again && last != Some(Outcome::Retry) {
                    break; // waiting for the image
                }
                if again {
                    tokio::time::sleep(self.retry_backoff).await;
                    if r.pending_alter().as_ref() != Some(&alter) {
                        continue;
                    }
                }
                let reply = self.sender.send(self.call_for(&r, alter.clone())).await;
                last = Some(r.on_alter_answer(&alter, reply));
                last_sent = Some(alter);
            }
            self.in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            // A proposal announced while this one was in flight was skipped: send it now.
            match r.pending_alter() {
                Some(a) if last_sent.as_ref() != Some(&a) => continue,
                _ => return last,
            }
        }
    }

    /// Runs until `shutdown` resolves: a shrink pass every `interval` and a send for each
    /// announced partition.
    pub async fn run(
        self: Arc<Self>,
        mut queue: UnboundedReceiver<(String, i32)>,
        interval: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {
                    // Proposals announce themselves on the queue.
                    let _ = self.shrink_pass(now_ms());
                }
                key = queue.recv() => {
                    let Some(key) = key else { return };
                    let me = self.clone();
                    tokio::spawn(async move {
                        let _ = me.send_pending(key).await;
                    });
                }
            }
        }
    }
}
