//! A minimal async Kafka-protocol client from a broker to the active controller, used by the
//! broker lifecycle (BrokerRegistration, BrokerHeartbeat) and the metadata observer (Fetch of
//! `__cluster_metadata`). Stand-in until the shared outbound pool (`src/peer/`, issue 13
//! step 2) lands: one connection at a time, requests in sequence, no pipelining.
//!
//! Addresses: `controller.quorum.bootstrap.servers`, else the voters' endpoints. A call
//! that fails (connect, I/O, timeout, undecodable answer) drops the connection and moves to
//! the next address; so does [`ControllerClient::rotate`], which callers use when the answer
//! says NOT_CONTROLLER / NOT_LEADER_OR_FOLLOWER. Response frames are bounded before
//! allocation.
//!
//! Thread-safety: the connection sits behind an async mutex; one call at a time per client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// Largest response frame accepted (a metadata fetch answers at most 8 MiB of records).
const MAX_RESPONSE: usize = 64 << 20;

struct Conn {
    stream: TcpStream,
    correlation: i32,
}

/// A client of the active controller (see the module doc).
pub struct ControllerClient {
    addrs: Vec<String>,
    next: AtomicUsize,
    client_id: String,
    conn: Mutex<Option<Conn>>,
}

impl ControllerClient {
    pub fn new(addrs: Vec<String>, client_id: String) -> ControllerClient {
        ControllerClient {
            addrs,
            next: AtomicUsize::new(0),
            client_id,
            conn: Mutex::new(None),
        }
    }

    /// Drops the connection and moves to the next controller address.
    pub async fn rotate(&self) {
        *self.conn.lock().await = None;
        self.next.fetch_add(1, Ordering::Relaxed);
    }

    fn addr(&self) -> Option<&str> {
        if self.addrs.is_empty() {
            return None;
        }
        let i = self.next.load(Ordering::Relaxed) % self.addrs.len();
        Some(&self.addrs[i])
    }

    /// Sends `req` at `version` and decodes the answer, within `timeout`.
    pub async fn call<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, String> {
        let result = tokio::time::timeout(timeout, self.call_inner(req, version)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        if result.is_err() {
            self.rotate().await;
        }
        result
    }

    async fn call_inner<R: Request>(&self, req: &R, version: i16) -> Result<R::Response, String> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| format!("unknown api key {}", R::KEY))?;
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let addr = self.addr().ok_or("no controller address configured")?;
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connecting to the controller at {addr}: {e}"))?;
            let _ = stream.set_nodelay(true);
            *guard = Some(Conn {
                stream,
                correlation: 0,
            });
        }
        let conn = guard.as_mut().ok_or("no connection")?;
        conn.correlation = conn.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(conn.correlation)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .map_err(|e| e.to_string())?;
        req.encode(&mut buf, version).map_err(|e| e.to_string())?;
        let size = i32::try_from(buf.len() - 4).map_err(|_| "request too large")?;
        buf[0..4].copy_from_slice(&size.to_be_bytes());
        conn.stream
            .write_all(&buf)
            .await
            .map_err(|e| e.to_string())?;
        let mut size = [0u8; 4];
        conn.stream
            .read_exact(&mut size)
            .await
            .map_err(|e| format!("the controller closed the connection: {e}"))?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_RESPONSE)
            .ok_or_else(|| format!("bad response size {size}"))?;
        let mut body = vec![0u8; size];
        conn.stream
            .read_exact(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .map_err(|e| e.to_string())?;
        if header.correlation_id != conn.correlation {
            return Err(format!(
                "response for correlation id {} while waiting for {}",
                header.correlation_id, conn.correlation
            ));
        }
        <R::Response as Decodable>::decode(&mut body, version).map_err(|e| e.to_string())
    }
}
