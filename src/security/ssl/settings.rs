//! One listener's TLS settings, resolved as Kafka resolves them — `listener.name.<name>.ssl.*`
//! over `ssl.*` over the default, key by key (`valuesWithPrefixOverride`) — and checked once
//! at start-up, so a bad keystore or rule stops `gregor serve` before anything is opened.
//!
//! Why only PEM: rustls reads PEM/DER; JKS and PKCS12 would need a Java keystore or PKCS#12
//! parser (with its legacy ciphers). `ssl.keystore.type` / `ssl.truststore.type` other than PEM
//! are refused with a message saying how to convert. An encrypted PKCS#8 private key is read
//! with `ssl.key.password` ([`super::encrypted_key`], Kafka's rules).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{RootCertStore, SupportedProtocolVersion};

use zeroize::Zeroizing;

use super::encrypted_key::{self, KeyPassword};
use super::principal_mapper::PrincipalMapper;
use crate::config::keys::broker_key;
use crate::config::BrokerConfig;

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// Where PEM text comes from: a file (re-read when it changes) or the config value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    File(PathBuf),
    Inline(String),
}

impl PemSource {
    fn read(&self, what: &str) -> Result<Vec<u8>, String> {
        match self {
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
            PemSource::File(path) => std::fs::read(path)
                .map_err(|e| format!("cannot read {what} {}: {e}", path.display())),
        }
    }
}

/// A listener's resolved TLS settings (see the module doc).
#[derive(Debug, Clone)]
pub struct SslSettings {
    /// The listener's name (as in `listeners`), for messages.
    pub listener: String,
    /// Key and certificate chain: one PEM file, or the key and chain inline.
    pub keystore: Option<(PemSource, PemSource)>,
    /// `ssl.key.password`: the keystore's key is an encrypted PKCS#8 key when set.
    pub key_password: Option<KeyPassword>,
    pub truststore: Option<PemSource>,
    pub client_auth: ClientAuth,
    pub mapper: PrincipalMapper,
    pub protocols: Vec<&'static SupportedProtocolVersion>,
    /// `ssl.cipher.suites` by IANA name; empty: the provider's defaults.
    pub cipher_suites: Vec<String>,
    /// `ssl.endpoint.identification.algorithm` is `https` (check the server's host name).
    pub verify_hostname: bool,
}

/// One key's value for `listener`: `listener.name.<lowercase listener>.<key>`, else `<key>`,
/// else the row's default; empty counts as unset (see the module doc).
pub fn resolve_value(config: &BrokerConfig, listener: &str, key: &str) -> Option<String> {
    let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
    config
        .properties
        .get(&prefixed)
        .or_else(|| config.properties.get(key))
        .map(|v| v.trim().to_string())
        .or_else(|| broker_key(key)?.default.map(str::to_string))
        .filter(|v| !v.is_empty())
}

