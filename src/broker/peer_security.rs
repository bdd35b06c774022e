//! How this node reaches the others when their listeners are secured: the [`Connector`]s of
//! its peer clients, one for the inter-broker listener (replica fetchers, transaction
//! markers) and one for the controller listener (registration, heartbeats, forwarding,
//! AlterPartition, the quorum's Raft RPCs), built as Kafka's `ChannelBuilders` build its
//! inter-broker and controller client channels:
//!
//! - the protocol is that of `inter.broker.listener.name` (or `security.inter.broker.protocol`)
//!   and of the first of `controller.listener.names` in `listener.security.protocol.map`;
//! - TLS (SSL, SASL_SSL): that listener's `ssl.*` values (`listener.name.<l>.ssl.*` first):
//!   its truststore verifies the other node, its keystore is this node's client certificate;
//! - SASL (SASL_PLAINTEXT, SASL_SSL): `sasl.mechanism.inter.broker.protocol` /
//!   `sasl.mechanism.controller.protocol` with the `username`/`password` options of that
//!   listener's JAAS value for the mechanism. The principal is `User:<username>` (SSL with a
//!   client certificate: its mapped subject), which must be in `super.users` when an
//!   authorizer is set: the other nodes' cluster actions are checked against it.
//!
//! Why in `broker`: `peer` may not know `security` and `security` may not know `peer`; this
//! is where both are in reach, beside the other compositions of the node's clients. A
//! configuration that cannot work (no truststore, GSSAPI, no credentials) is a start-up error.
//! An authentication refused by the other node is logged (mechanism, user, the server's
//! message: never the password) and fails the connect, which the peer backs off from.

use std::sync::Arc;

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;

use crate::config::endpoints::SecurityProtocol;
use crate::config::{BrokerConfig, ClusterConfig};
use crate::peer::transport::{request_on, ConnectFuture};
use crate::peer::{Connector, PeerStream};
use crate::security::sasl::client::ClientSasl;
use crate::security::ssl::client::client_config;
use crate::security::ssl::SslSettings;

/// The connectors of a node's two kinds of node-to-node traffic (`None`: plain TCP).
#[derive(Debug, Clone, Default)]
pub struct PeerConnectors {
    pub inter_broker: Option<Arc<dyn Connector>>,
    pub controller: Option<Arc<dyn Connector>>,
}

impl PeerConnectors {
    /// Builds both from the configuration (see the module doc); the error names the key.
    pub fn from_config(
        config: &BrokerConfig,
        cluster: &ClusterConfig,
    ) -> Result<PeerConnectors, String> {
        let inter_broker = if cluster.roles.broker {
            secure_connector(
                config,
                &cluster.inter_broker_listener,
                cluster.inter_broker_protocol,
                "sasl.mechanism.inter.broker.protocol",
            )?
        } else {
            None
        };
        let controller = match cluster.controller_listener_names.first() {
            Some(name) if !cluster.standalone => secure_connector(
                config,
                name,
                cluster.controller_protocol,
                "sasl.mechanism.controller.protocol",
            )?,
            _ => None,
        };
        Ok(PeerConnectors {
            inter_broker,
            controller,
        })
    }
}

fn secure_connector(
    config: &BrokerConfig,
    listener: &str,
    protocol: SecurityProtocol,
    mechanism_key: &str,
) -> Result<Option<Arc<dyn Connector>>, String> {
    let tls = match protocol {
        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => {
            Some(client_config(&SslSettings::resolve(config, listener)?)?)
        }
        _ => None,
    };
    let sasl = match protocol {
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
            let sasl = ClientSasl::from_config(listener, mechanism_key, config)?;
            let enabled = config
                .listener_value(listener, "sasl.enabled.mechanisms")
                .unwrap_or_else(|| config.sasl_enabled_mechanisms.join(","));
            let name = sasl.mechanism.name();
            if !enabled.split(',').any(|m| m.trim() == name) {
                return Err(format!(
                    "{mechanism_key} must be included in sasl.enabled.mechanisms when SASL is used for node-to-node communication ({name} is not enabled on listener {listener})"
                ));
            }
            Some(sasl)
        }
        _ => None,
    };
    if tls.is_none() && sasl.is_none() {
        return Ok(None);
    }
    Ok(Some(Arc::new(SecureConnector {
        listener: listener.to_string(),
        tls,
        sasl,
    })))
}

