//! Replies the codec crate cannot build, because they are for versions it no longer knows:
//!
//! - Produce v0–2 (dropped by Kafka 4 and the crate): advertised so librdkafka keeps
//!   compression on, answered per partition with UNSUPPORTED_VERSION.
//! - ApiVersions of a version newer than we know (KIP-511): a v0-encoded response with
//!   UNSUPPORTED_VERSION and our ranges, so the client can retry with one we support.
//!
//! The Produce v0–2 request is walked by hand with every length checked against the bytes
//! left; anything malformed yields `None` and the connection is closed.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiVersionsResponse;

use super::codec::{encode_response, DispatchError};

/// Kafka's UNSUPPORTED_VERSION error code.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// KIP-511: the answer to an ApiVersions request of a version we do not know — `body` (which
/// should carry UNSUPPORTED_VERSION and the served ranges) encoded at v0, so the client can
/// retry with a version we support.
pub fn api_versions_unsupported(
    correlation_id: i32,
    body: &ApiVersionsResponse,
) -> Result<BytesMut, DispatchError> {
    encode_response(correlation_id, 0, body, 0)
}

fn get_string(b: &mut Bytes) -> Option<Bytes> {
    if b.remaining() < 2 {
        return None;
    }
    let n = b.get_i16();
    if n < 0 || b.remaining() < n as usize {
        return None;
    }
    Some(b.split_to(n as usize))
}

fn get_count(b: &mut Bytes, min_item: usize) -> Option<usize> {
    if b.remaining() < 4 {
        return None;
    }
    let n = b.get_i32();
    if n < 0 || (n as usize).saturating_mul(min_item) > b.remaining() {
        return None;
    }
    Some(n as usize)
}

/// Answers a Produce v0–2 request (header already consumed) with UNSUPPORTED_VERSION for every
/// partition it names. `Ok(None)` for acks=0; an error when the body is malformed.
pub fn produce_unsupported(
    mut body: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<Option<BytesMut>, DispatchError> {
    let bad = || DispatchError::Decode("malformed Produce v0-2 request".into());
    if body.remaining() < 6 {
        return Err(bad());
    }
    let acks = body.get_i16();
    let _timeout = body.get_i32();
    let topics = get_count(&mut body, 6).ok_or_else(bad)?;
    let mut out = BytesMut::new();
    out.put_i32(0);
    out.put_i32(correlation_id);
    out.put_i32(topics as i32);
    for _ in 0..topics {
        let name = get_string(&mut body).ok_or_else(bad)?;
        out.put_i16(name.len() as i16);
        out.put_slice(&name);
        let parts = get_count(&mut body, 8).ok_or_else(bad)?;
        out.put_i32(parts as i32);
        for _ in 0..parts {
            if body.remaining() < 8 {
                return Err(bad());
            }
            let partition = body.get_i32();
            let size = body.get_i32();
            if size < 0 || body.remaining() < size as usize {
                return Err(bad());
            }
            body.advance(size as usize);
            out.put_i32(partition);
            out.put_i16(UNSUPPORTED_VERSION);
            out.put_i64(-1);
            if version >= 2 {
                out.put_i64(-1);
            }
        }
    }
    if version >= 1 {
        out.put_i32(0);
    }
    if acks == 0 {
        return Ok(None);
    }
    let size = (out.len() - 4) as i32;
    out[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_v0_gets_unsupported_per_partition() {
        let mut req = BytesMut::new();
        req.put_i16(1);
        req.put_i32(1000);
        req.put_i32(1);
        req.put_i16(1);
        req.put_slice(b"t");
        req.put_i32(1);
        req.put_i32(3);
        req.put_i32(2);
        req.put_slice(b"xx");
        let out = produce_unsupported(req.freeze(), 0, 9).unwrap().unwrap();
        // size, correlation, topics=1, name, partitions=1, partition 3, error 35, offset -1
        assert_eq!(&out[4..8], &9i32.to_be_bytes());
        let err_at = 4 + 4 + 4 + 2 + 1 + 4 + 4;
        assert_eq!(&out[err_at..err_at + 2], &35i16.to_be_bytes());
        assert!(produce_unsupported(
            Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]),
            0,
            1
        )
        .is_err());
    }
}
