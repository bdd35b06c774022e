//! Kafka's out-of-the-box OAUTHBEARER token check (KIP-255,
//! `OAuthBearerUnsecuredValidatorCallbackHandler`): the bearer token is an *unsecured* JWS
//! (`base64url(header).base64url(claims).` — header `alg` `none`, empty signature) and its
//! claims decide: the principal claim (`sub`, or `unsecuredValidatorPrincipalClaimName`) is a
//! non-blank string, `exp` is a number in the future, `iat` (optional) is not in the future,
//! `exp` is after `iat`, and the scope claim holds every `unsecuredValidatorRequiredScope`
//! item; `unsecuredValidatorAllowableClockSkewMs` widens both time checks.
//!
//! Why a module of its own: the checks are a pure function of the token, the JAAS options and
//! the time, unit-tested here, while `oauthbearer.rs` owns the SASL framing. Nothing here
//! proves who the client is — Kafka documents this validator as for development only, and so
//! does gregor. Bad input is a `TokenRefusal`, never a panic: lengths are bounded before
//! anything is decoded.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::Value;

use super::validator::{TokenRefusal as Rejection, ValidatedToken};

/// The longest token decoded: the default `sasl.server.max.receive.size`, which already bounds
/// the frame the token arrives in.
pub const MAX_TOKEN_LEN: usize = 512 * 1024;

/// Validator options, read from the listener's OAUTHBEARER JAAS entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorOptions {
    pub principal_claim: String,
    pub scope_claim: String,
    pub required_scope: Vec<String>,
    pub clock_skew_ms: i64,
}

impl Default for ValidatorOptions {
    fn default() -> Self {
        ValidatorOptions {
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            required_scope: Vec::new(),
            clock_skew_ms: 0,
        }
    }
}

fn option<'a>(options: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    options.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Kafka's scope token grammar (`OAuthBearerScopeUtils`): `%x21 / %x23-5B / %x5D-7E`.
fn valid_scope_item(item: &str) -> bool {
    !item.is_empty()
        && item
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl ValidatorOptions {
    /// The `unsecuredValidator*` options of a JAAS entry; blank ones take Kafka's defaults.
    /// A bad scope item or clock skew is an error (Kafka's `OAuthBearerConfigException`).
    pub fn from_jaas(options: &BTreeMap<String, String>) -> Result<ValidatorOptions, String> {
        let mut out = ValidatorOptions::default();
        if let Some(v) = option(options, "unsecuredValidatorPrincipalClaimName") {
            out.principal_claim = v.to_string();
        }
        if let Some(v) = option(options, "unsecuredValidatorScopeClaimName") {
            out.scope_claim = v.to_string();
        }
        if let Some(v) = option(options, "unsecuredValidatorRequiredScope") {
            for item in v.split(' ').filter(|i| !i.is_empty()) {
                if !valid_scope_item(item) {
                    return Err(format!("Invalid scope value: {item}"));
                }
                out.required_scope.push(item.to_string());
            }
        }
        if let Some(v) = option(options, "unsecuredValidatorAllowableClockSkewMs") {
            let skew: i32 = v
                .parse()
                .map_err(|_| format!("unsecuredValidatorAllowableClockSkewMs: not an int: {v}"))?;
            if skew < 0 {
                return Err(format!(
                    "Allowable clock skew millis must not be negative: {v}"
                ));
            }
            out.clock_skew_ms = i64::from(skew);
        }
        Ok(out)
    }
}

/// A claim as Kafka's `OAuthBearerUnsecuredJws.convert` keeps it: numbers stay numbers,
/// arrays become lists of text, anything else becomes text.
#[derive(Debug, Clone, PartialEq)]
enum Claim {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn convert(v: &Value) -> Claim {
    match v {
        Value::Array(items) => Claim::List(items.iter().map(as_text).collect()),
        Value::Number(n) => Claim::Number(n.as_f64().unwrap_or(f64::NAN)),
        other => Claim::Text(as_text(other)),
    }
}

fn type_name(c: &Claim) -> &'static str {
    match c {
        Claim::Number(_) => "Number",
        Claim::Text(_) => "String",
        Claim::List(_) => "List",
    }
}

/// Decodes one base64url segment (padding optional; the standard alphabet, which Kafka's
/// decoder uses, is accepted too) and parses it as a JSON object.
fn segment(text: &str) -> Result<BTreeMap<String, Claim>, Rejection> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let bytes = GeneralPurpose::new(&alphabet::URL_SAFE, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&alphabet::STANDARD, config).decode(text))
        .map_err(|_| Rejection::invalid_token("malformed Base64 URL encoded value"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map.iter().map(|(k, v)| (k.clone(), convert(v))).collect()),
        _ => Err(Rejection::invalid_token("malformed JSON")),
    }
}

