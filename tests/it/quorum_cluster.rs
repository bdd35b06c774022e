//! A real multi-voter metadata quorum (issue 13, step 2): three combined `gregor serve`
//! processes with one static `controller.quorum.voters` elect one leader, every admin write
//! made through any node reaches the leader (forwarding) and every node's image, RF-1
//! partitions spread over the three brokers serve a client that bootstraps from one node,
//! and the quorum survives kill -9 and SIGSTOP of its leader, an isolated minority (proxy
//! blackhole) and refuses a node of another cluster (INCONSISTENT_CLUSTER_ID).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

use crate::support::cluster::Cluster;
use crate::support::proxy::{Mode, Proxy};
use crate::support::replicas::call_patient as call;
use crate::support::{clients, raw, wait_for};

/// How long a test waits for an election, a catch-up or a commit.
const PATIENCE: Duration = Duration::from_secs(20);

/// (leader, epoch, high watermark) as DescribeQuorum through `addr` says.
fn quorum(addr: &str) -> Option<(i32, i32, i64)> {
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(raw::topic("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp = call(addr, &req, 1)?;
    let p = resp.topics.first()?.partitions.first()?;
    (resp.error_code == 0 && p.error_code == 0).then_some((
        p.leader_id.0,
        p.leader_epoch,
        p.high_watermark,
    ))
}

/// Waits until every node of `alive` reports the same leader and epoch (through its broker
/// listener, which forwards to the leader) and that leader is one of `alive`.
fn agreed_leader(c: &Cluster, alive: &[usize]) -> (i32, i32) {
    wait_for("the nodes to agree on a leader", PATIENCE, || {
        let views: Vec<(i32, i32, i64)> = alive
            .iter()
            .map(|&i| quorum(&c.broker_addr(i)))
            .collect::<Option<_>>()?;
        let first = views[0];
        let same = views.iter().all(|v| (v.0, v.1) == (first.0, first.1));
        let live = alive.iter().any(|&i| c.id(i) == first.0);
        (same && live).then_some((first.0, first.1))
    })
}

fn index_of(c: &Cluster, id: i32) -> usize {
    (0..c.len()).find(|&i| c.id(i) == id).expect("a node id")
}

/// Waits until Metadata through `addr` lists `n` brokers (registered and unfenced: a broker
/// registers and is unfenced by the active controller once the quorum has a leader).
fn wait_brokers(addr: &str, n: usize) {
    wait_for("every broker registered and unfenced", PATIENCE, || {
        let req = MetadataRequest::default().with_topics(Some(vec![]));
        let resp = call(addr, &req, 12)?;
        (resp.brokers.len() == n).then_some(())
    });
}

fn create_request(name: &str, partitions: i32) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(raw::topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
}

/// CreateTopics through `addr`: the topic's error code (`None`: no answer).
fn create(addr: &str, name: &str, partitions: i32) -> Option<i16> {
    call(addr, &create_request(name, partitions), 7).map(|r| r.topics[0].error_code)
}

/// Creates a topic through `addr`, retrying retriable answers (an election under way).
fn create_eventually(addr: &str, name: &str, partitions: i32) {
    wait_for(
        &format!("{name} to be created through {addr}"),
        PATIENCE,
        || match create(addr, name, partitions) {
            Some(0) | Some(36) => Some(()),
            _ => None,
        },
    );
}

/// A topic's name and its partitions' (index, leader).
type TopicLeaders = (String, Vec<(i32, i32)>);

/// The topics Metadata through `addr` lists, with each partition's leader.
fn metadata(addr: &str) -> Option<Vec<TopicLeaders>> {
    let req = MetadataRequest::default().with_topics(None);
    let resp = call(addr, &req, 12)?;
    Some(
        resp.topics
            .iter()
            .map(|t| {
                let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.leader_id.0))
                    .collect();
                (name, parts)
            })
            .collect(),
    )
}

