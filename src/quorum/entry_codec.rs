//! One openraft entry ↔ one Kafka record batch of `__cluster_metadata-0`.
//!
//! | entry payload | batch |
//! |---|---|
//! | `Normal(MetadataBatch)` | plain batch, one record per metadata record (null key, value = Kafka's `MetadataRecordSerde` bytes) — what gregor wrote before the quorum |
//! | `Blank` (a new leader's first entry) | control batch, one record: key type LEADER_CHANGE (2), value `LeaderChangeMessage` v0 (`leaderId` = the voter that wrote it, `voters` = `grantingVoters` = the current voters when known) |
//! | `Membership(m)` | control batch, one record: key type KRAFT_VOTERS (6), value `VotersRecord` v0 listing the voters with their `CONTROLLER` endpoint, plus gregor's tagged field 0 (below) |
//!
//! The batch's `partitionLeaderEpoch` is the entry's Raft term (gregor's quorum runs
//! openraft with one leader per term, so term = Kafka epoch) and its `baseOffset` is the log
//! end where it is appended; both lie outside the batch CRC. The entry's Raft index is not in
//! the batch: it is the batch's position in the log (see [`super::index_table`]).
//!
//! Tagged field 0 of the `VotersRecord` (ignored by Kafka's tools) holds the whole openraft
//! membership, which a VotersRecord cannot say (joint configurations, learners): uvarint
//! number of configurations, each a uvarint count and that many uvarint node ids; then a
//! uvarint number of nodes, each a uvarint id, a compact string host and a big-endian u16
//! port. Every count is bounded by the bytes left before anything is allocated.
//!
//! Thread-safety: pure functions.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{leader_change_message, voters_record, BrokerId};
use kafka_protocol::messages::{LeaderChangeMessage, VotersRecord};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::types::{kafka_id, Entry, LogId, Membership, MetadataBatch, QuorumNode};
use crate::log::batch::{self, BatchHeader, HEADER_LEN};
use crate::log::control;
use crate::metadata::records::MetadataRecord;
use crate::metadata::wire::{get_uvarint, put_uvarint};

/// Listener name written in VotersRecord endpoints (Kafka's conventional controller name).
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// The batch for `entry`, with `base_offset` and the entry's term stamped in (see the module
/// doc). `now` is the batch timestamp; `leader` the voter that leads the entry's term, when
/// known (written into a LEADER_CHANGE record only).
pub fn encode_entry(
    entry: &Entry,
    base_offset: i64,
    leader: Option<u64>,
    now: i64,
) -> Result<Bytes, String> {
    let term = i32::try_from(entry.log_id.leader_id.term).map_err(|_| {
        format!(
            "term {} does not fit a Kafka epoch",
            entry.log_id.leader_id.term
        )
    })?;
    let bytes = match &entry.payload {
        openraft::EntryPayload::Normal(b) => {
            let entries: Vec<(Option<Bytes>, Option<Bytes>)> =
                b.records.iter().map(|r| (None, Some(r.encode()))).collect();
            crate::log::records::encode_batch(&entries, None, now)?
        }
        openraft::EntryPayload::Blank => control_batch(
            control::LEADER_CHANGE,
            leader_change_value(leader, &leader.into_iter().collect::<Vec<_>>())?,
            now,
        )?,
        openraft::EntryPayload::Membership(m) => {
            control_batch(control::KRAFT_VOTERS, voters_value(m)?, now)?
        }
    };
    let mut out = BytesMut::from(&bytes[..]);
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&out[..HEADER_LEN]);
    batch::stamp_header(&mut header, base_offset, term, None);
    out[..HEADER_LEN].copy_from_slice(&header);
    Ok(out.freeze())
}

