//! ISR changes and min.insync.replicas on one node: AlterPartition (v2–3) raw on a combined
//! node's CONTROLLER listener (a broker listener does not serve it), for every check a single
//! node can reach (stale broker epoch, unknown topic id, a newer epoch =
//! NOT_CONTROLLER, fenced leader epoch, invalid update version, an ISR without the leader or
//! with a non-replica, an ineligible member), the network AlterPartition client, and an acks=all produce to a topic with
//! `min.insync.replicas=2` at replication factor 1 (effective min ISR = min(2, 1) = 1:
//! accepted, as Kafka accepts it).

use crate::support::raw;
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};
use uuid::Uuid;

const NOT_CONTROLLER: i16 = 41;
const INVALID_REQUEST: i16 = 42;
const FENCED_LEADER_EPOCH: i16 = 74;
const STALE_BROKER_EPOCH: i16 = 77;
const INVALID_UPDATE_VERSION: i16 = 95;
const UNKNOWN_TOPIC_ID: i16 = 100;
const INELIGIBLE_REPLICA: i16 = 107;

/// (node id, broker epoch, topic id) of `t` on the broker.
fn ids(broker: &TestBroker, t: &str) -> (i32, i64, Uuid) {
    let name = t.to_string();
    broker.with_broker(move |b| async move {
        let image = b.metadata.image();
        let (id, reg) = image.brokers.iter().next().expect("registered");
        (*id, reg.epoch, image.topic(&name).expect("topic").id)
    })
}

/// A node in both roles with a CONTROLLER listener, the only one serving AlterPartition.
struct Alter {
    broker: i32,
    broker_epoch: i64,
    topic_id: Uuid,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: Vec<(i32, i64)>,
}

fn alter(c: &mut RawClient, version: i16, a: &Alter) -> AlterPartitionResponse {
    let mut p = PartitionData::default()
        .with_partition_index(0)
        .with_leader_epoch(a.leader_epoch)
        .with_partition_epoch(a.partition_epoch);
    if version >= 3 {
        p = p.with_new_isr_with_epochs(
            a.isr
                .iter()
                .map(|(id, e)| {
                    BrokerState::default()
                        .with_broker_id(BrokerId(*id))
                        .with_broker_epoch(*e)
                })
                .collect(),
        );
    } else {
        p = p.with_new_isr(a.isr.iter().map(|(id, _)| BrokerId(*id)).collect());
    }
    let req = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(a.broker))
        .with_broker_epoch(a.broker_epoch)
        .with_topics(vec![TopicData::default()
            .with_topic_id(a.topic_id)
            .with_partitions(vec![p])]);
    c.call(&req, version)
}

/// The partition's error code (the response must carry exactly it).
fn code(c: &mut RawClient, version: i16, a: &Alter) -> i16 {
    let r = alter(c, version, a);
    assert_eq!(r.error_code, 0, "top level");
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].topic_id, a.topic_id);
    r.topics[0].partitions[0].error_code
}

#[test]
fn alter_partition_checks_as_kafkas_controller() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::combined(dir.path());
    let mut admin = RawClient::connect(&broker.listener_addr("PLAINTEXT").to_string());
    assert_eq!(raw::create_topic(&mut admin, "ap", 1, &[]), 0);
    let (node, epoch, topic_id) = ids(&broker, "ap");
    let mut c = RawClient::connect(&broker.listener_addr("CONTROLLER").to_string());
    let valid = || Alter {
        broker: node,
        broker_epoch: epoch,
        topic_id,
        leader_epoch: 0,
        partition_epoch: 0,
        isr: vec![(node, -1)],
    };
    for v in 2..=3 {
        // The ISR it already has: accepted, nothing changes.
        let r = alter(&mut c, v, &valid());
        assert_eq!(r.error_code, 0);
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, 0, "v{v}");
        assert_eq!(p.leader_id, BrokerId(node));
        assert_eq!(p.isr, vec![BrokerId(node)]);
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));

        let r = alter(
            &mut c,
            v,
            &Alter {
                broker_epoch: epoch + 7,
                ..valid()
            },
        );
        assert_eq!(r.error_code, STALE_BROKER_EPOCH, "v{v}");
        assert!(r.topics.is_empty());
        let r = alter(
            &mut c,
            v,
            &Alter {
                broker: node + 5,
                ..valid()
            },
        );
        assert_eq!(
            r.error_code, STALE_BROKER_EPOCH,
            "v{v}: unregistered broker"
        );

        let cases = [
            (
                Alter {
                    topic_id: Uuid::from_u128(99),
                    ..valid()
                },
                UNKNOWN_TOPIC_ID,
            ),
            (
                Alter {
                    leader_epoch: 1,
                    ..valid()
                },
                NOT_CONTROLLER,
            ),
            (
                Alter {
                    partition_epoch: 1,
                    ..valid()
                },
                NOT_CONTROLLER,
            ),
            (
                Alter {
                    leader_epoch: -1,
                    ..valid()
                },
                FENCED_LEADER_EPOCH,
            ),
            (
                Alter {
                    partition_epoch: -1,
                    ..valid()
                },
                INVALID_UPDATE_VERSION,
            ),
            (
                Alter {
                    isr: vec![],
                    ..valid()
                },
                INVALID_REQUEST,
            ),
            (
                Alter {
                    isr: vec![(node, -1), (node + 1, -1)],
                    ..valid()
                },
                INVALID_REQUEST,
            ),
        ];
        for (a, want) in cases {
            assert_eq!(code(&mut c, v, &a), want, "v{v}");
        }
    }
    // v3 names each member's broker epoch: a stale one makes it ineligible.
    let a = Alter {
        isr: vec![(node, epoch + 1)],
        ..valid()
    };
    assert_eq!(code(&mut c, 3, &a), INELIGIBLE_REPLICA);
    let a = Alter {
        isr: vec![(node, epoch)],
        ..valid()
    };
    assert_eq!(code(&mut c, 3, &a), 0);
    // Nothing above changed the partition.
    let r = alter(&mut c, 2, &valid());
    assert_eq!(r.topics[0].partitions[0].partition_epoch, 0);
}

