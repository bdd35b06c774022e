//! ListOffsets: earliest (−2), latest (−1), max timestamp (−3, v7+), and the first offset
//! whose timestamp is at or after a given time, looked up through the time index.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::error::{Error, ErrorCode, Result};
use crate::handlers::RequestContext;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub async fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let b = &ctx.broker;
    let image = b.metadata.image();
    let read_committed = ctx.version >= 2 && req.isolation_level == 1;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for rp in t.partitions {
            let ts = rp.timestamp;
            let mut epoch = -1;
            let result: Result<(i64, i64)> = async {
                let r = b.replicas.leader(&image, &t.name, rp.partition_index)?;
                epoch = r.leader_epoch();
                let p = r.log();
                match ts {
                    // v2+: READ_COMMITTED (1) sees the log end at the last stable offset.
                    LATEST if read_committed => Ok((-1, r.last_stable_offset())),
                    LATEST => Ok((-1, r.high_watermark())),
                    EARLIEST => Ok((-1, r.log_start_offset())),
                    MAX_TIMESTAMP if ctx.version >= 7 => {
                        let found = p.run(|log| log.max_timestamp_offset()).await?;
                        Ok(found.map(|(o, t)| (t, o)).unwrap_or((-1, -1)))
                    }
                    t if t >= 0 => {
                        let found = p.run(move |log| log.offset_for_timestamp(t)).await?;
                        Ok(found.map(|(o, t)| (t, o)).unwrap_or((-1, -1)))
                    }
                    _ => Err(Error::kafka(
                        ErrorCode::UnsupportedVersion,
                        format!("timestamp {ts} is not supported"),
                    )),
                }
            }
            .await;
            let mut resp =
                ListOffsetsPartitionResponse::default().with_partition_index(rp.partition_index);
            match result {
                Ok((timestamp, offset)) => {
                    resp = resp.with_timestamp(timestamp).with_offset(offset);
                    if ctx.version >= 4 {
                        resp = resp.with_leader_epoch(epoch);
                    }
                }
                Err(e) => {
                    resp = resp
                        .with_error_code(e.code().code())
                        .with_timestamp(-1)
                        .with_offset(-1)
                }
            }
            partitions.push(resp);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
