//! ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69): KIP-848 consumer groups,
//! translated to and from the group coordinator (`group::consumer`).

use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe, DescribedGroup, Member,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{self as hb, Assignment};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::group::consumer::heartbeat::HeartbeatParams;
use crate::group::consumer::records::Assignment as Partitions;
use crate::group::consumer::subscription::Topics;
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

/// The metadata image as a consumer group sees it: topics by name, the non-internal names
/// a subscription regex may match, and which of them the heartbeating client may DESCRIBE
/// (Kafka resolves a regex with the request context of the heartbeat that refreshes it).
struct ImageTopics<'a> {
    image: std::sync::Arc<crate::metadata::image::MetadataImage>,
    ctx: &'a RequestContext,
}

impl Topics for ImageTopics<'_> {
    fn get(&self, name: &str) -> Option<(uuid::Uuid, i32)> {
        self.image
            .topic(name)
            .map(|t| (t.id, t.partitions.len() as i32))
    }

    fn names(&self) -> Vec<String> {
        self.image
            .topics()
            .filter(|t| !t.name.starts_with("__"))
            .map(|t| t.name.clone())
            .collect()
    }

    fn describable(&self, name: &str) -> bool {
        self.ctx.topic_authorized(AclOperation::Describe, name)
    }

    fn version(&self) -> i64 {
        self.image.applied_offset
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub async fn heartbeat(
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let error = |code: ErrorCode, msg: Option<String>| {
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code.code())
            .with_error_message(msg.map(StrBytes::from_string))
    };
    // Kafka: READ on the group, else GROUP_AUTHORIZATION_FAILED.
    if !ctx.group_authorized(AclOperation::Read, &req.group_id) {
        return error(ErrorCode::GroupAuthorizationFailed, None);
    }
    // ... and DESCRIBE on every subscribed topic, else TOPIC_AUTHORIZATION_FAILED.
    let topics = req.subscribed_topic_names.iter().flatten();
    if topics
        .clone()
        .any(|t| !ctx.topic_authorized(AclOperation::Describe, t))
    {
        return error(ErrorCode::TopicAuthorizationFailed, None);
    }
    let params = HeartbeatParams {
        version: ctx.version,
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|i| i.to_string()),
        rack_id: req.rack_id.map(|i| i.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .map(|ts| ts.iter().map(|t| t.to_string()).collect()),
        subscribed_topic_regex: req.subscribed_topic_regex.map(|r| r.to_string()),
        server_assignor: req.server_assignor.map(|a| a.to_string()),
        owned: req.topic_partitions.map(|tps| {
            let mut out = Partitions::new();
            for tp in tps {
                out.entry(tp.topic_id)
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
            out
        }),
        client_id: ctx
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
    };
    let coordinator = match ctx.broker.group_coordinator(&params.group_id).await {
        Ok(g) => g,
        Err(code) => return error(code, None),
    };
    let topics = ImageTopics {
        image: ctx.broker.metadata.image(),
        ctx,
    };
    let r = coordinator.consumer_heartbeat(params, &topics).await;
    if r.error != ErrorCode::None {
        return error(r.error, r.message);
    }
    let assignment = r.assignment.map(|a| {
        Assignment::default().with_topic_partitions(
            a.into_iter()
                .map(|(id, ps)| {
                    hb::TopicPartitions::default()
                        .with_topic_id(id)
                        .with_partitions(ps.into_iter().collect())
                })
                .collect(),
        )
    });
    ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(s(&r.member_id)))
        .with_member_epoch(r.member_epoch)
        .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
        .with_assignment(assignment)
}

fn described(ctx: &RequestContext, a: &Partitions) -> describe::Assignment {
    let image = ctx.broker.metadata.image();
    describe::Assignment::default().with_topic_partitions(
        a.iter()
            .map(|(id, ps)| {
                let name = image
                    .topic_by_id(*id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                describe::TopicPartitions::default()
                    .with_topic_id(*id)
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}

pub async fn describe(
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let mut groups = Vec::with_capacity(req.group_ids.len());
    for id in req.group_ids {
        let failed = |code: ErrorCode, msg: Option<String>| {
            DescribedGroup::default()
                .with_group_id(id.clone())
                .with_error_code(code.code())
                .with_error_message(msg.map(StrBytes::from_string))
                .with_authorized_operations(i32::MIN)
        };
        if !ctx.group_authorized(AclOperation::Describe, &id) {
            groups.push(failed(ErrorCode::GroupAuthorizationFailed, None));
            continue;
        }
        let g = match ctx.broker.group_coordinator(&id).await {
            Ok(g) => g,
            Err(code) => {
                groups.push(failed(code, None));
                continue;
            }
        };
        let d = match g.describe_consumer_group(&id) {
            Ok(d) => d,
            Err(code) => {
                let msg = format!("Group {} not found.", id.as_str());
                groups.push(failed(code, Some(msg)));
                continue;
            }
        };
        let members = d
            .members
            .iter()
            .map(|m| {
                let mut member = Member::default()
                    .with_member_id(s(&m.member_id))
                    .with_instance_id(m.meta.instance_id.as_deref().map(s))
                    .with_rack_id(m.meta.rack_id.as_deref().map(s))
                    .with_member_epoch(m.member_epoch)
                    .with_client_id(s(&m.meta.client_id))
                    .with_client_host(s(&m.meta.client_host))
                    .with_subscribed_topic_names(
                        m.meta
                            .subscribed_topic_names
                            .iter()
                            .map(|t| TopicName(s(t)))
                            .collect(),
                    )
                    .with_subscribed_topic_regex(m.meta.subscribed_topic_regex.as_deref().map(s))
                    .with_assignment(described(ctx, &m.assignment))
                    .with_target_assignment(described(ctx, &m.target));
                if ctx.version >= 1 {
                    // KIP-1099: 1 = a member using the consumer protocol.
                    member = member.with_member_type(1);
                }
                member
            })
            .collect();
        groups.push(
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(StrBytes::from_static_str(d.state.name()))
                .with_group_epoch(d.epoch)
                .with_assignment_epoch(d.assignment_epoch)
                .with_assignor_name(s(&d.assignor))
                .with_members(members)
                .with_authorized_operations(i32::MIN),
        );
    }
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
