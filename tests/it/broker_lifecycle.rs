//! The broker lifecycle (issue 13 step 3): broker-only nodes register with the controller
//! through `controller.quorum.bootstrap.servers`, heartbeat, follow the metadata log as
//! observers (Fetch of `__cluster_metadata` on the CONTROLLER listener), are fenced when
//! silent for `broker.session.timeout.ms` (2 s here), come back as a new incarnation, and
//! leave through a controlled shutdown on SIGTERM. Raw BrokerRegistration/BrokerHeartbeat
//! calls check Kafka's error codes.

use std::time::Duration;

use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

use crate::support::cluster::Cluster;
use crate::support::raw::{self, topic};
use crate::support::{clients, wait_for, RawClient, TestBroker};

const WAIT: Duration = Duration::from_secs(20);

/// (broker ids, the cluster id) of a Metadata answer, with every topic.
fn metadata(addr: &str) -> MetadataResponse {
    RawClient::connect(addr).call(&MetadataRequest::default().with_topics(None), 12)
}

fn broker_ids(m: &MetadataResponse) -> Vec<i32> {
    let mut ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id.0).collect();
    ids.sort_unstable();
    ids
}

/// (error, leader, offline replicas) of one partition in a Metadata answer.
fn partition_state(m: &MetadataResponse, t: &str, p: i32) -> Option<(i16, i32, Vec<i32>)> {
    let topic = m
        .topics
        .iter()
        .find(|x| x.name.as_ref().is_some_and(|n| n.0.as_str() == t))?;
    let part = topic.partitions.iter().find(|x| x.partition_index == p)?;
    Some((
        part.error_code,
        part.leader_id.0,
        part.offline_replicas.iter().map(|b| b.0).collect(),
    ))
}

/// CreateTopics with a manual assignment: partition i on `replicas[i]`.
fn create_assigned(addr: &str, name: &str, replicas: &[i32]) -> i16 {
    let assignments = replicas
        .iter()
        .enumerate()
        .map(|(i, b)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(i as i32)
                .with_broker_ids(vec![BrokerId(*b)])
        })
        .collect();
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic(name))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments)]);
    RawClient::connect(addr).call(&req, 7).topics[0].error_code
}

fn observers(controller: &str) -> Vec<i32> {
    let resp = RawClient::connect(controller).call(
        &DescribeQuorumRequest::default().with_topics(vec![
            kafka_protocol::messages::describe_quorum_request::TopicData::default()
                .with_topic_name(topic("__cluster_metadata"))
                .with_partitions(vec![
                    kafka_protocol::messages::describe_quorum_request::PartitionData::default(),
                ]),
        ]),
        2,
    );
    resp.topics[0].partitions[0]
        .observers
        .iter()
        .map(|o| o.replica_id.0)
        .collect()
}

fn produce_and_read(bootstrap: &str, t: &str, partition: i32, values: &[&str]) {
    let producer = clients::producer(bootstrap, &[("enable.idempotence", "false")]);
    for v in values {
        let r = futures::executor::block_on(
            producer.send(
                FutureRecord::<(), str>::to(t)
                    .partition(partition)
                    .payload(v),
                Duration::from_secs(20),
            ),
        );
        assert!(r.is_ok(), "produce to {t}-{partition}: {r:?}");
    }
}

