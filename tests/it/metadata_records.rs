//! Topics live only in the metadata log: creations, deletions, partition growth and configs
//! are records, and a restart — after SIGKILL, with no image saved anywhere — replays them
//! into the same topics, ids, partition counts and configs. A data directory from before the
//! metadata log is migrated with its topic ids kept.

use std::collections::BTreeMap;

use crate::support::raw;
use crate::support::{BrokerProcess, RawClient, TestBroker};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;

/// name → (topic id, partition count, leader epochs), for every topic the broker lists.
fn topics(c: &mut RawClient) -> BTreeMap<String, (uuid::Uuid, usize, Vec<i32>)> {
    let resp: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    assert_eq!(resp.brokers.len(), 1, "one registered broker");
    resp.topics
        .iter()
        .map(|t| {
            assert_eq!(t.error_code, 0);
            let name = t.name.as_ref().expect("name").to_string();
            let epochs = t.partitions.iter().map(|p| p.leader_epoch).collect();
            (name, (t.topic_id, t.partitions.len(), epochs))
        })
        .collect()
}

fn retention_ms(c: &mut RawClient, topic: &str) -> Option<(String, i8)> {
    let resp: DescribeConfigsResponse = c.call(
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(kafka_protocol::protocol::StrBytes::from_string(
                topic.to_string(),
            ))
            .with_configuration_keys(Some(vec!["retention.ms".into()]))]),
        4,
    );
    let r = &resp.results[0];
    assert_eq!(r.error_code, 0);
    r.configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .map(|c| {
            (
                c.value.as_ref().map_or(String::new(), |v| v.to_string()),
                c.config_source,
            )
        })
}

#[test]
fn topics_come_back_from_the_records_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let broker = BrokerProcess::spawn_on(port, dir.path(), &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(
        raw::create_topic(&mut c, "kept", 3, &[("retention.ms", "123456")]),
        0
    );
    assert_eq!(raw::create_topic(&mut c, "dropped", 2, &[]), 0);
    // A request for billions of partitions is refused before anything is planned (found by
    // the request fuzzer), as Kafka's controller bounds one operation's records.
    assert_eq!(raw::create_topic(&mut c, "huge", i32::MAX, &[]), 44);
    assert_eq!(raw::create_topic(&mut c, "grown", 1, &[]), 0);
    let grow: CreatePartitionsResponse = c.call(
        &CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(raw::topic("grown"))
                .with_count(4)]),
        3,
    );
    assert_eq!(grow.results[0].error_code, 0);
    let huge: CreatePartitionsResponse = c.call(
        &CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(raw::topic("grown"))
                .with_count(i32::MAX)]),
        3,
    );
    assert_eq!(huge.results[0].error_code, 44);
    let del: DeleteTopicsResponse = c.call(
        &DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topic_names(vec![raw::topic("dropped")]),
        5,
    );
    assert_eq!(del.responses[0].error_code, 0);
    let before = topics(&mut c);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        vec!["grown", "kept"],
        "{before:?}"
    );
    assert_eq!(before["grown"].1, 4);
    assert_eq!(before["kept"].1, 3);
    assert_eq!(before["kept"].2, vec![0, 0, 0]);
    drop(c);
    broker.kill9();

    // Nothing but the metadata log and the partition logs hold topics: no registry files.
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| std::path::Path::new(&dir.path().join(n)).is_dir())
        .collect();
    entries.sort();
    assert!(
        entries.contains(&"__cluster_metadata-0".to_string()),
        "{entries:?}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e == "topics" || e.starts_with("dropped-")),
        "{entries:?}"
    );

    let broker = BrokerProcess::spawn_on(port, dir.path(), &[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(topics(&mut c), before);
    assert_eq!(retention_ms(&mut c, "kept"), Some(("123456".into(), 1)));
    // The replayed partitions are served: produce and read back from a grown partition.
    let batch = crate::support::encode_batch(&[(Some("k"), "v")], None, crate::support::now_ms());
    let resp = raw::produce(&mut c, "grown", 3, batch);
    assert_eq!((resp.error_code, resp.base_offset), (0, 0));
    // A deleted topic stays deleted, and its name is free again with a new id.
    assert_eq!(raw::create_topic(&mut c, "dropped", 1, &[]), 0);
    let after = topics(&mut c);
    assert_eq!(after["dropped"].1, 1);
    assert_ne!(after["dropped"].0, uuid::Uuid::nil());
}

#[test]
fn a_data_directory_from_before_the_metadata_log_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let id = "5f2a9f8e-0d7c-4c4b-9a51-2f7f0b1f6f0e";
    std::fs::create_dir_all(dir.path().join("topics")).unwrap();
    std::fs::write(
        dir.path().join("topics/legacy.properties"),
        format!("topic.id={id}\npartitions=2\nconfig.retention.ms=98765\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("producer-id-block"), "5000\n").unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let t = topics(&mut c);
    assert_eq!(t["legacy"].0.to_string(), id);
    assert_eq!(t["legacy"].1, 2);
    assert_eq!(retention_ms(&mut c, "legacy"), Some(("98765".into(), 1)));
    // Producer ids continue past the old block.
    let pid: InitProducerIdResponse = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_timeout_ms(60000),
        4,
    );
    assert!(pid.producer_id.0 >= 5000, "{pid:?}");
    assert!(!dir.path().join("topics").exists());
    assert!(!dir.path().join("producer-id-block").exists());
}
