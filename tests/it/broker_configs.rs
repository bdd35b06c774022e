//! Dynamic broker configs (BROKER resources of AlterConfigs and IncrementalAlterConfigs),
//! checked against Kafka's answers with a raw client and with librdkafka's admin client:
//! per-broker and cluster-default values are read back with their source and synonyms (also
//! through a topic without an override), read-only keys, bad values and other broker ids are
//! refused with INVALID_REQUEST naming the key or id, `validate_only` changes nothing, values
//! survive a restart and are applied to the running logs at once (retention, message size).

use std::time::Duration;

use crate::support::raw;
use crate::support::{encode_batch, now_ms, wait_for, RawClient, TestBroker};
use futures::executor::block_on;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// IncrementalAlterConfigs v1 of one resource: (error code, message, "" for none). Ops: 0
/// SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
pub fn incremental(
    c: &mut RawClient,
    kind: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, String) {
    let (code, msg) = raw::incremental_alter_configs(c, kind, name, ops, validate_only);
    (code, msg.unwrap_or_default())
}

/// AlterConfigs v2 (the whole set) of one BROKER resource: (error code, message, "" for none).
fn alter(c: &mut RawClient, name: &str, configs: &[(&str, &str)]) -> (i16, String) {
    let (code, msg) = raw::alter_configs(c, BROKER, name, configs, false);
    (code, msg.unwrap_or_default())
}

/// DescribeConfigs v4 with synonyms of every key of one resource.
fn describe(c: &mut RawClient, kind: i8, name: &str) -> Vec<DescribeConfigsResourceResult> {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(s(name))
            .with_configuration_keys(None)]);
    let resp = c.call(&req, 4);
    let r = &resp.results[0];
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.configs.clone()
}

/// (value, source, synonyms as (name, value, source)) of one key of a resource.
type Described = (String, i8, Vec<(String, String, i8)>);

fn key(c: &mut RawClient, kind: i8, name: &str, k: &str) -> Described {
    let e = describe(c, kind, name)
        .into_iter()
        .find(|e| e.name.as_str() == k)
        .unwrap_or_else(|| panic!("{k} described"));
    (
        e.value.as_deref().unwrap_or_default().to_string(),
        e.config_source,
        e.synonyms
            .iter()
            .map(|s| {
                (
                    s.name.to_string(),
                    s.value.as_deref().unwrap_or_default().to_string(),
                    s.source,
                )
            })
            .collect(),
    )
}

fn syn(v: &[(&str, &str, i8)]) -> Vec<(String, String, i8)> {
    v.iter()
        .map(|(n, v, s)| (n.to_string(), v.to_string(), *s))
        .collect()
}

#[test]
fn per_broker_and_default_values_are_described_with_their_layers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("log.segment.bytes", "500000")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "plain", 1, &[]), 0);
    // Nothing dynamic yet: the cluster default resource lists nothing, as Kafka's.
    assert!(describe(&mut c, BROKER, "").is_empty());

    let set = [("log.retention.ms", 0, Some("3600000"))];
    assert_eq!(
        incremental(&mut c, BROKER, "", &set, false),
        (0, String::new())
    );
    assert_eq!(
        key(&mut c, BROKER, "1", "log.retention.ms"),
        (
            "3600000".into(),
            3,
            syn(&[
                ("log.retention.ms", "3600000", 3),
                ("log.retention.hours", "168", 5)
            ])
        )
    );
    let defaults = describe(&mut c, BROKER, "");
    assert_eq!(defaults.len(), 1, "only the dynamic defaults set");
    assert_eq!(
        (
            defaults[0].name.as_str(),
            defaults[0].value.as_deref(),
            defaults[0].config_source,
            defaults[0].read_only
        ),
        ("log.retention.ms", Some("3600000"), 3, false)
    );

    // The legacy AlterConfigs on this broker: DYNAMIC_BROKER_CONFIG over the default and the
    // static value.
    assert_eq!(
        alter(&mut c, "1", &[("log.segment.bytes", "600000")]),
        (0, String::new())
    );
    let layers = syn(&[
        ("log.segment.bytes", "600000", 2),
        ("log.segment.bytes", "500000", 4),
        ("log.segment.bytes", "1073741824", 5),
    ]);
    assert_eq!(
        key(&mut c, BROKER, "1", "log.segment.bytes"),
        ("600000".into(), 2, layers.clone())
    );
    // A topic without overrides follows both, with the broker layers as its synonyms.
    assert_eq!(
        key(&mut c, TOPIC, "plain", "segment.bytes"),
        ("600000".into(), 2, layers)
    );
    let (value, source, _) = key(&mut c, TOPIC, "plain", "retention.ms");
    assert_eq!((value.as_str(), source), ("3600000", 3));

    // Deleting the per-broker value brings back the static one.
    let del = [("log.segment.bytes", 1, None)];
    assert_eq!(incremental(&mut c, BROKER, "1", &del, false).0, 0);
    assert_eq!(key(&mut c, BROKER, "1", "log.segment.bytes").1, 4);
    assert_eq!(key(&mut c, TOPIC, "plain", "segment.bytes").0, "500000");
}

