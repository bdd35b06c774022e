//! A read-only view of a record batch v2 header, and the checks a broker makes before it
//! trusts a batch.
//!
//! On-disk and wire format (big-endian), the same bytes Kafka stores:
//!
//! | pos | field                | type |
//! |-----|----------------------|------|
//! | 0   | baseOffset           | i64  |
//! | 8   | batchLength          | i32 (total size − 12) |
//! | 12  | partitionLeaderEpoch | i32  |
//! | 16  | magic                | i8 = 2 |
//! | 17  | crc                  | u32, CRC-32C of bytes [21, end) |
//! | 21  | attributes           | i16  |
//! | 23  | lastOffsetDelta      | i32  |
//! | 27  | baseTimestamp        | i64  |
//! | 35  | maxTimestamp         | i64  |
//! | 43  | producerId           | i64  |
//! | 51  | producerEpoch        | i16  |
//! | 53  | baseSequence         | i32  |
//! | 57  | recordCount          | i32, then the records (possibly compressed) |
//!
//! Nothing here decodes individual records: the produce and fetch paths never need to.

use crate::error::{Error, ErrorCode};

/// Size of the fixed batch header.
pub const HEADER_LEN: usize = 61;
/// Size of the part of the header that locates a batch (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
/// Position of the CRC field; the CRC covers everything from [`CRC_START`] on.
pub const CRC_POS: usize = 17;
pub const CRC_START: usize = 21;
pub const ATTRIBUTES_POS: usize = 21;
pub const MAX_TIMESTAMP_POS: usize = 35;
pub const LEADER_EPOCH_POS: usize = 12;

/// Attribute bits.
pub const COMPRESSION_MASK: i16 = 0x07;
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
pub const TRANSACTIONAL_BIT: i16 = 0x10;
pub const CONTROL_BIT: i16 = 0x20;
/// Set by the log cleaner: baseTimestamp holds the batch's delete horizon (KIP-534).
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// The header fields of one record batch v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Reads the header fields from the first [`HEADER_LEN`] bytes. Returns `None` when fewer
    /// bytes are given. Checks nothing else.
    pub fn parse(b: &[u8]) -> Option<BatchHeader> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(b, 0),
            batch_length: be_i32(b, 8),
            partition_leader_epoch: be_i32(b, 12),
            magic: b[16] as i8,
            crc: be_i32(b, 17) as u32,
            attributes: be_i16(b, 21),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, 35),
            producer_id: be_i64(b, 43),
            producer_epoch: be_i16(b, 51),
            base_sequence: be_i32(b, 53),
            record_count: be_i32(b, 57),
        })
    }

    /// Total size of the batch in bytes, header included. Only meaningful when
    /// `batch_length` has been checked to be at least `HEADER_LEN - LOG_OVERHEAD`.
    pub fn total_size(&self) -> usize {
        self.batch_length.max(0) as usize + LOG_OVERHEAD
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// Compression codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    pub fn compression_name(&self) -> &'static str {
        match self.compression() {
            0 => "none",
            1 => "gzip",
            2 => "snappy",
            3 => "lz4",
            4 => "zstd",
            _ => "unknown",
        }
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// The last sequence number in the batch, wrapping like Kafka at i32::MAX.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
}

/// CRC-32C over the part of a batch the CRC protects.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Why a batch was refused, mapped onto Kafka's codes by [`BatchError::into_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Shorter than a header, a length that disagrees with the bytes, or a bad CRC.
    Corrupt(String),
    /// Well-formed bytes that break a rule (wrong magic, counts that do not add up).
    Invalid(String),
}

impl BatchError {
    pub fn into_error(self) -> Error {
        match self {
            BatchError::Corrupt(m) => Error::kafka(ErrorCode::CorruptMessage, m),
            BatchError::Invalid(m) => Error::kafka(ErrorCode::InvalidRecord, m),
        }
    }
}

/// Checks the structure of one batch occupying exactly `bytes`: magic 2, a batchLength that
/// matches, a record count consistent with lastOffsetDelta, and the CRC. For a producer's
/// batch: every offset holds a record.
pub fn validate(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    validate_with(bytes, false)
}

/// [`validate`] for a batch already in a log: a batch the log cleaner rewrote may hold fewer
/// records than its offset range (none at all for a producer's retained last batch), as
/// Kafka's stored batches may.
pub fn validate_stored(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    validate_with(bytes, true)
}

