//! ListConfigResources (api 74; v0 was ListClientMetricsResources, v1 is KIP-1142): the
//! resources that hold configuration, as Kafka's `KafkaApis` lists them.
//!
//! v0 lists client-metrics subscriptions only; gregor has none, so the list is empty. v1 takes
//! a list of resource types (empty = every type v1 supports: TOPIC 2, BROKER 4, BROKER_LOGGER
//! 8, CLIENT_METRICS 16, GROUP 32); a type outside that set fails the whole request with
//! UNSUPPORTED_VERSION and no resources, as Kafka answers. Listed: groups with dynamic
//! configs (none: gregor keeps no group configs), client-metrics subscriptions (none), each
//! live broker as a BROKER_LOGGER and as a BROKER resource (its id), and every topic.
//!
//! Either version needs DESCRIBE_CONFIGS on the cluster (Kafka's check), else
//! CLUSTER_AUTHORIZATION_FAILED with no resources.
//!
//! Thread-safety: reads one metadata image; no locks.

use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const CLIENT_METRICS: i8 = 16;
const GROUP: i8 = 32;

/// The resource types ListConfigResources v1 knows (Kafka's `supportedResourceTypes`).
const V1_TYPES: [i8; 5] = [TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP];

fn resource(name: String, kind: i8) -> ConfigResource {
    ConfigResource::default()
        .with_resource_name(StrBytes::from_string(name))
        .with_resource_type(kind)
}

pub async fn handle(
    ctx: &RequestContext,
    req: ListConfigResourcesRequest,
) -> ListConfigResourcesResponse {
    // Kafka: DESCRIBE_CONFIGS on the cluster, else CLUSTER_AUTHORIZATION_FAILED and nothing.
    if !ctx.cluster_authorized(AclOperation::DescribeConfigs) {
        return ListConfigResourcesResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    if ctx.version == 0 {
        // Client-metrics subscriptions only, and gregor has none.
        return ListConfigResourcesResponse::default();
    }
    let types: Vec<i8> = if req.resource_types.is_empty() {
        V1_TYPES.to_vec()
    } else {
        req.resource_types
    };
    if types.iter().any(|t| !V1_TYPES.contains(t)) {
        return ListConfigResourcesResponse::default()
            .with_error_code(ErrorCode::UnsupportedVersion.code());
    }
    let image = ctx.broker.metadata.image();
    let mut out = Vec::new();
    // GROUP and CLIENT_METRICS: gregor stores no group configs and no subscriptions.
    for kind in [BROKER_LOGGER, BROKER] {
        if types.contains(&kind) {
            out.extend(
                image
                    .live_brokers()
                    .map(|b| resource(b.id.to_string(), kind)),
            );
        }
    }
    if types.contains(&TOPIC) {
        out.extend(image.topics().map(|t| resource(t.name.clone(), TOPIC)));
    }
    ListConfigResourcesResponse::default().with_config_resources(out)
}
