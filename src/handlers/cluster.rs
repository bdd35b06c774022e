//! DescribeCluster: this single node is the whole cluster and its controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::handlers::RequestContext;

pub async fn describe_cluster(
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let b = &ctx.broker;
    let node = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(b.config.node_id))
        .with_host(StrBytes::from_string(b.advertised_host.clone()))
        .with_port(b.advertised_port);
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(b.metadata.cluster_id().to_string()))
        .with_controller_id(BrokerId(b.config.node_id))
        .with_brokers(vec![node])
        .with_cluster_authorized_operations(i32::MIN);
    if ctx.version >= 1 {
        resp = resp.with_endpoint_type(req.endpoint_type);
    }
    resp
}