impl SslSettings {
    /// Resolves and checks the settings of one listener; the error names the key at fault.
    pub fn resolve(config: &BrokerConfig, listener: &str) -> Result<SslSettings, String> {
        let get = |k: &str| resolve_value(config, listener, k);
        let fail = |m: String| format!("listener {listener} (SSL): {m}");
        for (type_key, pass_key) in [
            ("ssl.keystore.type", "ssl.keystore.password"),
            ("ssl.truststore.type", "ssl.truststore.password"),
        ] {
            let t = get(type_key).unwrap_or_else(|| "PEM".into());
            if !t.eq_ignore_ascii_case("PEM") {
                return Err(fail(format!(
                    "{type_key}={t} is not supported: gregor reads PEM only (convert with `openssl pkcs12 -in store.p12 -nodes` or `keytool -importkeystore -deststoretype PKCS12` first)"
                )));
            }
            if get(pass_key).is_some() {
                return Err(fail(format!(
                    "{pass_key} cannot be specified with PEM format, only ssl.key.password may be specified"
                )));
            }
        }
        let location = get("ssl.keystore.location").map(PathBuf::from);
        let key = get("ssl.keystore.key");
        let chain = get("ssl.keystore.certificate.chain");
        let keystore = match (location, key, chain) {
            (Some(p), None, None) => Some((PemSource::File(p.clone()), PemSource::File(p))),
            (None, Some(k), Some(c)) => Some((PemSource::Inline(k), PemSource::Inline(c))),
            (None, None, None) => None,
            (Some(_), _, _) => {
                return Err(fail(
                    "set either ssl.keystore.location or ssl.keystore.key with ssl.keystore.certificate.chain, not both".into(),
                ))
            }
            _ => {
                return Err(fail(
                    "ssl.keystore.key and ssl.keystore.certificate.chain must be set together"
                        .into(),
                ))
            }
        };
        let truststore =
            match (
                get("ssl.truststore.location"),
                get("ssl.truststore.certificates"),
            ) {
                (Some(_), Some(_)) => return Err(fail(
                    "set either ssl.truststore.location or ssl.truststore.certificates, not both"
                        .into(),
                )),
                (Some(p), None) => Some(PemSource::File(PathBuf::from(p))),
                (None, Some(c)) => Some(PemSource::Inline(c)),
                (None, None) => None,
            };
        let client_auth = match get("ssl.client.auth").as_deref().unwrap_or("none") {
            "required" => ClientAuth::Required,
            "requested" => ClientAuth::Requested,
            _ => ClientAuth::None,
        };
        let rules = get("ssl.principal.mapping.rules").unwrap_or_else(|| "DEFAULT".into());
        let mapper = PrincipalMapper::parse(&rules)
            .map_err(|e| fail(format!("ssl.principal.mapping.rules: {e}")))?;
        let mut protocols = Vec::new();
        for p in csv(&get("ssl.enabled.protocols").unwrap_or_default()) {
            match p {
                "TLSv1.3" => protocols.push(&rustls::version::TLS13),
                "TLSv1.2" => protocols.push(&rustls::version::TLS12),
                other => tracing::warn!(
                    "listener {listener}: ssl.enabled.protocols: {other} is not supported (TLSv1.2 and TLSv1.3 are) and is skipped"
                ),
            }
        }
        if protocols.is_empty() {
            return Err(fail(
                "ssl.enabled.protocols names neither TLSv1.2 nor TLSv1.3".into(),
            ));
        }
        let cipher_suites: Vec<String> = csv(&get("ssl.cipher.suites").unwrap_or_default())
            .into_iter()
            .map(str::to_string)
            .collect();
        let verify_hostname = get("ssl.endpoint.identification.algorithm")
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
        let settings = SslSettings {
            listener: listener.to_string(),
            keystore,
            key_password: get("ssl.key.password").map(KeyPassword::new),
            truststore,
            client_auth,
            mapper,
            protocols,
            cipher_suites,
            verify_hostname,
        };
        // Checks the suites now, so a typo is a start-up error.
        settings.provider()?;
        Ok(settings)
    }

    /// The ring provider, its cipher suites narrowed to `ssl.cipher.suites` when set.
    pub fn provider(&self) -> Result<Arc<CryptoProvider>, String> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !self.cipher_suites.is_empty() {
            let all = provider.cipher_suites.clone();
            // Kafka (Java) names TLS 1.3 suites `TLS_AES_128_GCM_SHA256`; rustls `TLS13_...`.
            let iana = |s: &rustls::SupportedCipherSuite| {
                let n = s.suite().as_str().unwrap_or("");
                n.strip_prefix("TLS13_")
                    .map_or(n.to_string(), |rest| format!("TLS_{rest}"))
            };
            let mut chosen = Vec::new();
            for name in &self.cipher_suites {
                let found = all
                    .iter()
                    .find(|s| iana(s) == *name)
                    .ok_or_else(|| {
                        let known: Vec<String> = all.iter().map(iana).collect();
                        format!(
                            "listener {}: ssl.cipher.suites: unknown or unsupported suite {name} (supported: {})",
                            self.listener,
                            known.join(",")
                        )
                    })?;
                chosen.push(*found);
            }
            provider.cipher_suites = chosen;
        }
        Ok(Arc::new(provider))
    }

    /// The files the current TLS configuration was read from (watched for reload).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for s in self
            .keystore
            .iter()
            .map(|(k, _)| k)
            .chain(self.truststore.iter())
        {
            if let PemSource::File(p) = s {
                out.push(p.clone());
            }
        }
        out
    }

    /// The private key and certificate chain of the keystore, if one is configured.
    pub fn load_keystore(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
        let Some((key_src, chain_src)) = &self.keystore else {
            return Ok(None);
        };
        let key_pem = Zeroizing::new(key_src.read("keystore")?);
        let key = encrypted_key::private_key(&key_pem, self.key_password.as_ref())
            .map_err(|e| format!("listener {}: {e}", self.listener))?;
        let chain = certificates(&chain_src.read("keystore")?)
            .map_err(|e| format!("listener {}: keystore: {e}", self.listener))?;
        if chain.is_empty() {
            return Err(format!(
                "listener {}: the keystore holds no CERTIFICATE",
                self.listener
            ));
        }
        Ok(Some((chain, key)))
    }

    /// The trusted certificates, if a truststore is configured.
    pub fn load_truststore(&self) -> Result<Option<Arc<RootCertStore>>, String> {
        let Some(src) = &self.truststore else {
            return Ok(None);
        };
        let certs = certificates(&src.read("truststore")?)
            .map_err(|e| format!("listener {}: truststore: {e}", self.listener))?;
        let mut roots = RootCertStore::empty();
        for c in certs {
            roots.add(c).map_err(|e| {
                format!(
                    "listener {}: truststore: bad certificate: {e}",
                    self.listener
                )
            })?;
        }
        if roots.is_empty() {
            return Err(format!(
                "listener {}: the truststore holds no CERTIFICATE",
                self.listener
            ));
        }
        Ok(Some(Arc::new(roots)))
    }
}

