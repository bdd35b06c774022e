//! [`BrokerConfig`]: the broker's settings as typed fields, built from the set `server.properties`
//! keys over the key table's defaults, plus the resolution of topic configs against the broker's
//! `log.*` synonyms.
//!
//! Layers, highest precedence first, as Kafka's `DynamicBrokerConfig`: this node's dynamic
//! configs (ConfigRecords of resource BROKER "<node.id>"), the cluster-wide dynamic defaults
//! (resource ""), the static settings (`server.properties`, `--set`, flags), the rows'
//! defaults. A `BrokerConfig` is a value: a dynamic change makes a new one
//! ([`BrokerConfig::with_dynamic`]) that the replica layer publishes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::dynamic;
use super::keys::{broker_key, keys, Scope};
use super::properties::Props;
use super::{ConfigSource, LogConfig};

/// Broker-wide settings (Kafka's `server.properties` keys), typed once at start-up so the rest
/// of the broker reads fields, not strings. Every field is derived from [`Self::properties`] in
/// [`BrokerConfig::from_properties`]; the key table (`config::keys`) holds names, defaults and
/// ranges.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Listeners, advertised addresses, roles and quorum live in the `properties` and are
    /// typed and validated by [`super::ClusterConfig::from_config`] (fallible, at start-up).
    pub data_dir: PathBuf,
    pub node_id: i32,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    /// `max.incremental.fetch.session.cache.slots`: fetch sessions (KIP-227) cached at most.
    pub fetch_session_cache_slots: usize,
    pub connections_max_idle_ms: u64,
    /// `sasl.enabled.mechanisms` (per listener: [`BrokerConfig::listener_value`]).
    pub sasl_enabled_mechanisms: Vec<String>,
    /// `sasl.jaas.config` (a secret: never logged).
    pub sasl_jaas_config: Option<String>,
    /// `sasl.server.max.receive.size`.
    pub sasl_server_max_receive_size: usize,
    /// `connection.failed.authentication.delay.ms`.
    pub connection_failed_authentication_delay_ms: u64,
    /// `connections.max.reauth.ms` (KIP-368; per listener and mechanism:
    /// [`BrokerConfig::listener_value`]); not positive: sessions do not expire.
    pub connections_max_reauth_ms: i64,
    pub retention_check_interval_ms: u64,
    pub flush_scheduler_interval_ms: u64,
    pub flush_offset_checkpoint_interval_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub hw_checkpoint_interval_ms: u64,
    /// `group.initial.rebalance.delay.ms`: gregor's default is 0 (Kafka's is 3000), so a new
    /// group's first consumer gets its partitions at once; raise it to batch joins.
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// `group.consumer.*` (KIP-848 consumer groups).
    pub group_consumer_session_timeout_ms: i32,
    pub group_consumer_heartbeat_interval_ms: i32,
    pub group_consumer_assignors: Vec<std::string::String>,
    pub group_consumer_max_size: i32,
    pub offsets_retention_minutes: i64,
    pub offsets_retention_check_interval_ms: u64,
    pub offset_metadata_max_bytes: usize,
    /// `segment.bytes` of `__consumer_offsets` and `__transaction_state`.
    pub offsets_topic_segment_bytes: i32,
    pub transaction_state_segment_bytes: i32,
    pub transaction_max_timeout_ms: i32,
    pub transactional_id_expiration_ms: i64,
    pub transaction_abort_timed_out_interval_ms: u64,
    pub transaction_remove_expired_interval_ms: u64,
    /// Test seam, not a Kafka key (set only by the hidden `serve --fail-markers-for TOPIC`
    /// flag, never from properties): the broker's marker writer refuses every transaction
    /// marker for this topic with NOT_ENOUGH_REPLICAS, a retriable error, so a transaction on
    /// it stays in PrepareCommit/PrepareAbort (the crash-between-prepare-and-markers test).
    pub fail_markers_for: Option<String>,
    /// The log cleaner (`log.cleaner.*`).
    pub cleaner: CleanerConfig,
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub metadata_snapshot_bytes: u64,
    /// Broker-level values of topic configs, keyed by the *topic* config name, for those whose
    /// synonym is set in some layer (`log.retention.hours=1` lands here as `retention.ms` =
    /// `3600000`), with the layer it came from.
    pub log_overrides: BTreeMap<&'static str, (String, ConfigSource)>,
    /// Every broker key set statically (properties file, `--set`, flags), validated, as given.
    pub properties: BTreeMap<String, String>,
    /// Cluster-wide dynamic configs (resource ""), valid dynamic keys only.
    pub dynamic_default: BTreeMap<String, String>,
    /// This node's dynamic configs (resource "<node.id>"), valid dynamic keys only.
    pub dynamic_node: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig::from_properties(BTreeMap::new())
    }
}

