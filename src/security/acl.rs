//! Kafka's ACL vocabulary: resource types, pattern types, operations, permissions (with
//! Kafka's wire codes), one ACL binding and the filters CreateAcls / DescribeAcls /
//! DeleteAcls speak of.
//!
//! Why Kafka's codes: the same numbers go into the CreateAcls request, the DescribeAcls
//! response and the metadata log's AccessControlEntryRecord (a replica or a snapshot read by
//! a Kafka tool sees the same thing), so one enum serves all three.

macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant,)* }

        impl $name {
            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code,)* }
            }
            /// The value of a wire code, `None` for a code Kafka does not define.
            pub fn from_code(code: i8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }
            /// Kafka's name (`TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, ...).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
            /// The value of a name, case-insensitive (`gregor acls`).
            pub fn parse(s: &str) -> Option<$name> {
                let up = s.to_ascii_uppercase().replace('-', "_");
                match up.as_str() { $($text => Some($name::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    /// Kafka's `ResourceType` (ANY only in filters).
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
}

codes! {
    /// Kafka's `PatternType`: LITERAL and PREFIXED are stored; ANY and MATCH are filters only.
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
}

codes! {
    /// Kafka's `AclOperation` (ANY only in filters; ALL matches every operation).
    AclOperation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

codes! {
    /// Kafka's `AclPermissionType` (ANY only in filters).
    AclPermission {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
}

/// The resource name that matches every name (a LITERAL ACL on `*`).
pub const WILDCARD_RESOURCE: &str = "*";
/// The host that matches every client address.
pub const WILDCARD_HOST: &str = "*";
/// The principal that matches every user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The name of the one CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// One stored ACL (Kafka's `StandardAcl`): a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, as given (`User:alice`, `User:*`).
    pub principal: String,
    /// A client address as text, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

/// What a DescribeAcls / DeleteAcls filter asks for (Kafka's `AclBindingFilter`): `None`
/// fields match anything, ANY codes too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// Why Kafka would refuse to store this binding (CreateAcls' INVALID_REQUEST), if it
    /// would: unknown or filter-only codes, an empty name, a principal that does not parse.
    pub fn invalid_reason(&self) -> Option<String> {
        use AclOperation as O;
        if matches!(
            self.resource_type,
            ResourceType::Any | ResourceType::Unknown
        ) {
            return Some("invalid resource type".into());
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Some("invalid pattern type; must be LITERAL or PREFIXED".into());
        }
        if matches!(self.operation, O::Any | O::Unknown) {
            return Some("invalid operation".into());
        }
        if matches!(self.permission, AclPermission::Any | AclPermission::Unknown) {
            return Some("invalid permission type".into());
        }
        if self.resource_name.is_empty() {
            return Some("resource name must not be empty".into());
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return Some(format!(
                "the CLUSTER resource's name must be {CLUSTER_NAME}"
            ));
        }
        if super::KafkaPrincipal::parse(&self.principal).is_none() {
            return Some(format!(
                "could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
                self.principal
            ));
        }
        if self.host.is_empty() {
            return Some("host must not be empty".into());
        }
        None
    }
}

impl AclFilter {
    /// Why Kafka refuses this filter (DeleteAcls / DescribeAcls: INVALID_REQUEST): an
    /// UNKNOWN code anywhere (Kafka's `AclBindingFilter.isUnknown`).
    pub fn invalid_reason(&self) -> Option<&'static str> {
        if self.resource_type == ResourceType::Unknown {
            return Some("invalid resource type");
        }
        if self.pattern_type == PatternType::Unknown {
            return Some("invalid pattern type");
        }
        if self.operation == AclOperation::Unknown {
            return Some("invalid operation");
        }
        if self.permission == AclPermission::Unknown {
            return Some("invalid permission type");
        }
        None
    }

    /// Whether `acl` is one this filter selects (Kafka's `AclBindingFilter.matches`): MATCH
    /// selects the LITERAL ACL of the name, the LITERAL `*` ACL and every PREFIXED ACL whose
    /// name starts the filter's name.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        let name_ok = match (self.pattern_type, self.resource_name.as_deref()) {
            (PatternType::Any, None) => true,
            (PatternType::Any, Some(n)) => n == acl.resource_name,
            (PatternType::Match, None) => true,
            (PatternType::Match, Some(n)) => match acl.pattern_type {
                PatternType::Literal => acl.resource_name == n || acl.resource_name == "*",
                PatternType::Prefixed => n.starts_with(&acl.resource_name),
                _ => false,
            },
            (p, n) => p == acl.pattern_type && n.is_none_or(|n| n == acl.resource_name),
        };
        name_ok
            && self.principal.as_deref().is_none_or(|p| p == acl.principal)
            && self.host.as_deref().is_none_or(|h| h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == AclPermission::Any || self.permission == acl.permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(name: &str, pattern: PatternType) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    fn filter(name: Option<&str>, pattern: PatternType) -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: name.map(String::from),
            pattern_type: pattern,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(ResourceType::Topic.code(), 2);
        assert_eq!(ResourceType::User.code(), 7);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclOperation::IdempotentWrite.code(), 12);
        assert_eq!(AclPermission::Allow.code(), 3);
        assert_eq!(
            AclOperation::parse("describe-configs"),
            Some(AclOperation::DescribeConfigs)
        );
        assert_eq!(ResourceType::from_code(9), None);
    }

    #[test]
    fn match_filter_selects_literal_wildcard_and_prefixes() {
        let f = filter(Some("payments-eu"), PatternType::Match);
        assert!(f.matches(&acl("payments-eu", PatternType::Literal)));
        assert!(f.matches(&acl("*", PatternType::Literal)));
        assert!(f.matches(&acl("payments-", PatternType::Prefixed)));
        assert!(!f.matches(&acl("payments-", PatternType::Literal)));
        assert!(!f.matches(&acl("payments-eux", PatternType::Prefixed)));
        let any = filter(Some("payments-"), PatternType::Any);
        assert!(any.matches(&acl("payments-", PatternType::Prefixed)));
        assert!(any.matches(&acl("payments-", PatternType::Literal)));
        assert!(!any.matches(&acl("payments-eu", PatternType::Literal)));
        let lit = filter(None, PatternType::Literal);
        assert!(!lit.matches(&acl("x", PatternType::Prefixed)));
    }

    #[test]
    fn invalid_bindings_are_refused() {
        let mut a = acl("t", PatternType::Match);
        assert!(a.invalid_reason().is_some());
        a.pattern_type = PatternType::Literal;
        assert!(a.invalid_reason().is_none());
        a.principal = "alice".into();
        assert!(a.invalid_reason().is_some());
        let mut c = acl("t", PatternType::Literal);
        c.resource_type = ResourceType::Cluster;
        assert!(c.invalid_reason().is_some());
    }
}
