//! [`TestBroker`]: one gregor node in this process, for a test suite (see the module doc of
//! [`crate::testing`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::node::{OAuthBearerValidator, OAuthBearerValidators};
use crate::router::faults::Faults;

use super::node::{resolve_key, Node};
use super::storage::{DataDir, Storage};
use super::{admin, Error};

/// Settings the test API applies unless the test sets them: a free port on the loopback
/// interface, and internal topics of one partition (Kafka's 50 would make every first
/// consumer group or transaction create 50 logs).
const TEST_DEFAULTS: &[(&str, &str)] = &[
    ("listeners", "PLAINTEXT://127.0.0.1:0"),
    ("offsets.topic.num.partitions", "1"),
    ("transaction.state.log.num.partitions", "1"),
];

/// Configures and starts a [`TestBroker`]; see [`TestBroker::builder`].
#[derive(Debug, Clone, Default)]
pub struct TestBrokerBuilder {
    props: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    storage: Storage,
    worker_threads: Option<usize>,
    oauthbearer: OAuthBearerValidators,
}

impl TestBrokerBuilder {
    /// Sets a broker or topic configuration key by its Kafka name (`num.partitions`,
    /// `auto.create.topics.enable`, `retention.ms`, …). A topic key sets its broker default
    /// (`retention.ms` → `log.retention.ms`), which every topic then inherits. Later calls win;
    /// an unknown key or a bad value fails [`TestBrokerBuilder::start`] with Kafka's message.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.push((key.into(), value.into()));
        self
    }

    /// Keeps the data in this directory (created if missing, never removed) instead of a
    /// temporary one: to start a broker on data a previous test left.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Where the temporary data directory lives: in memory when there is room (the
    /// default, [`Storage::Auto`]), always in memory, or on disk. Memory makes a start
    /// several times faster: the broker fsyncs its state files as in production, and on a
    /// memory file system an fsync costs nothing. Ignored when [`TestBrokerBuilder::data_dir`] names
    /// a directory.
    ///
    /// ```
    /// use gregor::testing::{Storage, TestBroker};
    ///
    /// let broker = TestBroker::builder().storage(Storage::Disk).start().unwrap();
    /// assert!(broker.data_dir().starts_with(std::env::temp_dir()));
    /// ```
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Worker threads of the broker's own runtime (default 1; disk writes do not hold one).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = Some(n);
        self
    }

    /// Validates OAUTHBEARER tokens with `validator` instead of Kafka's unsecured-JWT
    /// validator, on every SASL listener enabling OAUTHBEARER that has no validator of its
    /// own (see [`super::OAuthBearerValidator`]; kept across restarts).
    ///
    /// ```
    /// use gregor::testing::{OAuthBearerValidator, TestBroker, TokenRefusal, ValidatedToken};
    ///
    /// struct SharedSecret;
    /// impl OAuthBearerValidator for SharedSecret {
    ///     fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenRefusal> {
    ///         match token.strip_prefix("secret-") {
    ///             Some(user) => Ok(ValidatedToken::new(user, now_ms + 3_600_000)),
    ///             None => Err(TokenRefusal::invalid_token("not a shared-secret token")),
    ///         }
    ///     }
    /// }
    ///
    /// let broker = TestBroker::builder()
    ///     .config("listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0")
    ///     .config(
    ///         "listener.security.protocol.map",
    ///         "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
    ///     )
    ///     .config("sasl.enabled.mechanisms", "OAUTHBEARER")
    ///     .oauthbearer_validator(SharedSecret)
    ///     .start()
    ///     .unwrap();
    /// // Clients: security.protocol=SASL_PLAINTEXT, sasl.mechanisms=OAUTHBEARER and a token
    /// // callback (rdkafka: `ClientContext::generate_oauth_token`) returning "secret-alice".
    /// assert!(broker.listener_addr("SASL_PLAINTEXT").is_some());
    /// ```
    pub fn oauthbearer_validator(mut self, validator: impl OAuthBearerValidator) -> Self {
        self.oauthbearer.set_all(std::sync::Arc::new(validator));
        self
    }

    /// As [`TestBrokerBuilder::oauthbearer_validator`], for one listener (its name in
    /// `listeners`); the start fails unless it is a SASL listener enabling OAUTHBEARER.
    pub fn listener_oauthbearer_validator(
        mut self,
        listener: &str,
        validator: impl OAuthBearerValidator,
    ) -> Self {
        self.oauthbearer
            .set_listener(listener, std::sync::Arc::new(validator));
        self
    }

    /// Starts the broker and returns once it serves requests. Callable from plain and async
    /// tests (it blocks the calling thread for the few milliseconds a start takes).
    pub fn start(self) -> Result<TestBroker, Error> {
        let mut props: Vec<(String, String)> = TEST_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in &self.props {
            props.push(resolve_key(k, v)?);
        }
        let custom_listeners = self.props.iter().any(|(k, _)| k == "listeners");
        let dir = match self.data_dir {
            Some(p) => DataDir::kept(p)?,
            None => DataDir::temp(self.storage)?,
        };
        let faults = Arc::new(Faults::new());
        let threads = self.worker_threads.unwrap_or(1);
        let node = Node::start(&props, dir.path(), &faults, &self.oauthbearer, threads)?;
        let port = node.addr().port();
        Ok(TestBroker {
            node: Some(node),
            props,
            custom_listeners,
            port,
            threads,
            faults,
            oauthbearer: self.oauthbearer,
            dir,
        })
    }
}

