//! The coordinators follow partition leadership (Kafka's `GroupCoordinatorService` /
//! `TransactionCoordinator` on `__consumer_offsets` / `__transaction_state`).
//!
//! - The internal topics are metadata topics, created through the controller on first need
//!   ([`Broker::internal_topic`]: the first FindCoordinator, or any group / transactional
//!   request that finds no topic) with `offsets.topic.num.partitions` /
//!   `transaction.state.log.num.partitions` partitions, replication factor
//!   min(configured, registered brokers) — a registered but fenced broker makes the creation
//!   wait (COORDINATOR_NOT_AVAILABLE) until it is back, as Kafka waits for enough brokers —
//!   `cleanup.policy=compact`, their segment sizes and, for
//!   `__transaction_state`, `min.insync.replicas` = `transaction.state.log.min.isr`.
//!   Upgrade: a data dir that holds the pre-replication local `<topic>-0` (no
//!   `partition.metadata`) gets the topic with one partition on this node, which adopts the
//!   directory (`replica::ReplicaManager::host`), so the stored groups and transactions keep
//!   their partition (Kafka never changes an internal topic's partition count).
//! - A key's partition is Kafka's hash ([`crate::coordinator::placement`]); FindCoordinator
//!   answers that partition's leader ([`Broker::coordinator_leader`]).
//! - [`Broker::sync_coordinators`] runs after every metadata publish (and at start-up): a
//!   partition this node leads (image and replica agree on the epoch) gets a shard, loaded by
//!   replaying the partition on a blocking thread (COORDINATOR_LOAD_IN_PROGRESS meanwhile),
//!   with coordinator epoch = leader epoch; a shard whose partition this node no longer leads
//!   at that epoch is dropped (NOT_COORDINATOR; its pending writes fail: [`ReplicaWriter`]
//!   checks the epoch and waits for commitment).
//! - Writes are durable as Kafka's: appended as the partition's leader with acks=all
//!   semantics (refused below the min ISR) and answered once the high watermark passes them
//!   ([`ReplicaWriter`], `replica::acks`), within `offsets.commit.timeout.ms`.
//!
//! Thread-safety: the shard sets are `Sync`; loads run on blocking threads and install
//! their shard only if the partition is still loading at the same epoch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Broker;
use crate::config::replication::internal_topic_replication_factor;
use crate::controller::NewTopic;
use crate::coordinator::clock::SystemClock;
use crate::coordinator::log::{AppendFuture, TxnProducer};
use crate::coordinator::partition_log::{LeaderWriter, PartitionCoordinatorLog};
use crate::coordinator::placement::partition_for;
use crate::coordinator::shards::ShardSet;
use crate::error::{Error, ErrorCode, Result};
use crate::group::store::OFFSETS_TOPIC;
use crate::group::{GroupConfig, GroupCoordinator};
use crate::log::control::ControlType;
use crate::log::layout;
use crate::metadata::{MetadataImage, TopicImage};
use crate::replica::Replica;
use crate::txn::store::TXN_TOPIC;
use crate::txn::{TxnConfig, TxnCoordinator};

/// Which coordinator (FindCoordinator's `key_type`: 0 group, 1 transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorKind {
    Group,
    Txn,
}

impl CoordinatorKind {
    /// The internal topic that holds this coordinator's state.
    pub fn topic(self) -> &'static str {
        match self {
            CoordinatorKind::Group => OFFSETS_TOPIC,
            CoordinatorKind::Txn => TXN_TOPIC,
        }
    }
}

/// How long a request waits for an internal topic created elsewhere to reach this node's
/// image before answering COORDINATOR_NOT_AVAILABLE (the client retries).
const IMAGE_WAIT: Duration = Duration::from_secs(3);

/// How long a request waits for the shard of a partition this node leads to load.
const SHARD_WAIT: Duration = Duration::from_secs(5);

/// Writes a shard's batches to its replicated partition as the leader of one epoch, and
/// answers once they are committed (see the module doc).
pub struct ReplicaWriter {
    replica: Arc<Replica>,
    epoch: i32,
    timeout: Duration,
}

