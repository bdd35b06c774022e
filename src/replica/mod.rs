//! The replica layer: every partition this node hosts, between the handlers and the logs.
//!
//! It owns the hosted [`Replica`]s (taken out of the metadata, which only says where
//! partitions are), answers "not hosted here" in one place ([`ReplicaManager::leader`]), keeps
//! each replica's high watermark and leader epoch, and follows the metadata image: when the
//! controller publishes a change, [`ReplicaManager::publish`] creates the logs of partitions
//! newly assigned to this node, deletes those of removed topics and applies changed topic
//! config overrides to the hosted logs — at start-up the same path opens every hosted log.
//! After each publish the follower side's fetchers ([`fetcher_manager`]) follow the image.
//! Replication's leader side is [`isr`], [`isr_driver`] and [`alter_partition_client`]; its
//! follower side [`fetcher`] and [`remote_leader`] (ARCHITECTURE.md, "Data replication").
//!
//! It also owns the broker configuration in force ([`ReplicaManager::config`]): the static
//! one with the image's dynamic broker configs (cluster default and this node's) layered over
//! it. When those change, every hosted log gets its config again, so a topic without an
//! override follows a new broker default at once, as in Kafka's `DynamicLogConfig`.
//!
//! Thread-safety: the replica map sits behind an `RwLock` held only to look up or swap
//! entries; log files are created and deleted outside it, from blocking threads. The config in
//! force is an `Arc` swapped whole under its own short lock (publishes are serialised by the
//! controller).

mod acks;
pub mod alter_partition_client;
pub mod epoch;
pub mod fetch_sessions;
pub mod fetcher;
#[cfg(test)]
mod fetcher_epoch_race_tests;
pub mod fetcher_manager;
#[cfg(test)]
mod fetcher_tests;
mod follower;
pub mod followers;
mod hosted;
pub mod hw_checkpoint;
pub mod isr;
pub mod isr_driver;
#[cfg(test)]
mod isr_tests;
mod leader_isr;
pub mod remote_leader;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use uuid::Uuid;

pub use hosted::{FetchRead, Isolation, Replica};

use crate::config::BrokerConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::log::{layout, LogManager, Partition};
use crate::metadata::{MetadataImage, MetadataPublisher, PartitionImage};

type Key = (String, i32);

/// Hosted replicas by topic name, then partition: a lookup by `&str` allocates nothing (every
/// fetch looks up each of its partitions).
type ReplicaMap = HashMap<String, HashMap<i32, Arc<Replica>>>;

/// Every hosted replica (see the module doc).
pub struct ReplicaManager {
    node_id: i32,
    /// The static configuration (`server.properties`, `--set`, flags).
    static_config: BrokerConfig,
    /// The configuration in force: static plus the image's dynamic broker configs.
    config: RwLock<Arc<BrokerConfig>>,
    logs: LogManager,
    replicas: RwLock<ReplicaMap>,
    /// The high watermarks checkpointed before this start, read once (see [`hw_checkpoint`]).
    checkpointed_hws: hw_checkpoint::HighWatermarks,
    /// Where hosted replicas announce ISR proposals, and its receiving end until the
    /// [`isr_driver::IsrDriver`] takes it.
    alter_tx: UnboundedSender<(String, i32)>,
    alter_rx: std::sync::Mutex<Option<UnboundedReceiver<(String, i32)>>>,
    /// The follower side's fetchers, once the node has set them up.
    fetchers: std::sync::OnceLock<Arc<fetcher_manager::FetcherManager>>,
    /// Partitions assigned here whose log failed to open (Kafka's `HostedPartition.Offline`:
    /// KAFKA_STORAGE_ERROR); retried on every publish.
    offline: RwLock<std::collections::HashSet<Key>>,
}

