//! A minimal blocking Kafka protocol client: encode a request, read its response. Used by the
//! `gregor groups` tool and by the tests that speak the protocol by hand. The framing is
//! [`crate::peer::frame`]'s, shared with the nodes' async peer client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::Request;

use crate::peer::frame;

/// Largest response frame accepted.
const MAX_RESPONSE: usize = 256 << 20;

/// One connection to a broker: a plain socket, or any blocking stream (a TLS one in
/// `protobench --tls-ca`).
pub struct Client<S = TcpStream> {
    pub stream: S,
    correlation: i32,
    /// The request header's client id (`gregor-tool` unless set).
    client_id: String,
}

impl Client {
    pub fn connect(addr: &str) -> Result<Client, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        Ok(Client::over(stream))
    }
}

impl<S: Read + Write> Client<S> {
    /// A client over an established stream.
    pub fn over(stream: S) -> Client<S> {
        Client {
            stream,
            correlation: 0,
            client_id: "gregor-tool".into(),
        }
    }

    /// Sends this client id in every request header from now on.
    pub fn with_client_id(mut self, client_id: &str) -> Client<S> {
        self.client_id = client_id.to_string();
        self
    }

    /// Encodes a request frame (size prefix included) with the next correlation id.
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> Result<Vec<u8>, String> {
        self.correlation += 1;
        let body = frame::encode_body(req, version)?;
        frame::request_frame(R::KEY, version, self.correlation, &self.client_id, &body)
            .map(|f| f.to_vec())
    }

    /// Reads one response frame; `None` when the connection was closed.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let size = frame::checked_size(size, MAX_RESPONSE).ok()?;
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// Sends a request and decodes its response.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, String> {
        let frame = self.frame(req, version)?;
        self.stream.write_all(&frame).map_err(|e| e.to_string())?;
        self.stream.flush().map_err(|e| e.to_string())?;
        let resp = self
            .read_frame()
            .ok_or("the broker closed the connection")?;
        let (correlation, body) = frame::response_body(R::KEY, version, resp)?;
        if correlation != self.correlation {
            return Err(format!(
                "response for correlation id {correlation} while waiting for {}",
                self.correlation
            ));
        }
        let body = frame::decode_body::<R>(body, version)?;
        Ok(body)
    }
}
