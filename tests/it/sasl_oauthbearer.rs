//! SASL/OAUTHBEARER with Kafka's default (unsecured JWT) validator on a SASL_PLAINTEXT
//! listener: librdkafka's own unsecured tokens (`principal=alice`) produce and consume, and
//! the token's `sub` is the principal the authorizer checks (an ACL for `User:alice` lets
//! alice in and leaves `principal=bob` with TOPIC_AUTHORIZATION_FAILED); over the raw
//! protocol an expired token gets Kafka's JSON error challenge, then, after the client's
//! `\x01`, SASL_AUTHENTICATION_FAILED; malformed messages and tokens are refused without a
//! panic and the broker keeps serving.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::executor::block_on;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::sasl::{authenticate, handshake};
use crate::secured_rdkafka::produce_then_group_read;
use crate::support::raw::{self, RawClient};
use crate::support::{clients, encode_batch, now_ms, TestBroker};

const JAAS: &str = r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredValidatorAllowableClockSkewMs="1000";"#;

fn oauth_broker(dir: &std::path::Path, authorizer: bool) -> TestBroker {
    let mut props = vec![
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        ),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        ),
        ("sasl.enabled.mechanisms", "OAUTHBEARER"),
        (
            "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
            JAAS,
        ),
    ];
    if authorizer {
        props.extend([
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:ANONYMOUS"),
        ]);
    }
    TestBroker::start(dir, &props)
}

/// An unsecured JWS as Kafka's login module writes it.
fn jwt(claims: &str) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

fn initial_response(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

#[test]
fn librdkafka_unsecured_jwt_principal_is_what_the_authorizer_checks() {
    let dir = tempfile::tempdir().unwrap();
    let b = oauth_broker(dir.path(), true);
    let mut admin = RawClient::connect(&b.bootstrap());
    assert_eq!(raw::create_topic(&mut admin, "oauth-t", 1, &[]), 0);
    crate::support::raw::grant_all(&mut admin, "User:alice", "oauth-t", "oauth-t-g");

    let addr = b.listener_addr("SASL_PLAINTEXT").to_string();
    let as_principal = |name: &str| {
        clients::config(
            &addr,
            &[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanisms", "OAUTHBEARER"),
                ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
                ("sasl.oauthbearer.config", &format!("principal={name}")),
                ("message.timeout.ms", "10000"),
            ],
        )
    };
    let values: Vec<String> = (0..4).map(|i| format!("oauth-{i}")).collect();
    let got = produce_then_group_read(&as_principal("alice"), "oauth-t", &values);
    assert_eq!(got, values.iter().cloned().collect());

    // Bob's token is as well-formed, but User:bob has no ACL.
    let bob: FutureProducer = as_principal("bob").create().expect("producer");
    let sent = block_on(bob.send(
        FutureRecord::<(), _>::to("oauth-t").payload("bob"),
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
    assert_eq!(raw::list_offset(&mut admin, "oauth-t", 0, -1), (0, 4));
}

#[test]
fn expired_token_gets_the_json_challenge_then_authentication_failed() {
    let dir = tempfile::tempdir().unwrap();
    let b = oauth_broker(dir.path(), false);
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let now_s = now_ms() / 1000;

    let mut c = RawClient::connect(&sasl);
    let h = handshake(&mut c, "OAUTHBEARER");
    assert_eq!(h.error_code, 0);
    assert_eq!(
        h.mechanisms
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>(),
        ["OAUTHBEARER"]
    );
    let expired = jwt(&format!(
        r#"{{"sub":"alice","iat":{},"exp":{}}}"#,
        now_s - 3600,
        now_s - 60
    ));
    let r = authenticate(&mut c, &initial_response(&expired));
    assert_eq!(r.error_code, 0);
    assert_eq!(&r.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    let r = authenticate(&mut c, b"\x01");
    assert_eq!(r.error_code, 58);
    assert_eq!(
        r.error_message.as_deref(),
        Some(r#"{"status":"invalid_token"}"#)
    );
    assert!(c.is_closed());

    // A live token authenticates the connection, which then serves everything.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let live = jwt(&format!(r#"{{"sub":"alice","exp":{}}}"#, now_s + 600));
    let sent = now_ms();
    let r = authenticate(&mut c, &initial_response(&live));
    assert_eq!((r.error_code, r.auth_bytes.len()), (0, 0));
    // KIP-368: the token's `exp` bounds the session even with connections.max.reauth.ms off.
    let left = (now_s + 600) * 1000 - sent;
    assert!(
        (left - 5_000..=left).contains(&r.session_lifetime_ms),
        "session lifetime {} for a token with {left} ms left",
        r.session_lifetime_ms
    );
    assert_eq!(raw::create_topic(&mut c, "oauth-raw", 1, &[]), 0);
    let p = raw::produce(
        &mut c,
        "oauth-raw",
        0,
        encode_batch(&[(None, "v")], None, now_ms()),
    );
    assert_eq!((p.error_code, p.base_offset), (0, 0));

    // An authzid other than the token's principal is refused with Kafka's message.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let msg = format!("n,a=bob,\x01auth=Bearer {live}\x01\x01");
    let r = authenticate(&mut c, msg.as_bytes());
    assert_eq!(r.error_code, 58);
    assert!(
        r.error_message
            .as_deref()
            .unwrap_or("")
            .contains("different from the token's principal name (alice)"),
        "{:?}",
        r.error_message
    );
}

#[test]
fn malformed_messages_and_tokens_are_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let b = oauth_broker(dir.path(), false);
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let generic =
        "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER";
    // Messages that are not OAUTHBEARER: refused at once with Kafka's generic text.
    for msg in [
        &b""[..],
        b"\xff\xfe\x00",
        b"n,,auth=Bearer x\x01\x01",
        b"n,,\x01auth=Basic abc\x01\x01",
        b"n,,\x01auth=Bearer a b\x01\x01",
        b"\x01",
    ] {
        let mut c = RawClient::connect(&sasl);
        assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
        let r = authenticate(&mut c, msg);
        assert_eq!(
            (r.error_code, r.error_message.as_deref()),
            (58, Some(generic)),
            "{msg:?}"
        );
        assert!(c.is_closed());
    }
    // Well-framed messages carrying bad tokens: the error challenge, then 58.
    let far = now_ms() / 1000 + 600;
    let mut big = "A".repeat(400 * 1024);
    big.push_str("..");
    let signed = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"alice","exp":{far}}}"#))
    );
    for token in [
        "abc".to_string(),
        "a.b.".to_string(),
        format!("{}.", URL_SAFE_NO_PAD.encode("[[[[[[[[")),
        jwt(r#"{"sub":"alice"}"#),
        jwt(&format!(r#"{{"exp":{far}}}"#)),
        jwt(&format!(r#"{{"sub":["alice"],"exp":{far}}}"#)),
        jwt(&format!(r#"{{"sub":"alice","exp":"{far}"}}"#)),
        signed,
        big,
    ] {
        let mut c = RawClient::connect(&sasl);
        assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
        let r = authenticate(&mut c, &initial_response(&token));
        assert_eq!(r.error_code, 0, "{}", &token[..token.len().min(60)]);
        assert_eq!(&r.auth_bytes[..], br#"{"status":"invalid_token"}"#);
        let r = authenticate(&mut c, b"\x01");
        assert_eq!(r.error_code, 58);
        assert!(c.is_closed());
    }
    // The broker still serves, and nothing authenticated as anyone.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let live = jwt(&format!(r#"{{"sub":"carol","exp":{far}}}"#));
    assert_eq!(authenticate(&mut c, &initial_response(&live)).error_code, 0);
}
