//! A validator of one's own for OAUTHBEARER (`gregor::testing::OAuthBearerValidator`): a
//! TestBroker whose validator accepts only `secret-<user>` tokens serves rdkafka clients whose
//! token comes from the client context's callback (`generate_oauth_token`), as `User:<user>`
//! (an ACL for alice lets her produce and group-consume, bob's valid token gets
//! TOPIC_AUTHORIZATION_FAILED, the validator saw both); a wrong token is refused with Kafka's
//! JSON challenge, then SASL_AUTHENTICATION_FAILED; the session lifetime SaslAuthenticate
//! answers is the validator's expiry when it ends before `connections.max.reauth.ms`, and that
//! bound otherwise, and librdkafka renews such sessions while it produces.
//! `sasl.server.callback.handler.class`: `gregor serve` refuses a custom
//! class with a message naming the library API, and serves with Kafka's unsecured class.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::executor::block_on;
use gregor::testing::{
    Error, OAuthBearerValidator, TestBroker, TestCluster, TokenRefusal, ValidatedToken,
};
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::sasl::handshake;
use crate::support::raw::{self, RawClient};
use crate::support::{free_port, now_ms, BrokerProcess};

/// Accepts `secret-<user>` for `lifetime_ms` from now; records every principal it accepted.
#[derive(Clone)]
struct SharedSecret {
    lifetime_ms: i64,
    seen: Arc<Mutex<Vec<String>>>,
}

impl OAuthBearerValidator for SharedSecret {
    fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenRefusal> {
        match token.strip_prefix("secret-").filter(|u| !u.is_empty()) {
            Some(user) => {
                self.seen.lock().unwrap().push(user.to_string());
                Ok(ValidatedToken::new(user, now_ms + self.lifetime_ms).with_scopes(["kafka"]))
            }
            None => Err(TokenRefusal::invalid_token("not a shared-secret token")),
        }
    }
}

fn secret_broker(v: SharedSecret, extra: &[(&str, &str)]) -> TestBroker {
    let mut b = TestBroker::builder()
        .config(
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        )
        .config(
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        )
        .config("sasl.enabled.mechanisms", "OAUTHBEARER")
        .listener_oauthbearer_validator("SASL_PLAINTEXT", v);
    for (k, val) in extra {
        b = b.config(*k, *val);
    }
    b.start().expect("broker starts")
}

/// An rdkafka client context whose token callback hands out `token`.
struct TokenContext {
    token: String,
}

impl ClientContext for TokenContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        Ok(OAuthToken {
            token: self.token.clone(),
            principal_name: self.token.trim_start_matches("secret-").to_string(),
            lifetime_ms: now_ms() + 3_600_000,
        })
    }
}

impl ConsumerContext for TokenContext {}

fn client_config(addr: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr)
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "OAUTHBEARER")
        .set("message.timeout.ms", "10000");
    c
}

fn producer(addr: &str, token: &str) -> FutureProducer<TokenContext> {
    client_config(addr)
        .set("linger.ms", "5")
        .create_with_context(TokenContext {
            token: token.into(),
        })
        .expect("producer")
}

fn send(
    p: &FutureProducer<TokenContext>,
    topic: &str,
    v: &str,
) -> rdkafka::error::KafkaResult<i64> {
    block_on(p.send(
        FutureRecord::<(), _>::to(topic).payload(v),
        Duration::from_secs(15),
    ))
    .map(|d| d.offset)
    .map_err(|(e, _)| e)
}

fn initial_response(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

fn authenticate_v1(c: &mut RawClient, token: &[u8]) -> SaslAuthenticateResponse {
    c.call(
        &SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::copy_from_slice(token)),
        1,
    )
}

