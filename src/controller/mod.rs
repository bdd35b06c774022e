//! The controller: the only writer of cluster metadata. Each admin operation checks its
//! request against the current image, turns it into [`MetadataRecord`]s and commits them
//! through the metadata quorum ([`Quorum::write`]); the quorum's state machine replays them
//! into a new image, publishes it and hands the change to the [`MetadataPublisher`]s (the
//! replica layer creates and deletes partition logs there) before the commit returns.
//!
//! Why records and not direct edits: the records are the one thing a quorum can agree on;
//! every voter replays the same records. Not the quorum's leader: NOT_CONTROLLER (the
//! broker layer forwards the request to the leader, `broker::forward`).
//!
//! Thread-safety: commits are serialised by one mutex held across validate → commit →
//! publish, so two CreateTopics of one name cannot both pass the existence check. The
//! mutex is held across the quorum write (file I/O, waiting on the Raft task): callers run
//! controller operations on blocking threads (`Broker::blocking`, `spawn_blocking`), never
//! on an async worker.

mod acls;
mod broker_configs;
pub mod brokers;
mod configs;
pub mod election;
pub mod elections;
pub mod liveness;
mod migrate;
pub mod partitions;
pub mod reassignments;
pub mod scram;
mod shutdown;
mod topics;
mod unregister;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::BrokerConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::{EndPoint, MetadataRecord};
use crate::metadata::{Metadata, MetadataImage};
use crate::quorum::Quorum;

pub use configs::{ConfigOp, TopicConfigChange};
pub use topics::{NewPartitions, NewTopic};

/// The controller (see the module doc).
pub struct Controller {
    node_id: i32,
    /// Serialises validate → commit (see the module doc).
    lock: Mutex<()>,
    /// `None` on a broker-only node: it follows the log as an observer and every write is
    /// NOT_CONTROLLER.
    quorum: Option<Arc<Quorum>>,
    metadata: Arc<Metadata>,
    /// Broker sessions of the active controller (`brokers.rs`).
    sessions: brokers::Sessions,
    /// Heartbeat connections and brokers to probe at once (`liveness.rs`).
    liveness: liveness::Liveness,
    /// This node's static configuration: the lowest layer of the configs the controller
    /// resolves itself (`unclean.leader.election.enable`, `elections.rs`).
    config: BrokerConfig,
}

/// Producer ids handed out per ProducerIdsRecord, as Kafka's controller does.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

impl Controller {
    /// The controller over a started quorum whose state machine publishes into `metadata`.
    /// `session_timeout` is `broker.session.timeout.ms`; `config` the node's static config.
    pub fn new(
        config: &BrokerConfig,
        quorum: Arc<Quorum>,
        metadata: Arc<Metadata>,
        session_timeout: Duration,
    ) -> Controller {
        Controller {
            node_id: config.node_id,
            lock: Mutex::new(()),
            quorum: Some(quorum),
            metadata,
            sessions: brokers::Sessions::new(session_timeout),
            liveness: liveness::Liveness::default(),
            config: config.clone(),
        }
    }

    /// The controller of a broker-only node: no quorum here, every write is NOT_CONTROLLER.
    pub fn absent(node_id: i32, metadata: Arc<Metadata>) -> Controller {
        Controller {
            node_id,
            lock: Mutex::new(()),
            quorum: None,
            metadata,
            sessions: brokers::Sessions::new(Duration::from_secs(9)),
            liveness: liveness::Liveness::default(),
            config: BrokerConfig::default(),
        }
    }

    /// The metadata log's partition (maintenance, checkpoints, shutdown).
    pub fn log_partition(&self) -> Option<Arc<crate::log::Partition>> {
        self.quorum.as_ref().and_then(|q| q.partition())
    }

    /// The metadata quorum (DescribeQuorum, shutdown); `None` on a broker-only node.
    pub fn quorum(&self) -> Option<&Arc<Quorum>> {
        self.quorum.as_ref()
    }

    /// The quorum, or NOT_CONTROLLER on a node without one.
    fn quorum_or_not_controller(&self) -> Result<&Arc<Quorum>> {
        self.quorum.as_ref().ok_or_else(|| {
            Error::kafka(
                ErrorCode::NotController,
                "this node is a broker only; it is not the controller",
            )
        })
    }

    /// The node this controller runs on.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn metadata(&self) -> &Arc<Metadata> {
        &self.metadata
    }

    /// Runs one operation: `f` sees the current image and returns the records to commit and
    /// a result; the records are committed, replayed and published before the result is
    /// returned (blocking).
    pub fn commit<T>(
        &self,
        f: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T)>,
    ) -> Result<T> {
        self.commit_by(None, f)
    }

    /// [`Controller::commit`] for a request with a deadline (Kafka's `ControllerRequestContext`
    /// deadline, the request's `timeout_ms`): an operation that has not started when the
    /// deadline passes — it waited behind other commits — is not run and fails with
    /// REQUEST_TIMED_OUT, as Kafka's event queue times out an event not yet dequeued. Once
    /// started it runs to its end.
    pub fn commit_by<T>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T)>,
    ) -> Result<T> {
        let _serial = self
            .lock
            .lock()
            .map_err(|_| Error::internal("controller lock poisoned by an earlier panic"))?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::kafka(
                ErrorCode::RequestTimedOut,
                "the request's timeout passed before the controller could run it",
            ));
        }
        let old = self.metadata.image();
        let (records, out) = f(&old)?;
        if records.is_empty() {
            return Ok(out);
        }
        let applied = self.quorum_or_not_controller()?.write(records)?;
        if let Some(e) = applied.publish_error {
            return Err(Error::Io(io::Error::other(e)));
        }
        Ok(out)
    }

    /// The interim private registration (32003, `broker::forward`): registers broker
    /// `node_id` unfenced with `endpoints` unless the image already says exactly that (a new
    /// broker epoch each time it changes). No gregor node sends it since BrokerRegistration.
    pub fn register_broker_interim(
        &self,
        node_id: i32,
        endpoints: Vec<EndPoint>,
        rack: Option<String>,
    ) -> Result<()> {
        self.commit(|image| {
            let current = image.brokers.get(&node_id);
            if current.is_some_and(|b| b.endpoints == endpoints && b.rack == rack) {
                return Ok((vec![], ()));
            }
            let record = MetadataRecord::RegisterBroker {
                broker_id: node_id,
                incarnation_id: uuid::Uuid::new_v4(),
                broker_epoch: current.map_or(0, |b| b.epoch + 1),
                endpoints,
                rack,
                fenced: false,
            };
            Ok((vec![record], ()))
        })
    }

    /// Reserves the next block of producer ids: `[start, end)`.
    pub fn allocate_producer_ids(&self) -> Result<(i64, i64)> {
        self.allocate_producer_ids_for(self.node_id)
    }

    /// Reserves the next block of producer ids for broker `node_id` (AllocateProducerIds).
    pub fn allocate_producer_ids_for(&self, node_id: i32) -> Result<(i64, i64)> {
        self.commit(|image| {
            let start = image.next_producer_id;
            let end = start + PRODUCER_ID_BLOCK;
            let epoch = image.brokers.get(&node_id).map_or(0, |b| b.epoch);
            let record = MetadataRecord::ProducerIds {
                broker_id: node_id,
                broker_epoch: epoch,
                next_producer_id: end,
            };
            Ok((vec![record], (start, end)))
        })
    }

    /// Converts the files of a data directory written before the metadata log existed.
    pub fn migrate_legacy(&self, data_dir: &std::path::Path) -> io::Result<()> {
        migrate::run(self, data_dir)
    }
}
