//! Partition-level views of a replicated [`super::cluster::Cluster`] for replication tests:
//! every call is one raw request on a fresh connection with a short read timeout, returning
//! `None` when the node is dead, paused or does not answer (so tests poll with
//! [`super::wait_for`] instead of hanging on a stopped process). Metadata gives a partition's
//! leader, leader epoch, replicas and ISR; Produce returns the exact error code (acks 0/1/−1);
//! ListOffsets and Fetch give the high watermark and the records; [`segments`] reads a
//! replica's `.log` files from its data directory for byte comparisons.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use gregor::tools::client::Client;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};

use super::cluster::Cluster;
use super::raw;

/// One request on a fresh connection; `None` if the node does not answer within 5 s.
pub fn call<R: Request>(addr: &str, req: &R, version: i16) -> Option<R::Response> {
    call_within(addr, req, version, Duration::from_secs(5))
}

/// [`call`] for requests that may wait on the controller (forwarding, commits): 15 s.
pub fn call_patient<R: Request>(addr: &str, req: &R, version: i16) -> Option<R::Response> {
    call_within(addr, req, version, Duration::from_secs(15))
}

fn call_within<R: Request>(
    addr: &str,
    req: &R,
    version: i16,
    timeout: Duration,
) -> Option<R::Response> {
    let mut c = Client::connect(addr).ok()?;
    c.stream.set_read_timeout(Some(timeout)).ok()?;
    c.call(req, version).ok()
}

/// A partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartState {
    pub error: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// Partition `p` of `topic` in the Metadata (v12) of the node at `addr`.
pub fn partition(addr: &str, topic: &str, p: i32) -> Option<PartState> {
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(raw::topic(topic))),
    ]));
    let resp = call(addr, &req, 12)?;
    let t = resp.topics.first()?;
    let part = t.partitions.iter().find(|x| x.partition_index == p)?;
    let mut isr: Vec<i32> = part.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort_unstable();
    Some(PartState {
        error: part.error_code,
        leader: part.leader_id.0,
        leader_epoch: part.leader_epoch,
        replicas: part.replica_nodes.iter().map(|b| b.0).collect(),
        isr,
    })
}

/// CreateTopics (v7) through `addr` with an explicit replication factor: the topic's error
/// code, `None` without an answer.
pub fn create_topic(
    addr: &str,
    name: &str,
    partitions: i32,
    rf: i16,
    configs: &[(&str, &str)],
) -> Option<i16> {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
            .with_configs(configs)]);
    call(addr, &req, 7).map(|r| r.topics[0].error_code)
}

/// CreateTopics (v7) of a one-partition topic whose replicas are `replicas` (the first is
/// the preferred leader): the topic's error code, `None` without an answer.
pub fn create_assigned(
    addr: &str,
    name: &str,
    replicas: &[i32],
    configs: &[(&str, &str)],
) -> Option<i16> {
    use kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(replicas.iter().map(|r| BrokerId(*r)).collect())])
            .with_configs(configs)]);
    call(addr, &req, 7).map(|r| r.topics[0].error_code)
}

/// The metadata quorum's leader as DescribeQuorum through `addr` says (`None`: no answer or
/// no leader).
pub fn quorum_leader(addr: &str) -> Option<i32> {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(raw::topic("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp = call(addr, &req, 1)?;
    let p = resp.topics.first()?.partitions.first()?;
    (resp.error_code == 0 && p.error_code == 0 && p.leader_id.0 >= 0).then_some(p.leader_id.0)
}

/// Produce (v9) of one batch with `acks`: (error code, base offset); `None` without an answer
/// (acks=0 never answers).
pub fn produce(addr: &str, topic: &str, p: i32, batch: Bytes, acks: i16) -> Option<(i16, i64)> {
    let req = raw::produce_request(topic, p, batch, acks).with_timeout_ms(3000);
    let resp = call(addr, &req, 9)?;
    let r = resp.responses.first()?.partition_responses.first()?;
    Some((r.error_code, r.base_offset))
}

/// A plain batch of `values` (no producer id).
pub fn batch(values: &[String]) -> Bytes {
    let recs: Vec<(Option<&str>, &str)> = values.iter().map(|v| (None, v.as_str())).collect();
    raw::encode_batch(&recs, None, raw::now_ms())
}

/// ListOffsets(latest) (v7) at `addr`: (error code, offset) — the high watermark.
pub fn latest(addr: &str, topic: &str, p: i32) -> Option<(i16, i64)> {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(raw::topic(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(p)
                .with_timestamp(-1)])]);
    let resp = call(addr, &req, 7)?;
    let part = resp.topics.first()?.partitions.first()?;
    Some((part.error_code, part.offset))
}

/// Every record a consumer can read from the leader at `addr` (below the high watermark):
/// (offset, value) in order, with the high watermark; `None` on an error or no answer.
pub fn read_all(addr: &str, topic: &str, p: i32) -> Option<(Vec<(i64, String)>, i64)> {
    let mut c = Client::connect(addr).ok()?;
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let mut out = Vec::new();
    let mut offset = 0i64;
    loop {
        let req = fetch_request(topic, p, offset);
        let resp = c.call(&req, 12).ok()?;
        let part = resp.responses.first()?.partitions.first()?.clone();
        if part.error_code != 0 {
            return None;
        }
        let hw = part.high_watermark;
        let records = part.records.unwrap_or_default();
        let before = out.len();
        for (at, h) in gregor::log::batch::BatchWalker::new(&records) {
            let bytes = &records[at..at + h.total_size()];
            let recs = gregor::log::records::decode(bytes).ok()?;
            for r in recs {
                if r.offset >= offset && !r.control {
                    let v = r.value.map(|v| String::from_utf8_lossy(&v).into_owned());
                    out.push((r.offset, v.unwrap_or_default()));
                }
            }
            offset = offset.max(h.last_offset() + 1);
        }
        if offset >= hw || out.len() == before && records.is_empty() {
            return Some((out, hw));
        }
    }
}

fn fetch_request(topic: &str, p: i32, offset: i64) -> FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(8 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(raw::topic(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(8 << 20)])])
}

/// The `.log` segment files of partition `p` of `topic` in a node's data directory, by name,
/// concatenated in offset order (empty if the partition has none).
pub fn segments(data_dir: &Path, topic: &str, p: i32) -> Vec<u8> {
    let dir = data_dir.join(format!("{topic}-{p}"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|n| std::fs::read(n).unwrap_or_default())
        .collect()
}

/// The batches of a replica's log: (base offset, last offset, leader epoch, CRC) each — the
/// replicated identity of a batch, whatever the padding of preallocated files.
pub fn batches(data_dir: &Path, topic: &str, p: i32) -> Vec<(i64, i64, i32, u32)> {
    let bytes = segments(data_dir, topic, p);
    gregor::log::batch::BatchWalker::new(&bytes)
        .map(|(_, h)| {
            (
                h.base_offset,
                h.last_offset(),
                h.partition_leader_epoch,
                h.crc,
            )
        })
        .collect()
}

/// The index (0-based) of the node with id `id`.
pub fn index_of(c: &Cluster, id: i32) -> usize {
    (0..c.len()).find(|&i| c.id(i) == id).expect("a node id")
}

/// Waits until Metadata through `addr` lists `n` brokers (registered and unfenced).
pub fn wait_brokers(addr: &str, n: usize, patience: Duration) {
    super::wait_for("every broker registered and unfenced", patience, || {
        let req = MetadataRequest::default().with_topics(Some(vec![]));
        let resp = call(addr, &req, 12)?;
        (resp.brokers.len() == n).then_some(())
    });
}