fn values_of(bootstrap: &str, t: &str, partition: i32, n: usize) -> Vec<String> {
    clients::consume(bootstrap, t, &[partition], Offset::Beginning, n)
        .values()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

#[test]
fn a_broker_only_node_joins_follows_the_metadata_log_and_is_fenced_when_it_dies() {
    let mut cluster = Cluster::with_brokers(1, 1);
    cluster.start_node(0);
    let (ctl, b1, b2) = (
        cluster.controller_addr(0),
        cluster.broker_addr(0),
        cluster.broker_addr(1),
    );
    assert_eq!(create_assigned(&b1, "before", &[1]), 0);

    // The broker-only node joins: registered, unfenced, an observer, and it knows the topic
    // created before it started.
    cluster.start_node(1);
    wait_for("node 2 unfenced in node 1's metadata", WAIT, || {
        (broker_ids(&metadata(&b1)) == vec![1, 2]).then_some(())
    });
    wait_for("node 2 listed as an observer", WAIT, || {
        observers(&ctl).contains(&2).then_some(())
    });
    wait_for("node 2 sees the topic made before it joined", WAIT, || {
        partition_state(&metadata(&b2), "before", 0).filter(|s| s.1 == 1)
    });
    // Placement now uses it; it follows topics created after it joined, and serves the
    // partitions placed on it.
    assert_eq!(create_assigned(&b1, "after", &[1, 2]), 0);
    let m2 = wait_for("node 2 sees the new topic", WAIT, || {
        let m = metadata(&b2);
        partition_state(&m, "after", 1).is_some().then_some(m)
    });
    assert_eq!(partition_state(&m2, "after", 1), Some((0, 2, vec![])));
    assert_eq!(broker_ids(&m2), vec![1, 2]);
    let bootstrap = format!("{b1},{b2}");
    produce_and_read(&bootstrap, "after", 1, &["a", "b", "c"]);
    assert_eq!(values_of(&bootstrap, "after", 1, 3), ["a", "b", "c"]);
    // Round-robin placement of a new topic spreads over both live brokers.
    assert_eq!(
        raw::create_topic(&mut RawClient::connect(&b1), "spread", 2, &[]),
        0
    );
    let m = metadata(&b1);
    let mut leaders: Vec<i32> = (0..2)
        .filter_map(|p| partition_state(&m, "spread", p).map(|s| s.1))
        .collect();
    leaders.sort_unstable();
    assert_eq!(leaders, vec![1, 2]);

    // kill -9: after the session timeout the controller fences it; its partition has no
    // leader (LEADER_NOT_AVAILABLE) and lists it offline.
    cluster.kill9(1);
    wait_for("node 2 fenced", WAIT, || {
        let m = metadata(&b1);
        (broker_ids(&m) == vec![1]).then_some(())
    });
    assert_eq!(
        partition_state(&metadata(&b1), "after", 1),
        Some((5, -1, vec![2]))
    );
    // Logged once the fencing is committed, possibly after node 1 answered without node 2.
    wait_for("the controller's log of node 2's fencing", WAIT, || {
        cluster.log(0).contains("broker 2 fenced").then_some(())
    });

    // Restart: a new incarnation registers, catches up, is unfenced and leads again; the
    // data is still there.
    cluster.start_node(1);
    wait_for("node 2 leads its partition again", WAIT, || {
        let m = metadata(&b1);
        (broker_ids(&m) == vec![1, 2] && partition_state(&m, "after", 1) == Some((0, 2, vec![])))
            .then_some(())
    });
    assert_eq!(values_of(&bootstrap, "after", 1, 3), ["a", "b", "c"]);

    // SIGTERM: a controlled shutdown, then a clean exit.
    let status = cluster.terminate(1, Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}: {}",
        cluster.log(1)
    );
    assert!(
        cluster
            .log(1)
            .contains("controlled shutdown: the controller lets this broker go"),
        "{}",
        cluster.log(1)
    );
    let m = metadata(&b1);
    assert_eq!(broker_ids(&m), vec![1]);
    assert_eq!(partition_state(&m, "after", 1), Some((5, -1, vec![2])));
}

fn registration(
    id: i32,
    cluster_id: &str,
    incarnation: u128,
    port: u16,
) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(id))
        .with_cluster_id(StrBytes::from_string(cluster_id.to_string()))
        .with_incarnation_id(uuid::Uuid::from_u128(incarnation))
        .with_listeners(vec![Listener::default()
            .with_name(StrBytes::from_static_str("PLAINTEXT"))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(port)])
        .with_previous_broker_epoch(-1)
}

fn heartbeat(id: i32, epoch: i64, offset: i64, shut_down: bool) -> BrokerHeartbeatRequest {
    BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(offset)
        .with_want_shut_down(shut_down)
}

/// A combined node, its cluster id, and a raw client on its CONTROLLER listener: where
/// registration and heartbeat tests talk as another broker would.
fn combined_with_controller_client(dir: &std::path::Path) -> (TestBroker, String, RawClient) {
    let b = TestBroker::combined(dir);
    let cluster_id = metadata(&b.bootstrap())
        .cluster_id
        .map(|c| c.to_string())
        .expect("cluster id");
    let c = RawClient::connect(&b.listener_addr("CONTROLLER").to_string());
    (b, cluster_id, c)
}

