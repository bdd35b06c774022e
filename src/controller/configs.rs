//! Config changes of the controller: AlterConfigs and IncrementalAlterConfigs of a topic, as
//! Kafka's `ConfigurationControlManager` checks and records them.
//!
//! A change is computed against the topic's current overrides in the image: AlterConfigs
//! replaces the whole override set (a deleting ConfigRecord for every key not given),
//! IncrementalAlterConfigs applies SET, DELETE, APPEND and SUBTRACT key by key (APPEND and
//! SUBTRACT only to LIST keys, starting from the value in effect). The resulting override set
//! is validated against the config rows (unknown key or bad value: INVALID_CONFIG with a
//! message naming the key, as Kafka's `LogConfig.validate`), and only keys whose value changes
//! become records. A resource is changed all or nothing.

use std::collections::BTreeMap;

use super::Controller;
use crate::config::keys::topic_key;
use crate::config::{validate_topic_config, BrokerConfig, ConfigType};
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::{MetadataRecord, TOPIC_RESOURCE};
use crate::metadata::MetadataImage;

/// One IncrementalAlterConfigs operation (Kafka's `AlterConfigOp.OpType`, same numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOp {
    Set = 0,
    Delete = 1,
    Append = 2,
    Subtract = 3,
}

impl ConfigOp {
    /// The operation of a wire code, or INVALID_REQUEST.
    pub fn from_code(code: i8) -> Result<ConfigOp> {
        Ok(match code {
            0 => ConfigOp::Set,
            1 => ConfigOp::Delete,
            2 => ConfigOp::Append,
            3 => ConfigOp::Subtract,
            _ => {
                return Err(Error::kafka(
                    ErrorCode::InvalidRequest,
                    format!("Unknown config operation type {code}"),
                ))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            ConfigOp::Set => "SET",
            ConfigOp::Delete => "DELETE",
            ConfigOp::Append => "APPEND",
            ConfigOp::Subtract => "SUBTRACT",
        }
    }
}

/// A change to one config resource (a topic's overrides, or a broker's dynamic configs).
#[derive(Debug, Clone)]
pub enum TopicConfigChange {
    /// AlterConfigs: these become the whole override set (a `None` value is refused).
    Replace(Vec<(String, Option<String>)>),
    /// IncrementalAlterConfigs: these operations, in order.
    Incremental(Vec<(String, ConfigOp, Option<String>)>),
}

pub(super) fn invalid_config(msg: String) -> Error {
    Error::kafka(ErrorCode::InvalidConfig, msg)
}

/// Refuses a key given twice in one resource, as Kafka's request preprocessing does.
pub(super) fn check_duplicates<'a>(names: impl Iterator<Item = &'a String>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(Error::kafka(
                ErrorCode::InvalidRequest,
                format!("Error due to duplicate config keys: {n}"),
            ));
        }
    }
    Ok(())
}

/// The list elements of a value (`a, b,c` → `[a, b, c]`), empty elements dropped.
pub(super) fn list_parts(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The override set `change` leaves on a topic whose overrides are `current`; `defaults`
/// resolves the value in effect for APPEND/SUBTRACT of a key without an override.
fn next_overrides(
    current: &BTreeMap<String, String>,
    change: &TopicConfigChange,
    defaults: &BrokerConfig,
) -> Result<BTreeMap<String, String>> {
    match change {
        TopicConfigChange::Replace(configs) => {
            check_duplicates(configs.iter().map(|(n, _)| n))?;
            let nulls: Vec<&str> = configs
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| n.as_str())
                .collect();
            if !nulls.is_empty() {
                return Err(invalid_config(format!(
                    "Null value not supported for topic configs: {}",
                    nulls.join(",")
                )));
            }
            Ok(configs
                .iter()
                .filter_map(|(n, v)| Some((n.clone(), v.clone()?)))
                .collect())
        }
        TopicConfigChange::Incremental(ops) => {
            check_duplicates(ops.iter().map(|(n, _, _)| n))?;
            let mut next = current.clone();
            let resolved = defaults.resolve_topic(current);
            for (name, op, value) in ops {
                if *op == ConfigOp::Delete {
                    next.remove(name);
                    continue;
                }
                let Some(value) = value else {
                    return Err(invalid_config(format!(
                        "Null value not supported for : {name}"
                    )));
                };
                if *op == ConfigOp::Set {
                    next.insert(name.clone(), value.clone());
                    continue;
                }
                let key = topic_key(name)
                    .ok_or_else(|| invalid_config(format!("Unknown topic config name: {name}")))?;
                if key.kind != ConfigType::List {
                    return Err(invalid_config(format!(
                        "Can't {} to key {name} because its type is not LIST.",
                        op.name()
                    )));
                }
                let base = next
                    .get(name)
                    .cloned()
                    .or_else(|| resolved.get(key.name).map(|(v, _)| v.clone()))
                    .unwrap_or_default();
                let mut parts = list_parts(&base);
                for v in list_parts(value) {
                    if *op == ConfigOp::Append {
                        if !parts.contains(&v) {
                            parts.push(v);
                        }
                    } else {
                        parts.retain(|p| *p != v);
                    }
                }
                next.insert(name.clone(), parts.join(","));
            }
            Ok(next)
        }
    }
}

