//! Partition reassignments on the controller, as Kafka's KRaft controller runs them
//! (`ReplicationControlManager.alterPartitionReassignments`, `PartitionReassignmentReplicas`,
//! `PartitionReassignmentRevert`, `PartitionChangeBuilder.completeReassignmentIfNeeded`).
//!
//! - **Start** ([`start`]): with target `T` and current replicas `C` (the original ones when a
//!   reassignment is already in progress: `replicas − adding`), the replicas become `T`
//!   followed by the members of `C` not in `T` (Kafka's merged order), adding = `T − C`,
//!   removing = `C − T`, the ISR loses members outside the new replicas; one
//!   PartitionChangeRecord. The new replicas' brokers create their logs and fetch from the
//!   leader (the replica layer follows the image).
//! - **Completion** ([`completion`]): once every target replica is in the ISR — checked on
//!   start (a target that adds nothing completes at once) and whenever AlterPartition changes
//!   the ISR — the replicas become the target, the ISR `ISR ∩ target`, adding and removing
//!   are cleared, and when the leader is no longer a replica (or not in the new ISR) a new one
//!   is elected from `target ∩ ISR` ([`super::election::elect`], clean only: the leader epoch
//!   goes up). Removed brokers delete their logs when they see the image.
//! - **Cancellation** ([`cancel`], null target): the original replicas come back (the adding
//!   ones removed from the merged list, which keeps its order, as Kafka's
//!   `PartitionReassignmentRevert` does, and taken out of the ISR); when that would empty the ISR it is refused with
//!   INVALID_REPLICA_ASSIGNMENT (Kafka would need an unclean election there); no reassignment
//!   in progress → NO_REASSIGNMENT_IN_PROGRESS.
//!
//! The leader epoch goes up only when the leader changes (gregor's removed replicas stop
//! fetching when they delete their log, so no epoch bump is needed to fence them).
//!
//! Thread-safety: pure functions over the image; the controller runs them under its commit
//! lock.

use uuid::Uuid;

use super::election::elect;
use super::Controller;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::{MetadataRecord, LEADER_UNCHANGED};
use crate::metadata::{MetadataImage, PartitionImage};

/// One partition's answer: `Ok` or Kafka's error code and message.
pub type ReassignAnswer = std::result::Result<(), (ErrorCode, String)>;

/// One partition of a ListPartitionReassignments answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ongoing {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

fn invalid(message: String) -> (ErrorCode, String) {
    (ErrorCode::InvalidReplicaAssignment, message)
}

/// The replicas the partition had before the reassignment in progress (all of them if none).
fn original(p: &PartitionImage) -> Vec<i32> {
    p.replicas
        .iter()
        .copied()
        .filter(|r| !p.adding_replicas.contains(r))
        .collect()
}

/// Kafka's checks of a target list (`validateManualPartitionAssignment` and KIP-860's flag).
pub fn validate_target(
    image: &MetadataImage,
    p: &PartitionImage,
    target: &[i32],
    allow_rf_change: bool,
) -> ReassignAnswer {
    if target.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut sorted = target.to_vec();
    sorted.sort_unstable();
    let mut previous = None;
    for id in sorted {
        if !image.brokers.contains_key(&id) {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            )));
        }
        if previous == Some(id) {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {id} more than once."
            )));
        }
        previous = Some(id);
    }
    let current = original(p).len();
    if !allow_rf_change && target.len() != current {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!(
                "The replication factor is changed from {current} to {}",
                target.len()
            ),
        ));
    }
    Ok(())
}

/// A record with every field unchanged, to fill in.
fn empty_change(topic_id: Uuid, partition: i32) -> MetadataRecord {
    MetadataRecord::PartitionChange {
        partition_id: partition,
        topic_id,
        isr: None,
        leader: LEADER_UNCHANGED,
        replicas: None,
        removing_replicas: None,
        adding_replicas: None,
    }
}

/// The record that moves partition `p` to `replicas` / `isr` with these adding and removing
/// lists, electing a leader when the current one cannot stay; `None` when nothing changes.
#[allow(clippy::too_many_arguments)] // the partition and the four lists of its new shape
fn change_to(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    p: &PartitionImage,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
) -> Option<MetadataRecord> {
    let active = |id: i32| image.brokers.get(&id).is_some_and(|b| b.active());
    let leader_ok = replicas.contains(&p.leader) && isr.contains(&p.leader);
    let (leader, isr) = if leader_ok {
        (p.leader, isr)
    } else {
        let e = elect(&replicas, &isr, p.leader, active, false);
        (e.leader, e.isr)
    };
    let record = MetadataRecord::PartitionChange {
        partition_id: partition,
        topic_id,
        isr: (isr != p.isr).then_some(isr),
        leader: if leader == p.leader {
            LEADER_UNCHANGED
        } else {
            leader
        },
        replicas: (replicas != p.replicas).then_some(replicas),
        removing_replicas: (removing != p.removing_replicas).then_some(removing),
        adding_replicas: (adding != p.adding_replicas).then_some(adding),
    };
    (record != empty_change(topic_id, partition)).then_some(record)
}

/// The completion of a reassignment in progress on `p` when the ISR `isr` (the current one
/// or an AlterPartition's proposal) holds every target replica; `None` otherwise.
pub fn completion(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    p: &PartitionImage,
    isr: &[i32],
) -> Option<MetadataRecord> {
    if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
        return None;
    }
    let target: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| !p.removing_replicas.contains(r))
        .collect();
    if !target.iter().all(|r| isr.contains(r)) {
        return None;
    }
    let new_isr: Vec<i32> = isr.iter().copied().filter(|r| target.contains(r)).collect();
    change_to(
        image,
        topic_id,
        partition,
        p,
        target,
        new_isr,
        vec![],
        vec![],
    )
}

