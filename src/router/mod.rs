//! The router: the one API table ([`table`]), the checks every request passes before its
//! handler runs (api key, version, header, whether the listener exposes the api), and
//! dispatch to the handlers. One router per listener: the listener's name goes into every
//! [`RequestContext`], and a controller listener serves [`CONTROLLER_APIS`] only (any other
//! api key closes the connection, as Kafka's controller does).
//!
//! Why a layer of its own: the socket layer ([`crate::server`]) knows frames only and the
//! handlers know decoded requests only; everything in between — which APIs exist, which
//! versions are served, how a request header is read, which APIs may long-poll, how a
//! response is encoded — is decided here, once. Dependency direction:
//! `server → router → handlers → (replica, coordinators, metadata) → log`, with
//! [`crate::protocol`] below all of them.

pub mod api_versions;
mod envelope;
pub mod faults;
pub mod pipeline;
mod sasl;
pub mod session;
pub mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use tokio::sync::watch;

use crate::broker::{forward, Broker};
use crate::config::BrokerConfig;
use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::protocol::codec::{peek_header, Answer};
use crate::protocol::{legacy, DispatchError, Frame};
use crate::quorum::rpc::{self, RpcServer};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::security::sasl::ListenerSasl;
use crate::security::Authorizer;

use faults::{Faults, Verdict};
pub use session::Session;
pub use table::{
    dispatch, dispatch_answer, lookup, ApiRange, APIS, CONTROLLER_APIS, CONTROLLER_ONLY_APIS,
};

/// The listener a router serves: its name and whether it is a controller listener
/// (`controller.listener.names`), which serves [`CONTROLLER_APIS`] only.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub name: Arc<str>,
    pub controller: bool,
}

impl ListenerInfo {
    pub fn new(name: &str, controller: bool) -> ListenerInfo {
        ListenerInfo {
            name: Arc::from(name),
            controller,
        }
    }

    /// Whether this listener serves an api key.
    pub fn serves(&self, key: ApiKey) -> bool {
        if self.controller {
            CONTROLLER_APIS.contains(&key)
        } else {
            !CONTROLLER_ONLY_APIS.contains(&key)
        }
    }
}

/// What the socket layer needs to know of a connection's limits.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Largest request frame accepted (`socket.request.max.bytes`).
    pub max_frame: usize,
    /// A connection silent this long is closed (`connections.max.idle.ms`).
    pub idle: Duration,
}

/// Serves request frames against one broker, for one listener (see the module doc).
///
/// A node with several voters starts its listeners before its broker is open (the quorum
/// must hear its peers to start): until then the router answers the quorum's private Raft
/// keys on a controller listener and holds every other request until the broker is there.
pub struct Router {
    broker: watch::Receiver<Option<Arc<Broker>>>,
    limits: FrameLimits,
    max_connections: usize,
    listener: ListenerInfo,
    raft: Option<Arc<RpcServer>>,
    /// A SASL_PLAINTEXT / SASL_SSL listener's mechanisms (`None`: no authentication).
    sasl: Option<Arc<ListenerSasl>>,
    /// A test node's fault rules (`None`: no injection, one `Option` check per request).
    faults: Option<Arc<Faults>>,
    /// `authorizer.class.name` and `super.users` from the static configuration: who may send
    /// the private node-to-node keys before the broker (and its ACLs) is open.
    early_authorizer: Arc<Authorizer>,
}

impl Router {
    pub fn new(broker: Arc<Broker>, listener: ListenerInfo) -> Router {
        let config = broker.config.clone();
        let (_, rx) = watch::channel(Some(broker));
        Router::starting(&config, rx, listener, None)
    }

    /// A router whose broker arrives through `broker` (see the type doc).
    pub fn starting(
        config: &BrokerConfig,
        broker: watch::Receiver<Option<Arc<Broker>>>,
        listener: ListenerInfo,
        raft: Option<Arc<RpcServer>>,
    ) -> Router {
        Router {
            broker,
            limits: FrameLimits {
                max_frame: config.socket_request_max_bytes,
                idle: Duration::from_millis(config.connections_max_idle_ms),
            },
            max_connections: config.max_connections,
            listener,
            raft,
            sasl: None,
            faults: None,
            early_authorizer: Arc::new(Authorizer::from_config(config)),
        }
    }

    /// This router's listener authenticates with SASL (see [`sasl`]).
    pub fn with_sasl(mut self, sasl: ListenerSasl) -> Router {
        self.sasl = Some(Arc::new(sasl));
        self
    }

    /// Requests pass this node's fault rules before their handler (see [`faults`]).
    pub fn with_faults(mut self, faults: Arc<Faults>) -> Router {
        self.faults = Some(faults);
        self
    }

