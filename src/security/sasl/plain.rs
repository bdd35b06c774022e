//! SASL/PLAIN (RFC 4616) as Kafka's `PlainSaslServer`: one message `[authzid] NUL authcid
//! NUL passwd`, checked against the users of the listener's JAAS configuration
//! (`user_<name>="<password>"`, see [`crate::security::jaas`]). The failure reasons are
//! Kafka's messages, which the client sees; the password is never in them.

use std::collections::BTreeMap;

use super::scram_crypto::constant_time_eq;

/// Checks one PLAIN message against `users` (name → password): the user on success,
/// Kafka's message on failure.
pub fn authenticate(msg: &[u8], users: &BTreeMap<String, String>) -> Result<String, String> {
    let text = std::str::from_utf8(msg)
        .map_err(|_| "Invalid SASL/PLAIN response: not UTF-8".to_string())?;
    let tokens: Vec<&str> = text.split('\0').collect();
    if tokens.len() != 3 {
        return Err(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            tokens.len()
        ));
    }
    let (authzid, user, password) = (tokens[0], tokens[1], tokens[2]);
    if user.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    let known = users.get(user);
    // Compare against something of the same length even for an unknown user.
    let expected = known.map_or(password, String::as_str);
    let matches = constant_time_eq(expected.as_bytes(), password.as_bytes());
    if known.is_none() || !matches {
        return Err("Authentication failed: Invalid username or password".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username"
                .into(),
        );
    }
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_like_kafka() {
        let users: BTreeMap<String, String> = [("alice".to_string(), "secret".to_string())].into();
        assert_eq!(
            authenticate(b"\0alice\0secret", &users).as_deref(),
            Ok("alice")
        );
        assert_eq!(
            authenticate(b"alice\0alice\0secret", &users).as_deref(),
            Ok("alice")
        );
        let bad = "Authentication failed: Invalid username or password";
        assert_eq!(authenticate(b"\0alice\0wrong", &users).unwrap_err(), bad);
        assert_eq!(authenticate(b"\0bob\0secret", &users).unwrap_err(), bad);
        assert!(authenticate(b"bob\0alice\0secret", &users)
            .unwrap_err()
            .contains("authorization id"));
        assert!(authenticate(b"\0\0secret", &users)
            .unwrap_err()
            .contains("username not specified"));
        assert!(authenticate(b"\0alice\0", &users)
            .unwrap_err()
            .contains("password not specified"));
        assert!(authenticate(b"alice", &users)
            .unwrap_err()
            .contains("expected 3 tokens, got 1"));
        assert!(authenticate(b"\xff\0a\0b", &users).is_err());
    }
}