fn topic_names(addr: &str) -> Option<BTreeSet<String>> {
    metadata(addr).map(|m| m.into_iter().map(|(n, _)| n).collect())
}

/// Waits until node `i` lists every topic of `names`.
fn wait_sees(c: &Cluster, i: usize, names: &[&str]) {
    let addr = c.broker_addr(i);
    wait_for(
        &format!("node {} to see {names:?}", c.id(i)),
        PATIENCE,
        || {
            let seen = topic_names(&addr)?;
            names.iter().all(|n| seen.contains(*n)).then_some(())
        },
    );
}

fn topic_config(addr: &str, topic: &str, key: &str) -> Option<String> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(Some(vec![StrBytes::from_string(key.to_string())]))]);
    let resp = call(addr, &req, 4)?;
    let r = resp.results.first()?;
    r.configs.first()?.value.as_ref().map(|v| v.to_string())
}

#[test]
fn three_voters_elect_one_leader_and_every_node_serves_every_write() {
    let c = Cluster::start(3);
    let all = [0, 1, 2];
    let (leader, epoch) = agreed_leader(&c, &all);
    assert!(epoch >= 1);
    // Exactly one controller listener answers DescribeQuorum itself: the leader's, with
    // every voter and their log ends.
    let answering: Vec<i32> = all
        .iter()
        .filter(|&&i| quorum(&c.controller_addr(i)).is_some())
        .map(|&i| c.id(i))
        .collect();
    assert_eq!(answering, vec![leader]);
    // The leader's view: three voters, each with a log end and (v1) fetch and caught-up
    // times once the followers have answered it.
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(raw::topic("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    wait_for("every voter's progress", PATIENCE, || {
        let resp = call(&c.controller_addr(index_of(&c, leader)), &req, 1)?;
        let p = &resp.topics[0].partitions[0];
        let ok = p.current_voters.len() == 3
            && p.current_voters.iter().all(|v| {
                v.log_end_offset >= 0
                    && v.last_fetch_timestamp > 0
                    && v.last_caught_up_timestamp > 0
            });
        ok.then_some(())
    });

    // A topic created through each node: every node lists all three.
    wait_brokers(&c.broker_addr(0), 3);
    for i in all {
        assert_eq!(create(&c.broker_addr(i), &format!("t{i}"), 1), Some(0));
    }
    for i in all {
        wait_sees(&c, i, &["t0", "t1", "t2"]);
    }
    // Creating again through another node: TOPIC_ALREADY_EXISTS from the controller.
    assert_eq!(create(&c.broker_addr(2), "t0", 1), Some(36));

    // IncrementalAlterConfigs through a follower, DescribeConfigs on every node.
    let follower = all.into_iter().find(|&i| c.id(i) != leader).unwrap();
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("t1"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_static_str("12345")))]),
    ]);
    let resp = call(&c.broker_addr(follower), &req, 1).expect("answered");
    assert_eq!(resp.responses[0].error_code, 0);
    for i in all {
        wait_for("the config on every node", PATIENCE, || {
            (topic_config(&c.broker_addr(i), "t1", "retention.ms").as_deref() == Some("12345"))
                .then_some(())
        });
    }

    // Six RF-1 partitions spread over the three brokers; a client bootstrapping from one
    // node produces to and consumes from all of them.
    assert_eq!(create(&c.broker_addr(0), "spread", 6), Some(0));
    for i in all {
        wait_sees(&c, i, &["spread"]);
    }
    let meta = metadata(&c.broker_addr(1)).unwrap();
    let leaders: BTreeSet<i32> = meta
        .iter()
        .find(|(n, _)| n == "spread")
        .unwrap()
        .1
        .iter()
        .map(|p| p.1)
        .collect();
    assert_eq!(leaders, BTreeSet::from([1, 2, 3]));
    let bootstrap = c.broker_addr(0);
    let producer = clients::producer(&bootstrap, &[]);
    for n in 0..60 {
        let value = format!("v{n}");
        let record = FutureRecord::<str, str>::to("spread")
            .partition(n % 6)
            .payload(&value);
        futures::executor::block_on(producer.send(record, Duration::from_secs(20)))
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let got = clients::consume(
        &bootstrap,
        "spread",
        &[0, 1, 2, 3, 4, 5],
        Offset::Beginning,
        60,
    );
    assert_eq!(got.len(), 60);
    for p in 0..6 {
        let values: Vec<String> = got
            .iter()
            .filter(|((part, _), _)| *part == p)
            .map(|(_, r)| String::from_utf8(r.value.clone().unwrap()).unwrap())
            .collect();
        let expected: Vec<String> = (0..60)
            .filter(|n| n % 6 == p)
            .map(|n| format!("v{n}"))
            .collect();
        assert_eq!(values, expected, "partition {p}");
    }
}

