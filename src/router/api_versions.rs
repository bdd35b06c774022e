//! ApiVersions, answered by the router itself: it owns the API table, so the served APIs and
//! their versions come straight from [`APIS`] — what is advertised is what is served.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::table::APIS;
use crate::error::ErrorCode;
use crate::handlers::RequestContext;

/// ApiVersions response listing every served API (advertised ranges).
pub fn body(error: ErrorCode) -> ApiVersionsResponse {
    let keys = APIS
        .iter()
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

pub async fn handle(_ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    body(ErrorCode::None)
}
