//! The one table of configuration keys: every broker and topic key gregor accepts, defined
//! exactly once, as Kafka's `KafkaConfig` and `LogConfig` define theirs with a `ConfigDef`.
//!
//! A row carries the key's name (Kafka's), scope, type (Kafka's `ConfigType` numbering), default,
//! valid range, for topic keys the broker keys that supply their default (Kafka's synonyms, in
//! precedence order) and a one-line doc. Parsing and validation of `server.properties`, topic
//! override validation, topic default resolution, DescribeConfigs and the README's configuration
//! tables are all derived from these rows.
//!
//! Adding a key: add its row here, then read it where it is used (a field of
//! [`BrokerConfig`](super::BrokerConfig) built in `BrokerConfig::from_properties`, or a field of
//! [`LogConfig`](super::LogConfig)); run `gregor config-docs --write README.md`.

use super::ConfigType;

/// Whether a key is set on the broker (`server.properties`) or per topic (CreateTopics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Broker,
    Topic,
}

/// The values a key accepts beyond its type, as Kafka's `ConfigDef` validators state them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// Anything of the right type.
    Any,
    /// A number no smaller than this (`Range.atLeast`).
    AtLeast(i64),
    /// A number within these bounds, inclusive (`Range.between`).
    Between(f64, f64),
    /// One of these strings (`ValidString.in`).
    OneOf(&'static [&'static str]),
    /// A comma-separated list, each element one of these strings (`ValidList.in`).
    ListOf(&'static [&'static str]),
}

/// One configuration key. Built with the `const fn` helpers below so each row reads as one line
/// of the table.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub scope: Scope,
    pub kind: ConfigType,
    /// The default as text; `None` is Kafka's `null` (for topic keys: taken from the synonyms).
    pub default: Option<&'static str>,
    pub range: Range,
    /// Topic keys: the broker keys that supply the default, first set one wins (Kafka's
    /// `ServerTopicConfigSynonyms`). Broker keys: empty.
    pub synonyms: &'static [&'static str],
    /// Broker keys feeding a topic key in another unit: milliseconds per unit (hours, minutes).
    pub scale: i64,
    /// Where gregor's default differs from Kafka's: Kafka's, for the docs.
    pub kafka_default: Option<&'static str>,
    /// Accepted for compatibility with Kafka's `server.properties`, but without effect here.
    pub ignored: bool,
    pub doc: &'static str,
}

/// `authorizer.class.name` values: none, or Kafka's KRaft authorizer.
const AUTHORIZERS: &[&str] = &[
    "",
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
];

const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";

const fn key(
    name: &'static str,
    scope: Scope,
    kind: ConfigType,
    default: Option<&'static str>,
) -> ConfigKey {
    ConfigKey {
        name,
        scope,
        kind,
        default,
        range: Range::Any,
        synonyms: &[],
        scale: 1,
        kafka_default: None,
        ignored: false,
        doc: "",
    }
}

/// A broker key with a default.
const fn b(name: &'static str, kind: ConfigType, default: &'static str) -> ConfigKey {
    key(name, Scope::Broker, kind, Some(default))
}

/// A broker key whose default is `null`.
const fn b_null(name: &'static str, kind: ConfigType) -> ConfigKey {
    key(name, Scope::Broker, kind, None)
}

/// A topic key, defaulting to its first broker synonym that has a value.
const fn t(name: &'static str, kind: ConfigType, synonyms: &'static [&'static str]) -> ConfigKey {
    let mut k = key(name, Scope::Topic, kind, None);
    k.synonyms = synonyms;
    k
}

impl ConfigKey {
    const fn min(mut self, n: i64) -> Self {
        self.range = Range::AtLeast(n);
        self
    }
    const fn between(mut self, lo: f64, hi: f64) -> Self {
        self.range = Range::Between(lo, hi);
        self
    }
    const fn one_of(mut self, v: &'static [&'static str]) -> Self {
        self.range = Range::OneOf(v);
        self
    }
    const fn list_of(mut self, v: &'static [&'static str]) -> Self {
        self.range = Range::ListOf(v);
        self
    }
    const fn scale(mut self, ms_per_unit: i64) -> Self {
        self.scale = ms_per_unit;
        self
    }
    const fn kafka(mut self, kafka_default: &'static str) -> Self {
        self.kafka_default = Some(kafka_default);
        self
    }
    const fn ignored(mut self) -> Self {
        self.ignored = true;
        self.doc = "accepted for compatibility; no effect on a single gregor node";
        self
    }
    const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }
}

use ConfigType::{Boolean, Class, Double, Int, List, Long, Password, Short, String};

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;
const CLIENT_AUTH: &[&str] = &["required", "requested", "none"];
const COMPRESSION: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const CLEANUP: &[&str] = &["compact", "delete"];
const CONSUMER_ASSIGNORS: &[&str] = &["range", "uniform"];
const ROLES: &[&str] = &["broker", "controller"];

