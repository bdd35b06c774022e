//! The SASL settings of each SASL_PLAINTEXT / SASL_SSL listener, read once at start-up.
//!
//! Why at start-up: a JAAS value that does not parse, or a SASL listener with no mechanism
//! gregor can serve (Kafka's default `sasl.enabled.mechanisms` is GSSAPI, which gregor does
//! not do), would leave clients unable to authenticate; Kafka refuses to start then too, so
//! gregor exits with a message naming the listener and the key (never a secret). The
//! OAUTHBEARER validators an embedder installed replace the unsecured one here; one installed
//! for a listener that is not a SASL listener enabling OAUTHBEARER is refused too (a typo
//! would otherwise leave the unsecured validator in place).

use std::collections::HashMap;
use std::io;

use crate::config::endpoints::SecurityProtocol;
use crate::config::{BrokerConfig, ClusterConfig};
use crate::security::sasl::{ListenerSasl, Mechanism, OAuthBearerValidators};

/// Listener name → its SASL settings, for the listeners whose protocol is SASL_*.
pub fn listener_sasl(
    config: &BrokerConfig,
    cluster: &ClusterConfig,
    validators: &OAuthBearerValidators,
) -> io::Result<HashMap<String, ListenerSasl>> {
    let mut out = HashMap::new();
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    for l in &cluster.listeners {
        if !matches!(
            l.protocol,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        ) {
            continue;
        }
        let mut sasl = ListenerSasl::from_config(&l.name, config).map_err(|e| {
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
        let oauth = sasl.enabled.contains(&Mechanism::OAuthBearer);
        if let Some(v) = validators.for_listener(&l.name).filter(|_| oauth) {
            sasl = sasl.with_validator(v);
            tracing::info!(
                "listener {}: OAUTHBEARER uses the validator installed by the embedding program",
                l.name
            );
        } else if oauth {
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
    for name in validators.listener_names() {
        let served = out.iter().any(|(l, s)| {
            l.eq_ignore_ascii_case(name) && s.enabled.contains(&Mechanism::OAuthBearer)
        });
        if !served {
            return Err(invalid(format!(
                "an OAUTHBEARER validator is installed for listener {name}, which is not a SASL listener enabling OAUTHBEARER"
            )));
        }
    }
    Ok(out)
}
