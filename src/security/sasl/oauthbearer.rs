//! SASL/OAUTHBEARER (RFC 7628) as Kafka's `OAuthBearerSaslServer` serves it, with the
//! listener's validator ([`super::validator`]: Kafka's unsecured-JWT one,
//! [`super::unsecured_jws`], unless an embedder installed its own).
//!
//! The client's one message is a GS2 header and `\x01`-separated key/value pairs:
//! `n,[a=<authzid>],\x01auth=Bearer <token>\x01[<key>=<value>\x01...]\x01`. A message that
//! does not parse is a plain SASL failure (Kafka's generic "invalid credentials" text); a
//! token the validator refuses is answered, as the RFC asks, with a JSON error *challenge*
//! (`{"status":"invalid_token"}`), which the client acknowledges with a single `\x01` before
//! the server fails the exchange with that JSON as the message (SASL_AUTHENTICATION_FAILED).
//! An accepted token authenticates its principal claim as `User:<name>`; an authzid, if sent,
//! must equal it. Extensions are accepted and ignored, as the unsecured validator does.
//! The session lasts until the token's expiry (KIP-368, bounded by `connections.max.reauth.ms`).
//!
//! Why a state machine and not a function: the error challenge takes a round trip.

use std::collections::BTreeMap;

use super::validator::{self, OAuthBearerValidator};
use super::Outcome;

/// Kafka's message for a client message that is not OAUTHBEARER (a `SaslException`).
const INVALID: &str =
    "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER";

/// The parts of a client initial response (Kafka's `OAuthBearerClientInitialResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInitialResponse {
    pub authzid: String,
    pub token: String,
    pub extensions: BTreeMap<String, String>,
}

/// `(?:[\x01-\x7F&&[^=,]]|=2C|=3D)+`; kept as sent (Kafka compares it unescaped too).
fn valid_saslname(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' if b[i + 1..].starts_with(b"2C") || b[i + 1..].starts_with(b"3D") => i += 3,
            b'=' | b',' | 0 | 0x80.. => return false,
            _ => i += 1,
        }
    }
    !b.is_empty()
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphabetic())
}

fn valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| (0x21..=0x7E).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// `auth` is `<scheme> <token>`: scheme `\w+`, one or more spaces, token
/// `[-_~+/.a-zA-Z0-9]+=*`; the scheme must be `Bearer` in any case.
fn bearer_token(auth: &str) -> Result<String, String> {
    let (scheme, rest) = auth
        .split_once(' ')
        .ok_or("invalid 'auth' format: no space")?;
    let token = rest.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let token_char = |c: char| c.is_ascii_alphanumeric() || "-_~+/.".contains(c);
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !scheme_ok || body.is_empty() || !body.chars().all(token_char) {
        return Err("invalid 'auth' format".into());
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("invalid scheme in 'auth'".into());
    }
    Ok(token.to_string())
}

/// Parses a client initial response; the error is for the log only.
pub fn parse_initial_response(msg: &[u8]) -> Result<ClientInitialResponse, String> {
    let text = std::str::from_utf8(msg).map_err(|_| "not UTF-8".to_string())?;
    let rest = text
        .strip_prefix("n,")
        .ok_or("GS2 header does not start with 'n,'")?;
    let (authzid, rest) = match rest.strip_prefix("a=") {
        Some(a) => {
            let (name, rest) = a.split_once(',').ok_or("GS2 header has no ','")?;
            if !valid_saslname(name) {
                return Err("invalid authzid".into());
            }
            (name.to_string(), rest)
        }
        None => (
            String::new(),
            rest.strip_prefix(',').ok_or("GS2 header has no ','")?,
        ),
    };
    let pairs = rest
        .strip_prefix('\x01')
        .and_then(|r| r.strip_suffix('\x01'))
        .ok_or("key/value pairs are not framed by \\x01")?;
    let mut map = BTreeMap::new();
    if !pairs.is_empty() {
        let pairs = pairs
            .strip_suffix('\x01')
            .ok_or("a key/value pair does not end with \\x01")?;
        for pair in pairs.split('\x01') {
            let (k, v) = pair.split_once('=').ok_or("a key/value pair has no '='")?;
            if !valid_key(k) || !valid_value(v) {
                return Err("invalid key/value pair".into());
            }
            map.insert(k.to_string(), v.to_string());
        }
    }
    let auth = map.remove("auth").ok_or("'auth' not specified")?;
    Ok(ClientInitialResponse {
        authzid,
        token: bearer_token(&auth)?,
        extensions: map,
    })
}

