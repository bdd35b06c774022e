//! A broker's client of the active controller, used by the broker lifecycle
//! (BrokerRegistration, BrokerHeartbeat) and the metadata observer (Fetch of
//! `__cluster_metadata`), over `crate::peer` (one connection per address).
//!
//! Addresses: `controller.quorum.bootstrap.servers`, else the voters' endpoints. A call
//! that fails (connect, I/O, timeout, undecodable answer) moves to the next address; so does
//! [`ControllerClient::rotate`], which callers use when the answer says NOT_CONTROLLER /
//! NOT_LEADER_OR_FOLLOWER.
//!
//! Thread-safety: `Send + Sync`; each [`Peer`] keeps one request in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::protocol::Request;

use crate::peer::{Connector, Peer, PeerError, PeerSettings};

/// A client of the active controller (see the module doc).
pub struct ControllerClient {
    peers: Vec<Peer>,
    next: AtomicUsize,
}

impl ControllerClient {
    /// A client of `addrs` (`host:port`), its requests tagged with `client_id`.
    /// `connector`: how the controller listener is reached (TLS, SASL; `None`: plain TCP).
    pub fn new(
        addrs: Vec<String>,
        client_id: String,
        connector: Option<Arc<dyn Connector>>,
    ) -> ControllerClient {
        let mut settings = PeerSettings::for_node(0).with_connector(connector);
        settings.client_id = client_id;
        let settings = Arc::new(settings);
        ControllerClient {
            peers: addrs
                .into_iter()
                .map(|a| Peer::new(a, settings.clone()))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// How many controller addresses the client rotates through.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Moves to the next controller address.
    pub async fn rotate(&self) {
        self.next.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends `req` at `version` and decodes the answer, within `timeout`; a failure moves
    /// to the next address.
    pub async fn call<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, String> {
        self.send(req, version, timeout)
            .await
            .map_err(|(addr, e)| format!("controller at {addr}: {e}"))
    }

    /// As [`ControllerClient::call`], keeping the peer error (whether anything was sent)
    /// with the address it came from.
    pub async fn send<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, (String, PeerError)> {
        if self.peers.is_empty() {
            return Err((
                String::new(),
                PeerError::Unreachable("no controller address configured".into()),
            ));
        }
        let i = self.next.load(Ordering::Relaxed) % self.peers.len();
        let result = self.peers[i].send(req, version, timeout).await;
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                self.rotate().await;
                Err((self.peers[i].addr().to_string(), e))
            }
        }
    }
}
