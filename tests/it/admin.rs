//! Topic administration and cluster metadata, checked against Kafka's answers: CreateTopics
//! (defaults, configs, validate_only and every error), DeleteTopics, CreatePartitions,
//! DescribeConfigs sources, DescribeCluster, Metadata auto-creation and stable ids,
//! LogAppendTime topics and ListOffsets max timestamp.

use crate::support::raw;
use crate::support::{encode_batch, now_ms, BrokerProcess, RawClient, TestBroker};
use gregor::config::keys::{keys, Scope};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn creatable(name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(raw::topic(name))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_value(Some(StrBytes::from_string(v.to_string())))
                })
                .collect(),
        )
}

fn metadata(c: &mut RawClient, topics: Option<&[&str]>, auto: bool) -> MetadataResponse {
    let topics = topics.map(|ts| {
        ts.iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(raw::topic(t))))
            .collect()
    });
    c.call(
        &MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(auto),
        12,
    )
}

#[test]
fn create_topics_validates_like_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("num.partitions", "4")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            creatable(
                "ok",
                -1,
                -1,
                &[("retention.ms", "1234"), ("cleanup.policy", "delete")],
            ),
            creatable("bad name!", 1, 1, &[]),
            creatable("zero", 0, 1, &[]),
            creatable("three-copies", 1, 3, &[]),
            creatable("bad-config", 1, 1, &[("segment.bytes", "lots")]),
            creatable("unknown-config", 1, 1, &[("no.such.config", "1")]),
            creatable("dup", 1, 1, &[]),
            creatable("dup", 1, 1, &[]),
        ]);
    let resp = c.call(&req, 7);
    let codes: Vec<(String, i16)> = resp
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("ok".into(), 0),
            ("bad name!".into(), 17),
            ("zero".into(), 37),
            ("three-copies".into(), 38),
            ("bad-config".into(), 40),
            ("unknown-config".into(), 40),
            ("dup".into(), 42),
            ("dup".into(), 42),
        ]
    );
    let ok = &resp.topics[0];
    assert_eq!(
        (ok.num_partitions, ok.replication_factor),
        (4, 1),
        "-1 means the broker defaults"
    );
    assert!(!ok.topic_id.is_nil());
    let retention = ok
        .configs
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(
        (retention.value.as_deref(), retention.config_source),
        (Some("1234"), 1)
    );

    let again = c.call(
        &CreateTopicsRequest::default().with_topics(vec![creatable("ok", 1, 1, &[])]),
        7,
    );
    assert_eq!(again.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");
    let dry = c.call(
        &CreateTopicsRequest::default()
            .with_validate_only(true)
            .with_topics(vec![creatable("dry", 2, 1, &[])]),
        7,
    );
    assert_eq!(dry.topics[0].error_code, 0);
    assert_eq!(
        metadata(&mut c, Some(&["dry"]), false).topics[0].error_code,
        3,
        "validate_only creates nothing"
    );
    assert!(!dir.path().join("dry-0").exists());
}