/// Every key gregor accepts. Broker keys first, in the order the docs list them, then topic keys
/// alphabetically (the order DescribeConfigs reports them in).
#[rustfmt::skip]
pub const KEYS: &[ConfigKey] = &[
    // --- broker: server ---
    b("listeners", List, "PLAINTEXT://127.0.0.1:9092").kafka("PLAINTEXT://:9092").doc("`NAME://host:port,...`, one server socket each, names and ports unique (port 0: any free port); a missing host means all interfaces; `--listen HOST:PORT` replaces the PLAINTEXT entry"),
    b_null("advertised.listeners", List).doc("`NAME://host:port,...` given to clients per listener name (`--advertised` replaces the PLAINTEXT entry); null: each listener advertises its listen address, a wildcard host becoming 127.0.0.1; port 0: the bound port. When set, broker listeners not named here are not advertised (controller listeners fall back to `listeners`)"),
    b("listener.security.protocol.map", String, "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT").doc("`NAME:PROTOCOL,...`: each listener's security protocol; left unset, the controller listener names map to PLAINTEXT too (as in Kafka). PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL are served, node-to-node listeners included"),
    b_null("inter.broker.listener.name", String).doc("listener other brokers use to reach this one (replica fetchers, transaction markers); null: the listener named after `security.inter.broker.protocol`. Must be an advertised broker listener; on SSL/SASL_SSL the node's own `listener.name.<l>.ssl.*` keystore and truststore are its client side, on SASL_* its `listener.name.<l>.<mechanism>.sasl.jaas.config` `username`/`password`"),
    b("security.inter.broker.protocol", String, "PLAINTEXT").doc("the inter-broker listener, by protocol: the listener of that name (only one of this and `inter.broker.listener.name` may be set)"),
    b("sasl.mechanism.inter.broker.protocol", String, "GSSAPI").doc("mechanism a node authenticates with on a SASL inter-broker listener: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (GSSAPI, Kafka's default, is refused at start-up when used). The principal (`User:<username>`) must be in `super.users` when an authorizer is set"),
    b("sasl.mechanism.controller.protocol", String, "GSSAPI").doc("mechanism brokers and voters authenticate with on a SASL controller listener (registration, heartbeats, forwarding, the quorum's Raft RPCs): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
    b("process.roles", List, "broker,controller").list_of(ROLES).kafka("(none: required)").doc("`broker`, `controller` or both. Kafka has no default; gregor without quorum settings is one node in both roles, its own single voter, with no controller listener"),
    b("controller.quorum.voters", List, "").doc("static quorum `id@host:port,...` (the voters' controller listeners); empty with no bootstrap servers: this node alone"),
    b("controller.quorum.bootstrap.servers", List, "").doc("`host:port,...` of controllers to find the quorum from (KIP-853)"),
    b_null("controller.listener.names", String).doc("names of the listeners the controller uses (first one: how brokers reach it); required once `process.roles` or quorum voters are set"),
    b("controller.quorum.election.timeout.ms", Int, "1000").doc("how long a voter waits without a leader before it starts an election"),
    b("controller.quorum.fetch.timeout.ms", Int, "2000").doc("how long a voter waits without a fetch from the leader before it becomes a candidate"),
    b("controller.quorum.election.backoff.max.ms", Int, "1000").doc("longest backoff before a new election"),
    b("controller.quorum.request.timeout.ms", Int, "2000").doc("timeout of a request between controllers"),
    b("broker.heartbeat.interval.ms", Int, "2000").doc("time between a broker's heartbeats to the active controller"),
    b("broker.session.timeout.ms", Int, "9000").doc("a broker without a heartbeat for this long is fenced"),
    b("broker.liveness.probe.enable", Boolean, "true").kafka("(none: gregor-only)").doc("gregor-only: the active controller fences a broker before its session expires when its heartbeat is late (or its heartbeat connection closed, or the controller just took over) and its inter-broker (and controller) listeners refuse TCP connections — proof its process is gone; a timeout proves nothing and leaves the session in charge"),
    b("initial.broker.registration.timeout.ms", Int, "60000").doc("a broker not registered with the quorum within this time exits"),
    b_null("broker.rack", String).doc("this broker's rack, given to clients in Metadata and used for rack-aware placement"),
    b("log.dirs", String, "./gregor-data").kafka("null").doc("data directory (`--data-dir`); only the first of a list is used"),
    b_null("log.dir", String).kafka("/tmp/kafka-logs").doc("data directory when `log.dirs` is not set"),
    b("node.id", Int, "1").kafka("-1").doc("this broker's id (`--node-id`)"),
    b_null("broker.id", Int).kafka("-1").doc("this broker's id when `node.id` is not set"),
    b("num.partitions", Int, "1").min(1).doc("partitions of auto-created topics and of CreateTopics with -1"),
    b("default.replication.factor", Int, "1").doc("replication factor of auto-created topics and of CreateTopics with -1"),
    b("auto.create.topics.enable", Boolean, "true").doc("create unknown topics on a Metadata request that allows it (never on Produce, as Kafka)"),
    b("delete.topic.enable", Boolean, "true").doc("allow DeleteTopics"),
    b("socket.request.max.bytes", Int, "104857600").min(1).doc("largest request frame; larger ones close the connection"),
    b("max.connections", Int, INT_MAX).min(0).doc("connections beyond it are refused (and logged)"),
    b("max.incremental.fetch.session.cache.slots", Int, "1000").min(0).doc("fetch sessions (KIP-227) the broker keeps; a full fetch beyond them gets none unless it may evict one (Kafka's rules: stale for 2 min, or a follower's over a consumer's, or more partitions)"),
    b("connections.max.idle.ms", Long, "600000").doc("idle connections are closed after this"),
    // --- broker: authorization ---
    b("authorizer.class.name", String, "").one_of(AUTHORIZERS).doc("`org.apache.kafka.metadata.authorizer.StandardAuthorizer` turns ACL checks on (ACLs live in the metadata log); empty: every request is allowed and the ACL APIs answer SECURITY_DISABLED"),
    b_null("super.users", String).doc("`;`-separated principals (`User:admin;User:ops`) allowed everything, whatever the ACLs say"),
    b("allow.everyone.if.no.acl.found", Boolean, "false").doc("with an authorizer: allow an action on a resource that has no ACL at all"),
    // --- broker: TLS (SSL and SASL_SSL listeners; each may be set per listener as `listener.name.<name>.ssl.*`) ---
    b("ssl.keystore.type", String, "PEM").kafka("JKS").doc("format of the keystore; gregor reads PEM only (JKS and PKCS12 are refused at start-up: convert them with openssl/keytool)"),
    b_null("ssl.keystore.location", String).doc("PEM file holding the listener's private key (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with `ssl.key.password`) and its certificate chain, leaf first; re-read when the file changes"),
    b_null("ssl.keystore.password", Password).doc("must stay unset: a PEM keystore has no store password (Kafka's rule)"),
    b_null("ssl.key.password", Password).doc("password of the keystore's encrypted PKCS#8 private key (`ENCRYPTED PRIVATE KEY`: PBES2 with PBKDF2 or scrypt and AES-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes); when set the key must be encrypted, when unset it must not be (Kafka's rule); legacy `Proc-Type: 4,ENCRYPTED` keys are refused"),
    b_null("ssl.keystore.key", Password).doc("the private key as inline PEM, instead of `ssl.keystore.location` (with `ssl.keystore.certificate.chain`)"),
    b_null("ssl.keystore.certificate.chain", Password).doc("the certificate chain as inline PEM, leaf first (with `ssl.keystore.key`)"),
    b("ssl.truststore.type", String, "PEM").kafka("JKS").doc("format of the truststore; PEM only"),
    b_null("ssl.truststore.location", String).doc("PEM file of the CA certificates client certificates are verified against (and, for the peer client, server certificates)"),
    b_null("ssl.truststore.password", Password).doc("must stay unset: a PEM truststore has no password"),
    b_null("ssl.truststore.certificates", Password).doc("the trusted certificates as inline PEM, instead of `ssl.truststore.location`"),
    b("ssl.client.auth", String, "none").one_of(CLIENT_AUTH).doc("`required`: clients must present a certificate the truststore verifies (else the handshake fails); `requested`: verified if presented; `none`: not asked for (principal User:ANONYMOUS)"),
    b("ssl.principal.mapping.rules", String, "DEFAULT").doc("Kafka's `RULE:pattern/replacement/[LU]` and `DEFAULT` list mapping a client certificate's subject DN (RFC 2253) to the principal name (`User:` + it); no matching rule fails the connection"),
    b("ssl.enabled.protocols", List, "TLSv1.2,TLSv1.3").doc("TLS versions offered; TLSv1.2 and TLSv1.3 are supported, older ones are skipped with a warning"),
    b("ssl.protocol", String, "TLSv1.3").doc("accepted for compatibility: the versions are those of `ssl.enabled.protocols`"),
    b("ssl.cipher.suites", List, "").kafka("null").doc("IANA names of the cipher suites allowed (e.g. `TLS_AES_128_GCM_SHA256`); empty: rustls' defaults (AES-GCM and ChaCha20-Poly1305 with ECDHE)"),
    b("ssl.endpoint.identification.algorithm", String, "https").doc("`https`: the peer client checks that a broker's certificate names the host it connects to; empty: no host name check"),
    // --- broker: SASL (src/security/sasl; per listener: `listener.name.<listener>.<key>`) ---
    b("sasl.enabled.mechanisms", List, "GSSAPI").doc("mechanisms a SASL listener offers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI, Kafka's default, is not supported: dropped with a warning)"),
    b_null("sasl.jaas.config", Password).doc("JAAS login modules; PLAIN's users are the `user_<name>=\"<password>\"` options of `PlainLoginModule`, OAUTHBEARER's validator reads the `unsecuredValidator*` options (per listener: `listener.name.<l>.<mechanism>.sasl.jaas.config`)"),
    b_null("sasl.server.callback.handler.class", Class).doc("set per listener and mechanism (`listener.name.<l>.<mechanism>.sasl.server.callback.handler.class`): unset, empty or Kafka's built-in handler of the mechanism (OAUTHBEARER: `org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler`, the unsecured-JWT validator) selects gregor's built-in; any other class refuses the start: a custom OAUTHBEARER validator is installed through the library API (README, \"A validator of your own\")"),
    b("sasl.server.max.receive.size", Int, "524288").min(1).doc("largest request frame before authentication on a SASL listener; larger ones close the connection"),
    b("connection.failed.authentication.delay.ms", Int, "100").min(0).doc("a failed authentication is answered after this delay, then the connection closes"),
    b("connections.max.reauth.ms", Long, "0").doc("KIP-368: a positive value bounds an authenticated SASL session (SaslAuthenticate v1+ answers the lifetime: this or the credential's, e.g. an OAUTHBEARER token's `exp`, whichever ends first); a client must re-authenticate before it ends, a later request closes the connection; 0: no bound (per listener and mechanism: `listener.name.<l>.<mechanism>.connections.max.reauth.ms`)"),
    // --- broker: log defaults for topics (see the topic keys' synonyms) ---
    b("message.max.bytes", Int, "1048588").min(0).doc("largest record batch accepted"),
    b("log.segment.bytes", Int, "1073741824").min(14).doc("roll a segment at this size"),
    b_null("log.roll.ms", Long).min(1).doc("roll a segment at this age; null: `log.roll.hours`"),
    b("log.roll.hours", Int, "168").min(1).scale(HOUR_MS).doc("roll a segment at this age, in hours"),
    b_null("log.roll.jitter.ms", Long).min(0).doc("random jitter subtracted from the roll age (not applied yet); null: `log.roll.jitter.hours`"),
    b("log.roll.jitter.hours", Int, "0").min(0).scale(HOUR_MS).doc("random jitter subtracted from the roll age, in hours (not applied yet)"),
    b_null("log.retention.ms", Long).min(-1).doc("delete segments older than this (-1 = never); null: `log.retention.minutes`"),
    b_null("log.retention.minutes", Int).scale(MINUTE_MS).doc("delete segments older than this, in minutes; null: `log.retention.hours`"),
    b("log.retention.hours", Int, "168").scale(HOUR_MS).doc("delete segments older than this, in hours"),
    b("log.retention.bytes", Long, "-1").min(-1).doc("delete old segments beyond this size per partition (-1 = no limit)"),
    b("log.retention.check.interval.ms", Long, "300000").min(1).doc("how often retention runs"),
    b("log.index.interval.bytes", Int, "4096").min(0).doc("bytes of log between index entries"),
    b("log.index.size.max.bytes", Int, "10485760").min(8).doc("index file size; a full index rolls the segment"),
    b("log.flush.interval.messages", Long, LONG_MAX).min(1).doc("fsync after this many records (`--durable` sets 1)"),
    b("log.flush.interval.ms", Long, LONG_MAX).min(0).kafka("null").doc("fsync when unflushed data is this old"),
    b("log.flush.scheduler.interval.ms", Long, "1000").kafka(LONG_MAX).doc("maintenance round: flush checks, and idle segments let go of their descriptors"),
    b("log.flush.offset.checkpoint.interval.ms", Int, "60000").min(0).doc("how often recovery points are checkpointed"),
    b("replica.high.watermark.checkpoint.interval.ms", Long, "5000").min(1).doc("how often the partitions' high watermarks are written to `replication-offset-checkpoint` (also at shutdown)"),
    b("log.message.timestamp.type", String, "CreateTime").one_of(TIMESTAMP_TYPES).doc("timestamp type of new topics"),
    b("log.message.timestamp.before.max.ms", Long, LONG_MAX).min(0).doc("how far in the past a CreateTime timestamp may lie (INVALID_TIMESTAMP beyond)"),
    b("log.message.timestamp.after.max.ms", Long, LONG_MAX).min(0).doc("how far in the future a CreateTime timestamp may lie (INVALID_TIMESTAMP beyond)"),
    b("log.cleanup.policy", List, "delete").list_of(CLEANUP).doc("`delete`: retention by time and size; `compact`: the log cleaner keeps the latest record per key (and retention is off unless `delete` is listed too)"),
    b("log.cleaner.enable", Boolean, "true").doc("run the log cleaner (compaction of `compact` topics, `__consumer_offsets` and `__transaction_state` included)"),
    b("log.cleaner.threads", Int, "1").min(0).doc("cleaner threads; each owns `log.cleaner.dedupe.buffer.size / threads` of offset map"),
    b("log.cleaner.dedupe.buffer.size", Long, "134217728").doc("memory of all cleaner threads' offset maps (24 bytes per key); a dirty range with more keys is cleaned in several passes"),
    b("log.cleaner.io.buffer.size", Int, "524288").min(0).doc("memory of all cleaner threads' I/O buffers: each thread reads and writes segments through two buffers of `size / threads / 2` bytes (at least 64 KiB; grown for a larger batch)"),
    b("log.cleaner.io.buffer.load.factor", Double, "0.9").doc("fill factor of the offset map before a pass stops adding keys"),
    b("log.cleaner.backoff.ms", Long, "15000").min(0).doc("how long a cleaner thread sleeps when no log needs cleaning"),
    b("log.cleaner.io.max.bytes.per.second", Double, "1.7976931348623157E308").doc("cleaner I/O throttle, reads and writes together"),
    b("log.cleaner.delete.retention.ms", Long, "86400000").min(0).doc("how long the cleaner keeps a tombstone (and an emptied transaction's marker) after first cleaning it"),
    b("log.cleaner.min.compaction.lag.ms", Long, "0").min(0).doc("records younger than this are not compacted"),
    b("log.cleaner.max.compaction.lag.ms", Long, LONG_MAX).min(1).doc("a log whose oldest uncompacted record is older is compacted whatever its dirty ratio"),
    b("log.cleaner.min.cleanable.ratio", Double, "0.5").between(0.0, 1.0).doc("dirty bytes / log bytes at which a log is compacted"),
    b("log.segment.delete.delay.ms", Long, "60000").min(0).doc("delay before a deleted segment's files are removed (not applied: removed at once)"),
    b("log.preallocate", Boolean, "false").doc("preallocate segment files (not done: segments grow)"),
    b("compression.type", String, "producer").one_of(COMPRESSION).doc("batches are stored as the producer compressed them (recompression is not done)"),
    b("min.insync.replicas", Int, "1").min(1).doc("fewest in-sync replicas for an acks=all produce (NOT_ENOUGH_REPLICAS below); always met on a single node"),
    b("unclean.leader.election.enable", Boolean, "false").doc("elect a leader outside the ISR when no ISR member is alive (may lose acknowledged records)"),
    // --- broker: replication ---
    b("replica.lag.time.max.ms", Long, "30000").doc("a follower that has not caught up for this long leaves the ISR"),
    b("replica.fetch.wait.max.ms", Int, "500").doc("longest wait of a follower's fetch; at most `replica.lag.time.max.ms` and `replica.socket.timeout.ms`"),
    b("replica.fetch.min.bytes", Int, "1").doc("bytes a follower's fetch waits for"),
    b("replica.fetch.max.bytes", Int, "1048576").min(0).doc("bytes a follower fetches per partition (a larger first batch still comes whole)"),
    b("replica.fetch.backoff.ms", Int, "1000").min(0).doc("pause after a failed follower fetch"),
    b("replica.socket.timeout.ms", Int, "30000").doc("socket timeout of follower fetches"),
    b("num.replica.fetchers", Int, "1").doc("fetcher threads per source broker"),
    b("auto.leader.rebalance.enable", Boolean, "true").doc("the active controller moves leadership back to the preferred replica (the first of the assignment) every `leader.imbalance.check.interval.seconds`"),
    b("leader.imbalance.check.interval.seconds", Long, "300").min(1).doc("how often the active controller checks for leader imbalance (then elects the preferred leader of every partition whose first replica is alive and in the ISR but does not lead)"),
    b("leader.imbalance.per.broker.percentage", Int, "10").ignored().doc("ZooKeeper mode's imbalance threshold; a KRaft controller (Kafka's and gregor's) rebalances whenever any partition is off its preferred leader"),
    b("unclean.leader.election.interval.ms", Long, "300000").min(1).doc("how often the active controller runs unclean elections for leaderless partitions whose topic allows them (an internal key in Kafka); a change of `unclean.leader.election.enable` also runs them at once"),
    b("controlled.shutdown.enable", Boolean, "true").doc("a broker stopping gracefully (SIGTERM) first asks the controller to move its leaderships away and serves until it answers (at most `broker.session.timeout.ms`; its leaderships have moved by then)"),
    b("offsets.topic.replication.factor", Short, "3").min(1).doc("replication factor of `__consumer_offsets`; created with min(this, registered brokers), so a single node needs no setting (Kafka refuses to create it with fewer brokers)"),
    b("transaction.state.log.replication.factor", Short, "3").min(1).doc("replication factor of `__transaction_state`; created with min(this, registered brokers), as `offsets.topic.replication.factor`"),
    b("transaction.state.log.min.isr", Int, "2").min(1).doc("`min.insync.replicas` of `__transaction_state`; capped at its replication factor"),
    b("offsets.topic.num.partitions", Int, "50").min(1).doc("partitions of `__consumer_offsets`, created through the controller on the first group request (FindCoordinator); never changed afterwards. A data dir from before replication keeps its one partition"),
    b("transaction.state.log.num.partitions", Int, "50").min(1).doc("partitions of `__transaction_state`, created on the first transactional request; never changed afterwards (a pre-replication data dir keeps its one partition)"),
    b("offsets.commit.timeout.ms", Int, "5000").min(1).doc("how long a coordinator write (offset commit, group or transaction state) waits to be committed by the ISR before it fails (REQUEST_TIMED_OUT → COORDINATOR_NOT_AVAILABLE)"),
    // --- broker: group coordinator ---
    b("group.initial.rebalance.delay.ms", Int, "0").min(0).kafka("3000").doc("how long a new group waits for more members before its first rebalance; gregor's dev default lets a first consumer start at once"),
    b("group.min.session.timeout.ms", Int, "6000").doc("shortest `session.timeout.ms` a consumer may ask for"),
    b("group.max.session.timeout.ms", Int, "1800000").doc("longest `session.timeout.ms` a consumer may ask for"),
    b("group.consumer.session.timeout.ms", Int, "45000").min(1).doc("KIP-848 consumer groups: a member that sends no ConsumerGroupHeartbeat for this long is fenced and its partitions reassigned"),
    b("group.consumer.heartbeat.interval.ms", Int, "5000").min(1).doc("KIP-848 consumer groups: the heartbeat interval the coordinator gives its members"),
    b("group.consumer.min.session.timeout.ms", Int, "45000").min(1).doc("KIP-848 consumer groups: the smallest session timeout allowed (`group.consumer.session.timeout.ms` must be at least this)"),
    b("group.consumer.max.session.timeout.ms", Int, "60000").min(1).doc("KIP-848 consumer groups: the largest session timeout allowed (`group.consumer.session.timeout.ms` must be at most this)"),
    b("group.consumer.min.heartbeat.interval.ms", Int, "5000").min(1).doc("KIP-848 consumer groups: the smallest heartbeat interval allowed (`group.consumer.heartbeat.interval.ms` must be at least this)"),
    b("group.consumer.max.heartbeat.interval.ms", Int, "15000").min(1).doc("KIP-848 consumer groups: the largest heartbeat interval allowed (`group.consumer.heartbeat.interval.ms` must be at most this)"),
    b("group.consumer.assignors", List, "uniform,range").list_of(CONSUMER_ASSIGNORS).kafka("org.apache.kafka.coordinator.group.assignor.UniformAssignor,org.apache.kafka.coordinator.group.assignor.RangeAssignor").doc("KIP-848 consumer groups: the server-side assignors a member may name (`uniform`, `range`); the first is the default"),
    b("group.consumer.max.size", Int, "2147483647").min(1).doc("KIP-848 consumer groups: most members in one group (GROUP_MAX_SIZE_REACHED beyond)"),
    b("offsets.retention.minutes", Int, "10080").min(1).doc("committed offsets of a group that has been empty this long are deleted"),
    b("offsets.retention.check.interval.ms", Long, "600000").min(1).doc("how often offset retention runs"),
    b("offsets.topic.segment.bytes", Int, "104857600").min(1).doc("segment size of `__consumer_offsets` (kept small so the log cleaner can compact it: the active segment is never cleaned)"),
    b("offset.metadata.max.bytes", Int, "4096").min(0).doc("longest metadata string of a commit (OFFSET_METADATA_TOO_LARGE beyond)"),
    // --- broker: transaction coordinator ---
    b("transaction.max.timeout.ms", Int, "900000").min(1).doc("longest `transaction.timeout.ms` a producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond)"),
    b("transactional.id.expiration.ms", Int, "604800000").min(1).doc("a transactional id with no transaction for this long is expired"),
    b("transaction.state.log.segment.bytes", Int, "104857600").min(1).doc("segment size of `__transaction_state` (kept small so the log cleaner can compact it)"),
    b("transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, "10000").min(1).doc("how often transactions past their timeout are aborted"),
    b("transaction.remove.expired.transaction.cleanup.interval.ms", Int, "3600000").min(1).doc("how often expired transactional ids are removed"),
    // --- broker: metadata quorum ---
    b("metadata.log.max.record.bytes.between.snapshots", Long, "20971520").min(1).doc("the metadata quorum writes a snapshot (`<offset>-<epoch>.checkpoint`) once its log grew by this many bytes, then drops the log before it"),
    // --- broker: Kafka keys accepted and ignored ---
    b("num.network.threads", Int, "3").min(1).ignored(),
    b("num.io.threads", Int, "8").min(1).ignored(),
    b("socket.send.buffer.bytes", Int, "102400").ignored(),
    b("socket.receive.buffer.bytes", Int, "102400").ignored(),
    b("num.recovery.threads.per.data.dir", Int, "2").min(1).ignored(),
    // --- topic keys ---
    t("cleanup.policy", List, &["log.cleanup.policy"]).list_of(CLEANUP).doc("`delete`: time and size retention apply; `compact`: the log cleaner keeps the latest record per key and records need keys; both: both"),
    t("compression.type", String, &["compression.type"]).one_of(COMPRESSION).doc("batches are stored as the producer compressed them"),
    t("delete.retention.ms", Long, &["log.cleaner.delete.retention.ms"]).min(0).doc("how long the cleaner keeps a tombstone (and an emptied transaction's marker) after first cleaning it"),
    t("file.delete.delay.ms", Long, &["log.segment.delete.delay.ms"]).min(0).doc("delay before a deleted segment's files are removed (not applied: removed at once)"),
    t("flush.messages", Long, &["log.flush.interval.messages"]).min(1).doc("fsync after this many records"),
    t("flush.ms", Long, &["log.flush.interval.ms"]).min(0).doc("fsync when unflushed data is this old"),
    t("index.interval.bytes", Int, &["log.index.interval.bytes"]).min(0).doc("bytes of log between index entries"),
    t("max.compaction.lag.ms", Long, &["log.cleaner.max.compaction.lag.ms"]).min(1).doc("a log whose oldest uncompacted record is older is compacted whatever its dirty ratio"),
    t("max.message.bytes", Int, &["message.max.bytes"]).min(0).doc("largest record batch accepted (MESSAGE_TOO_LARGE beyond)"),
    t("message.timestamp.after.max.ms", Long, &["log.message.timestamp.after.max.ms"]).min(0).doc("how far in the future a CreateTime timestamp may lie"),
    t("message.timestamp.before.max.ms", Long, &["log.message.timestamp.before.max.ms"]).min(0).doc("how far in the past a CreateTime timestamp may lie"),
    t("message.timestamp.type", String, &["log.message.timestamp.type"]).one_of(TIMESTAMP_TYPES).doc("`LogAppendTime`: the broker stamps each batch with its own clock"),
    t("min.cleanable.dirty.ratio", Double, &["log.cleaner.min.cleanable.ratio"]).between(0.0, 1.0).doc("dirty bytes / log bytes at which the log is compacted"),
    t("min.compaction.lag.ms", Long, &["log.cleaner.min.compaction.lag.ms"]).min(0).doc("records younger than this are not compacted"),
    t("min.insync.replicas", Int, &["min.insync.replicas"]).min(1).doc("fewest in-sync replicas for an acks=all produce (NOT_ENOUGH_REPLICAS below)"),
    t("preallocate", Boolean, &["log.preallocate"]).doc("preallocate segment files (not done)"),
    t("retention.bytes", Long, &["log.retention.bytes"]).min(-1).doc("delete old segments beyond this size per partition (-1 = no limit)"),
    t("retention.ms", Long, &["log.retention.ms", "log.retention.minutes", "log.retention.hours"]).min(-1).doc("delete segments older than this (-1 = never)"),
    t("segment.bytes", Int, &["log.segment.bytes"]).min(14).doc("roll a segment at this size"),
    t("segment.index.bytes", Int, &["log.index.size.max.bytes"]).min(8).doc("index file size; a full index rolls the segment"),
    t("segment.jitter.ms", Long, &["log.roll.jitter.ms", "log.roll.jitter.hours"]).min(0).doc("random jitter subtracted from the roll age (not applied yet)"),
    t("segment.ms", Long, &["log.roll.ms", "log.roll.hours"]).min(1).doc("roll a segment at this age"),
    t("unclean.leader.election.enable", Boolean, &["unclean.leader.election.enable"]).doc("elect a leader outside the ISR when no ISR member is alive"),
];

/// The broker key of this name.
pub fn broker_key(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter()
        .find(|k| k.scope == Scope::Broker && k.name == name)
}

/// The key a listener-prefixed name overrides (`listener.name.<listener>.ssl.keystore.location`
/// → the `ssl.keystore.location` row; `listener.name.<listener>.<mechanism>.sasl.jaas.config`
/// → `sasl.jaas.config`), as Kafka's per-listener overrides: only the keys Kafka lets a
/// listener override (TLS and SASL here), with a non-empty listener name.
pub fn listener_key(name: &str) -> Option<&'static ConfigKey> {
    let rest = name.strip_prefix("listener.name.")?;
    let (listener, key) = rest.split_once('.')?;
    if listener.is_empty() {
        return None;
    }
    let key = match key.split_once('.') {
        Some((mechanism, k)) if MECHANISM_KEYS.contains(&k) && !mechanism.is_empty() => k,
        _ => key,
    };
    if !LISTENER_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return None;
    }
    broker_key(key)
}

