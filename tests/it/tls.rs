//! SSL listeners (issue 14): Kafka's framing over TLS on a real broker (ApiVersions, Metadata,
//! Produce/Fetch), client certificates required, garbage on the TLS port, keystore reload on
//! file change, and the principal a client certificate maps to through the server's own
//! handshake code.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gregor::config::BrokerConfig;
use gregor::security::ssl::{subject_rfc2253, ServerTls, SslSettings};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;

use crate::support::raw::{encode_batch, produce_request, topic};
use crate::support::tls::{TestPki, TlsClient};
use crate::support::{wait_for, RawClient, TestBroker};

/// A broker with a PLAINTEXT and an SSL listener; `extra` props on top.
fn ssl_broker(dir: &Path, pki: &TestPki, extra: &[(&str, &str)]) -> TestBroker {
    let keystore = pki
        .server("broker")
        .write_keystore(&dir.join("keystore.pem"), pki);
    let truststore = dir.join("ca.pem");
    std::fs::write(&truststore, pki.ca_pem()).expect("truststore");
    let (ks, ts) = (
        keystore.display().to_string(),
        truststore.display().to_string(),
    );
    let mut props = vec![
        ("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"),
        ("ssl.keystore.location", ks.as_str()),
        ("ssl.truststore.location", ts.as_str()),
    ];
    props.extend_from_slice(extra);
    TestBroker::start(&dir.join("data"), &props)
}

#[test]
fn ssl_listener_serves_the_protocol() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let broker = ssl_broker(dir.path(), &pki, &[]);
    let addr = broker.listener_addr("SSL");
    let mut c = TlsClient::connect(addr, pki.client_config(None)).expect("handshake");
    let versions = c
        .call(&ApiVersionsRequest::default(), 3)
        .expect("api versions");
    assert_eq!(versions.error_code, 0);
    assert!(versions.api_keys.iter().any(|k| k.api_key == 0));
    // Metadata on the SSL listener advertises the SSL listener's port.
    let md = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .expect("metadata");
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].port, addr.port() as i32);
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(topic("tls-t"))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    assert_eq!(c.call(&create, 7).expect("create").topics[0].error_code, 0);
    // A batch large enough that the fetch answer carries a mapped chunk (the zero-copy path
    // of plain sockets, encrypted here).
    let big = "x".repeat(200_000);
    let values: Vec<(Option<&str>, &str)> = vec![(None, "a"), (Some("k"), big.as_str())];
    let batch = encode_batch(&values, None, crate::support::now_ms());
    let produced = c
        .call(&produce_request("tls-t", 0, batch, -1), 9)
        .expect("produce");
    let p = &produced.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic("tls-t"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let fetched = c.call(&fetch, 12).expect("fetch");
    let part = &fetched.responses[0].partitions[0];
    assert_eq!((part.error_code, part.high_watermark), (0, 2));
    let records = part.records.clone().expect("records");
    let mut batches = records.clone();
    let decoded =
        kafka_protocol::records::RecordBatchDecoder::decode(&mut batches).expect("decode");
    let payloads: Vec<usize> = decoded
        .records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
        .collect();
    assert_eq!(payloads, vec![1, 200_000]);
    // The PLAINTEXT listener is unchanged next to it, and DescribeConfigs hides secrets.
    let mut plain = RawClient::connect(&broker.bootstrap());
    assert_eq!(plain.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    let describe = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name("1".to_string().into())
            .with_configuration_keys(Some(vec![
                "ssl.keystore.location".to_string().into(),
                "ssl.key.password".to_string().into(),
            ])),
    ]);
    let configs = plain.call(&describe, 4);
    let entries = &configs.results[0].configs;
    let entry = |n: &str| {
        entries
            .iter()
            .find(|e| e.name.as_str() == n)
            .unwrap_or_else(|| panic!("{n} described"))
    };
    let location = entry("ssl.keystore.location");
    assert!(location
        .value
        .as_ref()
        .is_some_and(|v| v.ends_with("keystore.pem")));
    assert!(!location.is_sensitive);
    let password = entry("ssl.key.password");
    assert_eq!(
        (password.value.as_ref(), password.is_sensitive),
        (None, true)
    );
    broker.stop();
}

#[test]
fn client_certificate_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    // Per-listener override, as Kafka resolves `listener.name.<l>.ssl.*`.
    let broker = ssl_broker(
        dir.path(),
        &pki,
        &[("listener.name.ssl.ssl.client.auth", "required")],
    );
    let addr = broker.listener_addr("SSL");
    // No certificate: the server refuses (TLS 1.3 reports it after the client's side of the
    // handshake), and the connection is closed without an answer.
    let refused = TlsClient::connect(addr, pki.client_config(None))
        .and_then(|mut c| c.call(&ApiVersionsRequest::default(), 3).map(|_| ()));
    assert!(refused.is_err(), "served without a client certificate");
    // A certificate from another CA is refused too.
    let stranger = TestPki::new().client("mallory", "Evil");
    let refused = TlsClient::connect(addr, pki.client_config(Some(&stranger)))
        .and_then(|mut c| c.call(&ApiVersionsRequest::default(), 3).map(|_| ()));
    assert!(refused.is_err(), "served a certificate of an unknown CA");
    let alice = pki.client("alice", "Acme");
    let mut c = TlsClient::connect(addr, pki.client_config(Some(&alice))).expect("handshake");
    assert_eq!(
        c.call(&ApiVersionsRequest::default(), 3)
            .expect("served")
            .error_code,
        0
    );
    broker.stop();
}

