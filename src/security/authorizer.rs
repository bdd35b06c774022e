//! The authorizer: Kafka's `StandardAuthorizer` rules over the ACLs of the metadata image.
//!
//! Why these exact rules: clients and operators carry ACL sets from Kafka clusters, so a
//! decision must come out the same. For one action (principal, client host, operation,
//! resource type and name):
//! 1. a super user (`super.users`) is allowed everything;
//! 2. the ACLs of the resource are those of its type whose pattern covers the name: LITERAL
//!    of the name, LITERAL `*`, PREFIXED of any prefix of the name;
//! 3. of those, an ACL applies when its principal is the client's or `User:*`, its host the
//!    client's address or `*`, and its operation the one asked, or ALL — or, for an ALLOW
//!    ACL only, one that implies it (READ, WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS
//!    implies DESCRIBE_CONFIGS);
//! 4. an applying DENY wins; else an applying ALLOW allows; else, when the resource has no
//!    ACL at all, `allow.everyone.if.no.acl.found` decides; else denied.
//!
//! Without `authorizer.class.name` there is no authorizer: every action is allowed (and the
//! ACL APIs answer SECURITY_DISABLED), as in Kafka.

use std::net::IpAddr;

use super::acl::{
    AclBinding, AclOperation, AclPermission, PatternType, ResourceType, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};
#[cfg(test)]
#[path = "authorizer_index_tests.rs"]
mod index_tests;
pub use super::acl_index::AclMap;
use super::KafkaPrincipal;
use crate::config::BrokerConfig;

/// The authorizer's settings (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorizer {
    /// `authorizer.class.name` is set: checks are made.
    pub enabled: bool,
    /// `super.users`, parsed.
    pub super_users: Vec<KafkaPrincipal>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

/// The ACL rows of one `authorizer.class.name` value that gregor accepts (Kafka's KRaft
/// authorizer; the ZooKeeper-era `kafka.security.authorizer.AclAuthorizer` is refused by
/// Kafka 4 too).
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

impl Authorizer {
    /// The authorizer `config` asks for. An unknown class name is refused by the config
    /// table's range, so any non-empty value here means the standard one.
    pub fn from_config(config: &BrokerConfig) -> Authorizer {
        let get = |k: &str| config.properties.get(k).map(|v| v.trim().to_string());
        let enabled = get("authorizer.class.name").is_some_and(|v| !v.is_empty());
        let super_users = get("super.users")
            .unwrap_or_default()
            .split(';')
            .filter_map(|s| KafkaPrincipal::parse(s.trim()))
            .collect();
        let allow_if_no_acl = get("allow.everyone.if.no.acl.found").is_some_and(|v| v == "true");
        Authorizer {
            enabled,
            super_users,
            allow_if_no_acl,
        }
    }

    /// Whether no ACL applies to `principal` at all: authorization is off, or it is a super
    /// user.
    pub fn bypassed_by(&self, principal: &KafkaPrincipal) -> bool {
        !self.enabled || self.super_users.contains(principal)
    }

    /// Whether `principal` connecting from `host` may do `op` on the resource (see the module
    /// doc for the rules).
    pub fn authorize(
        &self,
        acls: &AclMap,
        principal: &KafkaPrincipal,
        host: IpAddr,
        op: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.bypassed_by(principal) {
            return true;
        }
        // The index hands over the ACLs covering the resource (see `acl_index`).
        let mut resource_has_acls = false;
        let mut allowed = false;
        let mut denied = false;
        acls.for_each_covering(resource_type, name, |entries| {
            resource_has_acls |= !entries.is_empty();
            for e in entries.iter().filter(|e| e.is_for(principal, host)) {
                match permits(e.operation, e.permission, op) {
                    Some(AclPermission::Deny) => {
                        denied = true;
                        return false;
                    }
                    Some(AclPermission::Allow) => allowed = true,
                    _ => {}
                }
            }
            true
        });
        !denied && (allowed || (!resource_has_acls && self.allow_if_no_acl))
    }
}

impl Authorizer {
    /// Whether `principal` may do `op` on *some* resource of the type (Kafka's
    /// `authorizeByResourceType`, KIP-679: an idempotent producer needs WRITE on any topic):
    /// a super user, or an applying ALLOW ACL of the type while no applying DENY covers every
    /// name (a LITERAL `*` DENY).
    pub fn authorize_any(
        &self,
        acls: &AclMap,
        principal: &KafkaPrincipal,
        host: IpAddr,
        op: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if self.bypassed_by(principal) {
            return true;
        }
        let who = principal.to_string();
        let host = host.to_string();
        let mut allowed = false;
        for acl in acls.values().filter(|a| a.resource_type == resource_type) {
            match applies(acl, &who, &host, op) {
                Some(AclPermission::Deny)
                    if acl.pattern_type == PatternType::Literal
                        && acl.resource_name == WILDCARD_RESOURCE =>
                {
                    return false
                }
                Some(AclPermission::Allow) => allowed = true,
                _ => {}
            }
        }
        allowed
    }
}

