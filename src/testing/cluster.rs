//! [`TestCluster`]: N gregor nodes in this process, each a voter of the metadata quorum and a
//! broker (`process.roles=broker,controller`), replicating to each other over 127.0.0.1.
//!
//! Each node has its own runtime, data directory, ports and fault rules, exactly as
//! separate processes would; only the process is shared. The ports are chosen before the
//! start (the quorum's voters name each other's CONTROLLER ports): every listener is bound on
//! port 0 first and the bound socket handed to its node, so no other program can take a port
//! between its choice and its use. A restarted node binds its ports again by number (its
//! listening sockets closed when it stopped, as a stopped process's do).

use std::sync::Arc;

use crate::node::{OAuthBearerValidator, OAuthBearerValidators};
use crate::router::faults::Faults;

use super::node::{resolve_key, Node};
use super::storage::{DataDir, Storage};
use super::{admin, Error};

/// Settings every node gets before the test's own: internal topics of one partition (as
/// [`super::TestBroker`]) and [`CLUSTER_TIMINGS`]; any of them can be set again with
/// [`TestClusterBuilder::config`].
const INTERNAL_TOPICS: &[(&str, &str)] = &[
    ("offsets.topic.num.partitions", "1"),
    ("transaction.state.log.num.partitions", "1"),
];

/// The quorum and replication timings a [`TestCluster`] runs with, scaled down for tests
/// (Kafka's defaults make a failover take tens of seconds; with these a dead leader is
/// replaced in about a second). Public so that a harness running gregor as separate processes
/// can use the same.
pub const CLUSTER_TIMINGS: &[(&str, &str)] = crate::config::TEST_CLUSTER_TIMINGS;

/// Configures and starts a [`TestCluster`]; see [`TestCluster::builder`].
#[derive(Debug, Clone)]
pub struct TestClusterBuilder {
    nodes: usize,
    props: Vec<(String, String)>,
    storage: Storage,
    oauthbearer: OAuthBearerValidators,
}

impl TestClusterBuilder {
    /// Number of nodes (default 3), with node ids 1..=n.
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n.max(1);
        self
    }

    /// A broker or topic key for every node, as [`super::TestBrokerBuilder::config`].
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.push((key.into(), value.into()));
        self
    }

    /// Where the nodes' temporary data directories live, as
    /// [`super::TestBrokerBuilder::storage`] (default: in memory when there is room).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// An OAUTHBEARER validator for every node, as
    /// [`super::TestBrokerBuilder::oauthbearer_validator`] (one instance shared by all).
    pub fn oauthbearer_validator(mut self, validator: impl OAuthBearerValidator) -> Self {
        self.oauthbearer.set_all(Arc::new(validator));
        self
    }

    /// As [`TestClusterBuilder::oauthbearer_validator`], for one listener of every node.
    pub fn listener_oauthbearer_validator(
        mut self,
        listener: &str,
        validator: impl OAuthBearerValidator,
    ) -> Self {
        self.oauthbearer.set_listener(listener, Arc::new(validator));
        self
    }

    /// Starts every node (in parallel: each waits for a quorum) and returns once all serve.
    pub fn start(self) -> Result<TestCluster, Error> {
        let mut user = Vec::new();
        for (k, v) in &self.props {
            user.push(resolve_key(k, v)?);
        }
        // Every listener bound now on port 0 and handed to its node: the voters name each
        // other's CONTROLLER ports before any node starts, and no other program can take a
        // port meanwhile.
        let sockets: Vec<std::net::TcpListener> = (0..self.nodes * 2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()
            .map_err(Error::Io)?;
        let ports: Vec<u16> = sockets
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<_, _>>()
            .map_err(Error::Io)?;
        let voters: Vec<String> = (0..self.nodes)
            .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[2 * i + 1]))
            .collect();
        let voters = voters.join(",");
        let mut slots = Vec::with_capacity(self.nodes);
        for i in 0..self.nodes {
            let mut props: Vec<(String, String)> = INTERNAL_TOPICS
                .iter()
                .chain(CLUSTER_TIMINGS)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            props.extend([
                ("node.id".to_string(), (i + 1).to_string()),
                ("process.roles".into(), "broker,controller".into()),
                (
                    "listeners".into(),
                    format!(
                        "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                        ports[2 * i],
                        ports[2 * i + 1]
                    ),
                ),
                ("controller.listener.names".into(), "CONTROLLER".into()),
                ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
                ("controller.quorum.voters".into(), voters.clone()),
            ]);
            props.extend(user.iter().cloned());
            slots.push(Slot {
                props,
                dir: DataDir::temp(self.storage)?,
                faults: Arc::new(Faults::new()),
                oauthbearer: self.oauthbearer.clone(),
                node: None,
            });
        }
        // Node i's listeners: sockets 2i (PLAINTEXT) and 2i + 1 (CONTROLLER).
        let mut sockets = sockets.into_iter();
        let bound: Vec<Vec<(String, std::net::TcpListener)>> = (0..self.nodes)
            .map(|_| {
                ["PLAINTEXT", "CONTROLLER"]
                    .into_iter()
                    .zip(sockets.by_ref())
                    .map(|(name, l)| (name.to_string(), l))
                    .collect()
            })
            .collect();
        let started: Vec<Result<Node, Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = slots
                .iter()
                .zip(bound)
                .map(|(slot, bound)| {
                    s.spawn(move || {
                        Node::start_bound(
                            &slot.props,
                            slot.dir.path(),
                            &slot.faults,
                            &slot.oauthbearer,
                            1,
                            bound,
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Request("node start panicked".into())))
                })
                .collect()
        });
        let mut cluster = TestCluster { slots };
        let mut first_error = None;
        for (slot, r) in cluster.slots.iter_mut().zip(started) {
            match r {
                Ok(n) => slot.node = Some(n),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        cluster.wait_for_brokers()?;
        Ok(cluster)
    }
}

