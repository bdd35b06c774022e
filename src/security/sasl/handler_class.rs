//! `sasl.server.callback.handler.class`: the Java class Kafka calls to check a mechanism's
//! credentials. gregor runs no Java: the value may only name Kafka's built-in handler of the
//! mechanism (or be empty), which selects gregor's built-in; any other class refuses the
//! start, since silently ignoring it would run a listener with a check its operator did not
//! choose. A custom OAUTHBEARER validator is installed through the library API instead
//! ([`super::validator`]; README "A validator of your own").
//!
//! Where it is read: Kafka reads `listener.name.<l>.<mechanism>.sasl.server.callback.handler.class`
//! only; gregor also reads `listener.name.<l>.sasl.server.callback.handler.class` and the bare
//! key as fallbacks, where any of Kafka's built-in class names is accepted (ignored, as Kafka
//! ignores them there), so a custom class anywhere is never silently dropped.

use super::Mechanism;
use crate::config::BrokerConfig;

const KEY: &str = "sasl.server.callback.handler.class";

/// Kafka's unsecured OAUTHBEARER validator, the default handler of OAUTHBEARER.
pub const OAUTHBEARER_UNSECURED: &str =
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";

/// Kafka's built-in server handler of a mechanism (`SaslChannelBuilder`'s defaults).
fn built_in(m: Mechanism) -> &'static str {
    match m {
        Mechanism::Plain => {
            "org.apache.kafka.common.security.plain.internals.PlainServerCallbackHandler"
        }
        Mechanism::Scram(_) => {
            "org.apache.kafka.common.security.scram.internals.ScramServerCallbackHandler"
        }
        Mechanism::OAuthBearer => OAUTHBEARER_UNSECURED,
    }
}

/// Checks the handler class of `mechanism` on `listener`; `Err` is the start-up message.
pub fn check(listener: &str, mechanism: Mechanism, config: &BrokerConfig) -> Result<(), String> {
    let l = listener.to_lowercase();
    let m = mechanism.name().to_lowercase();
    let specific = format!("{m}.{KEY}");
    let (key, value, exact) = match config.listener_value(listener, &specific) {
        Some(v) => (format!("listener.name.{l}.{specific}"), v, true),
        None => match config.listener_value(listener, KEY) {
            Some(v) => (format!("listener.name.{l}.{KEY}"), v, false),
            None => match config.properties.get(KEY) {
                Some(v) => (KEY.to_string(), v.trim().to_string(), false),
                None => return Ok(()),
            },
        },
    };
    let all = [
        Mechanism::Plain,
        Mechanism::Scram(super::ScramMechanism::Sha256),
        Mechanism::OAuthBearer,
    ];
    let accepted = value.is_empty()
        || value == built_in(mechanism)
        || (!exact && all.iter().any(|m| value == built_in(*m)));
    if accepted {
        return Ok(());
    }
    let hint = match mechanism {
        Mechanism::OAuthBearer => format!(
            "gregor runs no Java classes and does not validate signed JWTs (JWKS, KIP-768): leave it unset or set it to {OAUTHBEARER_UNSECURED} for Kafka's unsecured validator, or install a custom validator through the library API (gregor::node::Embedding::oauthbearer_validator; README, \"A validator of your own\")"
        ),
        other => format!(
            "gregor runs no Java classes: {} is served by its built-in handler only (leave the key unset or set it to {})",
            other.name(),
            built_in(other)
        ),
    };
    Err(format!(
        "{key}={value}: custom SASL server callback handler for {} on listener {listener} not supported; {hint}",
        mechanism.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(props: &[(&str, &str)]) -> BrokerConfig {
        let mut c = BrokerConfig::default();
        let props: Vec<(String, String)> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut warnings = Vec::new();
        c.apply_properties(&props, &mut warnings).expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        c
    }

    #[test]
    fn kafkas_built_in_classes_pass_and_custom_ones_refuse_the_start() {
        let oauth = Mechanism::OAuthBearer;
        assert!(check("SASL_SSL", oauth, &config(&[])).is_ok());
        let key = "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class";
        assert!(check("SASL_SSL", oauth, &config(&[(key, OAUTHBEARER_UNSECURED)])).is_ok());
        assert!(check("SASL_SSL", oauth, &config(&[(key, "")])).is_ok());
        let e = check("SASL_SSL", oauth, &config(&[(key, "com.example.Jwks")])).unwrap_err();
        assert!(e.starts_with(&format!("{key}=com.example.Jwks")), "{e}");
        assert!(e.contains("A validator of your own"), "{e}");
        // KIP-768's JWKS handler is not implemented either.
        let jwks =
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
        assert!(check("SASL_SSL", oauth, &config(&[(key, jwks)])).is_err());
        // Another listener's key does not apply; the bare key does.
        assert!(check("OTHER", oauth, &config(&[(key, "com.example.Jwks")])).is_ok());
        let bare = config(&[(KEY, "com.example.Jwks")]);
        assert!(check("OTHER", oauth, &bare).unwrap_err().starts_with(KEY));
        // The bare key naming PLAIN's built-in is ignored for OAUTHBEARER (as Kafka ignores it);
        // the mechanism's own key must name the mechanism's own class.
        let plain = "org.apache.kafka.common.security.plain.internals.PlainServerCallbackHandler";
        assert!(check("SASL_SSL", oauth, &config(&[(KEY, plain)])).is_ok());
        assert!(check("SASL_SSL", oauth, &config(&[(key, plain)])).is_err());
        let plain_key = "listener.name.sasl_ssl.plain.sasl.server.callback.handler.class";
        let e = check("SASL_SSL", Mechanism::Plain, &config(&[(plain_key, "x.Y")])).unwrap_err();
        assert!(e.contains("built-in handler only"), "{e}");
    }
}