fn validate_with(bytes: &[u8], stored: bool) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(bytes).ok_or_else(|| {
        BatchError::Corrupt(format!(
            "batch of {} bytes is shorter than its header",
            bytes.len()
        ))
    })?;
    if h.magic != 2 {
        return Err(BatchError::Invalid(format!(
            "unsupported magic {}",
            h.magic
        )));
    }
    if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 || h.total_size() != bytes.len() {
        return Err(BatchError::Corrupt(format!(
            "batchLength {} does not match the {} bytes received",
            h.batch_length,
            bytes.len()
        )));
    }
    let crc = compute_crc(bytes);
    if crc != h.crc {
        return Err(BatchError::Corrupt(format!(
            "CRC mismatch: batch says {:#010x}, computed {:#010x}",
            h.crc, crc
        )));
    }
    let count_ok = if stored {
        h.record_count >= 0 && h.record_count as i64 <= h.last_offset_delta as i64 + 1
    } else {
        h.record_count > 0 && h.record_count as i64 == h.last_offset_delta as i64 + 1
    };
    if !count_ok || h.last_offset_delta < 0 {
        return Err(BatchError::Invalid(format!(
            "record count {} does not match lastOffsetDelta {}",
            h.record_count, h.last_offset_delta
        )));
    }
    // Each record takes at least 7 bytes (length, attributes, deltas, key, value, headers);
    // compressed payloads are smaller, so only check uncompressed ones.
    if h.compression() == 0
        && (h.record_count as usize).saturating_mul(7) > bytes.len() - HEADER_LEN
    {
        return Err(BatchError::Corrupt(format!(
            "record count {} cannot fit in {} bytes",
            h.record_count,
            bytes.len() - HEADER_LEN
        )));
    }
    Ok(h)
}

/// Walks the batches laid end to end in a buffer, yielding `(position, header)` for each
/// complete one and stopping at the first incomplete or malformed one.
pub struct BatchWalker<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchWalker<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchWalker { buf, pos: 0 }
    }

    /// Where the walk stopped: the end of the last complete batch yielded.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchWalker<'_> {
    type Item = (usize, BatchHeader);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        let h = BatchHeader::parse(rest)?;
        if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 || h.total_size() > rest.len() {
            return None;
        }
        let at = self.pos;
        self.pos += h.total_size();
        Some((at, h))
    }
}

/// Writes the broker-assigned fields into a copy of a batch header: the base offset and the
/// partition leader epoch (outside the CRC), and for LogAppendTime the timestamp type bit and
/// maxTimestamp (inside it; the caller recomputes the CRC with [`finish_crc`]).
pub fn stamp_header(
    header: &mut [u8; HEADER_LEN],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) {
    header[0..8].copy_from_slice(&base_offset.to_be_bytes());
    header[LEADER_EPOCH_POS..LEADER_EPOCH_POS + 4].copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(ts) = log_append_time {
        let attrs = be_i16(header, ATTRIBUTES_POS) | TIMESTAMP_TYPE_BIT;
        header[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attrs.to_be_bytes());
        header[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8].copy_from_slice(&ts.to_be_bytes());
    }
}

/// Recomputes the CRC of a batch whose header was changed, given the header and the rest of
/// the batch separately (so the payload is never copied).
pub fn finish_crc(header: &mut [u8; HEADER_LEN], rest: &[u8]) {
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[CRC_START..]), rest);
    header[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal uncompressed batch with `n` empty records, for unit tests.
    pub fn sample_batch(n: i32, base_ts: i64) -> Vec<u8> {
        let mut records = Vec::new();
        for i in 0..n {
            // record: length varint, attributes, tsDelta varint, offsetDelta varint,
            // key len -1, value len 1 'x', header count 0
            let body = [0u8, 0, (i as u8) << 1, 1, 2, b'x', 0];
            records.push((body.len() as u8) << 1);
            records.extend_from_slice(&body);
        }
        let mut b = vec![0u8; HEADER_LEN];
        b.extend_from_slice(&records);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&(n - 1).to_be_bytes());
        b[27..35].copy_from_slice(&base_ts.to_be_bytes());
        b[35..43].copy_from_slice(&base_ts.to_be_bytes());
        b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
        b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
        b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        b[57..61].copy_from_slice(&n.to_be_bytes());
        let crc = compute_crc(&b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn validates_and_rejects() {
        let b = sample_batch(3, 1000);
        let h = validate(&b).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        let mut bad = b.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(validate(&bad), Err(BatchError::Corrupt(_))));
        let mut magic = b.clone();
        magic[16] = 1;
        assert!(matches!(validate(&magic), Err(BatchError::Invalid(_))));
        assert!(matches!(
            validate(&b[..b.len() - 1]),
            Err(BatchError::Corrupt(_))
        ));
    }

    #[test]
    fn stamping_keeps_crc_valid() {
        let b = sample_batch(2, 5);
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&b[..HEADER_LEN]);
        stamp_header(&mut header, 42, 0, Some(99));
        finish_crc(&mut header, &b[HEADER_LEN..]);
        let mut out = header.to_vec();
        out.extend_from_slice(&b[HEADER_LEN..]);
        let h = validate(&out).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.max_timestamp, 99);
        assert!(h.is_log_append_time());
    }

    #[test]
    fn walker_stops_at_partial_batch() {
        let mut buf = sample_batch(1, 1);
        buf.extend_from_slice(&sample_batch(2, 2));
        let full = buf.len();
        buf.extend_from_slice(&sample_batch(1, 3)[..20]);
        let mut w = BatchWalker::new(&buf);
        assert_eq!(w.by_ref().count(), 2);
        assert_eq!(w.position(), full);
    }
}