/// The log cleaner's broker settings (Kafka's `CleanerConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    pub enable: bool,
    pub threads: usize,
    /// Offset map memory of all threads together.
    pub dedupe_buffer_size: u64,
    pub io_buffer_load_factor: f64,
    /// Read and write buffers of all threads together (`log.cleaner.io.buffer.size`).
    pub io_buffer_size: usize,
    pub backoff_ms: u64,
    pub io_max_bytes_per_second: f64,
}

impl BrokerConfig {
    /// Builds every field from the set keys over the rows' defaults. `properties` must hold
    /// validated values of known keys (see [`BrokerConfig::apply_properties`]).
    pub fn from_properties(properties: BTreeMap<String, String>) -> BrokerConfig {
        Self::from_layers(properties, BTreeMap::new(), BTreeMap::new())
    }

    /// Builds every field from the layers (see the module doc): `properties` static, then the
    /// two dynamic maps over it.
    fn from_layers(
        properties: BTreeMap<String, String>,
        dynamic_default: BTreeMap<String, String>,
        dynamic_node: BTreeMap<String, String>,
    ) -> BrokerConfig {
        let mut merged = properties.clone();
        merged.extend(dynamic_default.clone());
        merged.extend(dynamic_node.clone());
        let layer = |k: &str| {
            if dynamic_node.contains_key(k) {
                ConfigSource::DynamicBrokerConfig
            } else if dynamic_default.contains_key(k) {
                ConfigSource::DynamicDefaultBrokerConfig
            } else {
                ConfigSource::StaticBrokerConfig
            }
        };
        let p = Props(&merged);
        let dirs = p
            .set("log.dirs")
            .or(p.set("log.dir"))
            .or(p.get("log.dirs"))
            .unwrap_or_default();
        let data_dir = PathBuf::from(dirs.split(',').next().unwrap_or(dirs).trim());
        let node_id = match (p.set("node.id"), p.set("broker.id")) {
            (None, Some(_)) => p.int("broker.id"),
            _ => p.int("node.id"),
        };
        let log_overrides = keys(Scope::Topic)
            .filter_map(|t| {
                t.synonyms.iter().find_map(|s| {
                    let row = broker_key(s)?;
                    Some((t.name, (row.to_topic_value(p.set(s)?), layer(s))))
                })
            })
            .collect();
        BrokerConfig {
            data_dir,
            node_id,
            num_partitions: p.int("num.partitions").max(1),
            default_replication_factor: p
                .int("default.replication.factor")
                .clamp(i16::MIN.into(), i16::MAX.into())
                as i16,
            auto_create_topics: p.boolean("auto.create.topics.enable"),
            delete_topic_enable: p.boolean("delete.topic.enable"),
            socket_request_max_bytes: p.int("socket.request.max.bytes").max(8) as usize,
            max_connections: p.int("max.connections").max(1) as usize,
            fetch_session_cache_slots: p.int("max.incremental.fetch.session.cache.slots").max(0)
                as usize,
            connections_max_idle_ms: p.long("connections.max.idle.ms").max(1) as u64,
            sasl_enabled_mechanisms: p
                .string("sasl.enabled.mechanisms")
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect(),
            sasl_jaas_config: p.set("sasl.jaas.config").map(str::to_string),
            sasl_server_max_receive_size: p.int("sasl.server.max.receive.size").max(1) as usize,
            connection_failed_authentication_delay_ms: p
                .int("connection.failed.authentication.delay.ms")
                .max(0) as u64,
            connections_max_reauth_ms: p.long("connections.max.reauth.ms"),
            retention_check_interval_ms: p.long("log.retention.check.interval.ms").max(1) as u64,
            flush_scheduler_interval_ms: p.long("log.flush.scheduler.interval.ms").max(1) as u64,
            flush_offset_checkpoint_interval_ms: p
                .int("log.flush.offset.checkpoint.interval.ms")
                .max(1) as u64,
            hw_checkpoint_interval_ms: p
                .long("replica.high.watermark.checkpoint.interval.ms")
                .max(1) as u64,
            group_initial_rebalance_delay_ms: p.int("group.initial.rebalance.delay.ms").max(0)
                as u64,
            group_min_session_timeout_ms: p.int("group.min.session.timeout.ms"),
            group_max_session_timeout_ms: p.int("group.max.session.timeout.ms"),
            group_consumer_session_timeout_ms: p.int("group.consumer.session.timeout.ms").max(1),
            group_consumer_heartbeat_interval_ms: p
                .int("group.consumer.heartbeat.interval.ms")
                .max(1),
            group_consumer_assignors: p
                .string("group.consumer.assignors")
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            group_consumer_max_size: p.int("group.consumer.max.size").max(1),
            offsets_retention_minutes: p.int("offsets.retention.minutes").max(1) as i64,
            offsets_retention_check_interval_ms: p
                .long("offsets.retention.check.interval.ms")
                .max(1) as u64,
            offset_metadata_max_bytes: p.int("offset.metadata.max.bytes").max(0) as usize,
            // Kafka accepts 1; a log segment holds at least its 14-byte minimum.
            offsets_topic_segment_bytes: p.int("offsets.topic.segment.bytes").max(14),
            transaction_state_segment_bytes: p.int("transaction.state.log.segment.bytes").max(14),
            transaction_max_timeout_ms: p.int("transaction.max.timeout.ms").max(1),
            transactional_id_expiration_ms: p.int("transactional.id.expiration.ms").max(1) as i64,
            transaction_abort_timed_out_interval_ms: p
                .int("transaction.abort.timed.out.transaction.cleanup.interval.ms")
                .max(1) as u64,
            transaction_remove_expired_interval_ms: p
                .int("transaction.remove.expired.transaction.cleanup.interval.ms")
                .max(1) as u64,
            fail_markers_for: None,
            cleaner: CleanerConfig {
                enable: p.boolean("log.cleaner.enable"),
                threads: p.int("log.cleaner.threads").max(0) as usize,
                dedupe_buffer_size: p.long("log.cleaner.dedupe.buffer.size").max(0) as u64,
                io_buffer_load_factor: p.double("log.cleaner.io.buffer.load.factor"),
                io_buffer_size: p.int("log.cleaner.io.buffer.size").max(0) as usize,
                backoff_ms: p.long("log.cleaner.backoff.ms").max(0) as u64,
                io_max_bytes_per_second: p.double("log.cleaner.io.max.bytes.per.second"),
            },
            metadata_snapshot_bytes: p
                .long("metadata.log.max.record.bytes.between.snapshots")
                .max(1) as u64,
            log_overrides,
            properties,
            dynamic_default,
            dynamic_node,
        }
    }

