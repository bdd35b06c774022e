//! `gregor configs`: describe and change topic and broker configs of a running broker, like
//! Kafka's `kafka-configs` (for people without the Java tools), over the Kafka protocol:
//! DescribeConfigs v4 with synonyms, IncrementalAlterConfigs v1 (SET for `--add-config`,
//! DELETE for `--delete-config`), Metadata to list every topic or broker.
//!
//! Output is kafka-configs': a header per entity ("Dynamic configs for broker 1 are:",
//! "Default configs for brokers in the cluster are:"), then one line per config
//! (`  name=value sensitive=false synonyms={SOURCE:name=value, …}`), sorted by name; without
//! `--all` only the entity's own dynamic values are listed (topic overrides, this broker's or
//! the cluster default's dynamic configs).

use std::fmt::Write as _;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::client::Client;
use crate::error::ErrorCode;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

/// Which kind of entity a command is about (`--entity-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    Topics,
    Brokers,
}

impl EntityType {
    /// `topics`/`topic`, `brokers`/`broker`, as kafka-configs accepts them.
    pub fn parse(s: &str) -> Result<EntityType, String> {
        match s {
            "topics" | "topic" => Ok(EntityType::Topics),
            "brokers" | "broker" => Ok(EntityType::Brokers),
            other => Err(format!(
                "Invalid entity type {other}, the entity type must be one of topics, brokers"
            )),
        }
    }

    fn singular(self) -> &'static str {
        match self {
            EntityType::Topics => "topic",
            EntityType::Brokers => "broker",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            EntityType::Topics => "topics",
            EntityType::Brokers => "brokers",
        }
    }

    fn resource_type(self) -> i8 {
        match self {
            EntityType::Topics => TOPIC,
            EntityType::Brokers => BROKER,
        }
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `--describe [--all]`.
    Describe { all: bool },
    /// `--alter --add-config k=v,… --delete-config k,…`.
    Alter {
        add: Vec<(String, String)>,
        delete: Vec<String>,
    },
}

/// One `gregor configs` invocation. `entity`: `None` = every entity of the type (describe
/// only), `Some("")` = the cluster-wide broker default (`--entity-default`).
#[derive(Debug, Clone)]
pub struct Command {
    pub bootstrap: String,
    pub entity_type: EntityType,
    pub entity: Option<String>,
    pub action: Action,
}

/// Parses `--add-config`: `k1=v1,k2=v2`, a value holding commas in square brackets
/// (`log.cleanup.policy=[compact,delete]`), as kafka-configs does.
pub fn parse_add_config(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, ch) in s.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                format!("Invalid entity config: all configs to be added must be in the format \"key=val\": {p}")
            })?;
            let v = v.trim();
            let v = v
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .unwrap_or(v);
            Ok((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Parses `--delete-config`: `k1,k2`.
pub fn parse_delete_config(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// `NAME: message` of a Kafka error code.
fn error_text(code: i16, message: Option<&str>) -> String {
    let name = ErrorCode::ALL
        .iter()
        .find(|e| e.code() == code)
        .map_or_else(|| format!("error {code}"), |e| e.name().to_string());
    match message {
        Some(m) if !m.is_empty() => format!("{name}: {m}"),
        _ => name,
    }
}

/// Java's name of a wire `ConfigSource` (`ConfigEntry.ConfigSource`).
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        _ => "UNKNOWN",
    }
}

/// The source kafka-configs lists without `--all`: the entity's own dynamic values.
fn own_source(t: EntityType, entity: &str) -> i8 {
    match (t, entity.is_empty()) {
        (EntityType::Topics, _) => 1,
        (EntityType::Brokers, true) => 3,
        (EntityType::Brokers, false) => 2,
    }
}

fn describe_one(
    c: &mut Client,
    t: EntityType,
    entity: &str,
    synonyms: bool,
) -> Result<Vec<DescribeConfigsResourceResult>, String> {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(synonyms)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(t.resource_type())
            .with_resource_name(sb(entity))
            .with_configuration_keys(None)]);
    let resp = c.call(&req, 4)?;
    let r = resp
        .results
        .into_iter()
        .next()
        .ok_or("the broker returned no result")?;
    if r.error_code != 0 {
        return Err(error_text(r.error_code, r.error_message.as_deref()));
    }
    Ok(r.configs)
}

/// Every entity of the type: topic names, or broker ids and then the default (""), as
/// kafka-configs lists them.
fn all_entities(c: &mut Client, t: EntityType) -> Result<Vec<String>, String> {
    let resp = c.call(&MetadataRequest::default().with_topics(None), 12)?;
    Ok(match t {
        EntityType::Topics => {
            let mut names: Vec<String> = resp
                .topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
                .collect();
            names.sort();
            names
        }
        EntityType::Brokers => {
            let mut ids: Vec<i32> = resp.brokers.iter().map(|b| b.node_id.0).collect();
            ids.sort();
            let mut out: Vec<String> = ids.iter().map(i32::to_string).collect();
            out.push(String::new());
            out
        }
    })
}

