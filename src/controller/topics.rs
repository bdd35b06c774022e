//! Topic operations of the controller: CreateTopics, DeleteTopics and CreatePartitions as
//! Kafka's `ReplicationControlManager` checks and records them. Request-shape checks (config
//! values, duplicate names in one request) stay in the handlers; everything that depends on
//! the image — existence, registered brokers, placement — is decided here.

use std::collections::{BTreeMap, BTreeSet};
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
/// registered brokers, or spread over the live brokers (leaders rotate; replicas span as
/// many `broker.rack`s as they can, see [`rack_alternated`] and [`spread`]).
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
    let brokers = rack_alternated(image);
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
        .map(|p| spread(&brokers, p as usize % brokers.len(), rf as usize))
        .collect())
}

/// The live brokers ordered so that racks alternate (Kafka's `getRackAlternatedBrokerList`):
/// racks in name order, brokers of a rack in id order, one broker of each rack in turn. A
/// broker without `broker.rack` counts as one rack of its own kind; with no racks at all this
/// is the brokers in id order.
fn rack_alternated(image: &MetadataImage) -> Vec<(i32, Option<String>)> {
    let mut by_rack: BTreeMap<Option<String>, Vec<i32>> = BTreeMap::new();
    for b in image.live_brokers() {
        by_rack.entry(b.rack.clone()).or_default().push(b.id);
    }
    let mut lists: Vec<(Option<String>, std::vec::IntoIter<i32>)> = by_rack
        .into_iter()
        .map(|(rack, mut ids)| {
            ids.sort_unstable();
            (rack, ids.into_iter())
        })
        .collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for (rack, ids) in &mut lists {
            if let Some(id) = ids.next() {
                out.push((id, rack.clone()));
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// `rf` replicas from the rack-alternated list, the first at `start`, then walking on and
/// taking a broker whose rack holds no replica yet while racks remain, any unused broker after
/// that (Kafka's rack-aware rule: replicas span as many racks as they can).
fn spread(brokers: &[(i32, Option<String>)], start: usize, rf: usize) -> Vec<i32> {
    let n = brokers.len();
    let racks: BTreeSet<&Option<String>> = brokers.iter().map(|(_, r)| r).collect();
    let mut chosen: Vec<i32> = Vec::with_capacity(rf);
    let mut used_racks: BTreeSet<&Option<String>> = BTreeSet::new();
    while chosen.len() < rf.min(n) {
        let all_racks_used = used_racks.len() == racks.len();
        let pick = (0..n)
            .map(|k| &brokers[(start + k) % n])
            .find(|(id, rack)| {
                !chosen.contains(id) && (all_racks_used || !used_racks.contains(rack))
            });
        match pick {
            Some((id, rack)) => {
                chosen.push(*id);
                used_racks.insert(rack);
            }
            None => used_racks.clear(),
        }
    }
    chosen
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
            removing_replicas: vec![],
            adding_replicas: vec![],
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

#[cfg(test)]
mod tests {
    use super::{rack_alternated, spread};
    use crate::metadata::{BrokerImage, MetadataImage};

    fn image(brokers: &[(i32, Option<&str>)]) -> MetadataImage {
        let mut image = MetadataImage::new("c".into());
        for (id, rack) in brokers {
            image.brokers.insert(
                *id,
                BrokerImage {
                    id: *id,
                    incarnation_id: uuid::Uuid::nil(),
                    epoch: 1,
                    endpoints: Vec::new(),
                    rack: rack.map(str::to_string),
                    fenced: false,
                    in_controlled_shutdown: false,
                },
            );
        }
        image
    }

    #[test]
    fn without_racks_replicas_follow_the_leader_in_id_order() {
        let list = rack_alternated(&image(&[(3, None), (1, None), (2, None)]));
        assert_eq!(spread(&list, 0, 3), vec![1, 2, 3]);
        assert_eq!(spread(&list, 1, 3), vec![2, 3, 1]);
        assert_eq!(spread(&list, 2, 2), vec![3, 1]);
    }

    #[test]
    fn replicas_span_every_rack_they_can() {
        let img = image(&[
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("b")),
            (4, Some("b")),
        ]);
        let list = rack_alternated(&img);
        let ids: Vec<i32> = list.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![1, 3, 2, 4], "racks alternate");
        let rack = |id: i32| if id <= 2 { "a" } else { "b" };
        let mut leaders = Vec::new();
        for p in 0..8 {
            let r = spread(&list, p % list.len(), 2);
            assert_eq!(r.len(), 2);
            assert_ne!(rack(r[0]), rack(r[1]), "partition {p}: {r:?}");
            leaders.push(r[0]);
        }
        leaders.sort_unstable();
        leaders.dedup();
        assert_eq!(
            leaders,
            vec![1, 2, 3, 4],
            "leaders spread over every broker"
        );
        let r3 = spread(&list, 1, 3);
        let racks: std::collections::BTreeSet<&str> = r3.iter().map(|id| rack(*id)).collect();
        assert_eq!(racks.len(), 2, "{r3:?}");
    }
}
