//! The broker lifecycle on the active controller (Kafka's `ClusterControlManager` and
//! `BrokerHeartbeatManager`, KIP-631): BrokerRegistration, BrokerHeartbeat, session expiry
//! and controlled shutdown, each turned into metadata records.
//!
//! - **Registration**: the cluster id must be this cluster's (INCONSISTENT_CLUSTER_ID);
//!   another incarnation of the same node id with a live session is refused
//!   (DUPLICATE_BROKER_REGISTRATION); the broker epoch is the offset the RegisterBrokerRecord
//!   will take in `__cluster_metadata-0` (the log end when it is validated — commits are
//!   serialised, so it is unique and increasing; it is also kept above the previous epoch).
//!   A new registration is fenced.
//! - **Heartbeat**: unknown id → BROKER_ID_NOT_REGISTERED, another epoch → STALE_BROKER_EPOCH;
//!   a fenced broker whose `current_metadata_offset` reached its registration's offset (its
//!   epoch) is unfenced, and every partition without a leader gets one if it now can
//!   (Kafka's `handleBrokerUnfenced`: from the ISR, or unclean where the topic allows it);
//!   `want_fence` fences; `want_shut_down` (and every heartbeat of a broker in controlled
//!   shutdown) goes to `shutdown.rs`. Fencing moves the broker's leaderships to the next
//!   active ISR member (none: −1, or an unclean leader where the topic allows it, see
//!   `elections.rs`) and takes it out of every ISR that keeps a member.
//! - **Sessions**: only the active controller keeps them (in memory), with the metadata
//!   offset each broker last reported (controlled shutdown waits on it). On activation every
//!   unfenced broker gets a fresh session; a broker silent for `broker.session.timeout.ms` is
//!   fenced with the same partition changes as a shutdown (Kafka without ELR: the ISR never
//!   becomes empty, the last member stays). The controller's own broker (a combined node) is
//!   never expired: it is as alive as the controller deciding, and a loaded machine delaying
//!   its local heartbeat must not fence it.
//!
//! Thread-safety: the sessions sit behind their own mutex, taken inside the controller's
//! commit closure (validate → commit are serialised by the controller's lock). Blocking.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::election;
use super::Controller;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::{EndPoint, MetadataRecord, LEADER_UNCHANGED};
use crate::metadata::{MetadataImage, TopicImage};

/// One broker's session on the active controller.
#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    incarnation_id: Uuid,
    /// The last heartbeat, or the session's start (activation, registration).
    pub(super) last_contact: Instant,
    /// The last heartbeat actually received by this controller (`liveness.rs`: a probe's
    /// evidence only counts if no heartbeat came after the probe began).
    pub(super) last_heartbeat: Option<Instant>,
    /// When `liveness.rs` last probed the broker's listeners.
    pub(super) last_probe: Option<Instant>,
    /// The metadata offset its last heartbeat reported (−1: none yet).
    pub(super) metadata_offset: i64,
    /// In controlled shutdown: the metadata offset every other active broker must reach
    /// before it may go (its partition changes are applied there; `shutdown.rs`).
    pub(super) shutdown_offset: Option<i64>,
}

impl Session {
    fn new(incarnation_id: Uuid) -> Session {
        Session {
            incarnation_id,
            last_contact: Instant::now(),
            last_heartbeat: None,
            last_probe: None,
            metadata_offset: -1,
            shutdown_offset: None,
        }
    }
}

/// The active controller's broker sessions (see the module doc).
pub struct Sessions {
    pub(super) timeout: Duration,
    map: Mutex<HashMap<i32, Session>>,
}

impl Sessions {
    pub fn new(timeout: Duration) -> Sessions {
        Sessions {
            timeout,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<i32, Session>>> {
        self.map
            .lock()
            .map_err(|_| Error::internal("broker sessions lock poisoned"))
    }
}

/// A BrokerRegistration request, as the controller checks it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub broker_id: i32,
    pub cluster_id: String,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<EndPoint>,
    pub rack: Option<String>,
}

/// A BrokerHeartbeat request.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub current_metadata_offset: i64,
    pub want_fence: bool,
    pub want_shut_down: bool,
}

/// The BrokerHeartbeat answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
}

