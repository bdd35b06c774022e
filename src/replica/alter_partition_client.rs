//! The network side of the [`AlterPartitionSender`] seam: AlterPartition v3 (topic ids,
//! `new_isr_with_epochs`) to the active controller over [`crate::peer`], as Kafka's
//! `AlterPartitionManager` sends it through its controller channel.
//!
//! Finding the controller: the quorum's leader as this node knows it (the hint) when it is a
//! voter; else the static quorum's voters (`controller.quorum.voters`, each at its controller
//! listener) in turn, starting with the one that answered last — a voter that is unreachable
//! or answers NOT_CONTROLLER moves the choice to the next. Every failure comes back
//! as a code the ISR state machine understands: transport failures as REQUEST_TIMED_OUT, so
//! they are retried.
//!
//! Members' broker epochs: the leader names its own registered epoch; a follower's is not
//! known before Fetch v15 (`ReplicaState.replica_epoch`), so it is sent as −1 (unchecked).
//!
//! Thread-safety: `Send + Sync`; the current choice is an atomic index.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, BrokerId};

use super::isr::CommittedIsr;
use super::isr_driver::{AlterPartitionSender, BoxFuture, IsrCall, IsrReply};
use crate::error::ErrorCode;
use crate::peer::PeerPool;

/// AlterPartition's version sent (the newest the crate knows; Kafka 3.9 serves it).
pub const VERSION: i16 = 3;

/// The sender (see the module doc).
pub struct PeerAlterPartition {
    pool: Arc<PeerPool>,
    /// Each voter's node id and `host:port` of its controller listener.
    voters: Vec<(i32, String)>,
    leader_hint: LeaderHint,
    current: Arc<AtomicUsize>,
    timeout: Duration,
}

/// The quorum leader's node id as this node knows it, if it does.
pub type LeaderHint = Arc<dyn Fn() -> Option<i32> + Send + Sync>;

impl PeerAlterPartition {
    pub fn new(
        pool: Arc<PeerPool>,
        voters: Vec<(i32, String)>,
        leader_hint: LeaderHint,
        timeout: Duration,
    ) -> PeerAlterPartition {
        PeerAlterPartition {
            pool,
            voters,
            leader_hint,
            current: Arc::new(AtomicUsize::new(0)),
            timeout,
        }
    }
}

/// The request for one call.
pub fn request(call: &IsrCall) -> AlterPartitionRequest {
    let members = call
        .alter
        .new_isr
        .iter()
        .map(|&id| {
            // Kafka's `addBrokerEpochToIsr`: our own epoch, a follower's as its fetches
            // carried it (KIP-903), −1 when unknown.
            let epoch = if id == call.broker_id {
                call.broker_epoch
            } else {
                call.member_epochs
                    .iter()
                    .find(|(m, _)| *m == id)
                    .map_or(-1, |(_, e)| *e)
            };
            BrokerState::default()
                .with_broker_id(BrokerId(id))
                .with_broker_epoch(epoch)
        })
        .collect();
    AlterPartitionRequest::default()
        .with_broker_id(BrokerId(call.broker_id))
        .with_broker_epoch(call.broker_epoch)
        .with_topics(vec![TopicData::default()
            .with_topic_id(call.topic_id)
            .with_partitions(vec![PartitionData::default()
                .with_partition_index(call.partition)
                .with_leader_epoch(call.alter.leader_epoch)
                .with_partition_epoch(call.alter.partition_epoch)
                .with_new_isr_with_epochs(members)])])
}

/// The answer for the call's partition in a response.
pub fn answer(call: &IsrCall, resp: &kafka_protocol::messages::AlterPartitionResponse) -> IsrReply {
    if resp.error_code != 0 {
        return Err(ErrorCode::from_i16(resp.error_code));
    }
    let p = resp
        .topics
        .iter()
        .filter(|t| t.topic_id == call.topic_id)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == call.partition)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    if p.error_code != 0 {
        return Err(ErrorCode::from_i16(p.error_code));
    }
    Ok(CommittedIsr {
        leader_epoch: p.leader_epoch,
        isr: p.isr.iter().map(|b| b.0).collect(),
        partition_epoch: p.partition_epoch,
    })
}

impl AlterPartitionSender for PeerAlterPartition {
    fn send(&self, call: IsrCall) -> BoxFuture<IsrReply> {
        let pool = self.pool.clone();
        let voters = self.voters.clone();
        let current = self.current.clone();
        let timeout = self.timeout;
        let hinted = (self.leader_hint)().and_then(|id| voters.iter().position(|(v, _)| *v == id));
        Box::pin(async move {
            if voters.is_empty() {
                return Err(ErrorCode::NotController);
            }
            let i = hinted.unwrap_or_else(|| current.load(Ordering::Acquire) % voters.len());
            let peer = pool.get(&voters[i].1);
            let next = || current.store((i + 1) % voters.len(), Ordering::Release);
            match peer.send(&request(&call), VERSION, timeout).await {
                Ok(resp) => {
                    let reply = answer(&call, &resp);
                    if reply == Err(ErrorCode::NotController) {
                        next();
                    }
                    reply
                }
                Err(e) => {
                    tracing::debug!("AlterPartition to {} failed: {e}", voters[i].1);
                    next();
                    Err(ErrorCode::RequestTimedOut)
                }
            }
        })
    }
}
