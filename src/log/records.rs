//! Record-level encoding and decoding, for the few places that need individual records:
//! ListOffsets by timestamp (the exact record inside a batch), `dump-log --print-data`, and the
//! group coordinator's own log. The produce and fetch paths never come here.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

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

/// Encodes `(key, value)` pairs as one uncompressed record batch v2, as a producer would —
/// idempotent when `producer` gives `(producer id, epoch, first sequence)`.
pub fn encode_batch(
    entries: &[(Option<Bytes>, Option<Bytes>)],
    producer: Option<(i64, i16, i32)>,
    timestamp: i64,
) -> Result<Bytes, String> {
    encode_records(entries, producer.unwrap_or((-1, -1, -1)), false, timestamp)
}

/// Encodes `(key, value)` pairs as one uncompressed transactional record batch v2 of
/// `producer_id` at `producer_epoch` (the transactional attribute set), without a sequence
/// (−1): how a coordinator writes records that a later marker commits or aborts (Kafka's
/// TxnOffsetCommit batches in `__consumer_offsets`). Coordinator appends skip sequence checks.
pub fn encode_transactional_batch(
    entries: &[(Option<Bytes>, Option<Bytes>)],
    producer_id: i64,
    producer_epoch: i16,
    timestamp: i64,
) -> Result<Bytes, String> {
    encode_records(entries, (producer_id, producer_epoch, -1), true, timestamp)
}

fn encode_records(
    entries: &[(Option<Bytes>, Option<Bytes>)],
    (pid, epoch, seq): (i64, i16, i32),
    transactional: bool,
    timestamp: i64,
) -> Result<Bytes, String> {
    let records: Vec<Record> = entries
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional,
            control: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever offset − sequence changes, so keep it
            // constant (−1 for the first record when there is no producer).
            sequence: if seq < 0 {
                i as i32 - 1
            } else {
                seq + i as i32
            },
            timestamp,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// Calls `f` with every record of `log` from `from` on, in offset order (blocking; for the
/// internal logs replayed at start-up). A batch that does not decode stops the scan with an
/// error naming its offset: the caller decides whether that is fatal.
pub fn for_each_record(
    log: &super::partition_log::PartitionLog,
    from: i64,
    mut f: impl FnMut(Record) -> Result<(), String>,
) -> Result<(), String> {
    let mut offset = from.max(log.log_start_offset());
    while let Some(plan) = log.read_plan(offset).map_err(|e| e.to_string())? {
        let chunk = plan.read(8 << 20, true).map_err(|e| e.to_string())?;
        let mut next = offset;
        for (pos, h) in super::batch::BatchWalker::new(&chunk) {
            let records = decode(&chunk[pos..pos + h.total_size()])
                .map_err(|e| format!("batch at offset {}: {e}", h.base_offset))?;
            for r in records.into_iter().filter(|r| r.offset >= offset) {
                f(r)?;
            }
            next = h.last_offset() + 1;
        }
        if next == offset {
            break;
        }
        offset = next;
    }
    Ok(())
}
