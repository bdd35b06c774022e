//! The records the transaction coordinator writes to `__transaction_state`, in Kafka's
//! layouts (`TransactionLogKey.json`, `TransactionLogValue.json`), so that a Kafka tool
//! reading the topic sees what Kafka would have written.
//!
//! - Key: `type: i16 = 0` (the coordinator record type, which is also key version 0), then
//!   `TransactionalId: string` (i16 length + UTF-8).
//! - Value v0: `version: i16 = 0, ProducerId: i64, ProducerEpoch: i16,
//!   TransactionTimeoutMs: i32, TransactionStatus: i8, TransactionPartitions: nullable
//!   [Topic: string, PartitionIds: [i32]] (i32 counts, −1 = null),
//!   TransactionLastUpdateTimestampMs: i64, TransactionStartTimestampMs: i64`.
//! - Value v1 (flexible): the same fields with compact strings and arrays (unsigned varint
//!   length + 1, 0 = null), an empty tagged-field section after each partitions entry, and
//!   the value's tagged fields at the end: 0 = PreviousProducerId (i64), 1 = NextProducerId
//!   (i64), 2 = ClientTransactionVersion (i16); a tag is written only when it differs from
//!   its default (−1, −1, 0); unknown tags are skipped when reading.
//! - A null value (tombstone) removes the transactional id (it expired).
//!
//! Kafka writes v1 only once `transaction.version` 2 is finalized; gregor does not finalize
//! it, so it writes v0 ([`WRITE_VERSION`]) and reads both. Partitions are stored as null
//! when the state is Empty, and ignored for Empty when read, as Kafka does.

use crate::protocol::reader::Reader;
use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::state::{TransactionMetadata, TxnState, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use crate::coordinator::log::RecordBytes;
use crate::coordinator::runtime::CoordinatorRecord;

/// The value version gregor writes (see the module doc).
pub const WRITE_VERSION: i16 = 0;

/// One record of `__transaction_state`: a transactional id and its metadata, or its tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    pub transactional_id: String,
    pub value: Option<TransactionMetadata>,
}

fn put_str(b: &mut BytesMut, s: &str) {
    let n = s.len().min(i16::MAX as usize);
    b.put_i16(n as i16);
    b.put_slice(&s.as_bytes()[..n]);
}

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// Partitions grouped by topic, as the value stores them.
fn by_topic(m: &TransactionMetadata) -> BTreeMap<&str, Vec<i32>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in &m.partitions {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    topics
}

/// The value bytes of `m` in `version` (0 or 1; see the module doc).
pub fn encode_value(m: &TransactionMetadata, version: i16) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(version);
    b.put_i64(m.producer_id);
    b.put_i16(m.producer_epoch);
    b.put_i32(m.timeout_ms);
    b.put_i8(m.state.id());
    let topics = (m.state != TxnState::Empty).then(|| by_topic(m));
    if version == 0 {
        match &topics {
            None => b.put_i32(-1),
            Some(topics) => {
                b.put_i32(topics.len() as i32);
                for (t, ps) in topics {
                    put_str(&mut b, t);
                    b.put_i32(ps.len() as i32);
                    ps.iter().for_each(|p| b.put_i32(*p));
                }
            }
        }
    } else {
        match &topics {
            None => put_uvarint(&mut b, 0),
            Some(topics) => {
                put_uvarint(&mut b, topics.len() as u64 + 1);
                for (t, ps) in topics {
                    put_uvarint(&mut b, t.len() as u64 + 1);
                    b.put_slice(t.as_bytes());
                    put_uvarint(&mut b, ps.len() as u64 + 1);
                    ps.iter().for_each(|p| b.put_i32(*p));
                    put_uvarint(&mut b, 0);
                }
            }
        }
    }
    b.put_i64(m.last_update_ms);
    b.put_i64(m.start_ms);
    if version >= 1 {
        let mut tags: Vec<(u64, Vec<u8>)> = Vec::new();
        if m.prev_producer_id != NO_PRODUCER_ID {
            tags.push((0, m.prev_producer_id.to_be_bytes().to_vec()));
        }
        if m.next_producer_id != NO_PRODUCER_ID {
            tags.push((1, m.next_producer_id.to_be_bytes().to_vec()));
        }
        if m.client_txn_version != 0 {
            tags.push((2, m.client_txn_version.to_be_bytes().to_vec()));
        }
        put_uvarint(&mut b, tags.len() as u64);
        for (tag, data) in tags {
            put_uvarint(&mut b, tag);
            put_uvarint(&mut b, data.len() as u64);
            b.put_slice(&data);
        }
    }
    b.freeze()
}

