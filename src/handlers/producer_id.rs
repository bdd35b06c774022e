//! InitProducerId: hands idempotent producers an id (or bumps the epoch of the one they
//! have, KIP-360). Transactions are not served yet, so a transactional id is refused.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::error::ErrorCode;
use crate::handlers::RequestContext;

pub async fn handle(ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |code: ErrorCode| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.is_some() {
        tracing::warn!(
            "{}: transactional producers are not supported yet",
            ctx.peer
        );
        return fail(ErrorCode::InvalidRequest);
    }
    // KIP-360: a producer that already has an id asks for the next epoch.
    if ctx.version >= 3
        && req.producer_id.0 >= 0
        && req.producer_epoch >= 0
        && req.producer_epoch < i16::MAX - 1
    {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match ctx.broker.blocking(|b| b.next_producer_id()).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!("allocating a producer id failed: {e}");
            fail(e.code())
        }
    }
}
