//! SASL on a SASL_PLAINTEXT listener: PLAIN with librdkafka (right password: produce and
//! consume; wrong password: an authentication error and nothing written), and the hostile
//! cases before authentication over the raw protocol (a Produce before SaslAuthenticate, a
//! request out of order, an oversized frame, garbage tokens, an unknown mechanism, handshake
//! v0): each closes the connection or answers Kafka's code, and the broker keeps serving.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::raw::{self, RawClient};
use crate::support::{clients, encode_batch, now_ms, TestBroker};

pub const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";"#;

/// A node with a PLAINTEXT listener (first) and a SASL_PLAINTEXT one.
pub fn sasl_broker(dir: &std::path::Path, mechanisms: &str) -> TestBroker {
    sasl_broker_with(dir, mechanisms, &[])
}

/// As [`sasl_broker`], with `extra` keys.
pub fn sasl_broker_with(
    dir: &std::path::Path,
    mechanisms: &str,
    extra: &[(&str, &str)],
) -> TestBroker {
    let mut props = vec![
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        ),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        ),
        ("sasl.enabled.mechanisms", mechanisms),
        ("listener.name.sasl_plaintext.plain.sasl.jaas.config", JAAS),
    ];
    props.extend_from_slice(extra);
    TestBroker::start(dir, &props)
}

fn sasl_config<'a>(user: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

fn api_versions(c: &mut RawClient) {
    let r = c.call(
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("t"))
            .with_client_software_version(StrBytes::from_static_str("1")),
        3,
    );
    assert_eq!(r.error_code, 0);
    for key in [17, 36, 50, 51] {
        assert!(
            r.api_keys.iter().any(|k| k.api_key == key),
            "api {key} advertised"
        );
    }
    // librdkafka 2.0 (kcat 1.7) enables SASL only if SaslHandshake's range includes v0.
    let handshake = r.api_keys.iter().find(|k| k.api_key == 17).expect("17");
    assert_eq!((handshake.min_version, handshake.max_version), (0, 1));
}

pub fn handshake(c: &mut RawClient, mechanism: &'static str) -> SaslHandshakeResponse {
    c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        1,
    )
}

pub fn authenticate(c: &mut RawClient, token: &[u8]) -> SaslAuthenticateResponse {
    c.call(
        &SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::copy_from_slice(token)),
        2,
    )
}

#[test]
fn plain_with_rdkafka_right_and_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let b = sasl_broker(dir.path(), "PLAIN");
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();

    let producer: FutureProducer = clients::producer(&sasl, &sasl_config("alice", "alice-secret"));
    for i in 0..3 {
        let payload = format!("v{i}");
        let sent = block_on(producer.send(
            FutureRecord::<(), _>::to("plain-t").payload(&payload),
            Duration::from_secs(20),
        ));
        let d = sent.map_err(|(e, _)| e).expect("delivered over SASL/PLAIN");
        assert_eq!((d.partition, d.offset), (0, i));
    }
    let mut cfg = sasl_config("bob", "bob-secret");
    cfg.extend([("group.id", "sasl-g"), ("enable.auto.commit", "false")]);
    let consumer: BaseConsumer = clients::config(&sasl, &cfg).create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("plain-t", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 3 {
        assert!(Instant::now() < deadline, "consumed {got:?}");
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("consume over SASL/PLAIN");
            got.push((m.offset(), m.payload().map(<[u8]>::to_vec)));
        }
    }
    assert_eq!(
        got,
        (0..3)
            .map(|i| (i, Some(format!("v{i}").into_bytes())))
            .collect::<Vec<_>>()
    );

    // Wrong password: delivery fails, nothing reaches the log.
    let mut bad = sasl_config("alice", "wrong");
    bad.push(("message.timeout.ms", "4000"));
    let intruder: FutureProducer = clients::config(&sasl, &bad).create().expect("producer");
    let sent = block_on(intruder.send(
        FutureRecord::<(), _>::to("plain-t").payload("intruder"),
        Duration::from_secs(10),
    ));
    assert!(sent.is_err(), "a wrong password must not deliver: {sent:?}");
    let mut c = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::list_offset(&mut c, "plain-t", 0, -1), (0, 3));
}

