//! AlterConfigs and IncrementalAlterConfigs on topics, checked against Kafka's answers with a
//! raw client: the new value is reported by DescribeConfigs with source TOPIC_CONFIG, invalid
//! values and unknown keys are refused with INVALID_CONFIG naming the key and change nothing,
//! `validate_only` changes nothing, DELETE restores the default, changes survive a kill -9,
//! and a change is applied to the running log at once (max.message.bytes, segment.bytes).

use crate::support::raw;
use crate::support::{encode_batch, now_ms, BrokerProcess, RawClient, TestBroker};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// AlterConfigs v2 of one topic: (error code, message).
fn alter(
    c: &mut RawClient,
    topic: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, Option<String>) {
    raw::alter_configs(c, 2, topic, configs, validate_only)
}

/// IncrementalAlterConfigs v1 of one topic: (error code, message). Ops: 0 SET, 1 DELETE,
/// 2 APPEND, 3 SUBTRACT.
fn incremental(
    c: &mut RawClient,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    raw::incremental_alter_configs(c, 2, topic, ops, validate_only)
}

/// DescribeConfigs v4 of a topic key: (value, source).
fn describe(c: &mut RawClient, topic: &str, key: &str) -> (String, i8) {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))
            .with_configuration_keys(Some(vec![s(key)]))]);
    let resp = c.call(&req, 4);
    let r = &resp.results[0];
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let e = r
        .configs
        .iter()
        .find(|e| e.name.as_str() == key)
        .unwrap_or_else(|| panic!("{key} described"));
    (
        e.value.as_deref().unwrap_or_default().to_string(),
        e.config_source,
    )
}

#[test]
fn alter_configs_replaces_the_override_set_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(&mut c, "alt", 1, &[("segment.bytes", "100000")]),
        0
    );

    assert_eq!(
        alter(&mut c, "alt", &[("retention.ms", "60000")], false),
        (0, None)
    );
    assert_eq!(describe(&mut c, "alt", "retention.ms"), ("60000".into(), 1));
    // The whole set is replaced: segment.bytes was not given, so it is back to its default.
    assert_eq!(
        describe(&mut c, "alt", "segment.bytes"),
        ("1073741824".into(), 5)
    );

    let (code, msg) = alter(&mut c, "alt", &[("retention.ms", "-7")], false);
    assert_eq!(code, 40);
    assert!(msg.unwrap_or_default().contains("retention.ms"));
    let (code, msg) = alter(&mut c, "alt", &[("no.such.key", "1")], false);
    assert_eq!(code, 40);
    assert!(msg.unwrap_or_default().contains("no.such.key"));
    assert_eq!(describe(&mut c, "alt", "retention.ms"), ("60000".into(), 1));

    assert_eq!(
        alter(&mut c, "alt", &[("retention.ms", "1234")], true),
        (0, None)
    );
    assert_eq!(describe(&mut c, "alt", "retention.ms"), ("60000".into(), 1));

    assert_eq!(
        alter(&mut c, "missing", &[("retention.ms", "1")], false).0,
        3
    );
}

#[test]
fn incremental_alter_configs_sets_deletes_and_edits_lists() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(&mut c, "inc", 1, &[("segment.bytes", "100000")]),
        0
    );
    let ops = [
        ("retention.ms", 0, Some("60000")),
        ("cleanup.policy", 2, Some("compact")),
    ];
    assert_eq!(incremental(&mut c, "inc", &ops, false), (0, None));
    assert_eq!(describe(&mut c, "inc", "retention.ms"), ("60000".into(), 1));
    assert_eq!(
        describe(&mut c, "inc", "segment.bytes"),
        ("100000".into(), 1)
    );
    assert_eq!(
        describe(&mut c, "inc", "cleanup.policy"),
        ("delete,compact".into(), 1)
    );
    let ops = [("cleanup.policy", 3, Some("delete"))];
    assert_eq!(incremental(&mut c, "inc", &ops, false), (0, None));
    assert_eq!(
        describe(&mut c, "inc", "cleanup.policy"),
        ("compact".into(), 1)
    );

    // APPEND to a non-list key, a bad value, an unknown key: refused, nothing changed.
    for (ops, key) in [
        (vec![("retention.ms", 2, Some("5"))], "retention.ms"),
        (vec![("segment.bytes", 0, Some("13"))], "segment.bytes"),
        (vec![("bogus.key", 0, Some("1"))], "bogus.key"),
    ] {
        let (code, msg) = incremental(&mut c, "inc", &ops, false);
        assert_eq!(code, 40, "{ops:?}");
        assert!(msg.unwrap_or_default().contains(key), "{ops:?}");
    }
    assert_eq!(
        describe(&mut c, "inc", "segment.bytes"),
        ("100000".into(), 1)
    );

    // A null value for SET, a key twice: refused before the topic is looked at, as Kafka's
    // broker-side preprocessing does (INVALID_REQUEST).
    let (code, msg) = incremental(&mut c, "inc", &[("retention.ms", 0, None)], false);
    assert_eq!(code, 42);
    assert_eq!(
        msg.as_deref(),
        Some("Null value not supported for : retention.ms")
    );
    let twice = [("retention.ms", 0, Some("1")), ("retention.ms", 1, None)];
    assert_eq!(incremental(&mut c, "missing", &twice, false).0, 42);

    let ops = [("segment.bytes", 1, None)];
    assert_eq!(incremental(&mut c, "inc", &ops, true), (0, None));
    assert_eq!(
        describe(&mut c, "inc", "segment.bytes"),
        ("100000".into(), 1)
    );
    assert_eq!(incremental(&mut c, "inc", &ops, false), (0, None));
    assert_eq!(
        describe(&mut c, "inc", "segment.bytes"),
        ("1073741824".into(), 5),
        "DELETE restores the default"
    );
}

/// A change is applied to the running log: a lower max.message.bytes refuses a produce with
/// MESSAGE_TOO_LARGE, a small segment.bytes rolls segments; it survives a kill -9.
#[test]
fn changes_apply_live_and_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = crate::support::free_port();
    let broker = BrokerProcess::spawn_on(port, &data, &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(raw::create_topic(&mut c, "live", 1, &[]), 0);
    let value = "x".repeat(2000);
    let batch = || encode_batch(&[(None, value.as_str())], None, now_ms());
    assert_eq!(raw::produce(&mut c, "live", 0, batch()).error_code, 0);

    let ops = [
        ("max.message.bytes", 0, Some("1000")),
        ("segment.bytes", 0, Some("3000")),
    ];
    assert_eq!(incremental(&mut c, "live", &ops, false), (0, None));
    assert_eq!(raw::produce(&mut c, "live", 0, batch()).error_code, 10);

    assert_eq!(
        incremental(&mut c, "live", &[("max.message.bytes", 1, None)], false),
        (0, None)
    );
    for _ in 0..3 {
        assert_eq!(raw::produce(&mut c, "live", 0, batch()).error_code, 0);
    }
    let segments = || {
        std::fs::read_dir(data.join("live-0"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        segments() >= 3,
        "segments rolled at 3000 bytes: {}",
        segments()
    );

    broker.kill9();
    let broker = BrokerProcess::spawn_on(port, &data, &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(
        describe(&mut c, "live", "segment.bytes"),
        ("3000".into(), 1)
    );
    assert_eq!(describe(&mut c, "live", "max.message.bytes").1, 5);
    assert_eq!(
        alter(&mut c, "live", &[("max.message.bytes", "1000")], false),
        (0, None)
    );
    assert_eq!(raw::produce(&mut c, "live", 0, batch()).error_code, 10);
    broker.kill9();
}
