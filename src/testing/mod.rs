//! gregor as a library: a real Kafka-protocol broker (or cluster) in your test process, with
//! fault injection.
//!
//! [`TestBroker`] starts one gregor node on 127.0.0.1 with a free port and a temporary data
//! directory in a few milliseconds; any client (rdkafka, kafka-protocol, …) talks to it over
//! TCP at [`TestBroker::bootstrap`]. Many can run in parallel in one test binary: each has its
//! own runtime, port, directory and fault rules, and dropping one stops it and releases all of
//! them. [`TestCluster`] runs several replicating nodes, to kill a partition leader.
//!
//! The temporary directory is in memory when the system has room for it (`/dev/shm`; see
//! [`Storage`]): the broker runs its production code, fsyncs included, and on a memory file
//! system those cost nothing, which makes a start several times faster than on a disk
//! (figures: `scripts/bench-embedded`, BENCHMARKS.md "Embedded").
//!
//! Fault injection ([`Faults`], [`Rule`]) in the spirit of franz-go kfake's `ControlKey`:
//! a rule matches requests by api key (and optionally topic, partition, client id) and
//! answers them with an error code (built from the real request, e.g. a Produce answered with
//! NOT_LEADER_OR_FOLLOWER for each of its partitions), delays them, drops the connection, or
//! lets them through; once, `n` times or always. Every request is counted per api key. A rule
//! naming a topic or partition answers only those partitions of a Produce, Fetch, ListOffsets
//! or OffsetCommit that names others too, and the broker serves the rest (a Fetch v13+ names
//! topics by id; the rule still matches by name).
//!
//! The module is the `testing` cargo feature, on by default (a test suite adds gregor as a
//! dev-dependency and has it); `default-features = false` leaves it out.
//!
//! A producer and a consumer (rdkafka) against an in-process broker:
//!
//! ```
//! use std::time::Duration;
//! use gregor::testing::TestBroker;
//! use rdkafka::config::ClientConfig;
//! use rdkafka::consumer::{BaseConsumer, Consumer};
//! use rdkafka::producer::{FutureProducer, FutureRecord};
//! use rdkafka::Message;
//!
//! let broker = TestBroker::start().unwrap();
//! broker.create_topic("greetings", 1, 1).unwrap();
//!
//! let producer: FutureProducer = ClientConfig::new()
//!     .set("bootstrap.servers", broker.bootstrap())
//!     .create()
//!     .unwrap();
//! let record = FutureRecord::to("greetings").key("k").payload("hello");
//! let delivered = futures::executor::block_on(producer.send(record, Duration::from_secs(10)))
//!     .map_err(|(e, _)| e)
//!     .unwrap();
//! assert_eq!((delivered.partition, delivered.offset), (0, 0));
//!
//! let consumer: BaseConsumer = ClientConfig::new()
//!     .set("bootstrap.servers", broker.bootstrap())
//!     .set("group.id", "readers")
//!     .set("auto.offset.reset", "earliest")
//!     .create()
//!     .unwrap();
//! consumer.subscribe(&["greetings"]).unwrap();
//! let message = loop {
//!     if let Some(m) = consumer.poll(Duration::from_millis(100)) {
//!         break m.unwrap();
//!     }
//! };
//! assert_eq!(message.payload(), Some(&b"hello"[..]));
//! ```
//!
//! Injecting NOT_LEADER_OR_FOLLOWER on the first Produce: the client refreshes its metadata,
//! retries, and the record lands exactly once, at offset 0:
//!
//! ```
//! use std::time::Duration;
//! use gregor::testing::{api, codes, Rule, TestBroker};
//! use rdkafka::config::ClientConfig;
//! use rdkafka::producer::{FutureProducer, FutureRecord};
//!
//! let broker = TestBroker::start().unwrap();
//! broker.create_topic("orders", 1, 1).unwrap();
//! let rule = broker
//!     .faults()
//!     .add(Rule::new(api::PRODUCE).topic("orders").error(codes::NOT_LEADER_OR_FOLLOWER).once())
//!     .unwrap();
//!
//! let producer: FutureProducer = ClientConfig::new()
//!     .set("bootstrap.servers", broker.bootstrap())
//!     .set("retry.backoff.ms", "10")
//!     .create()
//!     .unwrap();
//! let record = FutureRecord::to("orders").key("id-1").payload("paid");
//! let delivered = futures::executor::block_on(producer.send(record, Duration::from_secs(10)))
//!     .map_err(|(e, _)| e)
//!     .unwrap();
//!
//! assert_eq!(delivered.offset, 0); // exactly once: the refused attempt wrote nothing
//! assert_eq!(rule.hits(), 1);
//! assert_eq!(broker.faults().calls(api::PRODUCE), 2); // the refused one and the retry
//! ```
//!
//! OAUTHBEARER: a broker's SASL listeners validate bearer tokens with Kafka's unsecured-JWT
//! validator unless the test installs its own [`OAuthBearerValidator`]
//! ([`TestBrokerBuilder::oauthbearer_validator`]).
//!
//! Runtime: each node runs on a multi-threaded tokio runtime of its own (one worker by
//! default), so the API is synchronous and callable from `#[test]` and `#[tokio::test]`
//! alike. Logs go through `tracing`; install a subscriber to see them.