#[test]
fn delete_topics_and_create_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "grow", 2, &[]), 0);
    let grow = |c: &mut RawClient, count: i32, validate_only: bool| {
        let r = c.call(
            &CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_validate_only(validate_only)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(raw::topic("grow"))
                    .with_count(count)]),
            3,
        );
        r.results[0].error_code
    };
    assert_eq!(
        grow(&mut c, 1, false),
        37,
        "fewer partitions: INVALID_PARTITIONS"
    );
    assert_eq!(grow(&mut c, 2, false), 37, "same count: INVALID_PARTITIONS");
    assert_eq!(grow(&mut c, 5, true), 0);
    assert_eq!(
        metadata(&mut c, Some(&["grow"]), false).topics[0]
            .partitions
            .len(),
        2
    );
    assert_eq!(grow(&mut c, 5, false), 0);
    assert_eq!(
        metadata(&mut c, Some(&["grow"]), false).topics[0]
            .partitions
            .len(),
        5
    );
    assert_eq!(
        raw::produce(
            &mut c,
            "grow",
            4,
            encode_batch(&[(None, "p4")], None, now_ms())
        )
        .base_offset,
        0
    );

    let id = metadata(&mut c, Some(&["grow"]), false).topics[0].topic_id;
    let del = c.call(
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![raw::topic("grow"), raw::topic("never")]),
        5,
    );
    let codes: Vec<i16> = del.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, 3]);
    assert!(
        !dir.path().join("grow-4").exists(),
        "partition directories removed"
    );
    assert_eq!(
        metadata(&mut c, Some(&["grow"]), false).topics[0].error_code,
        3
    );
    // v6 by topic id: unknown now.
    let del = c.call(
        &DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default()
            .with_name(None)
            .with_topic_id(id)]),
        6,
    );
    assert_eq!(del.responses[0].error_code, 100, "UNKNOWN_TOPIC_ID");
    // Re-created under the same name: a new id and an empty log.
    assert_eq!(raw::create_topic(&mut c, "grow", 1, &[]), 0);
    assert_ne!(
        metadata(&mut c, Some(&["grow"]), false).topics[0].topic_id,
        id
    );
    assert_eq!(raw::list_offset(&mut c, "grow", 0, -1), (0, 0));
}