/// The coordinators' topics, whose pre-replication local partition `<topic>-0` (no
/// `partition.metadata`) is adopted rather than wiped (see [`ReplicaManager::host`]).
const ADOPTABLE: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// The topic id recorded in a partition directory's `partition.metadata`, if any.
fn recorded_topic_id(dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(dir.join("partition.metadata")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
}

impl ReplicaManager {
    pub fn new(node_id: i32, config: BrokerConfig, logs: LogManager) -> ReplicaManager {
        let (alter_tx, alter_rx) = tokio::sync::mpsc::unbounded_channel();
        ReplicaManager {
            alter_tx,
            alter_rx: std::sync::Mutex::new(Some(alter_rx)),
            fetchers: std::sync::OnceLock::new(),
            node_id,
            config: RwLock::new(Arc::new(config.clone())),
            static_config: config,
            checkpointed_hws: hw_checkpoint::read(logs.data_dir()),
            logs,
            replicas: RwLock::new(HashMap::new()),
            offline: RwLock::new(Default::default()),
        }
    }

    /// Sets the follower side's fetchers and follows what `image` says at once; every later
    /// publish keeps them in step. A second call changes nothing.
    pub fn set_fetchers(&self, m: Arc<fetcher_manager::FetcherManager>, image: &MetadataImage) {
        if self.fetchers.set(m.clone()).is_ok() {
            m.sync(image, self);
        }
    }

    /// The follower side's fetchers, if set.
    pub fn fetchers(&self) -> Option<&Arc<fetcher_manager::FetcherManager>> {
        self.fetchers.get()
    }

    /// The queue of ISR proposals, once (the [`isr_driver::IsrDriver`] drains it).
    pub fn take_alter_queue(&self) -> Option<UnboundedReceiver<(String, i32)>> {
        self.alter_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The broker configuration in force (static settings with the dynamic ones over them).
    pub fn config(&self) -> Arc<BrokerConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn logs(&self) -> &LogManager {
        &self.logs
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, ReplicaMap> {
        self.replicas.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ReplicaMap> {
        self.replicas.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The hosted replica of a partition, whatever its role.
    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Replica>> {
        self.read().get(topic)?.get(&partition).cloned()
    }

    /// The replica of a partition this node leads, or Kafka's answer for why not
    /// (`ReplicaManager.getPartitionOrError`): UNKNOWN_TOPIC_OR_PARTITION when the image
    /// does not know it, NOT_LEADER_OR_FOLLOWER when another node leads it (or this one
    /// hosts it as a follower, or has no replica of it yet), KAFKA_STORAGE_ERROR when its
    /// log failed to open.
    pub fn leader(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Replica>> {
        self.leader_at_epoch(image, topic, partition, epoch::NO_EPOCH)
    }

    /// [`leader`](Self::leader) for a request that names the leader epoch it expects
    /// (Kafka's `localLogWithEpochOrThrow`): a hosted replica's epoch is checked first
    /// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH, see [`epoch`]), then its leadership;
    /// −1 checks nothing.
    pub fn leader_at_epoch(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
    ) -> Result<Arc<Replica>> {
        let Some(p) = image.partition(topic, partition) else {
            return Err(Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("This server does not host this topic-partition: {topic}-{partition}"),
            ));
        };
        let hosted = self.get(topic, partition);
        if let Some(r) = &hosted {
            r.check_epoch(current_leader_epoch, false)?;
        }
        if p.leader != self.node_id {
            return Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                format!("This server is not the leader for {topic}-{partition}"),
            ));
        }
        hosted.ok_or_else(|| {
            let key = (topic.to_string(), partition);
            if self
                .offline
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
            {
                Error::kafka(
                    ErrorCode::KafkaStorageError,
                    format!("The log of {topic}-{partition} is not available on this node"),
                )
            } else {
                // The image is ahead of the replica layer: the client retries.
                Error::kafka(
                    ErrorCode::NotLeaderOrFollower,
                    format!("This server does not host a replica of {topic}-{partition} yet"),
                )
            }
        })
    }

    /// Writes every hosted replica's high watermark to the checkpoint (periodically and at
    /// shutdown).
    pub fn write_high_watermarks(&self) -> io::Result<()> {
        let mut entries: Vec<(String, i32, i64)> = self
            .all()
            .iter()
            .map(|r| (r.topic().to_string(), r.index(), r.high_watermark()))
            .collect();
        entries.sort();
        hw_checkpoint::write(self.logs.data_dir(), &entries)
    }

    /// Every hosted replica.
    pub fn all(&self) -> Vec<Arc<Replica>> {
        self.read()
            .values()
            .flat_map(|t| t.values().cloned())
            .collect()
    }

    /// Every hosted partition log (maintenance, checkpoints, shutdown).
    pub fn partition_logs(&self) -> Vec<Arc<Partition>> {
        self.read()
            .values()
            .flat_map(|t| t.values().map(|r| r.log().clone()))
            .collect()
    }

    /// Opens the log of a partition assigned to this node: the existing directory when it
    /// belongs to this topic id, else a new one (a leftover of a deleted topic of the same
    /// name is wiped). Partition 0 of a coordinator topic whose directory predates
    /// replication (no `partition.metadata`) is adopted: the file is written with this id
    /// and its records kept (the upgrade of a pre-replication data dir).
    fn host(
        &self,
        topic: &str,
        id: Uuid,
        index: i32,
        p: &PartitionImage,
        overrides: &std::collections::BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) -> io::Result<Arc<Replica>> {
        let dir = layout::partition_dir(self.logs.data_dir(), topic, index);
        let config = broker.log_config(overrides);
        if index == 0
            && ADOPTABLE.contains(&topic)
            && dir.is_dir()
            && !dir.join("partition.metadata").exists()
        {
            crate::fs::write_atomic(
                &dir.join("partition.metadata"),
                format!("version: 0\ntopic_id: {id}\n").as_bytes(),
            )?;
            tracing::info!("{topic}-0: pre-replication log adopted as topic id {id}");
        }
        let log = if recorded_topic_id(&dir) == Some(id) {
            self.logs.open_partition(topic, index, config)?
        } else {
            self.logs
                .create_partition(topic, index, &id.to_string(), config)?
        };
        let hw = self
            .checkpointed_hws
            .get(&(topic.to_string(), index))
            .copied();
        let r = Arc::new(Replica::new(log, id, self.node_id, p, hw));
        let _ = r.alter_sink.set(self.alter_tx.clone());
        self.set_limits(&r, overrides, broker);
        Ok(r)
    }

    /// Gives a replica its topic's `min.insync.replicas` and the broker's
    /// `replica.lag.time.max.ms`.
    fn set_limits(
        &self,
        r: &Replica,
        overrides: &std::collections::BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) {
        let min_insync = broker
            .resolve_topic(overrides)
            .get("min.insync.replicas")
            .and_then(|(v, _)| v.trim().parse::<i32>().ok())
            .unwrap_or(1);
        let lag = crate::config::ReplicationConfig::from_config(broker).replica_lag_time_max_ms;
        r.set_limits(min_insync, lag);
    }
}

impl ReplicaManager {
    /// Applies changed topic overrides or broker defaults to a hosted log at once
    /// (AlterConfigs): retention, segment size and age, max message bytes, timestamp type and
    /// flush settings are read from the log's config on every append and maintenance pass.
    fn apply_config(
        &self,
        r: &Replica,
        overrides: &std::collections::BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) {
        let config = broker.log_config(overrides);
        self.set_limits(r, overrides, broker);
        match r.log().lock() {
            Ok(mut log) => {
                if *log.config() != config {
                    log.set_config(config);
                    tracing::info!("{}-{}: config changed", r.topic(), r.index());
                }
            }
            Err(e) => tracing::error!("{}-{}: config not applied: {e}", r.topic(), r.index()),
        }
    }
}

impl MetadataPublisher for ReplicaManager {
    fn publish(&self, old: &MetadataImage, new: &MetadataImage) -> io::Result<()> {
        let node = self.node_id.to_string();
        let dynamic_changed = old.broker_configs("") != new.broker_configs("")
            || old.broker_configs(&node) != new.broker_configs(&node);
        if dynamic_changed {
            let c = self
                .static_config
                .with_dynamic(new.broker_configs(""), new.broker_configs(&node));
            *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(c);
        }
        let broker = self.config();
        let eligible = |id: i32| {
            new.brokers
                .get(&id)
                .filter(|b| !b.fenced && !b.in_controlled_shutdown)
                .map(|b| b.epoch)
        };
        // Removed first: a topic deleted and created again under its name reuses directories.
        let gone: Vec<Arc<Replica>> = {
            let mut map = self.write();
            let keys: Vec<Key> = map
                .iter()
                .flat_map(|(t, parts)| parts.iter().map(move |(i, r)| ((t, i), r)))
                .filter(|((t, i), r)| {
                    new.topic(t).is_none_or(|ti| ti.id != r.topic_id())
                        || new
                            .partition(t, **i)
                            .is_none_or(|p| !p.replicas.contains(&self.node_id))
                })
                .map(|((t, i), _)| (t.clone(), *i))
                .collect();
            let mut gone = Vec::with_capacity(keys.len());
            for (t, i) in &keys {
                if let Some(parts) = map.get_mut(t) {
                    gone.extend(parts.remove(i));
                    if parts.is_empty() {
                        map.remove(t);
                    }
                }
            }
            gone
        };
        let mut first_error = None;
        for r in gone {
            if let Err(e) = self.logs.delete_partition(r.log()) {
                tracing::error!("deleting {}-{} failed: {e}", r.topic(), r.index());
                first_error.get_or_insert(e);
            }
        }
        for t in new.topics() {
            for (i, p) in t.partitions.iter().enumerate() {
                let index = i as i32;
                if !p.replicas.contains(&self.node_id) {
                    continue;
                }
                if let Some(r) = self.get(&t.name, index) {
                    r.apply_with(p, eligible);
                    if dynamic_changed
                        || old
                            .topic(&t.name)
                            .is_some_and(|o| o.overrides != t.overrides)
                    {
                        self.apply_config(&r, &t.overrides, &broker);
                    }
                    continue;
                }
                let key = (t.name.clone(), index);
                let offline = || self.offline.write().unwrap_or_else(|p| p.into_inner());
                match self.host(&t.name, t.id, index, p, &t.overrides, &broker) {
                    Ok(r) => {
                        offline().remove(&key);
                        self.write().entry(key.0).or_default().insert(key.1, r);
                    }
                    Err(e) => {
                        tracing::error!("opening {}-{index} failed: {e}", t.name);
                        offline().insert(key);
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if let Some(m) = self.fetchers.get() {
            m.sync(new, self);
        }
        first_error.map_or(Ok(()), Err)
    }
}
