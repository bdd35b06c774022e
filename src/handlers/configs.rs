//! DescribeConfigs for topics and this broker: every config with its value, where it came
//! from (topic override, dynamic per-broker or cluster-default broker config, static broker
//! config, default) and, on request, its synonyms in precedence order, as Kafka's
//! `ConfigHelper` reports them. Values are those in force ([`crate::broker::Broker::config_now`]).
//!
//! BROKER "<node.id>" lists every broker key (read-only unless it may change at run time);
//! BROKER "" (the cluster-wide default) lists only the dynamic defaults that are set, as Kafka
//! does.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::config::dynamic::is_dynamic;
use crate::config::keys::{broker_key, keys, ConfigKey, Scope};
use crate::config::{BrokerConfig, ConfigSource, ConfigType};
use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

/// One config entry before encoding.
struct Entry {
    name: &'static str,
    value: Option<String>,
    source: ConfigSource,
    kind: ConfigType,
    read_only: bool,
    synonyms: Vec<(&'static str, Option<String>, ConfigSource)>,
    doc: &'static str,
}

/// Kafka's `configSynonyms`: the keys of `group` set dynamically for this broker
/// (DYNAMIC_BROKER_CONFIG), then as the cluster default (DYNAMIC_DEFAULT_BROKER_CONFIG), then
/// statically (STATIC_BROKER_CONFIG), raw values, then those with a default (DEFAULT_CONFIG),
/// each layer in the group's precedence order. For a topic key
/// the whole list is kept (Kafka drops the entries before its first synonym, so a topic whose
/// `retention.ms` comes from `log.retention.hours` would show no synonyms and DEFAULT_CONFIG;
/// gregor reports the static source the value really came from).
fn broker_synonyms(
    c: &BrokerConfig,
    group: &[&'static str],
) -> Vec<(&'static str, Option<String>, ConfigSource)> {
    let mut set: Vec<_> = group
        .iter()
        .flat_map(|s| {
            c.layers_of(s)
                .into_iter()
                .map(move |(v, source)| (*s, Some(v), source))
        })
        .collect();
    // Stable: within a layer, the group's order stays.
    set.sort_by_key(|(_, _, source)| *source as i8);
    let defaults = group.iter().filter_map(|s| {
        let d = broker_key(s)?.default?;
        Some((*s, Some(d.to_string()), ConfigSource::DefaultConfig))
    });
    set.into_iter().chain(defaults).collect()
}

fn topic_entries(
    c: &BrokerConfig,
    overrides: &std::collections::BTreeMap<String, String>,
) -> Vec<Entry> {
    let resolved = c.resolve_topic(overrides);
    keys(Scope::Topic)
        .map(|d| {
            let (value, source) = resolved.get(d.name).cloned().unwrap_or((
                d.topic_default().unwrap_or_default(),
                ConfigSource::DefaultConfig,
            ));
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(d.name) {
                synonyms.push((d.name, Some(v.clone()), ConfigSource::TopicConfig));
            }
            synonyms.extend(broker_synonyms(c, d.synonyms));
            Entry {
                name: d.name,
                value: Some(value),
                source,
                kind: d.kind,
                read_only: false,
                synonyms,
                doc: d.doc,
            }
        })
        .collect()
}

/// The keys Kafka reports as synonyms of a broker key: the other units of the same setting
/// (`log.retention.ms`/`.minutes`/`.hours`), else the key alone.
fn synonym_group(k: &'static ConfigKey) -> &'static [&'static str] {
    keys(Scope::Topic)
        .map(|t| t.synonyms)
        .find(|g| g.len() > 1 && g.contains(&k.name))
        .unwrap_or(std::slice::from_ref(&k.name))
}

/// The entries of BROKER "<node.id>" (`per_broker`: every key, value in force) or BROKER ""
/// (only the dynamic defaults set, and only their cluster-default synonyms), as Kafka's
/// `createBrokerConfigEntry`: the source is the first synonym's, DEFAULT_CONFIG without one.
fn broker_entries(c: &BrokerConfig, per_broker: bool) -> Vec<Entry> {
    keys(Scope::Broker)
        .filter(|k| per_broker || c.dynamic_default.contains_key(k.name))
        .map(|k| {
            let group = synonym_group(k);
            // As Kafka: the synonyms from this key's first entry on, so a key's source is its
            // own.
            let synonyms: Vec<_> = broker_synonyms(c, group)
                .into_iter()
                .skip_while(|s| s.0 != k.name)
                .filter(|s| per_broker || s.2 == ConfigSource::DynamicDefaultBrokerConfig)
                .collect();
            let source = synonyms
                .first()
                .map_or(ConfigSource::DefaultConfig, |s| s.2);
            let value = if per_broker {
                c.describe_value(k.name)
            } else {
                c.dynamic_default.get(k.name).cloned()
            };
            // Secrets (PASSWORD keys) are reported sensitive and without a value, as Kafka.
            let secret = k.kind == ConfigType::Password;
            let value = value.filter(|_| !secret);
            let synonyms = synonyms
                .into_iter()
                .map(|(n, v, s)| (n, v.filter(|_| !secret), s))
                .collect();
            Entry {
                name: k.name,
                value,
                source,
                kind: k.kind,
                read_only: !is_dynamic(k.name),
                synonyms,
                doc: k.doc,
            }
        })
        .collect()
}

pub async fn describe_configs(
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let b = &ctx.broker;
    let config = b.config_now();
    let mut results = Vec::with_capacity(req.resources.len());
    for res in req.resources {
        let mut r = DescribeConfigsResult::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let denied = ctx.authorize_config(
            AclOperation::DescribeConfigs,
            res.resource_type,
            &res.resource_name,
        );
        let entries = match res.resource_type {
            _ if denied.is_err() => Err(denied
                .err()
                .map(|e| (e.code(), e.message()))
                .unwrap_or((ErrorCode::UnknownServerError, String::new()))),
            TOPIC => match b.metadata.topic(&res.resource_name) {
                Some(t) => Ok(topic_entries(&config, &t.overrides)),
                None => Err((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic '{}' does not exist.", &*res.resource_name),
                )),
            },
            BROKER if res.resource_name.is_empty() => Ok(broker_entries(&config, false)),
            BROKER if res.resource_name.as_str() == b.config.node_id.to_string() => {
                Ok(broker_entries(&config, true))
            }
            BROKER => Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {} or empty string, but received {}",
                    b.config.node_id, &*res.resource_name
                ),
            )),
            BROKER_LOGGER => Ok(Vec::new()),
            other => Err((
                ErrorCode::InvalidRequest,
                format!("Unsupported resource type {other}"),
            )),
        };
        match entries {
            Ok(entries) => {
                let configs = entries
                    .into_iter()
                    .filter(|e| {
                        res.configuration_keys
                            .as_ref()
                            .is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name))
                    })
                    .map(|e| {
                        let mut c = DescribeConfigsResourceResult::default()
                            .with_name(StrBytes::from_static_str(e.name))
                            .with_value(e.value.map(StrBytes::from_string))
                            .with_read_only(e.read_only)
                            .with_config_source(e.source as i8)
                            .with_is_sensitive(e.kind == ConfigType::Password);
                        if req.include_synonyms {
                            c = c.with_synonyms(
                                e.synonyms
                                    .into_iter()
                                    .map(|(n, v, s)| {
                                        DescribeConfigsSynonym::default()
                                            .with_name(StrBytes::from_static_str(n))
                                            .with_value(v.map(StrBytes::from_string))
                                            .with_source(s as i8)
                                    })
                                    .collect(),
                            );
                        }
                        if ctx.version >= 3 {
                            c = c.with_config_type(e.kind as i8);
                            if req.include_documentation {
                                c = c.with_documentation(Some(StrBytes::from_static_str(e.doc)));
                            }
                        }
                        c
                    })
                    .collect();
                r = r.with_configs(configs);
            }
            Err((code, msg)) => {
                r = r
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(msg)))
            }
        }
        results.push(r);
    }
    DescribeConfigsResponse::default().with_results(results)
}
