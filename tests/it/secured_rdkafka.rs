//! librdkafka (the rdkafka crate, built with OpenSSL) on gregor's secured listeners, as the
//! compat tier's secured scenarios run it for every client: SCRAM-SHA-512 over SASL_SSL
//! (produce, group consume, Metadata advertising the SASL_SSL port, a wrong password refused
//! with Kafka's message and nothing written) and mutual TLS whose certificate subject becomes
//! the principal the authorizer checks (an ACL for `User:alice` lets alice's certificate in
//! and leaves bob's with TOPIC_AUTHORIZATION_FAILED).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use gregor::security::sasl::ScramMechanism;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::sasl_scram::{alter, upsert};
use crate::support::raw::{self, RawClient};
use crate::support::tls::TestPki;
use crate::support::{clients, TestBroker};

/// Writes the CA and a client's certificate and key where librdkafka reads them.
fn write_pem(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pem");
    path.display().to_string()
}

/// Keeps what librdkafka reports through its error callback.
#[derive(Default)]
struct Errors(Mutex<Vec<(RDKafkaErrorCode, String)>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        if let (Some(code), Ok(mut v)) = (error.rdkafka_error_code(), self.0.lock()) {
            v.push((code, reason.to_string()));
        }
    }
}

impl ConsumerContext for Errors {}

/// Produces `values` with `config`, then reads them back through a new consumer group.
pub fn produce_then_group_read(
    config: &ClientConfig,
    topic: &str,
    values: &[String],
) -> BTreeSet<String> {
    let p: FutureProducer = config
        .clone()
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for v in values {
        block_on(p.send(
            FutureRecord::<(), _>::to(topic).payload(v),
            Duration::from_secs(20),
        ))
        .map_err(|(e, _)| e)
        .expect("delivered");
    }
    let c: BaseConsumer = config
        .clone()
        .set("group.id", format!("{topic}-g"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < values.len() {
        assert!(Instant::now() < deadline, "the group read {got:?}");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            got.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    got
}

#[test]
fn scram_sha_512_over_sasl_ssl_with_librdkafka() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let keystore = pki
        .server("broker")
        .write_keystore(&dir.path().join("ks.pem"), &pki);
    let ca = write_pem(dir.path(), "ca.pem", &pki.ca_pem());
    let b = TestBroker::start(
        &dir.path().join("data"),
        &[
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
            ),
            ("ssl.keystore.location", keystore.to_str().unwrap()),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
        ],
    );
    let mut admin = RawClient::connect(&b.bootstrap());
    let user = upsert("carol", ScramMechanism::Sha512, "carol-secret", 4096);
    assert_eq!(
        alter(&mut admin, vec![], vec![user]),
        vec![("carol".into(), 0)]
    );
    assert_eq!(raw::create_topic(&mut admin, "scram-t", 3, &[]), 0);

    let addr = b.listener_addr("SASL_SSL");
    let secured = |password: &str| {
        clients::config(
            &addr.to_string(),
            &[
                ("security.protocol", "SASL_SSL"),
                ("ssl.ca.location", &ca),
                ("sasl.mechanisms", "SCRAM-SHA-512"),
                ("sasl.username", "carol"),
                ("sasl.password", password),
            ],
        )
    };
    let values: Vec<String> = (0..6).map(|i| format!("scram-{i}")).collect();
    let got = produce_then_group_read(&secured("carol-secret"), "scram-t", &values);
    assert_eq!(got, values.iter().cloned().collect());

    // Metadata on the SASL_SSL listener advertises that listener, not PLAINTEXT.
    let c: BaseConsumer = secured("carol-secret").create().expect("client");
    let md = c
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let ports: Vec<i32> = md.brokers().iter().map(|b| b.port()).collect();
    assert_eq!(ports, vec![i32::from(addr.port())]);

    // A wrong password: librdkafka reports Kafka's SCRAM message as an authentication error.
    let refused: BaseConsumer<Errors> = secured("wrong")
        .create_with_context(Errors::default())
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(20);
    let reason = loop {
        assert!(
            Instant::now() < deadline,
            "no authentication error reported"
        );
        let _ = refused.fetch_metadata(None, Duration::from_millis(100));
        let _ = refused.poll(Duration::from_millis(10));
        let errors = refused.context().0.lock().unwrap().clone();
        if let Some((_, r)) = errors
            .iter()
            .find(|(c, _)| *c == RDKafkaErrorCode::Authentication)
        {
            break r.clone();
        }
    };
    assert!(
        reason.contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{reason}"
    );
    let total: i64 = (0..3)
        .map(|p| raw::list_offset(&mut admin, "scram-t", p, -1).1)
        .sum();
    assert_eq!(total, 6, "nothing but the 6 records was written");
}

#[test]
fn mtls_certificate_subject_is_the_principal_the_authorizer_checks() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let keystore = pki
        .server("broker")
        .write_keystore(&dir.path().join("ks.pem"), &pki);
    let ca = write_pem(dir.path(), "ca.pem", &pki.ca_pem());
    let b = TestBroker::start(
        &dir.path().join("data"),
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"),
            ("ssl.keystore.location", keystore.to_str().unwrap()),
            ("ssl.truststore.location", &ca),
            ("ssl.client.auth", "required"),
            (
                "ssl.principal.mapping.rules",
                "RULE:^CN=([^,]*),O=Acme$/$1/L,DEFAULT",
            ),
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:ANONYMOUS"),
        ],
    );
    // The PLAINTEXT connection is User:ANONYMOUS, a super user: it grants User:alice (the
    // name `CN=Alice,O=Acme` maps to) everything on topic mtls-t and group mtls-t-g.
    let mut admin = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut admin, "mtls-t", 1, &[]), 0);
    crate::support::raw::grant_all(&mut admin, "User:alice", "mtls-t", "mtls-t-g");

    let addr = b.listener_addr("SSL").to_string();
    let as_client = |cn: &str| {
        let issued = pki.client(cn, "Acme");
        let cert = write_pem(dir.path(), &format!("{cn}.crt"), &issued.cert_pem);
        let key = write_pem(dir.path(), &format!("{cn}.key"), &issued.key_pem);
        clients::config(
            &addr,
            &[
                ("security.protocol", "SSL"),
                ("ssl.ca.location", &ca),
                ("ssl.certificate.location", &cert),
                ("ssl.key.location", &key),
                ("message.timeout.ms", "10000"),
            ],
        )
    };
    let values: Vec<String> = (0..4).map(|i| format!("mtls-{i}")).collect();
    let got = produce_then_group_read(&as_client("Alice"), "mtls-t", &values);
    assert_eq!(got, values.iter().cloned().collect());

    // Bob's certificate is as valid, but User:bob has no ACL.
    let bob: FutureProducer = as_client("Bob").create().expect("producer");
    let sent = block_on(bob.send(
        FutureRecord::<(), _>::to("mtls-t").payload("bob"),
        Duration::from_secs(15),
    ));
    let err = sent
        .map(|d| d.offset)
        .map_err(|(e, _)| e)
        .expect_err("bob refused");
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{err}"
    );
    assert_eq!(raw::list_offset(&mut admin, "mtls-t", 0, -1), (0, 4));
}
