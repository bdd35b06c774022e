//! Fetch: reads each requested partition from its segment files and long-polls when fewer
//! than `min_bytes` are available, woken by the partitions' high-watermark signals — no
//! polling loop. Byte limits follow KIP-74: `max_bytes` for the response and
//! `partition_max_bytes` per partition, except that the first batch found is always sent
//! whole so a consumer can make progress past a batch larger than its limits.
//!
//! Fetch sessions (KIP-227) are not kept: every response carries session id 0, which tells
//! clients to send full fetch requests.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::select_all;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::{Error, ErrorCode};
use crate::handlers::RequestContext;
use crate::replica::{Isolation, Replica};
use crate::security::acl::AclOperation;

/// Longest wait honoured, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

struct Wanted {
    topic: usize,
    index: i32,
    /// The replica this node leads, or why there is none.
    partition: Result<Arc<Replica>, Error>,
    offset: i64,
    max_bytes: usize,
    /// v12+: the epoch of the fetcher's last batch (−1: none, nothing to check).
    last_fetched_epoch: i32,
    /// The log start offset a follower reports (−1 for consumers).
    follower_start: i64,
}

/// Who fetches and how far it may read.
#[derive(Clone, Copy)]
struct Scope {
    /// A broker replica id (≥ 0: a follower), −1 a consumer, −2 a debugging client.
    replica_id: i32,
    isolation: Isolation,
    /// The first read of this request: a follower's fetch state is recorded from it only
    /// (Kafka records it once, not again when a long-poll completes).
    first_pass: bool,
}

fn partition_error(index: i32, e: &Error, hw: i64, start: i64) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(e.code().code())
        .with_high_watermark(hw)
        .with_last_stable_offset(hw)
        .with_log_start_offset(start)
        .with_aborted_transactions(Some(vec![]))
        .with_records(Some(Default::default()))
}

