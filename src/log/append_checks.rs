//! The checks a leader makes on a producer's batch before assigning it offsets: structure and
//! CRC, `max.message.bytes`, no control batches from clients, CreateTime bounds, a bounded
//! decompression, and keys on every record of a compacted topic. Shared by the disk log and the in-memory model so both refuse the same
//! batches with the same codes.

use crate::config::{LogConfig, TimestampType};
use crate::error::{Error, ErrorCode, Result};

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::compression::{self, InflateError};

/// Kafka's `LogValidator` rule for compacted topics: every record must have a key
/// (INVALID_RECORD otherwise), since the cleaner could never tell which value is the latest.
fn check_keys(bytes: &[u8], h: &BatchHeader, limit: usize) -> Result<()> {
    use super::cleaner::raw_records;
    let invalid = |m: String| Error::kafka(ErrorCode::InvalidRecord, m);
    let section =
        raw_records::inflate(h.compression(), &bytes[HEADER_LEN..], limit).map_err(invalid)?;
    let records = raw_records::walk(&section, h.record_count).map_err(invalid)?;
    if records.iter().any(|r| r.key.is_none()) {
        return Err(invalid(
            "Compacted topic cannot accept message without key in topic partition".into(),
        ));
    }
    Ok(())
}

/// Validates one batch as a producer sent it; returns its header.
pub fn check_producer_batch(bytes: &[u8], config: &LogConfig, now_ms: i64) -> Result<BatchHeader> {
    let h = batch::validate(bytes).map_err(|e| e.into_error())?;
    if bytes.len() > config.max_message_bytes {
        return Err(Error::kafka(
            ErrorCode::MessageTooLarge,
            format!(
                "batch of {} bytes exceeds max.message.bytes {}",
                bytes.len(),
                config.max_message_bytes
            ),
        ));
    }
    if h.is_control() {
        return Err(Error::kafka(
            ErrorCode::InvalidRecord,
            "clients may not produce control batches",
        ));
    }
    check_timestamps(&h, config, now_ms)?;
    let limit = config.max_message_bytes as u64;
    match compression::inflated_size(h.compression(), &bytes[HEADER_LEN..], limit) {
        Ok(_) if config.compact => check_keys(bytes, &h, limit as usize).map(|_| h),
        Ok(_) => Ok(h),
        Err(InflateError::TooLarge) => Err(Error::kafka(
            ErrorCode::InvalidRecord,
            format!(
                "{} batch inflates past max.message.bytes {limit}",
                h.compression_name()
            ),
        )),
        Err(InflateError::Corrupt(why)) => Err(Error::kafka(
            ErrorCode::CorruptMessage,
            format!("{} batch does not decompress: {why}", h.compression_name()),
        )),
    }
}

/// CreateTime timestamps must lie within `[now − before.max, now + after.max]`; checked on
/// the batch's first and greatest timestamps, so no record is decoded.
fn check_timestamps(h: &BatchHeader, config: &LogConfig, now_ms: i64) -> Result<()> {
    if config.timestamp_type != TimestampType::CreateTime {
        return Ok(());
    }
    let earliest = now_ms.saturating_sub(config.timestamp_before_max_ms);
    let latest = now_ms.saturating_add(config.timestamp_after_max_ms);
    for ts in [h.base_timestamp, h.max_timestamp] {
        if ts < earliest || ts > latest {
            return Err(Error::kafka(
                ErrorCode::InvalidTimestamp,
                format!("Timestamp {ts} of the batch is out of range: it must be within [{earliest}, {latest}]"),
            ));
        }
    }
    Ok(())
}

/// Splits a follower's batches (laid end to end) into validated `(position, header)` pairs,
/// checking that their offsets keep increasing from `log_end_offset`: each batch starts at or
/// after the end of the one before (the log end for the first). Gaps are allowed — a
/// compacted leader's log has them (Kafka's `appendAsFollower` checks only monotonicity) —
/// overlaps are not.
pub fn check_follower_batches(
    bytes: &[u8],
    log_end_offset: i64,
) -> Result<Vec<(usize, BatchHeader)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut expected = log_end_offset;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let h = BatchHeader::parse(rest)
            .ok_or_else(|| Error::kafka(ErrorCode::CorruptMessage, "truncated batch header"))?;
        let size = h.total_size();
        if h.batch_length < (HEADER_LEN - batch::LOG_OVERHEAD) as i32 || size > rest.len() {
            return Err(Error::kafka(
                ErrorCode::CorruptMessage,
                format!("batch at byte {pos} is cut short"),
            ));
        }
        let h = batch::validate_stored(&rest[..size]).map_err(|e| e.into_error())?;
        if h.base_offset < expected {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!(
                    "follower batch starts at offset {}, below where the log continues ({expected})",
                    h.base_offset
                ),
            ));
        }
        expected = h.last_offset() + 1;
        out.push((pos, h));
        pos += size;
    }
    Ok(out)
}