impl ReplicaWriter {
    fn check_leader(&self) -> Result<()> {
        if self.replica.is_leader() && self.replica.leader_epoch() == self.epoch {
            return Ok(());
        }
        Err(Error::kafka(
            ErrorCode::NotLeaderOrFollower,
            format!(
                "no longer the leader of {}-{} in epoch {}",
                self.replica.topic(),
                self.replica.index(),
                self.epoch
            ),
        ))
    }
}

impl LeaderWriter for ReplicaWriter {
    fn append(&self, batch: Bytes) -> AppendFuture<'_> {
        Box::pin(async move {
            self.check_leader()?;
            let info = self.replica.append_as_leader(batch, -1).await?;
            self.replica
                .wait_committed(info.last_offset, self.epoch, self.timeout)
                .await
        })
    }

    fn append_marker(
        &self,
        producer: TxnProducer,
        commit: bool,
        coordinator_epoch: i32,
    ) -> AppendFuture<'_> {
        Box::pin(async move {
            self.check_leader()?;
            let info = self
                .replica
                .append_marker(
                    producer.producer_id,
                    producer.producer_epoch,
                    ControlType::from_commit(commit),
                    coordinator_epoch,
                )
                .await?;
            self.replica
                .wait_committed(info.last_offset, self.epoch, self.timeout)
                .await
        })
    }
}

/// Whether `data_dir` holds the pre-replication local partition of `topic` (a directory
/// `<topic>-0` without `partition.metadata`).
fn legacy_partition(broker: &Broker, topic: &str) -> bool {
    let dir = layout::partition_dir(&broker.config.data_dir, topic, 0);
    dir.is_dir() && !dir.join("partition.metadata").exists()
}

/// What a dropped shard releases (requests waiting on it).
trait Unload: Send + Sync + 'static {
    fn release(self: Arc<Self>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

impl Unload for GroupCoordinator {
    fn release(self: Arc<Self>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move { self.unload().await })
    }
}

/// A transaction shard's requests never wait on other requests: its writes in flight fail on
/// their own (the [`ReplicaWriter`] checks the epoch).
impl Unload for TxnCoordinator {
    fn release(self: Arc<Self>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async {})
    }
}

impl Broker {
    /// The topic `kind`'s coordinator would create now (see the module doc).
    fn internal_topic_spec(&self, kind: CoordinatorKind, image: &MetadataImage) -> NewTopic {
        let r = &self.cluster.replication;
        let (partitions, rf, configs) = match kind {
            CoordinatorKind::Group => (
                r.offsets_topic_num_partitions,
                r.offsets_topic_replication_factor,
                crate::group::store::topic_configs(&self.config),
            ),
            CoordinatorKind::Txn => (
                r.transaction_state_log_num_partitions,
                r.transaction_state_log_replication_factor,
                crate::txn::store::topic_configs(&self.config, r.transaction_state_log_min_isr),
            ),
        };
        let name = kind.topic().to_string();
        if legacy_partition(self, kind.topic()) {
            tracing::info!(
                "{name}: adopting this node's pre-replication {name}-0 as a 1-partition topic"
            );
            return NewTopic {
                name,
                partitions: 1,
                replication_factor: 1,
                assignments: vec![vec![self.config.node_id]],
                configs,
            };
        }
        NewTopic {
            name,
            partitions,
            replication_factor: internal_topic_replication_factor(rf, image.brokers.len()),
            assignments: vec![],
            configs,
        }
    }

    /// `kind`'s internal topic, created through the controller if it does not exist yet
    /// (see the module doc). COORDINATOR_NOT_AVAILABLE when it cannot be had now.
    pub async fn internal_topic(
        self: &Arc<Self>,
        kind: CoordinatorKind,
    ) -> std::result::Result<Arc<TopicImage>, ErrorCode> {
        let name = kind.topic();
        if let Some(t) = self.metadata.topic(name) {
            return Ok(t);
        }
        let spec = self.internal_topic_spec(kind, &self.metadata.image());
        self.create_topic_anywhere(spec).await.map_err(|e| {
            tracing::warn!("creating {name} failed: {e}");
            ErrorCode::CoordinatorNotAvailable
        })
    }

