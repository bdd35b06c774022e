//! KIP-368 re-authentication: how long an authenticated SASL session lasts, and the
//! counters a broker keeps of sessions renewed and expired.
//!
//! Why here: the lifetime is a pure function of the configuration (`connections.max.reauth.ms`
//! per listener and mechanism, as Kafka's `SaslChannelBuilder` resolves it) and of the
//! credential (an OAUTHBEARER token's `exp`), as Kafka's
//! `SaslServerAuthenticator.ReauthInfo` computes it; the router applies it to a connection
//! (closing an expired one, accepting a re-authentication with the same principal).

use std::sync::atomic::{AtomicU64, Ordering};

use super::Mechanism;
use crate::config::BrokerConfig;

/// `connections.max.reauth.ms` for `mechanism` on `listener`: Kafka's
/// `listener.name.<l>.<mechanism>.connections.max.reauth.ms`, else
/// `listener.name.<l>.connections.max.reauth.ms`, else the broker-wide value. A value that is
/// not a number is an error naming the key.
pub fn max_reauth_ms(
    listener: &str,
    mechanism: Mechanism,
    config: &BrokerConfig,
) -> Result<i64, String> {
    let key = "connections.max.reauth.ms";
    let prefixed = format!("{}.{key}", mechanism.name().to_lowercase());
    for k in [prefixed.as_str(), key] {
        if let Some(v) = config.listener_value(listener, k) {
            return v.parse::<i64>().map_err(|_| {
                format!(
                    "listener.name.{}.{k}: not a number: {v:?}",
                    listener.to_lowercase()
                )
            });
        }
    }
    Ok(config.connections_max_reauth_ms)
}

/// The session lifetime in ms after an authentication that ended at `now_ms` (wall clock), or
/// `None` when the session never expires: the smaller of `max_reauth_ms` (when positive) and
/// the time left before `credential_expires_ms`, never negative. SaslAuthenticate v1+ sends
/// it to the client (0 for `None`).
pub fn session_lifetime_ms(
    max_reauth_ms: i64,
    credential_expires_ms: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    let max_set = max_reauth_ms > 0;
    let lifetime = match (credential_expires_ms, max_set) {
        (None, false) => return None,
        (None, true) => max_reauth_ms,
        (Some(exp), false) => exp.saturating_sub(now_ms),
        (Some(exp), true) => exp.saturating_sub(now_ms).min(max_reauth_ms),
    };
    Some(lifetime.max(0))
}

/// The message Kafka's broker fails a re-authentication with when the new credential names
/// someone else.
pub fn principal_changed_message(previous: &str, now: &str) -> String {
    let split = |p: &str| match p.split_once(':') {
        Some((t, n)) => format!("{t}.{n}"),
        None => p.to_string(),
    };
    format!(
        "Cannot change principals during re-authentication from {}: {}",
        split(previous),
        split(now)
    )
}

/// Counters of a broker's SASL sessions (Kafka's `successful-reauthentication-total`,
/// `failed-reauthentication-total`, `expired-connections-killed-count`): what an operator
/// (and a test) reads to see that clients renew their sessions.
#[derive(Debug, Default)]
pub struct SaslMetrics {
    successful_reauthentication: AtomicU64,
    failed_reauthentication: AtomicU64,
    expired_connections_killed: AtomicU64,
}

impl SaslMetrics {
    pub fn record_reauthentication(&self, ok: bool) {
        let c = if ok {
            &self.successful_reauthentication
        } else {
            &self.failed_reauthentication
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_expired_connection(&self) {
        self.expired_connections_killed
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Re-authentications that succeeded.
    pub fn successful_reauthentications(&self) -> u64 {
        self.successful_reauthentication.load(Ordering::Relaxed)
    }

    /// Re-authentications refused (wrong credential, another principal or mechanism).
    pub fn failed_reauthentications(&self) -> u64 {
        self.failed_reauthentication.load(Ordering::Relaxed)
    }

    /// Connections closed because a request came after their session expired.
    pub fn expired_connections_killed(&self) -> u64 {
        self.expired_connections_killed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_is_the_earlier_of_the_bound_and_the_credential() {
        assert_eq!(session_lifetime_ms(0, None, 1_000), None);
        assert_eq!(session_lifetime_ms(-5, None, 1_000), None);
        assert_eq!(session_lifetime_ms(2_000, None, 1_000), Some(2_000));
        assert_eq!(session_lifetime_ms(0, Some(4_000), 1_000), Some(3_000));
        assert_eq!(session_lifetime_ms(2_000, Some(4_000), 1_000), Some(2_000));
        assert_eq!(session_lifetime_ms(5_000, Some(4_000), 1_000), Some(3_000));
        assert_eq!(session_lifetime_ms(5_000, Some(500), 1_000), Some(0));
    }

    #[test]
    fn per_listener_and_mechanism_keys_override_the_broker_value() {
        let mut cfg = BrokerConfig::default();
        let mut w = Vec::new();
        cfg.apply_properties(
            &[
                ("connections.max.reauth.ms".into(), "3000".into()),
                (
                    "listener.name.sasl_ssl.oauthbearer.connections.max.reauth.ms".into(),
                    "1000".into(),
                ),
                (
                    "listener.name.sasl_ssl.connections.max.reauth.ms".into(),
                    "2000".into(),
                ),
            ],
            &mut w,
        )
        .expect("valid");
        let r = |l, m| max_reauth_ms(l, m, &cfg).expect("number");
        assert_eq!(r("SASL_SSL", Mechanism::OAuthBearer), 1000);
        assert_eq!(r("SASL_SSL", Mechanism::Plain), 2000);
        assert_eq!(r("SASL_PLAINTEXT", Mechanism::Plain), 3000);
        assert_eq!(
            principal_changed_message("User:alice", "User:bob"),
            "Cannot change principals during re-authentication from User.alice: User.bob"
        );
    }
}
