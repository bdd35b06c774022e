//! The multi-node harness itself: [`Cluster`] starts three `gregor serve` processes whose
//! cluster configs (roles, listeners with CONTROLLER, one static quorum) validate and serve,
//! and its faults (kill -9, SIGSTOP/SIGCONT, restart) do what they say; [`Proxy`] proves
//! each of its modes on real Kafka bytes. The nodes form one metadata quorum (its own tests
//! are in `quorum_cluster.rs`); here they only have to share one cluster id and broker list.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;

use crate::support::cluster::Cluster;
use crate::support::proxy::{Mode, Proxy};
use crate::support::{wait_for, RawClient, TestBroker};

fn controller_api_keys(addr: &str) -> Vec<i16> {
    let mut c = RawClient::connect(addr);
    let mut keys: Vec<i16> = c
        .call(&ApiVersionsRequest::default(), 3)
        .api_keys
        .iter()
        .map(|k| k.api_key)
        .collect();
    keys.sort_unstable();
    keys
}

fn describe(addr: &str, endpoint_type: i8) -> DescribeClusterResponse {
    RawClient::connect(addr).call(
        &DescribeClusterRequest::default().with_endpoint_type(endpoint_type),
        1,
    )
}

/// The process state letter of /proc/<pid>/stat (`T` when stopped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    after.chars().next()
}

#[test]
fn three_nodes_with_a_controller_listener_each_start_and_take_faults() {
    let mut cluster = Cluster::new(3);
    cluster.set(Some(1), "broker.rack", "rack-b");
    cluster.start_all();
    let voters: Vec<(i32, String, i32)> = (0..3)
        .map(|i| {
            let port = cluster
                .controller_addr(i)
                .rsplit_once(':')
                .unwrap()
                .1
                .parse()
                .unwrap();
            (cluster.id(i), "127.0.0.1".to_string(), port)
        })
        .collect();
    let mut allowed: Vec<i16> = gregor::router::CONTROLLER_APIS
        .iter()
        .map(|k| *k as i16)
        .collect();
    allowed.sort_unstable();
    let mut cluster_ids = Vec::new();
    for i in 0..3 {
        // Each node's config validated: both listeners serve, each its own API set.
        assert_eq!(controller_api_keys(&cluster.controller_addr(i)), allowed);
        // One quorum: every node comes to list all three brokers (each registers as it
        // starts), each with its own port and rack.
        let d = wait_for("every broker registered", Duration::from_secs(20), || {
            let d = describe(&cluster.broker_addr(i), 1);
            (d.brokers.len() == 3).then_some(d)
        });
        assert_eq!((d.error_code, d.endpoint_type), (0, 1));
        let port: i32 = cluster
            .broker_addr(i)
            .rsplit_once(':')
            .unwrap()
            .1
            .parse()
            .unwrap();
        let me = d
            .brokers
            .iter()
            .find(|b| b.broker_id.0 == cluster.id(i))
            .expect("this node is registered");
        assert_eq!(me.port, port);
        let rack = (i == 1).then(|| "rack-b".to_string());
        assert_eq!(me.rack.as_ref().map(|r| r.to_string()), rack);
        cluster_ids.push(d.cluster_id.to_string());
        // The controller listener names every voter of the static quorum.
        let d = describe(&cluster.controller_addr(i), 2);
        assert_eq!((d.error_code, d.endpoint_type), (0, 2));
        let got: Vec<(i32, String, i32)> = d
            .brokers
            .iter()
            .map(|n| (n.broker_id.0, n.host.to_string(), n.port))
            .collect();
        assert_eq!(got, voters, "node {}", cluster.id(i));
    }
    assert!(cluster.bootstrap().split(',').count() == 3);
    assert!(
        cluster_ids.iter().all(|c| *c == cluster_ids[0]),
        "{cluster_ids:?}"
    );

    // SIGSTOP: the process is stopped; a request sent meanwhile is answered after SIGCONT.
    let pid = cluster.pid(1).expect("pid");
    cluster.pause(1);
    wait_for("node 2 to stop", Duration::from_secs(10), || {
        (proc_state(pid) == Some('T')).then_some(())
    });
    let mut c = RawClient::connect(&cluster.broker_addr(1));
    let frame = c.frame(&DescribeClusterRequest::default(), 0);
    c.send_raw(&frame);
    cluster.resume(1);
    let resp = c.read_frame().expect("answered after SIGCONT");
    assert!(resp.len() > 8);
    assert_ne!(proc_state(pid), Some('T'));

    // kill -9, then restart on the same ports and data: the node keeps its cluster id.
    cluster.kill9(2);
    assert!(!cluster.is_running(2));
    wait_for("node 3's port to close", Duration::from_secs(10), || {
        TcpStream::connect(cluster.broker_addr(2))
            .is_err()
            .then_some(())
    });
    cluster.restart(2);
    assert!(cluster.is_running(2));
    let d = describe(&cluster.broker_addr(2), 1);
    assert_eq!(d.cluster_id.to_string(), cluster_ids[2]);
    assert!(cluster.data_dir(2).join("meta.properties").exists());
}