    /// Creates `spec` wherever this node is — on the active controller directly, from another
    /// voter through the forwarder, from a broker-only node through its controller client (as
    /// Kafka's `AutoTopicCreationManager` sends CreateTopics to the controller) — and waits
    /// up to [`IMAGE_WAIT`] for this node's image to have it. A topic that already exists is
    /// fine. Timed out: LEADER_NOT_AVAILABLE (retriable; clients ask again).
    pub async fn create_topic_anywhere(
        self: &Arc<Self>,
        spec: NewTopic,
    ) -> Result<Arc<TopicImage>> {
        let name = spec.name.clone();
        let created = match &self.controller_client {
            // A broker-only node asks the controllers (rotating past NOT_CONTROLLER).
            Some(client) => self.create_through(client, &spec).await,
            None => {
                self.blocking(move |b| b.forwarder.create_topic(&b.controller, &spec))
                    .await
            }
        };
        match created {
            Err(e) if e.code() == ErrorCode::TopicAlreadyExists => {}
            other => other?,
        }
        // Created on another node: wait for this node's image to have it.
        let deadline = Instant::now() + IMAGE_WAIT;
        loop {
            if let Some(t) = self.metadata.topic(&name) {
                return Ok(t);
            }
            if Instant::now() >= deadline {
                return Err(Error::kafka(
                    ErrorCode::LeaderNotAvailable,
                    format!("{name} is being created"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Creates `spec` with CreateTopics through a broker-only node's controller client,
    /// trying each controller address until [`IMAGE_WAIT`] runs out.
    async fn create_through(
        &self,
        client: &super::controller_client::ControllerClient,
        spec: &NewTopic,
    ) -> Result<()> {
        let timeout = Duration::from_millis(self.cluster.replication.quorum_request_timeout_ms);
        let req = super::forward::create_topics_request(spec, timeout);
        let deadline = Instant::now() + IMAGE_WAIT;
        loop {
            let outcome = match client.call(&req, 7, timeout).await {
                Ok(resp) => super::forward::create_topics_result(&resp),
                Err(e) => Err(Error::kafka(ErrorCode::RequestTimedOut, e)),
            };
            let retry = matches!(
                outcome.as_ref().map_err(|e| e.code()),
                Err(ErrorCode::NotController | ErrorCode::RequestTimedOut)
            );
            if !retry || Instant::now() >= deadline {
                return outcome;
            }
            client.rotate().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The partition of `kind`'s topic that holds `key` (the topic is created if needed).
    pub async fn coordinator_partition(
        self: &Arc<Self>,
        kind: CoordinatorKind,
        key: &str,
    ) -> std::result::Result<i32, ErrorCode> {
        let topic = self.internal_topic(kind).await?;
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        Ok(partition_for(key, count))
    }

    /// The node that coordinates `key` (FindCoordinator): the leader of its partition;
    /// COORDINATOR_NOT_AVAILABLE while it has none.
    pub async fn coordinator_leader(
        self: &Arc<Self>,
        kind: CoordinatorKind,
        key: &str,
    ) -> std::result::Result<i32, ErrorCode> {
        let partition = self.coordinator_partition(kind, key).await?;
        let image = self.metadata.image();
        match image.partition(kind.topic(), partition) {
            Some(p) if p.leader >= 0 => Ok(p.leader),
            _ => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }

    /// The group coordinator shard of `group_id`: NOT_COORDINATOR when another node leads
    /// its partition, COORDINATOR_LOAD_IN_PROGRESS while it loads here.
    pub async fn group_coordinator(
        self: &Arc<Self>,
        group_id: &str,
    ) -> std::result::Result<Arc<GroupCoordinator>, ErrorCode> {
        let p = self
            .coordinator_partition(CoordinatorKind::Group, group_id)
            .await?;
        self.await_shard(CoordinatorKind::Group, p, &self.groups)
            .await
    }

    /// The transaction coordinator shard of `transactional_id` (codes as
    /// [`group_coordinator`](Self::group_coordinator)).
    pub async fn txn_coordinator(
        self: &Arc<Self>,
        transactional_id: &str,
    ) -> std::result::Result<Arc<TxnCoordinator>, ErrorCode> {
        let p = self
            .coordinator_partition(CoordinatorKind::Txn, transactional_id)
            .await?;
        self.await_shard(CoordinatorKind::Txn, p, &self.txns).await
    }

    /// The shard of `partition`; when the image says this node leads it but the shard is
    /// not loaded yet (just created or just elected), the sync is run and the load awaited
    /// for at most [`SHARD_WAIT`], so a request right after the topic's creation is served
    /// instead of bounced. Otherwise Kafka's code at once.
    async fn await_shard<C>(
        self: &Arc<Self>,
        kind: CoordinatorKind,
        partition: i32,
        set: &ShardSet<C>,
    ) -> std::result::Result<Arc<C>, ErrorCode> {
        let deadline = Instant::now() + SHARD_WAIT;
        loop {
            let code = match set.get(partition) {
                Ok(c) => return Ok(c),
                Err(code) => code,
            };
            let leads = self
                .metadata
                .image()
                .partition(kind.topic(), partition)
                .is_some_and(|p| p.leader == self.config.node_id);
            if !leads || Instant::now() >= deadline {
                return Err(code);
            }
            self.sync_coordinators(false);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The transaction shard of `transactional_id` if this node runs it, without creating
    /// anything (the produce path's verification).
    pub fn local_txn_coordinator(&self, transactional_id: &str) -> Option<Arc<TxnCoordinator>> {
        let topic = self.metadata.topic(TXN_TOPIC)?;
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        self.txns.get(partition_for(transactional_id, count)).ok()
    }

    /// KIP-890's check on the produce path for an id whose coordinator is not a loaded
    /// shard here: AddPartitionsToTxn v4 to the leader of its `__transaction_state`
    /// partition (Kafka's `AddPartitionsToTxnManager`) — with `verify_only` (part 1), or
    /// adding the partition (`add`: Produce v12+, part 2). `Ok` when `topic`-`partition` is
    /// (now) in the producer's ongoing transaction; else the coordinator's code,
    /// COORDINATOR_NOT_AVAILABLE when it has no leader or cannot be reached,
    /// COORDINATOR_LOAD_IN_PROGRESS when this node leads it but has not loaded it yet.
    pub async fn verify_with_coordinator(
        &self,
        transactional_id: &str,
        (producer_id, producer_epoch): (i64, i16),
        topic: &str,
        partition: i32,
        add: bool,
    ) -> std::result::Result<(), ErrorCode> {
        use kafka_protocol::messages::add_partitions_to_txn_request::{
            AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
        };
        use kafka_protocol::messages::{
            AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId,
        };
        let image = self.metadata.image();
        let Some(t) = image.topic(TXN_TOPIC) else {
            return Err(ErrorCode::CoordinatorNotAvailable);
        };
        let count = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX);
        let leader = image
            .partition(TXN_TOPIC, partition_for(transactional_id, count))
            .map_or(-1, |p| p.leader);
        if leader == self.config.node_id {
            return Err(ErrorCode::CoordinatorLoadInProgress);
        }
        let Some((host, port)) = image
            .brokers
            .get(&leader)
            .filter(|b| !b.fenced)
            .and_then(|b| b.endpoint(&self.cluster.inter_broker_listener))
        else {
            return Err(ErrorCode::CoordinatorNotAvailable);
        };
        let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(transactional_id.to_string().into()))
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_verify_only(!add)
                .with_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(topic.to_string().into()))
                    .with_partitions(vec![partition])]),
        ]);
        let peer = self.markers.peers.get(&format!("{host}:{port}"));
        let timeout = Duration::from_millis(self.cluster.replication.quorum_request_timeout_ms);
        let resp = match peer.send(&req, 4, timeout).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("verifying a transaction with broker {leader}: {e}");
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
        };
        if resp.error_code != 0 {
            return Err(ErrorCode::from_i16(resp.error_code));
        }
        let code = resp
            .results_by_transaction
            .iter()
            .flat_map(|t| t.topic_results.iter())
            .flat_map(|t| t.results_by_partition.iter())
            .map(|p| p.partition_error_code)
            .next()
            .unwrap_or(ErrorCode::InvalidTxnState.code());
        match ErrorCode::from_i16(code) {
            ErrorCode::None => Ok(()),
            other => Err(other),
        }
    }

    /// Loads the shards of partitions this node now leads and drops those it no longer
    /// leads (see the module doc). With `wait` the loads run on this thread (start-up, which
    /// must be on a blocking thread); else on blocking threads of their own.
    pub fn sync_coordinators(self: &Arc<Self>, wait: bool) {
        let image = self.metadata.image();
        self.sync_kind(&image, CoordinatorKind::Group, &self.groups, wait);
        self.sync_kind(&image, CoordinatorKind::Txn, &self.txns, wait);
    }

    fn sync_kind<C: Unload>(
        self: &Arc<Self>,
        image: &MetadataImage,
        kind: CoordinatorKind,
        set: &ShardSet<C>,
        wait: bool,
    ) {
        let name = kind.topic();
        let led: Vec<(i32, i32, Arc<Replica>)> = image
            .topic(name)
            .map(|t| {
                t.partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.leader == self.config.node_id)
                    .filter_map(|(i, p)| {
                        let index = i32::try_from(i).ok()?;
                        let r = self.replicas.get(name, index)?;
                        (r.is_leader() && r.leader_epoch() == p.leader_epoch).then_some((
                            index,
                            p.leader_epoch,
                            r,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (partition, epoch) in set.partitions() {
            if !led.iter().any(|(p, e, _)| *p == partition && *e == epoch) {
                if let Some(shard) = set.unload(partition) {
                    tokio::spawn(async move { shard.release().await });
                }
                tracing::info!("{name}-{partition}: coordinator shard of epoch {epoch} unloaded");
            }
        }
        for (partition, epoch, replica) in led {
            if !set.begin_load(partition, epoch) {
                continue;
            }
            let me = self.clone();
            let job = move || me.load_shard(kind, partition, epoch, replica);
            if wait {
                job();
            } else {
                tokio::task::spawn_blocking(job);
            }
        }
    }

    /// Replays one partition into a new shard and installs it (blocking).
    fn load_shard(&self, kind: CoordinatorKind, partition: i32, epoch: i32, replica: Arc<Replica>) {
        let started = Instant::now();
        let timeout = Duration::from_millis(self.cluster.replication.offsets_commit_timeout_ms);
        let writer = Arc::new(ReplicaWriter {
            replica: replica.clone(),
            epoch,
            timeout,
        });
        let log = Arc::new(PartitionCoordinatorLog::replicated(
            replica.log().clone(),
            writer,
        ));
        let name = kind.topic();
        let loaded = match kind {
            CoordinatorKind::Group => GroupCoordinator::new(
                GroupConfig::from_broker(&self.config),
                log,
                Arc::new(SystemClock),
            )
            .map(|c| self.groups.finish_load(partition, epoch, Arc::new(c))),
            CoordinatorKind::Txn => TxnCoordinator::new(
                TxnConfig::from_broker(&self.config),
                log,
                Arc::new(SystemClock),
                self.producer_id_source.clone(),
                self.markers.clone(),
            )
            .map(|c| {
                let c = c.with_coordinator_epoch(epoch);
                self.txns.finish_load(partition, epoch, Arc::new(c))
            }),
        };
        match loaded {
            Ok(true) => tracing::info!(
                "{name}-{partition}: coordinator shard of epoch {epoch} loaded in {} ms",
                started.elapsed().as_millis()
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::error!("{name}-{partition}: loading the coordinator shard failed: {e}");
                match kind {
                    CoordinatorKind::Group => self.groups.abandon_load(partition, epoch),
                    CoordinatorKind::Txn => self.txns.abandon_load(partition, epoch),
                }
            }
        }
    }
}
