//! KIP-368 re-authentication on a SASL_PLAINTEXT listener with `connections.max.reauth.ms`:
//! librdkafka (which re-authenticates when SaslAuthenticate answers a session lifetime)
//! produces and group-consumes across several lifetimes without losing a record while the
//! broker counts its re-authentications; over the raw protocol a client that never
//! re-authenticates is answered until its session ends and closed on its next request (the
//! per-listener, per-mechanism key bounding it), a re-authentication keeps the connection,
//! a second one within a second is refused as Kafka refuses it, and one naming another
//! principal or mechanism is refused and closes the connection. librdkafka's OAUTHBEARER
//! sessions are renewed the same way.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use kafka_protocol::messages::MetadataRequest;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::sasl::{authenticate, handshake};
use crate::support::raw::{self, RawClient};
use crate::support::wait::poll;
use crate::support::{clients, encode_batch, now_ms, TestBroker};

/// A node with a PLAINTEXT listener (first) and a SASL_PLAINTEXT one enabling `mechanisms`,
/// PLAIN's users alice and bob, and `extra` keys.
fn reauth_broker(dir: &std::path::Path, mechanisms: &str, extra: &[(&str, &str)]) -> TestBroker {
    crate::sasl::sasl_broker_with(dir, mechanisms, extra)
}

/// (successful re-authentications, failed ones, expired connections closed).
fn counters(b: &TestBroker) -> (u64, u64, u64) {
    b.with_broker(|broker| async move {
        let m = &broker.sasl_metrics;
        (
            m.successful_reauthentications(),
            m.failed_reauthentications(),
            m.expired_connections_killed(),
        )
    })
}

fn plain(user: &str) -> Vec<u8> {
    format!("\0{user}\0{user}-secret").into_bytes()
}

fn metadata_ok(c: &mut RawClient) -> Result<(), String> {
    c.try_call(&MetadataRequest::default().with_topics(Some(vec![])), 9)
        .map(|r| assert!(!r.brokers.is_empty()))
}

#[test]
fn rdkafka_produces_and_consumes_across_session_lifetimes() {
    let dir = tempfile::tempdir().unwrap();
    let b = reauth_broker(
        dir.path(),
        "PLAIN",
        &[("connections.max.reauth.ms", "2000")],
    );
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let mut admin = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut admin, "reauth-t", 1, &[]), 0);

    let auth = |user: &'static str, pass: &'static str| {
        vec![
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", user),
            ("sasl.password", pass),
        ]
    };
    let producer: FutureProducer = clients::producer(&sasl, &auth("alice", "alice-secret"));
    let mut cfg = auth("bob", "bob-secret");
    cfg.extend([
        ("group.id", "reauth-g"),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ]);
    let consumer: BaseConsumer = clients::config(&sasl, &cfg).create().expect("consumer");
    consumer.subscribe(&["reauth-t"]).expect("subscribe");

    // Produce one record at a time and consume as we go until both clients' connections
    // re-authenticated several times (a lifetime is 2 s: this spans at least three).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let mut sent = Vec::new();
    let mut got = Vec::new();
    while counters(&b).0 < 6 || started.elapsed() < Duration::from_secs(6) {
        assert!(
            Instant::now() < deadline,
            "re-authentications {:?} after {} records",
            counters(&b),
            sent.len()
        );
        let payload = format!("r{}", sent.len());
        let d = block_on(producer.send(
            FutureRecord::<(), _>::to("reauth-t").payload(&payload),
            Duration::from_secs(20),
        ))
        .map_err(|(e, _)| e)
        .expect("delivered across re-authentications");
        assert_eq!((d.partition, d.offset), (0, sent.len() as i64));
        sent.push(payload);
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push((m.offset(), m.payload().map(<[u8]>::to_vec)));
        }
    }
    let rest = poll(Duration::from_secs(30), || {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            got.push((m.offset(), m.payload().map(<[u8]>::to_vec)));
        }
        (got.len() >= sent.len()).then_some(())
    });
    assert!(rest.is_some(), "consumed {} of {}", got.len(), sent.len());
    let want: Vec<(i64, Option<Vec<u8>>)> = sent
        .iter()
        .enumerate()
        .map(|(i, p)| (i as i64, Some(p.clone().into_bytes())))
        .collect();
    assert_eq!(got, want);
    let (ok, failed, expired) = counters(&b);
    assert!(ok >= 6, "successful re-authentications: {ok}");
    // librdkafka renews a session at 90% of its lifetime, so a connection closed for expiry
    // (then reconnected: the records above are whole either way) means a client thread was
    // late by 200 ms; on a quiet machine none is. No renewal is ever refused.
    assert_eq!(failed, 0, "refused re-authentications");
    assert!(
        expired <= ok / 4,
        "{expired} connections expired, {ok} renewed"
    );
}

