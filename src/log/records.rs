//! Record-level decoding, for the few places that need individual records: ListOffsets by
//! timestamp (the exact record inside a batch) and `dump-log --print-data`. The produce and
//! fetch paths never come here.

use bytes::Bytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::batch::BatchHeader;

/// Decodes every record of one batch (decompressing it), or explains why it cannot.
pub fn decode(batch: &[u8]) -> Result<Vec<Record>, String> {
    let mut buf = Bytes::copy_from_slice(batch);
    RecordBatchDecoder::decode(&mut buf)
        .map(|set| set.records)
        .map_err(|e| e.to_string())
}

/// The first record of the batch whose timestamp is ≥ `ts`: `(offset, timestamp)`.
pub fn first_at_or_after(batch: &[u8], h: &BatchHeader, ts: i64) -> Option<(i64, i64)> {
    if h.is_log_append_time() {
        return (h.max_timestamp >= ts).then_some((h.base_offset, h.max_timestamp));
    }
    decode(batch)
        .ok()?
        .into_iter()
        .find(|r| r.timestamp >= ts)
        .map(|r| (r.offset, r.timestamp))
}