/// The ConfigRecords that change topic `name` as `change` asks, after checking it as Kafka
/// does (unknown topic, unknown key, bad value).
fn config_records(
    image: &MetadataImage,
    name: &str,
    change: &TopicConfigChange,
    defaults: &BrokerConfig,
) -> Result<Vec<MetadataRecord>> {
    let topic = image.topic(name).ok_or_else(|| {
        Error::kafka(
            ErrorCode::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        )
    })?;
    let current = &topic.overrides;
    let next = next_overrides(current, change, defaults)?;
    for (k, v) in &next {
        validate_topic_config(k, v).map_err(invalid_config)?;
    }
    Ok(diff_records(TOPIC_RESOURCE, name, current, &next))
}

/// The ConfigRecords that turn resource `(resource_type, resource_name)`'s stored configs
/// `current` into `next`: a null value for every key removed, a value for every key added or
/// changed, nothing for a key left as it was.
pub(super) fn diff_records(
    resource_type: i8,
    resource_name: &str,
    current: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let record = |key: &str, value: Option<&String>| MetadataRecord::Config {
        resource_type,
        resource_name: resource_name.to_string(),
        name: key.to_string(),
        value: value.cloned(),
    };
    let mut records: Vec<MetadataRecord> = current
        .keys()
        .filter(|k| !next.contains_key(*k))
        .map(|k| record(k, None))
        .collect();
    records.extend(
        next.iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .map(|(k, v)| record(k, Some(v))),
    );
    records
}

impl Controller {
    /// Builds a config change's records from the image and commits them, or with
    /// `validate_only` only builds them (so every check runs and nothing changes). Returns how
    /// many config records were committed. A change of `unclean.leader.election.enable`
    /// carries, in the same commit, the unclean elections it allows (`elections.rs`).
    pub(super) fn commit_config_records(
        &self,
        validate_only: bool,
        build: impl Fn(&MetadataImage) -> Result<Vec<MetadataRecord>>,
    ) -> Result<usize> {
        if validate_only {
            return build(&self.metadata.image()).map(|_| 0);
        }
        self.commit(|image| {
            let mut records = build(image)?;
            let n = records.len();
            // Turning unclean election on elects leaders for leaderless partitions at once.
            let elections = super::elections::unclean_after_config_change(
                image,
                &records,
                &self.config,
                self.node_id,
            );
            if !elections.is_empty() {
                tracing::warn!(
                    "unclean.leader.election.enable changed: {} unclean election(s)",
                    elections.len()
                );
            }
            records.extend(elections);
            Ok((records, n))
        })
    }

    /// Changes the config overrides of topic `name` (or, with `validate_only`, only checks
    /// that it could). `defaults` is this broker's config, which supplies the value in effect
    /// of a key without an override (for APPEND and SUBTRACT).
    pub fn alter_topic_configs(
        &self,
        name: &str,
        change: &TopicConfigChange,
        defaults: &BrokerConfig,
        validate_only: bool,
    ) -> Result<()> {
        let n = self.commit_config_records(validate_only, |image| {
            config_records(image, name, change, defaults)
        })?;
        if n > 0 {
            tracing::info!("changed {n} config(s) of topic {name}");
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A config map from pairs (shared with the broker-config tests).
    pub(in crate::controller) fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// An IncrementalAlterConfigs change from `(key, op, value)` triples.
    pub(in crate::controller) fn incremental(
        ops: &[(&str, ConfigOp, Option<&str>)],
    ) -> TopicConfigChange {
        TopicConfigChange::Incremental(
            ops.iter()
                .map(|(n, o, v)| (n.to_string(), *o, v.map(str::to_string)))
                .collect(),
        )
    }

    #[test]
    fn incremental_operations_apply_in_order() {
        let d = BrokerConfig::default();
        let cur = map(&[("retention.ms", "1000"), ("segment.bytes", "5000")]);
        let next = next_overrides(
            &cur,
            &incremental(&[
                ("retention.ms", ConfigOp::Delete, None),
                ("cleanup.policy", ConfigOp::Append, Some("compact")),
                ("max.message.bytes", ConfigOp::Set, Some("100")),
            ]),
            &d,
        )
        .unwrap();
        assert_eq!(
            next,
            map(&[
                ("cleanup.policy", "delete,compact"),
                ("max.message.bytes", "100"),
                ("segment.bytes", "5000")
            ])
        );
        let sub = next_overrides(
            &next,
            &incremental(&[("cleanup.policy", ConfigOp::Subtract, Some("delete"))]),
            &d,
        )
        .unwrap();
        assert_eq!(
            sub.get("cleanup.policy").map(String::as_str),
            Some("compact")
        );
    }

    #[test]
    fn append_to_a_non_list_key_and_duplicates_are_refused() {
        let d = BrokerConfig::default();
        let e = next_overrides(
            &BTreeMap::new(),
            &incremental(&[("retention.ms", ConfigOp::Append, Some("1"))]),
            &d,
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
        assert!(e.to_string().contains("retention.ms"), "{e}");
        let e = next_overrides(
            &BTreeMap::new(),
            &incremental(&[
                ("retention.ms", ConfigOp::Set, Some("1")),
                ("retention.ms", ConfigOp::Delete, None),
            ]),
            &d,
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        let e = next_overrides(
            &BTreeMap::new(),
            &TopicConfigChange::Replace(vec![("retention.ms".into(), None)]),
            &d,
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
    }
}
