//! The SASL sequence of a connection on a SASL_PLAINTEXT or SASL_SSL listener, as Kafka's
//! `SaslServerAuthenticator` enforces it before any other request is served:
//!
//! 1. optionally ApiVersions (served as usual), then SaslHandshake v1 naming a mechanism the
//!    listener enables (else UNSUPPORTED_SASL_MECHANISM with the enabled list, and the
//!    connection closes); v0 (raw tokens without Kafka framing) is advertised — librdkafka
//!    turns SASL off unless the range includes v0 — but not served: every client gregor
//!    targets sends v1 and SaslAuthenticate, so a v0 handshake closes the connection;
//! 2. SaslAuthenticate tokens until the mechanism says yes (the session's principal becomes
//!    `User:<name>`, every API is served from then on) or no (SASL_AUTHENTICATION_FAILED with
//!    Kafka's message, answered after `connection.failed.authentication.delay.ms`, then the
//!    connection closes; the log names the peer, mechanism and reason, never the password);
//! 3. anything else before the end — a Produce, a second ApiVersions after the handshake —
//!    closes the connection without an answer, as Kafka does.
//!
//! Until then frames are bounded by `sasl.server.max.receive.size` ([`Router::max_frame`]),
//! so a 1 MiB client-first message is refused before a byte of it is buffered beyond the
//! limit.
//!
//! Re-authentication (KIP-368), as Kafka's `SocketServer` and `SaslServerAuthenticator` run it:
//! a successful SaslAuthenticate v1+ answers `session_lifetime_ms`, the smaller of
//! `connections.max.reauth.ms` (per listener and mechanism) and the credential's remaining
//! lifetime (an OAUTHBEARER token's `exp`), 0 when neither bounds it; the session then ends
//! that long after. On an authenticated connection with such an end, [`check_session`] runs
//! before every request: a SaslHandshake starts a re-authentication (at most one a second;
//! otherwise it is served as usual, ILLEGAL_SASL_STATE) that runs the sequence above again
//! with the session's mechanism (another one closes the connection after the handshake) and
//! must end with the same principal (else SASL_AUTHENTICATION_FAILED, Kafka's message, and
//! the connection closes); any other request after the end closes the connection without an
//! answer. The node's [`crate::security::sasl::SaslMetrics`] count both.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::session::{Reauth, SaslState, Session};
use super::Router;
use crate::error::ErrorCode;
use crate::protocol::codec::encode_response;
use crate::protocol::{DispatchError, Frame};
use crate::security::sasl::{
    reauth, wall_clock_ms, Authenticator, ListenerSasl, Mechanism, Outcome,
};
use crate::security::KafkaPrincipal;

/// What the router does with a request of a connection that has not authenticated.
pub(super) enum Gate {
    /// Serve it as usual (ApiVersions).
    Dispatch,
    /// A SASL request: [`serve`] answers it.
    Sasl,
}

/// Kafka's ordering rule (see the module doc); `Err` closes the connection.
pub(super) fn gate(session: &mut Session, key: ApiKey) -> Result<Gate, DispatchError> {
    if let SaslState::ReauthBadMechanism(message) = &session.sasl {
        return Err(DispatchError::Decode(message.clone()));
    }
    match (key, &session.sasl) {
        (ApiKey::ApiVersions, SaslState::HandshakeOrVersions) => {
            session.sasl = SaslState::Handshake;
            Ok(Gate::Dispatch)
        }
        (ApiKey::SaslHandshake, SaslState::HandshakeOrVersions | SaslState::Handshake)
        | (ApiKey::SaslAuthenticate, SaslState::Authenticate(_)) => Ok(Gate::Sasl),
        (key, state) => Err(DispatchError::Decode(format!(
            "unexpected {key:?} request during SASL authentication (state {})",
            match state {
                SaslState::HandshakeOrVersions => "HANDSHAKE_OR_VERSIONS_REQUEST",
                SaslState::Handshake => "HANDSHAKE_REQUEST",
                SaslState::Authenticate(_) => "AUTHENTICATE",
                SaslState::Complete => "COMPLETE",
                SaslState::ReauthBadMechanism(_) => "REAUTH_BAD_MECHANISM",
            }
        ))),
    }
}

/// KIP-368 on an authenticated connection, before each request (see the module doc): starts a
/// re-authentication on a SaslHandshake, or closes an expired session's connection.
pub(super) async fn check_session(
    router: &Router,
    session: &mut Session,
    key: ApiKey,
) -> Result<(), DispatchError> {
    let Some(expires) = session.expires else {
        return Ok(());
    };
    let now = Instant::now();
    let may_begin = session
        .last_reauth_start
        .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
    if key == ApiKey::SaslHandshake && may_begin {
        tracing::debug!(
            "{}: re-authentication of {} begins",
            session.peer,
            session.principal
        );
        session.last_reauth_start = Some(now);
        session.reauth = Some(Reauth {
            principal: session.principal.clone(),
        });
        session.sasl = SaslState::Handshake;
        return Ok(());
    }
    if now > expires {
        router
            .broker()
            .await?
            .sasl_metrics
            .record_expired_connection();
        return Err(DispatchError::SessionExpired);
    }
    Ok(())
}

fn encode<R: kafka_protocol::protocol::Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: &R,
) -> Result<Option<Frame>, DispatchError> {
    let header_version = key.response_header_version(version);
    encode_response(correlation_id, header_version, resp, version)
        .map(Frame::from)
        .map(Some)
}