#[test]
fn garbage_on_the_ssl_port_closes_only_that_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let broker = ssl_broker(dir.path(), &pki, &[]);
    let addr = broker.listener_addr("SSL");
    let mut good = TlsClient::connect(addr, pki.client_config(None)).expect("handshake");
    // A plaintext Kafka request on the TLS port, then bytes that are no TLS record at all.
    for garbage in [
        RawClient::connect(&addr.to_string()).frame(&ApiVersionsRequest::default(), 3),
        vec![0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3],
    ] {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        s.write_all(&garbage).expect("write");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        // The broker may answer with a TLS alert, then closes: EOF (or a reset), never a hang.
        let closed = match s.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        assert!(closed, "the broker kept a garbage connection open");
        assert!(
            rest.len() < 64,
            "answered garbage with {} bytes",
            rest.len()
        );
    }
    // The established client is unharmed.
    assert_eq!(
        good.call(&ApiVersionsRequest::default(), 3)
            .expect("served")
            .error_code,
        0
    );
    broker.stop();
}

#[test]
fn keystore_file_change_is_picked_up_by_new_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let broker = ssl_broker(dir.path(), &pki, &[]);
    let addr = broker.listener_addr("SSL");
    let cn = |c: &TlsClient| subject_rfc2253(&c.server_certificate()).expect("subject");
    let first = TlsClient::connect(addr, pki.client_config(None)).expect("handshake");
    assert_eq!(cn(&first), "CN=broker");
    pki.server("broker-rotated")
        .write_keystore(&dir.path().join("keystore.pem"), &pki);
    let rotated = wait_for("the new certificate", Duration::from_secs(10), || {
        let c = TlsClient::connect(addr, pki.client_config(None)).ok()?;
        (cn(&c) == "CN=broker-rotated").then_some(c)
    });
    drop(rotated);
    // A broken file is logged and the last good configuration stays.
    std::fs::write(dir.path().join("keystore.pem"), "not a keystore").expect("write");
    let c = TlsClient::connect(addr, pki.client_config(None)).expect("handshake");
    assert_eq!(cn(&c), "CN=broker-rotated");
    broker.stop();
}

/// The server's handshake code with a client certificate: the principal is `User:` + the
/// subject DN (RFC 2253) through `ssl.principal.mapping.rules`, `User:ANONYMOUS` without one.
#[test]
fn client_certificate_principal_follows_the_mapping_rules() {
    let pki = TestPki::new();
    let server = pki.server("broker");
    let config = |rules: &str, auth: &str| {
        let mut cfg = BrokerConfig::default();
        let pairs: Vec<(String, String)> = [
            ("ssl.keystore.key", server.key_pem.as_str()),
            ("ssl.keystore.certificate.chain", server.cert_pem.as_str()),
            ("ssl.truststore.certificates", &pki.ca_pem()),
            ("ssl.client.auth", auth),
            ("ssl.principal.mapping.rules", rules),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        cfg.apply_properties(&pairs, &mut Vec::new())
            .expect("valid");
        let settings = SslSettings::resolve(&cfg, "SSL").expect("settings");
        Arc::new(ServerTls::new(settings, true).expect("tls"))
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let principal = |tls: Arc<ServerTls>, client: Option<&crate::support::tls::Issued>| {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = rt.spawn(async move {
            let (sock, peer) = listener.accept().await.expect("accept");
            let (_tx, mut rx) = tokio::sync::broadcast::channel(1);
            let shaken =
                gregor::server::tls::handshake(sock, peer, &tls, Duration::from_secs(10), &mut rx)
                    .await;
            shaken.map(|(_, p)| p.to_string())
        });
        let _client = TlsClient::connect(addr, pki.client_config(client)).expect("handshake");
        rt.block_on(server).expect("server task")
    };
    let alice = pki.client("Alice", "Acme");
    let rules = "RULE:^CN=([^,]*),O=Acme$/$1/L,DEFAULT";
    assert_eq!(
        principal(config(rules, "required"), Some(&alice)).as_deref(),
        Some("User:alice")
    );
    assert_eq!(
        principal(config("DEFAULT", "requested"), Some(&alice)).as_deref(),
        Some("User:CN=Alice,O=Acme")
    );
    assert_eq!(
        principal(config("DEFAULT", "requested"), None).as_deref(),
        Some("User:ANONYMOUS")
    );
    // No rule applies: the connection is refused.
    let only_acme = "RULE:^CN=([^,]*),O=Other$/$1/";
    assert_eq!(principal(config(only_acme, "required"), Some(&alice)), None);
}
