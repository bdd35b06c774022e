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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::{plain, ScramCredential, ScramMechanism, ScramServer, ScramStep};

    fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
        let mut c = BrokerConfig::default();
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c.apply_properties(&pairs, &mut Vec::new()).expect("valid");
        c
    }

    const KEY: &str = "sasl.mechanism.inter.broker.protocol";

    #[test]
    fn credentials_come_from_the_listeners_jaas_entry() {
        let c = config(&[
            (KEY, "PLAIN"),
            (
                "listener.name.secure.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"pw\" user_broker=\"pw\";",
            ),
        ]);
        let s = ClientSasl::from_config("SECURE", KEY, &c).expect("credentials");
        assert_eq!(s.username(), "broker");
        assert!(!format!("{s:?}").contains("pw"), "Debug shows no password");
        let (exchange, token) = s.start().expect("start");
        assert!(!exchange.expects_more());
        let users = [("broker".to_string(), "pw".to_string())].into();
        assert_eq!(plain::authenticate(&token, &users).as_deref(), Ok("broker"));
    }

    #[test]
    fn unusable_settings_are_named_without_secrets() {
        let e = ClientSasl::from_config("SECURE", KEY, &config(&[])).expect_err("GSSAPI");
        assert!(
            e.contains("sasl.mechanism.inter.broker.protocol=GSSAPI is not supported"),
            "{e}"
        );
        let e = ClientSasl::from_config("SECURE", KEY, &config(&[(KEY, "PLAIN")]))
            .expect_err("no JAAS");
        assert!(
            e.contains("listener.name.secure.plain.sasl.jaas.config"),
            "{e}"
        );
        let c = config(&[
            (KEY, "SCRAM-SHA-256"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required password=\"hidden\";",
            ),
        ]);
        let e = ClientSasl::from_config("SECURE", KEY, &c).expect_err("no username");
        assert!(
            e.contains("username and password") && !e.contains("hidden"),
            "{e}"
        );
    }

    #[test]
    fn scram_exchange_against_the_server_side() {
        for (name, m) in [
            ("SCRAM-SHA-256", ScramMechanism::Sha256),
            ("SCRAM-SHA-512", ScramMechanism::Sha512),
        ] {
            let c = config(&[
                (KEY, name),
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"pw\";",
                ),
            ]);
            let s = ClientSasl::from_config("SECURE", KEY, &c).expect("credentials");
            let stored = ScramCredential::from_password(m, "pw", b"salt-salt", 4096);
            let lookup = |u: &str| (u == "broker").then(|| stored.clone());
            let mut server = ScramServer::new(m);
            let (exchange, first) = s.start().expect("start");
            let ScramStep::Continue(challenge) = server.step(&first, &lookup).expect("first")
            else {
                panic!("a challenge")
            };
            let (exchange, last) = exchange.step(&challenge).expect("final");
            let ScramStep::Done { user, server_final } = server
                .step(&last.expect("client-final"), &lookup)
                .expect("proof")
            else {
                panic!("done")
            };
            assert_eq!(user, "broker");
            let (exchange, none) = exchange.step(&server_final).expect("verified");
            assert!(none.is_none() && !exchange.expects_more());
            // A server that does not know the credential cannot forge the signature.
            let (exchange, first) = s.start().expect("start");
            let mut server = ScramServer::new(m);
            let ScramStep::Continue(challenge) = server.step(&first, &lookup).expect("first")
            else {
                panic!("a challenge")
            };
            let (exchange, _) = exchange.step(&challenge).expect("final");
            assert!(exchange.step(b"v=AAAA").is_err());
        }
    }
}
