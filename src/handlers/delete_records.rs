//! DeleteRecords: moves partitions' log start offsets forward (−1 = to the high watermark)
//! and deletes the segments wholly below; the new start is checkpointed before answering so
//! it survives a crash.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::error::{Error, ErrorCode};
use crate::handlers::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let b = &ctx.broker;
    let image = b.metadata.image();
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for rp in t.partitions {
            let leader = ctx
                .authorize_topic(AclOperation::Delete, &t.name)
                .and_then(|_| b.replicas.leader(&image, &t.name, rp.partition_index));
            let result = match leader {
                Err(e) => Err(e),
                Ok(r) => {
                    // −1 means "up to the high watermark".
                    let offset = if rp.offset == -1 {
                        r.high_watermark()
                    } else {
                        rp.offset
                    };
                    if offset > r.high_watermark() {
                        Err(Error::kafka(
                            ErrorCode::OffsetOutOfRange,
                            format!(
                                "Cannot delete records beyond the high watermark {}",
                                r.high_watermark()
                            ),
                        ))
                    } else {
                        r.change(move |log| log.delete_records_before(offset)).await
                    }
                }
            };
            let r =
                DeleteRecordsPartitionResult::default().with_partition_index(rp.partition_index);
            partitions.push(match result {
                Ok(low) => r.with_low_watermark(low),
                Err(e) => r.with_low_watermark(-1).with_error_code(e.code().code()),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    let saved = b
        .blocking(|b| {
            b.replicas
                .logs()
                .write_checkpoints(&b.all_logs())
                .map_err(Error::Io)
        })
        .await;
    if let Err(e) = saved {
        tracing::error!("checkpointing log start offsets failed: {e}");
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
