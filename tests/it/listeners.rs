//! Several listeners on one node: each answers Metadata, DescribeCluster and FindCoordinator
//! with its own advertised endpoint; a CONTROLLER listener serves only the controller's APIs
//! (anything else closes the connection, as Kafka's controller does) and DescribeCluster
//! checks KIP-919's endpoint type; `gregor serve` refuses invalid cluster configs with Kafka's
//! messages.

use std::process::Command;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::raw::{self, RawClient};
use crate::support::{clients, encode_batch, free_port, now_ms, TestBroker};

fn metadata_brokers(c: &mut RawClient) -> Vec<(i32, String, i32)> {
    let resp = c.call(&MetadataRequest::default().with_topics(None), 12);
    resp.brokers
        .iter()
        .map(|b| (b.node_id.0, b.host.to_string(), b.port))
        .collect()
}

fn describe_cluster(c: &mut RawClient, version: i16, endpoint_type: i8) -> DescribeClusterResponse {
    let mut req = DescribeClusterRequest::default();
    if version >= 1 {
        req = req.with_endpoint_type(endpoint_type);
    }
    c.call(&req, version)
}

fn coordinator(c: &mut RawClient) -> (String, i32) {
    let req = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
    let resp = c.call(&req, 4);
    let co = &resp.coordinators[0];
    assert_eq!(co.error_code, 0);
    (co.host.to_string(), co.port)
}

#[test]
fn each_broker_listener_answers_with_its_own_advertised_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(
        dir.path(),
        &[
            ("listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0"),
            (
                "advertised.listeners",
                "INTERNAL://internal.invalid:0,EXTERNAL://127.0.0.1:0",
            ),
            (
                "listener.security.protocol.map",
                "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "INTERNAL"),
        ],
    );
    let internal = b.listener_addr("INTERNAL");
    let external = b.listener_addr("EXTERNAL");
    assert_ne!(internal.port(), external.port());

    let mut ci = RawClient::connect(&internal.to_string());
    let mut ce = RawClient::connect(&external.to_string());
    assert_eq!(
        metadata_brokers(&mut ci),
        vec![(1, "internal.invalid".to_string(), internal.port() as i32)]
    );
    assert_eq!(
        metadata_brokers(&mut ce),
        vec![(1, "127.0.0.1".to_string(), external.port() as i32)]
    );
    for (c, host, port) in [
        (&mut ci, "internal.invalid", internal.port()),
        (&mut ce, "127.0.0.1", external.port()),
    ] {
        let d = describe_cluster(c, 1, 1);
        assert_eq!(
            (d.error_code, d.endpoint_type, d.controller_id.0),
            (0, 1, 1)
        );
        let nodes: Vec<(String, i32)> = d
            .brokers
            .iter()
            .map(|n| (n.host.to_string(), n.port))
            .collect();
        assert_eq!(nodes, vec![(host.to_string(), port as i32)]);
        assert_eq!(coordinator(c), (host.to_string(), port as i32));
    }

    // A real client bootstrapped on EXTERNAL follows EXTERNAL's endpoint (INTERNAL's host
    // does not resolve): it reads the records produced through INTERNAL.
    assert_eq!(raw::create_topic(&mut ci, "two-listeners", 1, &[]), 0);
    let batch = encode_batch(&[(None, "a"), (None, "b"), (None, "c")], None, now_ms());
    assert_eq!(
        raw::produce(&mut ci, "two-listeners", 0, batch).error_code,
        0
    );
    assert_eq!(
        clients::watermarks(&external.to_string(), "two-listeners", 0),
        (0, 3)
    );
    let got = clients::consume(
        &external.to_string(),
        "two-listeners",
        &[0],
        rdkafka::Offset::Beginning,
        3,
    );
    let values: Vec<Vec<u8>> = got.values().filter_map(|r| r.value.clone()).collect();
    assert_eq!(values, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}

#[test]
fn a_controller_listener_serves_only_controller_apis() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::combined(dir.path());
    let controller = b.listener_addr("CONTROLLER").to_string();
    let plaintext = b.listener_addr("PLAINTEXT");

    // ApiVersions lists exactly the allow-list.
    let mut c = RawClient::connect(&controller);
    let versions = c.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(versions.error_code, 0);
    let mut listed: Vec<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    let mut allowed: Vec<i16> = gregor::router::CONTROLLER_APIS
        .iter()
        .map(|k| *k as i16)
        .collect();
    listed.sort_unstable();
    allowed.sort_unstable();
    assert_eq!(listed, allowed);
    assert!(!listed.contains(&(ApiKey::Produce as i16)));

    // Produce and Metadata close the connection, without an answer.
    let batch = encode_batch(&[(None, "x")], None, now_ms());
    let frame = c.frame(&raw::produce_request("t", 0, batch, -1), 9);
    c.send_raw(&frame);
    assert!(c.read_frame().is_none(), "Produce answered on CONTROLLER");
    let mut c = RawClient::connect(&controller);
    let frame = c.frame(&MetadataRequest::default().with_topics(None), 12);
    c.send_raw(&frame);
    assert!(c.read_frame().is_none(), "Metadata answered on CONTROLLER");

    // The broker listener is unaffected and never advertises the controller listener.
    let mut p = RawClient::connect(&plaintext.to_string());
    assert_eq!(
        metadata_brokers(&mut p),
        vec![(1, "127.0.0.1".to_string(), plaintext.port() as i32)]
    );
    let all = p.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(
        all.api_keys.len() as i32,
        crate::cluster_harness::broker_listener_apis()
    );
}

