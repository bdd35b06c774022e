//! Request header decoding and response encoding around the kafka-protocol crate.
//!
//! A response frame is `size: i32` + response header (correlation id, plus an empty tagged
//! field section for flexible versions) + body, encoded at the request's version.

use std::future::Future;
use std::pin::Pin;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;

/// An encoded response frame, size prefix included, as one or more chunks written in order.
/// Most responses are one chunk; a Fetch response keeps large record sets as chunks of their
/// own (mapped from the segment files) so they reach the socket without an extra copy.
#[derive(Debug, Default)]
pub struct Frame(pub Vec<Bytes>);

/// Chunks at least this large stay chunks of their own: the encoder does not copy them into
/// the response and the connection writes them directly instead of into its output buffer.
/// Below it, copying costs less than another write.
pub const OWN_CHUNK_MIN: usize = 16 * 1024;

impl Frame {
    /// Total bytes of the frame.
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    /// The frame as one contiguous buffer (tests and diagnostics).
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.concat()
    }
}

impl From<BytesMut> for Frame {
    fn from(b: BytesMut) -> Self {
        Frame(vec![b.freeze()])
    }
}

/// A response frame still to come: the request's effects are done, only its answer waits.
pub type LaterFrame =
    Pin<Box<dyn Future<Output = Result<Option<Frame>, DispatchError>> + Send + 'static>>;

/// What serving a request gives the connection: the response frame now (`None`: no response
/// is due), or [`LaterFrame`] — an acks=all Produce whose batches are appended and which waits
/// for the high watermark only, so the connection may append the next Produce meanwhile
/// (docs/design/replication.md, "Pipelined acks=all").
pub enum Answer {
    Now(Option<Frame>),
    Later(LaterFrame),
}

impl Answer {
    /// The response frame, waiting for it if it comes later.
    pub async fn resolve(self) -> Result<Option<Frame>, DispatchError> {
        match self {
            Answer::Now(frame) => Ok(frame),
            Answer::Later(later) => later.await,
        }
    }
}

impl From<Option<Frame>> for Answer {
    fn from(frame: Option<Frame>) -> Answer {
        Answer::Now(frame)
    }
}

/// Why a request could not be served; every variant closes the connection, as Kafka does.
#[derive(Debug)]
pub enum DispatchError {
    /// An api key gregor does not serve.
    UnknownApi(i16),
    /// A version outside the served range (other than the cases answered with an error).
    UnsupportedVersion(ApiKey, i16),
    /// An api not exposed on the listener the request came in on (a controller listener
    /// serves controller APIs only); Kafka closes the connection.
    NotEnabled(ApiKey, i16),
    /// The request body did not decode.
    Decode(String),
    /// The response did not encode (a bug, logged loudly).
    Encode(String),
    /// A test's fault rule closes the connection (`router::faults`).
    Dropped,
    /// The connection's authenticated session expired (KIP-368): Kafka closes it without an
    /// answer, logging at debug level only.
    SessionExpired,
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DispatchError::UnknownApi(k) => write!(f, "unknown or unsupported api key {k}"),
            DispatchError::UnsupportedVersion(k, v) => {
                write!(f, "unsupported version {v} of {k:?}")
            }
            DispatchError::NotEnabled(k, v) => write!(
                f,
                "Received request api key {k:?} with version {v} which is not enabled on this listener"
            ),
            DispatchError::Decode(e) => write!(f, "undecodable request: {e}"),
            DispatchError::Dropped => f.write_str("dropped by a fault rule"),
            DispatchError::SessionExpired => f.write_str(
                "a request came after the authenticated session expired (connections.max.reauth.ms or the credential's lifetime)",
            ),
            DispatchError::Encode(e) => write!(f, "response encoding failed: {e}"),
        }
    }
}

/// The api key, version and correlation id at the start of every request header, read
/// without decoding anything else. `None` when the frame is shorter than 8 bytes.
pub fn peek_header(frame: &[u8]) -> Option<(i16, i16, i32)> {
    if frame.len() < 8 {
        return None;
    }
    Some((
        i16::from_be_bytes([frame[0], frame[1]]),
        i16::from_be_bytes([frame[2], frame[3]]),
        i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    ))
}

/// Encodes a whole response frame, size prefix included.
pub fn encode_response<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &R,
    version: i16,
) -> Result<BytesMut, DispatchError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    // Sized once: growing a buffer by doubling copies a large response several times.
    let body_size = body.compute_size(version).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(16 + body_size);
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| DispatchError::Encode(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| DispatchError::Encode(e.to_string()))?;
    let size = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}