/// Answers a SaslHandshake or SaslAuthenticate that [`gate`] let through.
pub(super) async fn serve(
    router: &Router,
    sasl: &ListenerSasl,
    session: &mut Session,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<Option<Frame>, DispatchError> {
    let mut body = frame;
    RequestHeader::decode(&mut body, key.request_header_version(version))
        .map_err(|e| DispatchError::Decode(format!("header: {e}")))?;
    let peer = session.peer;
    if key == ApiKey::SaslHandshake {
        let req = SaslHandshakeRequest::decode(&mut body, version)
            .map_err(|e| DispatchError::Decode(e.to_string()))?;
        let names: Vec<StrBytes> = sasl
            .enabled_names()
            .into_iter()
            .map(StrBytes::from_static_str)
            .collect();
        let mut resp = SaslHandshakeResponse::default().with_mechanisms(names);
        match Authenticator::start(req.mechanism.as_str(), sasl) {
            Some(auth)
                if session.reauth.is_some() && session.mechanism != Some(auth.mechanism()) =>
            {
                let previous = session.mechanism.map_or("?", |m| m.name());
                let message = format!(
                    "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{previous}'",
                    auth.mechanism().name()
                );
                tracing::warn!("{peer}: {message}");
                router
                    .broker()
                    .await?
                    .sasl_metrics
                    .record_reauthentication(false);
                session.sasl = SaslState::ReauthBadMechanism(message);
            }
            Some(auth) => session.sasl = SaslState::Authenticate(Box::new(auth)),
            None => {
                tracing::warn!(
                    "{peer}: SASL mechanism {:?} is not enabled on listener {} (enabled: {}); closing connection",
                    req.mechanism.as_str(),
                    router.listener().name,
                    sasl.enabled_names().join(",")
                );
                resp = resp.with_error_code(ErrorCode::UnsupportedSaslMechanism.code());
                session.close_after_response = true;
            }
        }
        return encode(key, version, correlation_id, &resp);
    }
    let req = SaslAuthenticateRequest::decode(&mut body, version)
        .map_err(|e| DispatchError::Decode(e.to_string()))?;
    let SaslState::Authenticate(auth) = &mut session.sasl else {
        return Err(DispatchError::Decode(
            "SaslAuthenticate before SaslHandshake".into(),
        ));
    };
    let mech = auth.mechanism();
    let mechanism = mech.name();
    // Only SCRAM reads the image (its credentials): PLAIN and OAUTHBEARER are answered
    // before the broker is open too, as voters authenticating their Raft RPCs need.
    let image = match auth.mechanism() {
        Mechanism::Scram(_) => Some(router.broker().await?.metadata.image()),
        _ => router.broker_now().map(|b| b.metadata.image()),
    };
    let outcome = auth.step(&req.auth_bytes, sasl, &|user, m| {
        image.as_ref()?.scram_credential(user, m).cloned()
    });
    let reauthenticating = session.reauth.is_some();
    let outcome = match outcome {
        Outcome::Success { user, .. }
            if session
                .reauth
                .as_ref()
                .is_some_and(|r| *r.principal != KafkaPrincipal::user(&user)) =>
        {
            let previous = session.principal.to_string();
            let message = reauth::principal_changed_message(
                &previous,
                &KafkaPrincipal::user(&user).to_string(),
            );
            Outcome::Failure {
                reason: message.clone(),
                message,
            }
        }
        other => other,
    };
    let what = if reauthenticating {
        "re-authentication"
    } else {
        "authentication"
    };
    let resp = match outcome {
        Outcome::Challenge(token) => {
            SaslAuthenticateResponse::default().with_auth_bytes(token.into())
        }
        Outcome::Success {
            user,
            token,
            expires_ms,
        } => {
            let lifetime =
                reauth::session_lifetime_ms(sasl.max_reauth_ms(mech), expires_ms, wall_clock_ms());
            session.expires =
                lifetime.map(|ms| Instant::now() + Duration::from_millis(ms.unsigned_abs()));
            let lifetime_text = lifetime.map_or("unbounded".to_string(), |ms| format!("{ms} ms"));
            if reauthenticating {
                tracing::debug!(
                    "{peer}: re-authenticated as User:{user} with {mechanism} (session {lifetime_text})"
                );
                router
                    .broker()
                    .await?
                    .sasl_metrics
                    .record_reauthentication(true);
            } else {
                tracing::info!(
                    "{peer}: authenticated as User:{user} with {mechanism} (session {lifetime_text})"
                );
            }
            session.principal = std::sync::Arc::new(KafkaPrincipal::user(&user));
            session.mechanism = Some(mech);
            session.reauth = None;
            session.sasl = SaslState::Complete;
            let resp = SaslAuthenticateResponse::default().with_auth_bytes(token.into());
            // The field exists from v1 (v0 clients cannot re-authenticate: their session
            // still ends, as in Kafka).
            if version >= 1 {
                resp.with_session_lifetime_ms(lifetime.unwrap_or(0))
            } else {
                resp
            }
        }
        Outcome::Failure { message, reason } => {
            tracing::warn!("{peer}: failed {what} with {mechanism}: {reason}");
            if reauthenticating {
                router
                    .broker()
                    .await?
                    .sasl_metrics
                    .record_reauthentication(false);
            }
            tokio::time::sleep(sasl.failed_delay).await;
            session.close_after_response = true;
            let message = if reauthenticating {
                message.replacen("during authentication", "during re-authentication", 1)
            } else {
                message
            };
            SaslAuthenticateResponse::default()
                .with_error_code(ErrorCode::SaslAuthenticationFailed.code())
                .with_error_message(Some(StrBytes::from_string(message)))
        }
    };
    encode(key, version, correlation_id, &resp)
}