/// One connection's OAUTHBEARER exchange (see the module doc).
#[derive(Debug, Default)]
pub struct OAuthBearerServer {
    /// The JSON challenge sent for a refused token, until the client's `\x01`.
    error_sent: Option<String>,
}

impl OAuthBearerServer {
    /// Evaluates the client's next message at `now_ms`.
    pub fn step(
        &mut self,
        msg: &[u8],
        validator: &dyn OAuthBearerValidator,
        now_ms: i64,
    ) -> Outcome {
        if msg == b"\x01" {
            if let Some(json) = self.error_sent.take() {
                return Outcome::Failure {
                    reason: format!("client acknowledged the error {json}"),
                    message: json,
                };
            }
        }
        self.error_sent = None;
        let response = match parse_initial_response(msg) {
            Ok(r) => r,
            Err(reason) => {
                return Outcome::Failure {
                    message: INVALID.into(),
                    reason: format!("invalid OAUTHBEARER client first message: {reason}"),
                }
            }
        };
        match validator::run(validator, &response.token, now_ms) {
            Err(rejection) => {
                tracing::debug!("OAUTHBEARER token refused: {}", rejection.reason());
                let json = rejection.json();
                self.error_sent = Some(json.clone());
                Outcome::Challenge(json.into_bytes())
            }
            Ok(token) if !response.authzid.is_empty() && response.authzid != token.principal() => {
                Outcome::Failure {
                    message: format!(
                        "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
                        response.authzid,
                        token.principal()
                    ),
                    reason: "authzid differs from the token's principal".into(),
                }
            }
            Ok(token) => {
                tracing::debug!(
                    "OAUTHBEARER token of {} accepted (scopes {:?})",
                    token.principal(),
                    token.scopes()
                );
                Outcome::Success {
                    user: token.principal().to_string(),
                    token: Vec::new(),
                    expires_ms: Some(token.expires_ms()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_and_librdkafkas_messages() {
        let r = parse_initial_response(b"n,,\x01auth=Bearer abc.def.\x01\x01").expect("plain");
        assert_eq!((r.authzid.as_str(), r.token.as_str()), ("", "abc.def."));
        let r = parse_initial_response(
            b"n,a=alice,\x01auth=bearer  a-b_c~d+e/f==\x01traceId=123\x01\x01",
        )
        .expect("authzid and extension");
        assert_eq!(r.authzid, "alice");
        assert_eq!(r.token, "a-b_c~d+e/f==");
        assert_eq!(r.extensions.get("traceId").map(String::as_str), Some("123"));
        for bad in [
            &b""[..],
            b"\x01",
            b"y,,\x01auth=Bearer t\x01\x01",
            b"n,,auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01",
            b"n,,\x01auth=Basic t\x01\x01",
            b"n,,\x01auth=Bearer\x01\x01",
            b"n,,\x01auth=Bearer t!\x01\x01",
            b"n,,\x01x=1\x01\x01",
            b"n,,\x01x1=1\x01auth=Bearer t\x01\x01",
            b"n,a=,\x01auth=Bearer t\x01\x01",
            b"n,a=b=c,\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01\x01\x01",
            b"n,\xff,\x01auth=Bearer t\x01\x01",
        ] {
            assert!(parse_initial_response(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refused_token_is_a_challenge_then_a_failure() {
        let mut s = OAuthBearerServer::default();
        let opts = super::super::UnsecuredValidator::default();
        let challenge = s.step(b"n,,\x01auth=Bearer x.y.\x01\x01", &opts, 0);
        assert_eq!(
            challenge,
            Outcome::Challenge(br#"{"status":"invalid_token"}"#.to_vec())
        );
        match s.step(b"\x01", &opts, 0) {
            Outcome::Failure { message, .. } => {
                assert_eq!(message, r#"{"status":"invalid_token"}"#)
            }
            other => panic!("{other:?}"),
        }
        // A lone \x01 without a pending error is just a bad message.
        match OAuthBearerServer::default().step(b"\x01", &opts, 0) {
            Outcome::Failure { message, .. } => assert_eq!(message, INVALID),
            other => panic!("{other:?}"),
        }
    }
}
