//! Several `gregor serve` processes on 127.0.0.1 for multi-node tests: [`Cluster`] starts N
//! combined (broker + controller) nodes, each with a PLAINTEXT and a CONTROLLER listener on
//! free ports, node ids 1..=N, one static quorum `controller.quorum.voters` naming every
//! node's CONTROLLER listener, and short timings (election 300 ms, heartbeat 200 ms, session
//! 2 s, replica lag 2 s) so failure tests stay short. Faults are the test's: [`Cluster::kill9`],
//! [`Cluster::pause`]/[`Cluster::resume`] (SIGSTOP/SIGCONT), [`Cluster::restart`] on the same
//! ports and data directory. Network faults go through [`super::proxy::Proxy`]: build the
//! cluster with [`Cluster::new`], start a proxy towards a node's controller (or broker) port,
//! point the other nodes at the proxy with [`Cluster::set`] (`controller.quorum.voters`,
//! `advertised.listeners`), then [`Cluster::start_all`].
//!
//! [`Cluster::with_brokers`] makes the first nodes controllers (combined broker + controller,
//! the voters) and the rest broker-only nodes: `process.roles=broker`, a PLAINTEXT listener
//! only, `controller.quorum.bootstrap.servers` = the controllers' CONTROLLER listeners; they
//! register, heartbeat and follow the metadata log as observers. [`Cluster::terminate`]
//! sends SIGTERM and waits (bounded) for the exit.
//!
//! The nodes form one Raft quorum (the lowest id initialises it); "listening" is not
//! "ready": a node accepts connections before it has joined the quorum and holds requests
//! until then, so tests wait for what they need (a leader, a topic) with deadlines.
//!
//! Dropping the cluster resumes paused nodes, kills every process and removes the data
//! directories (one temporary directory holds them all, plus each node's stderr log).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::broker::free_port;
use super::wait::wait_for;

/// Kafka's defaults for every timing the harness shortens (quorum, broker session,
/// replica lag and fetch): tests that measure or bound failover start with these.
pub const KAFKA_DEFAULT_TIMINGS: &[(&str, &str)] = &[
    ("controller.quorum.election.timeout.ms", "1000"),
    ("controller.quorum.fetch.timeout.ms", "2000"),
    ("controller.quorum.election.backoff.max.ms", "1000"),
    ("controller.quorum.request.timeout.ms", "2000"),
    ("broker.heartbeat.interval.ms", "2000"),
    ("broker.session.timeout.ms", "9000"),
    ("replica.lag.time.max.ms", "30000"),
    ("replica.fetch.wait.max.ms", "500"),
    ("replica.fetch.backoff.ms", "1000"),
];

/// One node's fixed identity: what `restart` reuses.
struct Node {
    id: i32,
    broker_port: u16,
    controller_port: u16,
    dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// Settings for this node only (over the cluster-wide ones).
    extra: Vec<(String, String)>,
    /// A voter (broker + controller); else broker-only.
    controller: bool,
}

/// N gregor processes (see the module doc).
pub struct Cluster {
    root: tempfile::TempDir,
    nodes: Vec<Node>,
    extra: Vec<(String, String)>,
}

/// The short timings every cluster node runs with: those of `gregor::testing::TestCluster`
/// (one definition for both harnesses, `gregor::config::TEST_CLUSTER_TIMINGS`).
const TIMINGS: &[(&str, &str)] = gregor::config::TEST_CLUSTER_TIMINGS;

impl Cluster {
    /// Starts `n` nodes and waits until each accepts connections on both listeners.
    pub fn start(n: usize) -> Cluster {
        Self::start_with(n, &[])
    }

    /// As [`Cluster::start`], with extra settings for every node (they win over the
    /// generated ones).
    pub fn start_with(n: usize, extra: &[(&str, &str)]) -> Cluster {
        let mut c = Cluster::new(n);
        for (k, v) in extra {
            c.set(None, k, v);
        }
        c.start_all();
        c
    }

    /// `n` nodes with their ports and directories chosen but no process started: a test can
    /// put proxies in front of the ports ([`Cluster::controller_port`]) and override
    /// settings ([`Cluster::set`]) before [`Cluster::start_all`].
    pub fn new(n: usize) -> Cluster {
        let root = tempfile::tempdir().expect("cluster dir");
        let nodes = (1..=n as i32)
            .map(|id| Node {
                id,
                broker_port: free_port(),
                controller_port: free_port(),
                dir: root.path().join(format!("node-{id}")),
                log: root.path().join(format!("node-{id}.log")),
                child: None,
                paused: false,
                extra: Vec::new(),
                controller: true,
            })
            .collect();
        Cluster {
            root,
            nodes,
            extra: Vec::new(),
        }
    }

    /// Adds a setting for node `i` (0-based), or for every node with `None`; later settings
    /// win. Takes effect at the node's next start.
    pub fn set(&mut self, node: Option<usize>, key: &str, value: &str) {
        let kv = (key.to_string(), value.to_string());
        match node {
            Some(i) => self.nodes[i].extra.push(kv),
            None => self.extra.push(kv),
        }
    }