    /// This configuration with these dynamic layers instead of its current ones (entries that
    /// are not valid dynamic configs are dropped, see [`dynamic::valid_entries`]). Fields
    /// assigned directly (data directory, test seams) are kept.
    pub fn with_dynamic(
        &self,
        default: &BTreeMap<String, String>,
        node: &BTreeMap<String, String>,
    ) -> BrokerConfig {
        let mut c = Self::from_layers(
            self.properties.clone(),
            dynamic::valid_entries("cluster-default", default),
            dynamic::valid_entries("broker", node),
        );
        c.data_dir = self.data_dir.clone();
        c.node_id = self.node_id;
        c.fail_markers_for = self.fail_markers_for.clone();
        c
    }

    /// A broker key's value in the highest layer that sets it, and that layer (dynamic
    /// per-broker, dynamic cluster default, static); `None` when only its default applies.
    pub fn layered(&self, key: &str) -> Option<(&str, ConfigSource)> {
        if let Some(v) = self.dynamic_node.get(key) {
            return Some((v, ConfigSource::DynamicBrokerConfig));
        }
        if let Some(v) = self.dynamic_default.get(key) {
            return Some((v, ConfigSource::DynamicDefaultBrokerConfig));
        }
        self.properties
            .get(key)
            .map(|v| (v.as_str(), ConfigSource::StaticBrokerConfig))
    }

