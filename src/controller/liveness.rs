//! Early fencing of a broker whose process is gone (gregor-only, `broker.liveness.probe.enable`,
//! on by default): the controller's half — which brokers to probe, and the fencing once a probe
//! proved the process gone. The probes themselves (TCP connects) are the node's
//! (`node/liveness.rs`); this module knows no sockets.
//!
//! Kafka fences a silent broker only when its session expires (`broker.session.timeout.ms`,
//! 9 s by default), so a kill -9'd leader stays leader for ~9 s. gregor keeps that rule for
//! everything it cannot prove, and adds one: a broker whose advertised listeners *refuse*
//! TCP connections (ECONNREFUSED / reset at connect, on every resolved address) has no live
//! process behind them — a host crash, a partition or a paused process (SIGSTOP: the kernel
//! still accepts into the backlog) time out or accept instead, and leave the session timer in
//! charge, exactly as in Kafka.
//!
//! - **Who is probed** ([`Controller::liveness_suspects`]): unfenced brokers other than this
//!   node's own, whose last heartbeat is older than `broker.heartbeat.interval.ms` plus a
//!   slack (trigger a); every unfenced broker when this controller just became active
//!   (trigger b: a killed combined node was often the controller too); a broker whose
//!   heartbeat connection to this controller closed (trigger c, [`Controller::connection_closed`]:
//!   a process exit closes its sockets). A broker is probed at most once per `min_gap`.
//! - **Fencing** ([`Controller::fence_dead_broker`]): only if the broker is still unfenced at
//!   the probed epoch and no heartbeat arrived after the probe began; the records are exactly
//!   a session expiry's (partition changes, then BrokerRegistrationChange fenced), logged with
//!   the evidence. A broker alive after all (a firewall rejecting with RST) heartbeats again
//!   and is unfenced as after any fencing.
//!
//! Thread-safety: the peer map and the urgent set sit behind their own mutexes; fencing runs
//! inside the controller's commit (blocking), like session expiry.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::brokers::fence_records;
use super::Controller;
use crate::error::{Error, Result};
use crate::metadata::records::EndPoint;
use crate::metadata::{MetadataImage, TopicImage};

/// Which connection carried each broker's heartbeats, and brokers to probe at once.
#[derive(Default)]
pub struct Liveness {
    /// Remote address of the connection that carried a broker's last heartbeat → its id.
    peers: Mutex<HashMap<SocketAddr, i32>>,
    /// Brokers whose heartbeat connection closed: probe them on the next round.
    urgent: Mutex<BTreeSet<i32>>,
    /// Wakes the prober when `urgent` gains a broker.
    wake: tokio::sync::Notify,
}

/// A broker to probe: what the prober needs to know, and when the probe began.
#[derive(Debug, Clone)]
pub struct Suspect {
    pub broker_id: i32,
    pub epoch: i64,
    pub endpoints: Vec<EndPoint>,
    /// Why it is probed (for the log).
    pub reason: &'static str,
    pub since: Instant,
}

impl Controller {
    /// Notified when a broker's heartbeat connection closed (the prober waits on it).
    pub fn liveness_wake(&self) -> &tokio::sync::Notify {
        &self.liveness.wake
    }

    /// Remembers that `broker`'s heartbeat came over the connection from `peer`.
    pub fn heartbeat_via(&self, broker: i32, peer: SocketAddr) {
        if let Ok(mut p) = self.liveness.peers.lock() {
            p.retain(|_, id| *id != broker);
            p.insert(peer, broker);
        }
    }

