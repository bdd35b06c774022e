//! The records the group coordinator writes to its log, and their bytes.
//!
//! They mirror Kafka's `__consumer_offsets` records. Every record is a key and a value (a null
//! value is a tombstone), stored in ordinary record batches v2 in the internal log:
//!
//! - Offset commit, key version 1: `version: i16 = 1, group: string, topic: string,
//!   partition: i32`; value version 3: `version: i16 = 3, offset: i64, leaderEpoch: i32,
//!   metadata: string, commitTimestamp: i64`.
//! - Group metadata, key version 2: `version: i16 = 2, group: string`; value version 3:
//!   `version: i16 = 3, protocolType: string, generation: i32, protocol: nullable string,
//!   leader: nullable string, stateTimestamp: i64, members: [memberId: string,
//!   instanceId: nullable string, clientId: string, clientHost: string, rebalanceTimeout: i32,
//!   sessionTimeout: i32, subscription: bytes, assignment: bytes]`.
//!
//! Strings are `i16` length + UTF-8 (−1 = null), bytes are `i32` length + bytes, big-endian.

use crate::protocol::reader::Reader;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// One member as stored in group metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's durable state as of a completed rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// A record of the coordinator's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group: String,
        value: Option<GroupValue>,
    },
    /// A KIP-848 consumer group record (key versions 3, 5–8 and 16).
    Consumer(super::consumer::records::ConsumerRecord),
}

fn put_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => {
            b.put_i16(s.len().min(i16::MAX as usize) as i16);
            b.put_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
        }
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

impl GroupRecord {
    /// The record's key and value bytes.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut k = BytesMut::new();
        match self {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                k.put_i16(1);
                put_str(&mut k, Some(group));
                put_str(&mut k, Some(topic));
                k.put_i32(*partition);
                let v = value.as_ref().map(|v| {
                    let mut b = BytesMut::new();
                    b.put_i16(3);
                    b.put_i64(v.offset);
                    b.put_i32(v.leader_epoch);
                    put_str(&mut b, Some(&v.metadata));
                    b.put_i64(v.commit_timestamp);
                    b.freeze()
                });
                (k.freeze(), v)
            }
            GroupRecord::Group { group, value } => {
                k.put_i16(2);
                put_str(&mut k, Some(group));
                let v = value.as_ref().map(|g| {
                    let mut b = BytesMut::new();
                    b.put_i16(3);
                    put_str(&mut b, Some(&g.protocol_type));
                    b.put_i32(g.generation);
                    put_str(&mut b, g.protocol.as_deref());
                    put_str(&mut b, g.leader.as_deref());
                    b.put_i64(g.state_timestamp);
                    b.put_i32(g.members.len() as i32);
                    for m in &g.members {
                        put_str(&mut b, Some(&m.member_id));
                        put_str(&mut b, m.instance_id.as_deref());
                        put_str(&mut b, Some(&m.client_id));
                        put_str(&mut b, Some(&m.client_host));
                        b.put_i32(m.rebalance_timeout_ms);
                        b.put_i32(m.session_timeout_ms);
                        put_bytes(&mut b, &m.subscription);
                        put_bytes(&mut b, &m.assignment);
                    }
                    b.freeze()
                });
                (k.freeze(), v)
            }
            GroupRecord::Consumer(r) => r.encode(),
        }
    }

    /// Parses a key and value written by [`GroupRecord::encode`].
    pub fn decode(key: Bytes, value: Option<Bytes>) -> Result<GroupRecord, String> {
        let mut k = Reader(key);
        match k.i16()? {
            0 | 1 => {
                let (group, topic, partition) = (k.str_or_empty()?, k.str_or_empty()?, k.i32()?);
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut r = Reader(v);
                        let _version = r.i16()?;
                        Some(OffsetValue {
                            offset: r.i64()?,
                            leader_epoch: r.i32()?,
                            metadata: r.str_or_empty()?,
                            commit_timestamp: r.i64()?,
                        })
                    }
                };
                Ok(GroupRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            2 => {
                let group = k.str_or_empty()?;
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut r = Reader(v);
                        let _version = r.i16()?;
                        let protocol_type = r.str_or_empty()?;
                        let generation = r.i32()?;
                        let protocol = r.opt_str()?;
                        let leader = r.opt_str()?;
                        let state_timestamp = r.i64()?;
                        let n = r.i32()?.max(0) as usize;
                        let mut members = Vec::with_capacity(n.min(r.0.remaining() / 20));
                        for _ in 0..n {
                            members.push(MemberValue {
                                member_id: r.str_or_empty()?,
                                instance_id: r.opt_str()?,
                                client_id: r.str_or_empty()?,
                                client_host: r.str_or_empty()?,
                                rebalance_timeout_ms: r.i32()?,
                                session_timeout_ms: r.i32()?,
                                subscription: r.bytes()?,
                                assignment: r.bytes()?,
                            });
                        }
                        Some(GroupValue {
                            protocol_type,
                            generation,
                            protocol,
                            leader,
                            state_timestamp,
                            members,
                        })
                    }
                };
                Ok(GroupRecord::Group { group, value })
            }
            v @ (3 | 5..=8 | 16) => {
                super::consumer::records::ConsumerRecord::decode(v, &mut k, value)
                    .map(GroupRecord::Consumer)
            }
            v => Err(format!("unknown group record key version {v}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let recs = vec![
            GroupRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: Some(OffsetValue {
                    offset: 42,
                    leader_epoch: 0,
                    metadata: "meta".into(),
                    commit_timestamp: 7,
                }),
            },
            GroupRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: None,
            },
            GroupRecord::Group {
                group: "g".into(),
                value: Some(GroupValue {
                    protocol_type: "consumer".into(),
                    generation: 5,
                    protocol: Some("range".into()),
                    leader: None,
                    state_timestamp: 9,
                    members: vec![MemberValue {
                        member_id: "m".into(),
                        instance_id: Some("i".into()),
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        rebalance_timeout_ms: 1,
                        session_timeout_ms: 2,
                        subscription: Bytes::from_static(b"sub"),
                        assignment: Bytes::from_static(b"asg"),
                    }],
                }),
            },
            GroupRecord::Group {
                group: "g".into(),
                value: None,
            },
        ];
        for r in recs {
            let (k, v) = r.encode();
            assert_eq!(GroupRecord::decode(k, v).unwrap(), r);
        }
        assert!(GroupRecord::decode(Bytes::from_static(&[0, 9]), None).is_err());
    }
}
