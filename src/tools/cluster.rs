//! `gregor cluster`: the health of a running cluster over the Kafka protocol — its nodes, the
//! metadata quorum, and the partitions that are under-replicated, under their min ISR or
//! offline, with a one-line summary (text, or one JSON object with `--json`).
//!
//! Requests, all to the first `--bootstrap` address that accepts a connection, each at the
//! highest version both sides know (ApiVersions first): DescribeCluster (v2 with
//! `include_fenced_brokers`, KIP-1073, so fenced brokers are listed and marked; older brokers
//! list live ones only), Metadata (every topic: leader, replicas, ISR, offline replicas),
//! DescribeQuorum for `__cluster_metadata-0` (a broker forwards it to the active controller;
//! its failure is shown, not fatal) and DescribeConfigs for `min.insync.replicas` of every
//! topic. Kafka's protocol does not say whether a broker is in a controlled shutdown, so
//! neither does this tool.
//!
//! Definitions (kafka-topics' `--under-replicated-partitions`, `--under-min-isr-partitions`,
//! `--unavailable-partitions`): under-replicated = ISR smaller than the replica set; under min
//! ISR = ISR smaller than the topic's `min.insync.replicas`; offline = no leader (−1) or a
//! leader that is not a live broker. A node is `live` (unfenced, registered), `fenced`
//! (registered, fenced) or `absent` (named as a replica or voter, not registered). A quorum
//! replica's lag is the quorum's high watermark minus its log end offset (0 when ahead).
//!
//! The tool is read-only and stateless; the gathering ([`gather`]) is apart from the
//! rendering (`cluster_render.rs`: [`ClusterView::text`], [`ClusterView::json`]) so both print
//! the same facts.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::client::Client;
use crate::error::ErrorCode;

const TOPIC_RESOURCE: i8 = 2;
const MIN_ISR: &str = "min.insync.replicas";

/// One node as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub id: i32,
    /// `host:port` on the listener asked; empty for an absent node.
    pub address: String,
    pub rack: Option<String>,
    pub status: NodeStatus,
}

/// Whether a node can serve (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    Live,
    Fenced,
    Absent,
}

impl NodeStatus {
    pub(crate) fn name(self) -> &'static str {
        match self {
            NodeStatus::Live => "live",
            NodeStatus::Fenced => "fenced",
            NodeStatus::Absent => "absent",
        }
    }
}

/// One replica of the metadata quorum, as its leader reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    pub id: i32,
    pub log_end_offset: i64,
    /// Unix ms of its last fetch / of its last being caught up; −1 when unknown.
    pub last_fetch_ms: i64,
    pub last_caught_up_ms: i64,
}

/// The metadata quorum, from DescribeQuorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
}

impl QuorumView {
    /// High watermark minus the replica's log end, never below 0.
    pub fn lag(&self, r: &QuorumReplica) -> i64 {
        (self.high_watermark - r.log_end_offset).max(0)
    }
}

/// One partition's replication state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub topic: String,
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub min_isr: i32,
}

impl PartitionView {
    pub fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    pub fn under_min_isr(&self) -> bool {
        (self.isr.len() as i64) < i64::from(self.min_isr)
    }

    /// No leader, or a leader that is not among `live` brokers.
    pub fn offline(&self, live: &BTreeSet<i32>) -> bool {
        self.leader < 0 || !live.contains(&self.leader)
    }
}

/// Everything the tool reports.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub cluster_id: String,
    /// The active controller: the quorum's leader, else what DescribeCluster names.
    pub controller_id: i32,
    pub nodes: Vec<NodeView>,
    /// The quorum, or why it could not be described.
    pub quorum: Result<QuorumView, String>,
    /// Every partition of every topic, by topic then index.
    pub partitions: Vec<PartitionView>,
    /// Unix ms at which the facts were gathered (for "ago" columns).
    pub now_ms: i64,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Connects to the first address of a comma-separated list that accepts.
