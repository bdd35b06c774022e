//! Rewriting one stored batch with only the records the cleaner keeps — Kafka's
//! `MemoryRecords.filterTo` for record batch v2.
//!
//! Rules (Kafka's):
//! - [`Retention::Delete`] drops the batch unread (aborted data, markers past their horizon).
//! - A batch whose records all survive, and that needs no delete horizon, is copied byte for
//!   byte.
//! - Otherwise the survivors are written as a new batch with the same base offset, partition
//!   leader epoch, producer id, epoch, base sequence, transactional/control/timestamp-type
//!   attributes and codec, and the *original* lastOffsetDelta (so the producer's last sequence
//!   and the log's offsets are kept), with a fresh CRC. Records keep their offset deltas and
//!   absolute timestamps; maxTimestamp is recomputed over the survivors (CreateTime).
//! - A batch keeping a tombstone, or a marker whose transaction is empty, gets a delete horizon
//!   the first time: attribute bit 0x40 set and the horizon (`now + delete.retention.ms`) in
//!   baseTimestamp, record timestamp deltas rebased on it. A horizon once set is kept.
//! - A batch left with no record is dropped unless [`Retention::RetainEmpty`]: then only its
//!   header stays (`writeEmptyHeader`: no codec, baseTimestamp −1, the original maxTimestamp,
//!   lastOffsetDelta and sequence, recordCount 0), which keeps a producer's last sequence and
//!   epoch in the log.
//!
//! Thread-safety: pure functions.

use super::raw_records::{self, RawRecord};
use crate::log::batch::{
    BatchHeader, COMPRESSION_MASK, CONTROL_BIT, CRC_POS, HEADER_LEN, LOG_OVERHEAD,
    TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT,
};

pub use crate::log::batch::DELETE_HORIZON_BIT;

/// The batch's delete horizon, if one was set by an earlier cleaning.
pub fn delete_horizon(h: &BatchHeader) -> Option<i64> {
    (h.attributes & DELETE_HORIZON_BIT != 0).then_some(h.base_timestamp)
}

/// What happens to a batch whose records are all removed (Kafka's `BatchRetention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Drop the whole batch without looking at its records.
    Delete,
    /// Drop the batch if no record survives.
    DeleteEmpty,
    /// Keep the header even if no record survives.
    RetainEmpty,
}

/// The result of filtering one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filtered {
    Dropped,
    /// Every record survives: copy the stored bytes.
    Original,
    /// The new bytes of the batch, and whether a delete horizon was set by this rewrite.
    Rewritten {
        bytes: Vec<u8>,
        horizon_set: bool,
    },
}

/// The clock and limits of one filtering.
#[derive(Debug, Clone, Copy)]
pub struct FilterParams {
    pub now_ms: i64,
    /// `delete.retention.ms`: a new delete horizon is `now_ms` plus this.
    pub delete_retention_ms: i64,
    /// Most bytes the records may inflate to.
    pub inflate_limit: usize,
}