#[test]
fn a_client_that_does_not_reauthenticate_is_closed_after_its_session() {
    let dir = tempfile::tempdir().unwrap();
    // The listener's PLAIN sessions last 1 s; the broker-wide value is a minute.
    let b = reauth_broker(
        dir.path(),
        "PLAIN",
        &[
            ("connections.max.reauth.ms", "60000"),
            (
                "listener.name.sasl_plaintext.plain.connections.max.reauth.ms",
                "1000",
            ),
        ],
    );
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let authenticated = Instant::now();
    let r = authenticate(&mut c, &plain("alice"));
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 1000));

    // Served until the session ends, then the next request closes the connection unanswered.
    let mut answered = 0;
    let closed_at = poll(Duration::from_secs(20), || match metadata_ok(&mut c) {
        Ok(()) => {
            answered += 1;
            None
        }
        Err(_) => Some(authenticated.elapsed()),
    })
    .expect("the connection closes once its session ended");
    assert!(answered > 0, "requests within the session are served");
    assert!(closed_at >= Duration::from_millis(1000), "{closed_at:?}");
    assert_eq!(counters(&b), (0, 0, 1));

    // The broker serves everyone else: a new connection authenticates again.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    assert_eq!(authenticate(&mut c, &plain("bob")).error_code, 0);
    metadata_ok(&mut c).expect("a fresh session is served");
}

#[test]
fn reauthentication_keeps_its_principal_and_mechanism() {
    let dir = tempfile::tempdir().unwrap();
    let b = reauth_broker(
        dir.path(),
        "PLAIN,SCRAM-SHA-256",
        &[("connections.max.reauth.ms", "2000")],
    );
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let mut admin = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut admin, "reauth-raw", 1, &[]), 0);

    // Same principal: the connection is renewed and keeps serving.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let r = authenticate(&mut c, &plain("alice"));
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 2000));
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let r = authenticate(&mut c, &plain("alice"));
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 2000));
    let p = raw::produce(
        &mut c,
        "reauth-raw",
        0,
        encode_batch(&[(None, "renewed")], None, now_ms()),
    );
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    // A second re-authentication within a second is served as a plain SaslHandshake on an
    // authenticated connection: ILLEGAL_SASL_STATE, and the connection stays.
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 34);
    metadata_ok(&mut c).expect("still served");
    assert_eq!(counters(&b), (1, 0, 0));

    // Another principal: refused with Kafka's message, then the connection closes.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    assert_eq!(authenticate(&mut c, &plain("alice")).error_code, 0);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    let r = authenticate(&mut c, &plain("bob"));
    assert_eq!(r.error_code, 58);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Cannot change principals during re-authentication from User.alice: User.bob")
    );
    assert!(
        c.is_closed(),
        "a refused re-authentication closes the connection"
    );

    // Another mechanism: the handshake is answered, the next token closes the connection.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
    assert_eq!(authenticate(&mut c, &plain("alice")).error_code, 0);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-256").error_code, 0);
    let frame = c.frame(
        &kafka_protocol::messages::SaslAuthenticateRequest::default()
            .with_auth_bytes(bytes::Bytes::from_static(b"n,,n=alice,r=abc")),
        2,
    );
    c.send_raw(&frame);
    assert!(c.is_closed(), "a re-authentication with another mechanism");
    assert_eq!(counters(&b), (1, 2, 0));

    // Nothing of the refused sessions reached the log; the renewed one's record did.
    assert_eq!(raw::list_offset(&mut admin, "reauth-raw", 0, -1), (0, 1));
}

#[test]
fn librdkafka_oauthbearer_sessions_are_renewed_with_the_same_principal() {
    let dir = tempfile::tempdir().unwrap();
    let jaas = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;";
    let b = reauth_broker(
        dir.path(),
        "OAUTHBEARER",
        &[
            (
                "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                jaas,
            ),
            (
                "listener.name.sasl_plaintext.oauthbearer.connections.max.reauth.ms",
                "1500",
            ),
        ],
    );
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let mut admin = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut admin, "reauth-oauth", 1, &[]), 0);
    let producer: FutureProducer = clients::producer(
        &sasl,
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "OAUTHBEARER"),
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
            ("sasl.oauthbearer.config", "principal=alice"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0i64;
    while counters(&b).0 < 3 {
        assert!(
            Instant::now() < deadline,
            "re-authentications {:?}",
            counters(&b)
        );
        let d = block_on(producer.send(
            FutureRecord::<(), _>::to("reauth-oauth").payload("v"),
            Duration::from_secs(20),
        ))
        .map_err(|(e, _)| e)
        .expect("delivered across OAUTHBEARER re-authentications");
        assert_eq!(d.offset, n);
        n += 1;
    }
    assert_eq!(raw::list_offset(&mut admin, "reauth-oauth", 0, -1), (0, n));
    assert_eq!(counters(&b).1, 0, "no renewal refused");
}
