//! The broker's shared state, handed to every request handler: configuration, the metadata
//! image, the controller that changes it, the hosted replicas, the producer id allocator, the
//! group coordinator, the transaction coordinator and the transaction [`markers`] writer.
//!
//! Why a small struct and not a trait: handlers need a handful of concrete services; each
//! service owns its own state and locking, and this type only wires them together (start-up
//! order: logs → metadata quorum (replays the metadata log, leads, publishes to the
//! replicas) → controller; the coordinators' shards are loaded for the partitions of
//! `__consumer_offsets` / `__transaction_state` this node leads, see [`coordinators`]).

pub mod controller_client;
pub mod coordinators;
pub mod envelope;
pub mod forward;
pub mod lifecycle;
pub mod markers;
pub mod peer_security;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{BrokerConfig, ClusterConfig};
use crate::controller::{Controller, NewTopic};
use crate::coordinator::shards::ShardSet;
use crate::error::{Error, ErrorCode, Result};
use crate::group::GroupCoordinator;
use crate::log::{LogManager, Partition};
use crate::metadata::records::EndPoint;
use crate::metadata::{load_cluster_id, Metadata, MetadataImage, MetadataPublisher, TopicImage};
use crate::producer_ids::ProducerIds;
use crate::quorum::observer::Observer;
use crate::quorum::rpc::RpcServer;
use crate::quorum::{upgrade, Quorum, QuorumConfig};
use crate::replica::ReplicaManager;
use crate::security::Authorizer;
use crate::txn::{ProducerIdSource, TxnCoordinator};
use controller_client::ControllerClient;
use lifecycle::{Lifecycle, LifecycleConfig, Link};
use markers::BrokerMarkers;