#[test]
fn the_leader_killed_or_paused_is_replaced_and_catches_up() {
    let mut c = Cluster::start(3);
    let all = [0, 1, 2];
    let (leader, epoch) = agreed_leader(&c, &all);
    create_eventually(&c.broker_addr(0), "before", 1);

    // kill -9 the leader: the other two elect a new one with a higher epoch.
    let victim = index_of(&c, leader);
    let rest: Vec<usize> = all.into_iter().filter(|&i| i != victim).collect();
    let killed_at = Instant::now();
    c.kill9(victim);
    let (leader2, epoch2) = wait_for("a new leader", PATIENCE, || {
        let (l, e) = agreed_leader(&c, &rest);
        (l != leader).then_some((l, e))
    });
    eprintln!(
        "kill -9 of leader {leader}: leader {leader2} (epoch {epoch2}) agreed after {:?}",
        killed_at.elapsed()
    );
    assert!(epoch2 > epoch);
    create_eventually(&c.broker_addr(rest[0]), "after-kill", 2);
    wait_sees(&c, rest[1], &["before", "after-kill"]);
    // The killed node restarts and catches up with what it missed.
    c.restart(victim);
    wait_sees(&c, victim, &["before", "after-kill"]);
    let (leader3, epoch3) = agreed_leader(&c, &all);
    assert!(epoch3 >= epoch2);

    // SIGSTOP the leader: the others elect; SIGCONT: the old leader steps down and all
    // three agree again.
    let paused = index_of(&c, leader3);
    let rest: Vec<usize> = all.into_iter().filter(|&i| i != paused).collect();
    c.pause(paused);
    let (_, epoch4) = wait_for("a leader while one is paused", PATIENCE, || {
        let (l, e) = agreed_leader(&c, &rest);
        (l != leader3).then_some((l, e))
    });
    assert!(epoch4 > epoch3);
    create_eventually(&c.broker_addr(rest[0]), "while-paused", 1);
    c.resume(paused);
    let (leader5, epoch5) = agreed_leader(&c, &all);
    assert!(epoch5 >= epoch4, "{leader5} {epoch5}");
    wait_sees(&c, paused, &["before", "after-kill", "while-paused"]);
    for i in all {
        let names = topic_names(&c.broker_addr(i)).unwrap();
        assert_eq!(
            names,
            BTreeSet::from(["before".into(), "after-kill".into(), "while-paused".into()]),
            "node {}",
            c.id(i)
        );
    }
}

