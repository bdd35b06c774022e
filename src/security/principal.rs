//! Kafka's `KafkaPrincipal`: a type and a name, written `Type:name` (`User:alice`).
//!
//! Why Kafka's exact shape: ACLs name principals as `User:alice`, `super.users` is a
//! `;`-separated list of them, and DescribeAcls answers them as strings, so gregor parses and
//! prints them as Kafka does: the type is everything before the first `:`, the name all after.

use std::fmt;

/// A principal (see the module doc). Compared by type and name, as Kafka compares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

/// Kafka's user principal type.
pub const USER_TYPE: &str = "User";

/// The name of an unauthenticated client (PLAINTEXT, SSL without a client certificate).
pub const ANONYMOUS_NAME: &str = "ANONYMOUS";

impl KafkaPrincipal {
    /// `User:name`.
    pub fn user(name: &str) -> KafkaPrincipal {
        KafkaPrincipal {
            principal_type: USER_TYPE.to_string(),
            name: name.to_string(),
        }
    }

    /// `User:ANONYMOUS`, the principal of a connection that did not authenticate.
    pub fn anonymous() -> KafkaPrincipal {
        KafkaPrincipal::user(ANONYMOUS_NAME)
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal_type == USER_TYPE && self.name == ANONYMOUS_NAME
    }

    /// Parses `Type:name` as Kafka's `SecurityUtils.parseKafkaPrincipal` does: `None` when
    /// there is no `:` or the type is empty.
    pub fn parse(s: &str) -> Option<KafkaPrincipal> {
        let (t, n) = s.split_once(':')?;
        if t.is_empty() {
            return None;
        }
        Some(KafkaPrincipal {
            principal_type: t.to_string(),
            name: n.to_string(),
        })
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_kafka() {
        let p = KafkaPrincipal::parse("User:alice:x").expect("parse");
        assert_eq!(p.principal_type, "User");
        assert_eq!(p.name, "alice:x");
        assert_eq!(p.to_string(), "User:alice:x");
        assert_eq!(KafkaPrincipal::parse("alice"), None);
        assert_eq!(KafkaPrincipal::parse(":alice"), None);
        assert!(KafkaPrincipal::anonymous().is_anonymous());
        assert!(!KafkaPrincipal::user("bob").is_anonymous());
    }
}
