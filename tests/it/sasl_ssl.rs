//! SASL_SSL: TLS first, then SASL on the encrypted stream (issue 14). A listener mapped to
//! SASL_SSL speaks TLS (the server certificate only: its principal comes from SASL, not from
//! a client certificate), gates every API but ApiVersions and the SASL requests until PLAIN
//! succeeds, answers a wrong password with SASL_AUTHENTICATION_FAILED (58) and closes, and
//! then serves the protocol like any other listener.

use std::path::Path;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::sasl::JAAS;
use crate::support::raw::{encode_batch, produce_request, topic};
use crate::support::tls::{TestPki, TlsClient};
use crate::support::{now_ms, TestBroker};

/// A node with a PLAINTEXT listener and a SASL_SSL one named SECURE offering PLAIN.
fn sasl_ssl_broker(dir: &Path, pki: &TestPki) -> TestBroker {
    let keystore = pki
        .server("broker")
        .write_keystore(&dir.join("keystore.pem"), pki);
    let ks = keystore.display().to_string();
    TestBroker::start(
        &dir.join("data"),
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0,SECURE://127.0.0.1:0"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL",
            ),
            ("listener.name.secure.ssl.keystore.location", ks.as_str()),
            ("sasl.enabled.mechanisms", "PLAIN"),
            ("listener.name.secure.plain.sasl.jaas.config", JAAS),
        ],
    )
}

fn handshake(c: &mut TlsClient) -> Result<SaslHandshakeResponse, String> {
    c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        1,
    )
}

fn authenticate(c: &mut TlsClient, token: &[u8]) -> Result<SaslAuthenticateResponse, String> {
    c.call(
        &SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::copy_from_slice(token)),
        2,
    )
}

#[test]
fn sasl_ssl_authenticates_over_tls_then_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let broker = sasl_ssl_broker(dir.path(), &pki);
    let addr = broker.listener_addr("SECURE");
    let connect = || TlsClient::connect(addr, pki.client_config(None)).expect("handshake");

    // Before authentication: ApiVersions is answered, a Produce closes the connection.
    let mut c = connect();
    let versions = c.call(&ApiVersionsRequest::default(), 3).expect("versions");
    assert_eq!(versions.error_code, 0);
    let batch = encode_batch(&[(None, "early")], None, now_ms());
    assert!(
        c.call(&produce_request("sasl-ssl-t", 0, batch, -1), 9)
            .is_err(),
        "a Produce before authentication closes the connection"
    );

    // A wrong password: Kafka's error 58, then the connection is closed.
    let mut c = connect();
    assert_eq!(handshake(&mut c).expect("handshake").error_code, 0);
    let refused = authenticate(&mut c, b"\0alice\0wrong").expect("answer");
    assert_eq!(refused.error_code, 58);
    assert!(c.call(&ApiVersionsRequest::default(), 3).is_err());

    // The right password: the listener then serves the protocol, and its Metadata advertises
    // the SASL_SSL listener's own port.
    let mut c = connect();
    let h = handshake(&mut c).expect("handshake");
    assert_eq!(h.error_code, 0);
    assert!(h.mechanisms.iter().any(|m| m.as_str() == "PLAIN"));
    let ok = authenticate(&mut c, b"\0alice\0alice-secret").expect("answer");
    assert_eq!(ok.error_code, 0, "{:?}", ok.error_message);
    let md = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .expect("metadata");
    assert_eq!(md.brokers[0].port, addr.port() as i32);
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(topic("sasl-ssl-t"))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    assert_eq!(c.call(&create, 7).expect("create").topics[0].error_code, 0);
    for expected in 0..2 {
        let batch = encode_batch(&[(None, "after")], None, now_ms());
        let produced = c
            .call(&produce_request("sasl-ssl-t", 0, batch, -1), 9)
            .expect("produce");
        let p = &produced.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, expected));
    }
    broker.stop();
}