#[test]
fn an_isolated_minority_cannot_commit_and_catches_up_when_healed() {
    // Node 3 reaches nodes 1 and 2 through two proxies, and they reach it through a third:
    // blackholing all three cuts it off both ways.
    let mut c = Cluster::new(3);
    let to3 = Proxy::start(c.controller_addr(2).parse().unwrap());
    let to1 = Proxy::start(c.controller_addr(0).parse().unwrap());
    let to2 = Proxy::start(c.controller_addr(1).parse().unwrap());
    let seen_by_12 = format!(
        "1@{},2@{},3@{}",
        c.controller_addr(0),
        c.controller_addr(1),
        to3.addr()
    );
    let seen_by_3 = format!(
        "1@{},2@{},3@{}",
        to1.addr(),
        to2.addr(),
        c.controller_addr(2)
    );
    c.set(Some(0), "controller.quorum.voters", &seen_by_12);
    c.set(Some(1), "controller.quorum.voters", &seen_by_12);
    c.set(Some(2), "controller.quorum.voters", &seen_by_3);
    c.start_all();
    let all = [0, 1, 2];
    agreed_leader(&c, &all);
    create_eventually(&c.broker_addr(2), "before", 1);
    wait_sees(&c, 2, &["before"]);

    for p in [&to1, &to2, &to3] {
        p.set_mode(Mode::Blackhole);
    }
    // The majority elects (or keeps) a leader among itself and commits.
    let (leader, _) = wait_for("a leader among nodes 1 and 2", PATIENCE, || {
        let (l, e) = agreed_leader(&c, &[0, 1]);
        (l != 3).then_some((l, e))
    });
    create_eventually(&c.broker_addr(0), "majority", 1);
    // The isolated node cannot commit: its CreateTopics fails (NOT_CONTROLLER or
    // REQUEST_TIMED_OUT), and the topic exists nowhere.
    let code = create(&c.broker_addr(2), "minority", 1);
    assert!(matches!(code, Some(41) | Some(7)), "{code:?}");
    let on_majority = topic_names(&c.broker_addr(0)).unwrap();
    assert!(!on_majority.contains("minority"));
    assert!(on_majority.contains("majority"));
    assert_ne!(leader, 3);

    // Healed: node 3 catches up and all three agree on one leader and one topic set (a
    // forwarded CreateTopics held by the proxy may land now: its answer was
    // REQUEST_TIMED_OUT, an unknown outcome, as in Kafka).
    for p in [&to1, &to2, &to3] {
        p.set_mode(Mode::Pass);
    }
    wait_sees(&c, 2, &["before", "majority"]);
    agreed_leader(&c, &all);
    wait_for("the same topics on every node", PATIENCE, || {
        let sets: Vec<BTreeSet<String>> = all
            .iter()
            .map(|&i| topic_names(&c.broker_addr(i)))
            .collect::<Option<_>>()?;
        sets.iter().all(|s| *s == sets[0]).then_some(())
    });
}