/// Filters one stored batch (`batch`: its whole bytes, `h`: its header). `keep` decides for a
/// data record at `offset`; control records survive unless `retention` is `Delete`.
/// `empty_txn_marker`: the batch is a marker whose transaction has no data left (it gets a
/// horizon like a tombstone). Fails on a batch whose records do not decode.
pub fn filter_batch(
    batch: &[u8],
    h: &BatchHeader,
    retention: Retention,
    empty_txn_marker: bool,
    params: &FilterParams,
    keep: impl FnMut(&RawRecord<'_>, i64) -> bool,
) -> Result<Filtered, String> {
    let prepare = |_: &[RawRecord<'_>]| {};
    filter_batch_prepared(batch, h, retention, empty_txn_marker, params, prepare, keep)
}

/// [`filter_batch`], calling `prepare` with all the batch's records before `keep` is asked
/// about any (the pass prefetches their offset-map slots there).
pub fn filter_batch_prepared(
    batch: &[u8],
    h: &BatchHeader,
    retention: Retention,
    empty_txn_marker: bool,
    params: &FilterParams,
    mut prepare: impl FnMut(&[RawRecord<'_>]),
    mut keep: impl FnMut(&RawRecord<'_>, i64) -> bool,
) -> Result<Filtered, String> {
    if retention == Retention::Delete {
        return Ok(Filtered::Dropped);
    }
    let body = batch.get(HEADER_LEN..).ok_or("short batch")?;
    let section = raw_records::inflate(h.compression(), body, params.inflate_limit)?;
    let records = raw_records::walk(&section, h.record_count)?;
    prepare(&records);
    let mut kept = Vec::with_capacity(records.len());
    let mut tombstones = false;
    for r in &records {
        let offset = h.base_offset + r.offset_delta as i64;
        if h.is_control() || keep(r, offset) {
            tombstones |= !r.has_value && !h.is_control();
            kept.push(*r);
        }
    }
    if kept.is_empty() {
        return Ok(match retention {
            Retention::RetainEmpty => Filtered::Rewritten {
                bytes: empty_batch(h),
                horizon_set: false,
            },
            _ => Filtered::Dropped,
        });
    }
    let horizon = delete_horizon(h);
    let set_horizon = (tombstones || empty_txn_marker) && horizon.is_none();
    if kept.len() == records.len() && !set_horizon {
        return Ok(Filtered::Original);
    }
    let base_ts = if set_horizon {
        params.now_ms.saturating_add(params.delete_retention_ms)
    } else {
        h.base_timestamp
    };
    // Uncompressed survivors are written straight after the header; compressed ones into a
    // section that is then deflated.
    let mut out = Vec::with_capacity(batch.len());
    out.resize(HEADER_LEN, 0);
    let mut section = Vec::new();
    let records_out = if h.compression() == 0 {
        &mut out
    } else {
        section.reserve(body.len());
        &mut section
    };
    let mut max_ts = i64::MIN;
    for r in &kept {
        let ts = h.base_timestamp.saturating_add(r.timestamp_delta);
        max_ts = max_ts.max(ts);
        raw_records::write_record(records_out, r, ts.saturating_sub(base_ts));
    }
    if h.is_log_append_time() {
        max_ts = h.max_timestamp;
    }
    if h.compression() != 0 {
        let payload = raw_records::deflate(h.compression(), &section).map_err(|e| e.to_string())?;
        out.extend_from_slice(&payload);
    }
    let mut attrs = h.attributes;
    if set_horizon {
        attrs |= DELETE_HORIZON_BIT;
    }
    HeaderFields {
        attributes: attrs,
        base_timestamp: base_ts,
        max_timestamp: max_ts,
        record_count: kept.len() as i32,
    }
    .write_into(h, &mut out);
    Ok(Filtered::Rewritten {
        bytes: out,
        horizon_set: set_horizon,
    })
}

/// The header fields a rewrite changes.
struct HeaderFields {
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    record_count: i32,
}

impl HeaderFields {
    /// Fills in the header of `batch` (its first [`HEADER_LEN`] bytes, the records after
    /// them) as a batch v2 with `h`'s identity fields and these, then the CRC.
    fn write_into(&self, h: &BatchHeader, batch: &mut [u8]) {
        let len = (batch.len() - LOG_OVERHEAD) as i32;
        let mut b = Vec::with_capacity(HEADER_LEN);
        b.extend_from_slice(&h.base_offset.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&h.partition_leader_epoch.to_be_bytes());
        b.push(2);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&self.attributes.to_be_bytes());
        b.extend_from_slice(&h.last_offset_delta.to_be_bytes());
        b.extend_from_slice(&self.base_timestamp.to_be_bytes());
        b.extend_from_slice(&self.max_timestamp.to_be_bytes());
        b.extend_from_slice(&h.producer_id.to_be_bytes());
        b.extend_from_slice(&h.producer_epoch.to_be_bytes());
        b.extend_from_slice(&h.base_sequence.to_be_bytes());
        b.extend_from_slice(&self.record_count.to_be_bytes());
        batch[..HEADER_LEN].copy_from_slice(&b);
        let crc = crate::log::batch::compute_crc(batch);
        batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Kafka's `writeEmptyHeader`: the batch's identity and offsets without records.
fn empty_batch(h: &BatchHeader) -> Vec<u8> {
    let keep = TIMESTAMP_TYPE_BIT | TRANSACTIONAL_BIT | CONTROL_BIT;
    let mut b = vec![0; HEADER_LEN];
    HeaderFields {
        attributes: h.attributes & keep & !COMPRESSION_MASK,
        base_timestamp: -1,
        max_timestamp: h.max_timestamp,
        record_count: 0,
    }
    .write_into(h, &mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch;
    use bytes::Bytes;

    fn p(now_ms: i64, delete_retention_ms: i64) -> FilterParams {
        FilterParams {
            now_ms,
            delete_retention_ms,
            inflate_limit: 1 << 20,
        }
    }

    fn keyed(entries: &[(&str, Option<&str>)], producer: Option<(i64, i16, i32)>) -> Vec<u8> {
        let e: Vec<_> = entries
            .iter()
            .map(|(k, v)| {
                (
                    Some(Bytes::copy_from_slice(k.as_bytes())),
                    v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                )
            })
            .collect();
        let mut b = crate::log::records::encode_batch(&e, producer, 1_000)
            .unwrap()
            .to_vec();
        b[0..8].copy_from_slice(&100i64.to_be_bytes());
        b
    }

    #[test]
    fn copies_rewrites_and_sets_horizons() {
        let b = keyed(
            &[("a", Some("1")), ("b", Some("2")), ("a", None)],
            Some((7, 1, 10)),
        );
        let h = batch::validate(&b).unwrap();
        let all = filter_batch(
            &b,
            &h,
            Retention::DeleteEmpty,
            false,
            &p(5_000, 100),
            |_, _| true,
        )
        .unwrap();
        assert!(
            matches!(
                all,
                Filtered::Rewritten {
                    horizon_set: true,
                    ..
                }
            ),
            "a tombstone needs a horizon"
        );
        let b = keyed(&[("a", Some("1")), ("b", Some("2"))], Some((7, 1, 10)));
        let h2 = batch::validate(&b).unwrap();
        let all = filter_batch(
            &b,
            &h2,
            Retention::DeleteEmpty,
            false,
            &p(5_000, 100),
            |_, _| true,
        )
        .unwrap();
        assert_eq!(all, Filtered::Original);
        let b = keyed(
            &[("a", Some("1")), ("b", Some("2")), ("a", None)],
            Some((7, 1, 10)),
        );
        // Drop the first record: offsets, sequence and lastOffsetDelta stay.
        let out = filter_batch(
            &b,
            &h,
            Retention::DeleteEmpty,
            false,
            &p(5_000, 100),
            |_, o| o != 100,
        )
        .unwrap();
        let Filtered::Rewritten { bytes, horizon_set } = out else {
            panic!("{out:?}")
        };
        assert!(horizon_set, "the kept tombstone sets a horizon");
        let nh = batch::BatchHeader::parse(&bytes).unwrap();
        assert_eq!(batch::compute_crc(&bytes), nh.crc);
        assert_eq!(
            (nh.base_offset, nh.last_offset_delta, nh.record_count),
            (100, 2, 2)
        );
        assert_eq!(
            (nh.producer_id, nh.producer_epoch, nh.base_sequence),
            (7, 1, 10)
        );
        assert_eq!(delete_horizon(&nh), Some(5_100));
        let recs = crate::log::records::decode(&bytes).unwrap();
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.offset, r.timestamp, r.value.is_some()))
            .collect();
        assert_eq!(got, vec![(101, 1_000, true), (102, 1_000, false)]);
        // Nothing kept: dropped, or an empty header for a producer's last batch.
        assert_eq!(
            filter_batch(&b, &h, Retention::DeleteEmpty, false, &p(0, 0), |_, _| {
                false
            })
            .unwrap(),
            Filtered::Dropped
        );
        let Filtered::Rewritten { bytes, .. } =
            filter_batch(&b, &h, Retention::RetainEmpty, false, &p(0, 0), |_, _| {
                false
            })
            .unwrap()
        else {
            panic!()
        };
        let eh = batch::BatchHeader::parse(&bytes).unwrap();
        assert_eq!(
            (eh.record_count, eh.last_offset_delta, eh.base_sequence),
            (0, 2, 10)
        );
        assert_eq!(eh.last_sequence(), 12);
        assert_eq!(bytes.len(), HEADER_LEN);
    }

    #[test]
    fn compressed_batches_are_recompressed() {
        use kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let records: Vec<Record> = (0..5)
                .map(|i| Record {
                    transactional: false,
                    control: false,
                    partition_leader_epoch: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TimestampType::Creation,
                    offset: i,
                    sequence: i as i32 - 1,
                    timestamp: 50 + i,
                    key: Some(Bytes::from(format!("k{}", i % 2))),
                    value: Some(Bytes::from(format!("v{i}"))),
                    headers: Default::default(),
                    delete_horizon: false,
                })
                .collect();
            let mut buf = bytes::BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                &records,
                &RecordEncodeOptions {
                    version: 2,
                    compression,
                },
            )
            .unwrap();
            let h = batch::validate(&buf).unwrap();
            let out = filter_batch(&buf, &h, Retention::DeleteEmpty, false, &p(0, 0), |_, o| {
                o >= 3
            })
            .unwrap();
            let Filtered::Rewritten { bytes, .. } = out else {
                panic!()
            };
            let nh = batch::BatchHeader::parse(&bytes).unwrap();
            assert_eq!(nh.compression(), h.compression());
            let got: Vec<_> = crate::log::records::decode(&bytes)
                .unwrap()
                .into_iter()
                .map(|r| (r.offset, r.timestamp, r.value.unwrap()))
                .collect();
            assert_eq!(
                got,
                vec![(3, 53, Bytes::from("v3")), (4, 54, Bytes::from("v4"))]
            );
            assert_eq!(nh.max_timestamp, 54);
        }
    }
}
