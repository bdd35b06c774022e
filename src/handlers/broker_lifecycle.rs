//! The broker lifecycle APIs: BrokerRegistration (62) and BrokerHeartbeat (63), served on
//! CONTROLLER listeners only (Kafka's `"controller"` listener type), and UnregisterBroker
//! (64, `Admin.unregisterBroker`), served on both (a broker listener forwards it to the
//! active controller). They turn the request into the controller's [`Registration`] /
//! [`Heartbeat`] / broker id and answer with Kafka's error codes (INCONSISTENT_CLUSTER_ID,
//! DUPLICATE_BROKER_REGISTRATION, STALE_BROKER_EPOCH, BROKER_ID_NOT_REGISTERED,
//! NOT_CONTROLLER); the rules live in `controller/brokers.rs` and `controller/unregister.rs`.

use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse, UnregisterBrokerRequest, UnregisterBrokerResponse,
};

use crate::controller::brokers::{Heartbeat, Registration};
use crate::handlers::RequestContext;
use crate::metadata::records::EndPoint;
use crate::security::acl::AclOperation;

/// The controller's view of a BrokerRegistration request.
pub fn registration(req: &BrokerRegistrationRequest) -> Registration {
    Registration {
        broker_id: req.broker_id.0,
        cluster_id: req.cluster_id.to_string(),
        incarnation_id: req.incarnation_id,
        endpoints: req
            .listeners
            .iter()
            .map(|l| EndPoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                security_protocol: l.security_protocol,
            })
            .collect(),
        rack: req.rack.as_ref().map(|r| r.to_string()),
    }
}

/// The controller's view of a BrokerHeartbeat request.
pub fn heartbeat(req: &BrokerHeartbeatRequest) -> Heartbeat {
    Heartbeat {
        broker_id: req.broker_id.0,
        broker_epoch: req.broker_epoch,
        current_metadata_offset: req.current_metadata_offset,
        want_fence: req.want_fence,
        want_shut_down: req.want_shut_down,
    }
}

pub async fn broker_registration(
    ctx: &RequestContext,
    req: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    if !ctx.cluster_authorized(AclOperation::ClusterAction) {
        return BrokerRegistrationResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED)
            .with_broker_epoch(-1);
    }
    let r = registration(&req);
    match ctx
        .broker
        .blocking(move |b| b.controller.register_broker(r))
        .await
    {
        Ok(epoch) => BrokerRegistrationResponse::default().with_broker_epoch(epoch),
        Err(e) => BrokerRegistrationResponse::default()
            .with_error_code(e.code().code())
            .with_broker_epoch(-1),
    }
}

pub async fn broker_heartbeat(
    ctx: &RequestContext,
    req: BrokerHeartbeatRequest,
) -> BrokerHeartbeatResponse {
    if !ctx.cluster_authorized(AclOperation::ClusterAction) {
        return BrokerHeartbeatResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    let h = heartbeat(&req);
    match ctx
        .broker
        .blocking(move |b| b.controller.broker_heartbeat(h))
        .await
    {
        Ok(r) => {
            // Its process exiting closes this connection: the liveness prober looks then.
            ctx.broker.controller.heartbeat_via(h.broker_id, ctx.peer);
            BrokerHeartbeatResponse::default()
                .with_is_caught_up(r.is_caught_up)
                .with_is_fenced(r.is_fenced)
                .with_should_shut_down(r.should_shut_down)
        }
        Err(e) => BrokerHeartbeatResponse::default()
            .with_error_code(e.code().code())
            .with_is_fenced(true),
    }
}

/// UnregisterBroker: Kafka's controller answers the error code alone (no message).
pub async fn unregister_broker(
    ctx: &RequestContext,
    req: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    // Kafka's controller: ALTER on the cluster.
    if !ctx.cluster_authorized(AclOperation::Alter) {
        return UnregisterBrokerResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    let id = req.broker_id.0;
    match ctx
        .broker
        .blocking(move |b| b.controller.unregister_broker(id))
        .await
    {
        Ok(()) => UnregisterBrokerResponse::default(),
        Err(e) => UnregisterBrokerResponse::default().with_error_code(e.code().code()),
    }
}
