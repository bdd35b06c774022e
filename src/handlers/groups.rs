//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the classic group membership protocol,
//! translated to and from the coordinator.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use std::sync::Arc;

use crate::error::ErrorCode;
use crate::group::state::{JoinResult, SyncResult};
use crate::group::GroupCoordinator;
use crate::group::{JoinParams, SyncParams};
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

/// The group's coordinator, once the client may READ the group (Kafka's check for every
/// membership API): else GROUP_AUTHORIZATION_FAILED.
async fn group_read(
    ctx: &RequestContext,
    group_id: &str,
) -> Result<Arc<GroupCoordinator>, ErrorCode> {
    if !ctx.group_authorized(AclOperation::Read, group_id) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    ctx.broker.group_coordinator(group_id).await
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub async fn join_group(ctx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    let params = JoinParams {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|i| i.to_string()),
        client_id: ctx
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if ctx.version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: ctx.version >= 4,
    };
    let r = match group_read(ctx, &params.group_id).await {
        Ok(g) => g.join(params).await,
        Err(code) => JoinResult::error(code, &params.member_id),
    };
    let mut resp = JoinGroupResponse::default()
        .with_error_code(r.error.code())
        .with_generation_id(r.generation)
        .with_protocol_name(Some(s(r.protocol.as_deref().unwrap_or_default())))
        .with_leader(s(&r.leader))
        .with_member_id(s(&r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(&id))
                        .with_group_instance_id(instance.map(StrBytes::from_string))
                        .with_metadata(metadata)
                })
                .collect(),
        );
    if ctx.version >= 7 {
        resp = resp.with_protocol_type(r.protocol_type.map(StrBytes::from_string));
    }
    if r.error != ErrorCode::None && ctx.version < 7 {
        resp = resp.with_protocol_name(Some(StrBytes::new()));
    }
    resp
}

pub async fn sync_group(ctx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    let params = SyncParams {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|i| i.to_string()),
        generation: req.generation_id,
        protocol_type: req.protocol_type.map(|p| p.to_string()),
        protocol: req.protocol_name.map(|p| p.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let r = match group_read(ctx, &params.group_id).await {
        Ok(g) => g.sync(params).await,
        Err(error) => SyncResult {
            error,
            protocol_type: None,
            protocol: None,
            assignment: Default::default(),
        },
    };
    let mut resp = SyncGroupResponse::default()
        .with_error_code(r.error.code())
        .with_assignment(r.assignment);
    if ctx.version >= 5 {
        resp = resp
            .with_protocol_type(r.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(r.protocol.map(StrBytes::from_string));
    }
    resp
}

pub async fn heartbeat(ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    let instance = req.group_instance_id.as_ref().map(|i| i.as_str());
    let code = match group_read(ctx, &req.group_id).await {
        Ok(g) => {
            g.heartbeat(&req.group_id, &req.member_id, instance, req.generation_id)
                .await
        }
        Err(code) => code,
    };
    HeartbeatResponse::default().with_error_code(code.code())
}

pub async fn leave_group(ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let g = match group_read(ctx, &req.group_id).await {
        Ok(g) => g,
        Err(code) => return LeaveGroupResponse::default().with_error_code(code.code()),
    };
    if ctx.version < 3 {
        let codes = g
            .leave(&req.group_id, &[(req.member_id.to_string(), None)])
            .await;
        return LeaveGroupResponse::default().with_error_code(codes[0].code());
    }
    let members: Vec<(String, Option<String>)> = req
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
            )
        })
        .collect();
    let codes = g.leave(&req.group_id, &members).await;
    let responses = req
        .members
        .into_iter()
        .zip(codes)
        .map(|(m, code)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(code.code())
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}
