//! Which Produce requests a connection may serve while earlier acks=all answers are still due
//! (pipelining, `server/connection.rs` and docs/design/replication.md §11).
//!
//! Only those whose every batch is neither idempotent nor transactional (producer id −1, no
//! transactional id). An idempotent batch served behind a waiting answer is appended even
//! though its client may still give up on the connection (librdkafka closes it when a request
//! outlives `request.timeout.ms`, failing everything in flight as "possibly persisted") and
//! later send it again renumbered after an epoch bump — a second copy no broker can tell from
//! a new batch. With Kafka's order (one request at a time) such a request is not even read, so
//! its resend is its only copy; gregor keeps that order for idempotent producers. A batch
//! without a producer id promises nothing about retries (at least once), so serving it early
//! changes only timing. Anything that does not decode cleanly is not pipelined: its handler
//! reports the error in order.
//!
//! Thread-safety: pure functions of the frame.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
use kafka_protocol::protocol::Decodable;

use crate::log::batch::BatchWalker;
use crate::protocol::codec::peek_header;

/// The magic byte's position in a record batch header, and the one value with a producer id.
const MAGIC_POS: usize = 16;
const MAGIC_V2: u8 = 2;

/// Whether `frame` (a request, size prefix removed) is a Produce that may be served while
/// earlier answers of its connection are due (see the module doc).
pub fn may_pipeline(frame: &Bytes) -> bool {
    let Some((key, version, _)) = peek_header(frame) else {
        return false;
    };
    let Ok(ApiKey::Produce) = ApiKey::try_from(key) else {
        return false;
    };
    let mut body = frame.clone();
    if RequestHeader::decode(&mut body, ApiKey::Produce.request_header_version(version)).is_err() {
        return false;
    }
    let Ok(req) = ProduceRequest::decode(&mut body, version) else {
        return false;
    };
    if req.transactional_id.is_some() {
        return false;
    }
    req.topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .all(|p| p.records.as_ref().is_none_or(without_producer))
}

/// Every batch in `records` is a v2 batch without a producer id, and they fill it exactly.
fn without_producer(records: &Bytes) -> bool {
    let mut walk = BatchWalker::new(records);
    let all = walk
        .by_ref()
        .all(|(at, h)| records.get(at + MAGIC_POS) == Some(&MAGIC_V2) && h.producer_id < 0);
    all && walk.position() == records.len()
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;
    use crate::log::batch::HEADER_LEN;

    /// A minimal v2 batch header (no records) with `producer_id`.
    fn batch(producer_id: i64) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[8..12].copy_from_slice(&((HEADER_LEN - 12) as i32).to_be_bytes());
        b[MAGIC_POS] = MAGIC_V2;
        b[43..51].copy_from_slice(&producer_id.to_be_bytes());
        b
    }

    fn frame(batches: &[Vec<u8>], transactional: Option<&str>) -> Bytes {
        let version = 9;
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_transactional_id(transactional.map(|t| StrBytes::from_string(t.into()).into()))
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_data(
                    batches
                        .iter()
                        .enumerate()
                        .map(|(i, b)| {
                            PartitionProduceData::default()
                                .with_index(i as i32)
                                .with_records(Some(Bytes::from(b.clone())))
                        })
                        .collect(),
                )]);
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(0)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .encode(&mut buf, ApiKey::Produce.request_header_version(version))
            .expect("header");
        req.encode(&mut buf, version).expect("body");
        buf.freeze()
    }

    #[test]
    fn only_batches_without_a_producer_id_are_pipelined() {
        assert!(may_pipeline(&frame(&[batch(-1), batch(-1)], None)));
        assert!(!may_pipeline(&frame(&[batch(-1), batch(5)], None)));
        assert!(!may_pipeline(&frame(&[batch(0)], None)));
        assert!(!may_pipeline(&frame(&[batch(-1)], Some("txn"))));
        // Not a v2 batch, trailing bytes, not a Produce, garbage: never.
        let mut old = batch(-1);
        old[MAGIC_POS] = 1;
        assert!(!may_pipeline(&frame(&[old], None)));
        let mut trailing = batch(-1);
        trailing.push(0);
        assert!(!may_pipeline(&frame(&[trailing], None)));
        let mut fetch = frame(&[batch(-1)], None).to_vec();
        fetch[1] = 1;
        assert!(!may_pipeline(&Bytes::from(fetch)));
        assert!(!may_pipeline(&Bytes::from_static(&[0, 0, 0, 9, 0, 0])));
    }
}
