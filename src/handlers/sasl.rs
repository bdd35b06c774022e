//! SaslHandshake (17) and SaslAuthenticate (36) outside an authentication: on a listener
//! without SASL, or after the connection authenticated. Kafka's `KafkaApis` answers both with
//! ILLEGAL_SASL_STATE then (re-authentication, KIP-368, is not served: gregor's
//! `session_lifetime_ms` is always 0). During an authentication on a SASL listener the
//! router answers them itself (`router::sasl`), since they change the connection's session.

use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;

pub async fn handshake(_ctx: &RequestContext, _req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ErrorCode::IllegalSaslState.code())
}

pub async fn authenticate(
    _ctx: &RequestContext,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ErrorCode::IllegalSaslState.code())
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate request received after successful authentication",
        )))
}