#[test]
fn registration_and_heartbeats_answer_kafkas_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (b, cluster_id, mut c) = combined_with_controller_client(dir.path());

    // Wrong cluster id: 104.
    let r = c.call(&registration(7, "not-this-cluster", 1, 9999), 4);
    assert_eq!(r.error_code, 104);
    // A new broker: an epoch, fenced until its heartbeat reports the registration's offset.
    let r = c.call(&registration(7, &cluster_id, 1, 9999), 4);
    assert_eq!(r.error_code, 0);
    let epoch = r.broker_epoch;
    assert!(epoch > 0);
    assert_eq!(broker_ids(&metadata(&b.bootstrap())), vec![1]);
    // Another incarnation of id 7 while its session lives: 101.
    let r = c.call(&registration(7, &cluster_id, 2, 9999), 4);
    assert_eq!(r.error_code, 101);
    // Heartbeats: a stale epoch 77, an unknown id 102.
    assert_eq!(c.call(&heartbeat(7, epoch - 1, 0, false), 1).error_code, 77);
    assert_eq!(c.call(&heartbeat(99, 1, 0, false), 1).error_code, 102);
    // Behind the registration: still fenced; caught up: unfenced and listed.
    let r = c.call(&heartbeat(7, epoch, epoch - 1, false), 1);
    assert_eq!(
        (r.error_code, r.is_caught_up, r.is_fenced),
        (0, false, true)
    );
    let r = c.call(&heartbeat(7, epoch, epoch, false), 1);
    assert_eq!(
        (r.error_code, r.is_caught_up, r.is_fenced),
        (0, true, false)
    );
    assert_eq!(broker_ids(&metadata(&b.bootstrap())), vec![1, 7]);
    // Controlled shutdown: should_shut_down, fenced, gone from Metadata.
    let r = c.call(&heartbeat(7, epoch, epoch, true), 1);
    assert_eq!(
        (r.error_code, r.is_fenced, r.should_shut_down),
        (0, true, true)
    );
    assert_eq!(broker_ids(&metadata(&b.bootstrap())), vec![1]);
    // Its session ended with the shutdown: a new incarnation may register at once.
    let r = c.call(&registration(7, &cluster_id, 3, 9999), 4);
    assert_eq!(r.error_code, 0);
    assert!(r.broker_epoch > epoch);

    // The broker listener does not serve the controller-facing APIs (closed, as Kafka).
    let mut p = RawClient::connect(&b.bootstrap());
    let frame = p.frame(&heartbeat(7, epoch, epoch, false), 1);
    p.send_raw(&frame);
    assert!(
        p.read_frame().is_none(),
        "BrokerHeartbeat answered on PLAINTEXT"
    );
}

#[test]
fn two_processes_with_one_node_id_the_second_is_refused() {
    let mut cluster = Cluster::with_brokers(1, 2);
    cluster.set(Some(2), "node.id", "2");
    cluster.start_node(0);
    cluster.start_node(1);
    let b1 = cluster.broker_addr(0);
    wait_for("node 2 unfenced", WAIT, || {
        (broker_ids(&metadata(&b1)) == vec![1, 2]).then_some(())
    });
    cluster.start_node(2);
    wait_for("the duplicate refused", WAIT, || {
        cluster
            .log(2)
            .contains("broker registration refused: DUPLICATE_BROKER_REGISTRATION (101)")
            .then_some(())
    });
    // The first keeps its registration.
    assert_eq!(broker_ids(&metadata(&b1)), vec![1, 2]);
}

#[test]
fn a_broker_of_another_cluster_is_refused() {
    let mut cluster = Cluster::with_brokers(1, 1);
    std::fs::create_dir_all(cluster.data_dir(1)).unwrap();
    std::fs::write(
        cluster.data_dir(1).join("meta.properties"),
        "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=2\n",
    )
    .unwrap();
    cluster.start_node(0);
    cluster.start_node(1);
    wait_for("the foreign broker refused", WAIT, || {
        cluster
            .log(1)
            .contains("broker registration refused: INCONSISTENT_CLUSTER_ID (104)")
            .then_some(())
    });
    assert_eq!(broker_ids(&metadata(&cluster.broker_addr(0))), vec![1]);
    // Its metadata fetches are refused too (INCONSISTENT_CLUSTER_ID at the top level), so it
    // learns nothing of this cluster's topics and never serves.
    assert_eq!(
        raw::create_topic(
            &mut RawClient::connect(&cluster.broker_addr(0)),
            "t",
            1,
            &[]
        ),
        0
    );
    wait_for("the foreign observer refused", WAIT, || {
        cluster
            .log(1)
            .contains("following the metadata log: fetch error 104")
            .then_some(())
    });
    // It never catches up, so it serves no client (Kafka's broker enables its listeners
    // only after the initial metadata catch-up).
    let req = kafka_protocol::messages::MetadataRequest::default().with_topics(None);
    let answer = crate::support::replicas::call(&cluster.broker_addr(1), &req, 12);
    assert!(
        answer.is_none(),
        "a broker of another cluster answered {answer:?}"
    );
    assert!(!cluster.log(1).contains("caught up with the metadata log"));
}

