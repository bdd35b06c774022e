//! Kafka request and response frames for an outbound client: a size-prefixed frame holding a
//! request header (the api key's header version) and a body, and the reverse for responses.
//! Shared by the async peer client ([`super::Peer`]) and the blocking tool client
//! (`tools::client`), so the framing lives in one place.
//!
//! Raw frames (any api key, gregor's private ones included) and typed ones (any request of
//! the kafka-protocol crate) are both supported. A private api key (unknown to the crate)
//! uses request header v1 and response header v0.
//!
//! Thread-safety: pure functions.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

/// The request and response header versions of `api_key` at `version` (private keys: 1, 0).
pub fn header_versions(api_key: i16, version: i16) -> (i16, i16) {
    match ApiKey::try_from(api_key) {
        Ok(k) => (
            k.request_header_version(version),
            k.response_header_version(version),
        ),
        Err(_) => (1, 0),
    }
}

/// A whole request frame (size prefix included) around an already encoded `body`.
pub fn request_frame(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
) -> Result<Bytes, String> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut buf = BytesMut::with_capacity(body.len() + 64);
    buf.put_i32(0);
    header
        .encode(&mut buf, header_versions(api_key, version).0)
        .map_err(|e| e.to_string())?;
    buf.extend_from_slice(body);
    let size = i32::try_from(buf.len() - 4).map_err(|_| "request too large".to_string())?;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// The body of a typed request at `version`.
pub fn encode_body<R: Request>(req: &R, version: i16) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    req.encode(&mut buf, version).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// Splits a response frame (size prefix removed) into its correlation id and body.
pub fn response_body(api_key: i16, version: i16, mut frame: Bytes) -> Result<(i32, Bytes), String> {
    let header = ResponseHeader::decode(&mut frame, header_versions(api_key, version).1)
        .map_err(|e| format!("response header: {e}"))?;
    Ok((header.correlation_id, frame))
}

/// Decodes a typed response body, refusing trailing bytes.
pub fn decode_body<R: Request>(mut body: Bytes, version: i16) -> Result<R::Response, String> {
    let resp = <R::Response as Decodable>::decode(&mut body, version).map_err(|e| e.to_string())?;
    if body.has_remaining() {
        return Err(format!(
            "{} trailing bytes in the response",
            body.remaining()
        ));
    }
    Ok(resp)
}

/// The size a frame announces, if it is within `0..=max`.
pub fn checked_size(prefix: [u8; 4], max: usize) -> Result<usize, String> {
    let size = i32::from_be_bytes(prefix);
    match usize::try_from(size) {
        Ok(s) if s <= max => Ok(s),
        _ => Err(format!("response frame of {size} bytes (limit {max})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

    #[test]
    fn frames_round_trip() {
        let body = encode_body(&ApiVersionsRequest::default(), 3).unwrap();
        let f = request_frame(18, 3, 7, "gregor-1", &body).unwrap();
        assert_eq!(
            checked_size(f[0..4].try_into().unwrap(), 1 << 20).unwrap(),
            f.len() - 4
        );
        let mut resp = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut resp, 0)
            .unwrap();
        ApiVersionsResponse::default().encode(&mut resp, 3).unwrap();
        let (c, b) = response_body(18, 3, resp.freeze()).unwrap();
        assert_eq!(c, 7);
        decode_body::<ApiVersionsRequest>(b, 3).unwrap();
        assert!(checked_size((-1i32).to_be_bytes(), 10).is_err());
        assert!(checked_size(11i32.to_be_bytes(), 10).is_err());
        assert_eq!(header_versions(32000, 0), (1, 0));
    }
}
