//! ApiVersions, answered by the router itself: it owns the API table, so the served APIs and
//! their versions come straight from [`APIS`] — what is advertised is what is served.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::table::APIS;
use super::ListenerInfo;
use crate::error::ErrorCode;
use crate::handlers::RequestContext;

/// ApiVersions response listing every API the listener serves (advertised ranges): all of
/// them on a broker listener, the controller's on a controller listener.
pub fn body(error: ErrorCode, listener: &ListenerInfo) -> ApiVersionsResponse {
    let keys = APIS
        .iter()
        .filter(|a| listener.serves(a.key))
        .map(|a| {
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(a.advertised_min)
                .with_max_version(a.max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error.code())
        .with_api_keys(keys)
}

pub async fn handle(ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let listener = ListenerInfo {
        name: ctx.listener.clone(),
        controller: ctx.controller_listener,
    };
    body(ErrorCode::None, &listener)
}
