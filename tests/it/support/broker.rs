//! Real brokers for tests: [`TestBroker`] runs one in this process on its own runtime,
//! [`BrokerProcess`] runs the `gregor` binary as a child, for tests that kill it, limit its
//! descriptors or switch on its hidden test flags.
//!
//! All tests share one process (one test binary): nothing here changes process-wide state
//! except the tracing subscriber, which is set once with `try_init`. Limits and switches for
//! the broker (`ulimit -n`, `--record-syncs`) apply to the child only.

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gregor::broker::Broker;
use gregor::config::BrokerConfig;
use gregor::node::{self, ServerHandle};

use super::wait::wait_for;

/// A broker running in this process on its own tokio runtime, bound to 127.0.0.1:0, so that a
/// test can start many and read their data directories directly.
pub struct TestBroker {
    rt: Option<tokio::runtime::Runtime>,
    handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl TestBroker {
    pub fn start(dir: &Path, props: &[(&str, &str)]) -> TestBroker {
        // RUST_LOG=gregor=debug shows the broker's logs in failing tests.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        // One PLAINTEXT listener on a free port unless the test names its own listeners.
        let mut pairs: Vec<(String, String)> = Vec::new();
        if !props.iter().any(|(k, _)| *k == "listeners") {
            pairs.push(("listeners".into(), "PLAINTEXT://127.0.0.1:0".into()));
        }
        pairs.extend(props.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut warnings = Vec::new();
        let mut cfg = BrokerConfig::default();
        cfg.apply_properties(&pairs, &mut warnings)
            .expect("valid test config");
        assert!(warnings.is_empty(), "{warnings:?}");
        cfg.data_dir = dir.to_path_buf();
        let handle = rt.block_on(node::start(cfg)).expect("broker starts");
        let addr = handle.local_addr();
        TestBroker {
            rt: Some(rt),
            handle: Some(handle),
            addr,
            dir: dir.to_path_buf(),
        }
    }

    /// A one-voter combined node (`process.roles=broker,controller`, node 1) with a
    /// PLAINTEXT and a CONTROLLER listener on ephemeral ports, for tests of the controller
    /// listener's APIs.
    pub fn combined(dir: &Path) -> TestBroker {
        let voters = format!("1@127.0.0.1:{}", free_port());
        TestBroker::start(
            dir,
            &[
                ("process.roles", "broker,controller"),
                ("node.id", "1"),
                (
                    "listeners",
                    "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
                ),
                ("controller.listener.names", "CONTROLLER"),
                ("controller.quorum.voters", voters.as_str()),
            ],
        )
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The bound address of one listener, by name (`INTERNAL`, `CONTROLLER`, ...).
    pub fn listener_addr(&self, name: &str) -> SocketAddr {
        self.handle
            .as_ref()
            .and_then(|h| h.listener_addr(name))
            .unwrap_or_else(|| panic!("no listener {name}"))
    }

    /// Runs `f` with the broker's services on the broker's runtime: for tests that call a
    /// service no client request reaches directly (e.g. the group coordinator's completion of
    /// a transaction, which the transaction coordinator calls).
    pub fn with_broker<F, Fut>(&self, f: F) -> Fut::Output
    where
        F: FnOnce(Arc<Broker>) -> Fut,
        Fut: Future,
    {
        let (Some(rt), Some(h)) = (self.rt.as_ref(), self.handle.as_ref()) else {
            panic!("the broker is not running");
        };
        rt.block_on(f(h.broker().clone()))
    }

    /// Graceful shutdown: in-flight requests finish, logs are closed cleanly.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let (Some(rt), Some(h)) = (self.rt.take(), self.handle.take()) {
            rt.block_on(h.shutdown()).expect("clean shutdown");
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

/// A free TCP port on 127.0.0.1, bound and released: never one handed out before in this
/// process, and proxies of this process avoid it (a race with other processes remains).
pub fn free_port() -> u16 {
    let mut taken = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    // Held until a port not handed out before comes up, so the kernel does not repeat one.
    let mut held = Vec::new();
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let port = l.local_addr().expect("free port").port();
        if taken.insert(port) {
            return port;
        }
        held.push(l);
    }
}

/// Ports [`free_port`] handed out for a process to bind later: a listener of this test
/// process binding port 0 meanwhile (a proxy) must not take one (see [`is_reserved`]).
static RESERVED: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Whether `port` was handed out by [`free_port`].
pub fn is_reserved(port: u16) -> bool {
    RESERVED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&port)
}

/// The `gregor` binary as a child process, for tests that kill it (a crash is a property of a
/// process, not of a runtime inside the test's own process).
pub struct BrokerProcess {
    child: Child,
    pub addr: String,
    /// Its stderr: `<data dir>.<port>.log`, removed when it is dropped.
    pub log: PathBuf,
}

impl BrokerProcess {
    pub fn spawn(dir: &Path, extra: &[&str]) -> BrokerProcess {
        Self::spawn_on(free_port(), dir, extra)
    }

    /// Starts the broker on a given port (to restart it where clients expect it).
    pub fn spawn_on(port: u16, dir: &Path, extra: &[&str]) -> BrokerProcess {
        Self::spawn_limited(port, dir, extra, None)
    }

    /// Starts the broker, optionally under `ulimit -n fd_limit` (set in the child's shell,
    /// so the test process keeps its own limit).
    pub fn spawn_limited(
        port: u16,
        dir: &Path,
        extra: &[&str],
        fd_limit: Option<u32>,
    ) -> BrokerProcess {
        let addr = format!("127.0.0.1:{port}");
        let log = dir.with_extension(format!("{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = match fd_limit {
            None => Command::new(env!("CARGO_BIN_EXE_gregor")),
            Some(n) => {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    &format!("ulimit -n {n} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_gregor"),
                ]);
                c
            }
        };
        let child = cmd
            .args(["serve", "--listen", &addr, "--data-dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn gregor");
        let p = BrokerProcess {
            child,
            addr: addr.clone(),
            log,
        };
        wait_for(
            "the broker to accept connections",
            Duration::from_secs(20),
            || TcpStream::connect(&addr).ok(),
        );
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Number of file descriptors the broker process holds now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(usize::MAX)
    }

    /// SIGKILL, like a crash or power cut of the process.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "gregor exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "gregor did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BrokerProcess {
    /// Kills the process and removes its log (kept when the test panics, to read it): the log
    /// is beside the data directory, not in it, so removing that directory leaves it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
