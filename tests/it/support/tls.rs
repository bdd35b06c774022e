//! TLS for tests: a throw-away PKI generated at run time with rcgen (a CA, a server
//! certificate for `localhost`/127.0.0.1, client certificates with a chosen subject; no
//! private key is ever written to the repository; encrypted keys come from the `openssl`
//! command, fed on stdin), and [`TlsClient`], a blocking Kafka
//! protocol client over rustls with the project's framing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gregor::peer::frame;
use kafka_protocol::protocol::Request;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A CA and the certificates it signed.
pub struct TestPki {
    ca: Certificate,
    ca_key: KeyPair,
}

/// A certificate and its key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    /// Key then chain (leaf, CA) in one PEM file: what `ssl.keystore.location` reads.
    pub fn write_keystore(&self, path: &Path, pki: &TestPki) -> PathBuf {
        let text = format!("{}{}{}", self.key_pem, self.cert_pem, pki.ca_pem());
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write keystore");
        std::fs::rename(&tmp, path).expect("rename keystore");
        path.to_path_buf()
    }
}

impl Issued {
    /// The same certificate with its key encrypted by `openssl <args> -passout pass:<password>`
    /// (the plain key goes in on stdin, never to a file).
    pub fn encrypted_with(&self, args: &[&str], password: &str) -> Issued {
        let pass = format!("pass:{password}");
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["-passout", &pass]);
        let mut child = Command::new("openssl")
            .args(&all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(self.key_pem.as_bytes())
            .expect("key to openssl");
        let out = child.wait_with_output().expect("openssl output");
        assert!(
            out.status.success(),
            "openssl {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Issued {
            cert_pem: self.cert_pem.clone(),
            key_pem: String::from_utf8(out.stdout).expect("PEM"),
        }
    }

    /// The key as encrypted PKCS#8: AES-256-CBC, PBKDF2-HMAC-SHA256 (`ssl.key.password`).
    pub fn encrypted(&self, password: &str) -> Issued {
        let args = [
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA256",
        ];
        let issued = self.encrypted_with(&args, password);
        assert!(issued
            .key_pem
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        issued
    }
}

impl TestPki {
    pub fn new() -> TestPki {
        let ca_key = KeyPair::generate().expect("ca key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "gregor test CA");
        let ca = params.self_signed(&ca_key).expect("ca cert");
        TestPki { ca, ca_key }
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn issue(
        &self,
        sans: Vec<String>,
        dn: &[(DnType, &str)],
        usages: Vec<ExtendedKeyUsagePurpose>,
    ) -> Issued {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name = DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        params.extended_key_usages = usages;
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1 with subject `CN=<cn>`.
    pub fn server(&self, cn: &str) -> Issued {
        self.issue(
            vec!["localhost".into(), "127.0.0.1".into()],
            &[(DnType::CommonName, cn)],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
        )
    }

    /// A node's certificate for `localhost` and 127.0.0.1, subject `CN=<cn>`, good as a
    /// server and as a client certificate (a node's keystore is both for node-to-node TLS).
    pub fn node(&self, cn: &str) -> Issued {
        self.issue(
            vec!["localhost".into(), "127.0.0.1".into()],
            &[(DnType::CommonName, cn)],
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    /// A client certificate with subject `CN=<cn>,O=<org>` (RFC 2253 order).
    pub fn client(&self, cn: &str, org: &str) -> Issued {
        self.issue(
            Vec::new(),
            &[(DnType::OrganizationName, org), (DnType::CommonName, cn)],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    /// A client configuration trusting this CA, presenting `client` when given.
    pub fn client_config(&self, client: Option<&Issued>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match client {
            Some(c) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
                        .collect::<Result<_, _>>()
                        .expect("chain");
                let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).expect("key");
                builder
                    .with_client_auth_cert(chain, key)
                    .expect("client cert")
            }
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// A blocking Kafka protocol client over TLS.
pub struct TlsClient {
    pub stream: StreamOwned<ClientConnection, TcpStream>,
    correlation: i32,
}

impl TlsClient {
    /// Connects and completes the handshake; `Err` when the handshake fails.
    pub fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<TlsClient, String> {
        let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").expect("name");
        let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| e.to_string())?;
        }
        Ok(TlsClient {
            stream,
            correlation: 0,
        })
    }

    /// The server's leaf certificate.
    pub fn server_certificate(&self) -> CertificateDer<'static> {
        self.stream
            .conn
            .peer_certificates()
            .expect("server certificates")[0]
            .clone()
    }

    /// Sends a request and decodes its response; `Err` if the connection fails or closes.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, String> {
        self.correlation += 1;
        let body = frame::encode_body(req, version)?;
        let f = frame::request_frame(R::KEY, version, self.correlation, "gregor-test", &body)?;
        self.stream.write_all(&f).map_err(|e| e.to_string())?;
        self.stream.flush().map_err(|e| e.to_string())?;
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .map_err(|e| e.to_string())?;
        let size = frame::checked_size(size, 64 << 20)?;
        let mut resp = vec![0u8; size];
        self.stream
            .read_exact(&mut resp)
            .map_err(|e| e.to_string())?;
        let (correlation, body) = frame::response_body(R::KEY, version, Bytes::from(resp))?;
        if correlation != self.correlation {
            return Err(format!(
                "correlation {correlation}, expected {}",
                self.correlation
            ));
        }
        frame::decode_body::<R>(body, version)
    }
}