#[test]
fn plain_failure_answers_kafkas_error_after_the_delay_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let b = sasl_broker(dir.path(), "PLAIN,SCRAM-SHA-256");
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();

    let mut c = RawClient::connect(&sasl);
    api_versions(&mut c);
    let h = handshake(&mut c, "PLAIN");
    assert_eq!(h.error_code, 0);
    let enabled: Vec<String> = h.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(enabled, ["PLAIN", "SCRAM-SHA-256"]);
    let started = Instant::now();
    let r = authenticate(&mut c, b"\0alice\0nope");
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.error_code, 58);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(c.is_closed());

    // Right password: the connection then serves everything.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let r = authenticate(&mut c, b"\0alice\0alice-secret");
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 0));
    let batch = encode_batch(&[(None, "after-auth")], None, now_ms());
    assert_eq!(raw::create_topic(&mut c, "auth-t", 1, &[]), 0);
    let p = raw::produce(&mut c, "auth-t", 0, batch);
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    // Authenticated: SASL requests now get ILLEGAL_SASL_STATE, as Kafka's KafkaApis answers.
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 34);
}

#[test]
fn hostile_input_before_authentication_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let b = sasl_broker(dir.path(), "PLAIN,SCRAM-SHA-512");
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let mut plain = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut plain, "hostile", 1, &[]), 0);
    let batch = || encode_batch(&[(None, "x")], None, now_ms());

    // A Produce before any SASL request, and one after the handshake.
    let mut c = RawClient::connect(&sasl);
    let frame = c.frame(&raw::produce_request("hostile", 0, batch(), -1), 9);
    c.send_raw(&frame);
    assert!(c.is_closed(), "Produce before SaslHandshake");
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let frame = c.frame(&raw::produce_request("hostile", 0, batch(), -1), 9);
    c.send_raw(&frame);
    assert!(c.is_closed(), "Produce before SaslAuthenticate");
    // ApiVersions after the handshake is out of order too.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let frame = c.frame(&ApiVersionsRequest::default(), 0);
    c.send_raw(&frame);
    assert!(c.is_closed(), "ApiVersions after the handshake");

    // A 1 MiB SaslAuthenticate frame: refused from its size prefix (limit 512 KiB).
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512").error_code, 0);
    let mut huge = (1i32 << 20).to_be_bytes().to_vec();
    huge.extend_from_slice(&[0u8; 64]);
    c.send_raw(&huge);
    assert!(c.is_closed(), "1 MiB frame before authentication");
    // Just below the limit is read, then fails as a SCRAM message (not a closed socket
    // without an answer).
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512").error_code, 0);
    let mut first = b"n,,n=alice,r=".to_vec();
    first.resize(500 * 1024, b'a');
    let r = authenticate(&mut c, &first);
    assert_eq!(r.error_code, 58);
    assert!(c.is_closed());

    // Garbage tokens for each mechanism: an error, no panic.
    for (mechanism, token) in [
        ("PLAIN", &b"\xff\xff\x00"[..]),
        ("PLAIN", b""),
        ("SCRAM-SHA-512", b"\x00\x01garbage"),
        ("SCRAM-SHA-512", b"p=tls-server-end-point,,n=a,r=b"),
    ] {
        let mut c = RawClient::connect(&sasl);
        assert_eq!(handshake(&mut c, mechanism).error_code, 0);
        let r = authenticate(&mut c, token);
        assert_eq!(r.error_code, 58, "{mechanism} {token:?}");
        assert!(c.is_closed());
    }

    // Unknown or unsupported mechanism: 33 with the enabled list, then closed.
    for mechanism in ["GSSAPI", "SCRAM-SHA-256", "OAUTHBEARER"] {
        let mut c = RawClient::connect(&sasl);
        let h = handshake(&mut c, mechanism);
        assert_eq!(h.error_code, 33, "{mechanism}");
        assert_eq!(h.mechanisms.len(), 2);
        assert!(c.is_closed());
    }
    // Handshake v0 (raw tokens) is not served: closed.
    let mut c = RawClient::connect(&sasl);
    let frame = c.frame(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        0,
    );
    c.send_raw(&frame);
    assert!(c.is_closed(), "handshake v0");

    // Nothing was written, and the broker still serves.
    assert_eq!(raw::list_offset(&mut plain, "hostile", 0, -1), (0, 0));
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    assert_eq!(authenticate(&mut c, b"\0bob\0bob-secret").error_code, 0);
}
