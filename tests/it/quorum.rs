//! The metadata quorum (issue 13, step 1): `__cluster_metadata-0` is a Raft log with this
//! node as its one voter. DescribeQuorum answers at every version with Kafka offsets; a
//! restart replays the committed entries; a kill -9 in a stream of CreateTopics loses no
//! acknowledged topic and half-applies none; the log holds the KRaft control batches (seen
//! with `gregor dump-log`); a metadata log written before the quorum is upgraded.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gregor::tools::client::Client;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::*;

use crate::support::raw;
use crate::support::{wait_for, BrokerProcess, RawClient, TestBroker};

fn quorum_request(topic: &str, partition: i32) -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(raw::topic(topic))
        .with_partitions(vec![
            PartitionData::default().with_partition_index(partition)
        ])])
}

/// (leader, epoch, high watermark, the leader's log end offset) at `version`.
fn describe(c: &mut RawClient, version: i16) -> (i32, i32, i64, i64) {
    let resp = c.call(&quorum_request("__cluster_metadata", 0), version);
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.topics.len(), 1);
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.partition_index, p.error_code), (0, 0));
    assert_eq!(p.current_voters.len(), 1, "one voter");
    assert!(p.observers.is_empty());
    let me = &p.current_voters[0];
    assert_eq!(me.replica_id, p.leader_id);
    if version >= 1 {
        assert!(me.last_fetch_timestamp > 0 && me.last_caught_up_timestamp > 0);
    }
    if version >= 2 {
        assert_eq!(resp.nodes.len(), 1);
        assert_eq!(resp.nodes[0].node_id, p.leader_id);
        assert!(resp.nodes[0].listeners[0].port > 0);
    }
    (
        p.leader_id.0,
        p.leader_epoch,
        p.high_watermark,
        me.log_end_offset,
    )
}

/// The metadata log's end offset on disk, from `gregor dump-log` over its segments.
fn dump_metadata_log(dir: &Path) -> String {
    let mdir = dir.join("__cluster_metadata-0");
    let mut segments: Vec<_> = std::fs::read_dir(&mdir)
        .expect("metadata dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
        .arg("dump-log")
        .args(&segments)
        .output()
        .expect("dump-log runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn describe_quorum_reports_the_leader_and_kafka_offsets_at_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let (leader, epoch, hw0, leo0) = describe(&mut c, 0);
    assert_eq!(leader, 1, "node.id 1 leads its own quorum");
    assert!(epoch >= 1, "epoch {epoch}");
    assert_eq!(hw0, leo0);
    for i in 0..5 {
        assert_eq!(raw::create_topic(&mut c, &format!("q{i}"), 1, &[]), 0);
    }
    // Each CreateTopics of one partition commits one batch of two records (topic, partition).
    for v in 0..=2 {
        let (l, e, hw, leo) = describe(&mut c, v);
        assert_eq!((l, e), (leader, epoch), "v{v}");
        assert_eq!((hw, leo), (hw0 + 10, leo0 + 10), "v{v}");
    }
    // The log end is the metadata log's Kafka log end.
    let dump = dump_metadata_log(dir.path());
    let last = dump
        .lines()
        .filter_map(|l| l.split("lastOffset: ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse::<i64>().ok())
        .max()
        .expect("batches");
    assert_eq!(last + 1, leo0 + 10);
    // Wrong topic or partition: UNKNOWN_TOPIC_OR_PARTITION on that partition.
    for (t, p) in [("other", 0), ("__cluster_metadata", 1)] {
        for v in 0..=2 {
            let resp = c.call(&quorum_request(t, p), v);
            let part = &resp.topics[0].partitions[0];
            assert_eq!(
                (part.partition_index, part.error_code),
                (p, 3),
                "{t}-{p} v{v}"
            );
        }
    }
    let empty = c.call(&DescribeQuorumRequest::default(), 2);
    assert!(empty.topics.is_empty());
}

#[test]
fn the_metadata_log_holds_kraft_control_batches_with_the_term_as_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "t", 2, &[]), 0);
    let (_, epoch, _, _) = describe(&mut c, 2);
    drop(c);
    broker.stop();
    let dump = dump_metadata_log(dir.path());
    let lines: Vec<&str> = dump
        .lines()
        .filter(|l| l.starts_with("baseOffset"))
        .collect();
    // The first entry is the voters (openraft's initial membership), then the leader's.
    assert!(
        lines[0].contains("isControl: true") && lines[0].contains("controlType: KRAFT_VOTERS"),
        "{dump}"
    );
    assert!(lines[1].contains("controlType: LEADER_CHANGE"), "{dump}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("partitionLeaderEpoch: {epoch} "))
                && l.contains("isControl: false")),
        "{dump}"
    );
    assert!(dir
        .path()
        .join("__cluster_metadata-0/quorum-state")
        .is_file());
    let state =
        std::fs::read_to_string(dir.path().join("__cluster_metadata-0/quorum-state")).unwrap();
    assert!(
        state.contains(&format!("\"leaderEpoch\":{epoch}")),
        "{state}"
    );
    assert!(state.contains("\"leaderId\":1"), "{state}");
}