    /// Every layer's value of a broker key, highest precedence first (Kafka's synonyms of one
    /// name: per-broker dynamic, cluster default dynamic, static, default).
    pub fn layers_of(&self, key: &str) -> Vec<(String, ConfigSource)> {
        let mut out = Vec::new();
        for (map, source) in [
            (&self.dynamic_node, ConfigSource::DynamicBrokerConfig),
            (
                &self.dynamic_default,
                ConfigSource::DynamicDefaultBrokerConfig,
            ),
            (&self.properties, ConfigSource::StaticBrokerConfig),
        ] {
            if let Some(v) = map.get(key) {
                out.push((v.clone(), source));
            }
        }
        out
    }

    /// Kafka's per-listener override `listener.name.<listener>.<key>` (the listener name in
    /// lower case, as Kafka's `ListenerName.configPrefix`), if set. `key` may carry a
    /// mechanism prefix (`plain.sasl.jaas.config`).
    pub fn listener_value(&self, listener: &str, key: &str) -> Option<String> {
        let name = format!("listener.name.{}.{key}", listener.to_lowercase());
        self.properties.get(&name).map(|v| v.trim().to_string())
    }

    /// Whether a broker key was set (properties file, `--set` or a flag).
    pub fn is_set(&self, key: &str) -> bool {
        self.properties.contains_key(key)
    }

    /// A broker key's value as DescribeConfigs reports it: as set, else the value in force.
    /// Keys whose value lives in a field (which may be assigned directly) report the field; the
    /// first broker synonym of a topic key reports the topic default in force (so
    /// `log.retention.ms` shows the effect of `log.retention.hours`); other keys their default.
    pub fn describe_value(&self, key: &str) -> Option<String> {
        match key {
            "log.dirs" => return Some(self.data_dir.display().to_string()),
            "node.id" => return Some(self.node_id.to_string()),
            _ => {}
        }
        if let Some((v, _)) = self.layered(key) {
            return Some(v.to_string());
        }
        let primary_of = keys(Scope::Topic).find(|t| t.synonyms.first() == Some(&key));
        if let Some(t) = primary_of {
            return self
                .log_overrides
                .get(t.name)
                .map(|(v, _)| v.clone())
                .or_else(|| t.topic_default());
        }
        broker_key(key)?.default.map(str::to_string)
    }

    /// Every topic config's value for a topic with these overrides, and where it came from.
    pub fn resolve_topic(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> BTreeMap<&'static str, (String, ConfigSource)> {
        keys(Scope::Topic)
            .map(|d| {
                let v = if let Some(v) = overrides.get(d.name) {
                    (v.clone(), ConfigSource::TopicConfig)
                } else if let Some(v) = self.log_overrides.get(d.name) {
                    v.clone()
                } else {
                    (
                        d.topic_default().unwrap_or_default(),
                        ConfigSource::DefaultConfig,
                    )
                };
                (d.name, v)
            })
            .collect()
    }

    /// The typed log config for a topic with these overrides.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        LogConfig::from_values(&self.resolve_topic(overrides))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_properties;
    use super::*;

