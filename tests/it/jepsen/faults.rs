//! The fault side of the Jepsen run: a seeded schedule ([`schedule`]: the same seed gives the
//! same list of faults, node choices and timings; the clients' timing around them is real and
//! not replayed) and the target it runs against ([`Target`]: the process cluster of
//! `support::cluster`, with one fault proxy per node when there are several nodes).
//!
//! Fault kinds and which targets they make sense for:
//! - [`Kind::Kill9`]: SIGKILL of a node, down for the hold time, restarted on the same ports
//!   and data. On one node this checks gregor's single-node guarantee: an acknowledged
//!   batch is in the page cache (the default flush policy never fsyncs, like Kafka's), so a
//!   process kill — not a power cut — loses nothing acknowledged;
//! - [`Kind::Pause`]: SIGSTOP for the hold time, then SIGCONT (a long GC pause);
//! - [`Kind::Isolate`] (several nodes only): every connection *into* the node (clients and
//!   followers: its advertised broker listener goes through its proxy) and every controller
//!   link to and from it (each node reaches each other voter through a proxy of its own) is
//!   blackholed for the hold time: its heartbeats stop, so the controller fences it and moves
//!   its leaderships, while it may still believe it leads. Its own fetches from other leaders
//!   pass (one advertised address per node cannot be cut for one peer only).
//!
//! A fault picks its node at random, as "the leader of partition 0" (from the cluster's
//! metadata) or as "the metadata quorum's leader" (DescribeQuorum), resolved when the fault
//! starts (on one node all three are node 0).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::clients;
use crate::support::cluster::Cluster;
use crate::support::proxy::{Mode, Proxy};
use crate::support::replicas;

/// splitmix64: a tiny seeded generator (no dependency, the same sequence everywhere).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (`lo` if the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// What a fault does (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kill9,
    Pause,
    Isolate,
}

/// Which node a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    /// Node index (0-based).
    Node(usize),
    /// The leader of partition 0 when the fault starts.
    Leader,
    /// The metadata quorum's leader (the active controller) when the fault starts.
    QuorumLeader,
}

/// One fault of the schedule: wait `gap`, apply, hold `hold`, heal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: Kind,
    pub victim: Victim,
    pub gap: Duration,
    pub hold: Duration,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.victim {
            Victim::Node(i) => format!("node {}", i + 1),
            Victim::Leader => "the leader of partition 0".to_string(),
            Victim::QuorumLeader => "the quorum leader".to_string(),
        };
        write!(
            f,
            "after {} ms: {:?} {who} for {} ms",
            self.gap.as_millis(),
            self.kind,
            self.hold.as_millis()
        )
    }
}

/// The fault kinds that make sense for `nodes` (see the module doc).
pub fn kinds_for(nodes: usize) -> Vec<Kind> {
    if nodes > 1 {
        vec![Kind::Kill9, Kind::Pause, Kind::Isolate]
    } else {
        vec![Kind::Kill9, Kind::Pause]
    }
}

/// `cycles` faults of `kinds` spread over `duration` for a cluster of `nodes`: each takes one
/// equal slot, a gap of 15–30 % of it, then a hold of 15–60 % (the rest of the slot is healed
/// time; long holds outlast the single node's message timeout, so some sends end unknown).
/// With several nodes a third of the faults hit the leader of partition 0, a third the
/// quorum leader.
pub fn schedule(
    seed: u64,
    nodes: usize,
    kinds: &[Kind],
    cycles: usize,
    duration: Duration,
) -> Vec<Fault> {
    let mut rng = Rng::new(seed);
    let slot = duration.as_millis() as u64 / cycles.max(1) as u64;
    (0..cycles)
        .map(|_| {
            let kind = kinds[rng.range(0, kinds.len() as u64 - 1) as usize];
            let victim = match (nodes > 1).then(|| rng.range(0, 2)) {
                Some(0) => Victim::Leader,
                Some(1) => Victim::QuorumLeader,
                _ => Victim::Node(rng.range(0, nodes as u64 - 1) as usize),
            };
            let gap = Duration::from_millis(rng.range(slot * 3 / 20, slot * 3 / 10));
            let hold = Duration::from_millis(rng.range(slot * 3 / 20, slot * 3 / 5));
            Fault {
                kind,
                victim,
                gap,
                hold,
            }
        })
        .collect()
}

/// The nodes under test and their fault switches.
pub struct Target {
    pub cluster: Cluster,
    /// Per node, the proxy in front of its broker listener (several nodes only).
    broker_in: Vec<Proxy>,
    /// `links[i][j]`: node `i`'s way to node `j`'s controller listener (`None` for `i == j`).
    links: Vec<Vec<Option<Proxy>>>,
}