fn connect(bootstrap: &str) -> Result<Client, String> {
    let mut last = format!("no address in {bootstrap:?}");
    for addr in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match Client::connect(addr) {
            Ok(c) => return Ok(c),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The highest version of `key` both this tool (`ours`) and the broker serve.
fn pick(versions: &BTreeMap<i16, (i16, i16)>, key: ApiKey, ours: i16) -> Result<i16, String> {
    match versions.get(&(key as i16)) {
        Some(&(min, max)) if min <= ours => Ok(max.min(ours)),
        _ => Err(format!("the broker does not serve {key:?} up to v{ours}")),
    }
}

/// Asks the broker at `bootstrap` (see the module doc).
pub fn gather(bootstrap: &str) -> Result<ClusterView, String> {
    let mut c = connect(bootstrap)?;
    let api = c.call(&ApiVersionsRequest::default(), 0)?;
    if api.error_code != 0 {
        return Err(format!("ApiVersions: error {}", api.error_code));
    }
    let versions: BTreeMap<i16, (i16, i16)> = api
        .api_keys
        .iter()
        .map(|k| (k.api_key, (k.min_version, k.max_version)))
        .collect();

    let v = pick(&versions, ApiKey::DescribeCluster, 2)?;
    let dc = c.call(
        &DescribeClusterRequest::default()
            .with_include_fenced_brokers(v >= 2)
            .with_endpoint_type(1),
        v,
    )?;
    if dc.error_code != 0 {
        return Err(format!(
            "DescribeCluster: {} {}",
            ErrorCode::from_code(dc.error_code).name(),
            dc.error_message.as_deref().unwrap_or("")
        ));
    }
    let v = pick(&versions, ApiKey::Metadata, 12)?;
    let md = c.call(&MetadataRequest::default().with_topics(None), v)?;

    let quorum = match pick(&versions, ApiKey::DescribeQuorum, 2) {
        Ok(v) => describe_quorum(&mut c, v),
        Err(e) => Err(e),
    };

    let mut partitions = Vec::new();
    let mut names = Vec::new();
    for t in &md.topics {
        let Some(name) = t.name.as_ref().map(|n| n.to_string()) else {
            continue;
        };
        if t.error_code != 0 {
            continue;
        }
        names.push(name.clone());
        for p in &t.partitions {
            partitions.push(PartitionView {
                topic: name.clone(),
                partition: p.partition_index,
                leader: p.leader_id.0,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                min_isr: 1,
            });
        }
    }
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    if !names.is_empty() {
        let v = pick(&versions, ApiKey::DescribeConfigs, 4)?;
        let min_isr = min_isr_of(&mut c, &names, v)?;
        for p in &mut partitions {
            if let Some(m) = min_isr.get(&p.topic) {
                p.min_isr = *m;
            }
        }
    }

    // Nodes: DescribeCluster's (fenced ones included at v2), Metadata's, then every replica
    // or voter nobody registered.
    let mut nodes: BTreeMap<i32, NodeView> = BTreeMap::new();
    for b in &dc.brokers {
        nodes.insert(
            b.broker_id.0,
            NodeView {
                id: b.broker_id.0,
                address: format!("{}:{}", b.host.as_str(), b.port),
                rack: b.rack.as_ref().map(|r| r.to_string()),
                status: if b.is_fenced {
                    NodeStatus::Fenced
                } else {
                    NodeStatus::Live
                },
            },
        );
    }
    for b in &md.brokers {
        nodes.entry(b.node_id.0).or_insert_with(|| NodeView {
            id: b.node_id.0,
            address: format!("{}:{}", b.host.as_str(), b.port),
            rack: b.rack.as_ref().map(|r| r.to_string()),
            status: NodeStatus::Live,
        });
    }
    let mut named: BTreeSet<i32> = partitions
        .iter()
        .flat_map(|p| p.replicas.iter().copied())
        .collect();
    if let Ok(q) = &quorum {
        named.extend(q.voters.iter().chain(&q.observers).map(|r| r.id));
    }
    for id in named {
        nodes.entry(id).or_insert_with(|| NodeView {
            id,
            address: String::new(),
            rack: None,
            status: NodeStatus::Absent,
        });
    }
    let controller_id = match &quorum {
        Ok(q) if q.leader_id >= 0 => q.leader_id,
        _ => dc.controller_id.0,
    };
    Ok(ClusterView {
        cluster_id: dc.cluster_id.to_string(),
        controller_id,
        nodes: nodes.into_values().collect(),
        quorum,
        partitions,
        now_ms: now_ms(),
    })
}

fn describe_quorum(c: &mut Client, version: i16) -> Result<QuorumView, String> {
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(sb("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp = c.call(&req, version)?;
    if resp.error_code != 0 {
        return Err(format!(
            "DescribeQuorum: {}",
            ErrorCode::from_code(resp.error_code).name()
        ));
    }
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("DescribeQuorum: empty answer")?;
    if p.error_code != 0 {
        return Err(format!(
            "DescribeQuorum: {}",
            ErrorCode::from_code(p.error_code).name()
        ));
    }
    let replica = |r: &describe_quorum_response::ReplicaState| QuorumReplica {
        id: r.replica_id.0,
        log_end_offset: r.log_end_offset,
        last_fetch_ms: r.last_fetch_timestamp,
        last_caught_up_ms: r.last_caught_up_timestamp,
    };
    Ok(QuorumView {
        leader_id: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        voters: p.current_voters.iter().map(replica).collect(),
        observers: p.observers.iter().map(replica).collect(),
    })
}

/// `min.insync.replicas` of each topic that answered (a topic that did not keeps 1).
fn min_isr_of(
    c: &mut Client,
    topics: &[String],
    version: i16,
) -> Result<BTreeMap<String, i32>, String> {
    let resources = topics
        .iter()
        .map(|t| {
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(sb(t))
                .with_configuration_keys(Some(vec![sb(MIN_ISR)]))
        })
        .collect();
    let resp = c.call(
        &DescribeConfigsRequest::default().with_resources(resources),
        version,
    )?;
    let mut out = BTreeMap::new();
    for r in resp.results.iter().filter(|r| r.error_code == 0) {
        let value = r
            .configs
            .iter()
            .find(|c| c.name.as_str() == MIN_ISR)
            .and_then(|c| c.value.as_deref())
            .and_then(|v| v.parse::<i32>().ok());
        if let Some(v) = value {
            out.insert(r.resource_name.to_string(), v);
        }
    }
    Ok(out)
}

/// Renders the tool's answer (`json`: one JSON object).
pub fn report(bootstrap: &str, json: bool) -> Result<String, String> {
    let view = gather(bootstrap)?;
    Ok(if json { view.json() } else { view.text() })
}

impl ClusterView {
    fn live(&self) -> BTreeSet<i32> {
        self.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Live)
            .map(|n| n.id)
            .collect()
    }

    pub fn under_replicated(&self) -> Vec<&PartitionView> {
        self.partitions
            .iter()
            .filter(|p| p.under_replicated())
            .collect()
    }

    pub fn under_min_isr(&self) -> Vec<&PartitionView> {
        self.partitions
            .iter()
            .filter(|p| p.under_min_isr())
            .collect()
    }

    pub fn offline(&self) -> Vec<&PartitionView> {
        let live = self.live();
        self.partitions
            .iter()
            .filter(|p| p.offline(&live))
            .collect()
    }

    /// The one-line summary.
    pub fn summary(&self) -> String {
        let count = |s: NodeStatus| self.nodes.iter().filter(|n| n.status == s).count();
        let topics: BTreeSet<&str> = self.partitions.iter().map(|p| p.topic.as_str()).collect();
        let quorum = match &self.quorum {
            Ok(q) => format!(
                "quorum leader {} epoch {} ({} voters, {} observers)",
                q.leader_id,
                q.leader_epoch,
                q.voters.len(),
                q.observers.len()
            ),
            Err(_) => "quorum unknown".to_string(),
        };
        format!(
            "{} nodes ({} live, {} fenced, {} absent), {quorum}; {} partitions in {} topics: \
             {} under-replicated, {} under min ISR, {} offline",
            self.nodes.len(),
            count(NodeStatus::Live),
            count(NodeStatus::Fenced),
            count(NodeStatus::Absent),
            self.partitions.len(),
            topics.len(),
            self.under_replicated().len(),
            self.under_min_isr().len(),
            self.offline().len()
        )
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
