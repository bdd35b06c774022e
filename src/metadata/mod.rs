//! The cluster's metadata as this node knows it: the current [`image::MetadataImage`],
//! built only by replaying [`records::MetadataRecord`]s from the metadata log ([`log`], run as
//! a Raft log by `crate::quorum`), and
//! the cluster's identity (`meta.properties`, holding `cluster.id` and `node.id` as Kafka's
//! does).
//!
//! Who changes it: only [`crate::controller`], which validates a request and commits the
//! records it implies through the metadata quorum, whose state machine publishes the replayed
//! image here. Everyone else reads.
//!
//! Thread-safety: the image is an immutable `Arc` swapped whole under a short lock, so a
//! reader never sees half an update and never waits for a writer's I/O.

mod acl_records;
pub mod image;
pub mod log;
pub mod records;
pub mod scram_records;
pub mod wire;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::config::parse_properties;
use crate::log::layout;

pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};

/// Told of every published change, in commit order (Kafka's `MetadataPublisher`): the
/// replica layer creates and deletes partition logs there.
pub trait MetadataPublisher: Send + Sync {
    /// Brings local state in line with `new`. An error is reported to the request that made
    /// the change; the records stay committed and the next change or restart retries.
    fn publish(&self, old: &MetadataImage, new: &MetadataImage) -> io::Result<()>;
}

/// The published image (see the module doc).
pub struct Metadata {
    image: RwLock<Arc<MetadataImage>>,
    /// Bumped after every publish: the quorum and the observer publish an image once the
    /// replica layer has applied it, so a watcher (the coordinators following leadership)
    /// finds image and replicas in step.
    changes: tokio::sync::watch::Sender<u64>,
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

impl Metadata {
    pub fn new(image: MetadataImage) -> Metadata {
        Metadata {
            image: RwLock::new(Arc::new(image)),
            changes: tokio::sync::watch::channel(0).0,
        }
    }

    /// A receiver that changes after every publish (see the field's doc).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes `image` the current one (the controller only).
    pub fn publish(&self, image: Arc<MetadataImage>) {
        *self.image.write().unwrap_or_else(|p| p.into_inner()) = image;
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn cluster_id(&self) -> String {
        self.image().cluster_id.clone()
    }

    pub fn topic(&self, name: &str) -> Option<Arc<TopicImage>> {
        self.image().topic(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<TopicImage>> {
        self.image().topic_by_id(id).cloned()
    }

    pub fn topics(&self) -> Vec<Arc<TopicImage>> {
        self.image().topics().cloned().collect()
    }
}

/// Reads `cluster.id` from `meta.properties`, or makes one and writes the file.
pub fn load_cluster_id(data_dir: &Path, node_id: i32) -> io::Result<String> {
    match read_cluster_id(data_dir) {
        Some(id) => Ok(id),
        None => {
            let id = new_cluster_id();
            write_cluster_id(data_dir, node_id, &id)?;
            Ok(id)
        }
    }
}

/// A fresh cluster id: 16 random bytes, URL-safe base64 (Kafka's `Uuid.randomUuid()` form).
pub fn new_cluster_id() -> String {
    base64_url(Uuid::new_v4().as_bytes())
}

/// `cluster.id` of `meta.properties`, if the data directory is formatted.
pub fn read_cluster_id(data_dir: &Path) -> Option<String> {
    let meta_path = data_dir.join(layout::META_FILE);
    let props: BTreeMap<String, String> = std::fs::read_to_string(&meta_path)
        .map(|t| parse_properties(&t).into_iter().collect())
        .unwrap_or_default();
    props.get("cluster.id").filter(|id| !id.is_empty()).cloned()
}

/// Writes `meta.properties` (atomically) with `cluster_id`.
pub fn write_cluster_id(data_dir: &Path, node_id: i32, cluster_id: &str) -> io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    crate::fs::write_atomic(
        &data_dir.join(layout::META_FILE),
        format!("version=1\ncluster.id={cluster_id}\nnode.id={node_id}\n").as_bytes(),
    )
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