/// The key families that may be set per listener (`listener.name.<l>.<key>`).
const LISTENER_PREFIXES: &[&str] = &["ssl.", "sasl.", "connections.max.reauth.ms"];

/// The keys that may also be set per listener and SASL mechanism
/// (`listener.name.<l>.<mechanism>.<key>`).
const MECHANISM_KEYS: &[&str] = &[
    "sasl.jaas.config",
    "connections.max.reauth.ms",
    "sasl.server.callback.handler.class",
];

/// The topic key of this name.
pub fn topic_key(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter()
        .find(|k| k.scope == Scope::Topic && k.name == name)
}

/// Every key of one scope, in table order.
pub fn keys(scope: Scope) -> impl Iterator<Item = &'static ConfigKey> {
    KEYS.iter().filter(move |k| k.scope == scope)
}

/// A bad value, worded as Kafka's `ConfigException`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: std::string::String,
    pub value: std::string::String,
    pub reason: std::string::String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Invalid value {} for configuration {}: {}",
            self.value, self.key, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

impl ConfigKey {
    /// Checks a value against the key's type and range (Kafka's `ConfigDef.parse`).
    pub fn validate(&self, value: &str) -> Result<(), ConfigError> {
        self.check(value.trim()).map_err(|reason| ConfigError {
            key: self.name.to_string(),
            value: value.to_string(),
            reason,
        })
    }