#[test]
fn a_restart_replays_topics_and_configs() {
    let dir = tempfile::tempdir().unwrap();
    let (epoch1, leo1) = {
        let broker = TestBroker::start(dir.path(), &[]);
        let mut c = RawClient::connect(&broker.bootstrap());
        assert_eq!(
            raw::create_topic(&mut c, "a", 3, &[("retention.ms", "4242")]),
            0
        );
        assert_eq!(raw::create_topic(&mut c, "b", 1, &[]), 0);
        let (_, e, _, leo) = describe(&mut c, 2);
        broker.stop();
        (e, leo)
    };
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let (leader, epoch2, hw, leo2) = describe(&mut c, 2);
    assert_eq!(leader, 1);
    // openraft restores a voter whose committed vote names itself as the leader of that term
    // at once (Kafka would start a new epoch; one voter cannot tell the difference).
    assert!(epoch2 >= epoch1, "{epoch1} then {epoch2}");
    assert!(leo2 >= leo1 && hw == leo2, "{leo1} {leo2} {hw}");
    let md: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    let mut got: Vec<(String, usize)> = md
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.partitions.len()))
        .collect();
    got.sort();
    assert_eq!(got, vec![("a".to_string(), 3), ("b".to_string(), 1)]);
    let image = broker.with_broker(|b| async move { b.metadata.image() });
    assert_eq!(
        image
            .topic("a")
            .unwrap()
            .overrides
            .get("retention.ms")
            .map(String::as_str),
        Some("4242")
    );
}

#[test]
fn kill_9_during_create_topics_keeps_every_acknowledged_topic_whole() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let broker = BrokerProcess::spawn_on(port, dir.path(), &[]);
    let acked: Arc<Mutex<Vec<(String, i32)>>> = Arc::default();
    let writer = {
        let (addr, acked) = (broker.addr.clone(), acked.clone());
        std::thread::spawn(move || {
            let Ok(mut client) = Client::connect(&addr) else {
                return;
            };
            for i in 0.. {
                let name = format!("k{i}");
                let partitions = i % 3 + 1;
                let req = CreateTopicsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(vec![create_topics_request::CreatableTopic::default()
                        .with_name(raw::topic(&name))
                        .with_num_partitions(partitions)
                        .with_replication_factor(1)]);
                match client.call(&req, 7) {
                    Ok(resp) if resp.topics[0].error_code == 0 => {
                        acked.lock().unwrap().push((name, partitions))
                    }
                    _ => return,
                }
            }
        })
    };
    wait_for("30 acknowledged topics", Duration::from_secs(60), || {
        (acked.lock().unwrap().len() >= 30).then_some(())
    });
    broker.kill9();
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    let broker = BrokerProcess::spawn_on(port, dir.path(), &[]);
    let mut c = RawClient::connect(&broker.addr);
    let md: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    let listed: std::collections::BTreeMap<String, usize> = md
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.partitions.len()))
        .collect();
    for (name, partitions) in &acked {
        assert_eq!(
            listed.get(name),
            Some(&(*partitions as usize)),
            "acknowledged {name}"
        );
    }
    // A topic that was being created at the kill is there whole or not at all.
    for (name, n) in &listed {
        let i: i32 = name[1..].parse().unwrap();
        assert_eq!(*n as i32, i % 3 + 1, "{name} half-applied");
    }
    assert!(listed.len() <= acked.len() + 1);
    let (leader, _, hw, leo) = describe(&mut c, 2);
    assert_eq!((leader, hw), (1, leo));
    broker.kill9();
}