#[test]
fn a_broker_that_cannot_register_in_time_exits() {
    // A foreign cluster id: every registration is refused with INCONSISTENT_CLUSTER_ID.
    let mut cluster = Cluster::with_brokers(1, 1);
    std::fs::create_dir_all(cluster.data_dir(1)).unwrap();
    std::fs::write(
        cluster.data_dir(1).join("meta.properties"),
        "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=2\n",
    )
    .unwrap();
    cluster.set(Some(1), "initial.broker.registration.timeout.ms", "2000");
    cluster.start_node(0);
    cluster.start_node(1);
    let status = wait_for("the unregistered broker to exit", WAIT, || {
        cluster.exited(1)
    });
    assert!(!status.success(), "{status:?}");
    let log = cluster.log(1);
    assert!(
        log.contains(
            "Shutting down because we were unable to register with the controller quorum."
        ),
        "{log}"
    );
    assert_eq!(broker_ids(&metadata(&cluster.broker_addr(0))), vec![1]);
}

/// A request frame with the given header fields and raw body (header v1, client id "test").
fn raw_frame(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&api_key.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&4i16.to_be_bytes());
    b.extend_from_slice(b"test");
    b.extend_from_slice(body);
    let mut out = (b.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&b);
    out
}

fn metadata_fetch(ctl: &str, t: &str, offset: i64) -> fetch_response::PartitionData {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(42))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic(t))
            .with_partitions(vec![FetchPartition::default()
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_partition_max_bytes(1 << 20)])]);
    RawClient::connect(ctl).call(&req, 12).responses[0].partitions[0].clone()
}

#[test]
fn the_controller_listener_serves_committed_metadata_and_survives_hostile_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::combined(dir.path());
    let ctl = b.listener_addr("CONTROLLER").to_string();
    assert_eq!(
        raw::create_topic(&mut RawClient::connect(&b.bootstrap()), "t", 1, &[]),
        0
    );
    // Fetch of __cluster_metadata: committed batches only, up to the high watermark; the
    // fetcher shows up as an observer.
    let p = metadata_fetch(&ctl, "__cluster_metadata", 0);
    assert_eq!(p.error_code, 0);
    let ranges = raw::batch_ranges(p.records.as_ref().expect("records"));
    assert!(!ranges.is_empty());
    assert_eq!(ranges.last().map(|r| r.1 + 1), Some(p.high_watermark));
    assert!(observers(&ctl).contains(&42));
    // Past the high watermark: OFFSET_OUT_OF_RANGE; another topic: UNKNOWN_TOPIC_OR_PARTITION.
    assert_eq!(
        metadata_fetch(&ctl, "__cluster_metadata", p.high_watermark + 1).error_code,
        1
    );
    assert_eq!(metadata_fetch(&ctl, "t", 0).error_code, 3);

    // Hostile bodies for every controller-facing API at its lowest and highest version:
    // refused or answered, never an allocation for the lie, and the node keeps serving.
    let huge_i32: Vec<u8> = [0x7f, 0xff, 0xff, 0xff].repeat(16);
    let huge_varint: Vec<u8> = [0xff, 0xff, 0xff, 0xff, 0x07].repeat(12);
    for key in [
        ApiKey::BrokerRegistration,
        ApiKey::BrokerHeartbeat,
        ApiKey::Fetch,
    ] {
        let api = gregor::router::lookup(key).expect("served");
        for version in [api.min, api.max] {
            for body in [&huge_i32, &huge_varint] {
                for shift in 0..4 {
                    let mut c = RawClient::connect(&ctl);
                    c.send_raw(&raw_frame(key as i16, version, &body[shift..]));
                }
            }
        }
    }
    let r = RawClient::connect(&ctl).call(&ApiVersionsRequest::default(), 3);
    assert_eq!(r.error_code, 0);
}

