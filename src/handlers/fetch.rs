//! Fetch: reads each requested partition from its segment files and long-polls when fewer
//! than `min_bytes` are available, woken by the partitions' high-watermark signals — no
//! polling loop. Byte limits follow KIP-74: `max_bytes` for the response and
//! `partition_max_bytes` per partition, except that the first batch found is always sent
//! whole so a consumer can make progress past a batch larger than its limits.
//!
//! A fetch naming a leader epoch newer than this node's (its metadata is ahead of ours, as
//! a follower's often is for a few ms after an election) waits within its `max_wait` for
//! this node's image to catch up before it is answered UNKNOWN_LEADER_EPOCH.
//!
//! Fetch sessions (KIP-227, v7+): `fetch_session` decides from the session id and epoch
//! which partitions are read and in which order (a full or sessionless request: the
//! request's order; an incremental one: the session's, rotated so partitions that returned
//! records go last) and which the response carries (incremental: only those with records or
//! a changed high watermark, log start offset or error). A session error (70, 71) is answered
//! at once, with no partitions. The records stay the mapped bytes either way.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::select_all;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::error::{Error, ErrorCode};
use crate::handlers::RequestContext;
use crate::metadata::MetadataImage;
use crate::replica::{Isolation, Replica};
use crate::security::acl::AclOperation;

/// Longest wait honoured, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

struct Wanted {
    topic: usize,
    index: i32,
    /// The leader epoch the fetcher expects (−1: unchecked).
    current_leader_epoch: i32,
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

/// Who fetches: the replica id (−1 for a consumer) and, from v15, the broker epoch it sent
/// (KIP-903; −1 when none).
#[derive(Clone, Copy)]
struct Fetcher {
    replica_id: i32,
    replica_epoch: i64,
}

/// The replica to read from, or why not: this node must lead the partition at the epoch the
/// fetcher names, and a broker fetcher must be one of its followers (whose fetch epoch is
/// recorded for the ISR's KIP-903 check). `name` is `None` for a v13+ topic id the image
/// does not know: UNKNOWN_TOPIC_ID.
fn lookup(
    ctx: &RequestContext,
    image: &MetadataImage,
    (name, topic_id): (Option<&str>, Uuid),
    partition: i32,
    epoch: i32,
    fetcher: Fetcher,
) -> Result<Arc<Replica>, Error> {
    let Some(topic) = name else {
        return Err(Error::kafka(
            ErrorCode::UnknownTopicId,
            format!("unknown topic id {topic_id}"),
        ));
    };
    let r = ctx
        .broker
        .replicas
        .leader_at_epoch(image, topic, partition, epoch)?;
    if fetcher.replica_id >= 0 {
        r.check_follower(fetcher.replica_id, epoch)?;
        r.record_follower_epoch(fetcher.replica_id, fetcher.replica_epoch);
    }
    Ok(r)
}

/// Refused only because the fetcher's leader epoch is newer than this node's.
fn newer_epoch(w: &Wanted) -> bool {
    matches!(&w.partition, Err(e) if e.code() == ErrorCode::UnknownLeaderEpoch)
}

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    if ctx.controller_listener {
        // Observers following the metadata log: the only fetch a controller listener serves.
        return super::metadata_fetch::handle(ctx, req).await;
    }
    let mut resp = serve(ctx, req).await;
    // KIP-951 (v16+): where to find a partition's new leader.
    let image = ctx.broker.metadata.image();
    super::leader_hints::add_to_fetch(&mut resp, &image, &ctx.listener, ctx.version);
    resp
}

/// A broker listener's fetch (see [`handle`]).
async fn serve(ctx: &RequestContext, mut req: FetchRequest) -> FetchResponse {
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
    let session = match super::fetch_session::plan(ctx, &mut req, replica_id) {
        Ok(plan) => plan,
        Err(response) => return response,
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
    // KIP-903: the broker epoch a v15 follower sends (−1 before: nothing to check).
    let fetcher = Fetcher {
        replica_id,
        replica_epoch: if ctx.version >= 15 {
            req.replica_state.replica_epoch
        } else {
            -1
        },
    };

    // Subscribed before the image is read: a publish after this read wakes the wait below.
    let mut published = b.metadata.changes();
    let image = b.metadata.image();
    let mut topics = Vec::with_capacity(req.topics.len());
    // Each requested topic's name and id (the name `None` for an unknown v13+ id).
    let mut names: Vec<(Option<String>, Uuid)> = Vec::with_capacity(req.topics.len());
    let mut wanted = Vec::new();
    for (ti, t) in req.topics.into_iter().enumerate() {
        // v13+ names topics by id: an id the image does not know is UNKNOWN_TOPIC_ID.
        let name = if ctx.version >= 13 {
            image.topic_by_id(t.topic_id).map(|ti| ti.name.clone())
        } else {
            Some(t.topic.to_string())
        };
        let allowed = match &name {
            Some(_) if replica_id >= 0 => follower_ok,
            Some(topic) => ctx.topic_authorized(AclOperation::Read, topic),
            None => true, // an unknown id: UNKNOWN_TOPIC_ID first, as Kafka
        };
        for p in t.partitions {
            let epoch = p.current_leader_epoch;
            wanted.push(Wanted {
                topic: ti,
                index: p.partition,
                current_leader_epoch: epoch,
                partition: if allowed {
                    lookup(
                        ctx,
                        &image,
                        (name.as_deref(), t.topic_id),
                        p.partition,
                        epoch,
                        fetcher,
                    )
                } else {
                    Err(Error::kafka(
                        ErrorCode::TopicAuthorizationFailed,
                        format!(
                            "fetch of {} denied to {}",
                            name.as_deref().unwrap_or_default(),
                            ctx.principal
                        ),
                    ))
                },
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                last_fetched_epoch: p.last_fetched_epoch,
                follower_start: p.log_start_offset,
            });
        }
        names.push((name, t.topic_id));
        // Only the field of the version: the id from v13, the name before.
        topics.push(if ctx.version >= 13 {
            FetchableTopicResponse::default().with_topic_id(t.topic_id)
        } else {
            FetchableTopicResponse::default().with_topic(t.topic)
        });
    }
    // The fetcher knows a newer leader epoch than this node has applied (right after an
    // election its metadata can be a few ms ahead of ours): wait, within the request's
    // max_wait, for this node's image to catch up before answering UNKNOWN_LEADER_EPOCH,
    // which would make a follower back off `replica.fetch.backoff.ms` (1 s) — an answer
    // Kafka gives at once (docs/design/replication.md §7).
    while wanted.iter().any(newer_epoch) && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, published.changed()).await {
            Ok(Ok(())) => {}
            Err(_) | Ok(Err(_)) => break,
        }
        let image = b.metadata.image();
        for w in wanted.iter_mut().filter(|w| newer_epoch(w)) {
            let (name, id) = &names[w.topic];
            w.partition = lookup(
                ctx,
                &image,
                (name.as_deref(), *id),
                w.index,
                w.current_leader_epoch,
                fetcher,
            );
        }
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
            return session.finish(ctx, responses);
        }
        // Sleep until any partition's high watermark (or log end) moves, or the deadline.
        let changed = select_all(receivers.iter_mut().map(|r| Box::pin(r.changed())));
        match tokio::time::timeout_at(deadline, changed).await {
            Ok((Ok(()), _, _)) => continue,
            // The deadline passed, or a partition went away (its topic was deleted).
            Err(_) | Ok((Err(_), _, _)) => {
                let (responses, _, _) = read_all(&wanted, &topics, max_bytes, scope).await;
                return session.finish(ctx, responses);
            }
        }
    }
}
