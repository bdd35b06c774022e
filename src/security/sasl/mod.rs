//! SASL authentication as Kafka's `SaslServerAuthenticator` runs it on a SASL_PLAINTEXT or
//! SASL_SSL listener: the mechanisms a listener enables ([`ListenerSasl`], from
//! `sasl.enabled.mechanisms` and the JAAS configuration) and one connection's exchange
//! ([`Authenticator`]: handshake → authenticate tokens → a user, or Kafka's failure message).
//!
//! Why here and not in the router: the mechanisms are pure functions of bytes, a
//! configuration and the stored SCRAM credentials; the router owns the session, the Kafka
//! framing and the ordering rules, and hands each token to this module. Supported: PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (Kafka's default unsecured-JWT validator, or
//! one an embedder installs: [`validator`]). GSSAPI (Kafka's default `sasl.enabled.mechanisms`) needs
//! Kerberos, which gregor does not do: it is dropped from the enabled list with a warning at
//! start-up, and a handshake asking for it (or any unknown mechanism) gets
//! UNSUPPORTED_SASL_MECHANISM with the list gregor does enable.

pub mod client;
pub mod handler_class;
pub mod oauthbearer;
pub mod plain;
pub mod reauth;
pub mod scram;
pub mod scram_crypto;
pub mod unsecured_jws;
pub mod validator;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::BrokerConfig;
use crate::security::jaas;
pub use oauthbearer::OAuthBearerServer;
pub use reauth::SaslMetrics;
pub use scram::{ScramClient, ScramServer, ScramStep};
pub use scram_crypto::{ScramCredential, ScramMechanism};
pub use unsecured_jws::ValidatorOptions;
pub use validator::{
    OAuthBearerValidator, OAuthBearerValidators, TokenRefusal, UnsecuredValidator, ValidatedToken,
};

/// A mechanism gregor serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::Scram(m) => m.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            other => ScramMechanism::from_name(other).map(Mechanism::Scram),
        }
    }
}

/// The SASL settings of one listener (see the module doc).
#[derive(Clone)]
pub struct ListenerSasl {
    /// Served mechanisms, in `sasl.enabled.mechanisms` order.
    pub enabled: Vec<Mechanism>,
    /// Names in the configured list gregor cannot serve (GSSAPI, typos).
    pub unsupported: Vec<String>,
    /// PLAIN's users: name → password.
    plain_users: BTreeMap<String, String>,
    /// OAUTHBEARER's validator: Kafka's unsecured one with the JAAS `unsecuredValidator*`
    /// options, unless an embedder installed its own ([`ListenerSasl::with_validator`]).
    pub oauth: Arc<dyn OAuthBearerValidator>,
    /// Whether `oauth` is an embedder's (not the unsecured default).
    pub oauth_custom: bool,
    /// `sasl.server.max.receive.size`: the frame limit before authentication.
    pub max_receive_size: usize,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_delay: Duration,
    /// `connections.max.reauth.ms` of each enabled mechanism ([`reauth::max_reauth_ms`]).
    max_reauth_ms: Vec<(Mechanism, i64)>,
}

impl std::fmt::Debug for ListenerSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSasl")
            .field("enabled", &self.enabled)
            .field("plain_users", &self.plain_users.len())
            .finish()
    }
}

impl ListenerSasl {
    /// The settings of listener `listener` (Kafka's per-listener overrides first:
    /// `listener.name.<listener>.sasl.enabled.mechanisms`,
    /// `listener.name.<listener>.<mechanism>.sasl.jaas.config`, then `sasl.jaas.config`).
    /// A JAAS value that does not parse is an error naming the key, never quoting it.
    /// OAUTHBEARER's options are those of the value's first login module (Kafka's validator
    /// reads its single JAAS entry's options); without a value they take Kafka's defaults.
    /// Each enabled mechanism's `sasl.server.callback.handler.class` must be Kafka's built-in
    /// ([`handler_class::check`]).
    pub fn from_config(listener: &str, config: &BrokerConfig) -> Result<ListenerSasl, String> {
        let names = config
            .listener_value(listener, "sasl.enabled.mechanisms")
            .unwrap_or_else(|| config.sasl_enabled_mechanisms.join(","));
        let mut enabled = Vec::new();
        let mut unsupported = Vec::new();
        for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Mechanism::from_name(n) {
                Some(m) if !enabled.contains(&m) => enabled.push(m),
                Some(_) => {}
                None => unsupported.push(n.to_string()),
            }
        }
        let mut plain_users = BTreeMap::new();
        if enabled.contains(&Mechanism::Plain) {
            if let Some((key, v)) = jaas_value(listener, "plain", config) {
                let modules = jaas::parse(&v).map_err(|e| format!("{key}: {e}"))?;
                plain_users = jaas::plain_users(&modules);
            }
        }
        let mut oauth = ValidatorOptions::default();
        if enabled.contains(&Mechanism::OAuthBearer) {
            if let Some((key, v)) = jaas_value(listener, "oauthbearer", config) {
                let modules = jaas::parse(&v).map_err(|e| format!("{key}: {e}"))?;
                if let Some(first) = modules.first() {
                    oauth = ValidatorOptions::from_jaas(&first.options)
                        .map_err(|e| format!("{key}: {e}"))?;
                }
            }
        }
        for m in &enabled {
            handler_class::check(listener, *m, config)?;
        }
        let max_reauth_ms = enabled
            .iter()
            .map(|m| reauth::max_reauth_ms(listener, *m, config).map(|ms| (*m, ms)))
            .collect::<Result<_, _>>()?;
        Ok(ListenerSasl {
            max_reauth_ms,
            enabled,
            unsupported,
            plain_users,
            oauth: Arc::new(UnsecuredValidator::with_options(oauth)),
            oauth_custom: false,
            max_receive_size: config.sasl_server_max_receive_size,
            failed_delay: Duration::from_millis(config.connection_failed_authentication_delay_ms),
        })
    }

    /// These settings with an embedder's OAUTHBEARER validator instead of the unsecured one.
    pub fn with_validator(mut self, v: Arc<dyn OAuthBearerValidator>) -> ListenerSasl {
        self.oauth = v;
        self.oauth_custom = true;
        self
    }

    /// The enabled mechanism names, as SaslHandshake answers them.
    pub fn enabled_names(&self) -> Vec<&'static str> {
        self.enabled.iter().map(|m| m.name()).collect()
    }

    /// `connections.max.reauth.ms` for sessions authenticated with `mechanism` (0: unbounded).
    pub fn max_reauth_ms(&self, mechanism: Mechanism) -> i64 {
        self.max_reauth_ms
            .iter()
            .find(|(m, _)| *m == mechanism)
            .map_or(0, |(_, ms)| *ms)
    }

    /// How many PLAIN users the configuration defines (start-up log).
    pub fn plain_user_count(&self) -> usize {
        self.plain_users.len()
    }
}

