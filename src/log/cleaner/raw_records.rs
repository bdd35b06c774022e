//! The records section of a batch as the cleaner sees it: inflated with the batch's codec,
//! walked record by record without decoding what the cleaner does not need (headers, values
//! are copied as bytes), and deflated again with the same codec.
//!
//! Record format (record batch v2, Kafka's `DefaultRecord`): `length: varint`, then `attributes:
//! i8`, `timestampDelta: varlong`, `offsetDelta: varint`, `keyLength: varint` (−1 = null) and the
//! key, `valueLength: varint` (−1 = null: a tombstone) and the value, `headerCount: varint` and
//! the headers. Varints are zigzag-encoded. Deltas are relative to the batch's base offset and
//! base timestamp.
//!
//! Codecs are Kafka's (see [`crate::log::compression`]): 1 gzip, 2 snappy (xerial framing as the
//! Java client writes it; raw snappy read too), 3 lz4 (frame format), 4 zstd. Inflation is
//! bounded by a caller-given limit, so a hostile stored batch cannot exhaust memory.
//!
//! Thread-safety: pure functions.

use std::borrow::Cow;
use std::io::{self, Read, Write};

/// One record of a batch, borrowed from the inflated records section.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    pub attributes: u8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    /// The record has a value (false: a tombstone).
    pub has_value: bool,
    /// The bytes from `keyLength` to the end of the record: key, value and headers, copied
    /// verbatim when the record is kept.
    pub tail: &'a [u8],
}

fn read_varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    // Most fields (deltas, small lengths) fit one byte.
    if let Some(&byte) = b.get(*pos) {
        if byte < 0x80 {
            *pos += 1;
            return Some(((byte >> 1) as i64) ^ -((byte & 1) as i64));
        }
    }
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<i32> {
    read_varlong(b, pos).and_then(|v| i32::try_from(v).ok())
}

/// Appends `v` zigzag-encoded as a varlong.
pub fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Reads a length-prefixed byte field (−1 = null).
fn read_bytes<'a>(b: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = read_varint(b, pos)?;
    if len < 0 {
        return Some(None);
    }
    let end = pos.checked_add(len as usize)?;
    let s = b.get(*pos..end)?;
    *pos = end;
    Some(Some(s))
}

/// Walks `count` records of an inflated records section; an error names what is malformed.
pub fn walk(section: &[u8], count: i32) -> Result<Vec<RawRecord<'_>>, String> {
    let mut out = Vec::with_capacity((count.max(0) as usize).min(section.len() / 7 + 1));
    let mut pos = 0usize;
    for i in 0..count.max(0) {
        let bad = || format!("record {i} is malformed");
        let len = read_varint(section, &mut pos).ok_or_else(bad)?;
        if len < 0 {
            return Err(bad());
        }
        let end = pos.checked_add(len as usize).ok_or_else(bad)?;
        let rec = section.get(pos..end).ok_or_else(bad)?;
        let mut p = 0usize;
        let attributes = *rec.first().ok_or_else(bad)?;
        p += 1;
        let timestamp_delta = read_varlong(rec, &mut p).ok_or_else(bad)?;
        let offset_delta = read_varint(rec, &mut p).ok_or_else(bad)?;
        let tail = &rec[p..];
        let key = read_bytes(rec, &mut p).ok_or_else(bad)?;
        let value = read_bytes(rec, &mut p).ok_or_else(bad)?;
        out.push(RawRecord {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            has_value: value.is_some(),
            tail,
        });
        pos = end;
    }
    Ok(out)
}

/// Bytes [`write_varlong`] takes for `v`.
fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends one record with a (possibly new) timestamp delta, the rest copied (written in
/// place: its length is known beforehand, nothing is allocated per record).
pub fn write_record(out: &mut Vec<u8>, r: &RawRecord<'_>, timestamp_delta: i64) {
    let len = 1 + varlong_len(timestamp_delta) + varlong_len(r.offset_delta as i64) + r.tail.len();
    out.reserve(len + 5);
    write_varlong(out, len as i64);
    out.push(r.attributes);
    write_varlong(out, timestamp_delta);
    write_varlong(out, r.offset_delta as i64);
    out.extend_from_slice(r.tail);
}

const SNAPPY_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const SNAPPY_HEADER_LEN: usize = 16;
const SNAPPY_BLOCK: usize = 32 * 1024;

fn bounded(mut r: impl Read, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    (&mut r)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > limit {
        return Err(format!("records inflate past {limit} bytes"));
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
    let n = snap::raw::decompress_len(block).map_err(|e| e.to_string())?;
    if out.len() + n > limit {
        return Err(format!("records inflate past {limit} bytes"));
    }
    let at = out.len();
    out.resize(at + n, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[at..])
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Inflates a records section compressed with `codec`, refusing more than `limit` bytes. An
/// uncompressed section is borrowed as it is, not copied.
pub fn inflate(codec: i16, data: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, String> {
    if codec == 0 {
        return Ok(Cow::Borrowed(data));
    }
    inflate_compressed(codec, data, limit).map(Cow::Owned)
}

fn inflate_compressed(codec: i16, data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    match codec {
        1 => bounded(flate2::read::GzDecoder::new(data), limit),
        2 => {
            let mut out = Vec::new();
            if data.len() >= SNAPPY_HEADER_LEN && data.starts_with(SNAPPY_MAGIC) {
                let mut rest = &data[SNAPPY_HEADER_LEN..];
                while !rest.is_empty() {
                    if rest.len() < 4 {
                        return Err("truncated snappy block length".into());
                    }
                    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    let block = rest
                        .get(4..4 + len)
                        .ok_or_else(|| "truncated snappy block".to_string())?;
                    snappy_block(block, &mut out, limit)?;
                    rest = &rest[4 + len..];
                }
            } else {
                snappy_block(data, &mut out, limit)?;
            }
            Ok(out)
        }
        3 => bounded(lz4::Decoder::new(data).map_err(|e| e.to_string())?, limit),
        4 => bounded(
            zstd::stream::read::Decoder::new(data).map_err(|e| e.to_string())?,
            limit,
        ),
        other => Err(format!("unknown compression codec {other}")),
    }
}

/// Deflates a records section with `codec`, as the producer's client would.
pub fn deflate(codec: i16, data: &[u8]) -> io::Result<Vec<u8>> {
    match codec {
        0 => Ok(data.to_vec()),
        1 => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(data)?;
            gz.finish()
        }
        2 => {
            let mut out = Vec::with_capacity(data.len() / 2 + SNAPPY_HEADER_LEN);
            out.extend_from_slice(SNAPPY_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(SNAPPY_BLOCK) {
                let block = enc.compress_vec(chunk).map_err(io::Error::other)?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        3 => {
            let mut enc = lz4::EncoderBuilder::new().build(Vec::new())?;
            enc.write_all(data)?;
            let (out, res) = enc.finish();
            res.map(|_| out)
        }
        4 => zstd::encode_all(data, 3),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown compression codec {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_round_trip() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for codec in 0..=4 {
            let z = deflate(codec, &data).unwrap();
            assert_eq!(inflate(codec, &z, 1 << 20).unwrap(), data, "codec {codec}");
            if codec != 0 {
                assert!(inflate(codec, &z, 1000).is_err(), "codec {codec} bounded");
            }
        }
    }

    #[test]
    fn varlongs_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut b = Vec::new();
            write_varlong(&mut b, v);
            let mut p = 0;
            assert_eq!(read_varlong(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
            assert_eq!(varlong_len(v), b.len(), "{v}");
        }
    }
}
