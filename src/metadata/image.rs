//! The metadata image: an immutable snapshot of everything the metadata records say —
//! brokers, topics, partition assignments (leader, replicas, ISR, epochs), topic configs,
//! dynamic broker configs (per broker and the cluster-wide default) and the producer-id blocks
//! handed out. A new image is made by replaying records onto a copy of
//! the old one ([`MetadataImage::apply`]), and published whole, so a reader never sees half a
//! change.
//!
//! Why immutable: handlers read leaders, brokers and topics on every request; holding an
//! `Arc<MetadataImage>` costs them one atomic increment and no lock while a change is made.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use crate::security::sasl::{ScramCredential, ScramMechanism};
use crate::security::AclMap;

use super::records::{EndPoint, MetadataRecord, BROKER_RESOURCE, LEADER_UNCHANGED, TOPIC_RESOURCE};

/// One registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    pub id: i32,
    /// The process that registered (a new one each start; fencing tells incarnations apart).
    pub incarnation_id: Uuid,
    pub epoch: i64,
    pub endpoints: Vec<EndPoint>,
    pub rack: Option<String>,
    pub fenced: bool,
    /// Leaving in a controlled shutdown (no new leaderships, not in any new ISR).
    pub in_controlled_shutdown: bool,
}

impl BrokerImage {
    /// Whether the broker may lead and be in ISRs: registered, unfenced, not shutting down.
    pub fn active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }

    /// The host and port of the first listener registered.
    pub fn address(&self) -> Option<(&str, i32)> {
        self.endpoints
            .first()
            .map(|e| (e.host.as_str(), e.port as i32))
    }

    /// The host and port registered for one listener name: what a client that came in on
    /// that listener is told (Kafka answers Metadata per listener).
    pub fn endpoint(&self, listener: &str) -> Option<(&str, i32)> {
        self.endpoints
            .iter()
            .find(|e| e.name == listener)
            .map(|e| (e.host.as_str(), e.port as i32))
    }
}

/// One partition's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// A reassignment in progress: replicas that leave when it completes (else empty).
    pub removing_replicas: Vec<i32>,
    /// A reassignment in progress: replicas that join (it completes once all are in the ISR).
    pub adding_replicas: Vec<i32>,
    /// −1 when the partition has no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// One topic: id, partitions (index = partition id) and config overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionImage>,
    /// Topic-level config overrides (ConfigRecords of this topic).
    pub overrides: BTreeMap<String, String>,
}

/// The whole image (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerImage>,
    topics: BTreeMap<String, Arc<TopicImage>>,
    topic_names: HashMap<Uuid, String>,
    /// Dynamic broker configs by resource name: "" is the cluster-wide default, "<id>" one
    /// broker's (ConfigRecords of resource type BROKER, as stored: checked when read).
    broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// First producer id not yet handed out in a block.
    pub next_producer_id: i64,
    /// Every ACL by id (AccessControlEntryRecords not removed since): what the authorizer
    /// checks. An `Arc` so that an image copy per commit does not copy the ACLs.
    pub acls: Arc<AclMap>,
    /// SCRAM credentials by user and mechanism (Kafka's wire id), from
    /// UserScramCredentialRecords.
    scram: BTreeMap<(String, i8), ScramCredential>,
    /// Records applied so far.
    pub records_applied: u64,
    /// Offset in `__cluster_metadata-0` of the last batch applied (−1: none): what a broker
    /// reports as `current_metadata_offset` in BrokerHeartbeat.
    pub applied_offset: i64,
}

impl MetadataImage {
    pub fn new(cluster_id: String) -> MetadataImage {
        MetadataImage {
            cluster_id,
            applied_offset: -1,
            ..Default::default()
        }
    }

