//! Partition-level injected errors: a rule naming a topic (or one partition of it) with an
//! error action, on a request that names other partitions too, answers only the partitions
//! it names with the error and lets the broker serve the rest — as kfake's control
//! functions can, by editing the response. For Produce, Fetch, ListOffsets and OffsetCommit
//! (the APIs whose partitions succeed or fail one by one).
//!
//! How: Produce, ListOffsets and OffsetCommit are served without the matched partitions (the
//! request is re-encoded without them: nothing is written or committed for them); Fetch is
//! served whole (a read, and a fetch session must keep its partitions) and the matched
//! partitions' data is dropped from the answer. Then each matched partition gets its error
//! entry in the response, which is re-encoded at the request's version.
//!
//! Fetch v13+ names topics by id: [`Split::new`] is given the names of the request's topic
//! ids (from the node's metadata) so a rule by name matches them.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use uuid::Uuid;

use super::respond;
use crate::protocol::{DispatchError, Frame};

/// The APIs whose requests can be split.
pub(super) fn splittable(key: ApiKey) -> bool {
    matches!(
        key,
        ApiKey::Produce | ApiKey::Fetch | ApiKey::ListOffsets | ApiKey::OffsetCommit
    )
}

/// A topic as the request names it: by name, or by id (then `name` is empty).
#[derive(Debug, Clone, PartialEq)]
struct TopicRef {
    name: TopicName,
    id: Uuid,
}

impl TopicRef {
    fn is(&self, name: &TopicName, id: Uuid) -> bool {
        if self.id.is_nil() {
            *name == self.name
        } else {
            id == self.id
        }
    }
}

/// A request to serve in part: the body to serve and the partitions to answer with `code`.
pub(crate) struct Split {
    key: ApiKey,
    version: i16,
    code: i16,
    matched: Vec<(TopicRef, i32)>,
    body: Bytes,
}

fn decode<R: Decodable>(body: &Bytes, version: i16) -> Result<R, DispatchError> {
    let mut b = body.clone();
    R::decode(&mut b, version).map_err(|e| DispatchError::Decode(e.to_string()))
}

fn encode<R: Encodable>(r: &R, version: i16) -> Result<Bytes, DispatchError> {
    let mut buf = BytesMut::new();
    r.encode(&mut buf, version)
        .map_err(|e| DispatchError::Encode(e.to_string()))?;
    Ok(buf.freeze())
}

/// Keeps the partitions `keep` accepts (by topic and partition), dropping emptied topics;
/// returns the (topic, partition) pairs removed.
fn retain_parts<T, P>(
    topics: &mut Vec<T>,
    topic_of: impl Fn(&T) -> TopicRef,
    parts: impl Fn(&mut T) -> &mut Vec<P>,
    index: impl Fn(&P) -> i32,
    remove: &dyn Fn(&TopicRef, i32) -> bool,
) -> Vec<(TopicRef, i32)> {
    let mut removed = Vec::new();
    for t in topics.iter_mut() {
        let topic = topic_of(t);
        parts(t).retain(|p| {
            let hit = remove(&topic, index(p));
            if hit {
                removed.push((topic.clone(), index(p)));
            }
            !hit
        });
    }
    topics.retain_mut(|t| !parts(t).is_empty());
    removed
}

/// Puts an error entry for each matched partition in a response's topics (replacing one the
/// broker wrote for it), adding the topic where the response has none.
fn add_errors<T, P>(
    topics: &mut Vec<T>,
    matched: &[(TopicRef, i32)],
    is: impl Fn(&T, &TopicRef) -> bool,
    new_topic: impl Fn(&TopicRef) -> T,
    parts: impl Fn(&mut T) -> &mut Vec<P>,
    index: impl Fn(&P) -> i32,
    error: impl Fn(i32) -> P,
) {
    for (topic, p) in matched {
        let i = match topics.iter().position(|t| is(t, topic)) {
            Some(i) => i,
            None => {
                topics.push(new_topic(topic));
                topics.len() - 1
            }
        };
        let list = parts(&mut topics[i]);
        list.retain(|e| index(e) != *p);
        list.push(error(*p));
    }
}