    #[test]
    fn defaults_come_from_the_rows() {
        let c = BrokerConfig::default();
        assert_eq!(c.data_dir, PathBuf::from("./gregor-data"));
        assert_eq!(c.node_id, 1);
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.default_replication_factor, 1);
        assert!(c.auto_create_topics && c.delete_topic_enable);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.max_connections, i32::MAX as usize);
        assert_eq!(c.connections_max_idle_ms, 600_000);
        assert_eq!(c.retention_check_interval_ms, 300_000);
        assert_eq!(c.flush_scheduler_interval_ms, 1_000);
        assert_eq!(c.flush_offset_checkpoint_interval_ms, 60_000);
        assert_eq!(c.group_initial_rebalance_delay_ms, 0);
        assert_eq!(c.group_min_session_timeout_ms, 6_000);
        assert_eq!(c.group_max_session_timeout_ms, 1_800_000);
        assert_eq!(c.offsets_retention_minutes, 10_080);
        assert_eq!(c.offsets_retention_check_interval_ms, 600_000);
        assert_eq!(c.offset_metadata_max_bytes, 4096);
        assert!(c.log_overrides.is_empty() && c.properties.is_empty());
    }

    #[test]
    fn dynamic_layers_override_static_ones() {
        let mut cfg = BrokerConfig::default();
        let pairs = [
            ("log.retention.hours".to_string(), "1".to_string()),
            ("log.segment.bytes".to_string(), "5000".to_string()),
        ];
        cfg.apply_properties(&pairs, &mut Vec::new())
            .expect("valid");
        let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let d = cfg.with_dynamic(
            &map(&[("log.retention.ms", "1000"), ("log.segment.bytes", "6000")]),
            &map(&[("log.segment.bytes", "7000"), ("node.id", "9")]),
        );
        let r = d.resolve_topic(&BTreeMap::new());
        assert_eq!(
            r["retention.ms"],
            ("1000".to_string(), ConfigSource::DynamicDefaultBrokerConfig)
        );
        assert_eq!(
            r["segment.bytes"],
            ("7000".to_string(), ConfigSource::DynamicBrokerConfig)
        );
        assert_eq!(
            d.node_id, 1,
            "a non-dynamic key in a dynamic layer is ignored"
        );
        assert_eq!(d.log_config(&BTreeMap::new()).retention_ms, 1000);
        assert_eq!(
            d.layers_of("log.segment.bytes"),
            vec![
                ("7000".to_string(), ConfigSource::DynamicBrokerConfig),
                ("6000".to_string(), ConfigSource::DynamicDefaultBrokerConfig),
                ("5000".to_string(), ConfigSource::StaticBrokerConfig),
            ]
        );
        let back = d.with_dynamic(&BTreeMap::new(), &BTreeMap::new());
        assert_eq!(back.log_config(&BTreeMap::new()).retention_ms, 3_600_000);
    }

    #[test]
    fn properties_and_precedence() {
        let text = "# comment\nlisteners=PLAINTEXT://:9093\nlog.dirs=/tmp/x\nlog.retention.hours=1\nlog.retention.minutes=2\nnum.partitions=3\nlog.segment.bytes=1000\nlog.roll.jitter.hours=2\nbogus.key=1\n";
        let mut cfg = BrokerConfig::default();
        let mut w = Vec::new();
        cfg.apply_properties(&parse_properties(text), &mut w)
            .expect("valid");
        assert_eq!(
            cfg.describe_value("listeners").as_deref(),
            Some("PLAINTEXT://:9093")
        );
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.num_partitions, 3);
        assert_eq!(w, vec!["unknown configuration key bogus.key (ignored)"]);
        let lc = cfg.log_config(&BTreeMap::new());
        assert_eq!(lc.retention_ms, 120_000, "minutes beat hours");
        assert_eq!(lc.segment_bytes, 1000);
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5".to_string());
        let r = cfg.resolve_topic(&o);
        assert_eq!(
            r["retention.ms"],
            ("5".to_string(), ConfigSource::TopicConfig)
        );
        assert_eq!(r["segment.bytes"].1, ConfigSource::StaticBrokerConfig);
        assert_eq!(r["segment.jitter.ms"].0, "7200000");
        assert_eq!(
            r["max.message.bytes"],
            ("1048588".to_string(), ConfigSource::DefaultConfig)
        );
        assert_eq!(
            cfg.describe_value("log.retention.ms").as_deref(),
            Some("120000")
        );
        assert_eq!(
            cfg.describe_value("log.retention.hours").as_deref(),
            Some("1")
        );
        assert_eq!(
            cfg.describe_value("log.roll.ms").as_deref(),
            Some("604800000")
        );
        assert_eq!(cfg.describe_value("log.roll.hours").as_deref(), Some("168"));
        assert_eq!(cfg.describe_value("controller.listener.names"), None);

        let pairs = [("broker.id".to_string(), "7".to_string())];
        cfg.apply_properties(&pairs, &mut w).expect("valid");
        assert_eq!(cfg.node_id, 7, "broker.id when node.id is not set");
        assert_eq!(cfg.num_partitions, 3, "earlier keys are kept");
    }
}
