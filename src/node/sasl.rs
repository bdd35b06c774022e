//! The SASL settings of each SASL_PLAINTEXT / SASL_SSL listener, read once at start-up.
//!
//! Why at start-up: a JAAS value that does not parse, or a SASL listener with no mechanism
//! gregor can serve (Kafka's default `sasl.enabled.mechanisms` is GSSAPI, which gregor does
//! not do), would leave clients unable to authenticate; Kafka refuses to start then too, so
//! gregor exits with a message naming the listener and the key (never a secret).

use std::collections::HashMap;
use std::io;

use crate::config::endpoints::SecurityProtocol;
use crate::config::{BrokerConfig, ClusterConfig};
use crate::security::sasl::{ListenerSasl, Mechanism};

/// Listener name → its SASL settings, for the listeners whose protocol is SASL_*.
pub fn listener_sasl(
    config: &BrokerConfig,
    cluster: &ClusterConfig,
) -> io::Result<HashMap<String, ListenerSasl>> {
    let mut out = HashMap::new();
    for l in &cluster.listeners {
        if !matches!(
            l.protocol,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        ) {
            continue;
        }
        let sasl = ListenerSasl::from_config(&l.name, config).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("listener {}: {e}", l.name),
            )
        })?;
        if !sasl.unsupported.is_empty() {
            tracing::warn!(
                "listener {}: SASL mechanism(s) {} not supported by gregor (ignored)",
                l.name,
                sasl.unsupported.join(",")
            );
        }
        if sasl.enabled.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "listener {}: no supported SASL mechanism enabled (set sasl.enabled.mechanisms or listener.name.{}.sasl.enabled.mechanisms to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and/or OAUTHBEARER)",
                    l.name,
                    l.name.to_lowercase()
                ),
            ));
        }
        if sasl.enabled.contains(&Mechanism::OAuthBearer) {
            // Kafka's default OAUTHBEARER validator: any well-formed unsecured JWT is believed.
            tracing::warn!(
                "listener {}: OAUTHBEARER uses Kafka's unsecured JWT validator (tokens are not signed: development only)",
                l.name
            );
        }
        tracing::info!(
            "listener {}: SASL {} ({} PLAIN user(s) configured)",
            l.name,
            sasl.enabled_names().join(","),
            sasl.plain_user_count()
        );
        out.insert(l.name.clone(), sasl);
    }
    Ok(out)
}
