//! gregor's codec for openraft's RPCs between voters (the payload of the private api keys
//! of [`super::rpc`]), version 0. Big-endian fixed-width integers; every variable part is
//! length-prefixed and its length checked against the bytes left before allocating.
//!
//! | item | encoding |
//! |---|---|
//! | request | `cluster_id` (u16 length + UTF-8), then the RPC's fields |
//! | response | `error_code` i16; 0: the RPC's response fields; 32002 (snapshot mismatch): expect and got segment ids; else a message |
//! | vote | term u64, voted_for (u8 present + u64), committed u8 |
//! | log id | u8 present, term u64, index u64 |
//! | entries | u32 count, each index u64 + u32 length + the entry as a Kafka batch ([`super::entry_codec`], base offset 0) |
//! | membership | log id, u32 length + a `VotersRecord` value (with gregor's tagged field 0) |
//! | snapshot chunk | vote, meta (last log id, membership, id string), offset u64, u32 length + data, done u8 |
//!
//! Terms above `i32::MAX` (not a Kafka epoch) and bytes after a request are refused.
//!
//! Thread-safety: pure functions.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::SnapshotMeta;

use super::entry_codec::{decode_entry, encode_entry, membership_from_voters, voters_value};
use super::types::{LogId, QuorumNode, QuorumTypes, StoredMembership, Vote};

/// Version of this codec (the request header's api version).
pub const VERSION: i16 = 0;

/// Most entries decoded from one AppendEntries.
const MAX_ENTRIES: usize = 100_000;

pub type Decoded<T> = Result<T, String>;

fn need(b: &Bytes, n: usize, what: &str) -> Decoded<()> {
    if b.remaining() < n {
        Err(format!("raft rpc truncated in {what}"))
    } else {
        Ok(())
    }
}

fn get_u8(b: &mut Bytes) -> Decoded<u8> {
    need(b, 1, "u8")?;
    Ok(b.get_u8())
}

fn get_u64(b: &mut Bytes) -> Decoded<u64> {
    need(b, 8, "u64")?;
    Ok(b.get_u64())
}

fn get_i16(b: &mut Bytes) -> Decoded<i16> {
    need(b, 2, "i16")?;
    Ok(b.get_i16())
}

fn get_bytes(b: &mut Bytes) -> Decoded<Bytes> {
    need(b, 4, "length")?;
    let n = b.get_u32() as usize;
    need(b, n, "bytes")?;
    Ok(b.split_to(n))
}

fn put_bytes(out: &mut BytesMut, v: &[u8]) -> Decoded<()> {
    let n = u32::try_from(v.len()).map_err(|_| "raft rpc item too large".to_string())?;
    out.put_u32(n);
    out.put_slice(v);
    Ok(())
}

pub fn put_string(out: &mut BytesMut, s: &str) -> Decoded<()> {
    let n = u16::try_from(s.len()).map_err(|_| "string too long".to_string())?;
    out.put_u16(n);
    out.put_slice(s.as_bytes());
    Ok(())
}

pub fn get_string(b: &mut Bytes) -> Decoded<String> {
    need(b, 2, "string length")?;
    let n = b.get_u16() as usize;
    need(b, n, "string")?;
    String::from_utf8(b.split_to(n).to_vec()).map_err(|_| "string is not UTF-8".to_string())
}

fn put_vote(out: &mut BytesMut, v: &Vote) {
    out.put_u64(v.leader_id.term);
    match v.leader_id.voted_for {
        Some(id) => {
            out.put_u8(1);
            out.put_u64(id);
        }
        None => out.put_u8(0),
    }
    out.put_u8(u8::from(v.committed));
}

/// A Raft term, which must fit a Kafka epoch (`i32`): a larger one would stop the quorum
/// from ever writing an entry again.
fn get_term(b: &mut Bytes) -> Decoded<u64> {
    let term = get_u64(b)?;
    if term > i32::MAX as u64 {
        return Err(format!("term {term} does not fit a Kafka epoch"));
    }
    Ok(term)
}

/// Refuses bytes after a decoded request.
pub fn end(b: &Bytes) -> Decoded<()> {
    if b.has_remaining() {
        return Err(format!("{} bytes after the request", b.remaining()));
    }
    Ok(())
}

fn get_vote(b: &mut Bytes) -> Decoded<Vote> {
    let term = get_term(b)?;
    let voted_for = match get_u8(b)? {
        0 => None,
        _ => Some(get_u64(b)?),
    };
    let committed = get_u8(b)? != 0;
    let mut v = Vote::default();
    v.leader_id.term = term;
    v.leader_id.voted_for = voted_for;
    v.committed = committed;
    Ok(v)
}

fn put_log_id(out: &mut BytesMut, l: &Option<LogId>) {
    match l {
        Some(l) => {
            out.put_u8(1);
            out.put_u64(l.leader_id.term);
            out.put_u64(l.index);
        }
        None => out.put_u8(0),
    }
}