/// One pass over all partitions: the response, the number of record bytes in it, and whether
/// it must be sent at once (an error or a diverging epoch).
async fn read_all(
    wanted: &[Wanted],
    topics: &[FetchableTopicResponse],
    max_bytes: usize,
    scope: Scope,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut out: Vec<FetchableTopicResponse> = topics.to_vec();
    let mut total = 0usize;
    let mut any_error = false;
    for w in wanted {
        let data = match &w.partition {
            Err(e) => {
                any_error = true;
                partition_error(w.index, e, -1, -1)
            }
            Ok(p) => {
                let hw = p.high_watermark();
                let lso = p.last_stable_offset();
                let leo = p.log_end_offset();
                let bound = match scope.isolation {
                    Isolation::LogEnd => leo,
                    Isolation::HighWatermark => hw,
                    Isolation::Committed => lso,
                };
                let start = p.log_start_offset();
                let remaining = max_bytes.saturating_sub(total);
                let diverging = p.diverging_epoch(w.last_fetched_epoch, w.offset).await;
                let result = match diverging {
                    Err(e) => Err(e),
                    Ok(Some(d)) => Ok(Err(d)),
                    Ok(None)
                        if (w.offset == bound && w.offset >= start)
                            || (remaining == 0 && total > 0) =>
                    {
                        // Nothing new, or no room left: answer without touching the log.
                        Ok(Ok(None))
                    }
                    // KIP-74: the first batch of the first partition with data is sent whole
                    // even above the limits, so a consumer always makes progress.
                    Ok(None) => p
                        .read(
                            w.offset,
                            w.max_bytes.min(remaining),
                            total == 0,
                            scope.isolation,
                        )
                        .await
                        .map(|r| Ok(Some(r))),
                };
                if scope.first_pass && scope.replica_id >= 0 && matches!(result, Ok(Ok(_))) {
                    p.record_follower_fetch(scope.replica_id, w.offset, w.follower_start, leo);
                }
                let empty = PartitionData::default()
                    .with_partition_index(w.index)
                    .with_high_watermark(hw)
                    .with_last_stable_offset(lso)
                    .with_log_start_offset(start)
                    .with_aborted_transactions(Some(vec![]))
                    .with_records(Some(Default::default()));
                match result {
                    Ok(Ok(None)) => empty,
                    Ok(Err((epoch, end_offset))) => {
                        // KIP-101/279: the fetcher truncates to at most `end_offset` and asks
                        // again; no records until then.
                        any_error = true;
                        empty.with_diverging_epoch(
                            EpochEndOffset::default()
                                .with_epoch(epoch)
                                .with_end_offset(end_offset),
                        )
                    }
                    Ok(Ok(Some(r))) => {
                        tracing::debug!(
                            "fetch {}-{} at {}: {} bytes, high watermark {}",
                            p.topic(),
                            p.index(),
                            w.offset,
                            r.records.len(),
                            r.high_watermark
                        );
                        total += r.records.len();
                        let aborted = r
                            .aborted
                            .iter()
                            .map(|&(pid, first)| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(pid))
                                    .with_first_offset(first)
                            })
                            .collect();
                        PartitionData::default()
                            .with_partition_index(w.index)
                            .with_high_watermark(r.high_watermark)
                            .with_last_stable_offset(r.last_stable_offset)
                            .with_log_start_offset(r.log_start_offset)
                            .with_aborted_transactions(Some(aborted))
                            .with_records(Some(r.records))
                    }
                    Err(e) => {
                        any_error = true;
                        if e.is_broker_fault() {
                            tracing::error!("fetch from {}-{} failed: {e}", p.topic(), p.index());
                        }
                        partition_error(w.index, &e, p.high_watermark(), p.log_start_offset())
                    }
                }
            }
        };
        out[w.topic].partitions.push(data);
    }
    (out, total, any_error)
}

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    if ctx.controller_listener {
        // Observers following the metadata log: the only fetch a controller listener serves.
        return super::metadata_fetch::handle(ctx, req).await;
    }
    let b = &ctx.broker;
    let max_bytes = if req.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        req.max_bytes as usize
    };
    let min_bytes = req.min_bytes.max(0) as usize;
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    // v15 moved the replica id into ReplicaState (KIP-903).
    let replica_id = if ctx.version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    // v4+: 1 = READ_COMMITTED (Kafka's IsolationLevel).
    let mut scope = Scope {
        replica_id,
        isolation: Isolation::of(replica_id, req.isolation_level == 1),
        first_pass: true,
    };

    // Kafka: a follower needs CLUSTER_ACTION on the cluster, a consumer READ on each topic;
    // a refused partition gets TOPIC_AUTHORIZATION_FAILED and nothing is read.
    let follower_ok = replica_id < 0 || ctx.cluster_authorized(AclOperation::ClusterAction);
    let image = b.metadata.image();
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut wanted = Vec::new();
    for (ti, t) in req.topics.into_iter().enumerate() {
        let allowed = if replica_id >= 0 {
            follower_ok
        } else {
            ctx.topic_authorized(AclOperation::Read, &t.topic)
        };
        for p in t.partitions {
            let epoch = p.current_leader_epoch;
            let partition = if !allowed {
                Err(Error::kafka(
                    ErrorCode::TopicAuthorizationFailed,
                    format!("fetch of {} denied to {}", t.topic.0, ctx.principal),
                ))
            } else {
                b.replicas
                    .leader_at_epoch(&image, &t.topic, p.partition, epoch)
                    .and_then(|r| {
                        if replica_id >= 0 {
                            r.check_follower(replica_id, epoch)?;
                        }
                        Ok(r)
                    })
            };
            wanted.push(Wanted {
                topic: ti,
                index: p.partition,
                partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                last_fetched_epoch: p.last_fetched_epoch,
                follower_start: p.log_start_offset,
            });
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(t.topic)
                .with_topic_id(t.topic_id),
        );
    }
    // Followers wait for the log end to move, consumers for the high watermark.
    let mut receivers: Vec<watch::Receiver<i64>> = wanted
        .iter()
        .filter_map(|w| w.partition.as_ref().ok())
        .map(|p| match scope.isolation {
            Isolation::LogEnd => p.log().subscribe(),
            _ => p.subscribe(),
        })
        .collect();

    loop {
        for r in receivers.iter_mut() {
            r.borrow_and_update();
        }
        let (responses, total, any_error) = read_all(&wanted, &topics, max_bytes, scope).await;
        scope.first_pass = false;
        if total >= min_bytes
            || total > 0 && min_bytes == 0
            || any_error
            || Instant::now() >= deadline
            || receivers.is_empty()
        {
            return FetchResponse::default()
                .with_responses(responses)
                .with_session_id(0);
        }
        // Sleep until any partition's high watermark (or log end) moves, or the deadline.
        let changed = select_all(receivers.iter_mut().map(|r| Box::pin(r.changed())));
        match tokio::time::timeout_at(deadline, changed).await {
            Ok((Ok(()), _, _)) => continue,
            // The deadline passed, or a partition went away (its topic was deleted).
            Err(_) | Ok((Err(_), _, _)) => {
                let (responses, _, _) = read_all(&wanted, &topics, max_bytes, scope).await;
                return FetchResponse::default()
                    .with_responses(responses)
                    .with_session_id(0);
            }
        }
    }
}
