//! Fetch responses encoded as a [`Frame`] of several chunks, each partition's record bytes
//! being a chunk of their own — the bytes mapped from the segment file, sent to the socket
//! without first being copied into a response buffer (the broker's one large copy is then the
//! kernel's, user mapping → socket).
//!
//! It writes exactly what kafka-protocol's encoder writes for versions 4–18 (the served range;
//! v13+ name topics by id; a unit test compares the two byte for byte). A response using
//! anything this encoder does not write — tagged fields, a version outside 4–18 — goes through
//! the crate's encoder instead.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::FetchResponse;

use super::codec::{encode_response, DispatchError, Frame, OWN_CHUNK_MIN};

/// Builds the chunks: small fields accumulate in `cur`, large record sets become chunks.
struct Chunks {
    parts: Vec<Bytes>,
    cur: BytesMut,
    flexible: bool,
}

impl Chunks {
    fn len_prefix(&mut self, n: usize) {
        if self.flexible {
            put_uvarint(&mut self.cur, n as u64 + 1);
        } else {
            self.cur.put_i32(n as i32);
        }
    }

    fn null(&mut self) {
        if self.flexible {
            self.cur.put_u8(0);
        } else {
            self.cur.put_i32(-1);
        }
    }

    fn string(&mut self, s: &str) {
        if self.flexible {
            put_uvarint(&mut self.cur, s.len() as u64 + 1);
        } else {
            self.cur.put_i16(s.len() as i16);
        }
        self.cur.put_slice(s.as_bytes());
    }

    fn no_tagged_fields(&mut self) {
        if self.flexible {
            self.cur.put_u8(0);
        }
    }