    /// A user's stored SCRAM credential for one mechanism.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<&ScramCredential> {
        self.scram.get(&(user.to_string(), mechanism.type_id()))
    }

    /// Every stored SCRAM credential: (user, mechanism id) → credential, by user.
    pub fn scram_credentials(&self) -> &BTreeMap<(String, i8), ScramCredential> {
        &self.scram
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&Arc<TopicImage>> {
        self.topic_names.get(&id).and_then(|n| self.topics.get(n))
    }

    /// Every topic, by name.
    pub fn topics(&self) -> impl Iterator<Item = &Arc<TopicImage>> {
        self.topics.values()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        let t = self.topics.get(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| t.partitions.get(p))
    }

    /// The dynamic configs of a BROKER resource ("" = the cluster-wide default, "<id>" = one
    /// broker), empty when none are set.
    pub fn broker_configs(&self, resource_name: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.broker_configs.get(resource_name).unwrap_or(&EMPTY)
    }

    /// Brokers that may lead partitions (registered and not fenced).
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    fn topic_mut(&mut self, id: Uuid) -> Option<&mut TopicImage> {
        let name = self.topic_names.get(&id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }

    /// Replays one record. Records that name something unknown (a partition of a removed
    /// topic) change nothing, as in Kafka's image builders.
    pub fn apply(&mut self, record: &MetadataRecord) {
        self.records_applied += 1;
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                rack,
                fenced,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerImage {
                        id: *broker_id,
                        incarnation_id: *incarnation_id,
                        epoch: *broker_epoch,
                        endpoints: endpoints.clone(),
                        rack: rack.clone(),
                        fenced: *fenced,
                        in_controlled_shutdown: false,
                    },
                );
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                if self
                    .brokers
                    .get(broker_id)
                    .is_some_and(|b| b.epoch == *broker_epoch)
                {
                    self.brokers.remove(broker_id);
                }
            }
            MetadataRecord::FenceBroker {
                broker_id,
                broker_epoch,
                fenced,
            } => {
                if let Some(b) = self.brokers.get_mut(broker_id) {
                    if b.epoch == *broker_epoch {
                        b.fenced = *fenced;
                    }
                }
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                if let Some(b) = self.brokers.get_mut(broker_id) {
                    if b.epoch == *broker_epoch {
                        if let Some(f) = fenced {
                            b.fenced = *f;
                        }
                        if let Some(s) = in_controlled_shutdown {
                            b.in_controlled_shutdown = *s;
                        }
                    }
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                self.topic_names.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicImage {
                        name: name.clone(),
                        id: *topic_id,
                        partitions: Vec::new(),
                        overrides: BTreeMap::new(),
                    }),
                );
            }
            MetadataRecord::Partition {
                partition_id,
                topic_id,
                replicas,
                isr,
                removing_replicas,
                adding_replicas,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let Some(t) = self.topic_mut(*topic_id) else {
                    return;
                };
                let Ok(index) = usize::try_from(*partition_id) else {
                    return;
                };
                let image = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    removing_replicas: removing_replicas.clone(),
                    adding_replicas: adding_replicas.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                };
                if index < t.partitions.len() {
                    t.partitions[index] = image;
                } else if index == t.partitions.len() {
                    t.partitions.push(image);
                }
            }
            MetadataRecord::PartitionChange {
                partition_id,
                topic_id,
                isr,
                leader,
                replicas,
                removing_replicas,
                adding_replicas,
            } => {
                let Some(t) = self.topic_mut(*topic_id) else {
                    return;
                };
                let Some(p) = usize::try_from(*partition_id)
                    .ok()
                    .and_then(|i| t.partitions.get_mut(i))
                else {
                    return;
                };
                if let Some(isr) = isr {
                    p.isr = isr.clone();
                }
                if let Some(r) = replicas {
                    p.replicas = r.clone();
                }
                if let Some(r) = removing_replicas {
                    p.removing_replicas = r.clone();
                }
                if let Some(r) = adding_replicas {
                    p.adding_replicas = r.clone();
                }
                if *leader != LEADER_UNCHANGED {
                    p.leader = *leader;
                    p.leader_epoch += 1;
                }
                p.partition_epoch += 1;
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                if *resource_type == BROKER_RESOURCE {
                    let configs = self
                        .broker_configs
                        .entry(resource_name.clone())
                        .or_default();
                    match value {
                        Some(v) => configs.insert(name.clone(), v.clone()),
                        None => configs.remove(name),
                    };
                    if configs.is_empty() {
                        self.broker_configs.remove(resource_name);
                    }
                    return;
                }
                if *resource_type != TOPIC_RESOURCE {
                    return;
                }
                let Some(t) = self.topics.get_mut(resource_name).map(Arc::make_mut) else {
                    return;
                };
                match value {
                    Some(v) => t.overrides.insert(name.clone(), v.clone()),
                    None => t.overrides.remove(name),
                };
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.topic_names.remove(topic_id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                Arc::make_mut(&mut self.acls).insert(*id, acl.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                Arc::make_mut(&mut self.acls).remove(id);
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                credential,
            } => {
                self.scram
                    .insert((name.clone(), *mechanism), credential.clone());
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                self.scram.remove(&(name.clone(), *mechanism));
            }
        }
    }
}