    /// The largest frame the connection may send next: `sasl.server.max.receive.size` until a
    /// SASL connection authenticated, else `socket.request.max.bytes`.
    pub fn max_frame(&self, session: &Session) -> usize {
        match &self.sasl {
            Some(s) if !session.authenticated() => s.max_receive_size.min(self.limits.max_frame),
            _ => self.limits.max_frame,
        }
    }

    pub fn listener(&self) -> &ListenerInfo {
        &self.listener
    }

    /// The connection limits from the broker's configuration.
    pub fn limits(&self) -> FrameLimits {
        self.limits
    }

    /// `max.connections` in force now (a dynamic broker config).
    pub fn max_connections(&self) -> usize {
        match self.broker.borrow().as_ref() {
            Some(b) => b.config_now().max_connections,
            None => self.max_connections,
        }
    }

    /// The broker if it is open already.
    fn broker_now(&self) -> Option<Arc<Broker>> {
        self.broker.borrow().clone()
    }

    /// The broker, once it is open (the connection closes if start-up failed).
    async fn broker(&self) -> Result<Arc<Broker>, DispatchError> {
        let mut rx = self.broker.clone();
        let found = match rx.wait_for(|b| b.is_some()).await {
            Ok(b) => b.clone(),
            Err(_) => None,
        };
        found.ok_or_else(|| DispatchError::Decode("the node did not start".into()))
    }

    /// Serves a private api key on a controller listener: the quorum's Raft RPCs and the
    /// internal broker registration (`None`: not a private key).
    async fn private(
        &self,
        session: &Session,
        raw_key: i16,
        version: i16,
        correlation_id: i32,
        frame: &Bytes,
    ) -> Option<Result<Option<Frame>, DispatchError>> {
        let internal = raw_key == forward::REGISTER_BROKER;
        if !self.listener.controller || !(rpc::is_raft_key(raw_key) || internal) {
            return None;
        }
        if let Err(e) = self.node_to_node_allowed(session) {
            return Some(Err(e));
        }
        let mut body = frame.clone();
        if let Err(e) = RequestHeader::decode(&mut body, 1) {
            return Some(Err(DispatchError::Decode(format!("header: {e}"))));
        }
        let resp = if internal {
            match self.broker().await {
                Ok(b) => forward::serve_register(&b, body).await,
                Err(e) => return Some(Err(e)),
            }
        } else {
            match &self.raft {
                Some(r) => r.handle(raw_key, version, body).await,
                None => return Some(Err(DispatchError::UnknownApi(raw_key))),
            }
        };
        let mut out = BytesMut::with_capacity(8 + resp.len());
        out.put_i32(i32::try_from(4 + resp.len()).unwrap_or(i32::MAX));
        out.put_i32(correlation_id);
        out.extend_from_slice(&resp);
        Some(Ok(Some(Frame::from(out))))
    }

    /// Whether a connection may send the private node-to-node keys (Raft RPCs, the internal
    /// registration): on a SASL listener only once authenticated, and with an authorizer only
    /// a principal allowed CLUSTER_ACTION on the cluster — Kafka's check for its controller
    /// RPCs (Vote, BeginQuorumEpoch, Fetch from voters). Before the broker and its ACLs are
    /// open only super users pass, as Kafka's StandardAuthorizer before its first load. A
    /// refusal closes the connection.
    fn node_to_node_allowed(&self, session: &Session) -> Result<(), DispatchError> {
        if self.sasl.is_some() && !session.authenticated() {
            return Err(DispatchError::Decode(
                "a node-to-node request before SASL authentication".into(),
            ));
        }
        let allowed = match self.broker.borrow().as_ref() {
            Some(b) => b.authorizer.authorize(
                &b.metadata.image().acls,
                &session.principal,
                session.peer.ip(),
                AclOperation::ClusterAction,
                ResourceType::Cluster,
                CLUSTER_NAME,
            ),
            None => self.early_authorizer.bypassed_by(&session.principal),
        };
        if allowed {
            return Ok(());
        }
        tracing::warn!(
            "listener {}: {} from {} may not send node-to-node requests (CLUSTER_ACTION on the cluster; add it to super.users)",
            self.listener.name,
            session.principal,
            session.peer
        );
        Err(DispatchError::Decode(
            "node-to-node request without CLUSTER_ACTION".into(),
        ))
    }

    /// A connection of this listener closed. On a controller listener the controller hears
    /// of it: if it carried a broker's heartbeats, that broker's liveness is probed at once.
    pub fn closed(&self, peer: SocketAddr) {
        if !self.listener.controller {
            return;
        }
        if let Some(b) = self.broker.borrow().as_ref() {
            b.controller.connection_closed(peer);
        }
    }

