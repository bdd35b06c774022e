//! Broker and topic configuration, with Kafka's key names and Kafka's defaults.
//!
//! Broker settings come from an optional `server.properties` (Kafka's format) and command
//! line flags, which win. Topic-level settings (`retention.ms`, `segment.bytes`, …) resolve
//! as in Kafka: a topic override, else the broker's `log.*` setting, else the default. The
//! one table [`TOPIC_CONFIGS`] drives resolution, validation and DescribeConfigs alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a config value came from, as DescribeConfigs reports it (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// The type of a config value, for validation and DescribeConfigs' `config_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// One topic-level config: its name, the broker key that supplies its default, the default.
pub struct TopicConfigDef {
    pub name: &'static str,
    pub broker_key: &'static str,
    pub default: &'static str,
    pub kind: ConfigType,
    /// Allowed values for enumerations, empty when free.
    pub allowed: &'static [&'static str],
}

const LONG_MAX: &str = "9223372036854775807";

macro_rules! defs {
    ($( $name:literal, $broker:literal, $default:expr, $kind:ident $(, [$($v:literal),*])? ;)*) => {
        /// Every topic-level config gregor knows, with Kafka's names and defaults.
        pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
            $( TopicConfigDef { name: $name, broker_key: $broker, default: $default, kind: ConfigType::$kind, allowed: &[$($($v),*)?] }, )*
        ];
    };
}

defs! {
    "cleanup.policy", "log.cleanup.policy", "delete", List, ["delete", "compact", "compact,delete", "delete,compact"];
    "compression.type", "compression.type", "producer", String, ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];
    "delete.retention.ms", "log.cleaner.delete.retention.ms", "86400000", Long;
    "file.delete.delay.ms", "log.segment.delete.delay.ms", "60000", Long;
    "flush.messages", "log.flush.interval.messages", LONG_MAX, Long;
    "flush.ms", "log.flush.interval.ms", LONG_MAX, Long;
    "index.interval.bytes", "log.index.interval.bytes", "4096", Int;
    "max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", LONG_MAX, Long;
    "max.message.bytes", "message.max.bytes", "1048588", Int;
    "message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", LONG_MAX, Long;
    "message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", LONG_MAX, Long;
    "message.timestamp.type", "log.message.timestamp.type", "CreateTime", String, ["CreateTime", "LogAppendTime"];
    "min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", "0.5", Double;
    "min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", "0", Long;
    "min.insync.replicas", "min.insync.replicas", "1", Int;
    "preallocate", "log.preallocate", "false", Boolean;
    "retention.bytes", "log.retention.bytes", "-1", Long;
    "retention.ms", "log.retention.ms", "604800000", Long;
    "segment.bytes", "log.segment.bytes", "1073741824", Int;
    "segment.index.bytes", "log.index.size.max.bytes", "10485760", Int;
    "segment.jitter.ms", "log.roll.jitter.ms", "0", Long;
    "segment.ms", "log.roll.ms", "604800000", Long;
    "unclean.leader.election.enable", "unclean.leader.election.enable", "false", Boolean;
}

pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks one topic config value against its type and allowed values.
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), String> {
    let def = topic_config_def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let ok = match def.kind {
        ConfigType::Boolean => value == "true" || value == "false",
        ConfigType::Int => value.trim().parse::<i32>().is_ok(),
        ConfigType::Long => value.trim().parse::<i64>().is_ok(),
        ConfigType::Double => value.trim().parse::<f64>().is_ok(),
        ConfigType::String | ConfigType::List => true,
    };
    if !ok {
        return Err(format!("Invalid value {value} for configuration {name}"));
    }
    if !def.allowed.is_empty() && !def.allowed.contains(&value.trim()) {
        return Err(format!(
            "Invalid value {value} for configuration {name}: must be one of {:?}",
            def.allowed
        ));
    }
    let min_ok = match name {
        "segment.bytes" => value
            .trim()
            .parse::<i64>()
            .map(|v| v >= 14)
            .unwrap_or(false),
        "segment.index.bytes" => value.trim().parse::<i64>().map(|v| v >= 8).unwrap_or(false),
        "max.message.bytes" | "index.interval.bytes" | "min.insync.replicas" => {
            value.trim().parse::<i64>().map(|v| v >= 0).unwrap_or(false)
        }
        "segment.ms" | "flush.messages" | "flush.ms" => {
            value.trim().parse::<i64>().map(|v| v >= 1).unwrap_or(false)
        }
        "retention.ms" | "retention.bytes" => value
            .trim()
            .parse::<i64>()
            .map(|v| v >= -1)
            .unwrap_or(false),
        _ => true,
    };
    if !min_ok {
        return Err(format!(
            "Invalid value {value} for configuration {name}: out of range"
        ));
    }
    Ok(())
}