/// A `__cluster_metadata-0` as gregor wrote it before the quorum: plain batches.
fn write_pre_quorum_log(dir: &Path, topic_id: uuid::Uuid) {
    use gregor::metadata::records::{MetadataRecord, TOPIC_RESOURCE};
    let logs = gregor::log::LogManager::open(dir).unwrap();
    let config = gregor::config::BrokerConfig::default();
    let p = gregor::metadata::log::open(&logs, &config).unwrap();
    let batches = [
        vec![MetadataRecord::Topic {
            name: "old".into(),
            topic_id,
        }],
        (0..2)
            .map(|i| MetadataRecord::Partition {
                partition_id: i,
                topic_id,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                removing_replicas: vec![],
                adding_replicas: vec![],
            })
            .collect(),
        vec![MetadataRecord::Config {
            resource_type: TOPIC_RESOURCE,
            resource_name: "old".into(),
            name: "retention.ms".into(),
            value: Some("777".into()),
        }],
        vec![MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 0,
            next_producer_id: 5000,
        }],
    ];
    for b in batches {
        gregor::metadata::log::append_plain(&p, &b).unwrap();
    }
    logs.shutdown(&[p]).unwrap();
}

fn assert_upgraded(dir: &Path, topic_id: uuid::Uuid) {
    let broker = TestBroker::start(dir, &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let md: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().unwrap().as_str() == "old")
        .expect("old topic");
    assert_eq!((t.topic_id, t.partitions.len()), (topic_id, 2));
    let image = broker.with_broker(|b| async move { b.metadata.image() });
    assert_eq!(
        image
            .topic("old")
            .unwrap()
            .overrides
            .get("retention.ms")
            .map(String::as_str),
        Some("777")
    );
    assert!(image.next_producer_id >= 5000);
    let (leader, _, hw, leo) = describe(&mut c, 2);
    assert_eq!((leader, hw), (1, leo));
    drop(c);
    broker.stop();
    assert!(!dir.join("__cluster_metadata-0.pre-raft").exists());
    assert!(dir.join("__cluster_metadata-0/quorum-state").is_file());
    let dump = dump_metadata_log(dir);
    let first = dump
        .lines()
        .find(|l| l.starts_with("baseOffset"))
        .unwrap_or("");
    assert!(first.contains("controlType: KRAFT_VOTERS"), "{dump}");
}

#[test]
fn a_metadata_log_from_before_the_quorum_is_upgraded_once() {
    let dir = tempfile::tempdir().unwrap();
    let id = uuid::Uuid::new_v4();
    write_pre_quorum_log(dir.path(), id);
    assert_upgraded(dir.path(), id);
    // Again: nothing left to upgrade, same content.
    assert_upgraded(dir.path(), id);
}

#[test]
fn an_interrupted_upgrade_starts_over_from_the_old_log() {
    let dir = tempfile::tempdir().unwrap();
    let id = uuid::Uuid::new_v4();
    write_pre_quorum_log(dir.path(), id);
    // A crash after the old log was moved aside: the new log has a half-done start.
    let mdir = dir.path().join("__cluster_metadata-0");
    std::fs::rename(&mdir, dir.path().join("__cluster_metadata-0.pre-raft")).unwrap();
    std::fs::create_dir_all(&mdir).unwrap();
    std::fs::write(
        mdir.join("quorum-state"),
        r#"{"leaderId":-1,"leaderEpoch":1,"votedId":1}"#,
    )
    .unwrap();
    assert_upgraded(dir.path(), id);
}

fn checkpoints(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("__cluster_metadata-0"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(".checkpoint"))
        .collect();
    v.sort();
    v
}

fn topic_partitions(c: &mut RawClient) -> std::collections::BTreeMap<String, usize> {
    let md: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12);
    md.topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.partitions.len()))
        .collect()
}