#[test]
fn describe_configs_reports_values_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("log.retention.hours", "1")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(&mut c, "conf", 1, &[("segment.bytes", "100000")]),
        0
    );
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("conf"))
                .with_configuration_keys(None),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_static_str("1"))
                .with_configuration_keys(None),
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("missing"))
                .with_configuration_keys(None),
        ]);
    let resp = c.call(&req, 4);
    let topic = &resp.results[0];
    assert_eq!(topic.error_code, 0);
    let get = |name: &str| {
        topic
            .configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    let seg = get("segment.bytes");
    assert_eq!(
        (seg.value.as_deref(), seg.config_source),
        (Some("100000"), 1)
    );
    assert_eq!(
        seg.synonyms.len(),
        2,
        "topic value, then the broker default"
    );
    let ret = get("retention.ms");
    assert_eq!(
        (ret.value.as_deref(), ret.config_source),
        (Some("3600000"), 4),
        "from log.retention.hours"
    );
    let max = get("max.message.bytes");
    assert_eq!(
        (max.value.as_deref(), max.config_source, max.config_type),
        (Some("1048588"), 5, 3)
    );
    assert_eq!(get("cleanup.policy").value.as_deref(), Some("delete"));

    let b = &resp.results[1];
    assert_eq!(b.error_code, 0);
    let bget = |name: &str| {
        b.configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(bget("log.retention.ms").value.as_deref(), Some("3600000"));
    assert_eq!(bget("num.partitions").value.as_deref(), Some("1"));
    assert_eq!(bget("log.segment.bytes").config_source, 5);
    assert_eq!(resp.results[2].error_code, 3);
}

/// Every key of the config table appears in DescribeConfigs of a real broker process, with the
/// source Kafka would give it (flags and `--set` are static broker config), its type, read-only
/// flag and documentation; synonyms follow Kafka's order.
#[test]
fn describe_configs_lists_every_key_of_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let set = [
        ("log.retention.hours", "1"),
        ("num.partitions", "3"),
        ("group.min.session.timeout.ms", "7000"),
        ("log.segment.bytes", "500000"),
        ("num.io.threads", "4"),
    ];
    let mut args = Vec::new();
    for (k, v) in set {
        args.push("--set".to_string());
        args.push(format!("{k}={v}"));
    }
    let port = crate::support::free_port();
    let advertised = format!("127.0.0.1:{port}");
    args.push("--advertised".to_string());
    args.push(advertised.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = BrokerProcess::spawn_on(port, &dir.path().join("data"), &args);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(
        raw::create_topic(&mut c, "every", 1, &[("retention.bytes", "4096")]),
        0
    );
    let resource = |kind: i8, name: &'static str| {
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_static_str(name))
            .with_configuration_keys(None)
    };
    let resp = c.call(
        &DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_include_documentation(true)
            .with_resources(vec![resource(4, "1"), resource(2, "every")]),
        4,
    );
    let (b, t) = (&resp.results[0], &resp.results[1]);
    assert_eq!((b.error_code, t.error_code), (0, 0));

    // Flags (--listen, --data-dir given by BrokerProcess, --advertised) count as set.
    let static_keys = ["listeners", "log.dirs", "advertised.listeners"];
    for k in keys(Scope::Broker) {
        let e = b
            .configs
            .iter()
            .find(|e| e.name.as_str() == k.name)
            .unwrap_or_else(|| panic!("broker key {} not described", k.name));
        let is_set = set.iter().any(|(s, _)| *s == k.name) || static_keys.contains(&k.name);
        let want = if is_set { 4 } else { 5 };
        assert_eq!(e.config_source, want, "source of {}", k.name);
        assert_eq!(e.config_type, k.kind as i8, "type of {}", k.name);
        assert_eq!(
            e.read_only,
            !gregor::config::dynamic::is_dynamic(k.name),
            "read-only flag of {}",
            k.name
        );
        assert_eq!(e.documentation.as_deref(), Some(k.doc), "doc of {}", k.name);
        if let Some(first) = e.synonyms.first() {
            assert_eq!(
                first.name.as_str(),
                k.name,
                "synonyms of {} start with it",
                k.name
            );
        }
    }
    assert_eq!(
        b.configs.len(),
        keys(Scope::Broker).count(),
        "nothing beyond the table"
    );
    let bget = |name: &str| b.configs.iter().find(|e| e.name.as_str() == name).unwrap();
    assert_eq!(bget("num.partitions").value.as_deref(), Some("3"));
    assert_eq!(
        bget("advertised.listeners").value.as_deref(),
        Some(format!("PLAINTEXT://{advertised}").as_str())
    );
    assert!(bget("num.partitions").read_only && !bget("log.retention.ms").read_only);
    assert_eq!(bget("num.io.threads").value.as_deref(), Some("4"));
    assert_eq!(bget("log.retention.minutes").value, None, "null default");
    assert_eq!(
        bget("log.retention.ms").value.as_deref(),
        Some("3600000"),
        "the retention in force"
    );
    let hours: Vec<_> = bget("log.retention.hours")
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
        .collect();
    assert_eq!(
        hours,
        vec![
            ("log.retention.hours", Some("1"), 4),
            ("log.retention.hours", Some("168"), 5)
        ]
    );

    for k in keys(Scope::Topic) {
        let e = t
            .configs
            .iter()
            .find(|e| e.name.as_str() == k.name)
            .unwrap_or_else(|| panic!("topic key {} not described", k.name));
        let want = match k.name {
            "retention.bytes" => 1,
            "retention.ms" | "segment.bytes" => 4,
            _ => 5,
        };
        assert_eq!(e.config_source, want, "source of {}", k.name);
        assert_eq!(e.config_type, k.kind as i8, "type of {}", k.name);
        assert!(!e.read_only);
        assert_eq!(e.documentation.as_deref(), Some(k.doc));
    }
    assert_eq!(t.configs.len(), keys(Scope::Topic).count());
    let tget = |name: &str| t.configs.iter().find(|e| e.name.as_str() == name).unwrap();
    let synonyms = |name: &str| -> Vec<(String, Option<String>, i8)> {
        tget(name)
            .synonyms
            .iter()
            .map(|s| {
                (
                    s.name.to_string(),
                    s.value.as_deref().map(String::from),
                    s.source,
                )
            })
            .collect()
    };
    let syn = |n: &str, v: &str, s: i8| (n.to_string(), Some(v.to_string()), s);
    assert_eq!(
        synonyms("retention.ms"),
        vec![
            syn("log.retention.hours", "1", 4),
            syn("log.retention.hours", "168", 5)
        ]
    );
    assert_eq!(
        synonyms("retention.bytes"),
        vec![
            syn("retention.bytes", "4096", 1),
            syn("log.retention.bytes", "-1", 5)
        ]
    );
    assert_eq!(tget("segment.bytes").value.as_deref(), Some("500000"));
}