/// Timestamp type of a topic (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The resolved settings a partition log runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub segment_bytes: u32,
    pub segment_ms: i64,
    pub segment_index_bytes: usize,
    pub index_interval_bytes: u32,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub max_message_bytes: usize,
    pub timestamp_type: TimestampType,
    /// How far a CreateTime timestamp may lie in the past / future (INVALID_TIMESTAMP beyond).
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    pub flush_messages: i64,
    pub flush_ms: i64,
    /// `cleanup.policy` includes `delete`: time and size retention apply.
    pub delete: bool,
}

impl LogConfig {
    /// Builds the typed config from resolved string values (see [`BrokerConfig::resolve_topic`]).
    pub fn from_values(values: &BTreeMap<&'static str, (String, ConfigSource)>) -> LogConfig {
        let get = |k: &str| {
            values
                .get(k)
                .map(|(v, _)| v.trim().to_string())
                .unwrap_or_default()
        };
        let long = |k: &str, d: i64| get(k).parse::<i64>().unwrap_or(d);
        LogConfig {
            segment_bytes: long("segment.bytes", 1 << 30).clamp(14, i32::MAX as i64) as u32,
            segment_ms: long("segment.ms", 604_800_000).max(1),
            segment_index_bytes: long("segment.index.bytes", 10 << 20).clamp(8, i32::MAX as i64)
                as usize,
            index_interval_bytes: long("index.interval.bytes", 4096).clamp(0, i32::MAX as i64)
                as u32,
            retention_ms: long("retention.ms", 604_800_000),
            retention_bytes: long("retention.bytes", -1),
            max_message_bytes: long("max.message.bytes", 1_048_588).clamp(0, i32::MAX as i64)
                as usize,
            timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            timestamp_before_max_ms: long("message.timestamp.before.max.ms", i64::MAX).max(0),
            timestamp_after_max_ms: long("message.timestamp.after.max.ms", i64::MAX).max(0),
            flush_messages: long("flush.messages", i64::MAX).max(1),
            flush_ms: long("flush.ms", i64::MAX).max(0),
            delete: get("cleanup.policy").contains("delete"),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        BrokerConfig::default().log_config(&BTreeMap::new())
    }
}

/// Broker-wide settings (Kafka's `server.properties` keys).
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub listen: String,
    pub advertised: String,
    pub data_dir: PathBuf,
    pub node_id: i32,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    pub connections_max_idle_ms: u64,
    pub retention_check_interval_ms: u64,
    pub flush_scheduler_interval_ms: u64,
    pub flush_offset_checkpoint_interval_ms: u64,
    /// `group.initial.rebalance.delay.ms`: gregor's default is 0 (Kafka's is 3000), so a new
    /// group's first consumer gets its partitions at once; raise it to batch joins.
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub offsets_retention_minutes: i64,
    pub offsets_retention_check_interval_ms: u64,
    pub offset_metadata_max_bytes: usize,
    /// Broker-level values of topic configs, keyed by the *topic* config name, for those set
    /// in the properties file (`log.retention.hours=1` lands here as `retention.ms`).
    pub log_overrides: BTreeMap<&'static str, String>,
    /// Every key read from the properties file, as given, for DescribeConfigs.
    pub properties: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: "127.0.0.1:9092".into(),
            advertised: "127.0.0.1:9092".into(),
            data_dir: PathBuf::from("./gregor-data"),
            node_id: 1,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            delete_topic_enable: true,
            socket_request_max_bytes: 104_857_600,
            max_connections: i32::MAX as usize,
            connections_max_idle_ms: 600_000,
            retention_check_interval_ms: 300_000,
            flush_scheduler_interval_ms: 1_000,
            flush_offset_checkpoint_interval_ms: 60_000,
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            log_overrides: BTreeMap::new(),
            properties: BTreeMap::new(),
        }
    }
}

/// Parses Kafka's `.properties` format: `key=value` or `key: value`, `#`/`!` comments.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