/// TLS and/or SASL on each new connection to one listener of the other nodes.
struct SecureConnector {
    listener: String,
    tls: Option<Arc<ClientConfig>>,
    sasl: Option<ClientSasl>,
}

impl std::fmt::Debug for SecureConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureConnector")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

impl PeerStream for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// SaslHandshake v1 and SaslAuthenticate v2: what every current Kafka client sends.
const HANDSHAKE_VERSION: i16 = 1;
const AUTHENTICATE_VERSION: i16 = 2;
/// Largest SASL answer accepted (a SCRAM server-first is ~150 bytes).
const SASL_MAX_FRAME: usize = 64 << 10;

impl Connector for SecureConnector {
    fn connect<'a>(
        &'a self,
        tcp: TcpStream,
        host: &'a str,
        client_id: &'a str,
    ) -> ConnectFuture<'a> {
        Box::pin(async move {
            let mut stream: Box<dyn PeerStream> = match &self.tls {
                Some(config) => {
                    let name = ServerName::try_from(host.to_string())
                        .map_err(|e| format!("TLS to {host}: bad server name: {e}"))?;
                    let tls = tokio_rustls::TlsConnector::from(config.clone())
                        .connect(name, tcp)
                        .await
                        .map_err(|e| {
                            let msg = format!(
                                "TLS handshake with {host} (listener {}) failed: {e}",
                                self.listener
                            );
                            tracing::warn!("{msg}");
                            msg
                        })?;
                    Box::new(tls)
                }
                None => Box::new(tcp),
            };
            if let Some(sasl) = &self.sasl {
                if let Err(e) = authenticate(stream.as_mut(), sasl, client_id).await {
                    let msg = format!(
                        "SASL {} authentication as {} to {host} (listener {}) failed: {e}",
                        sasl.mechanism.name(),
                        sasl.username(),
                        self.listener
                    );
                    tracing::error!("{msg}");
                    return Err(msg);
                }
            }
            Ok(stream)
        })
    }
}

/// Kafka's client SASL sequence on a fresh connection: SaslHandshake naming the mechanism,
/// then SaslAuthenticate tokens until the mechanism and the server are both done.
async fn authenticate(
    stream: &mut dyn PeerStream,
    sasl: &ClientSasl,
    client_id: &str,
) -> Result<(), String> {
    let name = sasl.mechanism.name();
    let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(name));
    let resp = request_on(
        stream,
        &req,
        HANDSHAKE_VERSION,
        1,
        client_id,
        SASL_MAX_FRAME,
    )
    .await?;
    if resp.error_code != 0 {
        let offered: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(format!(
            "the server does not enable {name} (error {}; it offers {})",
            resp.error_code,
            offered.join(",")
        ));
    }
    let (mut exchange, mut token) = sasl.start()?;
    let mut correlation = 2;
    loop {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        let resp = request_on(
            stream,
            &req,
            AUTHENTICATE_VERSION,
            correlation,
            client_id,
            SASL_MAX_FRAME,
        )
        .await?;
        correlation += 1;
        if resp.error_code != 0 {
            return Err(format!(
                "error {}: {}",
                resp.error_code,
                resp.error_message.as_deref().unwrap_or("")
            ));
        }
        let (next, reply) = exchange.step(&resp.auth_bytes)?;
        exchange = next;
        match reply {
            Some(t) => token = t,
            None if exchange.expects_more() => {
                return Err("the server ended the exchange early".into())
            }
            None => return Ok(()),
        }
    }
}
