//! TLS for SSL and SASL_SSL listeners (and the peer client): Kafka's `ssl.*` settings resolved
//! per listener ([`settings`]), the rustls server configuration with reload on keystore change
//! ([`server`]), encrypted PEM private keys (`ssl.key.password`, [`encrypted_key`]), the client certificate's subject DN as Java prints it ([`dn`]) and Kafka's
//! `ssl.principal.mapping.rules` ([`principal_mapper`]).
//!
//! Why here and not in `server`: these are configuration and identity (what the principal of a
//! certificate is), checked at start-up by `node` and `gregor serve`; `server` only runs the
//! handshake on a socket with what this module built.

pub mod client;
pub mod dn;
pub mod encrypted_key;
pub mod principal_mapper;
pub mod server;
pub mod settings;

pub use dn::subject_rfc2253;
pub use principal_mapper::PrincipalMapper;
pub use server::ServerTls;
pub use settings::{ClientAuth, SslSettings};

use std::sync::Arc;

use crate::config::{BrokerConfig, Endpoint, SecurityProtocol};

/// The TLS configuration of a listener: `Some` for SSL and SASL_SSL, `None` for the others;
/// an error (naming the listener and key) when its settings are unusable — a start-up error.
pub fn listener_tls(config: &BrokerConfig, e: &Endpoint) -> Result<Option<Arc<ServerTls>>, String> {
    let cert_principal = match e.protocol {
        SecurityProtocol::Ssl => true,
        SecurityProtocol::SaslSsl => false,
        SecurityProtocol::Plaintext | SecurityProtocol::SaslPlaintext => return Ok(None),
    };
    let settings = SslSettings::resolve(config, &e.name)?;
    Ok(Some(Arc::new(ServerTls::new(settings, cert_principal)?)))
}