/// The `.checkpoint` files of a node's metadata log.
fn checkpoints(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("__cluster_metadata-0"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".checkpoint"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_broker_behind_the_log_start_copies_the_snapshot() {
    let mut cluster = Cluster::with_brokers(1, 1);
    cluster.set(
        Some(0),
        "metadata.log.max.record.bytes.between.snapshots",
        "1500",
    );
    cluster.start_node(0);
    let b1 = cluster.broker_addr(0);
    let mut c = RawClient::connect(&b1);
    for i in 0..30 {
        assert_eq!(raw::create_topic(&mut c, &format!("s{i}"), 1, &[]), 0);
    }
    // The controller snapshotted and purged its log: offset 0 is gone.
    wait_for("a purged metadata log", WAIT, || {
        let p = metadata_fetch(&cluster.controller_addr(0), "__cluster_metadata", 0);
        (p.snapshot_id.end_offset > 0).then_some(())
    });
    // A new broker copies the snapshot, then follows the log after it.
    cluster.start_node(1);
    wait_for("node 2 unfenced", WAIT, || {
        (broker_ids(&metadata(&b1)) == vec![1, 2]).then_some(())
    });
    assert_eq!(create_assigned(&b1, "later", &[2]), 0);
    let b2 = cluster.broker_addr(1);
    let m = wait_for("node 2 knows every topic", WAIT, || {
        let m = metadata(&b2);
        (m.topics.len() == 31).then_some(m)
    });
    assert_eq!(partition_state(&m, "later", 0), Some((0, 2, vec![])));
    assert_eq!(checkpoints(cluster.data_dir(1)).len(), 1);
    assert!(cluster.log(1).contains("installed from the controller"));
    // A restart starts from its own snapshot plus the log after it.
    cluster.kill9(1);
    cluster.start_node(1);
    let m = wait_for("node 2 back with every topic", WAIT, || {
        let m = metadata(&b2);
        (m.topics.len() == 31).then_some(m)
    });
    assert_eq!(partition_state(&m, "s0", 0).map(|s| s.1), Some(1));
}

#[test]
fn unregister_broker_takes_it_out_of_isrs_and_answers_kafkas_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (b, cluster_id, mut c) = combined_with_controller_client(dir.path());
    let r = c.call(&registration(7, &cluster_id, 1, 9999), 4);
    assert_eq!(r.error_code, 0);
    let epoch = r.broker_epoch;
    assert!(!c.call(&heartbeat(7, epoch, epoch, false), 1).is_fenced);
    assert_eq!(
        crate::support::replicas::create_assigned(&b.bootstrap(), "unreg", &[7, 1], &[]),
        Some(0)
    );
    let before = crate::support::replicas::partition(&b.bootstrap(), "unreg", 0).expect("p");
    assert_eq!((before.leader, before.isr.clone()), (7, vec![1, 7]));

    // Through the broker listener (Admin.unregisterBroker's path): unregistered although
    // unfenced, as Kafka does; broker 1 leads and 7 left the ISR, not the replicas.
    let unregister = |id: i32| UnregisterBrokerRequest::default().with_broker_id(BrokerId(id));
    let mut p = RawClient::connect(&b.bootstrap());
    let r = p.call(&unregister(7), 0);
    assert_eq!(r.error_code, 0);
    let after = crate::support::replicas::partition(&b.bootstrap(), "unreg", 0).expect("p");
    assert_eq!((after.leader, after.isr), (1, vec![1]));
    assert_eq!(after.replicas, vec![7, 1]);
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    assert_eq!(broker_ids(&metadata(&b.bootstrap())), vec![1]);

    // Gone: its heartbeat and a second unregistration answer BROKER_ID_NOT_REGISTERED (102),
    // on the controller listener too; an id never seen as well.
    assert_eq!(
        c.call(&heartbeat(7, epoch, epoch, false), 1).error_code,
        102
    );
    assert_eq!(c.call(&unregister(7), 0).error_code, 102);
    assert_eq!(p.call(&unregister(99), 0).error_code, 102);
    // Its session went with it: a new incarnation registers at once, with a later epoch.
    let r = c.call(&registration(7, &cluster_id, 2, 9999), 4);
    assert_eq!(r.error_code, 0);
    assert!(r.broker_epoch > epoch);
}
