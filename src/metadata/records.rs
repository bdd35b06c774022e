//! Metadata records: every change to the cluster's metadata is one of these, appended to the
//! metadata log and replayed into the [`super::image::MetadataImage`] — at start-up and after
//! every commit alike.
//!
//! The shapes and the bytes are Kafka's (KRaft's `MetadataRecordSerde`): an unsigned varint
//! frame version (1), the record's api key and version as unsigned varints, then the record
//! in flexible-version encoding (compact strings and arrays, a tagged-field section):
//!
//! | record | key | fields (v0) |
//! |---|---|---|
//! | RegisterBrokerRecord | 0 | BrokerId, IncarnationId, BrokerEpoch, EndPoints[Name, Host, Port, SecurityProtocol], Features[], Rack, Fenced |
//! | UnregisterBrokerRecord | 1 | BrokerId, BrokerEpoch |
//! | FenceBrokerRecord | 7 | Id, Epoch (read only: Kafka ≥ 3.3 writes record 17) |
//! | UnfenceBrokerRecord | 8 | Id, Epoch (read only, as 7) |
//! | BrokerRegistrationChangeRecord | 17 (v1) | BrokerId, BrokerEpoch, tagged 0: Fenced (1 fenced, −1 unfenced, 0 unchanged), tagged 1: InControlledShutdown (1 yes, 0 unchanged) |
//! | TopicRecord | 2 | Name, TopicId |
//! | PartitionRecord | 3 | PartitionId, TopicId, Replicas, Isr, RemovingReplicas, AddingReplicas, Leader, LeaderEpoch, PartitionEpoch |
//! | ConfigRecord | 4 | ResourceType, ResourceName, Name, Value (null = delete) |
//! | PartitionChangeRecord | 5 | PartitionId, TopicId, tagged 0: Isr, tagged 1: Leader (−2 = unchanged), tagged 2: Replicas, 3: RemovingReplicas, 4: AddingReplicas (absent = unchanged) |
//! | RemoveTopicRecord | 9 | TopicId |
//! | ProducerIdsRecord | 15 | BrokerId, BrokerEpoch, NextProducerId |
//! | AccessControlEntryRecord | 18 | Id, ResourceType, ResourceName, PatternType, Principal, Host, Operation, PermissionType (`acl_records.rs`) |
//! | RemoveAccessControlEntryRecord | 19 | Id |
//! | UserScramCredentialRecord, RemoveUserScramCredentialRecord | 11, 22 | see [`super::scram_records`] |

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::scram_records;
use super::wire::*;
use crate::security::acl::AclBinding;
use crate::security::sasl::ScramCredential;

/// Kafka's ConfigResource type of a topic.
pub const TOPIC_RESOURCE: i8 = 2;
/// Kafka's ConfigResource type of a broker.
pub const BROKER_RESOURCE: i8 = 4;

/// One listener of a registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndPoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: i16,
}

/// One metadata change (see the module doc for the wire shapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    RegisterBroker {
        broker_id: i32,
        incarnation_id: Uuid,
        broker_epoch: i64,
        endpoints: Vec<EndPoint>,
        rack: Option<String>,
        fenced: bool,
    },
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition {
        partition_id: i32,
        topic_id: Uuid,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        /// Replicas leaving the assignment when the reassignment in progress completes.
        removing_replicas: Vec<i32>,
        /// Replicas joining it: the reassignment completes once they are all in the ISR.
        adding_replicas: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    PartitionChange {
        partition_id: i32,
        topic_id: Uuid,
        isr: Option<Vec<i32>>,
        /// −2: unchanged; −1: no leader.
        leader: i32,
        /// Tagged 2, 3, 4 (reassignments): `None` = unchanged, an empty list clears.
        replicas: Option<Vec<i32>>,
        removing_replicas: Option<Vec<i32>>,
        adding_replicas: Option<Vec<i32>>,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    /// UnregisterBrokerRecord: the broker leaves the cluster.
    UnregisterBroker {
        broker_id: i32,
        broker_epoch: i64,
    },
    /// FenceBrokerRecord / UnfenceBrokerRecord (older metadata versions; `fenced` tells which).
    FenceBroker {
        broker_id: i32,
        broker_epoch: i64,
        fenced: bool,
    },
    /// BrokerRegistrationChangeRecord: `None` = unchanged.
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
    },
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// AccessControlEntryRecord: one ACL, by its id.
    AccessControlEntry {
        id: Uuid,
        acl: AclBinding,
    },
    /// RemoveAccessControlEntryRecord.
    RemoveAccessControlEntry {
        id: Uuid,
    },
    /// UserScramCredentialRecord: a user's credential for one SCRAM mechanism (its keys are
    /// secrets: the type's Debug hides them).
    UserScramCredential {
        name: String,
        mechanism: i8,
        credential: ScramCredential,
    },
    /// RemoveUserScramCredentialRecord.
    RemoveUserScramCredential {
        name: String,
        mechanism: i8,
    },
}

