//! Pipelined acks=all on a live 3-node cluster (docs/design/replication.md, "Pipelined
//! acks=all"): Produce requests sent back to back on one connection are appended while the
//! earlier ones wait for their high watermark, yet every answer leaves in request order, only
//! once its batch is committed, and a request of another kind pipelined behind them is served
//! only after all of them are answered (Kafka's order); and a Produce still buffered when its
//! client left while an earlier acks=all answer was awaited is dropped, not appended.

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;

use super::{create, state_where, three_nodes, values, PATIENCE};
use crate::support::replicas::{self, index_of};
use crate::support::{raw, wait_for, RawClient};

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

/// The Jepsen duplicate of issue 13 (`p1-5392` at two offsets): librdkafka gives up on a
/// request that outlives `request.timeout.ms` by closing the connection, which fails every
/// request in flight on it as "possibly persisted" and re-queues their batches; a pending
/// epoch bump (after any message timeout, which a paused node makes likely) then renumbers
/// them (epoch + 1, sequence 0), so a batch the broker appended anyway is written twice — no
/// broker can tell the renumbered copy from a new batch. So a Produce that was still
/// unanswered behind an earlier acks=all one (pipelined, or only buffered) must not be
/// appended once the client is gone.
#[test]
fn a_produce_buffered_behind_a_waiting_one_is_dropped_when_its_client_left() {
    // Timings long enough that the pause below fences and shrinks nothing.
    let mut c = three_nodes(&[
        ("broker.session.timeout.ms", "8000"),
        ("replica.lag.time.max.ms", "8000"),
    ]);
    let ql = replicas::quorum_leader(&c.broker_addr(0));
    let follower = (0..3).find(|&i| Some(c.id(i)) != ql).expect("a node");
    let leader = (0..3).find(|&i| i != follower).expect("another node");
    let (l, f) = (c.id(leader), c.id(follower));
    let addr = c.broker_addr(leader);
    for (topic, assigned) in [("stall", vec![l, f]), ("idem", vec![l])] {
        wait_for(&format!("{topic} created"), PATIENCE, || {
            let cfg = [("min.insync.replicas", "2")];
            matches!(
                replicas::create_assigned(&addr, topic, &assigned, &cfg),
                Some(0) | Some(36)
            )
            .then_some(())
        });
        state_where(&c, topic, 0, "its leader and full ISR", |s| {
            s.leader == l && s.isr.len() == assigned.len()
        });
    }
    let (pid, epoch) = raw::init_producer_id(&mut RawClient::connect(&addr), None);

    // A: acks=all on a partition whose only follower is paused, so it waits; B: the next
    // batch of an idempotent producer, on the same connection, behind it.
    c.pause(follower);
    let mut gone = RawClient::connect(&addr);
    let a = raw::produce_request("stall", 0, replicas::batch(&values("a", 1)), -1)
        .with_timeout_ms(20_000);
    let b_batch = raw::encode_batch(&[(None, "b")], Some((pid, epoch, 0)), raw::now_ms());
    let b = raw::produce_request("idem", 0, b_batch, -1);
    let mut frames = gone.frame(&a, PRODUCE_VERSION);
    frames.extend(gone.frame(&b, PRODUCE_VERSION));
    gone.send_raw(&frames);
    wait_for("A appended on the leader", PATIENCE, || {
        (replicas::batches(c.data_dir(leader), "stall", 0).len() == 1).then_some(())
    });
    // The client gives up on A (its request timeout) and closes the connection.
    drop(gone);
    c.resume(follower);
    wait_for("A committed", PATIENCE, || {
        (replicas::latest(&addr, "stall", 0) == Some((0, 1))).then_some(())
    });

    // librdkafka's renumbered resend of B after its epoch bump: a new batch to any broker.
    let resend = raw::encode_batch(&[(None, "b")], Some((pid, epoch + 1, 0)), raw::now_ms());
    assert_eq!(
        replicas::produce(&addr, "idem", 0, resend, -1),
        Some((0, 0)),
        "B was not appended before its resend"
    );
    let (records, hw) = replicas::read_all(&addr, "idem", 0).expect("read");
    assert_eq!(
        (records, hw),
        (vec![(0, "b".to_string())], 1),
        "B written once"
    );
}
