//! DescribeQuorum (api key 55, v0–2): the metadata quorum as Kafka's `KafkaRaftClient`
//! describes it — for `__cluster_metadata` partition 0 only: the leader and its epoch, the
//! high watermark and each voter's log end offset as Kafka offsets, the voters and the
//! observers (none yet: broker-only nodes join in step 3), and (v2) the voters' controller
//! listeners (this node's as advertised, zero-config: the listener asked; the others' from
//! `controller.quorum.voters`). A node that is not the leader forwards the request from a
//! broker listener (`broker::forward`); on a controller listener it answers as below.
//!
//! Errors as Kafka's: a request that is not exactly that one partition gets
//! UNKNOWN_TOPIC_OR_PARTITION on each partition it names; a node that is not the leader
//! answers NOT_LEADER_OR_FOLLOWER for the partition (only the leader knows the voters'
//! progress). The leader reports itself with both timestamps = now (Kafka's `RaftUtil`), the
//! other voters with the times its network last saw them answer AppendEntries and last saw
//! them reach the commit point (`quorum::network::VoterProgress`), −1 before that.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::log::partition::now_ms;
use crate::metadata::log::METADATA_TOPIC;
use crate::security::acl::AclOperation;

pub async fn describe_quorum(
    ctx: &RequestContext,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    if !ctx.cluster_authorized(AclOperation::Describe) {
        return DescribeQuorumResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    let valid = req.topics.len() == 1
        && req.topics[0].topic_name.as_str() == METADATA_TOPIC
        && req.topics[0].partitions.len() == 1
        && req.topics[0].partitions[0].partition_index == 0;
    if !valid {
        let topics = req
            .topics
            .iter()
            .map(|t| {
                TopicData::default()
                    .with_topic_name(t.topic_name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                error_partition(
                                    ctx.version,
                                    p.partition_index,
                                    ErrorCode::UnknownTopicOrPartition,
                                )
                            })
                            .collect(),
                    )
            })
            .collect();
        return DescribeQuorumResponse::default().with_topics(topics);
    }
    let Some(quorum) = ctx.broker.controller.quorum() else {
        // A broker-only node: no quorum here (requests are not forwarded yet).
        let topic =
            TopicData::default().with_topic_name(StrBytes::from_static_str(METADATA_TOPIC).into());
        return DescribeQuorumResponse::default().with_topics(vec![topic.with_partitions(vec![
            error_partition(ctx.version, 0, ErrorCode::NotLeaderOrFollower),
        ])]);
    };
    let view = quorum.describe();
    let topic =
        TopicData::default().with_topic_name(StrBytes::from_static_str(METADATA_TOPIC).into());
    if view.leader_id != Some(view.node_id) {
        return DescribeQuorumResponse::default().with_topics(vec![topic.with_partitions(vec![
            error_partition(ctx.version, 0, ErrorCode::NotLeaderOrFollower),
        ])]);
    }
    let now = now_ms();
    let voters = view
        .voters
        .iter()
        .map(|&id| {
            // This node's log end is known here; the others' as the leader last matched.
            let end = if id == view.node_id {
                view.log_end_offset
            } else {
                view.voter_log_ends.get(&id).copied().unwrap_or(-1)
            };
            let mut r = ReplicaState::default()
                .with_replica_id(BrokerId(id))
                .with_log_end_offset(end);
            if ctx.version >= 1 {
                // The leader itself: now (Kafka's RaftUtil); the others: as the network
                // last saw them answer.
                let (fetch, caught_up) = if id == view.node_id {
                    (now, now)
                } else {
                    view.voter_times.get(&id).copied().unwrap_or((-1, -1))
                };
                r = r
                    .with_last_fetch_timestamp(fetch)
                    .with_last_caught_up_timestamp(caught_up);
            }
            r
        })
        .collect();
    let observers = quorum
        .observers()
        .into_iter()
        .map(|o| {
            let mut r = ReplicaState::default()
                .with_replica_id(BrokerId(o.replica_id))
                .with_log_end_offset(o.log_end_offset);
            if ctx.version >= 1 {
                r = r
                    .with_last_fetch_timestamp(o.last_fetch_ms)
                    .with_last_caught_up_timestamp(o.last_caught_up_ms);
            }
            r
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(view.node_id))
        .with_leader_epoch(view.leader_epoch)
        .with_high_watermark(view.high_watermark)
        .with_current_voters(voters)
        .with_observers(observers);
    let mut resp =
        DescribeQuorumResponse::default().with_topics(vec![topic.with_partitions(vec![partition])]);
    if ctx.version >= 2 {
        // This voter's controller listeners; a node without any (zero-config) gives the
        // listener the request came in on.
        let cluster = &ctx.broker.cluster;
        let mut endpoints: Vec<_> = cluster
            .controller_listener_names
            .iter()
            .filter_map(|n| cluster.advertised_for(n))
            .collect();
        if endpoints.is_empty() {
            endpoints.extend(cluster.advertised_for(&ctx.listener));
        }
        let listeners = endpoints
            .into_iter()
            .map(|e| {
                Listener::default()
                    .with_name(StrBytes::from_string(e.name.clone()))
                    .with_host(StrBytes::from_string(e.host.clone()))
                    .with_port(e.port)
            })
            .collect();
        let mut nodes = vec![Node::default()
            .with_node_id(BrokerId(view.node_id))
            .with_listeners(listeners)];
        // The other voters: their controller listener from `controller.quorum.voters`.
        let name = cluster
            .controller_listener_names
            .first()
            .cloned()
            .unwrap_or_default();
        for v in cluster.voters.iter().filter(|v| v.id != view.node_id) {
            nodes.push(Node::default().with_node_id(BrokerId(v.id)).with_listeners(
                vec![Listener::default()
                        .with_name(StrBytes::from_string(name.clone()))
                        .with_host(StrBytes::from_string(v.host.clone()))
                        .with_port(v.port)],
            ));
        }
        resp = resp.with_nodes(nodes);
    }
    resp
}

fn error_partition(version: i16, index: i32, code: ErrorCode) -> PartitionData {
    let mut p = PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code as i16)
        .with_leader_id(BrokerId(-1))
        .with_leader_epoch(-1)
        .with_high_watermark(-1);
    if version >= 2 {
        p = p.with_error_message(Some(StrBytes::from_static_str(code.name())));
    }
    p
}