#[test]
fn a_node_of_another_cluster_is_refused() {
    let mut c = Cluster::start(3);
    agreed_leader(&c, &[0, 1, 2]);
    // A Raft request carrying another cluster id: INCONSISTENT_CLUSTER_ID.
    let mut body = BytesMut::new();
    gregor::quorum::rpc_codec::put_string(&mut body, "another-cluster-id").unwrap();
    let frame =
        gregor::peer::frame::request_frame(gregor::quorum::rpc::VOTE, 0, 9, "test", &body).unwrap();
    let mut raw = raw::RawClient::connect(&c.controller_addr(1));
    raw.send_raw(&frame);
    let resp = raw.read_frame().expect("answered");
    // Response header v0 (correlation id), then the error code.
    assert_eq!(&resp[0..4], &9i32.to_be_bytes());
    assert_eq!(i16::from_be_bytes([resp[4], resp[5]]), 104);

    // Garbage after the right cluster id, on every private key: INVALID_REQUEST, and the
    // node keeps serving.
    let meta1 = std::fs::read_to_string(c.data_dir(1).join("meta.properties")).unwrap();
    let id = meta1
        .lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .unwrap()
        .to_string();
    for key in 32000..=32002i16 {
        for junk in [
            &[0xffu8; 40][..],
            &[0x7f, 0xff, 0xff, 0xff, 1, 2][..],
            &[][..],
        ] {
            let mut body = BytesMut::new();
            gregor::quorum::rpc_codec::put_string(&mut body, &id).unwrap();
            body.extend_from_slice(junk);
            let frame = gregor::peer::frame::request_frame(key, 0, 3, "test", &body).unwrap();
            let mut raw = raw::RawClient::connect(&c.controller_addr(1));
            raw.send_raw(&frame);
            let resp = raw.read_frame().expect("answered");
            assert_eq!(i16::from_be_bytes([resp[4], resp[5]]), 42, "key {key}");
        }
    }
    let frame = gregor::peer::frame::request_frame(32003, 0, 3, "test", &[0xff; 30]).unwrap();
    let mut raw = raw::RawClient::connect(&c.controller_addr(1));
    raw.send_raw(&frame);
    let resp = raw.read_frame().expect("answered");
    assert_eq!(i16::from_be_bytes([resp[4], resp[5]]), 42);
    agreed_leader(&c, &[0, 1, 2]);

    // Node 3 formatted for another cluster: it refuses the leader, and the leader's log
    // says so.
    c.kill9(2);
    let meta = c.data_dir(2).join("meta.properties");
    std::fs::write(
        &meta,
        "version=1\ncluster.id=another-cluster-id\nnode.id=3\n",
    )
    .unwrap();
    c.restart(2);
    wait_for("node 3 to refuse the quorum", PATIENCE, || {
        c.log(2)
            .contains("does not match this node's another-cluster-id")
            .then_some(())
    });
    let leader = agreed_leader(&c, &[0, 1]).0;
    wait_for("the leader to log the refusal", PATIENCE, || {
        c.log(index_of(&c, leader))
            .contains("refused this node's cluster id")
            .then_some(())
    });
    // The quorum goes on with two voters; node 3 keeps its own id.
    create_eventually(&c.broker_addr(0), "without-3", 1);
    let kept = std::fs::read_to_string(&meta).unwrap();
    assert!(kept.contains("cluster.id=another-cluster-id"), "{kept}");
}

#[test]
fn a_node_behind_the_leaders_snapshot_catches_up_from_it() {
    let mut c = Cluster::start_with(
        3,
        &[("metadata.log.max.record.bytes.between.snapshots", "1500")],
    );
    let all = [0, 1, 2];
    let (leader, _) = agreed_leader(&c, &all);
    let behind = all.into_iter().find(|&i| c.id(i) != leader).unwrap();
    let rest: Vec<usize> = all.into_iter().filter(|&i| i != behind).collect();
    c.kill9(behind);
    let names: Vec<String> = (0..20).map(|n| format!("snap{n}")).collect();
    for n in &names {
        create_eventually(&c.broker_addr(rest[0]), n, 1);
    }
    // The leader snapshotted and dropped the log before it.
    let leader_dir = c
        .data_dir(index_of(&c, leader))
        .join("__cluster_metadata-0");
    wait_for("a snapshot on the leader", PATIENCE, || {
        std::fs::read_dir(&leader_dir)
            .ok()?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"))
            .then_some(())
    });
    c.restart(behind);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    wait_sees(&c, behind, &refs);
    let dir = c.data_dir(behind).join("__cluster_metadata-0");
    let installed = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"));
    assert!(installed, "no snapshot in {}", dir.display());
    assert!(
        c.log(behind).contains("installed from the leader"),
        "{}",
        c.log(behind)
    );
    agreed_leader(&c, &all);
}

