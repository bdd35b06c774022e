//! A minimal blocking Kafka protocol client: encode a request, read its response. Used by the
//! `gregor groups` tool and by the tests that speak the protocol by hand.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

/// Largest response frame accepted.
const MAX_RESPONSE: usize = 256 << 20;

/// One connection to a broker.
pub struct Client {
    pub stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub fn connect(addr: &str) -> Result<Client, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        Ok(Client {
            stream,
            correlation: 0,
        })
    }

    /// Encodes a request frame (size prefix included) with the next correlation id.
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> Result<Vec<u8>, String> {
        self.correlation += 1;
        let key = ApiKey::try_from(R::KEY).map_err(|_| format!("unknown api key {}", R::KEY))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("gregor-tool")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .map_err(|e| e.to_string())?;
        req.encode(&mut buf, version).map_err(|e| e.to_string())?;
        let size = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&size.to_be_bytes());
        Ok(buf.to_vec())
    }

    /// Reads one response frame; `None` when the connection was closed.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let size = i32::from_be_bytes(size);
        if size < 0 || size as usize > MAX_RESPONSE {
            return None;
        }
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// Sends a request and decodes its response.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, String> {
        let frame = self.frame(req, version)?;
        self.stream.write_all(&frame).map_err(|e| e.to_string())?;
        let mut resp = self
            .read_frame()
            .ok_or("the broker closed the connection")?;
        let key = ApiKey::try_from(R::KEY).map_err(|_| "unknown api key".to_string())?;
        let header = ResponseHeader::decode(&mut resp, key.response_header_version(version))
            .map_err(|e| e.to_string())?;
        if header.correlation_id != self.correlation {
            return Err(format!(
                "response for correlation id {} while waiting for {}",
                header.correlation_id, self.correlation
            ));
        }
        let body =
            <R::Response as Decodable>::decode(&mut resp, version).map_err(|e| e.to_string())?;
        if resp.has_remaining() {
            return Err(format!(
                "{} trailing bytes in the response",
                resp.remaining()
            ));
        }
        Ok(body)
    }
}