fn check_broker_id(t: EntityType, entity: &str) -> Result<(), String> {
    if t == EntityType::Brokers && !entity.is_empty() && entity.parse::<i32>().is_err() {
        return Err(format!(
            "The entity name for brokers must be a valid integer broker id, found: {entity}"
        ));
    }
    Ok(())
}

fn describe(c: &mut Client, cmd: &Command, all: bool) -> Result<String, String> {
    let entities = match &cmd.entity {
        Some(e) => vec![e.clone()],
        None => all_entities(c, cmd.entity_type)?,
    };
    let t = cmd.entity_type;
    let mut out = String::new();
    for entity in entities {
        check_broker_id(t, &entity)?;
        if entity.is_empty() {
            let _ = writeln!(
                out,
                "Default configs for {} in the cluster are:",
                t.plural()
            );
        } else {
            let which = if all { "All" } else { "Dynamic" };
            let _ = writeln!(out, "{which} configs for {} {entity} are:", t.singular());
        }
        let mut configs = describe_one(c, t, &entity, true)?;
        let own = own_source(t, &entity);
        configs.retain(|e| all || e.config_source == own);
        configs.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        for e in configs {
            let synonyms: Vec<String> = e
                .synonyms
                .iter()
                .map(|s| {
                    format!(
                        "{}:{}={}",
                        source_name(s.source),
                        s.name.as_str(),
                        s.value.as_deref().unwrap_or("null")
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "  {}={} sensitive={} synonyms={{{}}}",
                e.name.as_str(),
                e.value.as_deref().unwrap_or("null"),
                e.is_sensitive,
                synonyms.join(", ")
            );
        }
    }
    Ok(out)
}

fn alter(
    c: &mut Client,
    cmd: &Command,
    add: &[(String, String)],
    delete: &[String],
) -> Result<String, String> {
    let t = cmd.entity_type;
    let entity = cmd.entity.as_deref().ok_or(
        "an entity name must be specified with --alter (--entity-name, or --entity-default for brokers)",
    )?;
    if t == EntityType::Topics && entity.is_empty() {
        return Err("--entity-default applies to brokers only".into());
    }
    check_broker_id(t, entity)?;
    if add.is_empty() && delete.is_empty() {
        return Err("--alter needs --add-config or --delete-config".into());
    }
    // As kafka-configs: deleting a key the entity does not set is an error, sent nowhere.
    let own = own_source(t, entity);
    let current = describe_one(c, t, entity, false)?;
    let missing: Vec<&str> = delete
        .iter()
        .filter(|k| {
            !current
                .iter()
                .any(|e| e.name.as_str() == k.as_str() && e.config_source == own)
        })
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(format!("Invalid config(s): {}", missing.join(",")));
    }
    let configs = add
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(sb(k))
                .with_config_operation(0)
                .with_value(Some(sb(v)))
        })
        .chain(delete.iter().map(|k| {
            AlterableConfig::default()
                .with_name(sb(k))
                .with_config_operation(1)
                .with_value(Some(sb("")))
        }))
        .collect();
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(t.resource_type())
            .with_resource_name(sb(entity))
            .with_configs(configs),
    ]);
    let resp = c.call(&req, 1)?;
    let r = resp
        .responses
        .first()
        .ok_or("the broker returned no result")?;
    if r.error_code != 0 {
        return Err(error_text(r.error_code, r.error_message.as_deref()));
    }
    Ok(if entity.is_empty() {
        format!(
            "Completed updating default config for {} in the cluster.\n",
            t.plural()
        )
    } else {
        format!("Completed updating config for {} {entity}.\n", t.singular())
    })
}

/// Runs one command against the broker at `cmd.bootstrap`; the text to print, or the error.
pub fn run(cmd: &Command) -> Result<String, String> {
    let mut c = Client::connect(&cmd.bootstrap)?;
    match &cmd.action {
        Action::Describe { all } => describe(&mut c, cmd, *all),
        Action::Alter { add, delete } => alter(&mut c, cmd, add, delete),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_config_is_parsed_as_kafka_configs_does() {
        assert_eq!(
            parse_add_config("log.retention.ms=1000, log.cleanup.policy=[compact,delete]"),
            Ok(vec![
                ("log.retention.ms".into(), "1000".into()),
                ("log.cleanup.policy".into(), "compact,delete".into())
            ])
        );
        assert!(parse_add_config("novalue").is_err());
        assert_eq!(parse_delete_config("a, b,"), vec!["a", "b"]);
        assert_eq!(EntityType::parse("broker"), Ok(EntityType::Brokers));
        assert!(EntityType::parse("users").is_err());
    }
}