/// The JAAS value for `mechanism` (lower case) on `listener`, with the key it came from:
/// `listener.name.<listener>.<mechanism>.sasl.jaas.config`, else `sasl.jaas.config`.
pub(super) fn jaas_value(
    listener: &str,
    mechanism: &str,
    config: &BrokerConfig,
) -> Option<(String, String)> {
    let prefixed = format!("{mechanism}.sasl.jaas.config");
    match config.listener_value(listener, &prefixed) {
        Some(v) => Some((
            format!("listener.name.{}.{prefixed}", listener.to_lowercase()),
            v,
        )),
        None => config
            .sasl_jaas_config
            .clone()
            .map(|v| ("sasl.jaas.config".to_string(), v)),
    }
}

/// The outcome of one SaslAuthenticate token.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send these bytes and wait for the next token.
    Challenge(Vec<u8>),
    /// Authenticated as this user; send `token` (may be empty). `expires_ms`: when the
    /// credential ends (an OAUTHBEARER token's `exp`, ms since the epoch), which bounds the
    /// session (KIP-368).
    Success {
        user: String,
        token: Vec<u8>,
        expires_ms: Option<i64>,
    },
    /// Refused: `message` goes to the client (Kafka's text), `reason` to the log.
    Failure { message: String, reason: String },
}

enum Exchange {
    Plain,
    Scram(Box<ScramServer>),
    OAuthBearer(OAuthBearerServer),
}

/// One connection's exchange, from a successful handshake to its outcome.
pub struct Authenticator {
    mechanism: Mechanism,
    exchange: Exchange,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authenticator({})", self.mechanism.name())
    }
}

impl Authenticator {
    /// The exchange for mechanism `name`, if `sasl` enables it.
    pub fn start(name: &str, sasl: &ListenerSasl) -> Option<Authenticator> {
        let mechanism = Mechanism::from_name(name).filter(|m| sasl.enabled.contains(m))?;
        let exchange = match mechanism {
            Mechanism::Plain => Exchange::Plain,
            Mechanism::OAuthBearer => Exchange::OAuthBearer(OAuthBearerServer::default()),
            Mechanism::Scram(m) => Exchange::Scram(Box::new(ScramServer::new(m))),
        };
        Some(Authenticator {
            mechanism,
            exchange,
        })
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Evaluates the client's next token. `scram` gives the stored credential of a user
    /// for a SCRAM mechanism.
    pub fn step(
        &mut self,
        token: &[u8],
        sasl: &ListenerSasl,
        scram: &dyn Fn(&str, ScramMechanism) -> Option<ScramCredential>,
    ) -> Outcome {
        match &mut self.exchange {
            Exchange::Plain => match plain::authenticate(token, &sasl.plain_users) {
                Ok(user) => Outcome::Success {
                    user,
                    token: Vec::new(),
                    expires_ms: None,
                },
                Err(message) => Outcome::Failure {
                    reason: message.clone(),
                    message,
                },
            },
            Exchange::OAuthBearer(server) => server.step(token, &*sasl.oauth, wall_clock_ms()),
            Exchange::Scram(server) => {
                let Mechanism::Scram(m) = self.mechanism else {
                    return Outcome::Failure {
                        message: "Authentication failed".into(),
                        reason: "mechanism mismatch".into(),
                    };
                };
                match server.step(token, &|user| scram(user, m)) {
                    Ok(ScramStep::Continue(challenge)) => Outcome::Challenge(challenge),
                    Ok(ScramStep::Done { user, server_final }) => Outcome::Success {
                        user,
                        token: server_final,
                        expires_ms: None,
                    },
                    Err(e) => Outcome::Failure {
                        // Kafka's SaslServerAuthenticator answers a SaslException so.
                        message: format!(
                            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                            m.name()
                        ),
                        reason: e.reason,
                    },
                }
            }
        }
    }
}

/// The wall clock in ms since the epoch: what a token's `exp` and `iat` claims are checked
/// against (security sits below the log layer, so it keeps its own).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