    fn check(&self, v: &str) -> Result<(), std::string::String> {
        let not_a = |t: &str| format!("Not a number of type {t}");
        let number: Option<f64> = match self.kind {
            Boolean => {
                if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                    None
                } else {
                    return Err("Expected value to be either true or false".into());
                }
            }
            Short => Some(v.parse::<i16>().map_err(|_| not_a("SHORT"))? as f64),
            Int => Some(v.parse::<i32>().map_err(|_| not_a("INT"))? as f64),
            Long => {
                let n = v.parse::<i64>().map_err(|_| not_a("LONG"))?;
                // Compare longs exactly: f64 cannot hold every i64.
                if let Range::AtLeast(min) = self.range {
                    if n < min {
                        return Err(format!("Value must be at least {min}"));
                    }
                }
                None
            }
            Double => Some(v.parse::<f64>().map_err(|_| not_a("DOUBLE"))?),
            String | List | Password | Class => None,
        };
        match (self.range, number) {
            (Range::AtLeast(min), Some(n)) if n < min as f64 => {
                Err(format!("Value must be at least {min}"))
            }
            (Range::Between(lo, _), Some(n)) if n < lo => {
                Err(format!("Value must be at least {lo}"))
            }
            (Range::Between(_, hi), Some(n)) if n > hi => {
                Err(format!("Value must be no more than {hi}"))
            }
            (Range::OneOf(allowed), _) if !allowed.contains(&v) => {
                Err(format!("String must be one of: {}", allowed.join(", ")))
            }
            (Range::ListOf(allowed), _) => {
                match v.split(',').map(str::trim).find(|e| !allowed.contains(e)) {
                    Some(_) => Err(format!("String must be one of: {}", allowed.join(", "))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// The range as Kafka's docs print it ("[1,...]", "[0.0,...,1.0]", "[delete, compact]").
    pub fn range_text(&self) -> std::string::String {
        match self.range {
            Range::Any => std::string::String::new(),
            Range::AtLeast(n) => format!("[{n},...]"),
            Range::Between(lo, hi) => format!("[{lo:?},...,{hi:?}]"),
            Range::OneOf(v) | Range::ListOf(v) => format!("[{}]", v.join(", ")),
        }
    }

    /// The broker key's value in the topic key's unit (`log.retention.hours=1` → `3600000`).
    pub fn to_topic_value(&self, value: &str) -> std::string::String {
        let v = value.trim();
        if self.scale == 1 {
            return v.to_string();
        }
        match v.parse::<i64>() {
            Ok(n) => n.saturating_mul(self.scale).to_string(),
            Err(_) => v.to_string(),
        }
    }

    /// A topic key's default: its first broker synonym that has a default, in its unit.
    pub fn topic_default(&self) -> Option<std::string::String> {
        if let Some(d) = self.default {
            return Some(d.to_string());
        }
        self.synonyms
            .iter()
            .filter_map(|s| broker_key(s))
            .find_map(|s| s.default.map(|d| s.to_topic_value(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_consistent() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                !KEYS[..i]
                    .iter()
                    .any(|o| o.name == k.name && o.scope == k.scope),
                "{} defined twice",
                k.name
            );
            if let Some(d) = k.default {
                k.validate(d)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", k.name));
            }
            match k.scope {
                Scope::Broker => assert!(k.synonyms.is_empty(), "{}", k.name),
                Scope::Topic => {
                    let d = k.topic_default();
                    let d = d.unwrap_or_else(|| panic!("{} has no default", k.name));
                    k.validate(&d)
                        .unwrap_or_else(|e| panic!("default of {}: {e}", k.name));
                    for s in k.synonyms {
                        let b = broker_key(s).unwrap_or_else(|| panic!("{s}: no broker row"));
                        if b.scale == 1 {
                            assert_eq!((b.kind, b.range), (k.kind, k.range), "{s} vs {}", k.name);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn kafka_defaults_through_synonyms() {
        let d = |n: &str| topic_key(n).and_then(|k| k.topic_default());
        assert_eq!(d("retention.ms").as_deref(), Some("604800000"));
        assert_eq!(d("segment.ms").as_deref(), Some("604800000"));
        assert_eq!(d("segment.jitter.ms").as_deref(), Some("0"));
        assert_eq!(d("max.message.bytes").as_deref(), Some("1048588"));
        assert_eq!(d("cleanup.policy").as_deref(), Some("delete"));
    }
}
