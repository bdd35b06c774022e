//! The client side of SASL for node-to-node traffic, as Kafka's inter-broker and controller
//! channels authenticate: the mechanism is `sasl.mechanism.inter.broker.protocol` (or
//! `sasl.mechanism.controller.protocol`), the credentials are the `username` and `password`
//! options of the listener's JAAS value for that mechanism
//! (`listener.name.<listener>.<mechanism>.sasl.jaas.config`, else `sasl.jaas.config`) — the
//! same entry whose `user_<name>` options list PLAIN's users on the server side.
//!
//! PLAIN and SCRAM-SHA-256/512 (the SCRAM math is [`super::scram::ScramClient`], on the
//! RustCrypto crates the server side uses). GSSAPI (Kafka's default) and OAUTHBEARER are
//! refused at start-up with a message naming the key. Errors never quote a secret.

use super::scram::{alphanumeric_nonce, ScramClient};
use super::{jaas_value, Mechanism};
use crate::config::keys::broker_key;
use crate::config::BrokerConfig;
use crate::security::jaas;

/// The credentials one node presents to another's SASL listener.
#[derive(Clone)]
pub struct ClientSasl {
    pub mechanism: Mechanism,
    username: String,
    password: String,
}

impl std::fmt::Debug for ClientSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish()
    }
}

impl ClientSasl {
    /// The credentials for `listener`, the mechanism named by key `mechanism_key`
    /// (`sasl.mechanism.inter.broker.protocol` or `sasl.mechanism.controller.protocol`).
    pub fn from_config(
        listener: &str,
        mechanism_key: &str,
        config: &BrokerConfig,
    ) -> Result<ClientSasl, String> {
        let name = config
            .properties
            .get(mechanism_key)
            .map(|v| v.trim().to_string())
            .or_else(|| broker_key(mechanism_key)?.default.map(str::to_string))
            .unwrap_or_default();
        let mechanism = match Mechanism::from_name(&name) {
            Some(m @ (Mechanism::Plain | Mechanism::Scram(_))) => m,
            _ => {
                return Err(format!(
                    "{mechanism_key}={name} is not supported for node-to-node SASL: set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                ))
            }
        };
        let lower = mechanism.name().to_ascii_lowercase();
        let (key, value) = jaas_value(listener, &lower, config).ok_or_else(|| {
            format!(
                "listener {listener} carries node-to-node SASL: set listener.name.{}.{lower}.sasl.jaas.config with the username and password this node authenticates with",
                listener.to_ascii_lowercase()
            )
        })?;
        let modules = jaas::parse(&value).map_err(|e| format!("{key}: {e}"))?;
        let option = |o: &str| modules.iter().find_map(|m| m.options.get(o).cloned());
        match (option("username"), option("password")) {
            (Some(username), Some(password)) if !username.is_empty() => Ok(ClientSasl {
                mechanism,
                username,
                password,
            }),
            _ => Err(format!(
                "{key}: node-to-node SASL needs the username and password options (the credentials this node authenticates with)"
            )),
        }
    }

    /// The user this node authenticates as.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// A new exchange and its first token.
    pub fn start(&self) -> Result<(ClientExchange, Vec<u8>), String> {
        match self.mechanism {
            Mechanism::Scram(m) => {
                let nonce = alphanumeric_nonce().map_err(|e| e.reason)?;
                let client = ScramClient::new(m, &self.username, &self.password, &nonce);
                let first = client.client_first();
                Ok((ClientExchange::ScramFirst(client), first))
            }
            _ => {
                let token = format!("\0{}\0{}", self.username, self.password).into_bytes();
                Ok((ClientExchange::Done, token))
            }
        }
    }
}

/// Where a client exchange stands.
pub enum ClientExchange {
    /// Client-first sent: the server-first comes next.
    ScramFirst(ScramClient),
    /// Client-final sent: the server-final (its signature) comes next.
    ScramFinal(ScramClient),
    /// Nothing more to send; the server's answer decides.
    Done,
}

impl ClientExchange {
    /// The next token for the server's `challenge`; `None`: the exchange is complete.
    pub fn step(self, challenge: &[u8]) -> Result<(ClientExchange, Option<Vec<u8>>), String> {
        match self {
            ClientExchange::ScramFirst(mut c) => {
                let last = c.client_final(challenge).map_err(|e| e.reason)?;
                Ok((ClientExchange::ScramFinal(c), Some(last)))
            }
            ClientExchange::ScramFinal(c) => {
                if c.verify_server_final(challenge) {
                    Ok((ClientExchange::Done, None))
                } else {
                    Err("the server's SCRAM signature is wrong (it does not know this user's credential)".into())
                }
            }
            ClientExchange::Done => Ok((ClientExchange::Done, None)),
        }
    }

    /// Whether the client still expects a token from the server.
    pub fn expects_more(&self) -> bool {
        !matches!(self, ClientExchange::Done)
    }
}