/// A comma-separated list, trimmed, empty entries dropped (Kafka's LIST parsing).
fn csv(v: &str) -> Vec<&str> {
    v.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<SslSettings, String> {
        let mut cfg = BrokerConfig::default();
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut warnings = Vec::new();
        cfg.apply_properties(&pairs, &mut warnings)
            .map_err(|e| e.to_string())?;
        assert!(warnings.is_empty(), "{warnings:?}");
        SslSettings::resolve(&cfg, "SSL")
    }

    #[test]
    fn listener_overrides_win_key_by_key() {
        let s = resolve(&[
            ("ssl.keystore.location", "/base.pem"),
            ("ssl.client.auth", "requested"),
            ("listener.name.ssl.ssl.keystore.location", "/ssl.pem"),
            ("listener.name.other.ssl.client.auth", "required"),
        ])
        .expect("valid");
        let path = PemSource::File("/ssl.pem".into());
        assert_eq!(s.keystore, Some((path.clone(), path)));
        assert_eq!(s.client_auth, ClientAuth::Requested);
        assert_eq!(s.protocols.len(), 2);
    }

    #[test]
    fn clear_errors() {
        let e = |pairs: &[(&str, &str)]| resolve(pairs).expect_err("refused");
        assert!(e(&[("ssl.keystore.type", "JKS")])
            .contains("ssl.keystore.type=JKS is not supported: gregor reads PEM only"));
        assert!(e(&[("ssl.truststore.type", "PKCS12")]).contains("PEM only"));
        assert!(e(&[("ssl.keystore.password", "x")])
            .contains("ssl.keystore.password cannot be specified with PEM format"));
        assert!(
            e(&[("ssl.keystore.location", "/k"), ("ssl.keystore.key", "k")]).contains("not both")
        );
        assert!(e(&[("ssl.keystore.key", "k")]).contains("must be set together"));
        assert!(e(&[("ssl.principal.mapping.rules", "RULE:x/y/Q")])
            .contains("ssl.principal.mapping.rules: Invalid rule"));
        assert!(e(&[("ssl.enabled.protocols", "TLSv1.1")]).contains("neither TLSv1.2 nor TLSv1.3"));
        assert!(e(&[("ssl.cipher.suites", "TLS_RSA_WITH_NULL_MD5")])
            .contains("unknown or unsupported suite TLS_RSA_WITH_NULL_MD5"));
        let ok = resolve(&[("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256")]).expect("valid");
        assert_eq!(ok.provider().expect("provider").cipher_suites.len(), 1);
        // A bad ssl.client.auth is refused by the key's row, as Kafka's ConfigDef does.
        assert!(resolve(&[("ssl.client.auth", "always")]).is_err());
    }

    #[test]
    fn keystore_problems_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let s = resolve(&[("ssl.keystore.location", &missing.display().to_string())])
            .expect("resolves");
        assert!(s
            .load_keystore()
            .expect_err("unreadable")
            .contains("cannot read keystore"));
        let enc = dir.path().join("enc.pem");
        std::fs::write(
            &enc,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .expect("write");
        let s =
            resolve(&[("ssl.keystore.location", &enc.display().to_string())]).expect("resolves");
        assert!(s
            .load_keystore()
            .expect_err("encrypted")
            .contains("listener SSL: the keystore's private key is encrypted (ENCRYPTED PRIVATE KEY) but ssl.key.password is not set"));
        // Per-listener override of the password, as for every ssl.* key.
        let s = resolve(&[
            ("ssl.keystore.location", &enc.display().to_string()),
            ("ssl.key.password", "base"),
            ("listener.name.ssl.ssl.key.password", "mine"),
        ])
        .expect("resolves");
        assert_eq!(s.key_password, Some(KeyPassword::new("mine".into())));
        assert!(!format!("{s:?}").contains("mine"));
        assert!(s
            .load_keystore()
            .expect_err("not a key")
            .contains("listener SSL: the keystore's ENCRYPTED PRIVATE KEY is malformed"));
        let none = resolve(&[]).expect("resolves");
        assert!(none.load_keystore().expect("no keystore").is_none());
    }
}