impl MetadataImage {
    /// Records that rebuild this image from an empty one (a KRaft snapshot's content and
    /// the commit that migrates a pre-quorum metadata log): brokers, topics with their
    /// partitions and overrides, broker configs, the producer-id block.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker {
                broker_id: b.id,
                incarnation_id: b.incarnation_id,
                broker_epoch: b.epoch,
                endpoints: b.endpoints.clone(),
                rack: b.rack.clone(),
                fenced: b.fenced,
            });
            if b.in_controlled_shutdown {
                out.push(MetadataRecord::BrokerRegistrationChange {
                    broker_id: b.id,
                    broker_epoch: b.epoch,
                    fenced: None,
                    in_controlled_shutdown: Some(true),
                });
            }
        }
        for t in self.topics.values() {
            out.push(MetadataRecord::Topic {
                name: t.name.clone(),
                topic_id: t.id,
            });
            for (i, p) in t.partitions.iter().enumerate() {
                out.push(MetadataRecord::Partition {
                    partition_id: i32::try_from(i).unwrap_or(i32::MAX),
                    topic_id: t.id,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    removing_replicas: p.removing_replicas.clone(),
                    adding_replicas: p.adding_replicas.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                });
            }
            for (k, v) in &t.overrides {
                out.push(MetadataRecord::Config {
                    resource_type: TOPIC_RESOURCE,
                    resource_name: t.name.clone(),
                    name: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        for (resource, configs) in &self.broker_configs {
            for (k, v) in configs {
                out.push(MetadataRecord::Config {
                    resource_type: BROKER_RESOURCE,
                    resource_name: resource.clone(),
                    name: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        for ((name, mechanism), credential) in &self.scram {
            out.push(MetadataRecord::UserScramCredential {
                name: name.clone(),
                mechanism: *mechanism,
                credential: credential.clone(),
            });
        }
        if self.next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        for (id, acl) in self.acls.iter() {
            out.push(MetadataRecord::AccessControlEntry {
                id: *id,
                acl: acl.clone(),
            });
        }
        out
    }

    /// Whether two images describe the same cluster (everything but the replay counter).
    pub fn same_content(&self, other: &MetadataImage) -> bool {
        self.cluster_id == other.cluster_id
            && self.brokers == other.brokers
            && self.topics == other.topics
            && self.broker_configs == other.broker_configs
            && self.next_producer_id == other.next_producer_id
            && self.acls == other.acls
            && self.scram == other.scram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_builds_topics_partitions_and_configs() {
        let id = Uuid::from_u128(7);
        let mut image = MetadataImage::new("c".into());
        let part = |p: i32| MetadataRecord::Partition {
            partition_id: p,
            topic_id: id,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            removing_replicas: vec![],
            adding_replicas: vec![],
        };
        for r in [
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            part(0),
            part(1),
            MetadataRecord::Config {
                resource_type: TOPIC_RESOURCE,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            },
            MetadataRecord::PartitionChange {
                partition_id: 1,
                topic_id: id,
                isr: None,
                leader: 1,
                replicas: None,
                removing_replicas: None,
                adding_replicas: None,
            },
        ] {
            image.apply(&r);
        }
        let before = image.clone();
        let t = image.topic("t").expect("topic");
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(t.partitions[1].leader_epoch, 1);
        assert_eq!(t.partitions[1].partition_epoch, 1);
        assert_eq!(
            t.overrides.get("retention.ms").map(String::as_str),
            Some("1000")
        );
        assert_eq!(image.topic_by_id(id).map(|t| t.name.as_str()), Some("t"));
        let broker = |name: &str, key: &str, value: Option<&str>| MetadataRecord::Config {
            resource_type: BROKER_RESOURCE,
            resource_name: name.into(),
            name: key.into(),
            value: value.map(str::to_string),
        };
        image.apply(&broker("", "log.retention.ms", Some("5")));
        image.apply(&broker("1", "log.segment.bytes", Some("6000")));
        assert_eq!(
            image
                .broker_configs("")
                .get("log.retention.ms")
                .map(String::as_str),
            Some("5")
        );
        assert_eq!(image.broker_configs("1").len(), 1);
        image.apply(&broker("1", "log.segment.bytes", None));
        assert!(image.broker_configs("1").is_empty() && image.broker_configs("2").is_empty());
        image.apply(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(image.topic("t").is_none() && image.topic_by_id(id).is_none());
        // The copy taken before is untouched: images are values.
        assert!(before.topic("t").is_some());
    }
}