/// A raw ApiVersions v0 request (header v1, correlation id 7, null client id).
const API_VERSIONS_V0: [u8; 14] = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff];

/// Reads one ApiVersions v0 response and returns (correlation id, error code, api count).
fn read_api_versions(s: &mut TcpStream) -> std::io::Result<(i32, i16, i32)> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size)?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body)?;
    let be32 = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Ok((
        be32(&body[0..4]),
        i16::from_be_bytes([body[4], body[5]]),
        be32(&body[6..10]),
    ))
}

fn ask(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect to proxy");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&API_VERSIONS_V0).expect("write");
    s
}

#[test]
fn the_proxy_passes_holds_resets_and_delays_real_kafka_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBroker::start(dir.path(), &[]);
    let proxy = Proxy::start(b.addr);
    let served = broker_listener_apis();

    // Pass: the broker's answer comes back unchanged.
    let mut s = ask(proxy.addr());
    assert_eq!(read_api_versions(&mut s).unwrap(), (7, 0, served));
    assert_eq!(proxy.connections(), 1);

    // Blackhole: accepted, nothing comes back; the held request flows once passing again.
    proxy.set_mode(Mode::Blackhole);
    let mut held = ask(proxy.addr());
    held.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut one = [0u8; 1];
    let r = held.read(&mut one);
    assert!(
        matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "blackholed connection got {r:?}"
    );
    // The open connection is blackholed too.
    s.write_all(&API_VERSIONS_V0).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(s.read(&mut one).is_err(), "open connection not blackholed");
    proxy.set_mode(Mode::Pass);
    held.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(read_api_versions(&mut held).unwrap(), (7, 0, served));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(read_api_versions(&mut s).unwrap(), (7, 0, served));
    assert_eq!(proxy.connections(), 2);

    // Reset: open connections are closed, new ones closed on accept.
    proxy.set_mode(Mode::Reset);
    let n = s.read(&mut one);
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "open connection survived a reset: {n:?}"
    );
    let mut fresh = ask(proxy.addr());
    let n = fresh.read(&mut one);
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "new connection survived a reset: {n:?}"
    );
    assert_eq!(proxy.connections(), 3);

    // Delay: the answer is intact and takes at least the delay (a lower bound only).
    let delay = Duration::from_millis(200);
    proxy.set_mode(Mode::Delay(delay));
    let started = Instant::now();
    let mut slow = ask(proxy.addr());
    assert_eq!(read_api_versions(&mut slow).unwrap(), (7, 0, served));
    assert!(started.elapsed() >= delay);
    assert_eq!(proxy.connections(), 4);
    assert_eq!(proxy.mode(), Mode::Delay(delay));
}

/// How many APIs a broker listener advertises (controller-only ones are not).
pub fn broker_listener_apis() -> i32 {
    gregor::router::APIS
        .iter()
        .filter(|a| !gregor::router::CONTROLLER_ONLY_APIS.contains(&a.key))
        .count() as i32
}