#[test]
fn refusals_are_kafkas_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let set = [("log.retention.ms", 0, Some("60000"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &set, false).0, 0);

    type Op<'a> = (&'a str, i8, Option<&'a str>);
    let cases: Vec<(&str, Vec<Op>, i16, &str)> = vec![
        // Another broker, or not a number: the broker refuses before anything is checked.
        (
            "2",
            vec![("log.retention.ms", 0, Some("1"))],
            42,
            "Unexpected broker id, expected 1, but received 2",
        ),
        (
            "x",
            vec![("log.retention.ms", 0, Some("1"))],
            42,
            "Node id must be an integer, but it is: x",
        ),
        // Read-only keys, in both resources.
        (
            "1",
            vec![("listeners", 0, Some("PLAINTEXT://:1"))],
            42,
            "Cannot update these configs dynamically: Set(listeners)",
        ),
        (
            "",
            vec![("log.dirs", 0, Some("/tmp/x"))],
            42,
            "Set(log.dirs)",
        ),
        (
            "1",
            vec![("log.retention.hours", 0, Some("1"))],
            42,
            "Set(log.retention.hours)",
        ),
        (
            "1",
            vec![
                ("node.id", 0, Some("1")),
                ("process.roles", 0, Some("broker")),
            ],
            42,
            "Set(node.id, process.roles)",
        ),
        // A bad value: INVALID_REQUEST for a broker resource (Kafka's KAFKA-13609).
        (
            "",
            vec![("log.retention.ms", 0, Some("-5"))],
            42,
            "Invalid value -5 for configuration log.retention.ms",
        ),
        (
            "1",
            vec![("message.max.bytes", 0, Some("big"))],
            42,
            "configuration message.max.bytes",
        ),
        (
            "1",
            vec![("num.io.threads", 0, Some("100"))],
            42,
            "num.io.threads=100",
        ),
        // APPEND to a key that is not a list; a null value; a key given twice.
        (
            "1",
            vec![("log.retention.ms", 2, Some("5"))],
            40,
            "Config value append is not allowed for config key: log.retention.ms",
        ),
        (
            "1",
            vec![("log.retention.ms", 0, None)],
            42,
            "Null value not supported for : log.retention.ms",
        ),
        (
            "1",
            vec![
                ("log.retention.ms", 0, Some("1")),
                ("log.retention.ms", 1, None),
            ],
            42,
            "duplicate config keys",
        ),
    ];
    for (name, ops, code, msg) in cases {
        let (got, text) = incremental(&mut c, BROKER, name, &ops, false);
        assert_eq!(got, code, "{name:?} {ops:?}: {text}");
        assert!(text.contains(msg), "{name:?} {ops:?}: {text}");
    }
    let (code, text) = alter(&mut c, "1", &[("advertised.listeners", "PLAINTEXT://h:1")]);
    assert_eq!(code, 42);
    assert!(text.contains("advertised.listeners"), "{text}");

    // validate_only: accepted, nothing changed.
    let set = [("log.retention.ms", 0, Some("1000"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &set, true).0, 0);
    assert_eq!(key(&mut c, BROKER, "1", "log.retention.ms").0, "60000");
    // The refusals above changed nothing either.
    assert!(describe(&mut c, BROKER, "").is_empty());
    let dynamic: Vec<String> = describe(&mut c, BROKER, "1")
        .iter()
        .filter(|e| e.config_source == 2)
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(dynamic, vec!["log.retention.ms".to_string()]);

    // A list key: APPEND starts from the default.
    let append = [("log.cleanup.policy", 2, Some("compact"))];
    assert_eq!(incremental(&mut c, BROKER, "", &append, false).0, 0);
    assert_eq!(
        key(&mut c, BROKER, "1", "log.cleanup.policy").0,
        "delete,compact"
    );
}

/// Lowering the cluster-default retention deletes old segments of a topic without an
/// override at once, not of one with an override; a per-broker message.max.bytes refuses a
/// larger batch; both survive a restart.
#[test]
fn changes_apply_live_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let props = [("log.retention.check.interval.ms", "50")];
    let broker = TestBroker::start(dir.path(), &props);
    let mut c = RawClient::connect(&broker.bootstrap());
    let small = [("segment.bytes", "1000")];
    assert_eq!(raw::create_topic(&mut c, "follows", 1, &small), 0);
    let keeps = [("segment.bytes", "1000"), ("retention.ms", "-1")];
    assert_eq!(raw::create_topic(&mut c, "keeps", 1, &keeps), 0);
    let value = "v".repeat(600);
    let hour_ago = now_ms() - 3_600_000;
    for t in ["follows", "keeps"] {
        for _ in 0..4 {
            let batch = encode_batch(&[(None, value.as_str())], None, hour_ago);
            assert_eq!(raw::produce(&mut c, t, 0, batch).error_code, 0);
        }
        assert_eq!(raw::list_offset(&mut c, t, 0, -2), (0, 0));
    }

    let set = [("log.retention.ms", 0, Some("60000"))];
    assert_eq!(incremental(&mut c, BROKER, "", &set, false).0, 0);
    let start = wait_for(
        "retention to follow the new cluster default",
        Duration::from_secs(20),
        || {
            let (code, start) = raw::list_offset(&mut c, "follows", 0, -2);
            (code == 0 && start > 0).then_some(start)
        },
    );
    assert!(start >= 3, "the old segments went: log start {start}");
    assert_eq!(
        raw::list_offset(&mut c, "keeps", 0, -2),
        (0, 0),
        "retention.ms=-1 overrides the default"
    );

    let batch = || encode_batch(&[(None, value.as_str())], None, now_ms());
    assert_eq!(raw::produce(&mut c, "keeps", 0, batch()).error_code, 0);
    let set = [("message.max.bytes", 0, Some("300"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &set, false).0, 0);
    assert_eq!(raw::produce(&mut c, "keeps", 0, batch()).error_code, 10);

    drop(c);
    broker.stop();
    let broker = TestBroker::start(dir.path(), &props);
    let mut c = RawClient::connect(&broker.bootstrap());
    let (value, source, _) = key(&mut c, BROKER, "1", "log.retention.ms");
    assert_eq!((value.as_str(), source), ("60000", 3));
    assert_eq!(key(&mut c, BROKER, "1", "message.max.bytes").1, 2);
    assert_eq!(raw::produce(&mut c, "keeps", 0, batch()).error_code, 10);
    let del = [("message.max.bytes", 1, None)];
    assert_eq!(incremental(&mut c, BROKER, "1", &del, false).0, 0);
    assert_eq!(raw::produce(&mut c, "keeps", 0, batch()).error_code, 0);
}

/// librdkafka's admin client (AlterConfigs of a broker, DescribeConfigs) sees the sources.
#[test]
fn rdkafka_admin_client_alters_and_describes_a_broker() {
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ConfigSource, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let admin: AdminClient<DefaultClientContext> =
        crate::support::clients::config(&broker.bootstrap(), &[])
            .create()
            .expect("admin");
    let change = AlterConfig::new(ResourceSpecifier::Broker(1))
        .set("log.retention.bytes", "1000000")
        .set("log.cleanup.policy", "compact,delete");
    let res = block_on(admin.alter_configs([&change], &AdminOptions::new())).expect("alter");
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    let res =
        block_on(admin.describe_configs([&ResourceSpecifier::Broker(1)], &AdminOptions::new()))
            .expect("describe");
    let r = res.into_iter().next().expect("one").expect("described");
    let e = r.get("log.retention.bytes").expect("listed");
    assert_eq!(
        (e.value.as_deref(), &e.source, e.is_read_only),
        (Some("1000000"), &ConfigSource::DynamicBroker, false)
    );
    assert_eq!(
        r.get("log.cleanup.policy").and_then(|e| e.value.as_deref()),
        Some("compact,delete")
    );
    let e = r.get("log.dirs").expect("listed");
    assert!(e.is_read_only);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "rd", 1, &[]), 0);
    assert_eq!(
        key(&mut c, TOPIC, "rd", "retention.bytes").0,
        "1000000",
        "a new topic follows the dynamic value"
    );
}