impl TestCluster {
    /// Waits until every node sees every running node registered and unfenced.
    fn wait_for_brokers(&self) -> Result<(), Error> {
        let running = self.slots.iter().filter(|s| s.node.is_some()).count();
        for n in self.slots.iter().filter_map(|s| s.node.as_ref()) {
            let addr = n.addr().to_string();
            n.run(admin::wait_for_brokers(&addr, running))?;
        }
        Ok(())
    }
}

struct Slot {
    props: Vec<(String, String)>,
    dir: DataDir,
    faults: Arc<Faults>,
    oauthbearer: OAuthBearerValidators,
    node: Option<Node>,
}

/// Several gregor nodes in this process forming one replicated cluster (see the module
/// doc). Nodes are addressed by index `0..n`; node `i` has node id `i + 1`.
///
/// ```
/// use gregor::testing::TestCluster;
///
/// let mut cluster = TestCluster::builder().nodes(3).start().unwrap();
/// cluster.create_topic("events", 1, 3).unwrap();
/// let leader = cluster.wait_for_leader("events", 0).unwrap();
/// assert_eq!(cluster.leader_of("events", 0).unwrap(), Some(leader));
/// cluster.kill(leader).unwrap();
/// let next = cluster.wait_for_leader("events", 0).unwrap();
/// assert_ne!(next, leader);
/// cluster.restart(leader).unwrap();
/// ```
pub struct TestCluster {
    slots: Vec<Slot>,
}

