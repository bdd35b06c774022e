//! The records a KIP-848 consumer group writes to `__consumer_offsets`, in Kafka's layout.
//!
//! Keys are classic (non-flexible) structs led by their key version; values are flexible
//! version-0 structs led by `version: i16 = 0` (compact strings and arrays, an empty tagged
//! field section after each struct):
//!
//! | key version | key | value |
//! |---|---|---|
//! | 3 | ConsumerGroupMetadata(group) | `epoch: i32` |
//! | 5 | ConsumerGroupMemberMetadata(group, member) | instance id, rack id, client id, client host, subscribed topic names, subscribed regex, rebalance timeout, server assignor |
//! | 6 | ConsumerGroupTargetAssignmentMetadata(group) | `assignment_epoch: i32` |
//! | 7 | ConsumerGroupTargetAssignmentMember(group, member) | `[topic id: uuid, partitions: [i32]]` |
//! | 8 | ConsumerGroupCurrentMemberAssignment(group, member) | member epoch, previous epoch, state: i8, assigned, pending revocation |
//! | 16 | ConsumerGroupRegularExpression(group, regex) | `topics: [string], version: i64` (metadata offset), `timestamp: i64` (ms) |
//!
//! Key 4 (ConsumerGroupPartitionMetadata) is not written: Kafka 4.1 deprecated it, and gregor
//! keeps the subscribed topics' metadata in memory (a restart recomputes the target once).
//! A null value is a tombstone: a member leaving writes tombstones for 8, 7 and 5, in
//! that order; deleting the group adds 6 and 3.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use crate::protocol::reader::Reader;

/// Partitions by topic id: an assignment (target, current, or pending revocation).
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A member's subscription and identity (value of key 5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

/// A member's reconciliation state (value of key 8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentAssignment {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// Kafka's `MemberState` byte: 0 unrevoked partitions, 1 unreleased partitions, 2 stable.
    pub state: i8,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
}

/// What a subscription regex resolved to (value of key 16): the matching topics the
/// resolving member's principal may DESCRIBE, the metadata image's offset and the wall time
/// of the resolution (Kafka's `ResolvedRegularExpression`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedRegex {
    pub topics: BTreeSet<String>,
    pub version: i64,
    pub timestamp_ms: i64,
}

/// A consumer group record (see the module doc); `None` values are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRecord {
    GroupEpoch {
        group: String,
        epoch: Option<i32>,
    },
    Member {
        group: String,
        member: String,
        value: Option<MemberMetadata>,
    },
    TargetEpoch {
        group: String,
        epoch: Option<i32>,
    },
    TargetMember {
        group: String,
        member: String,
        value: Option<Assignment>,
    },
    Current {
        group: String,
        member: String,
        value: Option<CurrentAssignment>,
    },
    Regex {
        group: String,
        regex: String,
        value: Option<ResolvedRegex>,
    },
}

fn key_str(b: &mut BytesMut, s: &str) {
    let n = s.len().min(i16::MAX as usize);
    b.put_i16(n as i16);
    b.put_slice(&s.as_bytes()[..n]);
}

fn uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn compact_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        None => uvarint(b, 0),
        Some(s) => {
            uvarint(b, s.len() as u64 + 1);
            b.put_slice(s.as_bytes());
        }
    }
}

fn assignment(b: &mut BytesMut, a: &Assignment) {
    uvarint(b, a.len() as u64 + 1);
    for (id, parts) in a {
        b.put_slice(id.as_bytes());
        uvarint(b, parts.len() as u64 + 1);
        for p in parts {
            b.put_i32(*p);
        }
        uvarint(b, 0);
    }
}

fn read_opt_compact_str(r: &mut Reader) -> Result<Option<String>, String> {
    let n = r.uvarint()?;
    if n == 0 {
        return Ok(None);
    }
    let bytes = r.take(usize::try_from(n - 1).map_err(|e| e.to_string())?)?;
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|e| e.to_string())
}

fn read_assignment(r: &mut Reader) -> Result<Assignment, String> {
    let n = r.compact_len()?;
    let mut out = Assignment::new();
    for _ in 0..r.count(n, 18)?.unwrap_or(0) {
        let id = Uuid::from_slice(&r.take(16)?).map_err(|e| e.to_string())?;
        let m = r.compact_len()?;
        let mut parts = BTreeSet::new();
        for _ in 0..r.count(m, 4)?.unwrap_or(0) {
            parts.insert(r.i32()?);
        }
        skip_tags(r)?;
        out.insert(id, parts);
    }
    Ok(out)
}

