//! DescribeConfigs for topics and this broker: every config with its value, where it came
//! from (topic override, static broker config, default) and, on request, its synonyms in
//! precedence order, as Kafka reports them.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::config::{ConfigSource, ConfigType, TOPIC_CONFIGS};
use crate::error::ErrorCode;
use crate::handlers::RequestContext;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

/// One config entry before encoding.
struct Entry {
    name: String,
    value: String,
    source: ConfigSource,
    kind: ConfigType,
    synonyms: Vec<(String, String, ConfigSource)>,
}

fn topic_entries(b: &Broker, overrides: &std::collections::BTreeMap<String, String>) -> Vec<Entry> {
    let resolved = b.config.resolve_topic(overrides);
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let (value, source) = resolved
                .get(d.name)
                .cloned()
                .unwrap_or((d.default.to_string(), ConfigSource::DefaultConfig));
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(d.name) {
                synonyms.push((d.name.to_string(), v.clone(), ConfigSource::TopicConfig));
            }
            if let Some(v) = b.config.log_overrides.get(d.name) {
                synonyms.push((
                    d.broker_key.to_string(),
                    v.clone(),
                    ConfigSource::StaticBrokerConfig,
                ));
            }
            synonyms.push((
                d.broker_key.to_string(),
                d.default.to_string(),
                ConfigSource::DefaultConfig,
            ));
            Entry {
                name: d.name.to_string(),
                value,
                source,
                kind: d.kind,
                synonyms,
            }
        })
        .collect()
}

fn broker_entries(b: &Broker) -> Vec<Entry> {
    let c = &b.config;
    let set = |k: &str| c.properties.contains_key(k);
    let mut out = Vec::new();
    let mut push = |name: &str, value: String, kind: ConfigType, explicit: bool| {
        let source = if explicit {
            ConfigSource::StaticBrokerConfig
        } else {
            ConfigSource::DefaultConfig
        };
        out.push(Entry {
            name: name.to_string(),
            value: value.clone(),
            source,
            kind,
            synonyms: vec![(name.to_string(), value, source)],
        });
    };
    push(
        "listeners",
        format!("PLAINTEXT://{}", c.listen),
        ConfigType::List,
        set("listeners"),
    );
    push(
        "advertised.listeners",
        {
            let (host, port) = b.advertised();
            format!("PLAINTEXT://{host}:{port}")
        },
        ConfigType::List,
        set("advertised.listeners"),
    );
    push(
        "log.dirs",
        c.data_dir.display().to_string(),
        ConfigType::String,
        set("log.dirs"),
    );
    push(
        "node.id",
        c.node_id.to_string(),
        ConfigType::Int,
        set("node.id"),
    );
    push(
        "num.partitions",
        c.num_partitions.to_string(),
        ConfigType::Int,
        set("num.partitions"),
    );
    push(
        "default.replication.factor",
        c.default_replication_factor.to_string(),
        ConfigType::Int,
        set("default.replication.factor"),
    );
    push(
        "auto.create.topics.enable",
        c.auto_create_topics.to_string(),
        ConfigType::Boolean,
        set("auto.create.topics.enable"),
    );
    push(
        "delete.topic.enable",
        c.delete_topic_enable.to_string(),
        ConfigType::Boolean,
        set("delete.topic.enable"),
    );
    push(
        "socket.request.max.bytes",
        c.socket_request_max_bytes.to_string(),
        ConfigType::Int,
        set("socket.request.max.bytes"),
    );
    push(
        "max.connections",
        c.max_connections.to_string(),
        ConfigType::Int,
        set("max.connections"),
    );
    push(
        "connections.max.idle.ms",
        c.connections_max_idle_ms.to_string(),
        ConfigType::Long,
        set("connections.max.idle.ms"),
    );
    push(
        "log.retention.check.interval.ms",
        c.retention_check_interval_ms.to_string(),
        ConfigType::Long,
        set("log.retention.check.interval.ms"),
    );
    push(
        "log.flush.offset.checkpoint.interval.ms",
        c.flush_offset_checkpoint_interval_ms.to_string(),
        ConfigType::Int,
        set("log.flush.offset.checkpoint.interval.ms"),
    );
    let listed = [
        "log.dirs",
        "num.partitions",
        "default.replication.factor",
        "auto.create.topics.enable",
    ];
    for d in TOPIC_CONFIGS {
        if listed.contains(&d.broker_key) {
            continue;
        }
        let (value, explicit) = match c.log_overrides.get(d.name) {
            Some(v) => (v.clone(), true),
            None => (d.default.to_string(), false),
        };
        push(d.broker_key, value, d.kind, explicit);
    }
    out
}

pub async fn describe_configs(
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let b = &ctx.broker;
    let mut results = Vec::with_capacity(req.resources.len());
    for res in req.resources {
        let mut r = DescribeConfigsResult::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let entries = match res.resource_type {
            TOPIC => match b.metadata.topic(&res.resource_name) {
                Some(t) => Ok(topic_entries(b, &t.overrides)),
                None => Err((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic '{}' does not exist.", &*res.resource_name),
                )),
            },
            BROKER
                if res.resource_name.is_empty()
                    || res.resource_name.as_str() == b.config.node_id.to_string() =>
            {
                Ok(broker_entries(b))
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
                            .with_name(StrBytes::from_string(e.name))
                            .with_value(Some(StrBytes::from_string(e.value)))
                            .with_config_source(e.source as i8);
                        if req.include_synonyms {
                            c = c.with_synonyms(
                                e.synonyms
                                    .into_iter()
                                    .map(|(n, v, s)| {
                                        DescribeConfigsSynonym::default()
                                            .with_name(StrBytes::from_string(n))
                                            .with_value(Some(StrBytes::from_string(v)))
                                            .with_source(s as i8)
                                    })
                                    .collect(),
                            );
                        }
                        if ctx.version >= 3 {
                            c = c.with_config_type(e.kind as i8);
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