/// The entry stored as `batch` at Raft `index` (see the module doc).
pub fn decode_entry(batch: &[u8], index: u64) -> Result<Entry, String> {
    let h = BatchHeader::parse(batch).ok_or("short batch")?;
    let term = u64::try_from(h.partition_leader_epoch)
        .map_err(|_| format!("batch at {} has no epoch", h.base_offset))?;
    let log_id = LogId::new(openraft::CommittedLeaderId::new(term, 0), index);
    let records = crate::log::records::decode(batch)?;
    let payload = if h.is_control() {
        let r = records.first().ok_or("empty control batch")?;
        let kind = control::key_type(r.key.as_deref().unwrap_or(&[])).ok_or("bad control key")?;
        match kind {
            control::KRAFT_VOTERS => {
                let mut v = r.value.clone().ok_or("voters record without value")?;
                openraft::EntryPayload::Membership(membership_from_voters(&mut v)?)
            }
            _ => openraft::EntryPayload::Blank,
        }
    } else {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let v = r
                .value
                .ok_or_else(|| format!("metadata record at offset {} has no value", r.offset))?;
            out.push(
                MetadataRecord::decode(v)
                    .map_err(|e| format!("metadata record at offset {}: {}", r.offset, e.0))?,
            );
        }
        openraft::EntryPayload::Normal(MetadataBatch { records: out })
    };
    Ok(Entry { log_id, payload })
}

/// A one-record control batch (no producer, not transactional, epoch stamped later).
pub fn control_batch(kind: i16, value: Bytes, now: i64) -> Result<Bytes, String> {
    control::encode_control_batch((-1, -1), false, control::control_key(kind), value, now)
}

/// `LeaderChangeMessage` v0 naming `leader` (−1 when unknown) and `voters`.
pub fn leader_change_value(leader: Option<u64>, voters: &[u64]) -> Result<Bytes, String> {
    let vs: Vec<leader_change_message::Voter> = voters
        .iter()
        .map(|v| leader_change_message::Voter::default().with_voter_id(kafka_id(*v)))
        .collect();
    let msg = LeaderChangeMessage::default()
        .with_version(0)
        .with_leader_id(BrokerId(leader.map_or(-1, kafka_id)))
        .with_voters(vs.clone())
        .with_granting_voters(vs);
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, 0).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// `VotersRecord` v0 for `m`, with the full membership in tagged field 0.
pub fn voters_value(m: &Membership) -> Result<Bytes, String> {
    let voters = m
        .voter_ids()
        .map(|id| {
            let node = m.get_node(&id).cloned().unwrap_or_default();
            voters_record::Voter::default()
                .with_voter_id(BrokerId(kafka_id(id)))
                .with_endpoints(vec![voters_record::Endpoint::default()
                    .with_name(StrBytes::from_static_str(CONTROLLER_LISTENER))
                    .with_host(StrBytes::from_string(node.host))
                    .with_port(node.port)])
        })
        .collect();
    let mut tagged = BytesMut::new();
    let configs = m.get_joint_config();
    put_uvarint(&mut tagged, len32(configs.len())?);
    for c in configs {
        put_uvarint(&mut tagged, len32(c.len())?);
        for id in c {
            put_uvarint(&mut tagged, id32(*id)?);
        }
    }
    let nodes: Vec<(&u64, &QuorumNode)> = m.nodes().collect();
    put_uvarint(&mut tagged, len32(nodes.len())?);
    for (id, n) in nodes {
        put_uvarint(&mut tagged, id32(*id)?);
        put_uvarint(&mut tagged, len32(n.host.len() + 1)?);
        tagged.put_slice(n.host.as_bytes());
        tagged.put_u16(n.port);
    }
    let mut record = VotersRecord::default().with_version(0).with_voters(voters);
    record.unknown_tagged_fields.insert(0, tagged.freeze());
    let mut buf = BytesMut::new();
    record.encode(&mut buf, 0).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

fn len32(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| "membership too large".to_string())
}

fn id32(id: u64) -> Result<u32, String> {
    u32::try_from(id).map_err(|_| format!("node id {id} too large"))
}