/// The partition changes that take `broker` out of leaderships and ISRs (fencing and
/// controlled shutdown, Kafka's `generateLeaderAndIsrUpdates` with `brokerToRemove`): the ISR
/// drops it unless it is the last member; a partition it leads (or one without a leader)
/// gets [`election::elect`]'s leader among the other active brokers — unclean only where
/// `unclean` allows it for the topic.
pub(super) fn leave_partitions(
    image: &MetadataImage,
    broker: i32,
    unclean: &dyn Fn(&TopicImage) -> bool,
) -> Vec<MetadataRecord> {
    let active = |id: i32| id != broker && image.brokers.get(&id).is_some_and(|b| b.active());
    let mut out = Vec::new();
    for t in image.topics() {
        let mut allow_unclean: Option<bool> = None;
        for (i, p) in t.partitions.iter().enumerate() {
            if p.leader != broker && !p.isr.contains(&broker) {
                continue;
            }
            let mut isr = election::without_broker(&p.isr, broker);
            let mut leader = LEADER_UNCHANGED;
            if p.leader == broker || p.leader < 0 {
                let allow = *allow_unclean.get_or_insert_with(|| unclean(t));
                let e = election::elect(&p.replicas, &isr, p.leader, active, allow);
                if e.leader != p.leader {
                    leader = e.leader;
                    isr = e.isr;
                }
            }
            let isr_changed = isr != p.isr;
            if !isr_changed && leader == LEADER_UNCHANGED {
                continue;
            }
            out.push(MetadataRecord::PartitionChange {
                partition_id: i32::try_from(i).unwrap_or(i32::MAX),
                topic_id: t.id,
                isr: isr_changed.then_some(isr),
                leader,
                replicas: None,
                removing_replicas: None,
                adding_replicas: None,
            });
        }
    }
    out
}

/// The partition changes when `broker` is unfenced (Kafka's `handleBrokerUnfenced`): every
/// partition without a leader gets [`election::elect`]'s leader, `broker` counting as active
/// — from its ISR, or, where `unclean` allows it for the topic, any active replica.
fn take_leaderless(
    image: &MetadataImage,
    broker: i32,
    unclean: &dyn Fn(&TopicImage) -> bool,
) -> Vec<MetadataRecord> {
    let active = |id: i32| id == broker || image.brokers.get(&id).is_some_and(|b| b.active());
    let mut out = Vec::new();
    for t in image.topics() {
        if !t.partitions.iter().any(|p| p.leader < 0) {
            continue;
        }
        let allow = unclean(t);
        for (i, p) in t.partitions.iter().enumerate() {
            if p.leader >= 0 {
                continue;
            }
            let e = election::elect(&p.replicas, &p.isr, p.leader, active, allow);
            if e.leader == election::NO_LEADER {
                continue;
            }
            if e.unclean {
                tracing::error!(
                    "unclean leader election: {}-{i} led by {} from outside the ISR {:?}",
                    t.name,
                    e.leader,
                    p.isr
                );
            }
            out.push(MetadataRecord::PartitionChange {
                partition_id: i32::try_from(i).unwrap_or(i32::MAX),
                topic_id: t.id,
                isr: (e.isr != p.isr).then_some(e.isr),
                leader: e.leader,
                replicas: None,
                removing_replicas: None,
                adding_replicas: None,
            });
        }
    }
    out
}

/// The records that fence `broker` (partition changes first, as Kafka orders them).
pub(super) fn fence_records(
    image: &MetadataImage,
    broker: i32,
    epoch: i64,
    unclean: &dyn Fn(&TopicImage) -> bool,
) -> Vec<MetadataRecord> {
    let mut records = leave_partitions(image, broker, unclean);
    records.push(MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: epoch,
        fenced: Some(true),
        in_controlled_shutdown: None,
    });
    records
}

