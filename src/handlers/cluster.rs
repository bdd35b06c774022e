//! DescribeCluster (v0–2): the registered brokers of the metadata image, each at its
//! endpoint for the listener the request came in on; this node answers as the controller
//! (clients of a KRaft cluster are shown a broker there, as Kafka does). Unfenced brokers
//! only, unless a v2 request sets `include_fenced_brokers` (KIP-1073): then fenced ones too,
//! with `is_fenced` (what `gregor cluster` shows).
//!
//! `endpoint_type` (v1, KIP-919; v0 means broker): a broker listener answers type 1 (broker),
//! a controller listener type 2 (controller) with the quorum's voters. Asking a listener for
//! the other type is MISMATCHED_ENDPOINT_TYPE (114), an unknown type UNSUPPORTED_ENDPOINT_TYPE
//! (115); at v0 both are INVALID_REQUEST (42). Messages as Kafka's `AuthHelper`.
//!
//! Authorization (Kafka's): a broker listener answers every client; a controller listener
//! needs ALTER on the cluster. `include_cluster_authorized_operations` fills the bit field
//! (0 without DESCRIBE on the cluster).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::authz::OPERATIONS_NOT_REQUESTED;
use crate::handlers::RequestContext;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

/// Kafka's `EndpointType` ids.
const BROKER: i8 = 1;
const CONTROLLER: i8 = 2;

fn type_name(t: i8) -> &'static str {
    match t {
        BROKER => "BROKER",
        CONTROLLER => "CONTROLLER",
        _ => "UNKNOWN",
    }
}

fn refused(ctx: &RequestContext, code: ErrorCode, message: String) -> DescribeClusterResponse {
    let code = if ctx.version == 0 {
        ErrorCode::InvalidRequest
    } else {
        code
    };
    DescribeClusterResponse::default()
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}

pub async fn describe_cluster(
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    // Kafka: a broker answers anyone; a controller listener needs ALTER on the cluster.
    if ctx.controller_listener && !ctx.cluster_authorized(AclOperation::Alter) {
        return DescribeClusterResponse::default()
            .with_error_code(crate::handlers::authz::CLUSTER_DENIED);
    }
    let b = &ctx.broker;
    let expected = if ctx.controller_listener {
        CONTROLLER
    } else {
        BROKER
    };
    let requested = if ctx.version >= 1 {
        req.endpoint_type
    } else {
        BROKER
    };
    if !matches!(requested, BROKER | CONTROLLER) {
        let msg = format!("Unsupported endpoint type {requested}");
        return refused(ctx, ErrorCode::UnsupportedEndpointType, msg);
    }
    if requested != expected {
        let msg = format!(
            "The request was sent to an endpoint of type {}, but we wanted an endpoint of type {}",
            type_name(expected),
            type_name(requested)
        );
        return refused(ctx, ErrorCode::MismatchedEndpointType, msg);
    }
    let image = b.metadata.image();
    let node = |id: i32, host: &str, port: i32, rack: Option<String>| {
        DescribeClusterBroker::default()
            .with_broker_id(BrokerId(id))
            .with_host(StrBytes::from_string(host.to_string()))
            .with_port(port)
            .with_rack(rack.map(StrBytes::from_string))
    };
    let cluster = &b.cluster;
    let (nodes, controller_id): (Vec<DescribeClusterBroker>, i32) = if expected == CONTROLLER {
        // The voters at their controller listener; this node at the address it advertises.
        let nodes = cluster
            .voters
            .iter()
            .map(|v| match cluster.advertised_for(&ctx.listener) {
                Some(e) if v.id == cluster.node_id => node(v.id, &e.host, e.port.into(), None),
                _ => node(v.id, &v.host, v.port.into(), None),
            })
            .collect();
        // The active controller is known for a quorum of one; a larger quorum's leader comes
        // from the Raft layer (−1 until then, as Kafka answers without one).
        let alone = cluster.voters.len() == 1 && cluster.voters[0].id == cluster.node_id;
        (nodes, if alone { cluster.node_id } else { -1 })
    } else {
        let with_fenced = ctx.version >= 2 && req.include_fenced_brokers;
        let nodes = image
            .brokers
            .values()
            .filter(|br| with_fenced || !br.fenced)
            .filter_map(|br| {
                let (host, port) = br.endpoint(&ctx.listener)?;
                let n = node(br.id, host, port, br.rack.clone());
                Some(if ctx.version >= 2 {
                    n.with_is_fenced(br.fenced)
                } else {
                    n
                })
            })
            .collect();
        (nodes, b.config.node_id)
    };
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(BrokerId(controller_id))
        .with_brokers(nodes)
        .with_cluster_authorized_operations(cluster_operations(
            ctx,
            req.include_cluster_authorized_operations,
        ));
    if ctx.version >= 1 {
        resp = resp.with_endpoint_type(expected);
    }
    resp
}

/// The `cluster_authorized_operations` of Metadata v8–10 and DescribeCluster, as Kafka fills
/// it: INT32_MIN unless asked for; asked for, the client's operations on the cluster if it
/// may DESCRIBE it, else 0.
pub(crate) fn cluster_operations(ctx: &RequestContext, requested: bool) -> i32 {
    if !requested {
        OPERATIONS_NOT_REQUESTED
    } else if ctx.cluster_authorized(AclOperation::Describe) {
        ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        0
    }
}
