//! Topic-level configuration: validating a topic override, and the typed [`LogConfig`] a
//! partition log runs with, built from resolved values (topic override, else the broker's
//! `log.*` synonym, else the default; see [`BrokerConfig::resolve_topic`]).

use std::collections::BTreeMap;

use super::keys::topic_key;
use super::{BrokerConfig, ConfigSource};

/// Checks one topic config value against its row's type and range. The error reads as
/// Kafka's (`Invalid value X for configuration Y: ...`).
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), String> {
    let key = topic_key(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    key.validate(value).map_err(|e| e.to_string())
}

/// Timestamp type of a topic (`message.timestamp.type`): whose clock stamps a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The resolved settings a partition log runs with: typed once here so the log never parses
/// strings on its hot path.
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
    /// `cleanup.policy` includes `compact`: the log cleaner keeps the latest record per key,
    /// and the leader refuses keyless records.
    pub compact: bool,
    /// `delete.retention.ms`: how long the cleaner keeps tombstones and empty transactions'
    /// markers after it first sees them.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log whose oldest dirty record is older is cleaned whatever
    /// its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: dirty bytes / all bytes that make a log worth cleaning.
    pub min_cleanable_dirty_ratio: f64,
}

impl LogConfig {
    /// Builds the typed config from resolved string values (see [`BrokerConfig::resolve_topic`]).
    /// A value missing or unparsable (impossible after validation) falls back to the row's
    /// default.
    pub fn from_values(values: &BTreeMap<&'static str, (String, ConfigSource)>) -> LogConfig {
        let get = |k: &str| match values.get(k) {
            Some((v, _)) => v.trim().to_string(),
            None => topic_key(k)
                .and_then(|d| d.topic_default())
                .unwrap_or_default(),
        };
        let long = |k: &str| {
            get(k).parse::<i64>().unwrap_or_else(|_| {
                topic_key(k)
                    .and_then(|d| d.topic_default())
                    .and_then(|d| d.parse().ok())
                    .unwrap_or_default()
            })
        };
        let int = |k: &str| long(k).clamp(0, i32::MAX as i64);
        LogConfig {
            segment_bytes: int("segment.bytes").max(14) as u32,
            segment_ms: long("segment.ms").max(1),
            segment_index_bytes: int("segment.index.bytes").max(8) as usize,
            index_interval_bytes: int("index.interval.bytes") as u32,
            retention_ms: long("retention.ms"),
            retention_bytes: long("retention.bytes"),
            max_message_bytes: int("max.message.bytes") as usize,
            timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            timestamp_before_max_ms: long("message.timestamp.before.max.ms").max(0),
            timestamp_after_max_ms: long("message.timestamp.after.max.ms").max(0),
            flush_messages: long("flush.messages").max(1),
            flush_ms: long("flush.ms").max(0),
            delete: get("cleanup.policy").contains("delete"),
            compact: get("cleanup.policy").contains("compact"),
            delete_retention_ms: long("delete.retention.ms").max(0),
            min_compaction_lag_ms: long("min.compaction.lag.ms").max(0),
            max_compaction_lag_ms: long("max.compaction.lag.ms").max(1),
            min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio")
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .unwrap_or(0.5),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        BrokerConfig::default().log_config(&BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10 << 20);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.flush_messages, i64::MAX);
        assert_eq!(c.flush_ms, i64::MAX);
        assert!(c.delete);
    }

    #[test]
    fn topic_values_are_validated_by_their_row() {
        assert!(validate_topic_config("segment.bytes", "abc").is_err());
        assert!(validate_topic_config("nope", "1").is_err());
        assert!(validate_topic_config("cleanup.policy", "compact").is_ok());
        assert!(validate_topic_config("cleanup.policy", "compact, delete").is_ok());
        assert_eq!(
            validate_topic_config("cleanup.policy", "shred"),
            Err("Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete".into())
        );
        assert_eq!(
            validate_topic_config("segment.bytes", "13"),
            Err(
                "Invalid value 13 for configuration segment.bytes: Value must be at least 14"
                    .into()
            )
        );
        assert!(validate_topic_config("retention.ms", "-1").is_ok());
        assert!(validate_topic_config("retention.ms", "-2").is_err());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "0.7").is_ok());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate_topic_config("preallocate", "TRUE").is_ok());
        assert!(validate_topic_config("preallocate", "yes").is_err());
        assert!(
            validate_topic_config("max.message.bytes", "2147483648").is_err(),
            "INT"
        );
        assert!(validate_topic_config("message.timestamp.type", "LogAppendTime").is_ok());
    }
}
