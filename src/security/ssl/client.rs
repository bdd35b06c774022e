//! The client side of TLS for node-to-node traffic: the rustls client configuration a node
//! uses to reach another node's SSL or SASL_SSL listener (inter-broker or controller), built
//! from that listener's resolved [`SslSettings`] as Kafka's inter-broker channel builder uses
//! the listener's `ssl.*` values: the truststore verifies the other node's certificate, the
//! node's own keystore (if any, its key decrypted with `ssl.key.password` as the server side
//! does: the same `SslSettings::load_keystore`) is its client certificate (mTLS), and
//! `ssl.endpoint.identification.algorithm=https` (the default) checks that the certificate
//! names the host connected to; empty skips only that name check, never the chain.
//!
//! Read once at start-up (a keystore replaced on disk is used by new connections of the
//! server side at once; the client side picks it up at the next restart).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::settings::SslSettings;

/// The rustls client configuration for reaching `settings.listener` on another node.
pub fn client_config(settings: &SslSettings) -> Result<Arc<ClientConfig>, String> {
    let s = settings;
    let at = |e: rustls::Error| format!("listener {} (TLS client): {e}", s.listener);
    let roots = s.load_truststore()?.ok_or_else(|| {
        format!(
            "listener {l} carries node-to-node traffic over TLS: set ssl.truststore.location (or listener.name.{lower}.ssl.truststore.location, PEM) to the CA that signed the other nodes' certificates",
            l = s.listener,
            lower = s.listener.to_ascii_lowercase()
        )
    })?;
    let provider = s.provider()?;
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("listener {} (TLS client): {e}", s.listener))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&s.protocols)
        .map_err(at)?;
    let builder = if s.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
    };
    let config = match s.load_keystore()? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(at)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The WebPKI verifier without the host name check (`ssl.endpoint.identification.algorithm`
/// empty): the chain, validity dates and signatures are still verified.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