    /// Starts every node not running and waits until each listens.
    pub fn start_all(&mut self) {
        let idle: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].child.is_none())
            .collect();
        for &i in &idle {
            self.spawn(i);
        }
        for &i in &idle {
            self.wait_listening(i);
        }
    }

    /// Starts node `i` (0-based) alone and waits until it listens.
    pub fn start_node(&mut self, i: usize) {
        self.spawn(i);
        self.wait_listening(i);
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `controllers` combined voters then `brokers` broker-only nodes (ids after the
    /// voters'), with no process started (see the module doc).
    pub fn with_brokers(controllers: usize, brokers: usize) -> Cluster {
        let mut c = Cluster::new(controllers + brokers);
        for n in c.nodes.iter_mut().skip(controllers) {
            n.controller = false;
        }
        c
    }

    /// Whether node `i` is a voter (else broker-only).
    pub fn is_controller(&self, i: usize) -> bool {
        self.nodes[i].controller
    }

    /// `controller.quorum.voters` of this cluster.
    pub fn voters(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.controller)
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every setting node `i` (0-based) is started with, in order (later ones win).
    pub fn settings(&self, i: usize) -> Vec<(String, String)> {
        let n = &self.nodes[i];
        if !n.controller {
            let bootstrap: Vec<String> = self
                .nodes
                .iter()
                .filter(|c| c.controller)
                .map(|c| format!("127.0.0.1:{}", c.controller_port))
                .collect();
            let mut s: Vec<(String, String)> = vec![
                ("node.id".into(), n.id.to_string()),
                ("process.roles".into(), "broker".into()),
                (
                    "listeners".into(),
                    format!("PLAINTEXT://127.0.0.1:{}", n.broker_port),
                ),
                ("controller.listener.names".into(), "CONTROLLER".into()),
                ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
                (
                    "controller.quorum.bootstrap.servers".into(),
                    bootstrap.join(","),
                ),
            ];
            s.extend(TIMINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            s.extend(self.extra.iter().cloned());
            s.extend(n.extra.iter().cloned());
            return s;
        }
        let mut s: Vec<(String, String)> = vec![
            ("node.id".into(), n.id.to_string()),
            ("process.roles".into(), "broker,controller".into()),
            (
                "listeners".into(),
                format!(
                    "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                    n.broker_port, n.controller_port
                ),
            ),
            ("controller.listener.names".into(), "CONTROLLER".into()),
            ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
            ("controller.quorum.voters".into(), self.voters()),
        ];
        s.extend(TIMINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        s.extend(self.extra.iter().cloned());
        s.extend(n.extra.iter().cloned());
        s
    }

    fn spawn(&mut self, i: usize) {
        let settings = self.settings(i);
        let n = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .expect("node log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
        cmd.arg("serve").arg("--data-dir").arg(&n.dir);
        for (k, v) in settings {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn gregor");
        n.child = Some(child);
        n.paused = false;
    }

    fn wait_listening(&mut self, i: usize) {
        let mut addrs = vec![self.broker_addr(i)];
        if self.nodes[i].controller {
            addrs.push(self.controller_addr(i));
        }
        for addr in addrs {
            let what = format!("node {} to listen on {addr}", self.nodes[i].id);
            let n = &mut self.nodes[i];
            wait_for(&what, Duration::from_secs(20), || {
                if let Some(status) = n.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    let log = std::fs::read_to_string(&n.log).unwrap_or_default();
                    panic!("node {} exited with {status}:\n{log}", n.id);
                }
                TcpStream::connect(&addr).ok()
            });
        }
    }

    /// Node `i`'s id (`i + 1`).
    pub fn id(&self, i: usize) -> i32 {
        self.nodes[i].id
    }

    /// Node `i`'s PLAINTEXT (broker) listener.
    pub fn broker_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.nodes[i].broker_port)
    }

    /// Node `i`'s CONTROLLER listener.
    pub fn controller_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.controller_port(i))
    }

    pub fn controller_port(&self, i: usize) -> u16 {
        self.nodes[i].controller_port
    }

    pub fn broker_port(&self, i: usize) -> u16 {
        self.nodes[i].broker_port
    }

    /// Every broker listener, comma-separated: a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.broker_addr(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> &Path {
        &self.nodes[i].dir
    }

    /// Node `i`'s stderr so far (for assertion messages).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    /// Whether node `i`'s process is alive (paused counts as alive).
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.nodes[i].child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Node `i`'s exit status if its process has ended (`None` while it runs).
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        self.nodes[i].child.as_mut()?.try_wait().ok().flatten()
    }

    fn signal(&self, i: usize, sig: &str) {
        if let Some(pid) = self.pid(i) {
            let ok = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill -{sig} {pid} failed");
        }
    }

    /// SIGKILL node `i` (a crash) and reap it; its data directory stays.
    pub fn kill9(&mut self, i: usize) {
        if self.nodes[i].paused {
            self.resume(i);
        }
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM node `i` and waits up to `deadline` for it to exit: its exit status, `None`
    /// if it was still running at the deadline (then it is killed).
    pub fn terminate(&mut self, i: usize, deadline: Duration) -> Option<std::process::ExitStatus> {
        self.signal(i, "TERM");
        let mut child = self.nodes[i].child.take()?;
        let end = std::time::Instant::now() + deadline;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= end {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGSTOP node `i`: it keeps its sockets but answers nothing (a long GC pause).
    pub fn pause(&mut self, i: usize) {
        self.signal(i, "STOP");
        self.nodes[i].paused = true;
    }

    /// SIGCONT node `i`.
    pub fn resume(&mut self, i: usize) {
        self.signal(i, "CONT");
        self.nodes[i].paused = false;
    }

    /// Kills node `i` if it runs, then starts it again on the same ports and data directory
    /// and waits until it listens.
    pub fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.spawn(i);
        self.wait_listening(i);
    }

    /// The temporary directory holding every node's data and log.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].paused {
                self.signal_quietly(i, "CONT");
            }
            if let Some(mut c) = self.nodes[i].child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Cluster {
    /// As `signal`, but never panics (drop may run while a test is already failing).
    fn signal_quietly(&self, i: usize, sig: &str) {
        if let Some(pid) = self.pid(i) {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status();
        }
    }
}
