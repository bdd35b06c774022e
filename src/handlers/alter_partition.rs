//! AlterPartition (api 56, v2–3: partitions named by topic id; v3 names each ISR member with
//! its broker epoch): a partition leader asks the controller to change its ISR. The checks
//! and the PartitionChangeRecord are the controller's ([`crate::controller::partitions`]);
//! this handler maps the request onto them and the answers back.
//!
//! A STALE_BROKER_EPOCH (or NOT_CONTROLLER from the quorum) is the whole response's error
//! with no topics, as Kafka answers it. Served on controller listeners only, as Kafka serves
//! it (a standalone node, without one, has no followers and never needs it).
//!
//! Thread-safety: the controller call runs on a blocking thread.

use kafka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};

use crate::controller::partitions::{IsrAnswer, IsrChange};
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: &RequestContext, req: AlterPartitionRequest) -> AlterPartitionResponse {
    if !ctx.cluster_authorized(AclOperation::ClusterAction) {
        return AlterPartitionResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    let v3 = ctx.version >= 3;
    let mut changes = Vec::new();
    let mut shape: Vec<(uuid::Uuid, Vec<i32>)> = Vec::new();
    for t in &req.topics {
        let mut indexes = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let new_isr = if v3 {
                p.new_isr_with_epochs
                    .iter()
                    .map(|b| (b.broker_id.0, b.broker_epoch))
                    .collect()
            } else {
                p.new_isr.iter().map(|b| (b.0, -1)).collect()
            };
            changes.push(IsrChange {
                topic_id: t.topic_id,
                partition: p.partition_index,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr,
                leader_recovery_state: p.leader_recovery_state,
            });
            indexes.push(p.partition_index);
        }
        shape.push((t.topic_id, indexes));
    }
    let (broker_id, broker_epoch) = (req.broker_id.0, req.broker_epoch);
    let answers = ctx
        .broker
        .blocking(move |b| {
            b.controller
                .alter_partition(broker_id, broker_epoch, changes)
        })
        .await;
    let answers: Vec<IsrAnswer> = match answers {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!("{}: AlterPartition refused: {e}", ctx.peer);
            return AlterPartitionResponse::default().with_error_code(e.code().code());
        }
    };
    let mut answers = answers.into_iter();
    let topics = shape
        .into_iter()
        .map(|(topic_id, indexes)| {
            let partitions = indexes
                .into_iter()
                .map(|index| {
                    let out = PartitionData::default().with_partition_index(index);
                    match answers.next() {
                        Some(Ok(s)) => out
                            .with_leader_id(BrokerId(s.leader))
                            .with_leader_epoch(s.leader_epoch)
                            .with_isr(s.isr.into_iter().map(BrokerId).collect())
                            .with_partition_epoch(s.partition_epoch),
                        Some(Err(code)) => out.with_error_code(code.code()),
                        None => {
                            out.with_error_code(crate::error::ErrorCode::UnknownServerError.code())
                        }
                    }
                })
                .collect();
            TopicData::default()
                .with_topic_id(topic_id)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionResponse::default().with_topics(topics)
}
