//! Topic operations of the controller: CreateTopics, DeleteTopics and CreatePartitions as
//! Kafka's `ReplicationControlManager` checks and records them. Request-shape checks (config
//! values, duplicate names in one request) stay in the handlers; everything that depends on
//! the image — existence, registered brokers, placement — is decided here.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::Controller;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::{MetadataRecord, TOPIC_RESOURCE};
use crate::metadata::{validate_topic_name, MetadataImage, TopicImage};

/// Internal topics no client may create. The coordinators' topics (`__consumer_offsets`,
/// `__transaction_state`) are ordinary metadata topics, created through this same path on
/// first need (as Kafka's controller creates them).
const INTERNAL: &[&str] = &[crate::metadata::log::METADATA_TOPIC];

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Manual placement (CreateTopics `assignments`): replicas per partition, in order.
    pub assignments: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

/// Partitions to add to a topic.
#[derive(Debug, Clone)]
pub struct NewPartitions {
    pub name: String,
    pub count: i32,
    pub assignments: Vec<Vec<i32>>,
}

/// Most partitions one request may create, as Kafka's controller bounds the records of one
/// operation (`MAX_RECORDS_PER_USER_OP`): more is refused with POLICY_VIOLATION before any
/// placement is computed.
pub const MAX_PARTITIONS_PER_REQUEST: i32 = 10_000;

/// Replica lists for `count` partitions starting at `first`: manual ones checked against the
/// registered brokers, or spread round-robin over the live brokers (leaders rotate too).
fn place(
    image: &MetadataImage,
    first: i32,
    count: i32,
    rf: i16,
    manual: &[Vec<i32>],
) -> Result<Vec<Vec<i32>>> {
    if count > MAX_PARTITIONS_PER_REQUEST {
        return Err(Error::kafka(
            ErrorCode::PolicyViolation,
            format!(
                "Excessively large number of partitions per request: {count} (at most {MAX_PARTITIONS_PER_REQUEST})."
            ),
        ));
    }
    if !manual.is_empty() {
        for (i, replicas) in manual.iter().enumerate() {
            let mut seen = replicas.clone();
            seen.sort_unstable();
            seen.dedup();
            if replicas.is_empty()
                || seen.len() != replicas.len()
                || replicas.iter().any(|b| !image.brokers.contains_key(b))
            {
                return Err(Error::kafka(
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "Unknown or duplicate broker in the assignment of partition {}",
                        first as usize + i
                    ),
                ));
            }
        }
        return Ok(manual.to_vec());
    }
    let brokers: Vec<i32> = image.live_brokers().map(|b| b.id).collect();
    if rf <= 0 {
        return Err(Error::kafka(
            ErrorCode::InvalidReplicationFactor,
            "Replication factor must be larger than 0.",
        ));
    }
    if rf as usize > brokers.len() {
        return Err(Error::kafka(
            ErrorCode::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
                brokers.len()
            ),
        ));
    }
    Ok((first..first + count)
        .map(|p| {
            (0..rf as usize)
                .map(|i| brokers[(p as usize + i) % brokers.len()])
                .collect()
        })
        .collect())
}

fn partition_records(topic_id: Uuid, first: i32, placed: Vec<Vec<i32>>) -> Vec<MetadataRecord> {
    placed
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| MetadataRecord::Partition {
            partition_id: first + i as i32,
            topic_id,
            leader: replicas[0],
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
        })
        .collect()
}

/// The records that create `t`, or why it cannot be created.
fn create_records(image: &MetadataImage, t: &NewTopic, id: Uuid) -> Result<Vec<MetadataRecord>> {
    validate_topic_name(&t.name).map_err(|m| Error::kafka(ErrorCode::InvalidTopicException, m))?;
    if image.topic(&t.name).is_some() || INTERNAL.contains(&t.name.as_str()) {
        return Err(Error::kafka(
            ErrorCode::TopicAlreadyExists,
            format!("Topic '{}' already exists.", t.name),
        ));
    }
    let count = if t.assignments.is_empty() {
        t.partitions
    } else {
        t.assignments.len() as i32
    };
    if count <= 0 {
        return Err(Error::kafka(
            ErrorCode::InvalidPartitions,
            "Number of partitions must be larger than 0.",
        ));
    }
    let placed = place(image, 0, count, t.replication_factor, &t.assignments)?;
    let mut records = vec![MetadataRecord::Topic {
        name: t.name.clone(),
        topic_id: id,
    }];
    for (name, value) in &t.configs {
        records.push(MetadataRecord::Config {
            resource_type: TOPIC_RESOURCE,
            resource_name: t.name.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        });
    }
    records.extend(partition_records(id, 0, placed));
    Ok(records)
}

impl Controller {
    /// Checks that `t` could be created now, without creating it (`validate_only`).
    pub fn validate_topic(&self, t: &NewTopic) -> Result<()> {
        create_records(&self.metadata.image(), t, Uuid::nil()).map(|_| ())
    }

    /// Creates a topic.
    pub fn create_topic(&self, t: &NewTopic) -> Result<Arc<TopicImage>> {
        let id = Uuid::new_v4();
        self.commit(|image| Ok((create_records(image, t, id)?, ())))?;
        tracing::info!(
            "created topic {} with {} partition(s), id {id}",
            t.name,
            t.partitions
        );
        self.metadata.topic(&t.name).ok_or_else(|| {
            Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{}' was deleted while it was created.", t.name),
            )
        })
    }

    /// Deletes a topic; returns its id.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid> {
        let id = self.commit(|image| {
            let t = image.topic(name).ok_or_else(|| {
                Error::kafka(
                    ErrorCode::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.",
                )
            })?;
            Ok((vec![MetadataRecord::RemoveTopic { topic_id: t.id }], t.id))
        })?;
        tracing::info!("deleted topic {name} (id {id})");
        Ok(id)
    }

    /// The records that grow a topic to `p.count` partitions (checked as Kafka does).
    fn partition_growth(image: &MetadataImage, p: &NewPartitions) -> Result<Vec<MetadataRecord>> {
        let topic = image.topic(&p.name).ok_or_else(|| {
            Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("The topic '{}' does not exist.", p.name),
            )
        })?;
        let current = topic.partitions.len() as i32;
        if p.count < current {
            return Err(Error::kafka(
                ErrorCode::InvalidPartitions,
                format!(
                    "Topic currently has {current} partitions, which is higher than the requested {}.",
                    p.count
                ),
            ));
        }
        if p.count == current {
            return Err(Error::kafka(
                ErrorCode::InvalidPartitions,
                format!("Topic already has {current} partitions."),
            ));
        }
        if !p.assignments.is_empty() && p.assignments.len() as i32 != p.count - current {
            return Err(Error::kafka(
                ErrorCode::InvalidReplicaAssignment,
                "Invalid replica assignment",
            ));
        }
        let rf = topic.partitions.first().map_or(1, |x| x.replicas.len()) as i16;
        let placed = place(image, current, p.count - current, rf, &p.assignments)?;
        Ok(partition_records(topic.id, current, placed))
    }

    /// Checks that partitions could be added now, without adding them.
    pub fn validate_partitions(&self, p: &NewPartitions) -> Result<()> {
        Self::partition_growth(&self.metadata.image(), p).map(|_| ())
    }

    /// Adds partitions to a topic so it has `p.count` in all.
    pub fn create_partitions(&self, p: &NewPartitions) -> Result<()> {
        self.commit(|image| Ok((Self::partition_growth(image, p)?, ())))
    }
}