/// `PLAINTEXT://host:port[,…]` (or a bare `host:port`) → the first `host:port`.
fn listener_address(v: &str) -> String {
    let first = v.split(',').next().unwrap_or("").trim();
    let addr = first.split_once("://").map(|(_, a)| a).unwrap_or(first);
    if let Some(port) = addr.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        addr.to_string()
    }
}

impl BrokerConfig {
    /// Reads a `server.properties` file over the defaults. Unknown keys are warned about.
    pub fn from_properties_file(path: &Path) -> std::io::Result<BrokerConfig> {
        let text = std::fs::read_to_string(path)?;
        let mut cfg = BrokerConfig::default();
        let mut warnings = Vec::new();
        cfg.apply_properties(&parse_properties(&text), &mut warnings);
        for w in warnings {
            tracing::warn!("{}: {w}", path.display());
        }
        Ok(cfg)
    }

    /// Applies `key=value` pairs; problems are pushed to `warnings` and the key ignored.
    pub fn apply_properties(&mut self, pairs: &[(String, String)], warnings: &mut Vec<String>) {
        let mut advertised_set = false;
        // Kafka's precedence: log.retention.ms > .minutes > .hours; log.roll.ms > .hours.
        let mut retention: [Option<i64>; 3] = [None; 3];
        let mut roll: [Option<i64>; 2] = [None; 2];
        for (k, v) in pairs {
            self.properties.insert(k.clone(), v.clone());
            let num = || {
                v.parse::<i64>()
                    .map_err(|_| format!("{k}: {v} is not a number"))
            };
            let res: Result<(), String> = (|| {
                match k.as_str() {
                    "listeners" => self.listen = listener_address(v),
                    "advertised.listeners" => {
                        self.advertised = listener_address(v);
                        advertised_set = true;
                    }
                    "log.dirs" | "log.dir" => {
                        self.data_dir = PathBuf::from(v.split(',').next().unwrap_or(v).trim())
                    }
                    "node.id" | "broker.id" => self.node_id = num()? as i32,
                    "num.partitions" => self.num_partitions = num()?.max(1) as i32,
                    "default.replication.factor" => self.default_replication_factor = num()? as i16,
                    "auto.create.topics.enable" => self.auto_create_topics = v == "true",
                    "delete.topic.enable" => self.delete_topic_enable = v == "true",
                    "socket.request.max.bytes" => {
                        self.socket_request_max_bytes = num()?.max(8) as usize
                    }
                    "max.connections" => self.max_connections = num()?.max(1) as usize,
                    "connections.max.idle.ms" => {
                        self.connections_max_idle_ms = num()?.max(1) as u64
                    }
                    "log.retention.check.interval.ms" => {
                        self.retention_check_interval_ms = num()?.max(1) as u64
                    }
                    "log.flush.scheduler.interval.ms" => {
                        self.flush_scheduler_interval_ms = num()?.max(1) as u64
                    }
                    "log.flush.offset.checkpoint.interval.ms" => {
                        self.flush_offset_checkpoint_interval_ms = num()?.max(1) as u64
                    }
                    "log.retention.ms" => retention[0] = Some(num()?),
                    "log.retention.minutes" => retention[1] = Some(num()?.saturating_mul(60_000)),
                    "log.retention.hours" => retention[2] = Some(num()?.saturating_mul(3_600_000)),
                    "log.roll.ms" => roll[0] = Some(num()?),
                    "log.roll.hours" => roll[1] = Some(num()?.saturating_mul(3_600_000)),
                    "log.roll.jitter.hours" => {
                        self.log_overrides
                            .insert("segment.jitter.ms", (num()? * 3_600_000).to_string());
                    }
                    // Known Kafka keys that gregor accepts but has nothing to do with.
                    "process.roles"
                    | "controller.quorum.voters"
                    | "controller.listener.names"
                    | "inter.broker.listener.name"
                    | "listener.security.protocol.map"
                    | "num.network.threads"
                    | "num.io.threads"
                    | "socket.send.buffer.bytes"
                    | "socket.receive.buffer.bytes"
                    | "num.recovery.threads.per.data.dir"
                    | "offsets.topic.replication.factor"
                    | "transaction.state.log.replication.factor"
                    | "transaction.state.log.min.isr"
                    | "controller.quorum.bootstrap.servers" => {}
                    "group.initial.rebalance.delay.ms" => {
                        self.group_initial_rebalance_delay_ms = num()?.max(0) as u64
                    }
                    "group.min.session.timeout.ms" => {
                        self.group_min_session_timeout_ms = num()?.clamp(0, i32::MAX as i64) as i32
                    }
                    "group.max.session.timeout.ms" => {
                        self.group_max_session_timeout_ms = num()?.clamp(0, i32::MAX as i64) as i32
                    }
                    "offsets.retention.minutes" => self.offsets_retention_minutes = num()?.max(1),
                    "offsets.retention.check.interval.ms" => {
                        self.offsets_retention_check_interval_ms = num()?.max(1) as u64
                    }
                    "offset.metadata.max.bytes" => {
                        self.offset_metadata_max_bytes = num()?.max(0) as usize
                    }
                    key => match TOPIC_CONFIGS.iter().find(|d| d.broker_key == key) {
                        Some(def) => {
                            validate_topic_config(def.name, v)?;
                            self.log_overrides.insert(def.name, v.clone());
                        }
                        None => return Err(format!("unknown configuration key {key} (ignored)")),
                    },
                }
                Ok(())
            })();
            if let Err(e) = res {
                warnings.push(e);
            }
        }
        if let Some(ms) = retention.iter().flatten().next() {
            self.log_overrides.insert("retention.ms", ms.to_string());
        }
        if let Some(ms) = roll.iter().flatten().next() {
            self.log_overrides.insert("segment.ms", ms.to_string());
        }
        if !advertised_set && self.properties.contains_key("listeners") {
            self.advertised = default_advertised(&self.listen);
        }
    }