#[test]
fn rdkafka_authenticates_through_a_custom_validator_as_its_principal() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let v = SharedSecret {
        lifetime_ms: 3_600_000,
        seen: seen.clone(),
    };
    let b = secret_broker(
        v,
        &[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:ANONYMOUS"),
        ],
    );
    b.create_topic("secret-t", 1, 1).expect("topic");
    let mut admin = RawClient::connect(&b.bootstrap());
    crate::support::raw::grant_all(&mut admin, "User:alice", "secret-t", "secret-g");
    let addr = b.listener_addr("SASL_PLAINTEXT").expect("sasl").to_string();

    // Alice produces and group-consumes.
    let alice = producer(&addr, "secret-alice");
    let values: Vec<String> = (0..3).map(|i| format!("v{i}")).collect();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            send(&alice, "secret-t", v).expect("alice delivers"),
            i as i64
        );
    }
    let consumer: BaseConsumer<TokenContext> = client_config(&addr)
        .set("group.id", "secret-g")
        .set("auto.offset.reset", "earliest")
        .create_with_context(TokenContext {
            token: "secret-alice".into(),
        })
        .expect("consumer");
    consumer.subscribe(&["secret-t"]).expect("subscribe");
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < values.len() {
        assert!(Instant::now() < deadline, "the group read {got:?}");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            got.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(got, values.iter().cloned().collect());

    // Bob's token is valid, but User:bob has no ACL: the validator's principal is checked.
    let bob = producer(&addr, "secret-bob");
    let err = send(&bob, "secret-t", "bob").expect_err("bob refused");
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{err}"
    );
    // A token the validator refuses: nothing is written.
    let mallory: FutureProducer<TokenContext> = client_config(&addr)
        .set("message.timeout.ms", "4000")
        .create_with_context(TokenContext {
            token: "forged-alice".into(),
        })
        .expect("producer");
    assert!(send(&mallory, "secret-t", "mallory").is_err());
    assert_eq!(raw::list_offset(&mut admin, "secret-t", 0, -1), (0, 3));
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&"alice".to_string()), "{seen:?}");
    assert!(seen.contains(&"bob".to_string()), "{seen:?}");
    assert!(!seen
        .iter()
        .any(|s| s.contains("mallory") || s.contains("forged")));
}

#[test]
fn a_refused_token_fails_and_the_session_follows_the_validators_expiry() {
    let v = SharedSecret {
        lifetime_ms: 30_000,
        seen: Arc::default(),
    };
    let b = secret_broker(v, &[("connections.max.reauth.ms", "3600000")]);
    let sasl = b.listener_addr("SASL_PLAINTEXT").expect("sasl").to_string();

    // A wrong token: the JSON challenge, then SASL_AUTHENTICATION_FAILED and the close.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let r = authenticate_v1(&mut c, &initial_response("secret-"));
    assert_eq!(r.error_code, 0);
    assert_eq!(&r.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    let r = authenticate_v1(&mut c, b"\x01");
    assert_eq!(r.error_code, 58);
    assert_eq!(
        r.error_message.as_deref(),
        Some(r#"{"status":"invalid_token"}"#)
    );
    assert!(c.is_closed());

    // An unsecured JWT, which Kafka's default validator would take, is refused too.
    let jwt = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"alice","exp":{}}}"#,
            now_ms() / 1000 + 600
        ))
    );
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let r = authenticate_v1(&mut c, &initial_response(&jwt));
    assert_eq!(&r.auth_bytes[..], br#"{"status":"invalid_token"}"#);

    // A good token: the session ends with the validator's expiry (30 s), before the
    // configured bound (1 h); the connection then serves requests.
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let r = authenticate_v1(&mut c, &initial_response("secret-alice"));
    assert_eq!((r.error_code, r.auth_bytes.len()), (0, 0));
    assert!(
        (25_000..=30_000).contains(&r.session_lifetime_ms),
        "session lifetime {}",
        r.session_lifetime_ms
    );
    assert_eq!(raw::create_topic(&mut c, "secret-raw", 1, &[]), 0);
    drop(b);

    // A validator expiry past the bound: the bound wins.
    let v = SharedSecret {
        lifetime_ms: 3_600_000,
        seen: Arc::default(),
    };
    let b = secret_broker(v, &[("connections.max.reauth.ms", "20000")]);
    let sasl = b.listener_addr("SASL_PLAINTEXT").expect("sasl").to_string();
    let mut c = RawClient::connect(&sasl);
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let r = authenticate_v1(&mut c, &initial_response("secret-alice"));
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 20_000));
}