#[test]
fn describe_cluster_checks_the_endpoint_type() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::combined(dir.path());
    let controller = b.listener_addr("CONTROLLER");
    let mut c = RawClient::connect(&controller.to_string());
    let mut p = RawClient::connect(&b.bootstrap());

    // Controller listener, controller type: the voters, this node at its bound port.
    let d = describe_cluster(&mut c, 1, 2);
    assert_eq!(
        (d.error_code, d.endpoint_type, d.controller_id.0),
        (0, 2, 1)
    );
    let nodes: Vec<(i32, String, i32)> = d
        .brokers
        .iter()
        .map(|n| (n.broker_id.0, n.host.to_string(), n.port))
        .collect();
    assert_eq!(
        nodes,
        vec![(1, "127.0.0.1".to_string(), controller.port() as i32)]
    );
    // The wrong type for the listener: 114 (v1), INVALID_REQUEST at v0.
    let d = describe_cluster(&mut c, 1, 1);
    assert_eq!(d.error_code, 114);
    assert_eq!(
        d.error_message.as_deref(),
        Some("The request was sent to an endpoint of type CONTROLLER, but we wanted an endpoint of type BROKER")
    );
    assert_eq!(describe_cluster(&mut c, 0, 1).error_code, 42);
    let d = describe_cluster(&mut p, 1, 2);
    assert_eq!(d.error_code, 114);
    assert!(d.brokers.is_empty());
    // An unknown type: 115 (v1).
    let d = describe_cluster(&mut p, 1, 3);
    assert_eq!(d.error_code, 115);
    assert_eq!(
        d.error_message.as_deref(),
        Some("Unsupported endpoint type 3")
    );
    assert_eq!(describe_cluster(&mut c, 1, 0).error_code, 115);
    // The broker listener at v0 and v1, broker type.
    for v in [0, 1] {
        let d = describe_cluster(&mut p, v, 1);
        assert_eq!(d.error_code, 0);
        assert_eq!(d.brokers.len(), 1);
        assert_eq!(d.brokers[0].port, b.addr.port() as i32);
    }
}

