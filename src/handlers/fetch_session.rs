//! Fetch sessions (KIP-227) around the Fetch handler: [`plan`] turns a request into the
//! partitions to read (the request's, in its order, for full and sessionless requests; the
//! session's, in its rotated order, for incremental ones) and [`Plan::finish`] turns the read
//! into the response (a new session for a full request the cache admits; only changed
//! partitions, and the rotation, for an incremental one). The cache and its rules are
//! `replica::fetch_sessions`; this file only maps the wire shapes.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::handlers::RequestContext;
use crate::replica::fetch_sessions::{
    Begin, CachedPartition, FetchParams, FetchSessionCache, PartitionKey, PartitionOutcome,
    SharedSession,
};

/// How the response of one request is made (see the module doc).
pub enum Plan {
    Sessionless,
    /// The request's partitions, to cache with their answers if a session is created.
    Full {
        privileged: bool,
        params: Vec<(PartitionKey, FetchParams)>,
    },
    Incremental {
        session: SharedSession,
        id: i32,
    },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A topic's session key: its name (v7–12); a nameless topic by its id.
fn topic_key(name: &TopicName, id: &uuid::Uuid) -> String {
    if name.is_empty() && !id.is_nil() {
        id.to_string()
    } else {
        name.to_string()
    }
}

fn params(p: &FetchPartition) -> FetchParams {
    FetchParams {
        fetch_offset: p.fetch_offset,
        max_bytes: p.partition_max_bytes,
        current_leader_epoch: p.current_leader_epoch,
        last_fetched_epoch: p.last_fetched_epoch,
        log_start_offset: p.log_start_offset,
    }
}

/// Decides how `req` is served and, for an incremental request, replaces its topics with
/// the session's partitions in serving order (consecutive partitions of one topic grouped,
/// so a topic may appear more than once, as in Kafka's responses). `Err`: the top-level
/// error response (70, 71).
pub fn plan(
    ctx: &RequestContext,
    req: &mut FetchRequest,
    replica_id: i32,
) -> Result<Plan, FetchResponse> {
    plan_with(
        &ctx.broker.fetch_sessions,
        ctx.version,
        req,
        replica_id,
        now_ms(),
    )
}

pub fn plan_with(
    cache: &FetchSessionCache,
    version: i16,
    req: &mut FetchRequest,
    replica_id: i32,
    now: u64,
) -> Result<Plan, FetchResponse> {
    if version < 7 {
        return Ok(Plan::Sessionless);
    }
    let epoch = req.session_epoch;
    if epoch == -1 {
        // Sessionless (gregor's own replica fetcher, librdkafka): nothing to copy.
        return match cache.begin(req.session_id, epoch, now, vec![], &[]) {
            Begin::Error(code) => Err(error_response(code)),
            _ => Ok(Plan::Sessionless),
        };
    }
    let fetch: Vec<(PartitionKey, FetchParams)> = req
        .topics
        .iter()
        .flat_map(|t| {
            let topic = topic_key(&t.topic, &t.topic_id);
            t.partitions
                .iter()
                .map(move |p| ((topic.clone(), p.partition), params(p)))
        })
        .collect();
    let forgotten: Vec<PartitionKey> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let topic = topic_key(&t.topic, &t.topic_id);
            t.partitions.iter().map(move |&p| (topic.clone(), p))
        })
        .collect();
    let privileged = replica_id >= 0;
    // A full request's partitions are kept for the session made after the read; an
    // incremental one's go into its session now.
    let (fetch, for_session) = if epoch == 0 {
        (vec![], fetch)
    } else {
        (fetch, vec![])
    };
    match cache.begin(req.session_id, epoch, now, fetch, &forgotten) {
        Begin::Sessionless => Ok(Plan::Sessionless),
        Begin::Full => Ok(Plan::Full {
            privileged,
            params: for_session,
        }),
        Begin::Error(code) => Err(error_response(code)),
        Begin::Incremental {
            session,
            id,
            partitions,
        } => {
            req.topics = group(partitions, version >= 13);
            Ok(Plan::Incremental { session, id })
        }
    }
}

/// A session error: top-level code, session id 0, no partitions (as Kafka answers).
fn error_response(code: i16) -> FetchResponse {
    FetchResponse::default()
        .with_error_code(code)
        .with_session_id(0)
}