impl Split {
    /// The split of this request for a rule whose partitions `covers` accepts (by resolved
    /// topic name and partition); `None` when it names no other partition (the whole request
    /// gets the error) or none of these, or is not splittable. `names` gives the name of a
    /// topic id.
    pub(crate) fn new(
        key: ApiKey,
        version: i16,
        body: &Bytes,
        code: i16,
        names: &dyn Fn(Uuid) -> Option<String>,
        covers: &dyn Fn(&str, i32) -> bool,
    ) -> Result<Option<Split>, DispatchError> {
        let name_of = |t: &TopicRef| -> String {
            if t.id.is_nil() {
                t.name.0.to_string()
            } else {
                names(t.id).unwrap_or_default()
            }
        };
        let hit = |t: &TopicRef, p: i32| covers(&name_of(t), p);
        let (matched, rest, served) = match key {
            ApiKey::Produce => {
                let mut r: ProduceRequest = decode(body, version)?;
                let m = retain_parts(
                    &mut r.topic_data,
                    |t| TopicRef {
                        name: t.name.clone(),
                        id: t.topic_id,
                    },
                    |t| &mut t.partition_data,
                    |p| p.index,
                    &hit,
                );
                (m, !r.topic_data.is_empty(), encode(&r, version)?)
            }
            ApiKey::ListOffsets => {
                let mut r: ListOffsetsRequest = decode(body, version)?;
                let m = retain_parts(
                    &mut r.topics,
                    |t| TopicRef {
                        name: t.name.clone(),
                        id: Uuid::nil(),
                    },
                    |t| &mut t.partitions,
                    |p| p.partition_index,
                    &hit,
                );
                (m, !r.topics.is_empty(), encode(&r, version)?)
            }
            ApiKey::OffsetCommit => {
                let mut r: OffsetCommitRequest = decode(body, version)?;
                let m = retain_parts(
                    &mut r.topics,
                    |t| TopicRef {
                        name: t.name.clone(),
                        id: t.topic_id,
                    },
                    |t| &mut t.partitions,
                    |p| p.partition_index,
                    &hit,
                );
                (m, !r.topics.is_empty(), encode(&r, version)?)
            }
            ApiKey::Fetch => {
                // Served whole; only the matched partitions are taken out of the answer.
                let mut r: FetchRequest = decode(body, version)?;
                let m = retain_parts(
                    &mut r.topics,
                    |t| TopicRef {
                        name: t.topic.clone(),
                        id: t.topic_id,
                    },
                    |t| &mut t.partitions,
                    |p| p.partition,
                    &hit,
                );
                (m, !r.topics.is_empty(), body.clone())
            }
            _ => return Ok(None),
        };
        if matched.is_empty() || !rest {
            return Ok(None);
        }
        Ok(Some(Split {
            key,
            version,
            code,
            matched,
            body: served,
        }))
    }

    /// The request body to serve.
    pub(crate) fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// The served answer with the matched partitions' errors in it; `None` (no answer: a
    /// Produce with acks=0) stays `None`.
    pub(crate) fn merge(
        &self,
        served: Option<Frame>,
        correlation_id: i32,
    ) -> Result<Option<Frame>, DispatchError> {
        let Some(frame) = served else {
            return Ok(None);
        };
        let mut bytes = Bytes::from(frame.0.concat());
        if bytes.len() < 4 {
            return Err(DispatchError::Decode("short response".into()));
        }
        bytes.advance(4);
        ResponseHeader::decode(&mut bytes, self.key.response_header_version(self.version))
            .map_err(|e| DispatchError::Decode(format!("response header: {e}")))?;
        let (m, code, v) = (&self.matched, self.code, self.version);
        let f = |r: &dyn respond::ErasedEncode| r.frame(self.key, v, correlation_id);
        let frame = match self.key {
            ApiKey::Produce => {
                let mut r: ProduceResponse = decode(&bytes, v)?;
                add_errors(
                    &mut r.responses,
                    m,
                    |t, x| x.is(&t.name, t.topic_id),
                    |x| {
                        produce_response::TopicProduceResponse::default()
                            .with_name(x.name.clone())
                            .with_topic_id(x.id)
                    },
                    |t| &mut t.partition_responses,
                    |p| p.index,
                    |p| respond::produce_error(p, code),
                );
                f(&r)
            }
            ApiKey::Fetch => {
                let mut r: FetchResponse = decode(&bytes, v)?;
                add_errors(
                    &mut r.responses,
                    m,
                    |t, x| x.is(&t.topic, t.topic_id),
                    |x| {
                        fetch_response::FetchableTopicResponse::default()
                            .with_topic(x.name.clone())
                            .with_topic_id(x.id)
                    },
                    |t| &mut t.partitions,
                    |p| p.partition_index,
                    |p| respond::fetch_error(p, code),
                );
                f(&r)
            }
            ApiKey::ListOffsets => {
                let mut r: ListOffsetsResponse = decode(&bytes, v)?;
                add_errors(
                    &mut r.topics,
                    m,
                    |t, x| x.is(&t.name, Uuid::nil()),
                    |x| {
                        list_offsets_response::ListOffsetsTopicResponse::default()
                            .with_name(x.name.clone())
                    },
                    |t| &mut t.partitions,
                    |p| p.partition_index,
                    |p| respond::list_offsets_error(p, code),
                );
                f(&r)
            }
            ApiKey::OffsetCommit => {
                let mut r: OffsetCommitResponse = decode(&bytes, v)?;
                add_errors(
                    &mut r.topics,
                    m,
                    |t, x| x.is(&t.name, t.topic_id),
                    |x| {
                        offset_commit_response::OffsetCommitResponseTopic::default()
                            .with_name(x.name.clone())
                            .with_topic_id(x.id)
                    },
                    |t| &mut t.partitions,
                    |p| p.partition_index,
                    |p| respond::offset_commit_error(p, code),
                );
                f(&r)
            }
            other => return Err(DispatchError::UnknownApi(other as i16)),
        };
        frame.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    fn topic(n: &str) -> TopicName {
        TopicName(StrBytes::from_string(n.to_string()))
    }

    #[test]
    fn a_produce_is_served_without_the_matched_partition_and_answered_with_both() {
        let data = |i| produce_request::PartitionProduceData::default().with_index(i);
        let req = ProduceRequest::default().with_acks(1).with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(topic("a"))
                .with_partition_data(vec![data(0), data(1)]),
            produce_request::TopicProduceData::default()
                .with_name(topic("b"))
                .with_partition_data(vec![data(0)]),
        ]);
        let body = encode(&req, 9).unwrap();
        let split = Split::new(ApiKey::Produce, 9, &body, 6, &|_| None, &|t, p| {
            t == "a" && p == 1
        })
        .unwrap()
        .expect("a-1 is split off");
        let served: ProduceRequest = decode(&split.body(), 9).unwrap();
        let left: Vec<(String, i32)> = served
            .topic_data
            .iter()
            .flat_map(|t| {
                t.partition_data
                    .iter()
                    .map(|p| (t.name.0.to_string(), p.index))
            })
            .collect();
        assert_eq!(left, vec![("a".to_string(), 0), ("b".to_string(), 0)]);

