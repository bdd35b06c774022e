//! Encrypted private keys on SSL listeners (`ssl.key.password`, issue 14): a keystore whose key
//! is encrypted PKCS#8 (openssl's `pkcs8 -topk8 -v2 aes-256-cbc`, PBKDF2-HMAC-SHA256) serves
//! librdkafka, the per-listener password wins over the broker-wide one, DescribeConfigs never
//! shows it, the inline form (`ssl.keystore.key`) works, a rotated encrypted keystore is picked
//! up by new connections, and a wrong or missing password, a password with a plain key and a
//! legacy OpenSSL-encrypted key each stop the broker at start-up with a message naming the
//! listener (and never the password).

use std::path::Path;
use std::time::Duration;

use futures::executor::block_on;
use gregor::config::BrokerConfig;
use kafka_protocol::messages::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::raw::{self, RawClient};
use crate::support::tls::{Issued, TestPki, TlsClient};
use crate::support::{clients, wait_for, TestBroker};

const PASSWORD: &str = "k3y-pass word";

/// Writes the CA and returns its path.
fn write_ca(dir: &Path, pki: &TestPki) -> String {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).expect("ca");
    ca.display().to_string()
}

/// `props` on a PLAINTEXT and an SSL listener: the error `node::start` refuses them with.
fn start_error(dir: &Path, props: &[(&str, &str)]) -> String {
    let mut pairs = vec![(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string(),
    )];
    pairs.extend(props.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut cfg = BrokerConfig::default();
    cfg.apply_properties(&pairs, &mut Vec::new())
        .expect("valid config");
    cfg.data_dir = dir.join("data");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    match rt.block_on(gregor::node::start(cfg)) {
        Ok(_) => panic!("the broker started with {props:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn encrypted_server_key_serves_librdkafka_over_ssl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let keystore = pki
        .server("broker")
        .encrypted(PASSWORD)
        .write_keystore(&dir.path().join("ks.pem"), &pki);
    let ca = write_ca(dir.path(), &pki);
    // The broker-wide password is wrong: the SSL listener's own one must be the one used.
    let b = TestBroker::start(
        &dir.path().join("data"),
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"),
            ("ssl.keystore.location", &keystore.display().to_string()),
            ("ssl.key.password", "not-this-one"),
            ("listener.name.ssl.ssl.key.password", PASSWORD),
        ],
    );
    let mut admin = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut admin, "enc-key-t", 1, &[]), 0);
    let ssl = clients::config(
        &b.listener_addr("SSL").to_string(),
        &[("security.protocol", "SSL"), ("ssl.ca.location", &ca)],
    );
    let p: FutureProducer = ssl
        .clone()
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let values: Vec<String> = (0..5).map(|i| format!("encrypted-key-{i}")).collect();
    for (i, v) in values.iter().enumerate() {
        let sent = block_on(p.send(
            FutureRecord::<(), _>::to("enc-key-t").payload(v),
            Duration::from_secs(20),
        ))
        .map_err(|(e, _)| e)
        .expect("delivered");
        assert_eq!((sent.partition, sent.offset), (0, i as i64));
    }
    let c: BaseConsumer = ssl
        .clone()
        .set("group.id", "enc-key-g")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("enc-key-t", 0, Offset::Beginning)
        .expect("offset");
    c.assign(&tpl).expect("assign");
    let mut got: Vec<(i64, String)> = Vec::new();
    wait_for("the five records over SSL", Duration::from_secs(60), || {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            got.push((m.offset(), v));
        }
        (got.len() >= values.len()).then_some(())
    });
    let want: Vec<(i64, String)> = values
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, v)| (i as i64, v))
        .collect();
    assert_eq!(got, want);
    // Closed while the broker is up (librdkafka's close talks to it).
    drop((c, p));
    // DescribeConfigs: ssl.key.password is sensitive and has no value, synonyms included.
    let describe = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name("1".to_string().into())
                .with_configuration_keys(Some(vec!["ssl.key.password".to_string().into()])),
        ]);
    let configs = admin.call(&describe, 4);
    let entry = configs.results[0]
        .configs
        .iter()
        .find(|e| e.name.as_str() == "ssl.key.password")
        .expect("described");
    assert_eq!((entry.value.as_ref(), entry.is_sensitive), (None, true));
    assert!(!entry.synonyms.is_empty(), "the set value is a synonym");
    assert!(entry.synonyms.iter().all(|s| s.value.is_none()));
    b.stop();
}