/// Voters formatted with one cluster id (Kafka's `kafka-storage format`: a `meta.properties`
/// naming it) need not wait for the lowest-id voter: nodes 2 and 3 alone initialise the
/// static voter set, elect a leader and serve writes; node 1 started later joins them.
#[test]
fn formatted_voters_form_the_quorum_without_the_lowest_id_voter() {
    let mut c = Cluster::new(3);
    let cluster_id = "9ehZcUoXTBS6F0VH_rNmaA";
    for i in [1, 2] {
        let dir = c.data_dir(i).to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        let props = format!("version=1\ncluster.id={cluster_id}\nnode.id={}\n", c.id(i));
        std::fs::write(dir.join("meta.properties"), props).unwrap();
    }
    c.start_node(1);
    c.start_node(2);
    let (leader, _) = agreed_leader(&c, &[1, 2]);
    assert!(leader == 2 || leader == 3, "leader {leader}");
    create_eventually(&c.broker_addr(1), "without-node-1", 1);
    wait_sees(&c, 2, &["without-node-1"]);
    c.start_node(0);
    wait_sees(&c, 0, &["without-node-1"]);
    let meta = std::fs::read_to_string(c.data_dir(0).join("meta.properties")).unwrap();
    assert!(meta.contains(cluster_id), "{meta}");
}

/// `broker.rack`: nodes 1 and 2 in rack "a", node 3 in "b"; an RF-2 topic's every partition
/// has a replica in each rack, and Metadata gives each broker its rack.
#[test]
fn placement_spreads_replicas_over_racks() {
    let mut c = Cluster::new(3);
    for (i, rack) in [(0, "a"), (1, "a"), (2, "b")] {
        c.set(Some(i), "broker.rack", rack);
    }
    c.start_all();
    agreed_leader(&c, &[0, 1, 2]);
    wait_brokers(&c.broker_addr(0), 3);
    let mut req = create_request("racked", 6);
    req.topics[0].replication_factor = 2;
    let code = wait_for("CreateTopics of an RF-2 topic", PATIENCE, || {
        call(&c.broker_addr(0), &req, 7).map(|r| r.topics[0].error_code)
    });
    assert_eq!(code, 0);
    let resp = wait_for("Metadata of the topic", PATIENCE, || {
        let req = MetadataRequest::default().with_topics(None);
        call(&c.broker_addr(1), &req, 12)
            .filter(|r| r.topics.iter().any(|t| t.partitions.len() == 6))
    });
    let racks: std::collections::BTreeMap<i32, String> = resp
        .brokers
        .iter()
        .map(|b| {
            (
                b.node_id.0,
                b.rack.as_ref().map(|r| r.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(racks.values().filter(|r| *r == "a").count(), 2, "{racks:?}");
    let topic = resp
        .topics
        .iter()
        .find(|t| t.partitions.len() == 6)
        .unwrap();
    for p in &topic.partitions {
        let spanned: BTreeSet<&String> = p.replica_nodes.iter().map(|r| &racks[&r.0]).collect();
        assert_eq!(
            spanned.len(),
            2,
            "partition {}: {:?}",
            p.partition_index,
            p.replica_nodes
        );
    }
}

/// Auto-creation (Metadata with `allow_auto_topic_creation`) through a voter that
/// is not the active controller creates the topic through the controller, as Kafka's
/// `AutoTopicCreationManager` does: never NOT_CONTROLLER (41) to a client.
#[test]
fn auto_creation_through_a_non_controller_voter_reaches_the_controller() {
    let c = Cluster::start(3);
    let (leader, _) = agreed_leader(&c, &[0, 1, 2]);
    wait_brokers(&c.broker_addr(0), 3);
    let other = (0..3).find(|&i| c.id(i) != leader).unwrap();
    let addr = c.broker_addr(other);
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(raw::topic("auto-made"))),
        ]));
    let mut codes = Vec::new();
    wait_for("the auto-created topic", PATIENCE, || {
        let resp = call(&addr, &req, 12)?;
        let code = resp.topics[0].error_code;
        codes.push(code);
        (code == 0 && !resp.topics[0].partitions.is_empty()).then_some(())
    });
    assert!(!codes.contains(&41), "answers {codes:?}");
    wait_sees(&c, (other + 1) % 3, &["auto-made"]);
}