fn get_log_id(b: &mut Bytes) -> Decoded<Option<LogId>> {
    if get_u8(b)? == 0 {
        return Ok(None);
    }
    let term = get_term(b)?;
    let index = get_u64(b)?;
    Ok(Some(super::index_table::log_id(term, index)))
}

fn put_membership(out: &mut BytesMut, m: &StoredMembership) -> Decoded<()> {
    put_log_id(out, m.log_id());
    put_bytes(out, &voters_value(m.membership())?)
}

fn get_membership(b: &mut Bytes) -> Decoded<StoredMembership> {
    let log_id = get_log_id(b)?;
    let mut v = get_bytes(b)?;
    Ok(StoredMembership::new(
        log_id,
        membership_from_voters(&mut v)?,
    ))
}

pub fn encode_append(out: &mut BytesMut, r: &AppendEntriesRequest<QuorumTypes>) -> Decoded<()> {
    put_vote(out, &r.vote);
    put_log_id(out, &r.prev_log_id);
    put_log_id(out, &r.leader_commit);
    let n = u32::try_from(r.entries.len()).map_err(|_| "too many entries".to_string())?;
    out.put_u32(n);
    for e in &r.entries {
        out.put_u64(e.log_id.index);
        put_bytes(out, &encode_entry(e, 0, r.vote.leader_id.voted_for, 0)?)?;
    }
    Ok(())
}

pub fn decode_append(b: &mut Bytes) -> Decoded<AppendEntriesRequest<QuorumTypes>> {
    let vote = get_vote(b)?;
    let prev_log_id = get_log_id(b)?;
    let leader_commit = get_log_id(b)?;
    need(b, 4, "entry count")?;
    let n = b.get_u32() as usize;
    // Each entry takes at least 12 bytes: bound the count before allocating.
    if n > MAX_ENTRIES || n.saturating_mul(12) > b.remaining() {
        return Err(format!("{n} entries do not fit the request"));
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let index = get_u64(b)?;
        let batch = get_bytes(b)?;
        entries.push(decode_entry(&batch, index)?);
    }
    Ok(AppendEntriesRequest {
        vote,
        prev_log_id,
        entries,
        leader_commit,
    })
}

pub fn encode_append_response(out: &mut BytesMut, r: &AppendEntriesResponse<u64>) {
    match r {
        AppendEntriesResponse::Success => out.put_u8(0),
        AppendEntriesResponse::PartialSuccess(l) => {
            out.put_u8(1);
            put_log_id(out, l);
        }
        AppendEntriesResponse::Conflict => out.put_u8(2),
        AppendEntriesResponse::HigherVote(v) => {
            out.put_u8(3);
            put_vote(out, v);
        }
    }
}

pub fn decode_append_response(b: &mut Bytes) -> Decoded<AppendEntriesResponse<u64>> {
    Ok(match get_u8(b)? {
        0 => AppendEntriesResponse::Success,
        1 => AppendEntriesResponse::PartialSuccess(get_log_id(b)?),
        2 => AppendEntriesResponse::Conflict,
        3 => AppendEntriesResponse::HigherVote(get_vote(b)?),
        t => return Err(format!("unknown append-entries response {t}")),
    })
}

pub fn encode_vote(out: &mut BytesMut, r: &VoteRequest<u64>) {
    put_vote(out, &r.vote);
    put_log_id(out, &r.last_log_id);
}

pub fn decode_vote(b: &mut Bytes) -> Decoded<VoteRequest<u64>> {
    Ok(VoteRequest {
        vote: get_vote(b)?,
        last_log_id: get_log_id(b)?,
    })
}

pub fn encode_vote_response(out: &mut BytesMut, r: &VoteResponse<u64>) {
    put_vote(out, &r.vote);
    out.put_u8(u8::from(r.vote_granted));
    put_log_id(out, &r.last_log_id);
}

pub fn decode_vote_response(b: &mut Bytes) -> Decoded<VoteResponse<u64>> {
    Ok(VoteResponse {
        vote: get_vote(b)?,
        vote_granted: get_u8(b)? != 0,
        last_log_id: get_log_id(b)?,
    })
}

pub fn encode_snapshot(out: &mut BytesMut, r: &InstallSnapshotRequest<QuorumTypes>) -> Decoded<()> {
    put_vote(out, &r.vote);
    put_log_id(out, &r.meta.last_log_id);
    put_membership(out, &r.meta.last_membership)?;
    put_string(out, &r.meta.snapshot_id)?;
    out.put_u64(r.offset);
    put_bytes(out, &r.data)?;
    out.put_u8(u8::from(r.done));
    Ok(())
}

pub fn decode_snapshot(b: &mut Bytes) -> Decoded<InstallSnapshotRequest<QuorumTypes>> {
    let vote = get_vote(b)?;
    let last_log_id = get_log_id(b)?;
    let last_membership = get_membership(b)?;
    let snapshot_id = get_string(b)?;
    let offset = get_u64(b)?;
    let data = get_bytes(b)?.to_vec();
    let done = get_u8(b)? != 0;
    Ok(InstallSnapshotRequest {
        vote,
        meta: SnapshotMeta::<u64, QuorumNode> {
            last_log_id,
            last_membership,
            snapshot_id,
        },
        offset,
        data,
        done,
    })
}

