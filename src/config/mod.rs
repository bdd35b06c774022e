//! Broker and topic configuration, with Kafka's key names and Kafka's defaults.
//!
//! Every key is defined once, as a row of [`keys::KEYS`] (name, scope, type, default, valid
//! range, broker synonyms, doc), as Kafka's `KafkaConfig`/`LogConfig` define theirs. From the rows
//! derive:
//! - parsing and validation of `server.properties` and `--set` ([`properties`]), building the
//!   typed [`BrokerConfig`] ([`broker`]);
//! - topic override validation and resolution — a topic override, else the broker's `log.*`
//!   synonym, else the default — into the typed [`LogConfig`] ([`topic`]);
//! - DescribeConfigs (`handlers/configs.rs`) and the README's configuration tables ([`docs`]);
//! - the node's place in a cluster — roles, listeners, quorum — validated as Kafka's
//!   `KafkaConfig` does ([`cluster`]), and the typed replication, quorum and lifecycle
//!   settings ([`replication`]);
//! - which broker keys may change at run time, and the checks a change passes ([`dynamic`]).
//!   Dynamic values live in the metadata image; [`BrokerConfig::with_dynamic`] layers them over
//!   the static ones (per-broker dynamic, cluster-default dynamic, static, default).

pub mod broker;
pub mod cluster;
pub mod docs;
pub mod dynamic;
pub mod endpoints;
pub mod keys;
pub mod properties;
pub mod replication;
pub mod topic;

pub use broker::{BrokerConfig, CleanerConfig};
pub use cluster::{ClusterConfig, ClusterConfigError, Roles};
pub use endpoints::{set_listener, Endpoint, SecurityProtocol, Voter};
pub use keys::{ConfigError, ConfigKey, Scope};
pub use properties::parse_properties;
pub use replication::{internal_topic_replication_factor, ReplicationConfig, TEST_CLUSTER_TIMINGS};
pub use topic::{validate_topic_config, LogConfig, TimestampType};

/// Where a config value came from, as DescribeConfigs reports it (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// The type of a config value, for validation and DescribeConfigs' `config_type` (Kafka's
/// `DescribeConfigsResponse.ConfigType` numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    /// A Java class name (Kafka's CLASS, type 8).
    Class = 8,
    /// A secret (Kafka's PASSWORD, type 9): DescribeConfigs reports it sensitive, value null.
    Password = 9,
}

impl ConfigType {
    /// The type's name as Kafka's docs print it.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "boolean",
            ConfigType::String => "string",
            ConfigType::Int => "int",
            ConfigType::Short => "short",
            ConfigType::Long => "long",
            ConfigType::Double => "double",
            ConfigType::List => "list",
            ConfigType::Class => "class",
            ConfigType::Password => "password",
        }
    }
}