/// `gregor serve` with a bad cluster configuration exits at once, non-zero, with Kafka's
/// message (and binds nothing).
#[test]
fn serve_refuses_invalid_cluster_configs_with_kafkas_messages() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["process.roles=broker", "controller.listener.names=CONTROLLER"],
            "If using process.roles, either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers.",
        ),
        (
            &[
                "node.id=1",
                "process.roles=broker",
                "controller.listener.names=CONTROLLER",
                "controller.quorum.voters=1@127.0.0.1:9093",
            ],
            "If process.roles contains just the 'broker' role, the node id 1 must not be included in the set of voters controller.quorum.voters=Set(1)",
        ),
        (
            &[
                "process.roles=broker,controller",
                "controller.listener.names=CONTROLLER",
                "controller.quorum.voters=1@127.0.0.1:9093",
            ],
            "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role",
        ),
        (
            &["listeners=SSL://127.0.0.1:0", "inter.broker.listener.name=SSL"],
            "an SSL listener needs a keystore",
        ),
    ];
    for (i, (sets, message)) in cases.iter().enumerate() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join(format!("d{i}")));
        for s in *sets {
            cmd.args(["--set", s]);
        }
        let out = cmd.output().expect("run gregor");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} started: {stderr}");
        assert!(stderr.contains(message), "case {i}: {stderr}");
        assert!(
            !dir.path().join(format!("d{i}")).exists(),
            "case {i} opened its data directory"
        );
    }
}

/// `--listen` sets the PLAINTEXT listener and keeps a CONTROLLER listener given with `--set`.
#[test]
fn the_listen_flag_keeps_the_other_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let controller = free_port();
    let listeners =
        format!("listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:{controller}");
    let voters = format!("controller.quorum.voters=1@127.0.0.1:{controller}");
    let b = crate::support::BrokerProcess::spawn(
        &dir.path().join("data"),
        &[
            "--set",
            &listeners,
            "--set",
            "controller.listener.names=CONTROLLER",
            "--set",
            &voters,
        ],
    );
    let mut p = RawClient::connect(&b.addr);
    let port: i32 = b.addr.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_eq!(
        metadata_brokers(&mut p),
        vec![(1, "127.0.0.1".to_string(), port)]
    );
    let mut c = RawClient::connect(&format!("127.0.0.1:{controller}"));
    let d = describe_cluster(&mut c, 1, 2);
    assert_eq!((d.error_code, d.endpoint_type), (0, 2));
    assert_eq!(d.brokers[0].port, controller as i32);
}

/// A controller-only node: its one listener is the controller's, it registers no broker
/// endpoint, and DescribeCluster (controller type) names it as the quorum's only voter.
#[test]
fn a_controller_only_node_is_no_broker() {
    let dir = tempfile::tempdir().unwrap();
    let voters = format!("7@127.0.0.1:{}", free_port());
    let b = TestBroker::start(
        dir.path(),
        &[
            ("process.roles", "controller"),
            ("node.id", "7"),
            ("listeners", "CONTROLLER://127.0.0.1:0"),
            ("controller.listener.names", "CONTROLLER"),
            ("controller.quorum.voters", voters.as_str()),
        ],
    );
    let controller = b.listener_addr("CONTROLLER");
    assert_eq!(b.addr, controller);
    let registered = b.with_broker(|br| async move { br.metadata.image().brokers.len() });
    assert_eq!(registered, 0);
    let mut c = RawClient::connect(&controller.to_string());
    let d = describe_cluster(&mut c, 1, 2);
    assert_eq!(
        (d.error_code, d.endpoint_type, d.controller_id.0),
        (0, 2, 7)
    );
    let nodes: Vec<(i32, i32)> = d.brokers.iter().map(|n| (n.broker_id.0, n.port)).collect();
    assert_eq!(nodes, vec![(7, controller.port() as i32)]);
    let frame = c.frame(&MetadataRequest::default().with_topics(None), 12);
    c.send_raw(&frame);
    assert!(
        c.read_frame().is_none(),
        "Metadata answered by a controller"
    );
}