/// A bad value stops the broker at start-up with Kafka's message naming the key.
#[test]
fn bad_config_value_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--set", "num.partitions=0"])
        .output()
        .expect("run gregor");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("Invalid value 0 for configuration num.partitions: Value must be at least 1"),
        "{stderr}"
    );
}

#[test]
fn metadata_auto_creates_and_ids_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let m = metadata(&mut c, Some(&["auto"]), false);
    assert_eq!(
        m.topics[0].error_code, 3,
        "no auto-creation when the client does not allow it"
    );
    // Produce never creates a topic (Kafka's Produce: UNKNOWN_TOPIC_OR_PARTITION), even with
    // auto.create.topics.enable on: only a Metadata request that allows it does.
    let batch = encode_batch(&[(None, "v")], None, now_ms());
    assert_eq!(raw::produce(&mut c, "auto", 0, batch).error_code, 3);
    let m = metadata(&mut c, Some(&["auto"]), false);
    assert_eq!(m.topics[0].error_code, 3, "the produce created nothing");
    let m = metadata(&mut c, Some(&["auto", "bad/name"]), true);
    assert_eq!(m.topics[0].error_code, 0);
    assert_eq!(m.topics[1].error_code, 17);
    let t = &m.topics[0];
    assert_eq!(t.partitions.len(), 1);
    assert_eq!(
        (t.partitions[0].leader_id.0, t.partitions[0].leader_epoch),
        (1, 0)
    );
    let (cluster, id) = (m.cluster_id.clone().unwrap(), t.topic_id);
    assert_eq!(m.controller_id.0, 1);
    assert_eq!(m.brokers[0].port as u16, broker.addr.port());
    let dc = c.call(&DescribeClusterRequest::default(), 1);
    assert_eq!(
        (dc.cluster_id.as_str(), dc.controller_id.0, dc.brokers.len()),
        (cluster.as_str(), 1, 1)
    );
    // v0 of Metadata: an empty list means every topic.
    let v0 = c.call(&MetadataRequest::default().with_topics(Some(vec![])), 0);
    assert_eq!(v0.topics.len(), 1);
    drop(c);
    broker.stop();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let m = metadata(&mut c, None, false);
    assert_eq!(
        (m.cluster_id.unwrap(), m.topics[0].topic_id),
        (cluster, id),
        "cluster and topic ids survive restarts"
    );
}

#[test]
fn log_append_time_topics_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(
            &mut c,
            "lat",
            1,
            &[("message.timestamp.type", "LogAppendTime")]
        ),
        0
    );
    assert_eq!(raw::create_topic(&mut c, "ct", 1, &[]), 0);
    let before = now_ms();
    let r = raw::produce(
        &mut c,
        "lat",
        0,
        encode_batch(&[(None, "a"), (None, "b")], None, 1000),
    );
    assert_eq!(r.error_code, 0);
    assert!(r.log_append_time_ms >= before, "broker time returned");
    let p = raw::fetch(&mut c, "lat", 0, 0, 1 << 20);
    let recs = p.records.unwrap();
    let h = gregor::log::batch::validate(&recs).expect("CRC recomputed and valid");
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, r.log_append_time_ms);

    for (i, ts) in [5000i64, 9000, 7000].iter().enumerate() {
        let v = format!("v{i}");
        raw::produce(
            &mut c,
            "ct",
            0,
            encode_batch(&[(None, &v), (None, &v)], None, *ts),
        );
    }
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            kafka_protocol::messages::list_offsets_request::ListOffsetsTopic::default()
                .with_name(raw::topic("ct"))
                .with_partitions(vec![
                    kafka_protocol::messages::list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-3),
                ]),
        ]);
    let resp = c.call(&req, 7);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.offset, p.timestamp),
        (0, 2, 9000),
        "the first record with the greatest timestamp"
    );
}
