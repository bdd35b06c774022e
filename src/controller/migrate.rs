//! One-time conversion of a data directory written before the metadata log existed: its
//! topics lived in `topics/<name>.properties` files (`topic.id`, `partitions`, one
//! `config.<key>=<value>` per override) and its producer-id block in `producer-id-block`.
//! Their content is committed as metadata records — with the same topic ids, so clients and
//! partition directories keep them — and the old files are removed only after that commit.

use std::io;
use std::path::Path;

use uuid::Uuid;

use super::Controller;
use crate::config::parse_properties;
use crate::log::layout;
use crate::metadata::records::{MetadataRecord, TOPIC_RESOURCE};

pub fn run(c: &Controller, data_dir: &Path) -> io::Result<()> {
    let dir = data_dir.join(layout::TOPICS_DIR);
    let block = data_dir.join(layout::PRODUCER_ID_FILE);
    let mut records = Vec::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".properties"))
            else {
                continue;
            };
            let (mut id, mut count, mut configs) = (None, 0i32, Vec::new());
            for (k, v) in parse_properties(&std::fs::read_to_string(&path)?) {
                match k.as_str() {
                    "topic.id" => id = Uuid::parse_str(&v).ok(),
                    "partitions" => count = v.parse().unwrap_or(0),
                    _ => {
                        if let Some(key) = k.strip_prefix("config.") {
                            configs.push((key.to_string(), v));
                        }
                    }
                }
            }
            let Some(topic_id) = id else {
                tracing::warn!("{}: no topic.id, topic not migrated", path.display());
                continue;
            };
            records.push(MetadataRecord::Topic {
                name: name.to_string(),
                topic_id,
            });
            for (key, value) in configs {
                records.push(MetadataRecord::Config {
                    resource_type: TOPIC_RESOURCE,
                    resource_name: name.to_string(),
                    name: key,
                    value: Some(value),
                });
            }
            for p in 0..count {
                records.push(MetadataRecord::Partition {
                    partition_id: p,
                    topic_id,
                    replicas: vec![c.node_id],
                    isr: vec![c.node_id],
                    leader: c.node_id,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    removing_replicas: vec![],
                    adding_replicas: vec![],
                });
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(&block) {
        if let Ok(next) = text.trim().parse::<i64>() {
            records.push(MetadataRecord::ProducerIds {
                broker_id: c.node_id,
                broker_epoch: 0,
                next_producer_id: next,
            });
        }
    }
    if records.is_empty() {
        return Ok(());
    }
    let n = records.len();
    c.commit(|image| {
        // Topics the image already has (a migration interrupted after its commit) are kept.
        let fresh = records
            .into_iter()
            .filter(|r| match r {
                MetadataRecord::Topic { name, .. } => image.topic(name).is_none(),
                _ => true,
            })
            .collect();
        Ok((fresh, ()))
    })
    .map_err(|e| io::Error::other(e.to_string()))?;
    tracing::info!("migrated {n} legacy metadata entries into the metadata log");
    if dir.is_dir() {
        std::fs::remove_dir_all(&dir)?;
    }
    match std::fs::remove_file(&block) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
