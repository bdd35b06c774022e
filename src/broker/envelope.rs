//! Kafka's Envelope (api 58, KIP-590) as gregor's forwarding carries it: a node that forwards
//! a client's request to the active controller wraps it with the client's principal and
//! address, so the controller authorizes the client, not the forwarding node.
//!
//! Why: without it the controller saw the forwarding connection's principal (a node of the
//! cluster, usually a super user), so any client could have a broker-only node create,
//! delete or alter what its own ACLs forbid. The controller trusts an envelope only from a
//! connection with CLUSTER_ACTION on the cluster (Kafka's rule; `router::envelope` serves it).
//!
//! Encoding (gregor's nodes only read it, as Kafka's `KafkaPrincipalSerde` is private to a
//! cluster too): `request_data` is the inner request header and body, `request_principal`
//! the principal as `Type:name` in UTF-8, `client_host_address` the client's IP address in
//! network order (4 or 16 bytes). The response's `response_data` is the inner response header
//! and body.
//!
//! Thread-safety: pure functions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use kafka_protocol::messages::{EnvelopeRequest, EnvelopeResponse};
use kafka_protocol::protocol::Request;

use crate::error::ErrorCode;
use crate::peer::frame;
use crate::security::KafkaPrincipal;

/// The client a forwarded request came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub principal: &'a KafkaPrincipal,
    pub host: IpAddr,
}

/// The client id the inner request header carries.
const CLIENT_ID: &str = "gregor-forwarded";

/// The envelope of `req` at `version`, sent for `origin`.
pub fn wrap<R: Request>(
    req: &R,
    version: i16,
    origin: Origin<'_>,
) -> Result<EnvelopeRequest, String> {
    let body = frame::encode_body(req, version)?;
    let whole = frame::request_frame(R::KEY, version, 0, CLIENT_ID, &body)?;
    let address = match origin.host {
        IpAddr::V4(a) => Bytes::copy_from_slice(&a.octets()),
        IpAddr::V6(a) => Bytes::copy_from_slice(&a.octets()),
    };
    Ok(EnvelopeRequest::default()
        .with_request_data(whole.slice(4..))
        .with_request_principal(Some(Bytes::from(origin.principal.to_string())))
        .with_client_host_address(address))
}

/// Why an envelope's answer holds no response.
#[derive(Debug, PartialEq, Eq)]
pub enum Unwrapped {
    /// The receiver is not the active controller: ask the next one.
    NotController,
    /// Any other envelope error, or an answer that does not decode.
    Failed(String),
}

/// The inner response of an envelope's answer to a request of `R` at `version`.
pub fn unwrap<R: Request>(resp: EnvelopeResponse, version: i16) -> Result<R::Response, Unwrapped> {
    match ErrorCode::from_i16(resp.error_code) {
        ErrorCode::None => {}
        ErrorCode::NotController => return Err(Unwrapped::NotController),
        other => {
            return Err(Unwrapped::Failed(format!(
                "envelope error {}",
                other.name()
            )))
        }
    }
    let data = resp
        .response_data
        .ok_or_else(|| Unwrapped::Failed("an envelope without a response".into()))?;
    let (_, body) = frame::response_body(R::KEY, version, data).map_err(Unwrapped::Failed)?;
    frame::decode_body::<R>(body, version).map_err(Unwrapped::Failed)
}

/// The client of an envelope: its principal and address, if both are well formed.
pub fn origin_of(req: &EnvelopeRequest) -> Option<(KafkaPrincipal, IpAddr)> {
    let text = std::str::from_utf8(req.request_principal.as_deref()?).ok()?;
    let principal = KafkaPrincipal::parse(text)?;
    let a = &req.client_host_address;
    let host = if let Ok(v4) = <[u8; 4]>::try_from(a.as_ref()) {
        IpAddr::V4(Ipv4Addr::from(v4))
    } else {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(a.as_ref()).ok()?))
    };
    Some((principal, host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
    use kafka_protocol::protocol::{Decodable, Encodable};

    #[test]
    fn an_envelope_carries_the_request_and_its_client() {
        let alice = KafkaPrincipal::user("alice");
        let host: IpAddr = "10.1.2.3".parse().unwrap();
        let req = CreateTopicsRequest::default().with_timeout_ms(1234);
        let env = wrap(
            &req,
            7,
            Origin {
                principal: &alice,
                host,
            },
        )
        .unwrap();
        assert_eq!(origin_of(&env), Some((alice, host)));
        let mut inner = env.request_data.clone();
        let header = RequestHeader::decode(&mut inner, 2).unwrap();
        assert_eq!(
            (header.request_api_key, header.request_api_version),
            (19, 7)
        );
        assert_eq!(CreateTopicsRequest::decode(&mut inner, 7).unwrap(), req);
        let v6 = EnvelopeRequest::default()
            .with_request_principal(Some(Bytes::from_static(b"User:bob")))
            .with_client_host_address(Bytes::copy_from_slice(&[0u8; 16]));
        assert!(origin_of(&v6).is_some_and(|(_, h)| h.is_ipv6()));
        let bad = v6
            .clone()
            .with_client_host_address(Bytes::from_static(&[1, 2, 3]));
        assert_eq!(origin_of(&bad), None);
        assert_eq!(origin_of(&v6.with_request_principal(None)), None);
    }

    #[test]
    fn unwrap_returns_the_inner_response_or_why_not() {
        let mut data = bytes::BytesMut::new();
        kafka_protocol::messages::ResponseHeader::default()
            .with_correlation_id(0)
            .encode(&mut data, 1)
            .unwrap();
        let resp = CreateTopicsResponse::default().with_throttle_time_ms(5);
        resp.encode(&mut data, 7).unwrap();
        let env = EnvelopeResponse::default().with_response_data(Some(data.freeze()));
        assert_eq!(unwrap::<CreateTopicsRequest>(env, 7), Ok(resp));
        let nc = EnvelopeResponse::default().with_error_code(ErrorCode::NotController.code());
        assert_eq!(
            unwrap::<CreateTopicsRequest>(nc, 7),
            Err(Unwrapped::NotController)
        );
        let denied = EnvelopeResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
        assert!(matches!(
            unwrap::<CreateTopicsRequest>(denied, 7),
            Err(Unwrapped::Failed(_))
        ));
    }
}