/// Everything a request handler may use (see the module doc).
pub struct Broker {
    /// The static configuration (`server.properties`, `--set`, flags); the one in force, with
    /// dynamic broker configs layered over it, is [`Broker::config_now`].
    pub config: BrokerConfig,
    /// Roles, listeners (with their bound ports), voters: validated at start-up.
    pub cluster: ClusterConfig,
    /// How this node's peer clients secure their connections (`peer_security`).
    pub peer_connectors: peer_security::PeerConnectors,
    pub metadata: Arc<Metadata>,
    pub controller: Arc<Controller>,
    pub replicas: Arc<ReplicaManager>,
    pub producer_ids: Arc<ProducerIds>,
    /// The group coordinator shards this node runs (one per `__consumer_offsets` partition
    /// it leads).
    pub groups: Arc<ShardSet<GroupCoordinator>>,
    /// The transaction coordinator shards (one per `__transaction_state` partition it leads).
    pub txns: Arc<ShardSet<TxnCoordinator>>,
    /// Where transaction shards take new producer ids from.
    pub producer_id_source: ProducerIdSource,
    /// Writes transaction markers to this node's partitions (the coordinator and
    /// WriteTxnMarkers).
    pub markers: Arc<BrokerMarkers>,
    /// Registration and heartbeats with the active controller (nodes with the broker role).
    pub lifecycle: Option<Arc<Lifecycle>>,
    /// A broker-only node's metadata follower (no quorum runs here).
    pub observer: Option<Arc<Observer>>,
    /// The client a broker-only node reaches the controller with (the observer's fetches).
    pub controller_client: Option<Arc<ControllerClient>>,
    /// Sends controller work to the active controller when this node is not it.
    pub forwarder: Arc<forward::Forwarder>,
    /// Fetch sessions (KIP-227), `max.incremental.fetch.session.cache.slots` of them.
    pub fetch_sessions: Arc<crate::replica::fetch_sessions::FetchSessionCache>,
    /// The ACL checks' settings (`authorizer.class.name`, `super.users`,
    /// `allow.everyone.if.no.acl.found`); the ACLs themselves are in the image.
    pub authorizer: Authorizer,
    /// Counters of SASL sessions re-authenticated and expired (KIP-368), shared by the
    /// node's SASL listeners.
    pub sasl_metrics: Arc<crate::security::sasl::SaslMetrics>,
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

/// Where a broker-only node finds the controller: `controller.quorum.bootstrap.servers`,
/// else the voters' endpoints.
pub fn controller_client_addrs(cluster: &ClusterConfig) -> Vec<String> {
    if cluster.bootstrap_servers.is_empty() {
        cluster
            .voters
            .iter()
            .map(|v| format!("{}:{}", v.host, v.port))
            .collect()
    } else {
        cluster
            .bootstrap_servers
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect()
    }
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
        let peer_connectors = peer_security::PeerConnectors::from_config(&config, &cluster)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let logs = LogManager::open(&config.data_dir)?;
        tracing::debug!(target: "gregor::start", "log manager open");
        // Several voters: only the lowest-id voter makes the cluster id, unless another voter
        // already has one; the others learn it from the first RPC (an empty image until
        // then).
        let multi = cluster.voters.len() > 1 && cluster.roles.controller;
        let rpc = rpc.filter(|_| multi);
        let cluster_id = match &rpc {
            Some(r) => {
                let lowest = cluster.voters.iter().map(|v| v.id).min() == Some(config.node_id);
                if lowest {
                    let others: Vec<String> = cluster
                        .voters
                        .iter()
                        .filter(|v| v.id != config.node_id)
                        .map(|v| format!("{}:{}", v.host, v.port))
                        .collect();
                    let timeout =
                        Duration::from_millis(cluster.replication.quorum_request_timeout_ms);
                    r.identity().discover_or_create(
                        &others,
                        timeout,
                        peer_connectors.controller.clone(),
                    )?
                } else {
                    r.identity().get().unwrap_or_default()
                }
            }
            None => load_cluster_id(&config.data_dir, config.node_id)?,
        };
        tracing::debug!(target: "gregor::start", "cluster id loaded");
        let metadata = Arc::new(Metadata::new(MetadataImage::new(cluster_id)));
        if let Some(r) = &rpc {
            r.identity().attach(metadata.clone());
        }
        let replicas = Arc::new(ReplicaManager::new(config.node_id, config.clone(), logs));
        let publishers = vec![replicas.clone() as Arc<dyn MetadataPublisher>];
        let timings = &cluster.replication;
        let (controller, observer) = if cluster.roles.controller {
            let (metadata_log, upgraded) = upgrade::open(replicas.logs(), &config)?;
            tracing::debug!(target: "gregor::start", "metadata log open");
            // The voter's address: this node in `controller.quorum.voters`, else
            // (zero-config) its first advertised listener.
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
                    election_timeout_ms: timings.quorum_election_timeout_ms,
                    fetch_timeout_ms: timings.quorum_fetch_timeout_ms,
                    election_backoff_max_ms: timings.quorum_election_backoff_max_ms,
                    request_timeout_ms: timings.quorum_request_timeout_ms,
                    snapshot_bytes: config.metadata_snapshot_bytes,
                    voters,
                    rpc: rpc.clone(),
                    catch_up_timeout_ms: timings.initial_broker_registration_timeout_ms,
                    connector: peer_connectors.controller.clone(),
                },
                metadata_log,
                metadata.clone(),
                publishers,
            )?);
            tracing::debug!(target: "gregor::start", "quorum started");
            let controller = Arc::new(Controller::new(
                &config,
                quorum,
                metadata.clone(),
                Duration::from_millis(timings.broker_session_timeout_ms.max(1)),
            ));
            if let Some(records) = upgraded {
                controller
                    .commit(|_| Ok((records, ())))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                upgrade::finish(&config.data_dir)?;
            }
            controller.migrate_legacy(&config.data_dir)?;
            (controller, None)
        } else {
            // A broker-only node runs no Raft: it follows the log as an observer.
            let log = crate::metadata::log::open(replicas.logs(), &config)?;
            let observer = Observer::open(config.node_id, log, metadata.clone(), publishers)?;
            (
                Arc::new(Controller::absent(config.node_id, metadata.clone())),
                Some(Arc::new(observer)),
            )
        };
        let forwarder = Arc::new(forward::Forwarder::new(
            &cluster,
            peer_connectors.controller.clone(),
        ));
        let controller_client = (!cluster.roles.controller).then(|| {
            Arc::new(ControllerClient::new(
                controller_client_addrs(&cluster),
                format!("gregor-broker-{}-metadata", config.node_id),
                peer_connectors.controller.clone(),
            ))
        });
        // Only a node with the broker role registers as a broker (a controller-only node is
        // no broker clients could be sent to, as in Kafka). The one voter of its own quorum
        // registers locally; a voter of several and a broker-only node send
        // BrokerRegistration/BrokerHeartbeat to the active controller over the network (a
        // voter may be a follower; its own address is one of those tried).
        let lifecycle = if cluster.roles.broker {
            let link = if cluster.roles.controller && rpc.is_none() {
                Link::Local(controller.clone())
            } else {
                // A separate connection: the observer's long-polls must not delay heartbeats.
                Link::Remote(Arc::new(ControllerClient::new(
                    controller_client_addrs(&cluster),
                    format!("gregor-broker-{}-lifecycle", config.node_id),
                    peer_connectors.controller.clone(),
                )))
            };
            let ms = |v: u64| Duration::from_millis(v.max(1));
            let lifecycle = Lifecycle::new(
                LifecycleConfig {
                    node_id: config.node_id,
                    endpoints: registered_endpoints(&cluster),
                    rack: timings.broker_rack.clone(),
                    heartbeat_interval: ms(timings.broker_heartbeat_interval_ms),
                    registration_timeout: ms(timings.initial_broker_registration_timeout_ms),
                    request_timeout: ms(timings.quorum_request_timeout_ms),
                    shutdown_timeout: ms(timings.broker_session_timeout_ms),
                },
                link,
                metadata.clone(),
            );
            lifecycle.register_local_now()?;
            tracing::debug!(target: "gregor::start", "registered");
            Some(Arc::new(lifecycle))
        } else {
            None
        };
        let groups = Arc::new(ShardSet::default());
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
            node_id: config.node_id,
            inter_broker_listener: cluster.inter_broker_listener.clone(),
            peers: crate::peer::PeerPool::new(
                crate::peer::PeerSettings::for_node(config.node_id)
                    .with_connector(peer_connectors.inter_broker.clone()),
            ),
            timeout: Duration::from_millis(timings.offsets_commit_timeout_ms),
        });
        let txns = Arc::new(ShardSet::default());
        let fetch_sessions = Arc::new(crate::replica::fetch_sessions::FetchSessionCache::new(
            config.fetch_session_cache_slots,
        ));
        Ok(Broker {
            cluster,
            peer_connectors,
            metadata,
            controller,
            replicas,
            producer_ids,
            groups,
            txns,
            producer_id_source: source,
            markers,
            lifecycle,
            observer,
            controller_client,
            forwarder,
            fetch_sessions,
            authorizer: Authorizer::from_config(&config),
            sasl_metrics: Arc::default(),
            config,
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
        // The coordinators' topics are created with their own shape (as Kafka's
        // `AutoTopicCreationManager` creates internal topics), never as a default topic.
        let internal = [
            coordinators::CoordinatorKind::Group,
            coordinators::CoordinatorKind::Txn,
        ]
        .into_iter()
        .find(|k| k.topic() == name);
        if let Some(kind) = internal.filter(|_| auto_create && self.config.auto_create_topics) {
            return self
                .internal_topic(kind)
                .await
                .map_err(|code| Error::kafka(code, format!("{name} could not be created yet")));
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
        self.create_topic_anywhere(topic).await
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

    /// Every partition log: the hosted replicas' (the coordinators' topics included) and the
    /// metadata log.
    pub fn all_logs(&self) -> Vec<Arc<Partition>> {
        let mut all = self.replicas.partition_logs();
        all.extend(self.controller.log_partition());
        all.extend(self.observer.as_ref().map(|o| o.partition().clone()));
        all
    }

    /// Stops the metadata quorum, then closes every log cleanly and writes the
    /// clean-shutdown marker (blocking).
    pub fn shutdown(&self) -> std::io::Result<()> {
        if let Some(q) = self.controller.quorum() {
            q.shutdown();
        }
        if let Err(e) = self.replicas.write_high_watermarks() {
            tracing::error!("writing the high-watermark checkpoint failed: {e}");
        }
        self.replicas.logs().shutdown(&self.all_logs())
    }
}
