//! The replication background work of a node: the leaders' ISR driver (`isr-expiration`
//! and AlterPartition to the active controller) and the follower side's fetchers, both over
//! the peer client, wired to the replica layer. On a standalone node neither ever has work:
//! every partition is led here and has no followers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::broker::Broker;
use crate::peer::{PeerPool, PeerSettings};
use crate::replica::fetcher::{FetcherSettings, LeaderEndPoint};
use crate::replica::fetcher_manager::FetcherManager;
use crate::replica::remote_leader::{RemoteLeader, RemoteSettings};
/// Kafka's `retry.backoff.ms` default: the wait before an AlterPartition is sent again.
const ALTER_PARTITION_RETRY: Duration = Duration::from_millis(100);

/// Drives the leaders' ISR changes (`replica::isr_driver`): the `isr-expiration` pass every
/// `replica.lag.time.max.ms / 2` and AlterPartition to the active controller over the peer
/// client, to the quorum's leader among the voters of `controller.quorum.voters` (a
/// standalone node's partitions have no followers, so it never sends one).
pub async fn run_isr(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    use crate::replica::alter_partition_client::PeerAlterPartition;
    use crate::replica::isr_driver::IsrDriver;

    let Some(queue) = broker.replicas.take_alter_queue() else {
        return;
    };
    let node_id = broker.cluster.node_id;
    let repl = &broker.cluster.replication;
    let voters = broker
        .cluster
        .voters
        .iter()
        .map(|v| (v.id, format!("{}:{}", v.host, v.port)))
        .collect();
    let pool = Arc::new(PeerPool::new(
        PeerSettings::for_node(node_id).with_connector(broker.peer_connectors.controller.clone()),
    ));
    // A broker-only node has no quorum to ask for the leader: the sender rotates over the
    // voters.
    let quorum = broker.controller.quorum().cloned();
    let sender = Arc::new(PeerAlterPartition::new(
        pool,
        voters,
        Arc::new(move || quorum.as_ref().and_then(|q| q.leader())),
        Duration::from_millis(repl.quorum_request_timeout_ms),
    ));
    let driver = IsrDriver::new(
        broker.replicas.clone(),
        broker.metadata.clone(),
        sender,
        node_id,
        ALTER_PARTITION_RETRY,
    );
    let every = Duration::from_millis(repl.replica_lag_time_max_ms / 2);
    driver
        .run(queue, every, async move {
            let _ = stop.recv().await;
        })
        .await;
}

/// Kafka's `replica.fetch.response.max.bytes` default (not a gregor key yet).
const FETCH_RESPONSE_MAX_BYTES: i32 = 10 << 20;

/// Starts following what the image says (see [`crate::replica::fetcher_manager`]): each
/// leader is reached at its endpoint for `inter.broker.listener.name`, with Fetch v15 as this
/// node's replica id and registered broker epoch (KIP-903) and the `replica.fetch.*` settings.
pub fn start_fetchers(broker: &Arc<Broker>) -> Arc<FetcherManager> {
    let node_id = broker.cluster.node_id;
    let repl = broker.cluster.replication.clone();
    let listener = broker.cluster.inter_broker_listener.clone();
    let pool = Arc::new(PeerPool::new(
        PeerSettings::for_node(node_id).with_connector(broker.peer_connectors.inter_broker.clone()),
    ));
    let metadata = broker.metadata.clone();
    let remote = RemoteSettings {
        replica_id: node_id,
        broker_epoch: crate::replica::remote_leader::BrokerEpoch(Arc::new(move || {
            metadata
                .image()
                .brokers
                .get(&node_id)
                .map_or(-1, |b| b.epoch)
        })),
        max_wait_ms: i32::try_from(repl.replica_fetch_wait_max_ms).unwrap_or(i32::MAX),
        min_bytes: repl.replica_fetch_min_bytes,
        response_max_bytes: FETCH_RESPONSE_MAX_BYTES,
        timeout: Duration::from_millis(repl.replica_socket_timeout_ms),
    };
    let factory = Arc::new(move |b: &crate::metadata::BrokerImage| {
        let (host, port) = b.endpoint(&listener)?;
        let peer = pool.get(&format!("{host}:{port}"));
        Some(Arc::new(RemoteLeader::new(peer, remote.clone())) as Arc<dyn LeaderEndPoint>)
    });
    let settings = FetcherSettings {
        partition_max_bytes: repl.replica_fetch_max_bytes,
        backoff: Duration::from_millis(repl.replica_fetch_backoff_ms),
    };
    let m = Arc::new(FetcherManager::new(node_id, factory, settings));
    broker
        .replicas
        .set_fetchers(m.clone(), &broker.metadata.image());
    m
}
