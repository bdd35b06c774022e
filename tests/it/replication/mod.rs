//! Live partition replication on real three-node clusters (issue 13): three combined
//! `gregor serve` processes (`support::cluster`, short timings: session 2 s, replica lag 2 s),
//! RF-3 or RF-2 topics, faults injected by the tests (kill -9, SIGSTOP, a proxy isolating a
//! node), every assertion on the records themselves:
//! - [`failover`]: kill -9 of a leader under an idempotent acks=all producer loses and
//!   duplicates nothing and the restarted node's log equals the leader's byte for byte; an
//!   RF-2 leader alone in its ISR dies → the partition is leaderless (no unclean election)
//!   and nothing is lost when it returns;
//! - [`isr`]: a paused follower leaves the ISR and comes back; with both followers gone
//!   acks=all is refused with NOT_ENOUGH_REPLICAS and acks=1 is accepted without moving the
//!   high watermark until a follower returns;
//! - [`isolation`]: a leader cut from the controller keeps taking acks=1 writes, is fenced,
//!   and on healing truncates them away by diverging epoch while every acks=all write
//!   survives on all three replicas;
//! - [`leader_hints`]: a follower refusing a Produce names the leader and its endpoint
//!   (KIP-951);
//! - [`pipelined`]: acks=all Produce requests pipelined on one connection are answered in
//!   order, each once committed, and another request behind them only after them all;
//! - [`restart`]: a node restarted after its leadership moved away answers Metadata and
//!   Produce only from the caught-up image (a voter and a broker-only node).
//! - [`secured`]: every listener SASL_SSL (PLAIN) or SSL with mTLS, or SCRAM between
//!   brokers: replication, failover and the quorum over authenticated TLS; a wrong
//!   inter-broker password keeps a node out.

mod failover;
mod isolation;
mod isr;
mod leader_hints;
mod pipelined;
mod restart;
mod secured;

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::cluster::Cluster;
use crate::support::proxy::{Mode, Proxy};
use crate::support::replicas::{self, PartState};
use crate::support::wait_for;

/// How long a test waits for an election, a fencing, a catch-up.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Starts a 3-node cluster (with `extra` settings) and waits for every broker to register.
pub fn three_nodes(extra: &[(&str, &str)]) -> Cluster {
    let c = Cluster::start_with(3, extra);
    replicas::wait_brokers(&c.broker_addr(0), 3, PATIENCE);
    c
}

/// Creates `topic` (partitions, replication factor, configs) through node 0, retrying while
/// the controller is not ready, and waits until partition 0 has a leader and a full ISR.
pub fn create(c: &Cluster, topic: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) {
    let addr = c.broker_addr(0);
    wait_for(
        &format!("{topic} created"),
        PATIENCE,
        || match replicas::create_topic(&addr, topic, partitions, rf, configs) {
            Some(0) | Some(36) => Some(()),
            _ => None,
        },
    );
    for p in 0..partitions {
        state_where(c, topic, p, "a leader and a full ISR", |s| {
            s.leader >= 0 && s.isr.len() == rf as usize
        });
    }
}

/// Polls the Metadata of every running node until one answers with partition `p` of `topic`
/// satisfying `ok`; returns that state.
pub fn state_where(
    c: &Cluster,
    topic: &str,
    p: i32,
    what: &str,
    ok: impl Fn(&PartState) -> bool,
) -> PartState {
    let all: Vec<usize> = (0..c.len()).collect();
    state_on(c, &all, topic, p, what, ok)
}

/// As [`state_where`], asking only the nodes `on` (a node just restarted answers from its
/// own image until it has caught up with the metadata log).
pub fn state_on(
    c: &Cluster,
    on: &[usize],
    topic: &str,
    p: i32,
    what: &str,
    ok: impl Fn(&PartState) -> bool,
) -> PartState {
    let mut last = None;
    let found = crate::support::wait::poll(PATIENCE, || {
        for &i in on {
            if let Some(s) = replicas::partition(&c.broker_addr(i), topic, p) {
                if ok(&s) {
                    return Some(s);
                }
                last = Some(s);
            }
        }
        None
    });
    found.unwrap_or_else(|| panic!("{topic}-{p}: timed out waiting for {what}; last seen {last:?}"))
}

/// Values `prefix-0 .. prefix-(n-1)`.
pub fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A 3-node cluster wired through proxies so a test can cut single links: every node
/// advertises its broker listener through `broker_in[i]` (followers fetch from a leader
/// through it), and node `i` reaches node `j`'s controller listener through `ctl[i][j]`
/// (its own entry of `controller.quorum.voters` is its real listener). Tests talk to the
/// nodes' real listeners, so cutting a link never cuts the test's own requests.
pub struct Net {
    pub cluster: Cluster,
    pub broker_in: Vec<Proxy>,
    pub ctl: Vec<Vec<Option<Proxy>>>,
}

impl Net {
    pub fn start(extra: &[(&str, &str)]) -> Net {
        let n = 3;
        let mut cluster = Cluster::new(n);
        for (k, v) in extra {
            cluster.set(None, k, v);
        }
        let proxy = |port: u16| Proxy::start(SocketAddr::from(([127, 0, 0, 1], port)));
        let broker_in: Vec<Proxy> = (0..n).map(|i| proxy(cluster.broker_port(i))).collect();
        let ctl: Vec<Vec<Option<Proxy>>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (i != j).then(|| proxy(cluster.controller_port(j))))
                    .collect()
            })
            .collect();
        for i in 0..n {
            let voters = (0..n)
                .map(|j| match &ctl[i][j] {
                    Some(p) => format!("{}@{}", cluster.id(j), p.addr()),
                    None => format!("{}@{}", cluster.id(j), cluster.controller_addr(j)),
                })
                .collect::<Vec<_>>()
                .join(",");
            cluster.set(Some(i), "controller.quorum.voters", &voters);
            let advertised = format!("PLAINTEXT://{}", broker_in[i].addr());
            cluster.set(Some(i), "advertised.listeners", &advertised);
        }
        cluster.start_all();
        replicas::wait_brokers(&cluster.broker_addr(0), n, PATIENCE);
        Net {
            cluster,
            broker_in,
            ctl,
        }
    }

    /// Cuts (or restores) every link into node `i`'s broker listener: followers cannot fetch
    /// from it.
    pub fn cut_fetches_from(&self, i: usize, cut: bool) {
        self.broker_in[i].set_mode(if cut { Mode::Blackhole } else { Mode::Pass });
    }

    /// Cuts (or restores) node `i` from every other node: fetches from it and every
    /// controller link in either direction (its heartbeats, the quorum's traffic).
    pub fn isolate(&self, i: usize, cut: bool) {
        // Healing lets the held bytes flow, as a healed network's retransmissions would.
        let mode = if cut { Mode::Blackhole } else { Mode::Pass };
        self.broker_in[i].set_mode(mode);
        for (a, row) in self.ctl.iter().enumerate() {
            for (b, p) in row.iter().enumerate() {
                if a == i || b == i {
                    if let Some(p) = p {
                        p.set_mode(mode);
                    }
                }
            }
        }
    }
}