    /// Every topic config's value for a topic with these overrides, and where it came from.
    pub fn resolve_topic(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> BTreeMap<&'static str, (String, ConfigSource)> {
        TOPIC_CONFIGS
            .iter()
            .map(|d| {
                let v = if let Some(v) = overrides.get(d.name) {
                    (v.clone(), ConfigSource::TopicConfig)
                } else if let Some(v) = self.log_overrides.get(d.name) {
                    (v.clone(), ConfigSource::StaticBrokerConfig)
                } else {
                    (d.default.to_string(), ConfigSource::DefaultConfig)
                };
                (d.name, v)
            })
            .collect()
    }

    /// The typed log config for a topic with these overrides.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        LogConfig::from_values(&self.resolve_topic(overrides))
    }

    /// Sets a topic-level default as if `log.*` had been given (used by flags such as
    /// `--durable`).
    pub fn set_log_default(&mut self, topic_key: &'static str, value: impl Into<String>) {
        self.log_overrides.insert(topic_key, value.into());
    }
}

/// The address to advertise for a listen address: a wildcard host becomes 127.0.0.1.
pub fn default_advertised(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("0.0.0.0" | "" | "[::]", port)) => format!("127.0.0.1:{port}"),
        _ => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_and_precedence() {
        let text = "# comment\nlisteners=PLAINTEXT://:9093\nlog.dirs=/tmp/x\nlog.retention.hours=1\nlog.retention.minutes=2\nnum.partitions=3\nlog.segment.bytes=1000\nbogus.key=1\n";
        let mut cfg = BrokerConfig::default();
        let mut w = Vec::new();
        cfg.apply_properties(&parse_properties(text), &mut w);
        assert_eq!(cfg.listen, "0.0.0.0:9093");
        assert_eq!(cfg.advertised, "127.0.0.1:9093");
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.num_partitions, 3);
        assert_eq!(w.len(), 1, "{w:?}");
        let lc = cfg.log_config(&BTreeMap::new());
        assert_eq!(lc.retention_ms, 120_000);
        assert_eq!(lc.segment_bytes, 1000);
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5".to_string());
        let r = cfg.resolve_topic(&o);
        assert_eq!(
            r["retention.ms"],
            ("5".to_string(), ConfigSource::TopicConfig)
        );
        assert_eq!(r["segment.bytes"].1, ConfigSource::StaticBrokerConfig);
        assert_eq!(
            r["max.message.bytes"],
            ("1048588".to_string(), ConfigSource::DefaultConfig)
        );
        assert!(validate_topic_config("segment.bytes", "abc").is_err());
        assert!(validate_topic_config("nope", "1").is_err());
        assert!(validate_topic_config("cleanup.policy", "compact").is_ok());
    }
}
