//! The authorization helpers every handler calls: `ctx.authorized(op, resource type, name)`
//! and the CLUSTER shortcut `ctx.authorize_cluster(op)` (CLUSTER_AUTHORIZATION_FAILED).
//!
//! Why on the request context: each handler knows its resources and which Kafka error a
//! refusal is (TOPIC_AUTHORIZATION_FAILED per partition, GROUP_AUTHORIZATION_FAILED for the
//! group, ...), so the check is one line where the resource is named; the context supplies
//! who asks (principal, client address), the authorizer's settings and the image's ACLs.
//! Without `authorizer.class.name` every check is `true` at no cost.
//!
//! [`RequestContext::authorized_operations`] fills the `authorized_operations` bit fields of
//! Metadata, DescribeGroups, DescribeCluster and DescribeTopicPartitions.

use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::error::{Error, ErrorCode, Result};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

impl RequestContext {
    /// Whether the client may do `op` on the resource (see `security::authorizer`).
    pub fn authorized(&self, op: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        let authorizer = &self.broker.authorizer;
        if !authorizer.enabled {
            return true;
        }
        let image = self.broker.metadata.image();
        authorizer.authorize(
            &image.acls,
            &self.principal,
            self.peer.ip(),
            op,
            resource_type,
            name,
        )
    }

    /// Whether the client may do `op` on some resource of the type (KIP-679's "WRITE on any
    /// topic").
    pub fn authorized_any(&self, op: AclOperation, resource_type: ResourceType) -> bool {
        let authorizer = &self.broker.authorizer;
        if !authorizer.enabled {
            return true;
        }
        let image = self.broker.metadata.image();
        authorizer.authorize_any(
            &image.acls,
            &self.principal,
            self.peer.ip(),
            op,
            resource_type,
        )
    }

    /// The client's authorized operations on a resource, as Kafka's
    /// `AuthHelper.authorizedOperations` reports them: one bit (`1 << code`) per operation of
    /// [`supported_operations`] the client may do; all of them without an authorizer.
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        supported_operations(resource_type)
            .iter()
            .filter(|op| self.authorized(**op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }

    /// Whether the client may do `op` on the topic.
    pub fn topic_authorized(&self, op: AclOperation, topic: &str) -> bool {
        self.authorized(op, ResourceType::Topic, topic)
    }

    /// Whether the client may do `op` on the group.
    pub fn group_authorized(&self, op: AclOperation, group: &str) -> bool {
        self.authorized(op, ResourceType::Group, group)
    }

    /// Whether the client may do `op` on the cluster.
    pub fn cluster_authorized(&self, op: AclOperation) -> bool {
        self.authorized(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// `op` on the topic, or TOPIC_AUTHORIZATION_FAILED.
    pub fn authorize_topic(&self, op: AclOperation, topic: &str) -> Result<()> {
        self.require(
            self.topic_authorized(op, topic),
            ErrorCode::TopicAuthorizationFailed,
            op,
        )
    }

    /// `op` on the group, or GROUP_AUTHORIZATION_FAILED.
    pub fn authorize_group(&self, op: AclOperation, group: &str) -> Result<()> {
        self.require(
            self.group_authorized(op, group),
            ErrorCode::GroupAuthorizationFailed,
            op,
        )
    }

    /// `op` on the transactional id, or TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    pub fn authorize_txn_id(&self, op: AclOperation, id: &str) -> Result<()> {
        let ok = self.authorized(op, ResourceType::TransactionalId, id);
        self.require(ok, ErrorCode::TransactionalIdAuthorizationFailed, op)
    }

    fn require(&self, ok: bool, code: ErrorCode, op: AclOperation) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::kafka(
                code,
                format!(
                    "{} ({}) denied to {}",
                    code.name(),
                    op.name(),
                    self.principal
                ),
            ))
        }
    }

    /// `op` (DESCRIBE_CONFIGS / ALTER_CONFIGS) on a config resource: a topic (2) is checked
    /// as that topic (TOPIC_AUTHORIZATION_FAILED), a broker (4), broker logger (8) or
    /// client-metrics subscription (16) as the cluster (CLUSTER_AUTHORIZATION_FAILED), a group
    /// (32) as that group (GROUP_AUTHORIZATION_FAILED), as Kafka does before anything else;
    /// other types are the handler's to refuse.
    pub fn authorize_config(&self, op: AclOperation, resource_type: i8, name: &str) -> Result<()> {
        match resource_type {
            2 => self.authorize_topic(op, name),
            4 | 8 | 16 => self.authorize_cluster(op),
            32 => self.authorize_group(op, name),
            _ => Ok(()),
        }
    }

    /// `op` on the cluster, or CLUSTER_AUTHORIZATION_FAILED.
    pub fn authorize_cluster(&self, op: AclOperation) -> Result<()> {
        if self.cluster_authorized(op) {
            Ok(())
        } else {
            Err(Error::kafka(
                ErrorCode::ClusterAuthorizationFailed,
                format!("cluster authorization failed ({})", op.name()),
            ))
        }
    }
}

/// The operations Kafka reports in `authorized_operations` fields for a resource type
/// (`AclEntry.supportedOperations`).
pub fn supported_operations(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation as O;
    match resource_type {
        ResourceType::Topic => &[
            O::Read,
            O::Write,
            O::Create,
            O::Describe,
            O::Delete,
            O::Alter,
            O::DescribeConfigs,
            O::AlterConfigs,
        ],
        ResourceType::Group => &[
            O::Read,
            O::Describe,
            O::Delete,
            O::DescribeConfigs,
            O::AlterConfigs,
        ],
        ResourceType::Cluster => &[
            O::Create,
            O::ClusterAction,
            O::DescribeConfigs,
            O::AlterConfigs,
            O::IdempotentWrite,
            O::Alter,
            O::Describe,
        ],
        ResourceType::TransactionalId => &[O::Describe, O::Write],
        ResourceType::DelegationToken => &[O::Describe],
        ResourceType::User => &[O::CreateTokens, O::DescribeTokens],
        _ => &[],
    }
}

/// The value of an `authorized_operations` field the client did not ask for (the schemas'
/// default, INT32_MIN).
pub const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// Kafka's code for a topic the client may not use.
pub const TOPIC_DENIED: i16 = ErrorCode::TopicAuthorizationFailed as i16;
/// Kafka's code for a group the client may not use.
pub const GROUP_DENIED: i16 = ErrorCode::GroupAuthorizationFailed as i16;
/// Kafka's code for a cluster action the client may not take.
pub const CLUSTER_DENIED: i16 = ErrorCode::ClusterAuthorizationFailed as i16;
/// Kafka's code for a transactional id the client may not use.
pub const TXN_ID_DENIED: i16 = ErrorCode::TransactionalIdAuthorizationFailed as i16;

/// The error message Kafka puts next to an authorization failure, as Kafka's field.
pub fn denied_message(code: i16) -> Option<StrBytes> {
    let e = ErrorCode::from_i16(code);
    Some(StrBytes::from_string(format!("{} ({})", e.name(), code)))
}
