//! The OAUTHBEARER validator hook: what decides whether a bearer token is good, who it names
//! and until when (Kafka's `OAuthBearerValidatorCallback`, answered by the listener's
//! `sasl.server.callback.handler.class`).
//!
//! Why a trait: Kafka's default, the unsecured-JWT validator ([`UnsecuredValidator`]), proves
//! nothing and is for development only; a real deployment checks signatures against its
//! identity provider, which gregor does not do itself (no JWKS, KIP-768). An embedder
//! installs its own [`OAuthBearerValidator`] per listener or for all listeners
//! (`gregor::testing::TestBrokerBuilder::oauthbearer_validator`,
//! `gregor::node::Embedding::oauthbearer_validator`); the OAUTHBEARER exchange
//! (`oauthbearer.rs`) calls it with the token and the wall clock, and turns its answer into
//! Kafka's wire behaviour: an accepted token authenticates `User:<principal>` with a session
//! bounded by its expiry (KIP-368), a refused one is answered with Kafka's JSON error
//! challenge, then SASL_AUTHENTICATION_FAILED.
//!
//! A validator that accepts only `secret-<user>` tokens, valid for a minute:
//!
//! ```
//! use gregor::testing::{OAuthBearerValidator, TokenRefusal, ValidatedToken};
//!
//! struct SharedSecret;
//!
//! impl OAuthBearerValidator for SharedSecret {
//!     fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenRefusal> {
//!         match token.strip_prefix("secret-") {
//!             Some(user) if !user.is_empty() => Ok(ValidatedToken::new(user, now_ms + 60_000)),
//!             _ => Err(TokenRefusal::invalid_token("not a shared-secret token")),
//!         }
//!     }
//! }
//!
//! let v = SharedSecret;
//! assert_eq!(v.validate("secret-alice", 0).unwrap().principal(), "alice");
//! let refusal = v.validate("forged", 0).unwrap_err();
//! assert_eq!(refusal.json(), r#"{"status":"invalid_token"}"#);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use super::unsecured_jws::{self, ValidatorOptions};

/// Validates the bearer tokens of OAUTHBEARER clients on a listener (see the module doc).
///
/// `validate` runs on the connection's task for every SaslAuthenticate carrying a token
/// (authentication and KIP-368 re-authentication): keep it fast and non-blocking (fetch
/// signing keys in the background, not per call). A panic counts as a refusal.
pub trait OAuthBearerValidator: Send + Sync + 'static {
    /// Checks `token` (the text after `auth=Bearer `) at `now_ms` (ms since the Unix epoch).
    fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenRefusal>;
}

impl<T: OAuthBearerValidator + ?Sized> OAuthBearerValidator for Arc<T> {
    fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenRefusal> {
        (**self).validate(token, now_ms)
    }
}

/// An accepted token: the principal name it authenticates (`User:<principal>`), when it
/// expires (ms since the Unix epoch; bounds the session, KIP-368) and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedToken {
    principal: String,
    expires_ms: i64,
    scopes: Vec<String>,
}

impl ValidatedToken {
    /// A token naming `principal`, valid until `expires_ms` (ms since the Unix epoch).
    pub fn new(principal: impl Into<String>, expires_ms: i64) -> ValidatedToken {
        ValidatedToken {
            principal: principal.into(),
            expires_ms,
            scopes: Vec::new(),
        }
    }

    /// The token's scopes (informational: logged at debug level).
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The principal name (`User:` + it is the session's principal).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// When the token expires, in ms since the Unix epoch.
    pub fn expires_ms(&self) -> i64 {
        self.expires_ms
    }

    /// The token's scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// A refused token: the RFC 7628 status the client sees in Kafka's JSON error challenge
/// (`invalid_token`, or `insufficient_scope` with the scope required), and a reason for the
/// broker's log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    status: &'static str,
    scope: Option<String>,
    reason: String,
}

impl TokenRefusal {
    /// The token is malformed, expired, forged, …: `{"status":"invalid_token"}`.
    pub fn invalid_token(reason: impl Into<String>) -> TokenRefusal {
        TokenRefusal {
            status: "invalid_token",
            scope: None,
            reason: reason.into(),
        }
    }

    /// The token lacks a scope: `{"status":"insufficient_scope", "scope":"<scope>"}`.
    pub fn insufficient_scope(scope: impl Into<String>, reason: impl Into<String>) -> Self {
        TokenRefusal {
            status: "insufficient_scope",
            scope: Some(scope.into()),
            reason: reason.into(),
        }
    }

    /// `invalid_token` or `insufficient_scope`.
    pub fn status(&self) -> &str {
        self.status
    }