#[test]
fn min_insync_above_the_replication_factor_accepts_acks_all() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(&mut c, "mi", 1, &[("min.insync.replicas", "2")]),
        0
    );
    for acks in [-1i16, 1] {
        let batch = encode_batch(&[(None, "v")], None, now_ms());
        let resp = c.call(&raw::produce_request("mi", 0, batch, acks), 9);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "acks={acks}");
    }
    let fetched = raw::fetch(&mut c, "mi", 0, 0, 1 << 20);
    assert_eq!(fetched.high_watermark, 2);
    assert_eq!(
        raw::batch_ranges(fetched.records.as_ref().expect("records")),
        vec![(0, 0), (1, 1)]
    );
}

#[test]
fn the_alter_partition_client_reaches_the_controller_and_moves_past_a_dead_voter() {
    use gregor::peer::{PeerPool, PeerSettings};
    use gregor::replica::alter_partition_client::PeerAlterPartition;
    use gregor::replica::isr::AlterIsr;
    use gregor::replica::isr_driver::{AlterPartitionSender, IsrCall};
    use std::sync::Arc;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::combined(dir.path());
    let mut c = RawClient::connect(&broker.listener_addr("PLAINTEXT").to_string());
    assert_eq!(raw::create_topic(&mut c, "cl", 1, &[]), 0);
    let (node, epoch, topic_id) = ids(&broker, "cl");
    let dead = format!("127.0.0.1:{}", crate::support::free_port());
    let voters = vec![
        (7, dead),
        (node, broker.listener_addr("CONTROLLER").to_string()),
    ];
    let call = IsrCall {
        broker_id: node,
        broker_epoch: epoch,
        topic_id,
        partition: 0,
        alter: AlterIsr {
            leader_epoch: 0,
            partition_epoch: 0,
            new_isr: vec![node],
        },
        member_epochs: vec![],
    };
    let replies = broker.with_broker(move |_| async move {
        let pool = Arc::new(PeerPool::new(PeerSettings::for_node(node)));
        let client =
            PeerAlterPartition::new(pool, voters, Arc::new(|| None), Duration::from_secs(5));
        let first = client.send(call.clone()).await;
        let second = client.send(call.clone()).await;
        let stale = client
            .send(IsrCall {
                broker_epoch: epoch + 1,
                ..call
            })
            .await;
        (first, second, stale)
    });
    use gregor::error::ErrorCode;
    assert_eq!(replies.0, Err(ErrorCode::RequestTimedOut), "dead voter");
    let ok = replies.1.expect("answered by the live voter");
    assert_eq!(
        (ok.isr, ok.leader_epoch, ok.partition_epoch),
        (vec![node], 0, 0)
    );
    assert_eq!(replies.2, Err(ErrorCode::StaleBrokerEpoch));
}

#[test]
fn alter_partition_is_served_on_the_controller_listener_only() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::combined(dir.path());
    let mut c = RawClient::connect(&broker.listener_addr("PLAINTEXT").to_string());
    assert_eq!(raw::create_topic(&mut c, "ctl", 1, &[]), 0);
    let (node, epoch, topic_id) = ids(&broker, "ctl");
    let mut ctl = RawClient::connect(&broker.listener_addr("CONTROLLER").to_string());
    let a = Alter {
        broker: node,
        broker_epoch: epoch,
        topic_id,
        leader_epoch: 0,
        partition_epoch: 0,
        isr: vec![(node, epoch)],
    };
    let r = alter(&mut ctl, 3, &a);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(r.topics[0].partitions[0].isr, vec![BrokerId(node)]);
    let stale = Alter {
        broker_epoch: epoch - 1,
        ..a
    };
    assert_eq!(alter(&mut ctl, 3, &stale).error_code, STALE_BROKER_EPOCH);
    // A broker listener closes the connection, as for any API it does not serve.
    let frame = c.frame(&AlterPartitionRequest::default(), 3);
    c.send_raw(&frame);
    assert!(
        c.is_closed(),
        "AlterPartition answered on a broker listener"
    );
}