fn number(claims: &BTreeMap<String, Claim>, name: &str) -> Result<Option<f64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Claim::Number(n)) if n.is_finite() => Ok(Some(*n)),
        Some(other) => Err(Rejection::invalid_token(format!(
            "The '{name}' claim was not of type Number: {}",
            type_name(other)
        ))),
    }
}

/// Validates `token` (the compact serialization after `auth=Bearer `) at `now_ms`, in the
/// order Kafka's handler checks.
pub fn validate(
    token: &str,
    options: &ValidatorOptions,
    now_ms: i64,
) -> Result<ValidatedToken, Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::invalid_token(format!(
            "token of {} bytes is larger than {MAX_TOKEN_LEN}",
            token.len()
        )));
    }
    if token.contains("..") {
        return Err(Rejection::invalid_token(
            "Malformed compact serialization contains '..'",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(Rejection::invalid_token(
            "Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values",
        ));
    };
    let header = segment(header)?;
    let claims = segment(claims)?;
    match header.get("alg") {
        Some(Claim::Text(alg)) if alg == "none" => {}
        Some(_) => {
            return Err(Rejection::invalid_token(
                "Unsecured JWS must have 'none' for an algorithm",
            ))
        }
        None => {
            return Err(Rejection::invalid_token(
                "JWS header must have an Algorithm value",
            ))
        }
    }
    if !signature.is_empty() {
        return Err(Rejection::invalid_token(
            "Unsecured JWS must not contain a digital signature",
        ));
    }
    let scope: Vec<String> = match claims.get(&options.scope_claim) {
        None => Vec::new(),
        Some(Claim::Text(s)) => [s.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Some(Claim::List(items)) => items
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Some(other) => {
            return Err(Rejection::invalid_token(format!(
                "The '{}' claim was not of type List: {}",
                options.scope_claim,
                type_name(other)
            )))
        }
    };
    let exp = number(&claims, "exp")?
        .ok_or_else(|| Rejection::invalid_token("No expiration time in JWT"))?;
    let principal = match claims.get(&options.principal_claim) {
        Some(Claim::Text(p)) if !p.trim().is_empty() => p.clone(),
        Some(Claim::Text(_)) | None => {
            return Err(Rejection::invalid_token(format!(
                "No principal name in JWT claim: {}",
                options.principal_claim
            )))
        }
        Some(other) => {
            return Err(Rejection::invalid_token(format!(
                "The '{}' claim was not of type String: {}",
                options.principal_claim,
                type_name(other)
            )))
        }
    };
    let iat = number(&claims, "iat")?;
    let (now, skew) = (now_ms as f64, options.clock_skew_ms as f64);
    if let Some(iat) = iat {
        if 1000.0 * iat > now + skew {
            return Err(Rejection::invalid_token(format!(
                "The Issued At value ({iat} seconds) was after the indicated time ({now_ms} ms) plus allowable clock skew ({skew} ms)"
            )));
        }
    }
    if now - skew >= 1000.0 * exp {
        return Err(Rejection::invalid_token(format!(
            "The indicated time ({now_ms} ms) minus allowable clock skew ({skew} ms) was on or after the Expiration Time value ({exp} seconds)"
        )));
    }
    if let Some(iat) = iat.filter(|iat| exp <= *iat) {
        return Err(Rejection::invalid_token(format!(
            "The Expiration Time time ({exp} seconds) was not after the Issued At time ({iat} seconds)"
        )));
    }
    if let Some(missing) = options.required_scope.iter().find(|r| !scope.contains(r)) {
        return Err(Rejection::insufficient_scope(
            // Java's List.toString(), as Kafka puts it in the challenge.
            format!("[{}]", options.required_scope.join(", ")),
            format!("The provided scope {scope:?} was missing a required scope ({missing})"),
        ));
    }
    Ok(ValidatedToken::new(principal, (exp * 1000.0).round() as i64).with_scopes(scope))
}

#[cfg(test)]
#[path = "unsecured_jws_tests.rs"]
mod tests;