mod admin;
mod broker;
mod cluster;
mod node;
mod storage;

pub use crate::node::{OAuthBearerValidator, TokenRefusal, UnsecuredValidator, ValidatedToken};
pub use crate::router::faults::{Action, FaultError, Faults, Rule, RuleHandle};
pub use broker::{TestBroker, TestBrokerBuilder};
pub use cluster::{TestCluster, TestClusterBuilder, CLUSTER_TIMINGS};
pub use storage::Storage;

/// Why a test-API call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key or value was refused (Kafka's message).
    Config(String),
    /// Starting or stopping a node failed (a port in use, the data directory, …).
    Io(std::io::Error),
    /// The broker answered with a Kafka error code.
    Kafka { code: i16, message: String },
    /// A request to the broker failed (connection, timeout, unexpected answer).
    Request(String),
    /// The broker (or every node of the cluster) is stopped.
    Stopped,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(m) => write!(f, "configuration: {m}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Kafka { code, message } => write!(f, "Kafka error code {code}: {message}"),
            Error::Request(m) => write!(f, "request failed: {m}"),
            Error::Stopped => f.write_str("the broker is stopped"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FaultError> for Error {
    fn from(e: FaultError) -> Self {
        Error::Config(e.to_string())
    }
}

/// Kafka's api keys, for [`Rule::new`] and [`Faults::calls`].
pub mod api {
    pub const PRODUCE: i16 = 0;
    pub const FETCH: i16 = 1;
    pub const LIST_OFFSETS: i16 = 2;
    pub const METADATA: i16 = 3;
    pub const OFFSET_COMMIT: i16 = 8;
    pub const OFFSET_FETCH: i16 = 9;
    pub const FIND_COORDINATOR: i16 = 10;
    pub const JOIN_GROUP: i16 = 11;
    pub const HEARTBEAT: i16 = 12;
    pub const LEAVE_GROUP: i16 = 13;
    pub const SYNC_GROUP: i16 = 14;
    pub const API_VERSIONS: i16 = 18;
    pub const CREATE_TOPICS: i16 = 19;
    pub const DELETE_TOPICS: i16 = 20;
    pub const INIT_PRODUCER_ID: i16 = 22;
    pub const ADD_PARTITIONS_TO_TXN: i16 = 24;
    pub const ADD_OFFSETS_TO_TXN: i16 = 25;
    pub const END_TXN: i16 = 26;
}

/// Kafka's error codes most often injected, for [`Rule::error`].
pub mod codes {
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const NETWORK_EXCEPTION: i16 = 13;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const NOT_ENOUGH_REPLICAS: i16 = 19;
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
    pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    pub const THROTTLING_QUOTA_EXCEEDED: i16 = 89;
}
