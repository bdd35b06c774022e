//! What a peer connection runs over: a plain TCP stream, or whatever a [`Connector`] makes
//! of one (TLS, then SASL authentication, for a secured inter-broker or controller listener).
//!
//! Why a seam here: `peer` knows nothing of gregor's security module (layering), yet replica
//! fetchers, forwarding, broker registration and the quorum's Raft RPCs must reach SSL and
//! SASL_SSL listeners. The composition (`broker::peer_security`) builds a connector from the
//! node's configuration and puts it in [`super::PeerSettings`]; every peer made with those
//! settings runs it on each new TCP connection before the first request. A connector may send
//! Kafka requests of its own on the fresh stream (SaslHandshake, SaslAuthenticate) with
//! [`request_on`], which frames and checks them as the peer does.
//!
//! Thread-safety: connectors are shared (`Send + Sync`); a stream belongs to one peer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frame;

/// A connected byte stream to another node, with the TCP socket under it (to see whether an
/// idle connection was closed by the other side).
pub trait PeerStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {
    fn tcp(&self) -> &TcpStream;
}

impl PeerStream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// The future a [`Connector`] returns: the ready stream, or why the connection is unusable
/// (a message naming no secret).
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Box<dyn PeerStream>, String>> + Send + 'a>>;

/// Turns a fresh TCP connection to `host` into a ready stream (see the module doc).
pub trait Connector: Send + Sync + fmt::Debug {
    fn connect<'a>(
        &'a self,
        tcp: TcpStream,
        host: &'a str,
        client_id: &'a str,
    ) -> ConnectFuture<'a>;
}

/// Writes a whole request frame and reads one response frame (size prefix removed), the
/// announced size bounded by `max_frame` before anything is allocated.
pub async fn round_trip<S>(
    stream: &mut S,
    request: &[u8],
    max_frame: usize,
) -> Result<Bytes, RoundTripError>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    stream
        .write_all(request)
        .await
        .map_err(RoundTripError::Io)?;
    let mut prefix = [0u8; 4];
    stream
        .read_exact(&mut prefix)
        .await
        .map_err(RoundTripError::Io)?;
    let size = frame::checked_size(prefix, max_frame).map_err(RoundTripError::Protocol)?;
    // Read into uninitialised capacity: zeroing a follower's fetch response first cost
    // about 2% of a replicating broker's CPU (docs/design/replication.md §11).
    let mut buf = BytesMut::with_capacity(size);
    let mut body = stream.take(size as u64);
    while buf.len() < size {
        if body.read_buf(&mut buf).await.map_err(RoundTripError::Io)? == 0 {
            return Err(RoundTripError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    Ok(buf.freeze())
}

/// Why one [`round_trip`] failed.
#[derive(Debug)]
pub enum RoundTripError {
    Io(std::io::Error),
    Protocol(String),
}

impl fmt::Display for RoundTripError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoundTripError::Io(e) => write!(f, "{e}"),
            RoundTripError::Protocol(m) => f.write_str(m),
        }
    }
}

/// Sends one typed request on `stream` (correlation id `correlation`) and decodes its
/// response, checking the correlation id: for a connector's own requests.
pub async fn request_on<S, R>(
    stream: &mut S,
    req: &R,
    version: i16,
    correlation: i32,
    client_id: &str,
    max_frame: usize,
) -> Result<R::Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
    R: kafka_protocol::protocol::Request,
{
    let body = frame::encode_body(req, version)?;
    let request = frame::request_frame(R::KEY, version, correlation, client_id, &body)?;
    let resp = round_trip(stream, &request, max_frame)
        .await
        .map_err(|e| e.to_string())?;
    let (c, body) = frame::response_body(R::KEY, version, resp)?;
    if c != correlation {
        return Err(format!("correlation id {c}, expected {correlation}"));
    }
    frame::decode_body::<R>(body, version)
}