/// `PartitionChangeRecord.Leader` when the leader did not change.
pub const LEADER_UNCHANGED: i32 = -2;

const FRAME_VERSION: u32 = 1;

impl MetadataRecord {
    /// Kafka's api key of the record type.
    pub fn api_key(&self) -> u32 {
        match self {
            MetadataRecord::RegisterBroker { .. } => 0,
            MetadataRecord::Topic { .. } => 2,
            MetadataRecord::Partition { .. } => 3,
            MetadataRecord::Config { .. } => 4,
            MetadataRecord::PartitionChange { .. } => 5,
            MetadataRecord::RemoveTopic { .. } => 9,
            MetadataRecord::ProducerIds { .. } => 15,
            MetadataRecord::UnregisterBroker { .. } => 1,
            MetadataRecord::FenceBroker { fenced: true, .. } => 7,
            MetadataRecord::FenceBroker { fenced: false, .. } => 8,
            MetadataRecord::BrokerRegistrationChange { .. } => 17,
            MetadataRecord::AccessControlEntry { .. } => 18,
            MetadataRecord::RemoveAccessControlEntry { .. } => 19,
            MetadataRecord::UserScramCredential { .. } => 11,
            MetadataRecord::RemoveUserScramCredential { .. } => 22,
        }
    }

    /// The record version written (17 needs v1 for InControlledShutdown).
    fn version(&self) -> u32 {
        match self {
            MetadataRecord::BrokerRegistrationChange { .. } => 1,
            _ => 0,
        }
    }

