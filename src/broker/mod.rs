//! The broker's shared state, handed to every request handler: configuration, the metadata
//! image, the controller that changes it, the hosted replicas, the producer id allocator, the
//! group coordinator, the transaction coordinator and the transaction [`markers`] writer.
//!
//! Why a small struct and not a trait: handlers need a handful of concrete services; each
//! service owns its own state and locking, and this type only wires them together (start-up
//! order: logs → metadata quorum (replays the metadata log, leads, publishes to the
//! replicas) → controller → coordinators).

pub mod forward;
pub mod markers;

use std::sync::Arc;

use crate::config::{BrokerConfig, ClusterConfig};
use crate::controller::{Controller, NewTopic};
use crate::error::{Error, ErrorCode, Result};
use crate::group::GroupCoordinator;
use crate::log::{LogManager, Partition};
use crate::metadata::records::EndPoint;
use crate::metadata::{load_cluster_id, Metadata, MetadataImage, MetadataPublisher, TopicImage};
use crate::producer_ids::ProducerIds;
use crate::quorum::rpc::RpcServer;
use crate::quorum::{upgrade, Quorum, QuorumConfig};
use crate::replica::ReplicaManager;
use crate::txn::{ProducerIdSource, TxnCoordinator};
use markers::BrokerMarkers;

/// Everything a request handler may use (see the module doc).
pub struct Broker {
    /// The static configuration (`server.properties`, `--set`, flags); the one in force, with
    /// dynamic broker configs layered over it, is [`Broker::config_now`].
    pub config: BrokerConfig,
    /// Roles, listeners (with their bound ports), voters: validated at start-up.
    pub cluster: ClusterConfig,
    pub metadata: Arc<Metadata>,
    pub controller: Arc<Controller>,
    pub replicas: Arc<ReplicaManager>,
    pub producer_ids: Arc<ProducerIds>,
    pub groups: Arc<GroupCoordinator>,
    pub txns: TxnCoordinator,
    /// Writes transaction markers to this node's partitions (the coordinator and
    /// WriteTxnMarkers).
    pub markers: Arc<BrokerMarkers>,
    /// Sends controller work to the active controller when this node is not it.
    pub forwarder: Arc<forward::Forwarder>,
}

/// A block of producer ids for this node, from the active controller (blocking).
fn allocate(forwarder: &forward::Forwarder, controller: &Controller) -> Result<(i64, i64)> {
    let epoch = controller
        .metadata()
        .image()
        .brokers
        .get(&controller.node_id())
        .map_or(0, |b| b.epoch);
    forwarder.allocate_producer_ids(controller, epoch)
}

/// The endpoints a broker registers: its advertised broker listeners (no controller
/// listener: clients never reach the controller through broker metadata).
fn registered_endpoints(cluster: &ClusterConfig) -> Vec<EndPoint> {
    cluster
        .broker_endpoints()
        .map(|e| EndPoint {
            name: e.name.clone(),
            host: e.host.clone(),
            port: e.port,
            security_protocol: e.protocol.id(),
        })
        .collect()
}

impl Broker {
    /// Opens the data directory and every log in it (blocking). `cluster` is the validated
    /// cluster configuration with every listener's bound port filled in.
    pub fn open(config: BrokerConfig, cluster: ClusterConfig) -> std::io::Result<Broker> {
        Broker::open_with(config, cluster, None)
    }

