//! AlterPartition on the controller: a partition leader asks to change its ISR, and the
//! controller checks the request as Kafka's `ReplicationControlManager.alterPartition` does,
//! records the change as a `PartitionChangeRecord` and answers with the partition as it is
//! after the change.
//!
//! Checks, in Kafka's order (a node that is not the active controller answers
//! NOT_CONTROLLER for the whole request first):
//! 1. the requesting broker's epoch is its registered one, else STALE_BROKER_EPOCH for the
//!    whole request (nothing else looked at);
//! 2. per partition: the topic id is known (UNKNOWN_TOPIC_ID), the partition exists
//!    (UNKNOWN_TOPIC_OR_PARTITION);
//! 3. a leader epoch or partition epoch *newer* than the controller's → NOT_CONTROLLER (this
//!    node is likely no longer the active controller); an older leader epoch →
//!    FENCED_LEADER_EPOCH; the requester is not the leader → INVALID_REQUEST; an older
//!    partition epoch → INVALID_UPDATE_VERSION;
//! 4. the new ISR has duplicates, members outside the replicas, or lacks the leader →
//!    INVALID_REQUEST; a leader recovery state other than RECOVERED → INVALID_REQUEST (gregor
//!    has no unclean recovery yet, so every partition is RECOVERED and may not go back);
//! 5. a member not registered, fenced, or (v3) named with a broker epoch other than its
//!    registered one → INELIGIBLE_REPLICA (v≤1 would answer OPERATION_NOT_ATTEMPTED; the
//!    crate serves v2–3 only).
//!
//! An ISR change bumps the partition epoch, never the leader epoch (Kafka since MV 3.6). A
//! request whose ISR equals the current one records nothing and gets the current state. An
//! ISR that holds every target replica of a reassignment in progress completes it in the
//! same record ([`super::reassignments::completion`]).
//!
//! Thread-safety: runs under the controller's commit lock (blocking).

use uuid::Uuid;

use super::Controller;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::{MetadataRecord, LEADER_UNCHANGED};
use crate::metadata::{MetadataImage, PartitionImage};

/// Kafka's `LeaderRecoveryState.RECOVERED`.
pub const RECOVERED: i8 = 0;

/// One partition of an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The proposed ISR: broker id and, from v3, its broker epoch (−1: not checked).
    pub new_isr: Vec<(i32, i64)>,
    pub leader_recovery_state: i8,
}

/// The partition as the controller has it after an accepted change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub partition_epoch: i32,
}

impl PartitionState {
    fn of(p: &PartitionImage) -> PartitionState {
        PartitionState {
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            isr: p.isr.clone(),
            partition_epoch: p.partition_epoch,
        }
    }
}

/// Per partition: the new state, or the error Kafka answers.
pub type IsrAnswer = std::result::Result<PartitionState, ErrorCode>;

/// Step 1 of the module doc.
pub fn check_broker_epoch(image: &MetadataImage, broker_id: i32, broker_epoch: i64) -> Result<()> {
    match image.brokers.get(&broker_id) {
        Some(b) if b.epoch == broker_epoch => Ok(()),
        Some(b) => Err(Error::kafka(
            ErrorCode::StaleBrokerEpoch,
            format!(
                "broker {broker_id}'s epoch {broker_epoch} is not its registered epoch {}",
                b.epoch
            ),
        )),
        None => Err(Error::kafka(
            ErrorCode::StaleBrokerEpoch,
            format!("broker {broker_id} is not registered"),
        )),
    }
}

/// Steps 2–5 of the module doc for one partition: the image's partition when the change is
/// valid.
pub fn validate<'a>(
    image: &'a MetadataImage,
    broker_id: i32,
    change: &IsrChange,
) -> std::result::Result<&'a PartitionImage, ErrorCode> {
    let topic = image
        .topic_by_id(change.topic_id)
        .ok_or(ErrorCode::UnknownTopicId)?;
    let p = usize::try_from(change.partition)
        .ok()
        .and_then(|i| topic.partitions.get(i))
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    if change.leader_epoch > p.leader_epoch || change.partition_epoch > p.partition_epoch {
        return Err(ErrorCode::NotController);
    }
    if change.leader_epoch < p.leader_epoch {
        return Err(ErrorCode::FencedLeaderEpoch);
    }
    if broker_id != p.leader {
        return Err(ErrorCode::InvalidRequest);
    }
    if change.partition_epoch < p.partition_epoch {
        return Err(ErrorCode::InvalidUpdateVersion);
    }
    let ids: Vec<i32> = change.new_isr.iter().map(|(id, _)| *id).collect();
    let duplicates = ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id));
    if duplicates || ids.iter().any(|id| !p.replicas.contains(id)) || !ids.contains(&p.leader) {
        return Err(ErrorCode::InvalidRequest);
    }
    if change.leader_recovery_state != RECOVERED {
        return Err(ErrorCode::InvalidRequest);
    }
    let ineligible = change.new_isr.iter().any(|&(id, epoch)| {
        image
            .brokers
            .get(&id)
            .is_none_or(|b| b.fenced || (epoch != -1 && epoch != b.epoch))
    });
    if ineligible {
        return Err(ErrorCode::IneligibleReplica);
    }
    Ok(p)
}

