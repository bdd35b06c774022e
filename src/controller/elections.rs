//! Leader elections the controller runs on request or by itself, as Kafka's KRaft controller
//! (`ReplicationControlManager` with `PartitionChangeBuilder`) runs them:
//!
//! - **ElectLeaders** ([`Controller::elect_leaders`], api 43): per partition, UNKNOWN_TOPIC_OR_PARTITION
//!   ("No such topic as T" / "No such partition as T-P"); ELECTION_NOT_NEEDED for a PREFERRED
//!   election when the first replica already leads, or an UNCLEAN one when the partition has a
//!   leader; otherwise the election ([`super::election::elect_preferred`] for PREFERRED,
//!   [`super::election::elect`] with unclean allowed for UNCLEAN) and, when it changes the
//!   leader, one PartitionChangeRecord (the leader epoch goes up; an unclean leader's ISR is
//!   itself alone); no change → PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE.
//!   All partitions (a null list): every topic is answered, partitions that need no election
//!   left out.
//! - **Leader imbalance** ([`Controller::balance_leaders`], `auto.leader.rebalance.enable`,
//!   every `leader.imbalance.check.interval.seconds` on the active controller): a PREFERRED
//!   election for every partition led by a replica other than its first, at most
//!   [`MAX_ELECTIONS_PER_ROUND`] per round. Like KRaft, any imbalanced partition triggers it;
//!   `leader.imbalance.per.broker.percentage` (ZooKeeper mode's threshold) is not consulted.
//! - **Unclean elections of leaderless partitions** ([`Controller::elect_unclean_leaderless`]):
//!   for every partition without a leader whose topic has `unclean.leader.election.enable`
//!   in force, an UNCLEAN election; run every `unclean.leader.election.interval.ms` and in the
//!   same commit as a config change that touches the key ([`unclean_after_config_change`]),
//!   so turning it on takes effect at once.
//!
//! [`UncleanPolicy`] resolves `unclean.leader.election.enable` for a topic as Kafka's
//! controller does: the topic's override, else the controller node's dynamic broker config,
//! else the cluster-wide dynamic default, else the static config, else false.
//!
//! "Active" (eligible to lead) is the image's: registered, unfenced, not in controlled
//! shutdown. Gregor keeps no leader recovery state: an unclean leader serves at once.
//!
//! Thread-safety: runs under the controller's commit lock (blocking).

use std::collections::BTreeMap;

use super::election::{elect, elect_preferred, NO_LEADER};
use super::Controller;
use crate::config::BrokerConfig;
use crate::error::{ErrorCode, Result};
use crate::metadata::records::{MetadataRecord, BROKER_RESOURCE, TOPIC_RESOURCE};
use crate::metadata::{MetadataImage, PartitionImage, TopicImage};

/// The config key (a topic key with a dynamic broker synonym of the same name).
pub const UNCLEAN_KEY: &str = "unclean.leader.election.enable";

/// Kafka's `MAX_ELECTIONS_PER_IMBALANCE`: elections per round of the periodic tasks.
pub const MAX_ELECTIONS_PER_ROUND: usize = 1000;

/// Kafka's `ElectionType` (ElectLeaders' `election_type`: 0 preferred, 1 unclean).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// One partition's ElectLeaders answer: its id, the error code and the message.
pub type PartitionOutcome = (i32, ErrorCode, Option<String>);

/// One topic's ElectLeaders answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOutcome {
    pub topic: String,
    pub partitions: Vec<PartitionOutcome>,
}

/// Where `unclean.leader.election.enable` comes from for each topic (see the module doc).
pub struct UncleanPolicy {
    layered: BrokerConfig,
}

impl UncleanPolicy {
    /// The policy of the controller on `node_id` with static config `config`, over the
    /// dynamic broker configs of `image`.
    pub fn new(config: &BrokerConfig, node_id: i32, image: &MetadataImage) -> UncleanPolicy {
        let layered = config.with_dynamic(
            image.broker_configs(""),
            image.broker_configs(&node_id.to_string()),
        );
        UncleanPolicy { layered }
    }

    /// Whether unclean election is allowed for a topic with these overrides.
    pub fn enabled(&self, overrides: &BTreeMap<String, String>) -> bool {
        let v = match overrides.get(UNCLEAN_KEY) {
            Some(v) => v.clone(),
            None => match self.layered.layered(UNCLEAN_KEY) {
                Some((v, _)) => v.to_string(),
                None => return false,
            },
        };
        v.trim().eq_ignore_ascii_case("true")
    }
}

