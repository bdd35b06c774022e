//! Produce: validates and appends each partition's record batch, answering with its base
//! offset. acks=0 gets no response; acks must be −1, 0 or 1. An unknown topic or partition is
//! UNKNOWN_TOPIC_OR_PARTITION: Produce never creates a topic (clients ask Metadata first,
//! which may). Partitions are appended
//! concurrently, each on a blocking thread.
//!
//! Transactional batches are verified first (Kafka 3.6+, KIP-890 part 1): the partition must
//! be in the producer's ongoing transaction at the transaction coordinator, so a late or
//! zombie write cannot slip into a transaction that already ended; otherwise
//! INVALID_TXN_STATE (or INVALID_PRODUCER_EPOCH for a fenced epoch) and nothing is appended.
//! From v12 (KIP-890 part 2) the producer may skip AddPartitionsToTxn: the partition is added
//! to the transaction instead of verified, as Kafka's `addPartition` operation does. (Clients
//! send transactional v12+ only with `transaction.version` ≥ 2 finalized, which gregor does
//! not advertise; a client that sends it anyway gets Kafka's answer.)
//! v13 names topics by id (KIP-516): an id the image does not know is UNKNOWN_TOPIC_ID, and
//! the response names topics by id.
//! A partition refused with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH names its current
//! leader (v10+, KIP-951: [`super::leader_hints`]).
//!
//! acks=all: once every batch is appended, a request whose batches are not committed yet
//! (below the high watermark) answers [`Reply::Later`]: the appends are done and only the
//! response waits, so the connection may append the client's next Produce while this one's
//! followers catch up (docs/design/replication.md, "Pipelined acks=all"). On a single node
//! the high watermark moves with the append and the answer is immediate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::FutureExt;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use crate::error::{Error, ErrorCode};
use crate::handlers::message;
use crate::handlers::{Reply, RequestContext};
use crate::log::batch::{BatchHeader, BatchWalker};
use crate::log::partition_log::AppendInfo;
use crate::replica::Replica;
use crate::security::acl::AclOperation;

fn failed(index: i32, e: &Error) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(e.code().code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message(e))
}

/// Exactly one whole batch, as Produce v3+ requires.
fn single_batch(records: Option<Bytes>) -> Result<Bytes, Error> {
    let records = records
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Error::kafka(ErrorCode::CorruptMessage, "no records"))?;
    let mut walker = BatchWalker::new(&records);
    let count = walker.by_ref().count();
    if walker.position() != records.len() {
        return Err(Error::kafka(
            ErrorCode::CorruptMessage,
            "records do not form whole record batches",
        ));
    }
    if count != 1 {
        return Err(Error::kafka(
            ErrorCode::InvalidRecord,
            "Produce requests with version 3 and above must contain exactly one record batch per partition",
        ));
    }
    Ok(records)
}

/// KIP-890 part 1 (see the module doc). Batches of non-transactional producers pass; a
/// transactional batch without a transactional id is refused as Kafka refuses it
/// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). The id's coordinator is asked — the local shard,
/// or the leader of its `__transaction_state` partition with AddPartitionsToTxn v4
/// `verify_only` (Kafka's `AddPartitionsToTxnManager`), unless this partition already holds
/// the producer's open transaction (then nothing needs verifying, as in Kafka). A coordinator
/// that cannot answer now gives NOT_ENOUGH_REPLICAS, which every client retries.
async fn verify_transaction(
    ctx: &RequestContext,
    batch: &[u8],
    transactional_id: Option<&str>,
    topic: &str,
    index: i32,
) -> Result<(), Error> {
    // v12+: add the partition rather than verify it (see the module doc).
    let add = ctx.version >= 12;
    let Some(h) = BatchHeader::parse(batch) else {
        return Ok(());
    };
    if !h.is_transactional() {
        return Ok(());
    }
    // Kafka authorises transactional writes by transactional id: none is no authorisation.
    let Some(id) = transactional_id else {
        return Err(Error::kafka(
            ErrorCode::TransactionalIdAuthorizationFailed,
            "Transactional records were sent without a transactional id",
        ));
    };
    let b = &ctx.broker;
    let producer = (h.producer_id, h.producer_epoch);
    let verified = match b.local_txn_coordinator(id) {
        Some(txns) if add => {
            let partition = vec![(topic.to_string(), index)];
            match txns
                .add_partitions(id, producer.0, producer.1, partition)
                .await
            {
                ErrorCode::None => Ok(()),
                code => Err(code),
            }
        }
        Some(txns) => txns.verify(id, producer.0, producer.1, topic, index),
        None if open_here(ctx, h.producer_id, topic, index) => Ok(()),
        None => {
            b.verify_with_coordinator(id, producer, topic, index, add)
                .await
        }
    };
    verified.map_err(|code| {
        let code = match code {
            ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => {
                ErrorCode::InvalidProducerEpoch
            }
            ErrorCode::CoordinatorNotAvailable
            | ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorLoadInProgress
            | ErrorCode::ConcurrentTransactions => ErrorCode::NotEnoughReplicas,
            _ => ErrorCode::InvalidTxnState,
        };
        Error::kafka(
            code,
            format!("{topic}-{index} is not part of the ongoing transaction of {id}"),
        )
    })
}