/// Parses a value written by Kafka or by [`encode_value`].
pub fn decode_value(value: Bytes) -> Result<TransactionMetadata, String> {
    let mut r = Reader(value);
    let version = r.i16()?;
    if !(0..=1).contains(&version) {
        return Err(format!("unknown transaction log value version {version}"));
    }
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let status = r.i8()?;
    let state = TxnState::from_id(status).ok_or(format!("unknown transaction status {status}"))?;
    let mut partitions = std::collections::BTreeSet::new();
    let topics = if version == 0 {
        let n = r.i32()?;
        r.count(n.into(), 6)?
    } else {
        let n = r.compact_len()?;
        r.count(n, 3)?
    };
    for _ in 0..topics.unwrap_or(0) {
        let topic = if version == 0 {
            r.str()?
        } else {
            r.compact_str()?
        };
        let count = if version == 0 {
            let n = r.i32()?;
            r.count(n.into(), 4)?
        } else {
            let n = r.compact_len()?;
            r.count(n, 4)?
        };
        for _ in 0..count.unwrap_or(0) {
            partitions.insert((topic.clone(), r.i32()?));
        }
        if version >= 1 {
            skip_tags(&mut r)?;
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    let mut m = TransactionMetadata {
        producer_id,
        prev_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms,
        state,
        partitions: if state == TxnState::Empty {
            Default::default()
        } else {
            partitions
        },
        start_ms,
        last_update_ms,
        client_txn_version: 0,
    };
    if version >= 1 {
        let n = r.uvarint()?;
        for _ in 0..n {
            let tag = r.uvarint()?;
            let size = usize::try_from(r.uvarint()?).map_err(|e| e.to_string())?;
            let mut data = Reader(r.take(size)?);
            match tag {
                0 => m.prev_producer_id = data.i64()?,
                1 => m.next_producer_id = data.i64()?,
                2 => m.client_txn_version = data.i16()?,
                _ => {}
            }
        }
    }
    Ok(m)
}

fn skip_tags(r: &mut Reader) -> Result<(), String> {
    for _ in 0..r.uvarint()? {
        r.uvarint()?;
        let size = usize::try_from(r.uvarint()?).map_err(|e| e.to_string())?;
        r.take(size)?;
    }
    Ok(())
}

impl CoordinatorRecord for TxnRecord {
    fn encode(&self) -> RecordBytes {
        let mut k = BytesMut::with_capacity(4 + self.transactional_id.len());
        k.put_i16(0);
        put_str(&mut k, &self.transactional_id);
        let v = self.value.as_ref().map(|m| encode_value(m, WRITE_VERSION));
        (k.freeze(), v)
    }

    fn decode(key: Bytes, value: Option<Bytes>) -> Result<Self, String> {
        let mut k = Reader(key);
        let version = k.i16()?;
        if version != 0 {
            return Err(format!("unknown transaction log key version {version}"));
        }
        let transactional_id = k.str()?;
        let value = value.map(decode_value).transpose()?;
        Ok(TxnRecord {
            transactional_id,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> TransactionMetadata {
        let mut m = TransactionMetadata::new(1234, 60_000, 10);
        m.producer_epoch = 3;
        m.state = TxnState::Ongoing;
        m.partitions = [("a".to_string(), 0), ("a".to_string(), 2), ("b".into(), 1)].into();
        m.start_ms = 11;
        m.last_update_ms = 12;
        m
    }

    #[test]
    fn v0_bytes_are_kafkas_layout() {
        let m = ongoing();
        let v = encode_value(&m, 0);
        let mut expected = BytesMut::new();
        expected.put_i16(0);
        expected.put_i64(1234);
        expected.put_i16(3);
        expected.put_i32(60_000);
        expected.put_i8(1);
        expected.put_i32(2);
        expected.put_i16(1);
        expected.put_slice(b"a");
        expected.put_i32(2);
        expected.put_i32(0);
        expected.put_i32(2);
        expected.put_i16(1);
        expected.put_slice(b"b");
        expected.put_i32(1);
        expected.put_i32(1);
        expected.put_i64(12);
        expected.put_i64(11);
        assert_eq!(v, expected.freeze());
        assert_eq!(decode_value(v).unwrap(), m);
    }

    #[test]
    fn v1_round_trips_with_tagged_fields() {
        let mut m = ongoing();
        m.prev_producer_id = 99;
        m.client_txn_version = 2;
        let v = encode_value(&m, 1);
        assert_eq!(&v[..2], &[0, 1]);
        assert_eq!(decode_value(v.clone()).unwrap(), m);
        // The Empty state stores null partitions, in either version.
        let mut empty = ongoing();
        empty.state = TxnState::Empty;
        for version in [0, 1] {
            let back = decode_value(encode_value(&empty, version)).unwrap();
            assert!(back.partitions.is_empty());
        }
        // A truncated value is an error, never a panic.
        for cut in 0..v.len() {
            assert!(decode_value(v.slice(..cut)).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn records_and_tombstones_round_trip() {
        for r in [
            TxnRecord {
                transactional_id: "tx-1".into(),
                value: Some(ongoing()),
            },
            TxnRecord {
                transactional_id: "tx-1".into(),
                value: None,
            },
        ] {
            let (k, v) = r.encode();
            assert_eq!(&k[..], b"\x00\x00\x00\x04tx-1");
            assert_eq!(TxnRecord::decode(k, v).unwrap(), r);
        }
        assert!(TxnRecord::decode(Bytes::from_static(&[0, 1, 0, 0]), None).is_err());
    }
}