    /// [`Broker::open`] for a voter of several: `rpc` answers the other voters (its
    /// listener already accepts) and holds the cluster id they agree on
    /// (`quorum::rpc::ClusterIdentity`).
    pub fn open_with(
        config: BrokerConfig,
        cluster: ClusterConfig,
        rpc: Option<Arc<RpcServer>>,
    ) -> std::io::Result<Broker> {
        let logs = LogManager::open(&config.data_dir)?;
        // Several voters: only the lowest-id voter makes the cluster id; the others learn it
        // from its first RPC (an empty image until then).
        let multi = cluster.voters.len() > 1 && cluster.roles.controller;
        let rpc = rpc.filter(|_| multi);
        let cluster_id = match &rpc {
            Some(r) => {
                let lowest = cluster.voters.iter().map(|v| v.id).min() == Some(config.node_id);
                if lowest {
                    r.identity().get_or_create()?
                } else {
                    r.identity().get().unwrap_or_default()
                }
            }
            None => load_cluster_id(&config.data_dir, config.node_id)?,
        };
        let (metadata_log, upgraded) = upgrade::open(&logs, &config)?;
        let metadata = Arc::new(Metadata::new(MetadataImage::new(cluster_id)));
        if let Some(r) = &rpc {
            r.identity().attach(metadata.clone());
        }
        let replicas = Arc::new(ReplicaManager::new(config.node_id, config.clone(), logs));
        // The voter's address: this node in `controller.quorum.voters`, else (zero-config)
        // its first advertised listener.
        let (host, port) = cluster
            .voters
            .iter()
            .find(|v| v.id == config.node_id)
            .map(|v| (v.host.clone(), v.port))
            .or_else(|| cluster.advertised.first().map(|e| (e.host.clone(), e.port)))
            .unwrap_or_default();
        let voters = if rpc.is_some() {
            cluster
                .voters
                .iter()
                .map(|v| (v.id, v.host.clone(), v.port))
                .collect()
        } else {
            vec![]
        };
        let quorum = Arc::new(Quorum::start(
            &QuorumConfig {
                node_id: config.node_id,
                host,
                port,
                election_timeout_ms: cluster.replication.quorum_election_timeout_ms,
                election_backoff_max_ms: cluster.replication.quorum_election_backoff_max_ms,
                request_timeout_ms: cluster.replication.quorum_request_timeout_ms,
                snapshot_bytes: config.metadata_snapshot_bytes,
                voters,
                rpc,
            },
            metadata_log,
            metadata.clone(),
            vec![replicas.clone() as Arc<dyn MetadataPublisher>],
        )?);
        let forwarder = Arc::new(forward::Forwarder::new(&cluster));
        let controller = Arc::new(Controller::new(config.node_id, quorum, metadata.clone()));
        if let Some(records) = upgraded {
            controller
                .commit(|_| Ok((records, ())))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            upgrade::finish(&config.data_dir)?;
        }
        controller.migrate_legacy(&config.data_dir)?;
        // Only a node with the broker role registers as a broker (a controller-only node is
        // no broker clients could be sent to, as in Kafka).
        if cluster.roles.broker {
            let rack = cluster.replication.broker_rack.clone();
            let patience = std::time::Duration::from_millis(
                cluster.replication.initial_broker_registration_timeout_ms,
            );
            forwarder
                .register_broker(&controller, registered_endpoints(&cluster), rack, patience)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        let groups = Arc::new(GroupCoordinator::open(replicas.logs(), &config)?);
        let producer_ids = Arc::new(ProducerIds::default());
        let source: ProducerIdSource = {
            let (ids, controller, fw) =
                (producer_ids.clone(), controller.clone(), forwarder.clone());
            Arc::new(move || ids.next(|| allocate(&fw, &controller)))
        };
        let markers = Arc::new(BrokerMarkers {
            metadata: metadata.clone(),
            replicas: replicas.clone(),
            groups: groups.clone(),
            refuse_topic: config.fail_markers_for.clone(),
        });
        let txns = TxnCoordinator::open(replicas.logs(), &config, source, markers.clone())?;
        Ok(Broker {
            config,
            cluster,
            metadata,
            controller,
            replicas,
            producer_ids,
            groups,
            txns,
            markers,
            forwarder,
        })
    }

    /// The configuration in force: the static one with the dynamic broker configs of the
    /// current image over it (read it per request: a dynamic change replaces it).
    pub fn config_now(&self) -> Arc<BrokerConfig> {
        self.replicas.config()
    }

    /// The host and port this node advertises on a listener, from the image (−1: none).
    pub fn advertised(&self, listener: &str) -> (String, i32) {
        let image = self.metadata.image();
        image
            .brokers
            .get(&self.config.node_id)
            .and_then(|b| b.endpoint(listener))
            .map_or((String::new(), -1), |(h, p)| (h.to_string(), p))
    }

    /// Looks a topic up, creating it with the broker defaults when `auto_create` is allowed
    /// and `auto.create.topics.enable` is on.
    pub async fn topic_or_create(
        self: &Arc<Self>,
        name: &str,
        auto_create: bool,
    ) -> Result<Arc<TopicImage>> {
        if let Some(t) = self.metadata.topic(name) {
            return Ok(t);
        }
        if !(auto_create && self.config.auto_create_topics) {
            return Err(Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("This server does not host this topic-partition: {name}"),
            ));
        }
        let topic = NewTopic {
            name: name.to_string(),
            partitions: self.config.num_partitions,
            replication_factor: self.config.default_replication_factor,
            assignments: vec![],
            configs: Default::default(),
        };
        self.blocking(move |b| match b.controller.create_topic(&topic) {
            // Lost a race with another creator: fine.
            Err(e) if e.code() == ErrorCode::TopicAlreadyExists => {
                b.metadata.topic(&topic.name).ok_or(e)
            }
            other => other,
        })
        .await
    }

    /// Runs blocking work (file creation, fsync) off the async workers.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Broker) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(Error::from)? // a panicked task: Error::Internal
    }

    /// The next producer id, reserving a block from the controller when needed (blocking).
    pub fn next_producer_id(&self) -> Result<i64> {
        self.producer_ids
            .next(|| allocate(&self.forwarder, &self.controller))
    }

    /// Every partition log: the hosted replicas' and the internal ones.
    pub fn all_logs(&self) -> Vec<Arc<Partition>> {
        let mut all = self.replicas.partition_logs();
        all.extend(self.groups.log().cloned());
        all.extend(self.txns.log().cloned());
        all.extend(self.controller.log_partition());
        all
    }

    /// Stops the metadata quorum, then closes every log cleanly and writes the
    /// clean-shutdown marker (blocking).
    pub fn shutdown(&self) -> std::io::Result<()> {
        self.controller.quorum().shutdown();
        if let Err(e) = self.replicas.write_high_watermarks() {
            tracing::error!("writing the high-watermark checkpoint failed: {e}");
        }
        self.replicas.logs().shutdown(&self.all_logs())
    }
}
