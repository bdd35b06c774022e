//! The one look inside compressed batches that the produce path makes: how many bytes the
//! records inflate to, counted by streaming decompression into nothing and stopped as soon as
//! the limit is passed. A batch that inflates past `max.message.bytes` (a "zip bomb"), or that
//! does not decompress at all, is refused before it is stored, so no later reader (consumers,
//! ListOffsets by timestamp, `dump-log`, the group log replay) ever inflates it.
//!
//! Codecs are Kafka's: 1 gzip, 2 snappy (xerial framing, or raw snappy as the Java client also
//! accepts), 3 lz4 (frame format), 4 zstd. Records are never decoded here.

use std::io::{self, Read};

/// Why a compressed batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates past the limit.
    TooLarge,
    /// It does not decompress with its codec.
    Corrupt(String),
}

/// xerial snappy-java framing: magic, then `u32` length-prefixed raw snappy blocks.
const SNAPPY_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const SNAPPY_HEADER_LEN: usize = 16;

fn count(reader: impl Read, limit: u64) -> Result<u64, InflateError> {
    let n = io::copy(&mut reader.take(limit + 1), &mut io::sink())
        .map_err(|e| InflateError::Corrupt(e.to_string()))?;
    if n > limit {
        Err(InflateError::TooLarge)
    } else {
        Ok(n)
    }
}

fn snappy_len(block: &[u8]) -> Result<u64, InflateError> {
    snap::raw::decompress_len(block)
        .map(|n| n as u64)
        .map_err(|e| InflateError::Corrupt(e.to_string()))
}

/// Bytes the records section `data` of a batch compressed with `codec` inflates to, if at
/// most `limit`.
pub fn inflated_size(codec: i16, data: &[u8], limit: u64) -> Result<u64, InflateError> {
    match codec {
        0 => Ok(data.len() as u64),
        1 => count(flate2::read::GzDecoder::new(data), limit),
        2 => {
            // Snappy states each block's inflated length up front: sum them, decompress nothing.
            if data.len() >= SNAPPY_HEADER_LEN && data.starts_with(SNAPPY_MAGIC) {
                let mut rest = &data[SNAPPY_HEADER_LEN..];
                let mut total = 0u64;
                while !rest.is_empty() {
                    if rest.len() < 4 {
                        return Err(InflateError::Corrupt(
                            "truncated snappy block length".into(),
                        ));
                    }
                    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    if rest.len() - 4 < len {
                        return Err(InflateError::Corrupt("truncated snappy block".into()));
                    }
                    total += snappy_len(&rest[4..4 + len])?;
                    if total > limit {
                        return Err(InflateError::TooLarge);
                    }
                    rest = &rest[4 + len..];
                }
                Ok(total)
            } else {
                let n = snappy_len(data)?;
                if n > limit {
                    Err(InflateError::TooLarge)
                } else {
                    Ok(n)
                }
            }
        }
        3 => count(
            lz4::Decoder::new(data).map_err(|e| InflateError::Corrupt(e.to_string()))?,
            limit,
        ),
        4 => count(
            zstd::stream::read::Decoder::new(data)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?,
            limit,
        ),
        other => Err(InflateError::Corrupt(format!(
            "unknown compression codec {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bombs_are_stopped_at_the_limit() {
        let zeros = vec![0u8; 4 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 16 * 1024);
        assert_eq!(inflated_size(1, &gz, 1 << 20), Err(InflateError::TooLarge));
        assert_eq!(inflated_size(1, &gz, 8 << 20), Ok(4 << 20));
        let zs = zstd::encode_all(&zeros[..], 3).unwrap();
        assert_eq!(inflated_size(4, &zs, 1 << 20), Err(InflateError::TooLarge));
        let raw = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert_eq!(inflated_size(2, &raw, 1 << 20), Err(InflateError::TooLarge));
        assert_eq!(inflated_size(2, &raw, 8 << 20), Ok(4 << 20));
        // A raw snappy stream whose header claims 2 GiB.
        assert_eq!(
            inflated_size(2, &[0x80, 0x80, 0x80, 0x80, 0x08, 0], 1 << 20),
            Err(InflateError::TooLarge)
        );
        let mut lz = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz.write_all(&zeros).unwrap();
        let (lz, _) = lz.finish();
        assert_eq!(inflated_size(3, &lz, 1 << 20), Err(InflateError::TooLarge));
        assert!(matches!(
            inflated_size(1, b"not gzip", 1 << 20),
            Err(InflateError::Corrupt(_))
        ));
        assert!(matches!(
            inflated_size(6, b"", 1 << 20),
            Err(InflateError::Corrupt(_))
        ));
    }
}
