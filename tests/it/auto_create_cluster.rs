//! Auto-created topics on a 3-node cluster: a Metadata (allow_auto_topic_creation) or a
//! producer naming an unknown topic at a node that is not the active controller gets the topic
//! created by the controller (Kafka's AutoTopicCreationManager forwards CreateTopics), with
//! the creating node's `num.partitions` and `default.replication.factor`; meanwhile the client
//! sees retriable errors only — never NOT_CONTROLLER, which librdkafka (kcat) turned into
//! failed deliveries.

use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

use crate::support::cluster::Cluster;
use crate::support::replicas::{call_patient as call, quorum_leader};
use crate::support::{clients, raw, wait_for};

const PATIENCE: Duration = Duration::from_secs(20);
const NOT_CONTROLLER: i16 = 41;

#[test]
fn a_node_that_is_not_the_controller_auto_creates_topics_through_it() {
    let c = Cluster::start_with(
        3,
        &[("default.replication.factor", "3"), ("num.partitions", "2")],
    );
    wait_for("every broker registered and unfenced", PATIENCE, || {
        let req = MetadataRequest::default().with_topics(Some(vec![]));
        (call(&c.broker_addr(0), &req, 12)?.brokers.len() == 3).then_some(())
    });
    let leader = wait_for("a quorum leader", PATIENCE, || {
        quorum_leader(&c.broker_addr(0))
    });
    let follower = (0..c.len())
        .find(|&i| c.id(i) != leader)
        .expect("a follower");
    let addr = c.broker_addr(follower);

    // Metadata with auto-creation at the follower: retriable answers until its image has the
    // topic, then two partitions of three replicas, each with a leader.
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(raw::topic("auto-meta")))
        ]))
        .with_allow_auto_topic_creation(true);
    let mut codes = Vec::new();
    let parts = wait_for("auto-meta to be created with leaders", PATIENCE, || {
        let resp = call(&addr, &req, 12)?;
        let t = resp.topics.first()?;
        codes.push(t.error_code);
        let ready = t.error_code == 0
            && t.partitions.len() == 2
            && t.partitions.iter().all(|p| p.leader_id.0 >= 0);
        ready.then(|| {
            t.partitions
                .iter()
                .map(|p| p.replica_nodes.len())
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(parts, vec![3, 3]);
    assert!(!codes.contains(&NOT_CONTROLLER), "answers: {codes:?}");

    // A producer that only knows the follower: its record is acknowledged (acks=all) and
    // read back.
    let p = clients::producer(&addr, &[("acks", "all")]);
    let delivery = futures::executor::block_on(p.send(
        FutureRecord::to("auto-produce").key("k").payload("v"),
        Duration::from_secs(30),
    ))
    .expect("delivered");
    let (partition, offset) = (delivery.partition, delivery.offset);
    let got = clients::consume(&addr, "auto-produce", &[partition], Offset::Beginning, 1);
    let rec = got.get(&(partition, offset)).expect("the record");
    assert_eq!(
        (rec.key.as_deref(), rec.value.as_deref()),
        (Some(&b"k"[..]), Some(&b"v"[..]))
    );
}