    /// The record's bytes, as a record value in the metadata log.
    pub fn encode(&self) -> Bytes {
        let mut o = BytesMut::with_capacity(64);
        put_uvarint(&mut o, FRAME_VERSION);
        put_uvarint(&mut o, self.api_key());
        put_uvarint(&mut o, self.version());
        let mut tagged: Vec<(u32, Bytes)> = Vec::new();
        match self {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                rack,
                fenced,
            } => {
                o.put_i32(*broker_id);
                put_uuid(&mut o, *incarnation_id);
                o.put_i64(*broker_epoch);
                put_uvarint(&mut o, endpoints.len() as u32 + 1);
                for e in endpoints {
                    put_string(&mut o, Some(&e.name));
                    put_string(&mut o, Some(&e.host));
                    o.put_u16(e.port);
                    o.put_i16(e.security_protocol);
                    put_tagged(&mut o, &[]);
                }
                put_uvarint(&mut o, 1); // no features
                put_string(&mut o, rack.as_deref());
                o.put_i8(*fenced as i8);
            }
            MetadataRecord::Topic { name, topic_id } => {
                put_string(&mut o, Some(name));
                put_uuid(&mut o, *topic_id);
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
                o.put_i32(*partition_id);
                put_uuid(&mut o, *topic_id);
                put_i32_array(&mut o, Some(replicas));
                put_i32_array(&mut o, Some(isr));
                put_i32_array(&mut o, Some(removing_replicas));
                put_i32_array(&mut o, Some(adding_replicas));
                o.put_i32(*leader);
                o.put_i32(*leader_epoch);
                o.put_i32(*partition_epoch);
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                o.put_i8(*resource_type);
                put_string(&mut o, Some(resource_name));
                put_string(&mut o, Some(name));
                put_string(&mut o, value.as_deref());
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
                o.put_i32(*partition_id);
                put_uuid(&mut o, *topic_id);
                if let Some(isr) = isr {
                    let mut f = BytesMut::new();
                    put_i32_array(&mut f, Some(isr));
                    tagged.push((0, f.freeze()));
                }
                if *leader != LEADER_UNCHANGED {
                    tagged.push((1, Bytes::copy_from_slice(&leader.to_be_bytes())));
                }
                for (tag, list) in [(2, replicas), (3, removing_replicas), (4, adding_replicas)] {
                    if let Some(list) = list {
                        let mut f = BytesMut::new();
                        put_i32_array(&mut f, Some(list));
                        tagged.push((tag, f.freeze()));
                    }
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => put_uuid(&mut o, *topic_id),
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            }
            | MetadataRecord::FenceBroker {
                broker_id,
                broker_epoch,
                ..
            } => {
                o.put_i32(*broker_id);
                o.put_i64(*broker_epoch);
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                o.put_i32(*broker_id);
                o.put_i64(*broker_epoch);
                if let Some(f) = fenced {
                    let v: i8 = if *f { 1 } else { -1 };
                    tagged.push((0, Bytes::copy_from_slice(&v.to_be_bytes())));
                }
                if *in_controlled_shutdown == Some(true) {
                    tagged.push((1, Bytes::from_static(&[1])));
                }
            }
            MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id,
            } => {
                o.put_i32(*broker_id);
                o.put_i64(*broker_epoch);
                o.put_i64(*next_producer_id);
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                super::acl_records::put_acl(&mut o, *id, acl)
            }
            MetadataRecord::RemoveAccessControlEntry { id } => put_uuid(&mut o, *id),
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                credential,
            } => scram_records::encode_credential(&mut o, name, *mechanism, credential),
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                scram_records::encode_removal(&mut o, name, *mechanism)
            }
        }
        put_tagged(&mut o, &tagged);
        o.freeze()
    }

    /// Reads one record value of the metadata log.
    pub fn decode(mut b: Bytes) -> WireResult<MetadataRecord> {
        let frame = get_uvarint(&mut b)?;
        if frame != FRAME_VERSION {
            return Err(WireError(format!("unknown metadata frame version {frame}")));
        }
        let key = get_uvarint(&mut b)?;
        let version = get_uvarint(&mut b)?;
        let known = match key {
            17 => 2,
            _ => 0,
        };
        if version > known {
            return Err(WireError(format!(
                "metadata record type {key} version {version} is newer than this broker knows"
            )));
        }
        let b = &mut b;
        let record = match key {
            0 => {
                let broker_id = get_i32(b)?;
                let incarnation_id = get_uuid(b)?;
                let broker_epoch = get_i64(b)?;
                let n = get_uvarint(b)?.saturating_sub(1) as usize;
                if n > b.len() / 6 {
                    return Err(WireError("endpoint count exceeds the record".into()));
                }
                let mut endpoints = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = get_required_string(b, "endpoint name")?;
                    let host = get_required_string(b, "endpoint host")?;
                    let port = get_i16(b)? as u16;
                    let security_protocol = get_i16(b)?;
                    get_tagged(b)?;
                    endpoints.push(EndPoint {
                        name,
                        host,
                        port,
                        security_protocol,
                    });
                }
                let features = get_uvarint(b)?.saturating_sub(1);
                for _ in 0..features {
                    get_string(b)?;
                    get_i16(b)?;
                    get_i16(b)?;
                    get_tagged(b)?;
                }
                let rack = get_string(b)?;
                let fenced = get_bool(b)?;
                MetadataRecord::RegisterBroker {
                    broker_id,
                    incarnation_id,
                    broker_epoch,
                    endpoints,
                    rack,
                    fenced,
                }
            }
            2 => MetadataRecord::Topic {
                name: get_required_string(b, "topic name")?,
                topic_id: get_uuid(b)?,
            },
            3 => {
                let partition_id = get_i32(b)?;
                let topic_id = get_uuid(b)?;
                let replicas = get_i32_array(b)?.unwrap_or_default();
                let isr = get_i32_array(b)?.unwrap_or_default();
                let removing_replicas = get_i32_array(b)?.unwrap_or_default();
                let adding_replicas = get_i32_array(b)?.unwrap_or_default();
                MetadataRecord::Partition {
                    partition_id,
                    topic_id,
                    replicas,
                    isr,
                    removing_replicas,
                    adding_replicas,
                    leader: get_i32(b)?,
                    leader_epoch: get_i32(b)?,
                    partition_epoch: get_i32(b)?,
                }
            }
            4 => MetadataRecord::Config {
                resource_type: get_i8(b)?,
                resource_name: get_required_string(b, "resource name")?,
                name: get_required_string(b, "config name")?,
                value: get_string(b)?,
            },
            5 => {
                let partition_id = get_i32(b)?;
                let topic_id = get_uuid(b)?;
                let (mut isr, mut leader) = (None, LEADER_UNCHANGED);
                let (mut replicas, mut removing_replicas, mut adding_replicas) = (None, None, None);
                for (tag, mut data) in get_tagged(b)? {
                    match tag {
                        0 => isr = get_i32_array(&mut data)?,
                        1 => leader = get_i32(&mut data)?,
                        2 => replicas = get_i32_array(&mut data)?,
                        3 => removing_replicas = get_i32_array(&mut data)?,
                        4 => adding_replicas = get_i32_array(&mut data)?,
                        _ => {}
                    }
                }
                return Ok(MetadataRecord::PartitionChange {
                    partition_id,
                    topic_id,
                    isr,
                    leader,
                    replicas,
                    removing_replicas,
                    adding_replicas,
                });
            }
            9 => MetadataRecord::RemoveTopic {
                topic_id: get_uuid(b)?,
            },
            1 => MetadataRecord::UnregisterBroker {
                broker_id: get_i32(b)?,
                broker_epoch: get_i64(b)?,
            },
            7 | 8 => MetadataRecord::FenceBroker {
                broker_id: get_i32(b)?,
                broker_epoch: get_i64(b)?,
                fenced: key == 7,
            },
            17 => {
                let broker_id = get_i32(b)?;
                let broker_epoch = get_i64(b)?;
                let (mut fenced, mut in_controlled_shutdown) = (None, None);
                for (tag, mut data) in get_tagged(b)? {
                    match tag {
                        0 => {
                            fenced = match get_i8(&mut data)? {
                                1 => Some(true),
                                -1 => Some(false),
                                _ => None,
                            }
                        }
                        1 => in_controlled_shutdown = (get_i8(&mut data)? == 1).then_some(true),
                        _ => {}
                    }
                }
                return Ok(MetadataRecord::BrokerRegistrationChange {
                    broker_id,
                    broker_epoch,
                    fenced,
                    in_controlled_shutdown,
                });
            }
            15 => MetadataRecord::ProducerIds {
                broker_id: get_i32(b)?,
                broker_epoch: get_i64(b)?,
                next_producer_id: get_i64(b)?,
            },
            18 => super::acl_records::get_acl(b)?,
            19 => MetadataRecord::RemoveAccessControlEntry { id: get_uuid(b)? },
            11 => {
                let (name, mechanism, credential) = scram_records::decode_credential(b)?;
                MetadataRecord::UserScramCredential {
                    name,
                    mechanism,
                    credential,
                }
            }
            22 => {
                let (name, mechanism) = scram_records::decode_removal(b)?;
                MetadataRecord::RemoveUserScramCredential { name, mechanism }
            }
            other => {
                return Err(WireError(format!(
                    "metadata record type {other} is not known to this broker"
                )))
            }
        };
        get_tagged(b)?;
        Ok(record)
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