/// Kafka's message for a code answered without a specific one (`Errors.message()`).
pub fn default_message(code: ErrorCode) -> Option<String> {
    let m = match code {
        ErrorCode::ElectionNotNeeded => "Leader election not needed for topic partition.",
        ErrorCode::PreferredLeaderNotAvailable => "The preferred leader was not available.",
        ErrorCode::EligibleLeadersNotAvailable => {
            "Eligible topic partition leaders are not available."
        }
        _ => return None,
    };
    Some(m.to_string())
}

fn partition_index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

/// The record a leader change makes (`isr` only when it changes).
fn change(
    t: &TopicImage,
    i: usize,
    p: &PartitionImage,
    leader: i32,
    isr: Vec<i32>,
) -> MetadataRecord {
    MetadataRecord::PartitionChange {
        partition_id: partition_index(i),
        topic_id: t.id,
        isr: (isr != p.isr).then_some(isr),
        leader,
        replicas: None,
        removing_replicas: None,
        adding_replicas: None,
    }
}

/// One election of the given type on partition `i` of `t`: the record, or the error Kafka
/// answers (see the module doc).
fn elect_one(
    image: &MetadataImage,
    t: &TopicImage,
    i: usize,
    kind: ElectionType,
) -> std::result::Result<MetadataRecord, ErrorCode> {
    let Some(p) = t.partitions.get(i) else {
        return Err(ErrorCode::UnknownTopicOrPartition);
    };
    let active = |id: i32| image.brokers.get(&id).is_some_and(|b| b.active());
    match kind {
        ElectionType::Preferred => {
            if p.leader >= 0 && p.replicas.first() == Some(&p.leader) {
                return Err(ErrorCode::ElectionNotNeeded);
            }
            let leader = elect_preferred(&p.replicas, &p.isr, p.leader, active);
            if leader == p.leader {
                return Err(ErrorCode::PreferredLeaderNotAvailable);
            }
            Ok(change(t, i, p, leader, p.isr.clone()))
        }
        ElectionType::Unclean => {
            if p.leader >= 0 {
                return Err(ErrorCode::ElectionNotNeeded);
            }
            let e = elect(&p.replicas, &p.isr, p.leader, active, true);
            if e.leader == NO_LEADER {
                return Err(ErrorCode::EligibleLeadersNotAvailable);
            }
            if e.unclean {
                tracing::error!(
                    "unclean leader election: {}-{i} led by {} from outside the ISR {:?}",
                    t.name,
                    e.leader,
                    p.isr
                );
            }
            Ok(change(t, i, p, e.leader, e.isr))
        }
    }
}

/// Unclean elections for every leaderless partition whose topic allows them (at most
/// [`MAX_ELECTIONS_PER_ROUND`]).
pub fn unclean_leaderless(image: &MetadataImage, policy: &UncleanPolicy) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for t in image.topics() {
        if !t.partitions.iter().any(|p| p.leader < 0) || !policy.enabled(&t.overrides) {
            continue;
        }
        for (i, p) in t.partitions.iter().enumerate() {
            if out.len() >= MAX_ELECTIONS_PER_ROUND {
                return out;
            }
            if p.leader < 0 {
                if let Ok(r) = elect_one(image, t, i, ElectionType::Unclean) {
                    out.push(r);
                }
            }
        }
    }
    out
}

/// PREFERRED elections for the partitions led by a replica other than their first (at most
/// [`MAX_ELECTIONS_PER_ROUND`]; only those that change the leader).
pub fn preferred_imbalanced(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for t in image.topics() {
        for (i, p) in t.partitions.iter().enumerate() {
            if out.len() >= MAX_ELECTIONS_PER_ROUND {
                return out;
            }
            if p.leader >= 0 && p.replicas.first() != Some(&p.leader) {
                if let Ok(r) = elect_one(image, t, i, ElectionType::Preferred) {
                    out.push(r);
                }
            }
        }
    }
    out
}

