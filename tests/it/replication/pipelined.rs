//! Pipelined acks=all on a live 3-node cluster (docs/design/replication.md, "Pipelined
//! acks=all"): Produce requests sent back to back on one connection are appended while the
//! earlier ones wait for their high watermark, yet every answer leaves in request order, only
//! once its batch is committed, and a request of another kind pipelined behind them is served
//! only after all of them are answered (Kafka's order).

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;

use super::{create, state_where, three_nodes, values};
use crate::support::replicas::{self, index_of};
use crate::support::{raw, RawClient};

const PRODUCE_VERSION: i16 = 9;
const LIST_OFFSETS_VERSION: i16 = 7;

/// The correlation id of a response frame and its body.
fn header(mut frame: Bytes, key: ApiKey, version: i16) -> (i32, Bytes) {
    let h = ResponseHeader::decode(&mut frame, key.response_header_version(version))
        .expect("response header");
    (h.correlation_id, frame)
}

#[test]
fn pipelined_acks_all_produces_are_answered_in_order_once_committed() {
    let c = three_nodes(&[]);
    let topic = "pipelined";
    create(&c, topic, 1, 3, &[("min.insync.replicas", "2")]);
    let s = state_where(&c, topic, 0, "a leader", |s| s.leader >= 0);
    let addr = c.broker_addr(index_of(&c, s.leader));
    let mut client = RawClient::connect(&addr);

    // 20 acks=all batches of 10 records, then a ListOffsets (latest: the high watermark for a
    // consumer), all written before any answer is read.
    let n: usize = 20;
    let mut frames = Vec::new();
    for i in 0..n {
        let batch = replicas::batch(&values(&format!("p{i}"), 10));
        let req = raw::produce_request(topic, 0, batch, -1);
        frames.extend(client.frame(&req, PRODUCE_VERSION));
    }
    let list = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(raw::topic(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    frames.extend(client.frame(&list, LIST_OFFSETS_VERSION));
    client.send_raw(&frames);

    for i in 0..n {
        let frame = client.read_frame().expect("a produce answer");
        let (correlation, mut body) = header(frame, ApiKey::Produce, PRODUCE_VERSION);
        assert_eq!(correlation, i as i32 + 1, "answers leave in request order");
        let resp = ProduceResponse::decode(&mut body, PRODUCE_VERSION).expect("produce");
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset),
            (0, 10 * i as i64),
            "batch {i} appended in order"
        );
    }
    // Served after every produce was answered, i.e. committed: the high watermark is at the
    // end of the last batch.
    let frame = client.read_frame().expect("the list offsets answer");
    let (correlation, mut body) = header(frame, ApiKey::ListOffsets, LIST_OFFSETS_VERSION);
    assert_eq!(correlation, n as i32 + 1);
    let resp = ListOffsetsResponse::decode(&mut body, LIST_OFFSETS_VERSION).expect("offsets");
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.offset), (0, 10 * n as i64));

    // Every acknowledged record is readable below the high watermark, in order.
    let (records, hw) = replicas::read_all(&addr, topic, 0).expect("read");
    assert_eq!(hw, 10 * n as i64);
    let want: Vec<String> = (0..n).flat_map(|i| values(&format!("p{i}"), 10)).collect();
    let got: Vec<String> = records.into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, want);
}
