//! The TLS side of one SSL / SASL_SSL listener: the rustls server configuration built from the
//! listener's [`SslSettings`], re-built when its keystore or truststore file changes, and the
//! principal a client certificate maps to.
//!
//! Reload, the simple way that works: at each new connection the keystore and truststore files
//! are `stat`ed; when one's modification time or size changed, the configuration is rebuilt
//! from the files and used for this and later connections (open connections keep theirs, as
//! in Kafka). A rebuild that fails (a half-written file) is logged and the previous
//! configuration stays. So replacing the keystore file (write a new one, `mv` it over the old)
//! is how certificates are rotated; the location itself is a static setting (Kafka's
//! AlterConfigs of `listener.name.<l>.ssl.keystore.location` is not accepted as dynamic).
//! Inline PEM (`ssl.keystore.key`) never changes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use super::settings::{ClientAuth, SslSettings};
use super::subject_rfc2253;
use crate::security::KafkaPrincipal;

/// What identifies a file's version: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// A listener's TLS configuration with reload (see the module doc).
#[derive(Debug)]
pub struct ServerTls {
    settings: SslSettings,
    /// SSL: the certificate names the principal; SASL_SSL: SASL does (the session starts
    /// anonymous), as Kafka's `DefaultKafkaPrincipalBuilder`.
    cert_principal: bool,
    current: Mutex<(Arc<ServerConfig>, Vec<Stamp>)>,
}

impl ServerTls {
    /// Builds the configuration; every error is a start-up error naming the listener.
    pub fn new(settings: SslSettings, cert_principal: bool) -> Result<ServerTls, String> {
        let stamps = settings.files().iter().map(stamp).collect();
        let config = build(&settings)?;
        Ok(ServerTls {
            settings,
            cert_principal,
            current: Mutex::new((config, stamps)),
        })
    }

    /// The configuration for a new connection, re-read first if a watched file changed.
    pub fn config(&self) -> Arc<ServerConfig> {
        let stamps: Vec<Stamp> = self.settings.files().iter().map(stamp).collect();
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.1 != stamps {
            cur.1 = stamps;
            match build(&self.settings) {
                Ok(c) => {
                    tracing::info!(
                        "listener {}: keystore/truststore changed on disk; reloaded",
                        self.settings.listener
                    );
                    cur.0 = c;
                }
                Err(e) => tracing::error!("{e}; keeping the previous TLS configuration"),
            }
        }
        cur.0.clone()
    }

    /// The principal of a client that completed the handshake: `User:ANONYMOUS` without a
    /// certificate, else `User:` + the mapped subject DN of its leaf certificate (Kafka's
    /// `DefaultKafkaPrincipalBuilder`). An error (no rule applies) fails the connection.
    pub fn principal(
        &self,
        certs: Option<&[CertificateDer<'_>]>,
    ) -> Result<KafkaPrincipal, String> {
        let leaf = certs.and_then(<[_]>::first).filter(|_| self.cert_principal);
        let Some(leaf) = leaf else {
            return Ok(KafkaPrincipal::anonymous());
        };
        let dn = subject_rfc2253(leaf)
            .ok_or_else(|| "cannot read the client certificate's subject".to_string())?;
        Ok(KafkaPrincipal::user(&self.settings.mapper.name(&dn)?))
    }
}

/// The rustls server configuration of the settings.
fn build(s: &SslSettings) -> Result<Arc<ServerConfig>, String> {
    let at = |e: rustls::Error| format!("listener {}: {e}", s.listener);
    let (chain, key) = s.load_keystore()?.ok_or_else(|| {
        format!(
            "listener {l}: an SSL listener needs a keystore: set ssl.keystore.location (a PEM file with the private key and certificate chain) or ssl.keystore.key and ssl.keystore.certificate.chain (or listener.name.{lower}.ssl.*)",
            l = s.listener,
            lower = s.listener.to_ascii_lowercase()
        )
    })?;
    let provider = s.provider()?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&s.protocols)
        .map_err(at)?;
    let builder = match (s.client_auth, s.load_truststore()?) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (auth, Some(roots)) => {
            let v = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let v = if auth == ClientAuth::Requested {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v.build().map_err(|e| format!("listener {}: {e}", s.listener))?;
            builder.with_client_cert_verifier(v)
        }
        (_, None) => {
            return Err(format!(
                "listener {}: ssl.client.auth=required/requested needs a truststore (ssl.truststore.location or ssl.truststore.certificates) to verify client certificates",
                s.listener
            ))
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(at)?;
    Ok(Arc::new(config))
}
