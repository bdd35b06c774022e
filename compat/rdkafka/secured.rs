//! The rdkafka crate's secured scenarios (one listener each, see scripts/compat): records
//! produced and read back through a consumer group over the listener, then a client with a
//! wrong password (or, for mTLS, no certificate; for OAUTHBEARER, librdkafka's unsecured token
//! without the scope the listener requires) must report the broker's refusal through its
//! error callback, not wait. (The crate is built with its `ssl` feature: librdkafka's TLS and
//! SCRAM need OpenSSL.)

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures::executor::block_on;
use futures::future::join_all;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Scenario → the variable holding its listener's address.
const SCENARIOS: [(&str, &str); 4] = [
    ("sasl-ssl-scram-sha-512", "COMPAT_SCRAM_BS"),
    ("ssl-mtls", "COMPAT_SSL_BS"),
    ("sasl-plaintext-plain", "COMPAT_PLAIN_BS"),
    ("sasl-plaintext-oauthbearer", "COMPAT_OAUTH_BS"),
];

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// The client settings of a scenario; a wrong password or no certificate for the refusal.
fn settings(name: &str, bs: &str, password: &str, certificate: bool) -> ClientConfig {
    let dir = env("COMPAT_SSL_DIR");
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bs);
    if name == "ssl-mtls" || name.starts_with("sasl-ssl") {
        c.set("ssl.ca.location", format!("{dir}/ca.pem"));
    }
    if name == "ssl-mtls" {
        c.set("security.protocol", "SSL");
        if certificate {
            c.set("ssl.certificate.location", format!("{dir}/client.crt"));
            c.set("ssl.key.location", format!("{dir}/client.key"));
        }
    } else if name.ends_with("oauthbearer") {
        // librdkafka's own unsecured JWT; the wrong password drops the required scope.
        let mut claims = format!("principal={}", env("COMPAT_SASL_USER"));
        if password != "wrong-password" {
            claims += &format!(" scope={}", env("COMPAT_OAUTH_SCOPE"));
        }
        c.set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanisms", "OAUTHBEARER")
            .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
            .set("sasl.oauthbearer.config", claims);
    } else {
        let tls = name.starts_with("sasl-ssl");
        c.set(
            "security.protocol",
            if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" },
        );
        c.set(
            "sasl.mechanisms",
            if name.contains("scram") {
                "SCRAM-SHA-512"
            } else {
                "PLAIN"
            },
        );
        c.set("sasl.username", env("COMPAT_SASL_USER"));
        c.set("sasl.password", password);
    }
    c
}

/// Keeps the errors librdkafka reports through its error callback.
#[derive(Default)]
struct Errors(Mutex<Vec<(RDKafkaErrorCode, String)>>);

impl ConsumerContext for Errors {}

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(code) = error.rdkafka_error_code() {
            if let Ok(mut v) = self.0.lock() {
                v.push((code, reason.to_string()));
            }
        }
    }
}

/// Whether an error is the broker's refusal: SASL's authentication failure, or TLS 1.3's
/// certificate_required alert (the client finished its handshake first, so librdkafka reports
/// the alert on its first read, as a transport error).
fn is_refusal(name: &str, code: RDKafkaErrorCode, reason: &str) -> bool {
    if name == "ssl-mtls" {
        matches!(
            code,
            RDKafkaErrorCode::SSL | RDKafkaErrorCode::BrokerTransportFailure
        ) && reason.contains("certificate required")
    } else {
        code == RDKafkaErrorCode::Authentication
    }
}

fn scenario(name: &str, tag: &str) -> Result<String> {
    let var = SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_default();
    let bs = env(var);
    ensure!(
        !bs.is_empty(),
        "no listener given (${var}): run through scripts/compat"
    );
    let topic = format!("rd-{name}-{tag}");
    let ok = settings(name, &bs, &env("COMPAT_SASL_PASSWORD"), true);
    let want: BTreeSet<(String, String)> = (0..20)
        .map(|i| (format!("k{i}"), format!("{name}-{i}")))
        .collect();
    let p: FutureProducer = ok.clone().set("linger.ms", "5").create()?;
    let sends = want
        .iter()
        .map(|(k, v)| {
            p.send_result(FutureRecord::to(&topic).key(k).payload(v))
                .map_err(|(e, _)| e)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for d in block_on(join_all(sends)) {
        d.context("cancelled")?.map_err(|(e, _)| e)?;
    }
    let c: BaseConsumer = ok
        .clone()
        .set("group.id", &topic)
        .set("auto.offset.reset", "earliest")
        .create()?;
    c.subscribe(&[&topic])?;
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < want.len() && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m?;
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            got.insert((text(m.key()), text(m.payload())));
        }
    }
    // Metadata over the listener advertises the listener's own address.
    let md = c.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let port: i32 = bs.rsplit(':').next().unwrap_or_default().parse()?;
    ensure!(
        md.brokers().iter().all(|b| b.port() == port),
        "metadata: brokers on ports {:?}",
        md.brokers().iter().map(|b| b.port()).collect::<Vec<_>>()
    );
    c.unsubscribe();
    ensure!(
        got == want,
        "the group read {} of {}",
        got.len(),
        want.len()
    );

    let refused: BaseConsumer<Errors> =
        settings(name, &bs, "wrong-password", false).create_with_context(Errors::default())?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        // Metadata makes it connect; the poll serves the error callback.
        let _ = refused.fetch_metadata(None, Duration::from_millis(100));
        let _ = refused.poll(Duration::from_millis(10));
        let errors = refused
            .context()
            .0
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        if let Some((code, _)) = errors.iter().find(|(c, r)| is_refusal(name, *c, r)) {
            return Ok(format!(
                "{} records via a group; refused: {code:?} in {:.1} s",
                got.len(),
                start.elapsed().as_secs_f64()
            ));
        }
    }
    let seen = refused
        .context()
        .0
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    bail!("no refusal seen in 20 s: {:?}", seen.first())
}

/// Runs the secured scenarios `wanted` lets through; prints their lines, returns the failures.
pub fn run(tag: &str, wanted: impl Fn(&str) -> bool) -> usize {
    let mut failures = 0;
    for (name, _) in SCENARIOS {
        if !wanted(name) {
            continue;
        }
        match scenario(name, tag) {
            Ok(note) => println!("PASS rdkafka {name} ({note})"),
            Err(e) => {
                failures += 1;
                println!("FAIL rdkafka {name} ({e:#})");
            }
        }
    }
    failures
}