/// The ACL's permission when it applies to this principal, host and operation.
fn applies(acl: &AclBinding, who: &str, host: &str, op: AclOperation) -> Option<AclPermission> {
    if acl.principal != who && acl.principal != WILDCARD_PRINCIPAL {
        return None;
    }
    if acl.host != WILDCARD_HOST && acl.host != host {
        return None;
    }
    permits(acl.operation, acl.permission, op)
}

/// The permission of an ACL for `op` (of this principal and host) when its operation is
/// `op`, ALL, or — for ALLOW only — one that implies `op`.
fn permits(
    acl_op: AclOperation,
    permission: AclPermission,
    op: AclOperation,
) -> Option<AclPermission> {
    use AclOperation as O;
    let op_ok = acl_op == O::All
        || acl_op == op
        || (permission == AclPermission::Allow
            && match op {
                O::Describe => matches!(acl_op, O::Read | O::Write | O::Delete | O::Alter),
                O::DescribeConfigs => acl_op == O::AlterConfigs,
                _ => false,
            });
    op_ok.then_some(permission)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;
    use uuid::Uuid;
    use AclOperation as O;

    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    fn on() -> Authorizer {
        Authorizer {
            enabled: true,
            ..Default::default()
        }
    }

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        who: &str,
        host: &str,
        op: AclOperation,
        perm: AclPermission,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: who.into(),
            host: host.into(),
            operation: op,
            permission: perm,
        }
    }

    fn topic_allow(name: &str, pt: PatternType, who: &str, op: AclOperation) -> AclBinding {
        acl(
            ResourceType::Topic,
            name,
            pt,
            who,
            "*",
            op,
            AclPermission::Allow,
        )
    }

    fn map(list: Vec<AclBinding>) -> AclMap {
        list.into_iter()
            .enumerate()
            .map(|(i, a)| (Uuid::from_u128(i as u128 + 1), a))
            .collect()
    }

    fn alice() -> KafkaPrincipal {
        KafkaPrincipal::user("alice")
    }

    fn can(
        a: &Authorizer,
        acls: &AclMap,
        who: &KafkaPrincipal,
        op: AclOperation,
        name: &str,
    ) -> bool {
        a.authorize(acls, who, HOST, op, ResourceType::Topic, name)
    }

    #[test]
    fn disabled_allows_and_enabled_denies_without_acls() {
        let none = AclMap::new();
        assert!(can(&Authorizer::default(), &none, &alice(), O::Write, "t"));
        assert!(!can(&on(), &none, &alice(), O::Write, "t"));
        let open = Authorizer {
            allow_if_no_acl: true,
            ..on()
        };
        assert!(can(&open, &none, &alice(), O::Write, "t"));
        // Any ACL on the resource (even another principal's) turns the default off.
        let bobs = map(vec![topic_allow(
            "t",
            PatternType::Literal,
            "User:bob",
            O::Read,
        )]);
        assert!(!can(&open, &bobs, &alice(), O::Read, "t"));
        assert!(can(&open, &bobs, &alice(), O::Read, "u"));
    }

    #[test]
    fn super_users_bypass_deny() {
        let acls = map(vec![acl(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            "User:alice",
            "*",
            O::All,
            AclPermission::Deny,
        )]);
        let a = Authorizer {
            super_users: vec![alice()],
            ..on()
        };
        assert!(can(&a, &acls, &alice(), O::Write, "t"));
        assert!(!can(&on(), &acls, &alice(), O::Write, "t"));
    }

    #[test]
    fn deny_wins_over_allow_and_wildcards() {
        let acls = map(vec![
            topic_allow("*", PatternType::Literal, "User:*", O::All),
            acl(
                ResourceType::Topic,
                "secret",
                PatternType::Prefixed,
                "User:alice",
                "*",
                O::Read,
                AclPermission::Deny,
            ),
        ]);
        assert!(can(&on(), &acls, &alice(), O::Read, "public"));
        assert!(!can(&on(), &acls, &alice(), O::Read, "secret-1"));
        assert!(can(&on(), &acls, &alice(), O::Write, "secret-1"));
        // A DENY READ does not deny DESCRIBE (implication is for ALLOW only).
        assert!(can(&on(), &acls, &alice(), O::Describe, "secret-1"));
        assert!(can(
            &on(),
            &acls,
            &KafkaPrincipal::user("bob"),
            O::Read,
            "secret-1"
        ));
    }

    #[test]
    fn prefixed_covers_exactly_its_prefix() {
        let acls = map(vec![topic_allow(
            "pay-",
            PatternType::Prefixed,
            "User:alice",
            O::Write,
        )]);
        assert!(can(&on(), &acls, &alice(), O::Write, "pay-eu"));
        assert!(can(&on(), &acls, &alice(), O::Write, "pay-"));
        assert!(!can(&on(), &acls, &alice(), O::Write, "pay"));
        assert!(!can(&on(), &acls, &alice(), O::Write, "xpay-eu"));
        assert!(!can(&on(), &acls, &alice(), O::Read, "pay-eu"));
        let lit = map(vec![topic_allow(
            "pay-",
            PatternType::Literal,
            "User:alice",
            O::Write,
        )]);
        assert!(!can(&on(), &lit, &alice(), O::Write, "pay-eu"));
    }

    #[test]
    fn implied_operations_as_kafka() {
        for op in [O::Read, O::Write, O::Delete, O::Alter] {
            let acls = map(vec![topic_allow(
                "t",
                PatternType::Literal,
                "User:alice",
                op,
            )]);
            assert!(can(&on(), &acls, &alice(), O::Describe, "t"), "{op:?}");
            assert!(
                !can(&on(), &acls, &alice(), O::DescribeConfigs, "t"),
                "{op:?}"
            );
        }
        let create = map(vec![topic_allow(
            "t",
            PatternType::Literal,
            "User:alice",
            O::Create,
        )]);
        assert!(!can(&on(), &create, &alice(), O::Describe, "t"));
        let ac = map(vec![topic_allow(
            "t",
            PatternType::Literal,
            "User:alice",
            O::AlterConfigs,
        )]);
        assert!(can(&on(), &ac, &alice(), O::DescribeConfigs, "t"));
        assert!(!can(&on(), &ac, &alice(), O::Describe, "t"));
        let all = map(vec![topic_allow(
            "t",
            PatternType::Literal,
            "User:alice",
            O::All,
        )]);
        for op in [
            O::Read,
            O::Write,
            O::Create,
            O::Delete,
            O::Alter,
            O::Describe,
            O::IdempotentWrite,
        ] {
            assert!(can(&on(), &all, &alice(), op, "t"), "{op:?}");
        }
    }

    #[test]
    fn host_and_resource_type_must_match() {
        let acls = map(vec![acl(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            "User:alice",
            "10.0.0.2",
            O::Read,
            AclPermission::Allow,
        )]);
        assert!(!can(&on(), &acls, &alice(), O::Read, "t"));
        let here = map(vec![acl(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            "User:alice",
            "10.0.0.1",
            O::Read,
            AclPermission::Allow,
        )]);
        assert!(can(&on(), &here, &alice(), O::Read, "t"));
        assert!(!on().authorize(&here, &alice(), HOST, O::Read, ResourceType::Group, "t"));
    }

    #[test]
    fn authorize_any_needs_an_allow_and_no_wildcard_deny() {
        let w = |name: &str, pt| topic_allow(name, pt, "User:alice", O::Write);
        let acls = map(vec![w("pay-", PatternType::Prefixed)]);
        let any = |a: &Authorizer, acls: &AclMap| {
            a.authorize_any(acls, &alice(), HOST, O::Write, ResourceType::Topic)
        };
        assert!(any(&on(), &acls));
        assert!(!any(&on(), &AclMap::new()));
        let mut deny = w("*", PatternType::Literal);
        deny.permission = AclPermission::Deny;
        assert!(!any(
            &on(),
            &map(vec![w("pay-", PatternType::Prefixed), deny])
        ));
    }

    #[test]
    fn config_parses_super_users() {
        let mut props = BTreeMap::new();
        props.insert(
            "authorizer.class.name".to_string(),
            STANDARD_AUTHORIZER.to_string(),
        );
        props.insert(
            "super.users".to_string(),
            "User:admin; User:ops".to_string(),
        );
        let a = Authorizer::from_config(&BrokerConfig::from_properties(props));
        assert!(a.enabled);
        assert_eq!(
            a.super_users,
            vec![KafkaPrincipal::user("admin"), KafkaPrincipal::user("ops")]
        );
        assert!(!a.allow_if_no_acl);
        assert!(!Authorizer::from_config(&BrokerConfig::default()).enabled);
    }
}