#[test]
fn inline_encrypted_key_with_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let server = pki.server("inline-broker").encrypted(PASSWORD);
    let chain = format!("{}{}", server.cert_pem, pki.ca_pem());
    let b = TestBroker::start(
        &dir.path().join("data"),
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"),
            ("ssl.keystore.key", &server.key_pem),
            ("ssl.keystore.certificate.chain", &chain),
            ("ssl.key.password", PASSWORD),
        ],
    );
    let mut c =
        TlsClient::connect(b.listener_addr("SSL"), pki.client_config(None)).expect("handshake");
    let subject = gregor::security::ssl::subject_rfc2253(&c.server_certificate());
    assert_eq!(subject.as_deref(), Some("CN=inline-broker"));
    let versions = c
        .call(&ApiVersionsRequest::default(), 3)
        .expect("api versions");
    assert_eq!(versions.error_code, 0);
    assert!(versions.api_keys.iter().any(|k| k.api_key == 0));
    b.stop();
}

#[test]
fn rotated_encrypted_keystore_is_picked_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let path = dir.path().join("ks.pem");
    pki.server("before")
        .encrypted(PASSWORD)
        .write_keystore(&path, &pki);
    let b = TestBroker::start(
        &dir.path().join("data"),
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"),
            ("ssl.keystore.location", &path.display().to_string()),
            ("ssl.key.password", PASSWORD),
        ],
    );
    let addr = b.listener_addr("SSL");
    let cn = |c: &TlsClient| gregor::security::ssl::subject_rfc2253(&c.server_certificate());
    let first = TlsClient::connect(addr, pki.client_config(None)).expect("handshake");
    assert_eq!(cn(&first).as_deref(), Some("CN=before"));
    // A new certificate whose key is encrypted with the same password (another salt and IV).
    pki.server("after")
        .encrypted(PASSWORD)
        .write_keystore(&path, &pki);
    wait_for("the rotated certificate", Duration::from_secs(10), || {
        let c = TlsClient::connect(addr, pki.client_config(None)).ok()?;
        (cn(&c).as_deref() == Some("CN=after")).then_some(())
    });
    // A key encrypted with another password cannot be read: the last good one stays.
    pki.server("other-password")
        .encrypted("not-the-password")
        .write_keystore(&path, &pki);
    let c = TlsClient::connect(addr, pki.client_config(None)).expect("handshake");
    assert_eq!(cn(&c).as_deref(), Some("CN=after"));
    b.stop();
}

#[test]
fn bad_key_passwords_and_legacy_keys_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let server = pki.server("broker");
    let keystore = |name: &str, issued: &Issued| {
        issued
            .write_keystore(&dir.path().join(name), &pki)
            .display()
            .to_string()
    };
    let encrypted = keystore("enc.pem", &server.encrypted(PASSWORD));
    let plain = keystore("plain.pem", &server);
    let legacy = keystore(
        "legacy.pem",
        &server.encrypted_with(&["pkey", "-traditional", "-aes256"], PASSWORD),
    );
    assert!(std::fs::read_to_string(&legacy)
        .expect("legacy")
        .contains("Proc-Type: 4,ENCRYPTED"));
    let cases: [(&str, Option<&str>, &str); 4] = [
        (
            &encrypted,
            Some("wrong-password"),
            "listener SSL: cannot decrypt the keystore's private key with ssl.key.password: wrong password or corrupted key",
        ),
        (
            &encrypted,
            None,
            "listener SSL: the keystore's private key is encrypted (ENCRYPTED PRIVATE KEY) but ssl.key.password is not set",
        ),
        (
            &plain,
            Some("wrong-password"),
            "listener SSL: ssl.key.password is set but the keystore's private key is not encrypted",
        ),
        (
            &legacy,
            Some(PASSWORD),
            "listener SSL: the keystore's private key uses legacy OpenSSL encryption (Proc-Type: 4,ENCRYPTED)",
        ),
    ];
    for (location, password, want) in cases {
        let mut props = vec![("ssl.keystore.location", location)];
        if let Some(p) = password {
            props.push(("listener.name.ssl.ssl.key.password", p));
        }
        let e = start_error(dir.path(), &props);
        assert!(e.contains(want), "{e}");
        assert!(
            !e.contains("wrong-password") && !e.contains(PASSWORD),
            "the password is shown: {e}"
        );
    }
}