/// Starts a reassignment of `p` to `target` (validated), completing it at once when the
/// ISR already holds the whole target (see the module doc).
pub fn start(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    p: &PartitionImage,
    target: &[i32],
) -> std::result::Result<Option<MetadataRecord>, (ErrorCode, String)> {
    let current = original(p);
    let mut replicas = target.to_vec();
    replicas.extend(current.iter().copied().filter(|r| !target.contains(r)));
    let adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|r| !current.contains(r))
        .collect();
    let removing: Vec<i32> = current
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| replicas.contains(r))
        .collect();
    if isr.is_empty() {
        return Err(invalid(format!(
            "Unable to reassign partition {partition}: no in-sync replica would remain."
        )));
    }
    if target.iter().all(|r| isr.contains(r)) {
        // Nothing to wait for: the change completes at once.
        let isr = isr.into_iter().filter(|r| target.contains(r)).collect();
        let target = target.to_vec();
        return Ok(change_to(
            image,
            topic_id,
            partition,
            p,
            target,
            isr,
            vec![],
            vec![],
        ));
    }
    Ok(change_to(
        image, topic_id, partition, p, replicas, isr, adding, removing,
    ))
}

/// Cancels the reassignment in progress on `p` (see the module doc).
pub fn cancel(
    image: &MetadataImage,
    topic: &str,
    topic_id: Uuid,
    partition: i32,
    p: &PartitionImage,
) -> std::result::Result<Option<MetadataRecord>, (ErrorCode, String)> {
    if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
        return Err((
            ErrorCode::NoReassignmentInProgress,
            "No partition reassignment is in progress.".into(),
        ));
    }
    let replicas = original(p);
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| !p.adding_replicas.contains(r))
        .collect();
    if isr.is_empty() {
        return Err(invalid(format!(
            "Unable to revert partition assignment for {topic}:{partition} because it would require an unclean leader election."
        )));
    }
    Ok(change_to(
        image,
        topic_id,
        partition,
        p,
        replicas,
        isr,
        vec![],
        vec![],
    ))
}

/// Every partition being reassigned (of the topics asked for, or all), by topic name.
pub fn ongoing(
    image: &MetadataImage,
    wanted: Option<&[(String, Vec<i32>)]>,
) -> Vec<(String, Vec<Ongoing>)> {
    let entry = |p: &PartitionImage, i: i32| {
        (!p.adding_replicas.is_empty() || !p.removing_replicas.is_empty()).then(|| Ongoing {
            partition: i,
            replicas: p.replicas.clone(),
            adding: p.adding_replicas.clone(),
            removing: p.removing_replicas.clone(),
        })
    };
    let mut out = Vec::new();
    match wanted {
        None => {
            for t in image.topics() {
                let parts: Vec<Ongoing> = t
                    .partitions
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| entry(p, i32::try_from(i).unwrap_or(i32::MAX)))
                    .collect();
                if !parts.is_empty() {
                    out.push((t.name.clone(), parts));
                }
            }
        }
        Some(list) => {
            for (name, indexes) in list {
                // Unknown topics and partitions are skipped, as Kafka does.
                let parts: Vec<Ongoing> = indexes
                    .iter()
                    .filter_map(|&i| entry(image.partition(name, i)?, i))
                    .collect();
                if !parts.is_empty() {
                    out.push((name.clone(), parts));
                }
            }
        }
    }
    out
}

/// One topic of an AlterPartitionReassignments request: partitions with their target
/// (`None` cancels).
pub type TopicTargets = (String, Vec<(i32, Option<Vec<i32>>)>);

impl Controller {
    /// AlterPartitionReassignments (see the module doc): one answer per partition, in
    /// request order; all accepted changes commit together.
    pub fn alter_partition_reassignments(
        &self,
        topics: Vec<TopicTargets>,
        allow_rf_change: bool,
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<Vec<ReassignAnswer>>> {
        if !self.quorum().is_some_and(|q| q.is_leader()) {
            return Err(Error::kafka(
                ErrorCode::NotController,
                "this node is not the active controller",
            ));
        }
        self.commit_by(deadline, |image| {
            let mut records = Vec::new();
            let mut answers = Vec::with_capacity(topics.len());
            for (name, parts) in &topics {
                let mut topic_answers = Vec::with_capacity(parts.len());
                for (index, target) in parts {
                    let answer = (|| {
                        let t = image.topic(name).ok_or_else(|| {
                            (
                                ErrorCode::UnknownTopicOrPartition,
                                format!("Unable to find a topic named {name}."),
                            )
                        })?;
                        let p = usize::try_from(*index)
                            .ok()
                            .and_then(|i| t.partitions.get(i))
                            .ok_or_else(|| {
                                (
                                    ErrorCode::UnknownTopicOrPartition,
                                    format!("Unable to find partition {name}:{index}."),
                                )
                            })?;
                        let record = match target {
                            None => cancel(image, name, t.id, *index, p)?,
                            Some(target) => {
                                validate_target(image, p, target, allow_rf_change)?;
                                start(image, t.id, *index, p, target)?
                            }
                        };
                        if let Some(r) = record {
                            tracing::info!("reassignment of {name}-{index}: {r:?}");
                            records.push(r);
                        }
                        Ok(())
                    })();
                    topic_answers.push(answer);
                }
                answers.push(topic_answers);
            }
            Ok((records, answers))
        })
    }
}

#[cfg(test)]
#[path = "reassignments_tests.rs"]
mod tests;