/// Runs `gregor configs ARGS` against `bootstrap`: (success, stdout, stderr).
fn gregor_configs(bootstrap: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
        .args(["configs", "--bootstrap-server", bootstrap])
        .args(args)
        .output()
        .expect("run gregor configs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `gregor configs` speaks kafka-configs' language: alter and describe brokers (one, the
/// default, all) and topics, with kafka-configs' output lines and errors.
#[test]
fn gregor_configs_tool_alters_and_describes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let b = broker.bootstrap();
    let mut c = RawClient::connect(&b);
    assert_eq!(raw::create_topic(&mut c, "tool", 1, &[]), 0);

    let (ok, out, err) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "brokers",
            "--entity-default",
            "--alter",
            "--add-config",
            "log.retention.ms=7200000,log.cleanup.policy=[compact,delete]",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "Completed updating default config for brokers in the cluster.\n"
    );
    let (ok, out, err) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "brokers",
            "--entity-name",
            "1",
            "--alter",
            "--add-config",
            "log.segment.bytes=700000",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "Completed updating config for broker 1.\n");
    let (ok, out, _) = gregor_configs(&b, &["--entity-type", "brokers", "--describe"]);
    assert!(ok);
    assert_eq!(
        out,
        "Dynamic configs for broker 1 are:\n\
         \x20 log.segment.bytes=700000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.segment.bytes=700000, DEFAULT_CONFIG:log.segment.bytes=1073741824}\n\
         Default configs for brokers in the cluster are:\n\
         \x20 log.cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleanup.policy=compact,delete}\n\
         \x20 log.retention.ms=7200000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000}\n"
    );

    let (ok, _, err) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "topics",
            "--entity-name",
            "tool",
            "--alter",
            "--add-config",
            "retention.ms=1000",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, _) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "topics",
            "--entity-name",
            "tool",
            "--describe",
        ],
    );
    assert!(ok);
    assert_eq!(
        out,
        "Dynamic configs for topic tool are:\n\
         \x20 retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000, DEFAULT_CONFIG:log.retention.hours=168}\n"
    );
    let (ok, out, _) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "topics",
            "--entity-name",
            "tool",
            "--describe",
            "--all",
        ],
    );
    assert!(ok);
    assert!(
        out.starts_with("All configs for topic tool are:\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  segment.bytes=700000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.segment.bytes=700000, DEFAULT_CONFIG:log.segment.bytes=1073741824}\n"),
        "{out}"
    );

    // Refusals: a read-only key, deleting a key that is not set, another broker.
    let (ok, _, err) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "brokers",
            "--entity-name",
            "1",
            "--alter",
            "--add-config",
            "log.dirs=/x",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("INVALID_REQUEST: Cannot update these configs dynamically: Set(log.dirs)"),
        "{err}"
    );
    let (ok, _, err) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "brokers",
            "--entity-default",
            "--alter",
            "--delete-config",
            "message.max.bytes",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("Invalid config(s): message.max.bytes"),
        "{err}"
    );
    let (ok, _, err) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "brokers",
            "--entity-name",
            "2",
            "--describe",
        ],
    );
    assert!(!ok);
    assert!(err.contains("INVALID_REQUEST"), "{err}");

    let (ok, out, err) = gregor_configs(
        &b,
        &[
            "--entity-type",
            "brokers",
            "--entity-default",
            "--alter",
            "--delete-config",
            "log.retention.ms,log.cleanup.policy",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("Completed"));
    let (_, out, _) = gregor_configs(
        &b,
        &["--entity-type", "brokers", "--entity-default", "--describe"],
    );
    assert_eq!(out, "Default configs for brokers in the cluster are:\n");
}

/// `max.connections` is a dynamic cluster-wide config: lowering it refuses new connections at
/// once and leaves the open ones alone; removing it lets them in again.
#[test]
fn max_connections_changes_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let set = [("max.connections", 0, Some("1"))];
    assert_eq!(incremental(&mut c, BROKER, "", &set, false).0, 0);
    let mut refused = RawClient::connect(&broker.bootstrap());
    assert!(
        refused.is_closed(),
        "a second connection past max.connections=1"
    );
    // The open connection still works, and can lift the limit.
    let del = [("max.connections", 1, None)];
    assert_eq!(incremental(&mut c, BROKER, "", &del, false).0, 0);
    let mut again = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        key(&mut again, BROKER, "1", "max.connections").0,
        i32::MAX.to_string()
    );
}