#[test]
fn a_validator_for_a_listener_without_oauthbearer_refuses_the_start_of_a_broker_or_cluster() {
    let v = SharedSecret {
        lifetime_ms: 1,
        seen: Arc::default(),
    };
    let err = TestBroker::builder()
        .listener_oauthbearer_validator("SASL_SSL", v)
        .start()
        .expect_err("no such listener");
    match err {
        Error::Config(m) => assert!(m.contains("listener SASL_SSL"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A cluster's nodes check theirs too: PLAINTEXT is no SASL listener.
    let v = SharedSecret {
        lifetime_ms: 1,
        seen: Arc::default(),
    };
    let err = TestCluster::builder()
        .nodes(1)
        .listener_oauthbearer_validator("PLAINTEXT", v)
        .start()
        .map(|_| ())
        .expect_err("not a SASL listener");
    match err {
        Error::Config(m) => assert!(m.contains("listener PLAINTEXT"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// `gregor serve` with a custom `sasl.server.callback.handler.class` exits at once, naming
/// the library API; with Kafka's unsecured validator class it serves unsecured JWTs.
#[test]
fn serve_refuses_a_custom_callback_handler_class_and_takes_kafkas_unsecured_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class";
    let sasl_port = free_port();
    let sets = |class: &str| {
        vec![
            format!("listeners=PLAINTEXT://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:{sasl_port}"),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
                .to_string(),
            "sasl.enabled.mechanisms=OAUTHBEARER".to_string(),
            format!("{key}={class}"),
        ]
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("refused"));
    for s in sets("com.example.JwksValidatorCallbackHandler") {
        cmd.args(["--set", &s]);
    }
    let out = cmd.output().expect("run gregor");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    assert!(
        stderr.contains(&format!("{key}=com.example.JwksValidatorCallbackHandler"))
            && stderr.contains("library API")
            && stderr.contains("A validator of your own"),
        "{stderr}"
    );
    assert!(!dir.path().join("refused").exists());

    let unsecured =
        "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";
    let mut args = Vec::new();
    for s in sets(unsecured) {
        args.push("--set".to_string());
        args.push(s);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _p = BrokerProcess::spawn(&dir.path().join("served"), &args);
    let jwt = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"carol","exp":{}}}"#,
            now_ms() / 1000 + 600
        ))
    );
    let mut c = RawClient::connect(&format!("127.0.0.1:{sasl_port}"));
    assert_eq!(handshake(&mut c, "OAUTHBEARER").error_code, 0);
    let r = authenticate_v1(&mut c, &initial_response(&jwt));
    assert_eq!((r.error_code, r.auth_bytes.len()), (0, 0));
}

/// librdkafka renews sessions the validator bounds (2 s) with the token from its context, and
/// delivers every record, in order, meanwhile.
#[test]
fn rdkafka_reauthenticates_when_the_validators_expiry_ends_the_session() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let v = SharedSecret {
        lifetime_ms: 2_000,
        seen: seen.clone(),
    };
    let b = secret_broker(v, &[]);
    b.create_topic("renewed", 1, 1).expect("topic");
    let addr = b.listener_addr("SASL_PLAINTEXT").expect("sasl").to_string();
    let p = producer(&addr, "secret-alice");
    let started = Instant::now();
    let mut sent = 0i64;
    // Several lifetimes: each renewal is one more validation of alice's token.
    while seen.lock().unwrap().len() < 4 || started.elapsed() < Duration::from_secs(5) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "validations {:?} after {sent} records",
            seen.lock().unwrap()
        );
        assert_eq!(
            send(&p, "renewed", &format!("r{sent}")).expect("delivered"),
            sent
        );
        sent += 1;
    }
    assert!(seen.lock().unwrap().iter().all(|u| u == "alice"));
}