/// The openraft membership a `VotersRecord` value carries (tagged field 0; without it, the
/// listed voters with their first endpoint: a record Kafka wrote).
pub fn membership_from_voters(value: &mut Bytes) -> Result<Membership, String> {
    let record = VotersRecord::decode(value, 0).map_err(|e| e.to_string())?;
    let Some(tagged) = record.unknown_tagged_fields.get(&0) else {
        let mut ids = BTreeSet::new();
        let mut nodes = BTreeMap::new();
        for v in &record.voters {
            let id = u64::try_from(v.voter_id.0).map_err(|_| "negative voter id")?;
            ids.insert(id);
            let node = v
                .endpoints
                .first()
                .map_or_else(QuorumNode::default, |e| QuorumNode {
                    host: e.host.to_string(),
                    port: e.port,
                });
            nodes.insert(id, node);
        }
        return Ok(Membership::new(vec![ids], nodes));
    };
    let mut b = tagged.clone();
    let n_configs = bounded(get_uvarint(&mut b).map_err(|e| e.0)?, &b)?;
    let mut configs = Vec::with_capacity(n_configs);
    for _ in 0..n_configs {
        let n = bounded(get_uvarint(&mut b).map_err(|e| e.0)?, &b)?;
        let mut set = BTreeSet::new();
        for _ in 0..n {
            set.insert(u64::from(get_uvarint(&mut b).map_err(|e| e.0)?));
        }
        configs.push(set);
    }
    let n_nodes = bounded(get_uvarint(&mut b).map_err(|e| e.0)?, &b)?;
    let mut nodes = BTreeMap::new();
    for _ in 0..n_nodes {
        let id = u64::from(get_uvarint(&mut b).map_err(|e| e.0)?);
        let len = get_uvarint(&mut b).map_err(|e| e.0)? as usize;
        let len = len.checked_sub(1).ok_or("null host")?;
        if b.remaining() < len + 2 {
            return Err("membership node truncated".into());
        }
        let host = String::from_utf8_lossy(&b.split_to(len)).into_owned();
        let port = b.get_u16();
        nodes.insert(id, QuorumNode { host, port });
    }
    Ok(Membership::new(configs, nodes))
}

/// A count read from the wire, refused when it exceeds the bytes left (each item ≥ 1 byte).
fn bounded(n: u32, b: &Bytes) -> Result<usize, String> {
    let n = n as usize;
    if n > b.remaining() {
        return Err(format!(
            "count {n} exceeds the {} bytes left",
            b.remaining()
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 0), index)
    }

    #[test]
    fn every_payload_round_trips_through_a_kafka_batch() {
        let m = Membership::new(
            vec![[1u64, 2].into(), [2u64, 3].into()],
            BTreeMap::from([
                (
                    1,
                    QuorumNode {
                        host: "a".into(),
                        port: 9093,
                    },
                ),
                (
                    2,
                    QuorumNode {
                        host: "b".into(),
                        port: 9094,
                    },
                ),
                (3, QuorumNode::default()),
            ]),
        );
        let entries = [
            Entry {
                log_id: id(1, 0),
                payload: EntryPayload::Membership(m),
            },
            Entry {
                log_id: id(2, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: id(2, 2),
                payload: EntryPayload::Normal(MetadataBatch {
                    records: vec![MetadataRecord::RemoveTopic {
                        topic_id: uuid::Uuid::nil(),
                    }],
                }),
            },
        ];
        for (i, e) in entries.iter().enumerate() {
            let b = encode_entry(e, 40 + i as i64, Some(1), 5).expect("encode");
            let h = BatchHeader::parse(&b).expect("header");
            assert_eq!(h.base_offset, 40 + i as i64);
            assert_eq!(h.partition_leader_epoch as u64, e.log_id.leader_id.term);
            assert_eq!(batch::compute_crc(&b), h.crc);
            let back = decode_entry(&b, e.log_id.index).expect("decode");
            assert_eq!(back.log_id, e.log_id);
            assert_eq!(back.payload, e.payload);
        }
        let blank = encode_entry(&entries[1], 0, None, 0).expect("blank");
        assert_eq!(
            control::batch_control_type(&blank),
            Some(control::LEADER_CHANGE)
        );
    }

    #[test]
    fn a_lying_count_is_refused() {
        let mut record = VotersRecord::default();
        record
            .unknown_tagged_fields
            .insert(0, Bytes::from_static(&[0xff, 0xff, 0x03]));
        let mut buf = BytesMut::new();
        record.encode(&mut buf, 0).expect("encode");
        assert!(membership_from_voters(&mut buf.freeze()).is_err());
    }
}
