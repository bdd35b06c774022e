//! The broker's shared state, handed to every request handler: configuration, the topic
//! registry, the partition logs and the producer id allocator.
//!
//! Why a small struct and not a trait: handlers need a handful of concrete services; each
//! service owns its own state and locking, and this type only wires them together.

use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::group::GroupCoordinator;
use crate::log::{LogManager, Partition};
use crate::metadata::{Metadata, Topic};
use crate::producer_ids::ProducerIds;

/// Everything a request handler may use (see the module doc).
pub struct Broker {
    pub config: BrokerConfig,
    pub logs: LogManager,
    pub metadata: Metadata,
    pub producer_ids: ProducerIds,
    pub groups: GroupCoordinator,
    /// Host and port clients are told to connect to.
    pub advertised_host: String,
    pub advertised_port: i32,
}

impl Broker {
    /// Opens the data directory and every log in it (blocking).
    pub fn open(config: BrokerConfig) -> std::io::Result<Broker> {
        let logs = LogManager::open(&config.data_dir)?;
        let metadata = Metadata::load(&config, &logs)?;
        let producer_ids = ProducerIds::open(&config.data_dir)?;
        let groups = GroupCoordinator::open(&logs, &config)?;
        let (host, port) = config
            .advertised
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?)))
            .ok_or_else(|| {
                std::io::Error::other(format!("bad advertised address {}", config.advertised))
            })?;
        Ok(Broker {
            config,
            logs,
            metadata,
            producer_ids,
            groups,
            advertised_host: host,
            advertised_port: port,
        })
    }

    /// Sets the advertised port once the listener knows it (for `:0` listeners in tests).
    pub fn with_advertised_port(mut self, port: u16) -> Broker {
        if self.advertised_port == 0 {
            self.advertised_port = port as i32;
        }
        self
    }

    /// Looks a topic up, creating it with the broker defaults when `auto_create` is allowed
    /// and `auto.create.topics.enable` is on.
    pub async fn topic_or_create(
        self: &Arc<Self>,
        name: &str,
        auto_create: bool,
    ) -> Result<Arc<Topic>> {
        if let Some(t) = self.metadata.topic(name) {
            return Ok(t);
        }
        if !(auto_create && self.config.auto_create_topics) {
            return Err(Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("This server does not host this topic-partition: {name}"),
            ));
        }
        let me = self.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            match me.metadata.create_topic(
                &me.config,
                &me.logs,
                &name,
                me.config.num_partitions,
                Default::default(),
            ) {
                // Lost a race with another creator: fine.
                Err(e) if e.code() == ErrorCode::TopicAlreadyExists => {
                    me.metadata.topic(&name).ok_or(e)
                }
                other => other,
            }
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }

    /// Runs blocking work (file creation, fsync) off the async workers.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Broker) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }

    /// Every partition log: the topics' and the group coordinator's.
    pub fn all_logs(&self) -> Vec<Arc<Partition>> {
        let mut all = self.metadata.all_partitions();
        all.extend(self.groups.log().cloned());
        all
    }

    /// Closes every log cleanly and writes the clean-shutdown marker (blocking).
    pub fn shutdown(&self) -> std::io::Result<()> {
        self.logs.shutdown(&self.all_logs())
    }
}
