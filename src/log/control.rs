//! Transaction markers: the control batches a transaction coordinator writes to end a
//! transaction on a partition (Kafka's `EndTransactionMarker`).
//!
//! Format (Kafka's): a record batch v2 with the transactional and control attribute bits set,
//! the producer id and epoch of the transaction, base sequence −1, and one record whose key is
//! `version: i16 = 0, type: i16` (0 = ABORT, 1 = COMMIT) and whose value is
//! `version: i16 = 0, coordinatorEpoch: i32`. Clients may never produce these (the produce
//! path refuses control batches); only [`super::PartitionLog::append_control`] writes them.
//!
//! The metadata quorum writes the other control record types of Kafka's `ControlRecordType`
//! into `__cluster_metadata-0` (key `version: i16 = 0, type: i16`, value one of Kafka's
//! `*Record`/`*Message` schemas): [`LEADER_CHANGE`], [`SNAPSHOT_HEADER`], [`SNAPSHOT_FOOTER`],
//! [`KRAFT_VERSION`], [`KRAFT_VOTERS`]. Those batches are control batches without the
//! transactional bit and without a producer; this module only names and recognises them
//! (their values are encoded in `crate::quorum`).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// What a marker says about the transaction it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
}

impl ControlType {
    pub fn from_commit(commit: bool) -> ControlType {
        if commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        }
    }

    fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }
}

/// Control record type of a KRaft leader's first batch of an epoch (`LeaderChangeMessage`).
pub const LEADER_CHANGE: i16 = 2;
/// First record of a KRaft snapshot (`SnapshotHeaderRecord`).
pub const SNAPSHOT_HEADER: i16 = 3;
/// Last record of a KRaft snapshot (`SnapshotFooterRecord`).
pub const SNAPSHOT_FOOTER: i16 = 4;
/// The kraft.version feature level (`KRaftVersionRecord`).
pub const KRAFT_VERSION: i16 = 5;
/// The set of voters (`VotersRecord`).
pub const KRAFT_VOTERS: i16 = 6;

/// Kafka's name of a control record type (`ControlRecordType`), for dumps.
pub fn type_name(kind: i16) -> &'static str {
    match kind {
        0 => "ABORT",
        1 => "COMMIT",
        LEADER_CHANGE => "LEADER_CHANGE",
        SNAPSHOT_HEADER => "SNAPSHOT_HEADER",
        SNAPSHOT_FOOTER => "SNAPSHOT_FOOTER",
        KRAFT_VERSION => "KRAFT_VERSION",
        KRAFT_VOTERS => "KRAFT_VOTERS",
        _ => "UNKNOWN",
    }
}

/// The control record key `version: i16 = 0, type: i16`.
pub fn control_key(kind: i16) -> Bytes {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(kind);
    key.freeze()
}

/// The type in a control record's key; `None` when the key is too short.
pub fn key_type(key: &[u8]) -> Option<i16> {
    let mut k = key;
    if k.len() < 4 {
        return None;
    }
    let _version = k.get_i16();
    Some(k.get_i16())
}

/// The control type of a stored control batch's first record (`None` if it does not
/// decode or is not a control batch).
pub fn batch_control_type(batch: &[u8]) -> Option<i16> {
    let h = super::batch::BatchHeader::parse(batch)?;
    if !h.is_control() {
        return None;
    }
    let records = super::records::decode(batch).ok()?;
    key_type(records.first()?.key.as_deref()?)
}

/// A decoded marker record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub kind: ControlType,
    pub coordinator_epoch: i32,
}

/// A one-record control batch of magic 2, uncompressed, at offset 0 with no leader epoch
/// (the log stamps both): transaction markers here and the metadata quorum's
/// LEADER_CHANGE / KRAFT_VOTERS batches share this one encoder.
pub fn encode_control_batch(
    (producer_id, producer_epoch): (i64, i16),
    transactional: bool,
    key: Bytes,
    value: Bytes,
    timestamp: i64,
) -> Result<Bytes, String> {
    let record = Record {
        transactional,
        control: true,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: Some(key),
        value: Some(value),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        std::slice::from_ref(&record),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// The marker batch ending `producer_id`'s transaction (see the module doc).
pub fn encode_marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    kind: ControlType,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Result<Bytes, String> {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(kind.code());
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    encode_control_batch(
        (producer_id, producer_epoch),
        true,
        key.freeze(),
        value.freeze(),
        timestamp,
    )
}

/// Reads a marker record's key and value; `None` when they are not a marker.
pub fn decode_marker(key: &[u8], value: &[u8]) -> Option<Marker> {
    let (mut k, mut v) = (key, value);
    if k.len() < 4 || v.len() < 6 {
        return None;
    }
    let _version = k.get_i16();
    let kind = match k.get_i16() {
        0 => ControlType::Abort,
        1 => ControlType::Commit,
        _ => return None,
    };
    let _value_version = v.get_i16();
    Some(Marker {
        kind,
        coordinator_epoch: v.get_i32(),
    })
}

/// The marker a stored control batch carries (its first record, as Kafka reads it); `None`
/// for a batch that is not a marker — in particular one without exactly one record, which
/// is never decoded (its record count is not trusted to size anything).
pub fn read_marker(batch: &[u8]) -> Option<Marker> {
    let h = super::batch::BatchHeader::parse(batch)?;
    if !h.is_control() || h.record_count != 1 {
        return None;
    }
    let records = super::records::decode(batch).ok()?;
    let r = records.first()?;
    decode_marker(r.key.as_deref()?, r.value.as_deref()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::BatchHeader;

    #[test]
    fn marker_batches_are_kafka_shaped() {
        let b = encode_marker_batch(42, 3, ControlType::Commit, 7, 1_000).expect("encode");
        let h = BatchHeader::parse(&b).expect("header");
        assert!(h.is_control() && h.is_transactional());
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (42, 3, -1)
        );
        assert_eq!(h.record_count, 1);
        let records = crate::log::records::decode(&b).expect("decode");
        let r = &records[0];
        let m = decode_marker(
            r.key.as_deref().unwrap_or(&[]),
            r.value.as_deref().unwrap_or(&[]),
        );
        assert_eq!(
            m,
            Some(Marker {
                kind: ControlType::Commit,
                coordinator_epoch: 7
            })
        );
        assert_eq!(decode_marker(&[0, 0, 0, 9], &[0, 0, 0, 0, 0, 0]), None);
        assert_eq!(read_marker(&b), m);
        assert_eq!(batch_control_type(&b), Some(1));
        assert_eq!(key_type(&control_key(KRAFT_VOTERS)), Some(6));
        assert_eq!(type_name(LEADER_CHANGE), "LEADER_CHANGE");
    }
}
