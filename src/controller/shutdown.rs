//! Controlled shutdown on the active controller (Kafka's `BrokerHeartbeatManager` states
//! UNFENCED → CONTROLLED_SHUTDOWN → SHUTDOWN_NOW, and `handleBrokerInControlledShutdown`):
//! the part of BrokerHeartbeat that answers `want_shut_down`, and the heartbeats of a broker
//! already in controlled shutdown.
//!
//! - A fenced broker may go at once (`should_shut_down`).
//! - An active broker that leads nothing is fenced and may go at once.
//! - An active broker that leads something enters controlled shutdown: in one commit its
//!   leaderships move to other active ISR members (a new leader epoch; none: −1, or unclean
//!   where enabled), it leaves every ISR that keeps a member and is marked
//!   `in_controlled_shutdown` — still unfenced, answered `should_shut_down` false, so it keeps
//!   serving while clients move.
//! - A broker in controlled shutdown may go (fenced in that commit) once it leads nothing and
//!   every other active broker's last heartbeat reported a metadata offset at or past the one
//!   its changes were applied at, so the new leaders know before the old one stops answering.
//!   A heartbeat without `want_shut_down` from it changes nothing.
//!
//! Thread-safety: runs inside the controller's commit closure, holding the sessions' lock
//! (blocking).

use std::collections::HashMap;
use std::sync::MutexGuard;

use super::brokers::{fence_records, leave_partitions, Heartbeat, HeartbeatReply, Session};
use super::Controller;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::MetadataRecord;
use crate::metadata::{MetadataImage, TopicImage};

/// Whether `broker` leads any partition (a broker in controlled shutdown waits for none).
fn has_leaderships(image: &MetadataImage, broker: i32) -> bool {
    image
        .topics()
        .any(|t| t.partitions.iter().any(|p| p.leader == broker))
}

impl Controller {
    /// The controlled-shutdown part of a heartbeat (Kafka's `BrokerHeartbeatManager`
    /// states): a fenced broker may go at once; an active one enters controlled shutdown —
    /// its leaderships move to other active ISR members and it leaves every ISR that keeps a
    /// member (`in_controlled_shutdown`, still unfenced, `should_shut_down` false) — unless it
    /// leads nothing, then it is fenced and may go at once; a broker in controlled shutdown may
    /// go (it is fenced then) once it leads nothing and every other active broker reported a
    /// metadata offset at or past the one its changes were applied at. A heartbeat without
    /// `want_shut_down` from a broker in controlled shutdown changes nothing.
    /// Returns the records and (reply, whether a controlled shutdown began).
    pub(super) fn controlled_shutdown(
        &self,
        image: &MetadataImage,
        h: Heartbeat,
        caught_up: bool,
        shutdown_offset: Option<i64>,
        mut sessions: MutexGuard<'_, HashMap<i32, Session>>,
        unclean: &dyn Fn(&TopicImage) -> bool,
    ) -> Result<(Vec<MetadataRecord>, (HeartbeatReply, bool))> {
        let id = h.broker_id;
        let Some(b) = image.brokers.get(&id) else {
            return Err(Error::kafka(
                ErrorCode::BrokerIdNotRegistered,
                format!("Broker {id} is not registered."),
            ));
        };
        let reply = |fenced, go| HeartbeatReply {
            is_caught_up: caught_up,
            is_fenced: fenced,
            should_shut_down: go,
        };
        if b.fenced {
            if h.want_shut_down {
                sessions.remove(&id);
            }
            return Ok((vec![], (reply(true, h.want_shut_down), false)));
        }
        if !b.in_controlled_shutdown {
            if !has_leaderships(image, id) {
                sessions.remove(&id);
                tracing::info!("broker {id} leads nothing: it may shut down at once");
                return Ok((
                    fence_records(image, id, b.epoch, unclean),
                    (reply(true, true), false),
                ));
            }
            let mut records = leave_partitions(image, id, unclean);
            tracing::info!(
                "broker {id} enters controlled shutdown: {} partition change(s)",
                records.len()
            );
            records.push(MetadataRecord::BrokerRegistrationChange {
                broker_id: id,
                broker_epoch: b.epoch,
                fenced: None,
                in_controlled_shutdown: Some(true),
            });
            return Ok((records, (reply(false, false), true)));
        }
        if !h.want_shut_down || has_leaderships(image, id) {
            return Ok((vec![], (reply(false, false), false)));
        }
        let Some(target) = shutdown_offset else {
            // Entered controlled shutdown under another controller: wait one round for
            // the others to report past the current image.
            if let Some(s) = sessions.get_mut(&id) {
                s.shutdown_offset = Some(image.applied_offset);
            }
            return Ok((vec![], (reply(false, false), false)));
        };
        let lowest = image
            .brokers
            .values()
            .filter(|o| o.id != id && o.active())
            .map(|o| {
                if o.id == self.node_id {
                    image.applied_offset
                } else {
                    sessions.get(&o.id).map_or(-1, |s| s.metadata_offset)
                }
            })
            .min()
            .unwrap_or(i64::MAX);
        if lowest < target {
            return Ok((vec![], (reply(false, false), false)));
        }
        sessions.remove(&id);
        tracing::info!(
            "broker {id} may shut down: every active broker is at metadata offset {lowest} >= {target}"
        );
        Ok((
            fence_records(image, id, b.epoch, unclean),
            (reply(true, true), false),
        ))
    }
}