        // The broker's answer for what it served, then the merge.
        let ok = |i| {
            produce_response::PartitionProduceResponse::default()
                .with_index(i)
                .with_base_offset(7)
        };
        let resp = ProduceResponse::default().with_responses(vec![
            produce_response::TopicProduceResponse::default()
                .with_name(topic("a"))
                .with_partition_responses(vec![ok(0)]),
            produce_response::TopicProduceResponse::default()
                .with_name(topic("b"))
                .with_partition_responses(vec![ok(0)]),
        ]);
        let hv = ApiKey::Produce.response_header_version(9);
        let frame = crate::protocol::codec::encode_response(5, hv, &resp, 9).unwrap();
        let merged = split
            .merge(Some(Frame(vec![frame.freeze()])), 5)
            .unwrap()
            .expect("an answer");
        let mut bytes = Bytes::from(merged.0.concat());
        bytes.advance(4);
        let header = ResponseHeader::decode(&mut bytes, hv).unwrap();
        assert_eq!(header.correlation_id, 5);
        let got: ProduceResponse = decode(&bytes, 9).unwrap();
        let codes: Vec<(String, i32, i16, i64)> = got
            .responses
            .iter()
            .flat_map(|t| {
                t.partition_responses
                    .iter()
                    .map(|p| (t.name.0.to_string(), p.index, p.error_code, p.base_offset))
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                ("a".to_string(), 0, 0, 7),
                ("a".to_string(), 1, 6, -1),
                ("b".to_string(), 0, 0, 7)
            ]
        );
    }

    #[test]
    fn no_split_when_every_partition_or_none_matches() {
        let req = ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic("a"))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_partition_index(0)
                ]),
        ]);
        let body = encode(&req, 7).unwrap();
        let all = Split::new(ApiKey::ListOffsets, 7, &body, 6, &|_| None, &|_, _| true);
        assert!(all.unwrap().is_none());
        let none = Split::new(ApiKey::ListOffsets, 7, &body, 6, &|_| None, &|_, _| false);
        assert!(none.unwrap().is_none());
    }

    #[test]
    fn a_fetch_by_topic_id_matches_by_the_ids_name() {
        let id = Uuid::from_u128(42);
        let part = |i| fetch_request::FetchPartition::default().with_partition(i);
        let req = FetchRequest::default().with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![part(0), part(1)])]);
        let body = encode(&req, 13).unwrap();
        let names = |u: Uuid| (u == id).then(|| "orders".to_string());
        let split = Split::new(ApiKey::Fetch, 13, &body, 6, &names, &|t, p| {
            t == "orders" && p == 0
        })
        .unwrap()
        .expect("orders-0 is split off");
        assert_eq!(split.body(), body, "a fetch is served whole");
        assert_eq!(
            split.matched,
            vec![(
                TopicRef {
                    name: TopicName::default(),
                    id
                },
                0
            )]
        );
    }
}
