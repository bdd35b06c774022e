//! What the router remembers about one connection between its requests.
//!
//! Why: the socket layer knows frames only and a handler sees one request, but some state
//! belongs to the connection as a whole — above all who the client is. The server creates a
//! [`Session`] when a connection opens (with the principal its transport established: a TLS
//! client certificate, or `User:ANONYMOUS`) and hands it to every [`super::Router::handle_frame`]
//! call in turn; authentication (SASL) changes it, and every [`crate::handlers::RequestContext`]
//! carries its principal. It is owned by the connection task, so it needs no lock.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::security::KafkaPrincipal;

/// One connection's state (see the module doc).
#[derive(Debug, Clone)]
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// Who the client is now.
    pub principal: Arc<KafkaPrincipal>,
}

impl Session {
    /// A connection whose transport established `principal` (a TLS client certificate).
    pub fn new(peer: SocketAddr, principal: crate::security::KafkaPrincipal) -> Session {
        Session {
            peer,
            principal: Arc::new(principal),
        }
    }

    /// A connection that has not authenticated (yet).
    pub fn anonymous(peer: SocketAddr) -> Session {
        Session {
            peer,
            principal: Arc::new(KafkaPrincipal::anonymous()),
        }
    }
}