impl TestCluster {
    /// A builder for three nodes with test-sized timings.
    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder {
            nodes: 3,
            props: Vec::new(),
            storage: Storage::default(),
            oauthbearer: OAuthBearerValidators::default(),
        }
    }

    /// Number of nodes (running or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cluster has no nodes (never: a cluster has at least one).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The `bootstrap.servers` value: every running node's broker listener.
    pub fn bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .slots
            .iter()
            .filter_map(|s| s.node.as_ref().map(|n| n.addr().to_string()))
            .collect();
        addrs.join(",")
    }

    /// Node `i`'s broker listener, if it runs.
    pub fn node_addr(&self, i: usize) -> Option<std::net::SocketAddr> {
        self.slots.get(i)?.node.as_ref().map(Node::addr)
    }

    /// Node `i`'s fault rules and counters.
    pub fn faults(&self, i: usize) -> Option<&Faults> {
        self.slots.get(i).map(|s| &*s.faults)
    }

    /// Node `i`'s data directory (a temporary one, removed when the cluster is dropped).
    pub fn data_dir(&self, i: usize) -> Option<&std::path::Path> {
        self.slots.get(i).map(|s| s.dir.path())
    }

    /// Whether node `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.node.is_some())
    }

    fn any_node(&self) -> Result<&Node, Error> {
        self.slots
            .iter()
            .find_map(|s| s.node.as_ref())
            .ok_or(Error::Stopped)
    }

    fn slot(&mut self, i: usize) -> Result<&mut Slot, Error> {
        self.slots
            .get_mut(i)
            .ok_or_else(|| Error::Request(format!("no node {i}")))
    }

    /// Creates a topic through a running node and waits until each partition has a leader.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<(), Error> {
        let node = self.any_node()?;
        let addr = node.addr().to_string();
        node.run(admin::create_topic(
            &addr,
            name,
            partitions,
            replication_factor,
            &[],
        ))
    }

    /// The index of the node leading a partition, as the first running node's metadata has
    /// it; `None` when it has no leader (or the topic is unknown).
    pub fn leader_of(&self, topic: &str, partition: i32) -> Result<Option<usize>, Error> {
        let node = self.any_node()?;
        let addr = node.addr().to_string();
        let leaders = node.run(admin::leaders_at(&addr, topic))?;
        let id = usize::try_from(partition)
            .ok()
            .and_then(|p| leaders.get(p).copied())
            .unwrap_or(-1);
        let index = usize::try_from(id).ok().and_then(|id| id.checked_sub(1));
        Ok(index.filter(|i| self.is_running(*i)))
    }

    /// Waits (up to 15 s) until a running node leads the partition; returns its index.
    pub fn wait_for_leader(&self, topic: &str, partition: i32) -> Result<usize, Error> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            if let Ok(Some(i)) = self.leader_of(topic, partition) {
                return Ok(i);
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::Request(format!(
                    "{topic}-{partition}: no leader within 15 s"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Stops node `i` at once, without a controlled shutdown: to the others it vanishes as
    /// a crashed process would (it still closes its files); its leaderships move once the
    /// controller fences it. No-op if it is stopped.
    pub fn kill(&mut self, i: usize) -> Result<(), Error> {
        match self.slot(i)?.node.take() {
            Some(n) => n.stop(false),
            None => Ok(()),
        }
    }

    /// Stops node `i` gracefully (controlled shutdown: its leaderships move first).
    pub fn stop(&mut self, i: usize) -> Result<(), Error> {
        match self.slot(i)?.node.take() {
            Some(n) => n.stop(true),
            None => Ok(()),
        }
    }

    /// Starts node `i` again on its data directory and ports (stopping it first if it runs).
    pub fn restart(&mut self, i: usize) -> Result<(), Error> {
        self.kill(i)?;
        let slot = self.slot(i)?;
        let node = Node::start(
            &slot.props,
            slot.dir.path(),
            &slot.faults,
            &slot.oauthbearer,
            1,
        )?;
        slot.node = Some(node);
        self.wait_for_brokers()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // All at once: a voter stopping alone waits for a quorum that is leaving too.
        let nodes: Vec<Node> = self
            .slots
            .iter_mut()
            .filter_map(|s| s.node.take())
            .collect();
        std::thread::scope(|s| {
            for n in nodes {
                s.spawn(move || {
                    if let Err(e) = n.stop(false) {
                        tracing::warn!("test cluster: unclean shutdown: {e}");
                    }
                });
            }
        });
    }
}
