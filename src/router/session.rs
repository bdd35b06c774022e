//! What the router remembers about one connection between its requests.
//!
//! Why: the socket layer knows frames only and a handler sees one request, but some state
//! belongs to the connection as a whole — above all who the client is. The server creates a
//! [`Session`] when a connection opens (with the principal its transport established: a TLS
//! client certificate, or `User:ANONYMOUS`) and hands it to every [`super::Router::handle_frame`]
//! call in turn; authentication (SASL, [`super::sasl`]) changes it, and every
//! [`crate::handlers::RequestContext`] carries its principal. It is owned by the connection
//! task, so it needs no lock. The socket layer asks the router for the frame limit before each
//! frame ([`super::Router::max_frame`]: smaller until a SASL connection authenticated) and
//! closes the connection once a response is written if [`Session::close_after_response`] is
//! set (a failed authentication, as Kafka). With KIP-368 (`connections.max.reauth.ms`, or a
//! credential that expires) an authenticated session has an end ([`Session::expires`]): a
//! SaslHandshake re-authenticates it ([`Reauth`]), any other request after the end closes the
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::security::sasl::{Authenticator, Mechanism};
use crate::security::KafkaPrincipal;

/// Where a connection of a SASL listener is in Kafka's authentication sequence
/// (`SaslServerAuthenticator.SaslState`).
#[derive(Debug, Default)]
pub enum SaslState {
    /// Nothing yet: ApiVersions or SaslHandshake may come.
    #[default]
    HandshakeOrVersions,
    /// ApiVersions answered: SaslHandshake must come.
    Handshake,
    /// Handshake done: SaslAuthenticate tokens of this exchange.
    Authenticate(Box<Authenticator>),
    /// A re-authentication asked for another mechanism than the session's: Kafka answers the
    /// handshake, then fails the next token by closing the connection (this is why).
    ReauthBadMechanism(String),
    /// Authenticated (or a listener without SASL): every API is served.
    Complete,
}

/// One connection's state (see the module doc).
#[derive(Debug)]
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// Who the client is now.
    pub principal: Arc<KafkaPrincipal>,
    /// SASL progress (only consulted on a SASL listener).
    pub sasl: SaslState,
    /// Close the connection once the response of this request is written.
    pub close_after_response: bool,
    /// The mechanism the session authenticated with (a re-authentication must use it).
    pub mechanism: Option<Mechanism>,
    /// When the authenticated session ends (KIP-368); `None`: never.
    pub expires: Option<Instant>,
    /// A re-authentication under way.
    pub reauth: Option<Reauth>,
    /// When the last re-authentication began (Kafka allows one a second).
    pub last_reauth_start: Option<Instant>,
}

/// What a re-authentication must keep of the session it renews (Kafka's `ReauthInfo`).
#[derive(Debug)]
pub struct Reauth {
    /// The principal before: the new credential must name the same one.
    pub principal: Arc<KafkaPrincipal>,
}

impl Session {
    /// A connection whose transport established `principal` (a TLS client certificate).
    pub fn new(peer: SocketAddr, principal: KafkaPrincipal) -> Session {
        Session {
            peer,
            principal: Arc::new(principal),
            sasl: SaslState::default(),
            close_after_response: false,
            mechanism: None,
            expires: None,
            reauth: None,
            last_reauth_start: None,
        }
    }

    /// A connection that has not authenticated (yet).
    pub fn anonymous(peer: SocketAddr) -> Session {
        Session::new(peer, KafkaPrincipal::anonymous())
    }

    /// Whether SASL authentication completed on this connection.
    pub fn authenticated(&self) -> bool {
        matches!(self.sasl, SaslState::Complete)
    }
}