/// The unclean elections a config change makes possible: when `records` touch
/// `unclean.leader.election.enable` (a topic's or a broker's), the leaderless partitions
/// that the new configs allow an unclean leader, elected over the image after `records`.
pub fn unclean_after_config_change(
    image: &MetadataImage,
    records: &[MetadataRecord],
    config: &BrokerConfig,
    node_id: i32,
) -> Vec<MetadataRecord> {
    let touches = records.iter().any(|r| {
        matches!(r, MetadataRecord::Config { resource_type, name, .. }
            if name == UNCLEAN_KEY && (*resource_type == TOPIC_RESOURCE || *resource_type == BROKER_RESOURCE))
    });
    if !touches {
        return vec![];
    }
    let mut after = image.clone();
    for r in records {
        after.apply(r);
    }
    let policy = UncleanPolicy::new(config, node_id, &after);
    unclean_leaderless(&after, &policy)
}

impl Controller {
    /// ElectLeaders (see the module doc); `partitions` `None` means every partition.
    pub fn elect_leaders(
        &self,
        kind: ElectionType,
        partitions: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<TopicOutcome>> {
        self.quorum_or_not_controller()?;
        self.commit(|image| {
            let mut records = Vec::new();
            let mut out = Vec::new();
            let one = |t: &TopicImage, p: i32, records: &mut Vec<MetadataRecord>| {
                let r = usize::try_from(p)
                    .ok()
                    .filter(|i| *i < t.partitions.len())
                    .ok_or(ErrorCode::UnknownTopicOrPartition)
                    .and_then(|i| elect_one(image, t, i, kind));
                match r {
                    Ok(rec) => {
                        records.push(rec);
                        (p, ErrorCode::None, None)
                    }
                    Err(ErrorCode::UnknownTopicOrPartition) => (
                        p,
                        ErrorCode::UnknownTopicOrPartition,
                        Some(format!("No such partition as {}-{p}", t.name)),
                    ),
                    Err(code) => (p, code, default_message(code)),
                }
            };
            match &partitions {
                None => {
                    for t in image.topics() {
                        let parts = (0..t.partitions.len())
                            .map(|i| one(t, partition_index(i), &mut records))
                            .filter(|(_, code, _)| *code != ErrorCode::ElectionNotNeeded)
                            .collect();
                        out.push(TopicOutcome {
                            topic: t.name.clone(),
                            partitions: parts,
                        });
                    }
                }
                Some(list) => {
                    for (name, ps) in list {
                        let parts = match image.topic(name) {
                            Some(t) => ps.iter().map(|&p| one(t, p, &mut records)).collect(),
                            None => ps
                                .iter()
                                .map(|&p| {
                                    (
                                        p,
                                        ErrorCode::UnknownTopicOrPartition,
                                        Some(format!("No such topic as {name}")),
                                    )
                                })
                                .collect(),
                        };
                        out.push(TopicOutcome {
                            topic: name.clone(),
                            partitions: parts,
                        });
                    }
                }
            }
            if !records.is_empty() {
                tracing::info!(
                    "ElectLeaders ({kind:?}): {} leader change(s)",
                    records.len()
                );
            }
            Ok((records, out))
        })
    }

    /// One round of the leader imbalance task (see the module doc; blocking). Returns how
    /// many leaders moved. Not the active controller: nothing.
    pub fn balance_leaders(&self) -> Result<usize> {
        if !self.quorum.as_ref().is_some_and(|q| q.is_leader()) {
            return Ok(0);
        }
        let n = self.commit(|image| {
            let records = preferred_imbalanced(image);
            let n = records.len();
            Ok((records, n))
        })?;
        if n > 0 {
            tracing::info!(
                "leader imbalance: {n} partition(s) moved back to their preferred leader"
            );
        }
        Ok(n)
    }

    /// One round of unclean elections for leaderless partitions (see the module doc;
    /// blocking). Returns how many partitions got a leader.
    pub fn elect_unclean_leaderless(&self) -> Result<usize> {
        if !self.quorum.as_ref().is_some_and(|q| q.is_leader()) {
            return Ok(0);
        }
        self.commit(|image| {
            let records = unclean_leaderless(image, &self.unclean_policy(image));
            let n = records.len();
            Ok((records, n))
        })
    }

    /// The unclean policy over `image` (see [`UncleanPolicy`]).
    pub(super) fn unclean_policy(&self, image: &MetadataImage) -> UncleanPolicy {
        UncleanPolicy::new(&self.config, self.node_id, image)
    }
}

#[cfg(test)]
#[path = "elections_tests.rs"]
mod tests;