impl Controller {
    /// AlterPartition (see the module doc): the answers in request order, or
    /// STALE_BROKER_EPOCH for the whole request.
    pub fn alter_partition(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        changes: Vec<IsrChange>,
    ) -> Result<Vec<IsrAnswer>> {
        // Only the active controller answers, even when nothing would be recorded.
        if !self.quorum().is_some_and(|q| q.is_leader()) {
            return Err(Error::kafka(
                ErrorCode::NotController,
                "this node is not the active controller",
            ));
        }
        self.commit(|image| {
            check_broker_epoch(image, broker_id, broker_epoch)?;
            let mut records = Vec::new();
            let mut answers = Vec::with_capacity(changes.len());
            for c in &changes {
                let answer = validate(image, broker_id, c).map(|p| {
                    let mut state = PartitionState::of(p);
                    let isr: Vec<i32> = c.new_isr.iter().map(|(id, _)| *id).collect();
                    // A reassignment whose target is now all in sync completes here.
                    let done =
                        super::reassignments::completion(image, c.topic_id, c.partition, p, &isr);
                    if let Some(MetadataRecord::PartitionChange {
                        isr: new_isr,
                        leader,
                        ..
                    }) = &done
                    {
                        state.isr = new_isr.clone().unwrap_or_else(|| p.isr.clone());
                        if *leader != LEADER_UNCHANGED {
                            state.leader = *leader;
                            state.leader_epoch += 1;
                        }
                        state.partition_epoch += 1;
                        records.extend(done);
                    } else if isr != p.isr {
                        records.push(MetadataRecord::PartitionChange {
                            partition_id: c.partition,
                            topic_id: c.topic_id,
                            isr: Some(isr.clone()),
                            leader: LEADER_UNCHANGED,
                            replicas: None,
                            removing_replicas: None,
                            adding_replicas: None,
                        });
                        state.isr = isr;
                        state.partition_epoch += 1;
                    }
                    state
                });
                answers.push(answer);
            }
            Ok((records, answers))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::EndPoint;

    const TOPIC: Uuid = Uuid::from_u128(42);

    fn image() -> MetadataImage {
        let mut image = MetadataImage::new("c".into());
        for (id, fenced) in [(1, false), (2, false), (3, true)] {
            image.apply(&MetadataRecord::RegisterBroker {
                broker_id: id,
                incarnation_id: Uuid::nil(),
                broker_epoch: 10 + id as i64,
                endpoints: vec![EndPoint {
                    name: "PLAINTEXT".into(),
                    host: "h".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                rack: None,
                fenced,
            });
        }
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            topic_id: TOPIC,
        });
        image.apply(&MetadataRecord::Partition {
            partition_id: 0,
            topic_id: TOPIC,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 5,
            partition_epoch: 7,
            removing_replicas: vec![],
            adding_replicas: vec![],
        });
        image
    }

    fn change(isr: &[i32]) -> IsrChange {
        IsrChange {
            topic_id: TOPIC,
            partition: 0,
            leader_epoch: 5,
            partition_epoch: 7,
            new_isr: isr.iter().map(|id| (*id, -1)).collect(),
            leader_recovery_state: RECOVERED,
        }
    }

    fn code(image: &MetadataImage, broker: i32, c: IsrChange) -> ErrorCode {
        validate(image, broker, &c).err().unwrap_or(ErrorCode::None)
    }

    #[test]
    fn broker_epoch_first() {
        let image = image();
        assert!(check_broker_epoch(&image, 1, 11).is_ok());
        for (id, epoch) in [(1, 10), (9, 0)] {
            let e = check_broker_epoch(&image, id, epoch).unwrap_err();
            assert_eq!(e.code(), ErrorCode::StaleBrokerEpoch);
        }
    }

    #[test]
    fn checks_follow_kafkas_order() {
        let image = image();
        assert_eq!(code(&image, 1, change(&[1])), ErrorCode::None);
        let mut c = change(&[1]);
        c.topic_id = Uuid::from_u128(1);
        assert_eq!(code(&image, 1, c), ErrorCode::UnknownTopicId);
        let mut c = change(&[1]);
        c.partition = 3;
        assert_eq!(code(&image, 1, c), ErrorCode::UnknownTopicOrPartition);
        let mut c = change(&[1]);
        c.leader_epoch = 6;
        assert_eq!(
            code(&image, 2, c),
            ErrorCode::NotController,
            "before the leader check"
        );
        let mut c = change(&[1]);
        c.partition_epoch = 8;
        assert_eq!(code(&image, 1, c), ErrorCode::NotController);
        let mut c = change(&[1]);
        c.leader_epoch = 4;
        c.partition_epoch = 6;
        assert_eq!(
            code(&image, 2, c),
            ErrorCode::FencedLeaderEpoch,
            "before the leader check"
        );
        let mut c = change(&[2]);
        c.partition_epoch = 6;
        assert_eq!(
            code(&image, 2, c),
            ErrorCode::InvalidRequest,
            "not the leader"
        );
        let mut c = change(&[1]);
        c.partition_epoch = 6;
        assert_eq!(code(&image, 1, c), ErrorCode::InvalidUpdateVersion);
        assert_eq!(
            code(&image, 1, change(&[2])),
            ErrorCode::InvalidRequest,
            "no leader"
        );
        assert_eq!(
            code(&image, 1, change(&[1, 4])),
            ErrorCode::InvalidRequest,
            "not a replica"
        );
        assert_eq!(
            code(&image, 1, change(&[1, 1])),
            ErrorCode::InvalidRequest,
            "duplicate"
        );
        let mut c = change(&[1]);
        c.leader_recovery_state = 1;
        assert_eq!(code(&image, 1, c), ErrorCode::InvalidRequest);
        assert_eq!(
            code(&image, 1, change(&[1, 3])),
            ErrorCode::IneligibleReplica,
            "fenced"
        );
        let mut c = change(&[1, 2]);
        c.new_isr[1].1 = 99;
        assert_eq!(
            code(&image, 1, c),
            ErrorCode::IneligibleReplica,
            "stale epoch"
        );
        let mut c = change(&[1, 2]);
        c.new_isr[1].1 = 12;
        assert_eq!(code(&image, 1, c), ErrorCode::None, "matching epoch");
    }
}