    fn records(&mut self, records: &Option<Bytes>) {
        match records {
            None => self.null(),
            Some(b) => {
                self.len_prefix(b.len());
                if b.len() >= OWN_CHUNK_MIN {
                    let done = self.cur.split().freeze();
                    self.parts.push(done);
                    self.parts.push(b.clone());
                } else {
                    self.cur.put_slice(b);
                }
            }
        }
    }
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Whether every field set in the response is one this encoder writes.
fn plain(resp: &FetchResponse, version: i16) -> bool {
    let plain_partition = |p: &PartitionData| {
        p.unknown_tagged_fields.is_empty()
            && p.diverging_epoch == Default::default()
            && p.current_leader == Default::default()
            && p.snapshot_id == Default::default()
            && (version >= 11 || p.preferred_read_replica == -1)
            && p.aborted_transactions
                .iter()
                .flatten()
                .all(|a| a.unknown_tagged_fields.is_empty())
    };
    (4..=18).contains(&version)
        && resp.unknown_tagged_fields.is_empty()
        && resp.node_endpoints.is_empty()
        && (version >= 7 || resp.session_id == 0)
        && resp.responses.iter().all(|t| {
            t.unknown_tagged_fields.is_empty()
                && t.topic.len() <= i16::MAX as usize
                // Only the field of the version is set (v13+: the id, before: the name).
                && (version >= 13 || t.topic_id.is_nil())
                && (version < 13 || t.topic.is_empty())
                && t.partitions.iter().all(plain_partition)
        })
}

/// Encodes a whole Fetch response frame, size prefix included.
pub fn encode(
    correlation_id: i32,
    version: i16,
    resp: &FetchResponse,
) -> Result<Frame, DispatchError> {
    if !plain(resp, version) {
        let header_version =
            kafka_protocol::messages::ApiKey::Fetch.response_header_version(version);
        return encode_response(correlation_id, header_version, resp, version).map(Frame::from);
    }
    let mut c = Chunks {
        parts: Vec::new(),
        cur: BytesMut::with_capacity(256),
        flexible: version >= 12,
    };
    c.cur.put_i32(correlation_id);
    c.no_tagged_fields(); // response header v1 from v12
    c.cur.put_i32(resp.throttle_time_ms);
    if version >= 7 {
        c.cur.put_i16(resp.error_code);
        c.cur.put_i32(resp.session_id);
    }
    c.len_prefix(resp.responses.len());
    for t in &resp.responses {
        if version >= 13 {
            c.cur.put_slice(t.topic_id.as_bytes());
        } else {
            c.string(&t.topic);
        }
        c.len_prefix(t.partitions.len());
        for p in &t.partitions {
            c.cur.put_i32(p.partition_index);
            c.cur.put_i16(p.error_code);
            c.cur.put_i64(p.high_watermark);
            c.cur.put_i64(p.last_stable_offset);
            if version >= 5 {
                c.cur.put_i64(p.log_start_offset);
            }
            match &p.aborted_transactions {
                None => c.null(),
                Some(txns) => {
                    c.len_prefix(txns.len());
                    for a in txns {
                        c.cur.put_i64(a.producer_id.0);
                        c.cur.put_i64(a.first_offset);
                        c.no_tagged_fields();
                    }
                }
            }
            if version >= 11 {
                c.cur.put_i32(p.preferred_read_replica.0);
            }
            c.records(&p.records);
            c.no_tagged_fields();
        }
        c.no_tagged_fields();
    }
    c.no_tagged_fields();
    let last = c.cur.split().freeze();
    c.parts.push(last);
    let total: usize = c.parts.iter().map(Bytes::len).sum();
    let size = i32::try_from(total)
        .map_err(|_| DispatchError::Encode(format!("fetch response of {total} bytes")))?;
    // The size prefix is a chunk of its own, known only now.
    c.parts
        .insert(0, Bytes::copy_from_slice(&size.to_be_bytes()));
    Ok(Frame(c.parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse,
    };
    use kafka_protocol::messages::{ApiKey, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn sample(big: usize) -> FetchResponse {
        let records = |n: usize, seed: u8| {
            Some(Bytes::from(
                (0..n)
                    .map(|i| (i as u8).wrapping_mul(seed))
                    .collect::<Vec<_>>(),
            ))
        };
        let part = |i: i32, r: Option<Bytes>| {
            PartitionData::default()
                .with_partition_index(i)
                .with_error_code(if i == 2 { 1 } else { 0 })
                .with_high_watermark(1000 + i as i64)
                .with_last_stable_offset(999)
                .with_log_start_offset(7)
                .with_aborted_transactions(if i == 1 { None } else { Some(vec![]) })
                .with_records(r)
        };
        let mut with_txn = part(3, records(10, 3));
        with_txn.aborted_transactions = Some(vec![AbortedTransaction::default()
            .with_producer_id(ProducerId(42))
            .with_first_offset(5)]);
        FetchResponse::default()
            .with_throttle_time_ms(3)
            .with_responses(vec![
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("alpha")))
                    .with_partitions(vec![
                        part(0, records(big, 7)),
                        part(1, None),
                        part(2, Some(Bytes::new())),
                        with_txn,
                    ]),
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("beta")))
                    .with_partitions(vec![
                        part(0, records(big + 1, 11)),
                        part(1, records(100, 1)),
                    ]),
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("")))
                    .with_partitions(vec![]),
            ])
    }

    fn crate_bytes(resp: &FetchResponse, version: i16) -> Vec<u8> {
        let hv = ApiKey::Fetch.response_header_version(version);
        encode_response(77, hv, resp, version)
            .expect("crate encodes")
            .to_vec()
    }

    #[test]
    fn same_bytes_as_the_crate_for_every_served_version() {
        for big in [0, 100, OWN_CHUNK_MIN, 200_000] {
            for version in 4..=18 {
                let mut resp = sample(big);
                if version >= 13 {
                    for t in &mut resp.responses {
                        t.topic = Default::default();
                        t.topic_id = uuid::Uuid::from_u128(0x1234_5678_9abc);
                    }
                }
                if version >= 7 {
                    resp.error_code = 0;
                    resp.session_id = 0;
                }
                let ours = encode(77, version, &resp).expect("encodes");
                // The large record set is sent from its own bytes, not a copy.
                let records = resp.responses[0].partitions[0]
                    .records
                    .clone()
                    .unwrap_or_default();
                let shared = ours
                    .0
                    .iter()
                    .any(|p| p.as_ptr() == records.as_ptr() && p.len() == big);
                assert_eq!(
                    shared,
                    big >= OWN_CHUNK_MIN,
                    "v{version}, {big} B: records kept as a chunk"
                );
                assert_eq!(
                    ours.to_vec(),
                    crate_bytes(&resp, version),
                    "v{version}, {big} B"
                );
            }
        }
    }

    #[test]
    fn tagged_fields_go_through_the_crate() {
        let mut resp = sample(OWN_CHUNK_MIN);
        resp.responses[0].partitions[0].diverging_epoch = EpochEndOffset::default().with_epoch(3);
        let ours = encode(77, 12, &resp).expect("encodes");
        assert_eq!(ours.0.len(), 1);
        assert_eq!(ours.to_vec(), crate_bytes(&resp, 12));
    }
}
