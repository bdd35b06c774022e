//! The metadata quorum: gregor's metadata log `__cluster_metadata-0` run as a Raft log with
//! openraft (why openraft and not raft-rs: ARCHITECTURE.md). Every openraft type stays in
//! this module, so the rest of gregor sees [`Quorum::write`] (commit records, blocking) and
//! [`Quorum::describe`] (DescribeQuorum's view).
//!
//! - [`types`]: the openraft type configuration.
//! - [`entry_codec`]: one entry = one Kafka record batch (metadata records, LEADER_CHANGE,
//!   KRAFT_VOTERS); Raft term = the batch's `partitionLeaderEpoch`.
//! - [`index_table`]: Raft index ↔ Kafka offset.
//! - [`log_store`]: openraft's log storage over the partition; [`quorum_state`]: the vote and
//!   the committed log id in Kafka's `quorum-state` file.
//! - [`state_machine`]: the metadata image and its publishers; [`snapshot`]: Kafka's
//!   `.checkpoint` files, taken every `metadata.log.max.record.bytes.between.snapshots`
//!   bytes of log, after which the log before them is purged; a restart loads the newest
//!   one and re-applies the committed entries after it.
//! - [`timing`]: Kafka's `controller.quorum.*` timings as openraft's election timeouts.
//! - [`network`]: the voters' transport ([`NoNetwork`](network::NoNetwork) for a quorum of
//!   one); [`rpc`] and [`rpc_codec`]: the Raft RPCs as private api keys on CONTROLLER
//!   listeners.
//! - [`observer`]: a broker-only node following the log (KRaft observer); [`serve_log`]: the
//!   leader's side of that (committed batches, snapshot files, observer table).
//! - [`upgrade`]: converting a metadata log written before the quorum.
//!
//! The voters are `controller.quorum.voters` (zero-config: this node alone). A quorum of one
//! initialises itself at first start (openraft elects the lone voter at once); a restart
//! finds its committed vote and openraft restores it as leader of that same term (else an
//! election is asked for at once). With several voters the lowest-id voter of an unformatted
//! quorum initialises all of them and the others join (cluster id agreement). A node serves
//! once it has applied everything committed in its log and, with several voters, everything
//! the quorum had committed when it rejoined (Kafka's initial catch-up, `Quorum::catch_up`),
//! so the published image is never an old one before the first request.
//!
//! Thread-safety: [`Quorum`] is `Send + Sync`; `write`, `start` and `shutdown` block on the
//! tokio runtime they were started on and must run on a blocking thread (the controller
//! runs on the blocking pool), never on an async worker.

// openraft's storage traits return its `StorageError` (about 200 bytes) by value; the
// store's helpers return what the traits must.
#![allow(clippy::result_large_err)]

pub mod entry_codec;
pub mod index_table;
pub mod log_store;
pub mod network;
pub mod observer;
pub mod quorum_state;
pub mod rpc;
pub mod rpc_codec;
pub mod serve_log;
pub mod snapshot;
pub mod state_machine;
pub mod timing;
pub mod types;
pub mod upgrade;

#[cfg(test)]
mod storage_suite;

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::runtime::Handle;

use crate::error::{Error, ErrorCode, Result};
use crate::log::Partition;
use crate::metadata::records::MetadataRecord;
use crate::metadata::{Metadata, MetadataPublisher};
use crate::peer::PeerSettings;
use log_store::LogStore;
use network::NoNetwork;
use state_machine::StateMachine;
use types::{kafka_id, raft_id, MetadataBatch, QuorumNode, Raft};

pub use serve_log::{CommittedRead, ObserverState};

pub use types::Applied;

/// How long start-up waits for this node to lead its quorum of one.
const LEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often start-up looks whether the initial metadata catch-up is done.
const CATCH_UP_POLL: Duration = Duration::from_millis(10);