impl Controller {
    /// Registers a broker (BrokerRegistration); returns its new broker epoch (blocking).
    pub fn register_broker(&self, r: Registration) -> Result<i64> {
        let quorum = self.quorum_or_not_controller()?.clone();
        if !quorum.is_leader() {
            return Err(Error::kafka(
                ErrorCode::NotController,
                "this node is not the active controller",
            ));
        }
        let incarnation = r.incarnation_id;
        let broker_id = r.broker_id;
        let epoch = self.commit(|image| {
            if r.cluster_id != image.cluster_id {
                return Err(Error::kafka(
                    ErrorCode::InconsistentClusterId,
                    format!(
                        "Expected cluster ID {}, but got cluster ID {}",
                        image.cluster_id, r.cluster_id
                    ),
                ));
            }
            let sessions = self.sessions.lock()?;
            if let Some(s) = sessions.get(&broker_id) {
                if s.incarnation_id != incarnation
                    && s.last_contact.elapsed() < self.sessions.timeout
                {
                    return Err(Error::kafka(
                        ErrorCode::DuplicateBrokerRegistration,
                        format!("Another broker is registered with that broker id ({broker_id})."),
                    ));
                }
            }
            drop(sessions);
            let previous = image.brokers.get(&broker_id).map_or(-1, |b| b.epoch);
            let epoch = quorum.next_offset().max(previous + 1);
            let record = MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id: incarnation,
                broker_epoch: epoch,
                endpoints: r.endpoints.clone(),
                rack: r.rack.clone(),
                fenced: true,
            };
            Ok((vec![record], epoch))
        })?;
        self.sessions
            .lock()?
            .insert(broker_id, Session::new(incarnation));
        tracing::info!(
            "broker {broker_id} registered with epoch {epoch} (incarnation {incarnation})"
        );
        Ok(epoch)
    }

    /// Registers the broker of this very node (a standalone or combined node, at start-up;
    /// blocking): its metadata is this controller's image, so it is caught up by definition
    /// and the registration and the unfencing go in one commit. A restart whose registration
    /// in the image is unchanged and unfenced keeps it (no commit: start-up stays fast).
    pub fn register_self(&self, r: Registration) -> Result<i64> {
        let quorum = self.quorum_or_not_controller()?.clone();
        let id = r.broker_id;
        let epoch = self.commit(|image| {
            if let Some(b) = image.brokers.get(&id) {
                if b.endpoints == r.endpoints && b.rack == r.rack && b.active() {
                    return Ok((vec![], b.epoch));
                }
            }
            let previous = image.brokers.get(&id).map_or(-1, |b| b.epoch);
            let epoch = quorum.next_offset().max(previous + 1);
            let mut records = vec![
                MetadataRecord::RegisterBroker {
                    broker_id: id,
                    incarnation_id: r.incarnation_id,
                    broker_epoch: epoch,
                    endpoints: r.endpoints.clone(),
                    rack: r.rack.clone(),
                    fenced: true,
                },
                MetadataRecord::BrokerRegistrationChange {
                    broker_id: id,
                    broker_epoch: epoch,
                    fenced: Some(false),
                    in_controlled_shutdown: None,
                },
            ];
            let policy = self.unclean_policy(image);
            records.extend(take_leaderless(image, id, &|t| {
                policy.enabled(&t.overrides)
            }));
            Ok((records, epoch))
        })?;
        self.sessions
            .lock()?
            .insert(id, Session::new(r.incarnation_id));
        Ok(epoch)
    }

    /// Handles a BrokerHeartbeat (see the module doc; blocking).
    pub fn broker_heartbeat(&self, h: Heartbeat) -> Result<HeartbeatReply> {
        let quorum = self.quorum_or_not_controller()?;
        if !quorum.is_leader() {
            return Err(Error::kafka(
                ErrorCode::NotController,
                "this node is not the active controller",
            ));
        }
        let id = h.broker_id;
        let reply = self.commit(|image| {
            let Some(b) = image.brokers.get(&id) else {
                return Err(Error::kafka(
                    ErrorCode::BrokerIdNotRegistered,
                    format!("Broker {id} is not registered."),
                ));
            };
            if b.epoch != h.broker_epoch {
                return Err(Error::kafka(
                    ErrorCode::StaleBrokerEpoch,
                    format!(
                        "Expected broker epoch {}, but got broker epoch {}",
                        b.epoch, h.broker_epoch
                    ),
                ));
            }
            let caught_up = h.current_metadata_offset >= b.epoch;
            let policy = self.unclean_policy(image);
            let unclean = |t: &TopicImage| policy.enabled(&t.overrides);
            let mut sessions = self.sessions.lock()?;
            let session = sessions
                .entry(id)
                .or_insert_with(|| Session::new(b.incarnation_id));
            session.incarnation_id = b.incarnation_id;
            session.last_contact = Instant::now();
            session.last_heartbeat = Some(session.last_contact);
            session.metadata_offset = h.current_metadata_offset;
            let shutdown_offset = session.shutdown_offset;
            if h.want_shut_down || b.in_controlled_shutdown {
                return self.controlled_shutdown(
                    image,
                    h,
                    caught_up,
                    shutdown_offset,
                    sessions,
                    &unclean,
                );
            }
            drop(sessions);
            if h.want_fence {
                let records = if b.fenced {
                    vec![]
                } else {
                    fence_records(image, id, b.epoch, &unclean)
                };
                let reply = HeartbeatReply {
                    is_caught_up: caught_up,
                    is_fenced: true,
                    should_shut_down: false,
                };
                return Ok((records, (reply, false)));
            }
            let mut records = Vec::new();
            let unfence = b.fenced && caught_up;
            let fenced = b.fenced && !unfence;
            if unfence {
                records.push(MetadataRecord::BrokerRegistrationChange {
                    broker_id: id,
                    broker_epoch: b.epoch,
                    fenced: Some(false),
                    in_controlled_shutdown: None,
                });
                records.extend(take_leaderless(image, id, &unclean));
                tracing::info!(
                    "broker {id} caught up at offset {}: unfenced",
                    h.current_metadata_offset
                );
            }
            let reply = HeartbeatReply {
                is_caught_up: caught_up,
                is_fenced: fenced,
                should_shut_down: false,
            };
            Ok((records, (reply, false)))
        })?;
        // A controlled shutdown just began: remember the offset its changes were applied at.
        if reply.1 {
            let offset = self.metadata.image().applied_offset;
            if let Some(s) = self.sessions.lock()?.get_mut(&id) {
                s.shutdown_offset = Some(offset);
            }
        }
        Ok(reply.0)
    }

    /// The active controller starts: every unfenced broker gets a fresh session.
    pub fn activate_sessions(&self) -> Result<()> {
        let image = self.metadata.image();
        let now = Instant::now();
        let mut sessions = self.sessions.lock()?;
        sessions.clear();
        for b in image.brokers.values().filter(|b| !b.fenced) {
            let mut session = Session::new(b.incarnation_id);
            session.last_contact = now;
            sessions.insert(b.id, session);
        }
        Ok(())
    }

    /// This node stopped being the active controller: sessions are no longer its business.
    pub fn deactivate_sessions(&self) {
        if let Ok(mut s) = self.sessions.lock() {
            s.clear();
        }
    }

    /// Fences every unfenced broker whose session expired (blocking). Returns the ids fenced.
    pub fn fence_expired_brokers(&self) -> Result<Vec<i32>> {
        let Some(quorum) = self.quorum.as_ref() else {
            return Ok(vec![]);
        };
        if !quorum.is_leader() {
            return Ok(vec![]);
        }
        let timeout = self.sessions.timeout;
        let fenced = self.commit(|image| {
            let policy = self.unclean_policy(image);
            let unclean = |t: &TopicImage| policy.enabled(&t.overrides);
            let mut sessions = self.sessions.lock()?;
            let mut records = Vec::new();
            let mut ids = Vec::new();
            let mut working: Option<MetadataImage> = None;
            // This node's own broker is as alive as the controller deciding: never expired.
            let others = image
                .brokers
                .values()
                .filter(|b| !b.fenced && b.id != self.node_id);
            for b in others {
                // A broker without a session (registered through another leader) gets one now.
                let session = match sessions.entry(b.id) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(Session::new(b.incarnation_id));
                        continue;
                    }
                    std::collections::hash_map::Entry::Occupied(o) => o,
                };
                if session.get().last_contact.elapsed() >= timeout {
                    session.remove();
                    let working = working.get_or_insert_with(|| image.clone());
                    let r = fence_records(working, b.id, b.epoch, &unclean);
                    for rec in &r {
                        working.apply(rec);
                    }
                    records.extend(r);
                    ids.push(b.id);
                }
            }
            Ok((records, ids))
        })?;
        for id in &fenced {
            tracing::warn!(
                "broker {id} fenced: no heartbeat for {} ms",
                timeout.as_millis()
            );
        }
        Ok(fenced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> MetadataImage {
        let mut image = MetadataImage::new("c".into());
        for id in [1, 2] {
            image.apply(&MetadataRecord::RegisterBroker {
                broker_id: id,
                incarnation_id: Uuid::from_u128(id as u128),
                broker_epoch: 10,
                endpoints: vec![],
                rack: None,
                fenced: false,
            });
        }
        let t = Uuid::from_u128(99);
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            topic_id: t,
        });
        for (p, replicas) in [(0, vec![1]), (1, vec![1, 2]), (2, vec![2, 1])] {
            image.apply(&MetadataRecord::Partition {
                partition_id: p,
                topic_id: t,
                isr: replicas.clone(),
                leader: replicas[0],
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
                removing_replicas: vec![],
                adding_replicas: vec![],
            });
        }
        image
    }

    #[test]
    fn fencing_moves_leaders_and_never_empties_an_isr() {
        let mut image = image();
        for r in fence_records(&image.clone(), 1, 10, &|_| false) {
            image.apply(&r);
        }
        let t = image.topic("t").expect("topic");
        // RF 1: no one else; leader −1, the ISR keeps its last member.
        assert_eq!(
            (t.partitions[0].leader, &t.partitions[0].isr),
            (-1, &vec![1])
        );
        // RF 2 led by 1: 2 takes over, 1 leaves the ISR.
        assert_eq!(
            (t.partitions[1].leader, &t.partitions[1].isr),
            (2, &vec![2])
        );
        assert_eq!(t.partitions[1].leader_epoch, 1);
        // Led by 2: only the ISR shrinks, the leader epoch stays.
        assert_eq!(
            (t.partitions[2].leader, &t.partitions[2].isr),
            (2, &vec![2])
        );
        assert_eq!(t.partitions[2].leader_epoch, 0);
        assert!(image.brokers[&1].fenced);
        // Unfenced: it leads its leaderless partition again.
        for r in take_leaderless(&image.clone(), 1, &|_| false) {
            image.apply(&r);
        }
        assert_eq!(image.topic("t").expect("topic").partitions[0].leader, 1);
    }
}