    /// The scope named in the challenge, if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Why, for the broker's log (never sent to the client).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Kafka's error challenge (`OAuthBearerSaslServer.jsonErrorResponse`), byte for byte
    /// for Kafka's values; a `"` or `\` in a validator's scope is escaped.
    pub fn json(&self) -> String {
        let mut s = format!("{{\"status\":\"{}\"", self.status);
        if let Some(scope) = &self.scope {
            let escaped: String = scope
                .chars()
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    c if c.is_control() => vec![' '],
                    c => vec![c],
                })
                .collect();
            s.push_str(&format!(", \"scope\":\"{escaped}\""));
        }
        s.push('}');
        s
    }
}

/// Kafka's default validator (`OAuthBearerUnsecuredValidatorCallbackHandler`): any
/// well-formed, unexpired *unsigned* JWT is believed. Development only. `default()` has
/// Kafka's default options (principal claim `sub`, scope claim `scope`, no required scope,
/// no clock skew); a listener's own come from its JAAS `unsecuredValidator*` options.
#[derive(Debug, Clone, Default)]
pub struct UnsecuredValidator {
    options: ValidatorOptions,
}

impl UnsecuredValidator {
    pub(crate) fn with_options(options: ValidatorOptions) -> UnsecuredValidator {
        UnsecuredValidator { options }
    }
}

impl OAuthBearerValidator for UnsecuredValidator {
    fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenRefusal> {
        unsecured_jws::validate(token, &self.options, now_ms)
    }
}

/// The validators an embedder installed: one for all listeners and/or one per listener
/// name (a listener's own wins). Listener names compare case-insensitively.
#[derive(Clone, Default)]
pub struct OAuthBearerValidators {
    all: Option<Arc<dyn OAuthBearerValidator>>,
    listeners: BTreeMap<String, Arc<dyn OAuthBearerValidator>>,
}

impl std::fmt::Debug for OAuthBearerValidators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearerValidators")
            .field("all", &self.all.is_some())
            .field("listeners", &self.listeners.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OAuthBearerValidators {
    /// Installs `v` for every listener without its own.
    pub fn set_all(&mut self, v: Arc<dyn OAuthBearerValidator>) {
        self.all = Some(v);
    }

    /// Installs `v` for listener `name`.
    pub fn set_listener(&mut self, name: &str, v: Arc<dyn OAuthBearerValidator>) {
        self.listeners.insert(name.to_ascii_uppercase(), v);
    }

    /// The validator installed for listener `name`, if any.
    pub fn for_listener(&self, name: &str) -> Option<Arc<dyn OAuthBearerValidator>> {
        self.listeners
            .get(&name.to_ascii_uppercase())
            .or(self.all.as_ref())
            .cloned()
    }

    /// The listener names given a validator of their own.
    pub fn listener_names(&self) -> impl Iterator<Item = &str> {
        self.listeners.keys().map(String::as_str)
    }
}

/// Calls `v`, a panic counting as a refusal; a blank principal is refused too.
pub(crate) fn run(
    v: &dyn OAuthBearerValidator,
    token: &str,
    now_ms: i64,
) -> Result<ValidatedToken, TokenRefusal> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.validate(token, now_ms)))
        .unwrap_or_else(|_| Err(TokenRefusal::invalid_token("the validator panicked")))?;
    if r.principal.trim().is_empty() {
        return Err(TokenRefusal::invalid_token(
            "the validator returned a blank principal",
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panics;
    impl OAuthBearerValidator for Panics {
        fn validate(&self, _: &str, _: i64) -> Result<ValidatedToken, TokenRefusal> {
            panic!("boom")
        }
    }
    struct Blank;
    impl OAuthBearerValidator for Blank {
        fn validate(&self, _: &str, now: i64) -> Result<ValidatedToken, TokenRefusal> {
            Ok(ValidatedToken::new(" ", now + 1))
        }
    }

    #[test]
    fn panics_and_blank_principals_are_refusals() {
        assert_eq!(run(&Panics, "t", 0).unwrap_err().status(), "invalid_token");
        assert_eq!(run(&Blank, "t", 0).unwrap_err().status(), "invalid_token");
    }

    #[test]
    fn json_challenges_and_listener_lookup() {
        let r = TokenRefusal::insufficient_scope("[a, b]", "missing b");
        assert_eq!(
            r.json(),
            r#"{"status":"insufficient_scope", "scope":"[a, b]"}"#
        );
        let r = TokenRefusal::insufficient_scope("a\"b", "x");
        assert_eq!(
            r.json(),
            r#"{"status":"insufficient_scope", "scope":"a\"b"}"#
        );
        let mut vs = OAuthBearerValidators::default();
        assert!(vs.for_listener("SASL_SSL").is_none());
        vs.set_listener("sasl_ssl", Arc::new(Blank));
        assert!(vs.for_listener("SASL_SSL").is_some());
        assert!(vs.for_listener("OTHER").is_none());
        vs.set_all(Arc::new(UnsecuredValidator::default()));
        assert!(vs.for_listener("OTHER").is_some());
    }
}