/// How often a node waiting to join its quorum says so.
const JOIN_LOG_EVERY: Duration = Duration::from_secs(10);

/// Runs blocking file work from inside an async task without stalling the runtime's other
/// tasks: on a multi-threaded runtime the worker hands its queue over (`block_in_place`);
/// elsewhere (a current-thread runtime, a plain thread) `f` simply runs.
pub(crate) fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::RuntimeFlavor;
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Settings of the quorum (from the broker configuration).
#[derive(Clone)]
pub struct QuorumConfig {
    /// This node (`node.id`).
    pub node_id: i32,
    /// The address recorded for the voter (KRAFT_VOTERS endpoint).
    pub host: String,
    pub port: u16,
    /// `controller.quorum.election.timeout.ms` (Kafka's default 1000).
    pub election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms` (Kafka's default 2000): a follower that heard
    /// nothing from the leader for this long campaigns ([`timing`]).
    pub fetch_timeout_ms: u64,
    /// `controller.quorum.election.backoff.max.ms`: spreads the voters' election timeouts
    /// ([`timing`]).
    pub election_backoff_max_ms: u64,
    /// `controller.quorum.request.timeout.ms`.
    pub request_timeout_ms: u64,
    /// Every voter of `controller.quorum.voters` (id, host, port); empty or this node
    /// alone: a quorum of one without a network.
    pub voters: Vec<(i32, String, u16)>,
    /// Answers the voters' RPCs (several voters only).
    pub rpc: Option<Arc<rpc::RpcServer>>,
    /// `metadata.log.max.record.bytes.between.snapshots`: a snapshot is taken once the
    /// metadata log grew by this much since the last one.
    pub snapshot_bytes: u64,
    /// Several voters: how long start-up waits, once a leader is known, to apply what the
    /// quorum had committed (`initial.broker.registration.timeout.ms`; see
    /// [`Quorum::start`]).
    pub catch_up_timeout_ms: u64,
    /// How the other voters' controller listener is reached (TLS, SASL; `None`: plain TCP).
    pub connector: Option<Arc<dyn crate::peer::Connector>>,
}

/// DescribeQuorum's view of the quorum, in Kafka terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    pub node_id: i32,
    /// The leader, if known.
    pub leader_id: Option<i32>,
    /// The current epoch (Raft term).
    pub leader_epoch: i32,
    /// Kafka offset after the last committed entry (−1 before any commit).
    pub high_watermark: i64,
    /// This node's log end offset.
    pub log_end_offset: i64,
    pub voters: Vec<i32>,
    /// On the leader: each other voter's log end offset as far as the leader knows
    /// (the Kafka offset after its last matched entry; −1 unknown).
    pub voter_log_ends: BTreeMap<i32, i64>,
    /// Each other voter's (last fetch, last caught up) time in ms, as this node's network
    /// saw its AppendEntries answered (Kafka's DescribeQuorum timestamps; −1 unknown).
    pub voter_times: BTreeMap<i32, (i64, i64)>,
}

/// The running quorum member (see the module doc).
pub struct Quorum {
    raft: Raft,
    /// Broker-only nodes fetching the log from this leader (see [`ObserverState`]).
    observers: std::sync::Mutex<BTreeMap<i32, ObserverState>>,
    node_id: u64,
    log: LogStore,
    runtime: Handle,
    snapshot_bytes: u64,
    /// Size of the metadata log when the last snapshot was asked for.
    snapshot_mark: AtomicU64,
    /// Several voters: how long a commit may wait for a majority (a leader cut off from
    /// the others never gets one) before REQUEST_TIMED_OUT.
    write_timeout: Option<Duration>,
    /// When each other voter last answered AppendEntries (DescribeQuorum).
    progress: Arc<network::VoterProgress>,
}

impl Quorum {
    /// Opens the Raft log over `partition`, replays its committed entries into `metadata`,
    /// becomes the leader of its one-voter quorum and hands the image to `publishers`
    /// (blocking; on a blocking thread of the runtime the quorum will run on).
    pub fn start(
        config: &QuorumConfig,
        partition: Arc<Partition>,
        metadata: Arc<Metadata>,
        publishers: Vec<Arc<dyn MetadataPublisher>>,
    ) -> io::Result<Quorum> {
        let runtime = Handle::try_current()
            .map_err(|e| io::Error::other(format!("the quorum needs a tokio runtime: {e}")))?;
        let id = raft_id(config.node_id);
        let log = LogStore::open(partition)?;
        let sm = StateMachine::new(metadata, publishers, log.clone());
        sm.load_latest_snapshot()?;
        tracing::debug!(target: "gregor::start", "quorum: log store and snapshot loaded");
        let multi = config.voters.len() > 1;
        let timings = if multi {
            let rank = config
                .voters
                .iter()
                .filter(|v| v.0 < config.node_id)
                .count();
            timing::several_voters(
                config.fetch_timeout_ms,
                config.election_backoff_max_ms,
                rank as u64,
                config.voters.len() as u64,
            )
        } else {
            timing::one_voter(config.election_timeout_ms)
        };
        let raft_config = openraft::Config {
            cluster_name: "gregor".into(),
            election_timeout_min: timings.election_timeout_min,
            election_timeout_max: timings.election_timeout_max,
            heartbeat_interval: timings.heartbeat_interval,
            install_snapshot_timeout: config.request_timeout_ms.max(200),
            // gregor asks for snapshots by bytes, as Kafka does (`maybe_snapshot`, on the
            // leader after a commit and on every node from the maintenance task), and the
            // log before one goes at once: a voter behind it gets the snapshot
            // (InstallSnapshot), as a Kafka follower behind the log start fetches one.
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        }
        .validate()
        .map_err(|e| io::Error::other(e.to_string()))?;
        let raft_config = Arc::new(raft_config);
        let progress = Arc::new(network::VoterProgress::default());
        let raft = match (&config.rpc, multi) {
            (Some(server), true) => {
                let network = network::TcpNetwork {
                    addresses: Arc::new(
                        config
                            .voters
                            .iter()
                            .map(|(id, h, p)| (raft_id(*id), format!("{h}:{p}")))
                            .collect(),
                    ),
                    identity: server.identity().clone(),
                    settings: Arc::new(
                        PeerSettings::for_node(config.node_id)
                            .with_connector(config.connector.clone()),
                    ),
                    request_timeout: Duration::from_millis(config.request_timeout_ms.max(100)),
                    progress: progress.clone(),
                };
                let raft = runtime
                    .block_on(Raft::new(id, raft_config, network, log.clone(), sm.clone()))
                    .map_err(|e| io::Error::other(format!("starting the metadata quorum: {e}")))?;
                server.attach(raft.clone());
                raft
            }
            _ => runtime
                .block_on(Raft::new(
                    id,
                    raft_config,
                    NoNetwork,
                    log.clone(),
                    sm.clone(),
                ))
                .map_err(|e| io::Error::other(format!("starting the metadata quorum: {e}")))?,
        };
        tracing::debug!(target: "gregor::start", "quorum: raft created");
        let q = Quorum {
            raft,
            observers: Default::default(),
            node_id: id,
            snapshot_mark: AtomicU64::new(log.size_bytes()),
            log,
            runtime,
            snapshot_bytes: config.snapshot_bytes.max(1),
            progress,
            write_timeout: multi
                .then(|| Duration::from_millis(config.request_timeout_ms.max(100) * 5)),
        };
        if multi {
            q.join(config)?;
            if let Some(rpc) = &config.rpc {
                q.catch_up(
                    rpc,
                    Duration::from_millis(config.catch_up_timeout_ms.max(1)),
                )?;
            }
        } else {
            q.lead(config)?;
        }
        tracing::debug!(target: "gregor::start", "quorum: led");
        sm.go_live()?;
        Ok(q)
    }

    /// Initialises the quorum on first start, else asks for an election now; then waits
    /// until this node leads and has applied everything in its log.
    fn lead(&self, config: &QuorumConfig) -> io::Result<()> {
        let err = |e: &dyn std::fmt::Display| io::Error::other(format!("metadata quorum: {e}"));
        let initialized = self
            .runtime
            .block_on(self.raft.is_initialized())
            .map_err(|e| err(&e))?;
        if initialized {
            self.runtime
                .block_on(self.raft.trigger().elect())
                .map_err(|e| err(&e))?;
        } else {
            let node = QuorumNode {
                host: config.host.clone(),
                port: config.port,
            };
            self.runtime
                .block_on(self.raft.initialize(BTreeMap::from([(self.node_id, node)])))
                .map_err(|e| err(&e))?;
        }
        let id = self.node_id;
        self.runtime
            .block_on(self.raft.wait(Some(LEAD_TIMEOUT)).metrics(
                |m| {
                    m.current_leader == Some(id)
                        && m.last_log_index.is_some()
                        && m.last_applied.map(|l| l.index) == m.last_log_index
                },
                "this node leads and has applied its log",
            ))
            .map_err(|e| err(&e))?;
        Ok(())
    }

    /// Several voters: the lowest-id voter initialises an uninitialised quorum with every
    /// voter (the others wait for its RPCs); then waits, without a deadline, until a leader
    /// is known and this node has applied its whole log.
    ///
    /// A voter that has adopted the cluster id (so the lowest-id voter did start) but has
    /// still no membership after a few election timeouts initialises itself with the same
    /// static voter set: the lowest-id voter may have died before replicating it, and with
    /// `controller.quorum.voters` every voter knows the set, as every Kafka voter does.
    /// openraft allows `initialize` on several nodes with an identical membership (the
    /// vote decides one leader); a node that got the membership meanwhile refuses it.
    fn join(&self, config: &QuorumConfig) -> io::Result<()> {
        let err = |e: &dyn std::fmt::Display| io::Error::other(format!("metadata quorum: {e}"));
        let members: BTreeMap<u64, QuorumNode> = config
            .voters
            .iter()
            .map(|(id, host, port)| {
                let node = QuorumNode {
                    host: host.clone(),
                    port: *port,
                };
                (raft_id(*id), node)
            })
            .collect();
        let initialized = |q: &Quorum| {
            q.runtime
                .block_on(q.raft.is_initialized())
                .map_err(|e| err(&e))
        };
        let lowest = config.voters.iter().map(|v| v.0).min() == Some(config.node_id);
        if !initialized(self)? && lowest {
            tracing::info!(
                "initialising the metadata quorum with voters {:?}",
                members.keys()
            );
            self.runtime
                .block_on(self.raft.initialize(members.clone()))
                .map_err(|e| err(&e))?;
        }
        let identity = config.rpc.as_ref().map(|s| s.identity().clone());
        let step = Duration::from_millis(
            (config.election_timeout_ms + config.election_backoff_max_ms).max(100) * 3,
        )
        .min(JOIN_LOG_EVERY);
        let mut waited = Duration::ZERO;
        loop {
            let ready = self.runtime.block_on(self.raft.wait(Some(step)).metrics(
                |m| {
                    m.current_leader.is_some()
                        && m.last_log_index.is_some()
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                },
                "a leader is known and this node has applied its log",
            ));
            match ready {
                Ok(_) => return Ok(()),
                Err(openraft::metrics::WaitError::Timeout(..)) => {}
                Err(e) => return Err(err(&e)),
            }
            let adopted = identity.as_ref().is_some_and(|i| i.get().is_some());
            if adopted && !initialized(self)? {
                tracing::info!(
                    "the cluster id is known but no membership came: initialising with the static voters {:?}",
                    members.keys()
                );
                if let Err(e) = self.runtime.block_on(self.raft.initialize(members.clone())) {
                    tracing::info!("initialising the metadata quorum: {e}");
                }
            }
            waited += step;
            if waited >= JOIN_LOG_EVERY {
                waited = Duration::ZERO;
                tracing::info!("waiting for the metadata quorum to elect a leader");
            }
        }
    }

    /// Kafka's initial metadata catch-up (the `MetadataLoader` publishes nothing, and the
    /// broker serves nothing, until the image reaches the quorum's high watermark): after
    /// [`join`](Self::join) a restarted voter may know a leader while its image is still
    /// its own old log. It waits until it has applied what the quorum had committed — as a
    /// follower, the highest `leader_commit` a leader's AppendEntries carried
    /// ([`rpc::RpcServer::leader_commit`]); as the leader (openraft restores a leader from
    /// its committed vote), until a majority acknowledged its vote and its whole log is
    /// applied. Blocking; `timeout` passed without it: an error, start-up fails (Kafka
    /// fails start-up when its startup deadline passes first).
    fn catch_up(&self, rpc: &rpc::RpcServer, timeout: Duration) -> io::Result<()> {
        let started = std::time::Instant::now();
        let mut said = started;
        let index = |i: u64| i64::try_from(i).unwrap_or(i64::MAX);
        loop {
            let m = self.raft.metrics().borrow().clone();
            let applied = m.last_applied.map_or(-1, |l| index(l.index));
            let (done, target) = match m.current_leader {
                Some(l) if l == self.node_id => {
                    let end = m.last_log_index.map_or(-1, index);
                    (m.millis_since_quorum_ack.is_some() && applied >= end, end)
                }
                Some(_) => {
                    let commit = rpc.leader_commit();
                    (commit != rpc::NOTHING_HEARD && applied >= commit, commit)
                }
                None => (false, rpc::NOTHING_HEARD),
            };
            if done {
                tracing::info!(
                    "caught up with the metadata quorum: applied index {applied} (leader's commit {target}) after {} ms",
                    started.elapsed().as_millis()
                );
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "did not catch up with the metadata quorum within {} ms (applied index {applied}, leader's commit {target}); not serving from a stale image",
                        timeout.as_millis()
                    ),
                ));
            }
            if said.elapsed() >= JOIN_LOG_EVERY {
                said = std::time::Instant::now();
                tracing::info!(
                    "waiting for the initial metadata catch-up: applied index {applied}, leader's commit {target}"
                );
            }
            std::thread::sleep(CATCH_UP_POLL);
        }
    }

    /// The current leader's node id, if known.
    pub fn leader(&self) -> Option<i32> {
        self.raft.metrics().borrow().current_leader.map(kafka_id)
    }

    /// Commits `records` as one entry and returns once it is applied here (its image
    /// published). Blocking; not on an async worker. Not the leader: NOT_CONTROLLER; no
    /// majority within the write timeout (several voters): REQUEST_TIMED_OUT, the entry's
    /// fate unknown (a later leader may still commit it, or drop it).
    pub fn write(&self, records: Vec<MetadataRecord>) -> Result<Applied> {
        let write = self.raft.client_write(MetadataBatch { records });
        let result = match self.write_timeout {
            None => self.runtime.block_on(write),
            Some(t) => match self
                .runtime
                .block_on(async { tokio::time::timeout(t, write).await })
            {
                Ok(r) => r,
                Err(_) => {
                    return Err(Error::kafka(
                        ErrorCode::RequestTimedOut,
                        format!("the metadata quorum did not commit within {t:?}"),
                    ))
                }
            },
        };
        match result {
            Ok(resp) => {
                self.maybe_snapshot();
                Ok(resp.data)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(Error::kafka(
                ErrorCode::NotController,
                format!(
                    "this node is not the active controller (leader: {:?})",
                    f.leader_id.map(kafka_id)
                ),
            )),
            Err(RaftError::APIError(e)) => Err(Error::internal(format!("metadata quorum: {e}"))),
            Err(RaftError::Fatal(e)) => Err(Error::kafka(
                ErrorCode::NotController,
                format!("the metadata quorum is stopped: {e}"),
            )),
        }
    }

    /// Asks openraft for a snapshot once the log grew by `snapshot_bytes` since the last
    /// request (Kafka's `metadata.log.max.record.bytes.between.snapshots`); blocking. The
    /// leader asks after its commits, the maintenance task on every node (followers too). The snapshot is
    /// built in the background; the log before it is purged once it is written.
    pub fn maybe_snapshot(&self) {
        let size = self.log.size_bytes();
        let mark = self.snapshot_mark.load(Ordering::Relaxed);
        if size.saturating_sub(mark) < self.snapshot_bytes {
            return;
        }
        self.snapshot_mark.store(size, Ordering::Relaxed);
        if let Err(e) = self.runtime.block_on(self.raft.trigger().snapshot()) {
            tracing::warn!("asking for a metadata snapshot: {e}");
        }
    }

    /// The quorum as DescribeQuorum reports it.
    pub fn describe(&self) -> QuorumView {
        let m = self.raft.metrics().borrow().clone();
        let committed = self.log.committed();
        QuorumView {
            node_id: kafka_id(self.node_id),
            leader_id: m.current_leader.map(kafka_id),
            leader_epoch: i32::try_from(m.current_term).unwrap_or(i32::MAX),
            high_watermark: committed.map_or(-1, |c| self.log.end_offset_of(c.index)),
            log_end_offset: self.log.position().log_end_offset,
            voters: m
                .membership_config
                .membership()
                .voter_ids()
                .map(kafka_id)
                .collect(),
            voter_times: self
                .progress
                .snapshot()
                .into_iter()
                .map(|(id, t)| (kafka_id(id), t))
                .collect(),
            voter_log_ends: m
                .replication
                .iter()
                .flatten()
                .map(|(id, matched)| {
                    let end = (*matched).map_or(-1, |l| self.log.end_offset_of(l.index));
                    (kafka_id(*id), end)
                })
                .collect(),
        }
    }

    /// Kafka offset the next committed batch will get (the log end offset now): a broker
    /// epoch is taken from it (unique and increasing, as Kafka's record offsets).
    pub fn next_offset(&self) -> i64 {
        self.log.position().log_end_offset
    }

    /// Kafka offset after the last committed entry (0 before any commit).
    pub fn high_watermark(&self) -> i64 {
        self.log
            .committed()
            .map_or(0, |c| self.log.end_offset_of(c.index).max(0))
    }

    /// A watch of "this node leads the quorum", following openraft's metrics (the heartbeat
    /// manager of the controller starts and stops with it). Needs the runtime.
    pub fn leadership(&self) -> tokio::sync::watch::Receiver<bool> {
        let mut metrics = self.raft.metrics();
        let id = self.node_id;
        let (tx, rx) = tokio::sync::watch::channel(metrics.borrow().current_leader == Some(id));
        self.runtime.spawn(async move {
            loop {
                let leads = metrics.borrow_and_update().current_leader == Some(id);
                tx.send_if_modified(|v| std::mem::replace(v, leads) != leads);
                tokio::select! {
                    changed = metrics.changed() => if changed.is_err() { break },
                    _ = tx.closed() => break,
                }
            }
            tx.send_replace(false);
        });
        rx
    }

    /// Whether this node is the leader now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    /// The partition log holding the Raft log.
    pub fn partition(&self) -> Option<Arc<Partition>> {
        self.log.partition()
    }

    /// Stops the Raft tasks (blocking).
    pub fn shutdown(&self) {
        if let Err(e) = self.runtime.block_on(self.raft.shutdown()) {
            tracing::warn!("stopping the metadata quorum: {e}");
        }
    }
}