pub fn encode_snapshot_response(out: &mut BytesMut, r: &InstallSnapshotResponse<u64>) {
    put_vote(out, &r.vote);
}

pub fn decode_snapshot_response(b: &mut Bytes) -> Decoded<InstallSnapshotResponse<u64>> {
    Ok(InstallSnapshotResponse { vote: get_vote(b)? })
}

/// A response's error code (the response body follows when it is 0).
pub fn get_error(b: &mut Bytes) -> Decoded<i16> {
    get_i16(b)
}

pub fn put_segment(out: &mut BytesMut, id: &str, offset: u64) -> Decoded<()> {
    put_string(out, id)?;
    out.put_u64(offset);
    Ok(())
}

pub fn get_segment(b: &mut Bytes) -> Decoded<(String, u64)> {
    Ok((get_string(b)?, get_u64(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::MetadataRecord;
    use crate::quorum::types::{Entry, Membership, MetadataBatch};
    use std::collections::{BTreeMap, BTreeSet};

    fn node(port: u16) -> QuorumNode {
        QuorumNode {
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn rpcs_round_trip() {
        let m = Membership::new(
            vec![BTreeSet::from([1, 2, 3])],
            BTreeMap::from([(1, node(1)), (2, node(2)), (3, node(3))]),
        );
        let lid = |t, i| Some(super::super::index_table::log_id(t, i));
        let req = AppendEntriesRequest::<QuorumTypes> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: lid(2, 5),
            leader_commit: lid(3, 6),
            entries: vec![
                Entry {
                    log_id: lid(3, 6).unwrap(),
                    payload: openraft::EntryPayload::Blank,
                },
                Entry {
                    log_id: lid(3, 7).unwrap(),
                    payload: openraft::EntryPayload::Membership(m.clone()),
                },
                Entry {
                    log_id: lid(3, 8).unwrap(),
                    payload: openraft::EntryPayload::Normal(MetadataBatch {
                        records: vec![MetadataRecord::ProducerIds {
                            broker_id: 1,
                            broker_epoch: 2,
                            next_producer_id: 3000,
                        }],
                    }),
                },
            ],
        };
        let mut out = BytesMut::new();
        encode_append(&mut out, &req).unwrap();
        let back = decode_append(&mut out.freeze()).unwrap();
        assert_eq!(back.vote, req.vote);
        assert_eq!(back.prev_log_id, req.prev_log_id);
        assert_eq!(back.leader_commit, req.leader_commit);
        assert_eq!(back.entries, req.entries);

        for r in [
            AppendEntriesResponse::Success,
            AppendEntriesResponse::PartialSuccess(lid(1, 2)),
            AppendEntriesResponse::Conflict,
            AppendEntriesResponse::HigherVote(Vote::new(9, 2)),
        ] {
            let mut out = BytesMut::new();
            encode_append_response(&mut out, &r);
            assert_eq!(decode_append_response(&mut out.freeze()).unwrap(), r);
        }
        let v = VoteRequest {
            vote: Vote::new(4, 2),
            last_log_id: lid(3, 9),
        };
        let mut out = BytesMut::new();
        encode_vote(&mut out, &v);
        assert_eq!(decode_vote(&mut out.freeze()).unwrap(), v);
        let vr = VoteResponse {
            vote: Vote::new(4, 2),
            vote_granted: true,
            last_log_id: None,
        };
        let mut out = BytesMut::new();
        encode_vote_response(&mut out, &vr);
        assert_eq!(decode_vote_response(&mut out.freeze()).unwrap(), vr);

        let s = InstallSnapshotRequest::<QuorumTypes> {
            vote: Vote::new_committed(3, 1),
            meta: SnapshotMeta {
                last_log_id: lid(3, 8),
                last_membership: StoredMembership::new(lid(3, 7), m),
                snapshot_id: "00000000000000000009-0000000003".into(),
            },
            offset: 10,
            data: vec![1, 2, 3],
            done: true,
        };
        let mut out = BytesMut::new();
        encode_snapshot(&mut out, &s).unwrap();
        assert_eq!(decode_snapshot(&mut out.freeze()).unwrap(), s);
    }

    #[test]
    fn truncated_and_huge_counts_are_refused() {
        let req = AppendEntriesRequest::<QuorumTypes> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: vec![],
        };
        let mut out = BytesMut::new();
        encode_append(&mut out, &req).unwrap();
        let full = out.freeze();
        for cut in 0..full.len() {
            assert!(decode_append(&mut full.slice(..cut)).is_err());
        }
        let mut huge = BytesMut::from(&full[..full.len() - 4]);
        huge.put_u32(u32::MAX);
        assert!(decode_append(&mut huge.freeze()).is_err());
        let mut big_term = BytesMut::new();
        encode_vote(
            &mut big_term,
            &VoteRequest {
                vote: Vote::new(u64::from(u32::MAX), 1),
                last_log_id: None,
            },
        );
        assert!(decode_vote(&mut big_term.freeze()).is_err());
    }
}
