//! FindCoordinator: this node coordinates every group (and would coordinate every
//! transaction), at the address the metadata image has for it on the listener the request
//! came in on. v4 batches several keys in
//! one request.
//!
//! Serving it also matters to librdkafka, which only enables LZ4 compression when a broker
//! advertises FindCoordinator.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub async fn find_coordinator(
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let b = &ctx.broker;
    let valid_type = matches!(req.key_type, GROUP | TRANSACTION);
    let (host, port) = b.advertised(&ctx.listener);
    let host = StrBytes::from_string(host);
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key);
                if valid_type {
                    c.with_node_id(BrokerId(b.config.node_id))
                        .with_host(host.clone())
                        .with_port(port)
                } else {
                    c.with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(ErrorCode::InvalidRequest.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "unknown key type {}",
                            req.key_type
                        ))))
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if !valid_type {
        let mut r = FindCoordinatorResponse::default()
            .with_error_code(ErrorCode::InvalidRequest.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1);
        if ctx.version >= 1 {
            r = r.with_error_message(Some(StrBytes::from_string(format!(
                "unknown key type {}",
                req.key_type
            ))));
        }
        return r;
    }
    FindCoordinatorResponse::default()
        .with_node_id(BrokerId(b.config.node_id))
        .with_host(host)
        .with_port(port)
}