/// Whether this partition's log already holds an open transaction of `producer_id`.
fn open_here(ctx: &RequestContext, producer_id: i64, topic: &str, index: i32) -> bool {
    let Some(r) = ctx.broker.replicas.get(topic, index) else {
        return false;
    };
    r.log()
        .lock()
        .map(|log| {
            log.ongoing_transactions()
                .iter()
                .any(|(p, _)| *p == producer_id)
        })
        .unwrap_or(false)
}

/// One partition after its append: answered, or waiting for the high watermark to pass its
/// batch (acks=all).
enum Appended {
    Done(PartitionProduceResponse),
    Committing {
        replica: Arc<Replica>,
        info: AppendInfo,
        epoch: i32,
        topic: String,
        index: i32,
        timeout: Duration,
    },
}

impl Appended {
    /// The partition's response, once its batch is committed (acks=all: answered once it is
    /// below the high watermark — a duplicate too: the original may still sit above the HW,
    /// a retry that reached the leader before the followers did, and acknowledging it there
    /// would acknowledge a batch a failover can truncate; Kafka's DelayedProduce waits on the
    /// duplicate's last offset as well).
    async fn committed(self) -> PartitionProduceResponse {
        match self {
            Appended::Done(r) => r,
            Appended::Committing {
                replica,
                info,
                epoch,
                topic,
                index,
                timeout,
            } => {
                let waited = replica
                    .wait_committed(info.last_offset, epoch, timeout)
                    .await;
                answered(&topic, index, waited.map(|()| info))
            }
        }
    }
}

fn answered(
    topic: &str,
    index: i32,
    result: Result<AppendInfo, Error>,
) -> PartitionProduceResponse {
    match result {
        Ok(info) => PartitionProduceResponse::default()
            .with_index(index)
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(info.log_append_time)
            .with_log_start_offset(info.log_start_offset),
        Err(e) => {
            if e.is_broker_fault() {
                tracing::error!("append to {topic}-{index} failed: {e}");
            } else {
                tracing::debug!("produce to {topic}-{index} refused: {e}");
            }
            failed(index, &e)
        }
    }
}