#[test]
fn snapshots_are_kafka_checkpoints_and_a_restart_loads_the_newest_plus_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let small = [("metadata.log.max.record.bytes.between.snapshots", "1500")];
    let mut expected = std::collections::BTreeMap::new();
    {
        let broker = TestBroker::start(dir.path(), &small);
        let mut c = RawClient::connect(&broker.bootstrap());
        for i in 0..30 {
            let name = format!("s{i}");
            assert_eq!(raw::create_topic(&mut c, &name, i % 3 + 1, &[]), 0);
            expected.insert(name, (i % 3 + 1) as usize);
        }
        wait_for(
            "a snapshot and the log before it purged",
            Duration::from_secs(30),
            || {
                let start = broker.with_broker(|b| async move {
                    b.controller
                        .log_partition()
                        .map_or(0, |p| p.log_start_offset())
                });
                (!checkpoints(dir.path()).is_empty() && start > 0).then_some(())
            },
        );
        broker.stop();
    }
    let files = checkpoints(dir.path());
    assert_eq!(
        files.len(),
        1,
        "only the newest snapshot is kept: {files:?}"
    );
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    let (offset, epoch) = name
        .trim_end_matches(".checkpoint")
        .split_once('-')
        .unwrap();
    assert_eq!((offset.len(), epoch.len()), (20, 10), "{name}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
        .arg("dump-log")
        .arg(&files[0])
        .output()
        .expect("dump-log");
    let dump = String::from_utf8_lossy(&out.stdout);
    let kinds: Vec<&str> = dump
        .lines()
        .filter(|l| l.starts_with("baseOffset"))
        .map(|l| l.split("controlType: ").nth(1).unwrap_or("records"))
        .collect();
    assert_eq!(kinds.first(), Some(&"SNAPSHOT_HEADER"), "{dump}");
    assert_eq!(kinds.get(1), Some(&"KRAFT_VOTERS"), "{dump}");
    assert_eq!(kinds.last(), Some(&"SNAPSHOT_FOOTER"), "{dump}");
    assert!(kinds.contains(&"records"), "{dump}");

    // A tail after the snapshot, then a crash.
    let port = crate::support::free_port();
    let process = BrokerProcess::spawn_on(
        port,
        dir.path(),
        &[
            "--set",
            "metadata.log.max.record.bytes.between.snapshots=1000000",
        ],
    );
    let mut c = RawClient::connect(&process.addr);
    for i in 0..3 {
        let name = format!("tail{i}");
        assert_eq!(raw::create_topic(&mut c, &name, 2, &[]), 0);
        expected.insert(name, 2);
    }
    process.kill9();

    for _ in 0..2 {
        let broker = TestBroker::start(dir.path(), &small);
        let mut c = RawClient::connect(&broker.bootstrap());
        assert_eq!(topic_partitions(&mut c), expected);
        let (leader, _, hw, leo) = describe(&mut c, 2);
        assert_eq!((leader, hw), (1, leo));
        broker.stop();
    }
}

#[test]
fn acknowledged_topics_survive_a_power_cut_of_the_metadata_log() {
    // `--record-syncs`: each segment keeps only what was fsynced when the "power" goes.
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let args = ["--record-syncs"];
    let broker = BrokerProcess::spawn_on(port, dir.path(), &args);
    let mut c = RawClient::connect(&broker.addr);
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..20 {
        let name = format!("p{i}");
        assert_eq!(raw::create_topic(&mut c, &name, i % 4 + 1, &[]), 0);
        expected.insert(name, (i % 4 + 1) as usize);
    }
    drop(c);
    broker.kill9();
    let mdir = dir.path().join("__cluster_metadata-0");
    for e in std::fs::read_dir(&mdir).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "log") {
            let synced: u64 = std::fs::read_to_string(path.with_extension("log.synced"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            assert!(
                f.metadata().unwrap().len() <= synced,
                "an acknowledged entry was not fsynced"
            );
            f.set_len(synced).unwrap();
        }
    }
    let broker = BrokerProcess::spawn_on(port, dir.path(), &args);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(topic_partitions(&mut c), expected);
    broker.kill9();
}

#[test]
fn the_quorum_runs_on_a_current_thread_runtime_too() {
    // Controller commits block on the Raft task from a blocking thread; with one runtime
    // thread the Raft task must still run while a request waits for its commit.
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = gregor::config::BrokerConfig::default();
    let mut warnings = Vec::new();
    cfg.apply_properties(
        &[(
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        )],
        &mut warnings,
    )
    .unwrap();
    cfg.data_dir = dir.path().to_path_buf();
    let handle = rt.block_on(gregor::node::start(cfg)).expect("starts");
    let addr = handle.local_addr().to_string();
    let (created, view) = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let mut c = RawClient::connect(&addr);
            let created: Vec<i16> = (0..5)
                .map(|i| raw::create_topic(&mut c, &format!("ct{i}"), 2, &[]))
                .collect();
            (created, describe(&mut c, 2))
        })
        .await
        .unwrap()
    });
    assert_eq!(created, vec![0; 5]);
    assert_eq!((view.0, view.2), (1, view.3));
    rt.block_on(handle.shutdown()).expect("clean shutdown");
}