impl Target {
    /// Starts `nodes` gregor processes; with several, every node advertises its broker
    /// listener through its own proxy and reaches every other voter through a proxy per
    /// link, so that [`Kind::Isolate`] can cut a node off.
    pub fn start(nodes: usize, settings: &[(String, String)]) -> Target {
        let mut cluster = Cluster::new(nodes);
        for (k, v) in settings {
            cluster.set(None, k, v);
        }
        let mut broker_in = Vec::new();
        let mut links = Vec::new();
        if nodes > 1 {
            let proxy = |port: u16| Proxy::start(SocketAddr::from(([127, 0, 0, 1], port)));
            broker_in = (0..nodes).map(|i| proxy(cluster.broker_port(i))).collect();
            links = (0..nodes)
                .map(|i| {
                    (0..nodes)
                        .map(|j| (i != j).then(|| proxy(cluster.controller_port(j))))
                        .collect::<Vec<_>>()
                })
                .collect();
            for i in 0..nodes {
                let voters = (0..nodes)
                    .map(|j| match &links[i][j] {
                        Some(p) => format!("{}@{}", cluster.id(j), p.addr()),
                        None => format!("{}@{}", cluster.id(j), cluster.controller_addr(j)),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                cluster.set(Some(i), "controller.quorum.voters", &voters);
                let advertised = format!("PLAINTEXT://{}", broker_in[i].addr());
                cluster.set(Some(i), "advertised.listeners", &advertised);
            }
        }
        cluster.start_all();
        Target {
            cluster,
            broker_in,
            links,
        }
    }

    /// Switches every proxy around node `i` (see [`Kind::Isolate`]).
    fn isolate(&self, i: usize, mode: Mode) {
        if let Some(b) = self.broker_in.get(i) {
            b.set_mode(mode);
        }
        for (a, row) in self.links.iter().enumerate() {
            for (b, p) in row.iter().enumerate() {
                if let (true, Some(p)) = (a == i || b == i, p) {
                    p.set_mode(mode);
                }
            }
        }
    }

    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap()
    }

    /// The node a fault hits: the leader of partition 0 of `topic` by the metadata of any
    /// node that answers (node 0 if none does).
    fn resolve(&self, victim: Victim, topic: &str) -> usize {
        match victim {
            Victim::Node(i) => i,
            Victim::Leader => {
                let c: BaseConsumer = clients::config(&self.bootstrap(), &[])
                    .create()
                    .expect("metadata client");
                c.fetch_metadata(Some(topic), Duration::from_secs(5))
                    .ok()
                    .and_then(|m| {
                        let t = m.topics().first()?;
                        let p = t.partitions().iter().find(|p| p.id() == 0)?;
                        (0..self.cluster.len()).find(|i| self.cluster.id(*i) == p.leader())
                    })
                    .unwrap_or(0)
            }
            Victim::QuorumLeader => (0..self.cluster.len())
                .find_map(|i| replicas::quorum_leader(&self.cluster.broker_addr(i)))
                .and_then(|id| (0..self.cluster.len()).find(|i| self.cluster.id(*i) == id))
                .unwrap_or(0),
        }
    }

    /// Applies `f` and returns the node it hit.
    pub fn apply(&mut self, f: &Fault, topic: &str) -> usize {
        let i = self.resolve(f.victim, topic);
        match f.kind {
            Kind::Kill9 => self.cluster.kill9(i),
            Kind::Pause => self.cluster.pause(i),
            Kind::Isolate => self.isolate(i, Mode::Blackhole),
        }
        i
    }

    /// Undoes fault `f` on node `i` (restart, SIGCONT, reconnect).
    pub fn heal(&mut self, f: &Fault, i: usize) {
        match f.kind {
            Kind::Kill9 => self.cluster.restart(i),
            Kind::Pause => self.cluster.resume(i),
            Kind::Isolate => self.isolate(i, Mode::Pass),
        }
    }
}

#[test]
fn a_seed_gives_one_schedule() {
    let k3 = kinds_for(3);
    let a = schedule(42, 3, &k3, 20, Duration::from_secs(60));
    assert_eq!(a, schedule(42, 3, &k3, 20, Duration::from_secs(60)));
    assert_ne!(a, schedule(43, 3, &k3, 20, Duration::from_secs(60)));
    assert_eq!(a.len(), 20);
    for f in &a {
        assert!(
            f.gap >= Duration::from_millis(450) && f.gap <= Duration::from_millis(900),
            "{f}"
        );
        assert!(
            f.hold >= Duration::from_millis(450) && f.hold <= Duration::from_millis(1800),
            "{f}"
        );
    }
    assert!(a.iter().any(|f| f.kind == Kind::Isolate));
    assert!(a.iter().any(|f| f.victim == Victim::Leader));
    assert!(a.iter().any(|f| f.victim == Victim::QuorumLeader));
    let one = schedule(7, 1, &kinds_for(1), 20, Duration::from_secs(20));
    assert!(one
        .iter()
        .all(|f| f.kind != Kind::Isolate && f.victim == Victim::Node(0)));
    assert!(one.iter().any(|f| f.kind == Kind::Kill9) && one.iter().any(|f| f.kind == Kind::Pause));
}