/// One gregor node running in this process on 127.0.0.1, with its data in a temporary
/// directory (in memory when there is room, see [`Storage`]): a real Kafka-protocol broker for tests, started in milliseconds.
///
/// Dropping it shuts the node down gracefully and waits for it: every connection, task and
/// thread it started has ended, its port is closed and its temporary directory removed.
///
/// ```
/// use gregor::testing::TestBroker;
///
/// let broker = TestBroker::builder().config("num.partitions", "4").start().unwrap();
/// broker.create_topic("orders", 3, 1).unwrap();
/// assert_eq!(broker.partition_leaders("orders").unwrap(), vec![1, 1, 1]);
/// println!("bootstrap.servers={}", broker.bootstrap());
/// ```
pub struct TestBroker {
    node: Option<Node>,
    props: Vec<(String, String)>,
    custom_listeners: bool,
    /// The first listener's port, kept across restarts when it is free.
    port: u16,
    threads: usize,
    faults: Arc<Faults>,
    oauthbearer: OAuthBearerValidators,
    // Declared last: removed after the node has stopped (see `Drop`).
    dir: DataDir,
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker")
            .field("bootstrap", &self.bootstrap())
            .field("running", &self.node.is_some())
            .field("data_dir", &self.dir.path())
            .finish()
    }
}

impl TestBroker {
    /// A builder with the test defaults: a free port on 127.0.0.1, a temporary data
    /// directory, one partition for the internal topics; everything else is Kafka's default.
    pub fn builder() -> TestBrokerBuilder {
        TestBrokerBuilder::default()
    }

    /// A broker with the test defaults: `TestBroker::builder().start()`.
    pub fn start() -> Result<TestBroker, Error> {
        TestBroker::builder().start()
    }

    /// The `bootstrap.servers` value for clients: `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        match &self.node {
            Some(n) => n.addr().to_string(),
            None => format!("127.0.0.1:{}", self.port),
        }
    }

    /// The bound address of a listener by name (`PLAINTEXT`, or the names of a custom
    /// `listeners` setting); `None` when stopped or unknown.
    pub fn listener_addr(&self, name: &str) -> Option<std::net::SocketAddr> {
        self.node.as_ref().and_then(|n| n.listener_addr(name))
    }

    /// The node's data directory (removed when the broker is dropped, unless the builder's
    /// `data_dir` named it).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// This node's fault rules and request counters (they survive restarts).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Whether the broker is running (not stopped).
    pub fn is_running(&self) -> bool {
        self.node.is_some()
    }

    fn running(&self) -> Result<&Node, Error> {
        self.node.as_ref().ok_or(Error::Stopped)
    }

    /// Creates a topic and waits until each partition has its leader. A Kafka error (e.g. 36
    /// TOPIC_ALREADY_EXISTS, 38 INVALID_REPLICATION_FACTOR) is [`Error::Kafka`].
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<(), Error> {
        self.create_topic_with(name, partitions, replication_factor, &[])
    }

    /// As [`TestBroker::create_topic`], with topic configs (`cleanup.policy=compact`, …).
    pub fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) -> Result<(), Error> {
        let node = self.running()?;
        let addr = node.addr().to_string();
        let configs: Vec<(String, String)> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        node.run(admin::create_topic(
            &addr,
            name,
            partitions,
            replication_factor,
            &configs,
        ))
    }

    /// The leader node id of each partition of a topic, by partition (−1: none); empty if
    /// the topic does not exist.
    pub fn partition_leaders(&self, topic: &str) -> Result<Vec<i32>, Error> {
        let node = self.running()?;
        let addr = node.addr().to_string();
        node.run(admin::leaders_at(&addr, topic))
    }

    /// Stops the broker gracefully, keeping its data directory (and fault rules) for
    /// [`TestBroker::restart`]. Clients see their connections close.
    pub fn stop(&mut self) -> Result<(), Error> {
        match self.node.take() {
            Some(n) => n.stop(true),
            None => Ok(()),
        }
    }

    /// Starts the broker again on its data directory, on the same port when it is still
    /// free (else on a new one: read [`TestBroker::bootstrap`] again). Stops it first if
    /// it is running.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop()?;
        let mut props = self.props.clone();
        let same_port = !self.custom_listeners;
        if same_port {
            props.push((
                "listeners".into(),
                format!("PLAINTEXT://127.0.0.1:{}", self.port),
            ));
        }
        let start = |props: &[(String, String)]| {
            Node::start(
                props,
                self.dir.path(),
                &self.faults,
                &self.oauthbearer,
                self.threads,
            )
        };
        let started = match start(&props) {
            Err(Error::Io(e)) if same_port && e.kind() == std::io::ErrorKind::AddrInUse => {
                start(&self.props)
            }
            other => other,
        }?;
        self.port = started.addr().port();
        self.node = Some(started);
        Ok(())
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(n) = self.node.take() {
            if let Err(e) = n.stop(true) {
                tracing::warn!("test broker: unclean shutdown: {e}");
            }
        }
    }
}
