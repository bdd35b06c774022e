//! The liveness prober of the active controller (gregor-only `broker.liveness.probe.enable`;
//! the rules are `controller/liveness.rs`'s): while this node leads the metadata quorum it
//! asks the controller which brokers to probe — all of them at activation, then every
//! `broker.heartbeat.interval.ms / 4` (clamped to 50–500 ms) the late ones, and at once a
//! broker whose heartbeat connection closed — and connects to each one's inter-broker
//! listener (all its listeners if it registered none of that name) and, for a voter, its
//! CONTROLLER listener. Only when *every* address refuses (ECONNREFUSED, or a reset during
//! the connect, on every resolved address) is the broker fenced; an accepted connection is
//! closed at once, a timeout ([`PROBE_TIMEOUT`]) or any other error is no evidence.
//!
//! Runs on the runtime, never on the controller's blocking paths: connects are async, each
//! suspect probed in its own task, the controller's calls on blocking threads.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::broadcast;

use crate::broker::Broker;
use crate::controller::liveness::Suspect;

/// How long one connect may take before the probe counts as "no evidence".
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

/// What one address said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Refused,
    Accepted,
    NoEvidence,
}

async fn probe(addr: &str) -> Probe {
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => Probe::Accepted,
        Ok(Err(e))
            if matches!(
                e.kind(),
                ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
            ) =>
        {
            Probe::Refused
        }
        Ok(Err(_)) | Err(_) => Probe::NoEvidence,
    }
}

/// The addresses whose refusal proves `s`'s process gone.
fn addresses(broker: &Broker, s: &Suspect) -> Vec<String> {
    let cluster = &broker.cluster;
    let inter: Vec<_> = s
        .endpoints
        .iter()
        .filter(|e| e.name == cluster.inter_broker_listener)
        .collect();
    let endpoints = if inter.is_empty() {
        s.endpoints.iter().collect()
    } else {
        inter
    };
    let mut out: Vec<String> = endpoints
        .iter()
        .map(|e| format!("{}:{}", e.host, e.port))
        .collect();
    out.extend(
        cluster
            .voters
            .iter()
            .filter(|v| v.id == s.broker_id)
            .map(|v| format!("{}:{}", v.host, v.port)),
    );
    out
}

/// Probes `s` and fences its broker if every address refused.
async fn check(broker: Arc<Broker>, s: Suspect) {
    let addrs = addresses(&broker, &s);
    if addrs.is_empty() {
        return;
    }
    for a in &addrs {
        let p = probe(a).await;
        if p != Probe::Refused {
            tracing::debug!("liveness probe of broker {} at {a}: {p:?}", s.broker_id);
            return;
        }
    }
    let evidence = format!("its listeners {} refuse connections", addrs.join(", "));
    let b = broker.clone();
    let r =
        tokio::task::spawn_blocking(move || b.controller.fence_dead_broker(&s, &evidence)).await;
    match r {
        Ok(Err(e)) => tracing::warn!("fencing a broker whose process is gone: {e}"),
        Err(e) => tracing::warn!("fencing a broker whose process is gone: {e}"),
        Ok(Ok(_)) => {}
    }
}

/// Runs the prober (see the module doc) until `stop`.
pub async fn run(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let timings = &broker.cluster.replication;
    let Some(quorum) = broker.controller.quorum().cloned() else {
        return;
    };
    if !timings.broker_liveness_probe_enable || broker.cluster.standalone {
        return;
    }
    let interval = Duration::from_millis(timings.broker_heartbeat_interval_ms);
    let slack = (interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let late = interval + slack;
    let tick = (interval / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
    let mut leads = quorum.leadership();
    loop {
        tokio::select! {
            r = leads.wait_for(|l| *l) => if r.is_err() { return },
            _ = stop.recv() => return,
        }
        let mut all = true;
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let b = broker.clone();
            let found = tokio::task::spawn_blocking(move || {
                b.controller.liveness_suspects(late, slack.max(tick), all)
            })
            .await;
            all = false;
            match found {
                Ok(Ok(suspects)) => {
                    for s in suspects {
                        tokio::spawn(check(broker.clone(), s));
                    }
                }
                Ok(Err(e)) => tracing::warn!("liveness probes: {e}"),
                Err(e) => tracing::warn!("liveness probes: {e}"),
            }
            tokio::select! {
                _ = ticks.tick() => {}
                _ = broker.controller.liveness_wake().notified() => {
                    // The process's sockets close together; give its listener a moment.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                r = leads.changed() => {
                    if r.is_err() || !*leads.borrow() {
                        break;
                    }
                }
                _ = stop.recv() => return,
            }
        }
        broker.controller.clear_liveness();
    }
}