    /// A connection from `peer` to a controller listener closed: if it carried a broker's
    /// heartbeats, that broker is probed at once (trigger c).
    pub fn connection_closed(&self, peer: SocketAddr) {
        let Some(id) = self
            .liveness
            .peers
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&peer))
        else {
            return;
        };
        if let Ok(mut u) = self.liveness.urgent.lock() {
            u.insert(id);
        }
        self.liveness.wake.notify_one();
    }

    /// This controller stopped being active: forget every heartbeat connection.
    pub fn clear_liveness(&self) {
        if let Ok(mut p) = self.liveness.peers.lock() {
            p.clear();
        }
        if let Ok(mut u) = self.liveness.urgent.lock() {
            u.clear();
        }
    }

    /// The brokers to probe now (see the module doc): `all` on activation; otherwise the
    /// ones whose heartbeat is later than `late`, or whose heartbeat connection closed;
    /// none probed again within `min_gap`. Marks them probed.
    pub fn liveness_suspects(
        &self,
        late: Duration,
        min_gap: Duration,
        all: bool,
    ) -> Result<Vec<Suspect>> {
        let Some(quorum) = self.quorum.as_ref() else {
            return Ok(vec![]);
        };
        if !quorum.is_leader() {
            return Ok(vec![]);
        }
        let urgent: BTreeSet<i32> = match self.liveness.urgent.lock() {
            Ok(mut u) => std::mem::take(&mut *u),
            Err(_) => return Err(Error::internal("liveness lock poisoned")),
        };
        let image = self.metadata.image();
        let now = Instant::now();
        let mut sessions = self.sessions.lock()?;
        let mut out = Vec::new();
        for b in image.brokers.values() {
            if b.fenced || b.id == self.node_id {
                continue;
            }
            let reason = match sessions.get_mut(&b.id) {
                Some(s) => {
                    let due = s.last_probe.is_none_or(|p| now - p >= min_gap);
                    let reason = if all {
                        Some("this controller became active")
                    } else if urgent.contains(&b.id) {
                        Some("its heartbeat connection closed")
                    } else if now.saturating_duration_since(s.last_contact) > late {
                        Some("its heartbeat is late")
                    } else {
                        None
                    };
                    match reason {
                        Some(r) if due || urgent.contains(&b.id) => {
                            s.last_probe = Some(now);
                            Some(r)
                        }
                        _ => None,
                    }
                }
                // Registered through another leader: the session manager gives it a session.
                None => all.then_some("this controller became active"),
            };
            if let Some(reason) = reason {
                out.push(Suspect {
                    broker_id: b.id,
                    epoch: b.epoch,
                    endpoints: b.endpoints.clone(),
                    reason,
                    since: now,
                });
            }
        }
        Ok(out)
    }

    /// Fences `s`'s broker because its listeners refused connections (`evidence`), unless it
    /// was fenced or registered again meanwhile, or a heartbeat arrived after the probe
    /// began (blocking). Returns whether it was fenced.
    pub fn fence_dead_broker(&self, s: &Suspect, evidence: &str) -> Result<bool> {
        let Some(quorum) = self.quorum.as_ref() else {
            return Ok(false);
        };
        if !quorum.is_leader() || s.broker_id == self.node_id {
            return Ok(false);
        }
        let id = s.broker_id;
        let fenced = self.commit(|image: &MetadataImage| {
            let Some(b) = image.brokers.get(&id) else {
                return Ok((vec![], false));
            };
            if b.fenced || b.epoch != s.epoch {
                return Ok((vec![], false));
            }
            let mut sessions = self.sessions.lock()?;
            let heard = sessions
                .get(&id)
                .and_then(|x| x.last_heartbeat)
                .is_some_and(|h| h >= s.since);
            if heard {
                return Ok((vec![], false));
            }
            sessions.remove(&id);
            drop(sessions);
            let policy = self.unclean_policy(image);
            let unclean = |t: &TopicImage| policy.enabled(&t.overrides);
            Ok((fence_records(image, id, b.epoch, &unclean), true))
        })?;
        if fenced {
            tracing::warn!(
                "broker {id} fenced before its session expired: probed because {}, {evidence}",
                s.reason
            );
        }
        Ok(fenced)
    }
}