/// Validates and appends one partition's batch; with acks=all, the wait for the high
/// watermark is left to [`Appended::committed`] unless the batch is committed already (a
/// single replica, whose high watermark moves with the append).
async fn produce_partition(
    ctx: &RequestContext,
    topic: &str,
    index: i32,
    records: Option<Bytes>,
    acks: i16,
    timeout: Duration,
    transactional_id: Option<&str>,
) -> Appended {
    let result: Result<(Arc<Replica>, AppendInfo, i32), Error> = async {
        ctx.authorize_topic(AclOperation::Write, topic)?;
        let batch = single_batch(records)?;
        // Kafka's Produce never creates a topic (only Metadata with
        // `allow_auto_topic_creation` does): an unknown partition is refused first.
        if ctx
            .broker
            .metadata
            .image()
            .partition(topic, index)
            .is_none()
        {
            return Err(Error::kafka(
                ErrorCode::UnknownTopicOrPartition,
                format!("This server does not host this topic-partition: {topic}-{index}"),
            ));
        }
        verify_transaction(ctx, &batch, transactional_id, topic, index).await?;
        let image = ctx.broker.metadata.image();
        let replica = ctx.broker.replicas.leader(&image, topic, index)?;
        let epoch = replica.leader_epoch();
        let info = replica.append_as_leader(batch, acks).await?;
        Ok((replica, info, epoch))
    }
    .await;
    let (replica, info, epoch) = match result {
        Ok(appended) => appended,
        Err(e) => return Appended::Done(answered(topic, index, Err(e))),
    };
    if acks != -1 {
        return Appended::Done(answered(topic, index, Ok(info)));
    }
    // Committed already (the HW moved with the append): answered now.
    if let Some(done) = replica
        .wait_committed(info.last_offset, epoch, timeout)
        .now_or_never()
    {
        return Appended::Done(answered(topic, index, done.map(|()| info)));
    }
    Appended::Committing {
        replica,
        info,
        epoch,
        topic: topic.to_string(),
        index,
        timeout,
    }
}

pub async fn handle(ctx: &RequestContext, req: ProduceRequest) -> Reply<ProduceResponse> {
    let acks = req.acks;
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let txn_id_owned = req.transactional_id.as_ref().map(|t| t.to_string());
    let txn_id = txn_id_owned.as_deref();
    // Kafka: a transactional id the client may not WRITE fails every partition.
    let txn_denied = txn_id.and_then(|id| ctx.authorize_txn_id(AclOperation::Write, id).err());
    let mut appended = Vec::with_capacity(req.topic_data.len());
    let image = ctx.broker.metadata.image();
    for topic in req.topic_data {
        // v13+ names the topic by id (see the module doc).
        let name = if ctx.version >= 13 {
            image.topic_by_id(topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let partitions = match name {
            None => {
                let e = Error::kafka(
                    ErrorCode::UnknownTopicId,
                    format!("unknown topic id {}", topic.topic_id),
                );
                topic
                    .partition_data
                    .iter()
                    .map(|p| Appended::Done(failed(p.index, &e)))
                    .collect()
            }
            Some(_) if !matches!(acks, -1..=1) || txn_denied.is_some() => {
                let e = txn_denied
                    .as_ref()
                    .map(|e| Error::kafka(e.code(), e.message()))
                    .unwrap_or_else(|| {
                        Error::kafka(
                            ErrorCode::InvalidRequiredAcks,
                            format!("acks must be -1, 0 or 1, not {acks}"),
                        )
                    });
                topic
                    .partition_data
                    .iter()
                    .map(|p| Appended::Done(failed(p.index, &e)))
                    .collect()
            }
            Some(name) => {
                join_all(topic.partition_data.into_iter().map(|p| {
                    produce_partition(ctx, &name, p.index, p.records, acks, timeout, txn_id)
                }))
                .await
            }
        };
        // Only the field of the version: the id from v13, the name before.
        let named = if ctx.version >= 13 {
            TopicProduceResponse::default().with_topic_id(topic.topic_id)
        } else {
            TopicProduceResponse::default().with_name(topic.name)
        };
        appended.push((named, partitions));
    }
    if acks == 0 {
        return Reply::Silent;
    }
    let waiting = appended
        .iter()
        .flat_map(|(_, ps)| ps)
        .any(|p| matches!(p, Appended::Committing { .. }));
    let (broker, listener, version) = (ctx.broker.clone(), ctx.listener.clone(), ctx.version);
    let answer = async move {
        let mut responses = Vec::with_capacity(appended.len());
        for (named, partitions) in appended {
            let partitions = join_all(partitions.into_iter().map(Appended::committed)).await;
            responses.push(named.with_partition_responses(partitions));
        }
        let mut resp = ProduceResponse::default().with_responses(responses);
        let image = broker.metadata.image();
        super::leader_hints::add_to_produce(&mut resp, &image, &listener, version);
        resp
    };
    // Appended, waiting for the high watermark only: the connection may append its next
    // Produce meanwhile (see the module doc).
    if waiting {
        Reply::Later(Box::pin(answer))
    } else {
        Reply::Send(answer.await)
    }
}