/// Skips a tagged field section (fields gregor does not know are ignored, as Kafka does).
fn skip_tags(r: &mut Reader) -> Result<(), String> {
    let n = r.uvarint()?;
    for _ in 0..n.min(1024) {
        r.uvarint()?;
        let len = r.uvarint()?;
        r.take(usize::try_from(len).map_err(|e| e.to_string())?)?;
    }
    Ok(())
}

impl ConsumerRecord {
    /// The group this record belongs to.
    pub fn group(&self) -> &str {
        match self {
            ConsumerRecord::GroupEpoch { group, .. }
            | ConsumerRecord::Member { group, .. }
            | ConsumerRecord::TargetEpoch { group, .. }
            | ConsumerRecord::TargetMember { group, .. }
            | ConsumerRecord::Current { group, .. }
            | ConsumerRecord::Regex { group, .. } => group,
        }
    }

    /// The record's key and value bytes.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut k = BytesMut::new();
        let mut v = BytesMut::new();
        v.put_i16(0);
        let has_value = match self {
            ConsumerRecord::GroupEpoch { group, epoch }
            | ConsumerRecord::TargetEpoch { group, epoch } => {
                let version = if matches!(self, ConsumerRecord::GroupEpoch { .. }) {
                    3
                } else {
                    6
                };
                k.put_i16(version);
                key_str(&mut k, group);
                if let Some(e) = epoch {
                    v.put_i32(*e);
                }
                epoch.is_some()
            }
            ConsumerRecord::Member {
                group,
                member,
                value,
            } => {
                k.put_i16(5);
                key_str(&mut k, group);
                key_str(&mut k, member);
                if let Some(m) = value {
                    compact_str(&mut v, m.instance_id.as_deref());
                    compact_str(&mut v, m.rack_id.as_deref());
                    compact_str(&mut v, Some(&m.client_id));
                    compact_str(&mut v, Some(&m.client_host));
                    uvarint(&mut v, m.subscribed_topic_names.len() as u64 + 1);
                    for t in &m.subscribed_topic_names {
                        compact_str(&mut v, Some(t));
                    }
                    compact_str(&mut v, m.subscribed_topic_regex.as_deref());
                    v.put_i32(m.rebalance_timeout_ms);
                    compact_str(&mut v, m.server_assignor.as_deref());
                }
                value.is_some()
            }
            ConsumerRecord::TargetMember {
                group,
                member,
                value,
            } => {
                k.put_i16(7);
                key_str(&mut k, group);
                key_str(&mut k, member);
                if let Some(a) = value {
                    assignment(&mut v, a);
                }
                value.is_some()
            }
            ConsumerRecord::Current {
                group,
                member,
                value,
            } => {
                k.put_i16(8);
                key_str(&mut k, group);
                key_str(&mut k, member);
                if let Some(c) = value {
                    v.put_i32(c.member_epoch);
                    v.put_i32(c.previous_member_epoch);
                    v.put_i8(c.state);
                    assignment(&mut v, &c.assigned);
                    assignment(&mut v, &c.pending_revocation);
                }
                value.is_some()
            }
            ConsumerRecord::Regex {
                group,
                regex,
                value,
            } => {
                k.put_i16(16);
                key_str(&mut k, group);
                key_str(&mut k, regex);
                if let Some(r) = value {
                    uvarint(&mut v, r.topics.len() as u64 + 1);
                    for t in &r.topics {
                        compact_str(&mut v, Some(t));
                    }
                    v.put_i64(r.version);
                    v.put_i64(r.timestamp_ms);
                }
                value.is_some()
            }
        };
        uvarint(&mut v, 0);
        (k.freeze(), has_value.then(|| v.freeze()))
    }

    /// Parses a key (whose version `key_version` was already read from `k`) and its value.
    pub fn decode(key_version: i16, k: &mut Reader, value: Option<Bytes>) -> Result<Self, String> {
        let group = k.str_or_empty()?;
        let mut v = value.map(Reader);
        if let Some(r) = v.as_mut() {
            let _version = r.i16()?;
        }
        Ok(match key_version {
            3 | 6 => {
                let epoch = match v.as_mut() {
                    Some(r) => Some(r.i32()?),
                    None => None,
                };
                if key_version == 3 {
                    ConsumerRecord::GroupEpoch { group, epoch }
                } else {
                    ConsumerRecord::TargetEpoch { group, epoch }
                }
            }
            5 => {
                let member = k.str_or_empty()?;
                let value = match v.as_mut() {
                    None => None,
                    Some(r) => Some(MemberMetadata {
                        instance_id: read_opt_compact_str(r)?,
                        rack_id: read_opt_compact_str(r)?,
                        client_id: r.compact_str()?,
                        client_host: r.compact_str()?,
                        subscribed_topic_names: {
                            let n = r.compact_len()?;
                            let mut names = Vec::new();
                            for _ in 0..r.count(n, 1)?.unwrap_or(0) {
                                names.push(r.compact_str()?);
                            }
                            names
                        },
                        subscribed_topic_regex: read_opt_compact_str(r)?,
                        rebalance_timeout_ms: r.i32()?,
                        server_assignor: read_opt_compact_str(r)?,
                    }),
                };
                ConsumerRecord::Member {
                    group,
                    member,
                    value,
                }
            }
            7 => {
                let member = k.str_or_empty()?;
                let value = match v.as_mut() {
                    None => None,
                    Some(r) => Some(read_assignment(r)?),
                };
                ConsumerRecord::TargetMember {
                    group,
                    member,
                    value,
                }
            }
            8 => {
                let member = k.str_or_empty()?;
                let value = match v.as_mut() {
                    None => None,
                    Some(r) => Some(CurrentAssignment {
                        member_epoch: r.i32()?,
                        previous_member_epoch: r.i32()?,
                        state: r.i8()?,
                        assigned: read_assignment(r)?,
                        pending_revocation: read_assignment(r)?,
                    }),
                };
                ConsumerRecord::Current {
                    group,
                    member,
                    value,
                }
            }
            16 => {
                let regex = k.str_or_empty()?;
                let value = match v.as_mut() {
                    None => None,
                    Some(r) => Some(ResolvedRegex {
                        topics: {
                            let n = r.compact_len()?;
                            let mut topics = BTreeSet::new();
                            for _ in 0..r.count(n, 1)?.unwrap_or(0) {
                                topics.insert(r.compact_str()?);
                            }
                            topics
                        },
                        version: r.i64()?,
                        timestamp_ms: r.i64()?,
                    }),
                };
                ConsumerRecord::Regex {
                    group,
                    regex,
                    value,
                }
            }
            other => return Err(format!("unknown consumer group record key version {other}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_records_round_trip_and_tombstones() {
        let t = Uuid::from_u128(7);
        let a: Assignment = [(t, [0, 2].into())].into();
        let recs = vec![
            ConsumerRecord::GroupEpoch {
                group: "g".into(),
                epoch: Some(4),
            },
            ConsumerRecord::TargetEpoch {
                group: "g".into(),
                epoch: None,
            },
            ConsumerRecord::Member {
                group: "g".into(),
                member: "m".into(),
                value: Some(MemberMetadata {
                    instance_id: None,
                    rack_id: Some("r".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    subscribed_topic_names: vec!["a".into(), "b".into()],
                    subscribed_topic_regex: None,
                    rebalance_timeout_ms: 300_000,
                    server_assignor: Some("uniform".into()),
                }),
            },
            ConsumerRecord::TargetMember {
                group: "g".into(),
                member: "m".into(),
                value: Some(a.clone()),
            },
            ConsumerRecord::Current {
                group: "g".into(),
                member: "m".into(),
                value: Some(CurrentAssignment {
                    member_epoch: 3,
                    previous_member_epoch: 2,
                    state: 0,
                    assigned: a.clone(),
                    pending_revocation: [(t, [1].into())].into(),
                }),
            },
            ConsumerRecord::Current {
                group: "g".into(),
                member: "m".into(),
                value: None,
            },
            ConsumerRecord::Regex {
                group: "g".into(),
                regex: "t-.*".into(),
                value: Some(ResolvedRegex {
                    topics: ["t-1".to_string(), "t-2".to_string()].into(),
                    version: 42,
                    timestamp_ms: 1_700_000_000_000,
                }),
            },
            ConsumerRecord::Regex {
                group: "g".into(),
                regex: "t-.*".into(),
                value: None,
            },
        ];
        for r in recs {
            let (k, v) = r.encode();
            let mut kr = Reader(k);
            let version = kr.i16().unwrap();
            assert_eq!(ConsumerRecord::decode(version, &mut kr, v).unwrap(), r);
        }
        // Kafka's layout: key 3 is `i16 3, i16 len, "g"`; its value `i16 0, i32 epoch, 0 tags`.
        let (k, v) = ConsumerRecord::GroupEpoch {
            group: "g".into(),
            epoch: Some(4),
        }
        .encode();
        assert_eq!(&k[..], &[0, 3, 0, 1, b'g']);
        assert_eq!(&v.unwrap()[..], &[0, 0, 0, 0, 0, 4, 0]);
    }
}