    /// Whether the request in `frame` may wait for data before it is answered, so that the
    /// responses queued before it should be sent first.
    pub fn may_long_poll(frame: &[u8]) -> bool {
        peek_header(frame)
            .and_then(|(key, _, _)| ApiKey::try_from(key).ok())
            .and_then(lookup)
            .is_some_and(|a| a.long_poll)
    }

    /// Serves one request frame (size prefix removed): its response frame now
    /// (`Answer::Now(None)`: none is due), or later (an acks=all Produce: see [`Answer`]).
    pub async fn handle_frame(
        &self,
        session: &mut Session,
        frame: Bytes,
    ) -> Result<Answer, DispatchError> {
        let peer = session.peer;
        let (raw_key, version, correlation_id) = peek_header(&frame)
            .ok_or_else(|| DispatchError::Decode("request shorter than its header".into()))?;
        if let Some(r) = self
            .private(session, raw_key, version, correlation_id, &frame)
            .await
        {
            return r.map(Answer::Now);
        }
        let key = ApiKey::try_from(raw_key).map_err(|_| DispatchError::UnknownApi(raw_key))?;
        if self.sasl.is_some() && session.authenticated() {
            sasl::check_session(self, session, key).await?;
        }
        // A forwarded request (after authentication on a SASL listener): see `envelope`.
        if key == ApiKey::Envelope
            && self.listener.controller
            && (self.sasl.is_none() || session.authenticated())
        {
            return self
                .envelope(session, version, correlation_id, frame)
                .await
                .map(Answer::Now);
        }
        let api = lookup(key).ok_or(DispatchError::UnknownApi(raw_key))?;
        if !self.listener.serves(key) {
            return Err(DispatchError::NotEnabled(key, version));
        }
        if key == ApiKey::ApiVersions && version > api.max {
            let body = api_versions::body(ErrorCode::UnsupportedVersion, &self.listener);
            return legacy::api_versions_unsupported(correlation_id, &body)
                .map(|b| Answer::Now(Some(b.into())));
        }
        if key == ApiKey::SaslHandshake && version < api.min {
            return Err(DispatchError::Decode(
                "SaslHandshake v0 (raw SASL tokens) is not served: clients use v1 and SaslAuthenticate"
                    .into(),
            ));
        }
        let in_range = version >= api.min && version <= api.max;
        let legacy_produce =
            key == ApiKey::Produce && version >= api.advertised_min && version < api.min;
        if !in_range && !legacy_produce {
            return Err(DispatchError::UnsupportedVersion(key, version));
        }
        if let Some(s) = &self.sasl {
            if !session.authenticated() {
                if let sasl::Gate::Sasl = sasl::gate(session, key)? {
                    return sasl::serve(self, s, session, key, version, correlation_id, frame)
                        .await
                        .map(Answer::Now);
                }
            }
        }
        let mut body = frame;
        let header = RequestHeader::decode(&mut body, key.request_header_version(version))
            .map_err(|e| DispatchError::Decode(format!("header: {e}")))?;
        if legacy_produce {
            return legacy::produce_unsupported(body, version, correlation_id)
                .map(|r| Answer::Now(r.map(Frame::from)));
        }
        let mut split = None;
        if let Some(f) = &self.faults {
            let client = header.client_id.as_deref();
            let broker = self.broker.borrow().clone();
            let names = |id| {
                let b = broker.as_ref()?;
                b.metadata.topic_by_id(id).map(|t| t.name.to_string())
            };
            match f
                .intercept(key, version, correlation_id, client, &body, &names)
                .await?
            {
                Verdict::Serve => {}
                Verdict::Answer(frame) => return Ok(Answer::Now(Some(frame))),
                Verdict::Drop => return Err(DispatchError::Dropped),
                Verdict::Split(s) => {
                    body = s.body();
                    split = Some(s);
                }
            }
        }
        // Service time per request, only measured when someone is looking.
        let started = tracing::enabled!(tracing::Level::TRACE).then(std::time::Instant::now);
        let ctx = RequestContext {
            broker: self.broker().await?,
            api_key: key,
            version,
            correlation_id,
            client_id: header.client_id,
            peer,
            principal: session.principal.clone(),
            listener: self.listener.name.clone(),
            controller_listener: self.listener.controller,
        };
        let result = dispatch_answer(&ctx, &mut body).await;
        if let Some(t) = started {
            tracing::trace!(
                "{peer}: {key:?} v{version} (correlation {correlation_id}) served in {:?}",
                t.elapsed()
            );
        }
        match split {
            // A split request's answer is completed first (an acks=all Produce's comes
            // later), then merged: a fault rule's request is not pipelined.
            Some(s) => s
                .merge(result?.resolve().await?, correlation_id)
                .map(Answer::Now),
            None => result,
        }
    }
}