/// The session's partitions as request topics, consecutive partitions of a topic together;
/// `by_id` (a v13+ request): the keys are topic ids.
fn group(partitions: Vec<(PartitionKey, FetchParams)>, by_id: bool) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ((topic, index), p) in partitions {
        let part = FetchPartition::default()
            .with_partition(index)
            .with_fetch_offset(p.fetch_offset)
            .with_partition_max_bytes(p.max_bytes)
            .with_current_leader_epoch(p.current_leader_epoch)
            .with_last_fetched_epoch(p.last_fetched_epoch)
            .with_log_start_offset(p.log_start_offset);
        match topics.last_mut() {
            Some(t) if topic_key(&t.topic, &t.topic_id) == topic => t.partitions.push(part),
            _ => topics.push(match by_id.then(|| uuid::Uuid::parse_str(&topic)) {
                // v13+ names topics by id (KIP-516), and so do the session's keys
                // (`topic_key`): the rebuilt request asks by id again.
                Some(Ok(id)) => FetchTopic::default()
                    .with_topic_id(id)
                    .with_partitions(vec![part]),
                _ => FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(vec![part]),
            }),
        }
    }
    topics
}

fn outcome(p: &PartitionData) -> PartitionOutcome {
    PartitionOutcome {
        record_bytes: p.records.as_ref().map_or(0, |r| r.len()),
        high_watermark: p.high_watermark,
        log_start_offset: p.log_start_offset,
        error_code: p.error_code,
        diverging: p.diverging_epoch.epoch >= 0,
        preferred_read_replica: p.preferred_read_replica.0 >= 0,
    }
}

impl Plan {
    /// The response for the read `responses` (in the order the partitions were read).
    pub fn finish(
        self,
        ctx: &RequestContext,
        responses: Vec<FetchableTopicResponse>,
    ) -> FetchResponse {
        self.finish_with(&ctx.broker.fetch_sessions, responses, now_ms())
    }

    pub fn finish_with(
        self,
        cache: &FetchSessionCache,
        mut responses: Vec<FetchableTopicResponse>,
        now: u64,
    ) -> FetchResponse {
        let keyed =
            |responses: &[FetchableTopicResponse]| -> Vec<(PartitionKey, PartitionOutcome)> {
                responses
                    .iter()
                    .flat_map(|t| {
                        let topic = topic_key(&t.topic, &t.topic_id);
                        t.partitions
                            .iter()
                            .map(move |p| ((topic.clone(), p.partition_index), outcome(p)))
                    })
                    .collect()
            };
        let session_id = match self {
            Plan::Sessionless => 0,
            Plan::Full { privileged, params } => {
                let outcomes: std::collections::HashMap<PartitionKey, PartitionOutcome> =
                    keyed(&responses).into_iter().collect();
                let cached = params
                    .into_iter()
                    .map(|(k, p)| {
                        let sent = outcomes.get(&k).copied().unwrap_or_default();
                        let c = CachedPartition::answered(p, &sent);
                        (k, c)
                    })
                    .collect();
                cache.maybe_create(now, privileged, cached)
            }
            Plan::Incremental { session, id } => {
                let outcomes = keyed(&responses);
                let keep = {
                    let mut s = session.lock().unwrap_or_else(|e| e.into_inner());
                    s.respond(&outcomes)
                };
                let mut flags = keep.into_iter();
                for t in responses.iter_mut() {
                    t.partitions.retain(|_| flags.next().unwrap_or(true));
                }
                responses.retain(|t| !t.partitions.is_empty());
                id
            }
        };
        FetchResponse::default()
            .with_responses(responses)
            .with_session_id(session_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> FetchParams {
        FetchParams {
            fetch_offset: offset,
            max_bytes: 1024,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            log_start_offset: -1,
        }
    }

    /// v13+ sessions are keyed by topic id: the incremental request rebuilt from the session
    /// must ask for the topic by id again, else no partition resolves (the Java consumer got
    /// nothing after a session's first fetch).
    #[test]
    fn session_partitions_keyed_by_id_are_fetched_by_id() {
        let id = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        let topics = group(
            vec![((id.to_string(), 1), at(5)), ((id.to_string(), 0), at(7))],
            true,
        );
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].topic_id, id);
        assert!(topics[0].topic.is_empty());
        let offsets: Vec<(i32, i64)> = topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition, p.fetch_offset))
            .collect();
        assert_eq!(offsets, vec![(1, 5), (0, 7)]);
        // Before v13 a key is a name, even one that reads as a UUID.
        let topics = group(vec![((id.to_string(), 0), at(9))], false);
        assert_eq!(topics[0].topic.as_str(), id.to_string());
        assert!(topics[0].topic_id.is_nil());
    }
}
