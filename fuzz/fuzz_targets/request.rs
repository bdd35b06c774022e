//! Any bytes as one request frame (size prefix removed) through header decoding, the API
//! table and the handlers of a real broker state on a scratch data directory. A panic, an
//! abort or an allocation beyond libFuzzer's limit is a finding.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use gregor::broker::Broker;
use gregor::config::{BrokerConfig, ClusterConfig};
use gregor::router::{ListenerInfo, Router, Session};
use libfuzzer_sys::fuzz_target;

struct State {
    rt: tokio::runtime::Runtime,
    router: Router,
}

static STATE: OnceLock<State> = OnceLock::new();

fn state() -> &'static State {
    STATE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gregor-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = BrokerConfig { data_dir: dir, ..Default::default() };
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let cluster = ClusterConfig::from_config(&config).expect("zero-config is valid");
        // The metadata quorum blocks on the runtime it starts on: open on a blocking thread
        // of that runtime, as the node does.
        let broker = rt
            .block_on(rt.spawn_blocking(move || Broker::open(config, cluster)))
            .expect("open task")
            .expect("broker");
        let broker = Arc::new(broker);
        State { rt, router: Router::new(broker, ListenerInfo::new("PLAINTEXT", false)) }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = state();
    let peer: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let frame = Bytes::copy_from_slice(data);
    let mut session = Session::anonymous(peer);
    // Long polls and group joins wait by design; a bounded wait keeps the fuzzer fast
    // (dropping the future cancels the wait, as a closed connection would).
    let _ = s.rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_millis(10), s.router.handle_frame(&mut session, frame)).await
    });
});
