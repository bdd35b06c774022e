//! ApiVersions: the served APIs and their versions, straight from the API table.

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::error::ErrorCode;
use crate::protocol::{legacy, RequestContext};

pub async fn handle(_ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    legacy::api_versions_body(ErrorCode::None)
}
