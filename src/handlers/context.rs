//! What a handler is given besides its decoded request, and what it may answer.
//!
//! Why here and not in the router: handlers are the layer below the router, so the types they
//! take and return belong to them; the router builds a [`RequestContext`] and encodes the
//! [`Reply`], and no handler ever sees a socket or a frame.

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::security::KafkaPrincipal;

/// What a handler knows about the request it serves.
pub struct RequestContext {
    pub broker: Arc<Broker>,
    pub api_key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
    pub peer: SocketAddr,
    /// Who the client is (the connection's [`crate::router::Session`]): `User:ANONYMOUS` on
    /// a plain listener; authorization checks it.
    pub principal: Arc<KafkaPrincipal>,
    /// The name of the listener the request came in on (`PLAINTEXT`, `CONTROLLER`, ...):
    /// Metadata, DescribeCluster and FindCoordinator answer with its endpoints.
    pub listener: Arc<str>,
    /// Whether that listener is a controller listener (`controller.listener.names`).
    pub controller_listener: bool,
}

/// A handler's answer: a response, nothing at all (Produce with acks=0), or a response that
/// only waits now — what the request does is done (an acks=all Produce's appends) and the
/// future yields its response (see [`crate::protocol::codec::Answer`]).
pub enum Reply<R> {
    Send(R),
    Silent,
    Later(LaterReply<R>),
}

/// The response of a [`Reply::Later`], still to come.
pub type LaterReply<R> = std::pin::Pin<Box<dyn std::future::Future<Output = R> + Send + 'static>>;

impl<R> From<R> for Reply<R> {
    fn from(r: R) -> Self {
        Reply::Send(r)
    }
}
