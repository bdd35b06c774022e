//! DescribeCluster: the registered brokers of the metadata image; this node answers as the
//! controller (clients of a KRaft cluster are shown a broker there, as Kafka does).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::handlers::RequestContext;

pub async fn describe_cluster(
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let b = &ctx.broker;
    let image = b.metadata.image();
    let brokers = image
        .live_brokers()
        .filter_map(|br| {
            let (host, port) = br.address()?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(br.id))
                    .with_host(StrBytes::from_string(host.to_string()))
                    .with_port(port)
                    .with_rack(br.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect();
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(BrokerId(b.config.node_id))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(i32::MIN);
    if ctx.version >= 1 {
        resp = resp.with_endpoint_type(req.endpoint_type);
    }
    resp
}
