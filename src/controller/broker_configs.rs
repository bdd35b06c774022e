//! Dynamic broker config changes: AlterConfigs and IncrementalAlterConfigs of a BROKER
//! resource ("" = the cluster-wide default, "<node.id>" = one broker), as Kafka's broker-side
//! `ConfigAdminManager` checks them and its `ConfigurationControlManager` records them.
//!
//! The change is computed against the resource's stored dynamic configs in the image:
//! AlterConfigs replaces the whole set, IncrementalAlterConfigs applies SET, DELETE, APPEND and
//! SUBTRACT key by key (APPEND and SUBTRACT only to LIST keys, starting from the stored value,
//! else the key's default, as Kafka's `prepareIncrementalConfigs`). The resulting set is
//! checked by [`validate_dynamic`] (non-dynamic key, bad value, thread-count rule: Kafka answers
//! all with INVALID_REQUEST naming the key). Only keys whose value changes become
//! ConfigRecords; a resource is changed all or nothing. The resource name is checked by the
//! handler (it must be "" or this node's id).

use std::collections::BTreeMap;

use super::configs::{check_duplicates, diff_records, invalid_config, list_parts};
use super::{ConfigOp, Controller, TopicConfigChange};
use crate::config::dynamic::validate_dynamic;
use crate::config::keys::broker_key;
use crate::config::{BrokerConfig, ConfigType};
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::{MetadataRecord, BROKER_RESOURCE};
use crate::metadata::MetadataImage;

fn invalid_request(msg: String) -> Error {
    Error::kafka(ErrorCode::InvalidRequest, msg)
}

/// Refuses null values where Kafka's preprocessing does (every operation but DELETE).
fn check_nulls<'a>(nulls: impl Iterator<Item = &'a String>) -> Result<()> {
    let nulls: Vec<&str> = nulls.map(String::as_str).collect();
    if nulls.is_empty() {
        return Ok(());
    }
    Err(invalid_request(format!(
        "Null value not supported for : {}",
        nulls.join(", ")
    )))
}

/// The dynamic config set `change` leaves on a resource whose set is `current`.
fn next_configs(
    current: &BTreeMap<String, String>,
    change: &TopicConfigChange,
) -> Result<BTreeMap<String, String>> {
    match change {
        TopicConfigChange::Replace(configs) => {
            check_duplicates(configs.iter().map(|(n, _)| n))
                .map_err(|_| invalid_request("Error due to duplicate config keys".into()))?;
            check_nulls(configs.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| n))?;
            Ok(configs
                .iter()
                .filter_map(|(n, v)| Some((n.clone(), v.clone()?)))
                .collect())
        }
        TopicConfigChange::Incremental(ops) => {
            check_duplicates(ops.iter().map(|(n, _, _)| n))
                .map_err(|_| invalid_request("Error due to duplicate config keys".into()))?;
            check_nulls(
                ops.iter()
                    .filter(|(_, op, v)| *op != ConfigOp::Delete && v.is_none())
                    .map(|(n, _, _)| n),
            )?;
            let mut next = current.clone();
            for (name, op, value) in ops {
                let value = value.clone().unwrap_or_default();
                match op {
                    ConfigOp::Set => {
                        next.insert(name.clone(), value);
                    }
                    ConfigOp::Delete => {
                        next.remove(name);
                    }
                    ConfigOp::Append | ConfigOp::Subtract => {
                        let key = broker_key(name).ok_or_else(|| {
                            invalid_config(format!("Unknown config name: {name}"))
                        })?;
                        if key.kind != ConfigType::List {
                            let verb = if *op == ConfigOp::Append {
                                "append"
                            } else {
                                "subtract"
                            };
                            return Err(invalid_config(format!(
                                "Config value {verb} is not allowed for config key: {name}"
                            )));
                        }
                        let base = next
                            .get(name)
                            .cloned()
                            .or_else(|| key.default.map(str::to_string))
                            .unwrap_or_default();
                        let mut parts = list_parts(&base);
                        for v in list_parts(&value) {
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
                }
            }
            Ok(next)
        }
    }
}

/// The ConfigRecords that change BROKER resource `resource_name` as `change` asks, after
/// checking the resulting set against `current` (the configuration in force).
fn broker_config_records(
    image: &MetadataImage,
    resource_name: &str,
    change: &TopicConfigChange,
    current: &BrokerConfig,
) -> Result<Vec<MetadataRecord>> {
    let stored = image.broker_configs(resource_name);
    let next = next_configs(stored, change)?;
    validate_dynamic(&next, current).map_err(invalid_request)?;
    Ok(diff_records(BROKER_RESOURCE, resource_name, stored, &next))
}

impl Controller {
    /// Changes the dynamic configs of BROKER resource `resource_name` ("" or a node id; the
    /// caller checked which), or with `validate_only` only checks that it could. `current` is
    /// the configuration in force on this node.
    pub fn alter_broker_configs(
        &self,
        resource_name: &str,
        change: &TopicConfigChange,
        current: &BrokerConfig,
        validate_only: bool,
    ) -> Result<()> {
        let n = self.commit_config_records(validate_only, |image| {
            broker_config_records(image, resource_name, change, current)
        })?;
        if n > 0 {
            let what = if resource_name.is_empty() {
                "the cluster-wide default".to_string()
            } else {
                format!("broker {resource_name}")
            };
            tracing::info!("changed {n} dynamic config(s) of {what}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::controller::configs::tests::{incremental as ops, map};

    #[test]
    fn incremental_and_replace() {
        let cur = map(&[("log.retention.ms", "5"), ("log.segment.bytes", "6000")]);
        let next = next_configs(
            &cur,
            &ops(&[
                ("log.retention.ms", ConfigOp::Delete, None),
                ("log.cleanup.policy", ConfigOp::Append, Some("compact")),
            ]),
        )
        .unwrap();
        assert_eq!(
            next,
            map(&[
                ("log.cleanup.policy", "delete,compact"),
                ("log.segment.bytes", "6000")
            ])
        );
        let e = next_configs(
            &cur,
            &ops(&[("log.retention.ms", ConfigOp::Append, Some("1"))]),
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
        let e = next_configs(&cur, &ops(&[("log.retention.ms", ConfigOp::Set, None)])).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        let r = next_configs(
            &cur,
            &TopicConfigChange::Replace(vec![("message.max.bytes".into(), Some("10".into()))]),
        )
        .unwrap();
        assert_eq!(r, map(&[("message.max.bytes", "10")]));
    }

    #[test]
    fn records_only_for_changes() {
        let mut image = MetadataImage::new("c".into());
        image.apply(&MetadataRecord::Config {
            resource_type: BROKER_RESOURCE,
            resource_name: "".into(),
            name: "log.retention.ms".into(),
            value: Some("5".into()),
        });
        let c = BrokerConfig::default();
        let recs = broker_config_records(
            &image,
            "",
            &TopicConfigChange::Replace(vec![("log.segment.bytes".into(), Some("7000".into()))]),
            &c,
        )
        .unwrap();
        assert_eq!(recs.len(), 2, "{recs:?}");
        let e = broker_config_records(
            &image,
            "1",
            &ops(&[("listeners", ConfigOp::Set, Some("PLAINTEXT://:1"))]),
            &c,
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        assert!(e.to_string().contains("listeners"), "{e}");
    }
}
