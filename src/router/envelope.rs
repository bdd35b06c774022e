//! Serving an Envelope (api 58) on a controller listener: the request a node forwarded for a
//! client ([`crate::broker::envelope`]), run as that client.
//!
//! Kafka's rules (`ControllerApis.handleEnvelopeRequest`, `RequestChannel`): the connection
//! that sends an envelope needs CLUSTER_ACTION on the cluster (else the envelope answers
//! CLUSTER_AUTHORIZATION_FAILED and nothing runs); a principal or address that does not
//! decode is PRINCIPAL_DESERIALIZATION_FAILURE / INVALID_REQUEST; only forwardable APIs (the
//! `forward` rows of the table) at a served version may be inside, else INVALID_REQUEST. The
//! inner request then runs with the client's principal and address — so its handler's ACL
//! checks are the client's — and is never forwarded again (it is handled as on a controller
//! listener). A broker listener does not serve Envelope: the connection closes.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, EnvelopeRequest, EnvelopeResponse, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::{dispatch, lookup, Router, Session};
use crate::broker::envelope::origin_of;
use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::protocol::codec::{encode_response, peek_header};
use crate::protocol::{DispatchError, Frame};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

/// The one Envelope version Kafka defines.
const VERSION: i16 = 0;

impl Router {
    /// Serves an Envelope frame (see the module doc).
    pub(super) async fn envelope(
        &self,
        session: &Session,
        version: i16,
        correlation_id: i32,
        frame: Bytes,
    ) -> Result<Option<Frame>, DispatchError> {
        if version != VERSION {
            return Err(DispatchError::UnsupportedVersion(ApiKey::Envelope, version));
        }
        let mut body = frame;
        RequestHeader::decode(&mut body, ApiKey::Envelope.request_header_version(VERSION))
            .map_err(|e| DispatchError::Decode(format!("header: {e}")))?;
        let env = EnvelopeRequest::decode(&mut body, VERSION)
            .map_err(|e| DispatchError::Decode(e.to_string()))?;
        let answer = |resp: EnvelopeResponse| {
            let hv = ApiKey::Envelope.response_header_version(VERSION);
            encode_response(correlation_id, hv, &resp, VERSION).map(|b| Some(Frame::from(b)))
        };
        let refuse =
            |code: ErrorCode| answer(EnvelopeResponse::default().with_error_code(code.code()));
        let broker = self.broker().await?;
        let trusted = broker.authorizer.authorize(
            &broker.metadata.image().acls,
            &session.principal,
            session.peer.ip(),
            AclOperation::ClusterAction,
            ResourceType::Cluster,
            CLUSTER_NAME,
        );
        if !trusted {
            tracing::warn!(
                "{}: an envelope from {} without CLUSTER_ACTION refused",
                session.peer,
                session.principal
            );
            return refuse(ErrorCode::ClusterAuthorizationFailed);
        }
        let Some((principal, host)) = origin_of(&env) else {
            return refuse(ErrorCode::PrincipalDeserializationFailure);
        };
        let inner = env.request_data;
        let api = peek_header(&inner).and_then(|(key, version, corr)| {
            let api = lookup(ApiKey::try_from(key).ok()?)?;
            (api.forward && version >= api.min && version <= api.max)
                .then_some((api, version, corr))
        });
        let Some((api, inner_version, inner_corr)) = api else {
            return refuse(ErrorCode::InvalidRequest);
        };
        let mut inner_body = inner;
        let Ok(header) = RequestHeader::decode(
            &mut inner_body,
            api.key.request_header_version(inner_version),
        ) else {
            return refuse(ErrorCode::InvalidRequest);
        };
        let ctx = RequestContext {
            broker,
            api_key: api.key,
            version: inner_version,
            correlation_id: inner_corr,
            client_id: header.client_id,
            peer: SocketAddr::new(host, 0),
            principal: std::sync::Arc::new(principal),
            listener: self.listener.name.clone(),
            controller_listener: true,
        };
        let response = match dispatch(&ctx, &mut inner_body).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return refuse(ErrorCode::InvalidRequest),
            Err(e) => {
                tracing::warn!("{}: a forwarded {:?} failed: {e}", session.peer, api.key);
                return refuse(ErrorCode::InvalidRequest);
            }
        };
        // The inner frame without its size prefix.
        let mut data = BytesMut::new();
        for chunk in &response.0 {
            data.extend_from_slice(chunk);
        }
        let data = data.split_off(4.min(data.len())).freeze();
        answer(EnvelopeResponse::default().with_response_data(Some(data)))
    }
}
