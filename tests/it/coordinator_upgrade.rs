//! Upgrade of a data dir written before the coordinators' topics were replicated: the group
//! and transaction coordinators kept a local `__consumer_offsets-0` / `__transaction_state-0`
//! (no `partition.metadata`, no TopicRecord). The fixture is written the way the old broker
//! wrote it — the coordinators on a plain local partition — then a broker starts on the dir:
//! each topic is created with one partition on this node, which adopts the directory, so the
//! stored offsets and transactional ids are served as before (Kafka never changes an internal
//! topic's partition count, so new keys land in that partition too).

use std::sync::Arc;

use gregor::config::BrokerConfig;
use gregor::coordinator::clock::SystemClock;
use gregor::coordinator::partition_log::PartitionCoordinatorLog;
use gregor::error::ErrorCode;
use gregor::group::{GroupConfig, GroupCoordinator, OffsetValue};
use gregor::log::LogManager;
use gregor::txn::markers::MarkerFuture;
use gregor::txn::{MarkerRequest, TxnConfig, TxnCoordinator, TxnMarkerWriter};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::raw;
use crate::support::{RawClient, TestBroker};

/// The old broker wrote no markers in this fixture.
struct NoMarkers;

impl TxnMarkerWriter for NoMarkers {
    fn write_markers<'a>(&'a self, req: &'a MarkerRequest) -> MarkerFuture<'a> {
        Box::pin(async move {
            req.partitions
                .iter()
                .map(|p| (p.clone(), ErrorCode::None))
                .collect()
        })
    }
}

/// Writes the pre-replication layout: one committed offset of "old-group" (t-0 → 42) and one
/// transactional id "old-txn" with producer id 7000.
fn write_old_layout(dir: &std::path::Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = BrokerConfig::default();
        let logs = LogManager::open(dir).expect("logs");
        let offsets = logs
            .open_partition(
                "__consumer_offsets",
                0,
                cfg.log_config(&gregor::group::store::topic_configs(&cfg)),
            )
            .expect("offsets partition");
        let groups = GroupCoordinator::new(
            GroupConfig::from_broker(&cfg),
            Arc::new(PartitionCoordinatorLog::new(offsets.clone())),
            Arc::new(SystemClock),
        )
        .expect("group coordinator");
        let value = OffsetValue {
            offset: 42,
            leader_epoch: -1,
            metadata: "old".into(),
            commit_timestamp: raw::now_ms(),
        };
        let code = groups
            .commit("old-group", -1, "", None, vec![("t".into(), 0, value)])
            .await;
        assert_eq!(code, ErrorCode::None);
        let state = logs
            .open_partition(
                "__transaction_state",
                0,
                cfg.log_config(&gregor::txn::store::topic_configs(&cfg, 1)),
            )
            .expect("txn partition");
        let txns = TxnCoordinator::new(
            TxnConfig::from_broker(&cfg),
            Arc::new(PartitionCoordinatorLog::new(state.clone())),
            Arc::new(SystemClock),
            Arc::new(|| Ok(7000)),
            Arc::new(NoMarkers),
        )
        .expect("txn coordinator");
        assert_eq!(
            txns.init_producer_id("old-txn", 60_000, None).await,
            Ok((7000, 0))
        );
        logs.shutdown(&[offsets, state]).expect("closed");
    });
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// OffsetFetch v7 of `group`'s t-0: (offset, metadata, error).
fn fetch(c: &mut RawClient, group: &str) -> (i64, String, i16) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(raw::topic("t"))
            .with_partition_indexes(vec![0])]));
    let r = c.call(&req, 7);
    assert_eq!(r.error_code, 0);
    let p = &r.topics[0].partitions[0];
    let meta = p
        .metadata
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    (p.committed_offset, meta, p.error_code)
}

/// Partition counts of the coordinators' topics in Metadata, and whether they are internal.
fn internal_topics(c: &mut RawClient) -> Vec<(String, usize, bool)> {
    let r = c.call(&MetadataRequest::default().with_topics(None), 12);
    let mut out: Vec<(String, usize, bool)> = r
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.to_string();
            name.starts_with("__")
                .then_some((name, t.partitions.len(), t.is_internal))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_pre_replication_data_dir_keeps_its_groups_and_transactions() {
    let dir = tempfile::tempdir().unwrap();
    write_old_layout(dir.path());

    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(fetch(&mut c, "old-group"), (42, "old".to_string(), 0));
    let described = c.call(
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s("old-txn"))]),
        0,
    );
    let t = &described.transaction_states[0];
    assert_eq!((t.error_code, t.producer_id.0), (0, 7000));
    assert_eq!(t.transaction_state.as_str(), "Empty");
    assert_eq!(
        internal_topics(&mut c),
        vec![
            ("__consumer_offsets".to_string(), 1, true),
            ("__transaction_state".to_string(), 1, true),
        ],
        "one partition each: the old data keeps its meaning"
    );

    // A new group lands in the same one partition and everything survives a restart.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("new-group")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(raw::topic("t"))
                .with_partitions(vec![
                kafka_protocol::messages::offset_commit_request::OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(7)
                    .with_committed_metadata(Some(s("new"))),
            ]),
        ]);
    assert_eq!(raw::create_topic(&mut c, "t", 1, &[]), 0);
    let r = c.call(&commit, 8);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    drop(c);
    broker.stop();

    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(fetch(&mut c, "old-group"), (42, "old".to_string(), 0));
    assert_eq!(fetch(&mut c, "new-group"), (7, "new".to_string(), 0));
    assert_eq!(internal_topics(&mut c).len(), 2);
}
