//! DescribeGroups, ListGroups (with the states filter) and DeleteGroups.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse,
};
use kafka_protocol::protocol::StrBytes;

use std::sync::Arc;

use crate::error::ErrorCode;
use crate::group::consumer::describe::ConsumerGroupDescription;
use crate::group::GroupCoordinator;
use crate::handlers::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

/// The group's coordinator once `op` on the group is allowed, else
/// GROUP_AUTHORIZATION_FAILED.
async fn group(
    ctx: &RequestContext,
    op: AclOperation,
    id: &str,
) -> Result<Arc<GroupCoordinator>, ErrorCode> {
    if !ctx.group_authorized(op, id) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    ctx.broker.group_coordinator(id).await
}

pub async fn describe_groups(
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut groups = Vec::with_capacity(req.groups.len());
    for id in req.groups {
        let described = match group(ctx, AclOperation::Describe, &id).await {
            Ok(g) => match g.describe_consumer_group(&id) {
                // v6+ (KIP-1043): Kafka describes classic groups only, and says so.
                Ok(_) if ctx.version >= 6 => {
                    let message = format!("Group {} is not a classic group.", id.as_str());
                    groups.push(group_id_not_found(id, message));
                    continue;
                }
                Ok(c) => {
                    groups.push(consumer_group_as_described(ctx, id, c));
                    continue;
                }
                Err(_) => Ok(g.describe(&id)),
            },
            Err(code) => Err(code),
        };
        if ctx.version >= 6 && matches!(described, Ok(None)) {
            let message = format!("Group {} not found.", id.as_str());
            groups.push(group_id_not_found(id, message));
            continue;
        }
        let ok = described.is_ok();
        let mut entry = match described {
            Err(code) => DescribedGroup::default()
                .with_group_id(id)
                .with_error_code(code.code())
                .with_group_state(StrBytes::new()),
            // Kafka (v0–5) describes an unknown group as Dead, without an error (v6: above).
            Ok(None) => DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(StrBytes::from_static_str("Dead")),
            Ok(Some(d)) => DescribedGroup::default()
                .with_group_id(id.clone())
                .with_group_state(StrBytes::from_static_str(d.state.name()))
                .with_protocol_type(StrBytes::from_string(d.protocol_type))
                .with_protocol_data(StrBytes::from_string(d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            let mut dm = DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(m.member_id))
                                .with_client_id(StrBytes::from_string(m.client_id))
                                .with_client_host(StrBytes::from_string(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if ctx.version >= 4 {
                                dm = dm.with_group_instance_id(
                                    m.instance_id.map(StrBytes::from_string),
                                );
                            }
                            dm
                        })
                        .collect(),
                ),
        };
        // v3+: the client's operations on each group described without error, when asked.
        if ok && ctx.version >= 3 && req.include_authorized_operations {
            let ops = ctx.authorized_operations(ResourceType::Group, &entry.group_id);
            entry = entry.with_authorized_operations(ops);
        }
        groups.push(entry);
    }
    DescribeGroupsResponse::default().with_groups(groups)
}

/// DescribeGroups v6+'s answer for a group that is missing or not a classic group:
/// GROUP_ID_NOT_FOUND with Kafka's message, state Dead (GroupMetadataManager.describeGroups).
fn group_id_not_found(id: GroupId, message: String) -> DescribedGroup {
    DescribedGroup::default()
        .with_group_id(id)
        .with_error_code(ErrorCode::GroupIdNotFound.code())
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_group_state(StrBytes::from_static_str("Dead"))
}

/// A KIP-848 group in DescribeGroups v0–5: protocol type `consumer`, its state, its members
/// without classic metadata or assignment bytes (ConsumerGroupDescribe has those).
fn consumer_group_as_described(
    ctx: &RequestContext,
    id: GroupId,
    c: ConsumerGroupDescription,
) -> DescribedGroup {
    let members = c
        .members
        .into_iter()
        .map(|m| {
            let dm = DescribedGroupMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_client_id(StrBytes::from_string(m.meta.client_id))
                .with_client_host(StrBytes::from_string(m.meta.client_host));
            if ctx.version >= 4 {
                dm.with_group_instance_id(m.meta.instance_id.map(StrBytes::from_string))
            } else {
                dm
            }
        })
        .collect();
    DescribedGroup::default()
        .with_group_id(id)
        .with_group_state(StrBytes::from_static_str(c.state.name()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocol_data(StrBytes::from_string(c.assignor))
        .with_members(members)
}

pub async fn list_groups(ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let filter: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    // Every shard this node runs (Kafka's ListGroups answers for the local coordinators):
    // all groups with DESCRIBE on the cluster, else those the client may DESCRIBE.
    let all = ctx.cluster_authorized(AclOperation::Describe);
    let groups = ctx
        .broker
        .groups
        .loaded()
        .into_iter()
        .flat_map(|(_, g)| g.list_typed())
        .filter(|(id, _, _, _)| all || ctx.group_authorized(AclOperation::Describe, id))
        .filter(|(_, _, state, _)| filter.is_empty() || filter.contains(&state.to_lowercase()))
        .filter(|(_, _, _, kind)| types.is_empty() || types.iter().any(|t| t == kind))
        .map(|(id, protocol_type, state, kind)| {
            let mut g = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type));
            if ctx.version >= 4 {
                g = g.with_group_state(StrBytes::from_static_str(state));
            }
            if ctx.version >= 5 {
                g = g.with_group_type(StrBytes::from_static_str(kind));
            }
            g
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub async fn delete_groups(ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let code = match group(ctx, AclOperation::Delete, &id).await {
            Ok(g) => g.delete_group(&id).await,
            Err(code) => code,
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code.code()),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
