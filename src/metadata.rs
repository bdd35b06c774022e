//! Topics, their partitions and ids, and the cluster's identity — what Kafka keeps in its
//! metadata log, kept here in small files (see [`crate::log::layout`]).
//!
//! `meta.properties` holds `cluster.id` and `node.id` as Kafka's does. Each topic has
//! `topics/<name>.properties` with `topic.id`, `partitions` and one `config.<key>=<value>` line
//! per topic config override, written atomically (temp file + rename) before a create or
//! change is acknowledged.
//!
//! Thread-safety: the topic map sits behind an `RwLock`; topic entries are immutable
//! `Arc<Topic>` values replaced whole on change, so readers never see half an update.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::config::{parse_properties, BrokerConfig};
use crate::error::{Error, ErrorCode, Result};
use crate::log::{layout, LogManager, Partition};

/// One topic: its id, its config overrides and its partitions.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub overrides: BTreeMap<String, String>,
    pub partitions: Vec<Arc<Partition>>,
}

/// The registry of topics (see the module doc).
pub struct Metadata {
    data_dir: PathBuf,
    cluster_id: String,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
}

/// Kafka's topic name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
fn base64_url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Metadata {
    /// Loads (or initialises) `meta.properties` and every topic, opening their logs.
    pub fn load(config: &BrokerConfig, logs: &LogManager) -> io::Result<Metadata> {
        let data_dir = config.data_dir.clone();
        let meta_path = data_dir.join(layout::META_FILE);
        let props: BTreeMap<String, String> = std::fs::read_to_string(&meta_path)
            .map(|t| parse_properties(&t).into_iter().collect())
            .unwrap_or_default();
        let cluster_id = match props.get("cluster.id") {
            Some(id) if !id.is_empty() => id.clone(),
            _ => {
                let id = base64_url(Uuid::new_v4().as_bytes());
                write_atomic(
                    &meta_path,
                    &format!("version=1\ncluster.id={id}\nnode.id={}\n", config.node_id),
                )?;
                id
            }
        };
        let topics_dir = data_dir.join(layout::TOPICS_DIR);
        std::fs::create_dir_all(&topics_dir)?;
        let mut topics = BTreeMap::new();
        for entry in std::fs::read_dir(&topics_dir)? {
            let path = entry?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".properties"))
            else {
                continue;
            };
            let name = name.to_string();
            let props = parse_properties(&std::fs::read_to_string(&path)?);
            let mut id = None;
            let mut count = 0;
            let mut overrides = BTreeMap::new();
            for (k, v) in props {
                match k.as_str() {
                    "topic.id" => id = Uuid::parse_str(&v).ok(),
                    "partitions" => count = v.parse().unwrap_or(0),
                    _ => {
                        if let Some(key) = k.strip_prefix("config.") {
                            overrides.insert(key.to_string(), v);
                        }
                    }
                }
            }
            let Some(id) = id else {
                tracing::warn!("{}: no topic.id, topic ignored", path.display());
                continue;
            };
            let log_config = config.log_config(&overrides);
            let mut partitions = Vec::with_capacity(count);
            for p in 0..count as i32 {
                partitions.push(logs.open_partition(&name, p, log_config.clone())?);
            }
            topics.insert(
                name.clone(),
                Arc::new(Topic {
                    name,
                    id,
                    overrides,
                    partitions,
                }),
            );
        }
        Ok(Metadata {
            data_dir,
            cluster_id,
            topics: RwLock::new(topics),
        })
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.read().values().find(|t| t.id == id).cloned()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let t = self.topic(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| t.partitions.get(p).cloned())
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.read().values().cloned().collect()
    }

    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.read()
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    fn persist(&self, t: &Topic) -> io::Result<()> {
        let mut text = format!("topic.id={}\npartitions={}\n", t.id, t.partitions.len());
        for (k, v) in &t.overrides {
            text.push_str(&format!("config.{k}={v}\n"));
        }
        write_atomic(
            &self
                .data_dir
                .join(layout::TOPICS_DIR)
                .join(format!("{}.properties", t.name)),
            &text,
        )
    }

    /// Creates a topic (blocking: creates directories and files).
    pub fn create_topic(
        &self,
        config: &BrokerConfig,
        logs: &LogManager,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>> {
        validate_topic_name(name).map_err(|m| Error::kafka(ErrorCode::InvalidTopicException, m))?;
        let mut topics = self.write();
        if topics.contains_key(name) || name == crate::group::store::OFFSETS_TOPIC {
            return Err(Error::kafka(
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let id = Uuid::new_v4();
        let log_config = config.log_config(&overrides);
        let mut parts = Vec::with_capacity(partitions.max(0) as usize);
        for p in 0..partitions {
            parts.push(logs.create_partition(name, p, &id.to_string(), log_config.clone())?);
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id,
            overrides,
            partitions: parts,
        });
        self.persist(&topic)?;
        topics.insert(name.to_string(), topic.clone());
        tracing::info!("created topic {name} with {partitions} partition(s), id {id}");
        Ok(topic)
    }

    /// Adds partitions to a topic so it has `count` in all.
    pub fn add_partitions(
        &self,
        config: &BrokerConfig,
        logs: &LogManager,
        name: &str,
        count: i32,
    ) -> Result<()> {
        let mut topics = self.write();
        let Some(old) = topics.get(name).cloned() else {
            return Err(Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            ));
        };
        let log_config = config.log_config(&old.overrides);
        let mut parts = old.partitions.clone();
        for p in parts.len() as i32..count {
            parts.push(logs.create_partition(name, p, &old.id.to_string(), log_config.clone())?);
        }
        let topic = Arc::new(Topic {
            name: old.name.clone(),
            id: old.id,
            overrides: old.overrides.clone(),
            partitions: parts,
        });
        self.persist(&topic)?;
        topics.insert(name.to_string(), topic);
        Ok(())
    }

    /// Deletes a topic and its logs.
    pub fn delete_topic(&self, logs: &LogManager, name: &str) -> Result<Uuid> {
        let topic = self.write().remove(name).ok_or_else(|| {
            Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        std::fs::remove_file(
            self.data_dir
                .join(layout::TOPICS_DIR)
                .join(format!("{name}.properties")),
        )?;
        for p in &topic.partitions {
            logs.delete_partition(p)?;
        }
        tracing::info!("deleted topic {name}");
        Ok(topic.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn base64_is_kafka_shaped() {
        assert_eq!(base64_url(&[0u8; 16]).len(), 22);
        assert_eq!(base64_url(b"Man"), "TWFu");
    }
}
