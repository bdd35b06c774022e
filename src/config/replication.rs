//! [`ReplicationConfig`]: the typed timings and factors of replication, the metadata quorum
//! and the broker lifecycle (Kafka's `ReplicationConfigs`, `QuorumConfig`, `KRaftConfigs`
//! keys), read once at start-up from the key table's rows, plus gregor's rule for the
//! replication factor of its internal topics ([`internal_topic_replication_factor`]).
//!
//! Only static keys live here: `min.insync.replicas` and `unclean.leader.election.enable` are
//! topic configs with dynamic broker synonyms and are read per topic from its `LogConfig`
//! layers. The ordering rules between these values (`replica.fetch.wait.max.ms` at most the
//! lag and socket timeouts) are checked by [`super::ClusterConfig::from_config`]. A value.

use super::properties::Props;
use super::BrokerConfig;

/// The quorum, lifecycle and replication timings scaled down for tests (Kafka's defaults make
/// a failover take tens of seconds): what `gregor::testing::TestCluster` runs with and the
/// project's own cluster harness of `gregor serve` processes passes — one definition for both.
/// With these a dead leader is replaced in about a second (quorum fetch timeout 600 ms, broker
/// session 2 s).
pub const TEST_CLUSTER_TIMINGS: &[(&str, &str)] = &[
    ("controller.quorum.election.timeout.ms", "300"),
    ("controller.quorum.fetch.timeout.ms", "600"),
    ("controller.quorum.election.backoff.max.ms", "300"),
    ("controller.quorum.request.timeout.ms", "1000"),
    ("broker.heartbeat.interval.ms", "200"),
    ("broker.session.timeout.ms", "2000"),
    ("replica.lag.time.max.ms", "2000"),
    ("replica.fetch.wait.max.ms", "100"),
    ("replica.fetch.backoff.ms", "100"),
];

/// Replication, quorum and lifecycle settings (see the module doc), in Kafka's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationConfig {
    pub default_replication_factor: i32,
    pub replica_lag_time_max_ms: u64,
    pub replica_fetch_wait_max_ms: u64,
    pub replica_fetch_min_bytes: i32,
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_backoff_ms: u64,
    pub replica_socket_timeout_ms: u64,
    pub num_replica_fetchers: i32,
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_seconds: u64,
    pub unclean_leader_election_interval_ms: u64,
    pub controlled_shutdown_enable: bool,
    pub offsets_topic_replication_factor: i16,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    pub offsets_topic_num_partitions: i32,
    pub transaction_state_log_num_partitions: i32,
    pub offsets_commit_timeout_ms: u64,
    pub quorum_election_timeout_ms: u64,
    pub quorum_fetch_timeout_ms: u64,
    pub quorum_election_backoff_max_ms: u64,
    pub quorum_request_timeout_ms: u64,
    pub broker_heartbeat_interval_ms: u64,
    pub broker_session_timeout_ms: u64,
    /// gregor-only `broker.liveness.probe.enable` (`controller/liveness.rs`).
    pub broker_liveness_probe_enable: bool,
    pub initial_broker_registration_timeout_ms: u64,
    pub broker_rack: Option<String>,
}

/// A non-negative duration or count: the rows accept any int, a negative one means 0.
fn non_negative(v: i64) -> u64 {
    v.max(0) as u64
}

impl ReplicationConfig {
    /// Reads the settings from a broker configuration's static properties over the rows'
    /// defaults.
    pub fn from_config(config: &BrokerConfig) -> ReplicationConfig {
        let p = Props(&config.properties);
        let ms = |k: &str| non_negative(p.int(k).into());
        let short = |k: &str| p.int(k).clamp(1, i16::MAX.into()) as i16;
        ReplicationConfig {
            default_replication_factor: p.int("default.replication.factor"),
            replica_lag_time_max_ms: non_negative(p.long("replica.lag.time.max.ms")),
            replica_fetch_wait_max_ms: ms("replica.fetch.wait.max.ms"),
            replica_fetch_min_bytes: p.int("replica.fetch.min.bytes"),
            replica_fetch_max_bytes: p.int("replica.fetch.max.bytes"),
            replica_fetch_backoff_ms: ms("replica.fetch.backoff.ms"),
            replica_socket_timeout_ms: ms("replica.socket.timeout.ms"),
            num_replica_fetchers: p.int("num.replica.fetchers").max(1),
            auto_leader_rebalance_enable: p.boolean("auto.leader.rebalance.enable"),
            leader_imbalance_check_interval_seconds: non_negative(
                p.long("leader.imbalance.check.interval.seconds"),
            ),
            unclean_leader_election_interval_ms: non_negative(
                p.long("unclean.leader.election.interval.ms"),
            ),
            controlled_shutdown_enable: p.boolean("controlled.shutdown.enable"),
            offsets_topic_replication_factor: short("offsets.topic.replication.factor"),
            transaction_state_log_replication_factor: short(
                "transaction.state.log.replication.factor",
            ),
            transaction_state_log_min_isr: p.int("transaction.state.log.min.isr").max(1),
            offsets_topic_num_partitions: p.int("offsets.topic.num.partitions").max(1),
            transaction_state_log_num_partitions: p
                .int("transaction.state.log.num.partitions")
                .max(1),
            offsets_commit_timeout_ms: ms("offsets.commit.timeout.ms").max(1),
            quorum_election_timeout_ms: ms("controller.quorum.election.timeout.ms"),
            quorum_fetch_timeout_ms: ms("controller.quorum.fetch.timeout.ms"),
            quorum_election_backoff_max_ms: ms("controller.quorum.election.backoff.max.ms"),
            quorum_request_timeout_ms: ms("controller.quorum.request.timeout.ms"),
            broker_heartbeat_interval_ms: ms("broker.heartbeat.interval.ms"),
            broker_session_timeout_ms: ms("broker.session.timeout.ms"),
            broker_liveness_probe_enable: p.boolean("broker.liveness.probe.enable"),
            initial_broker_registration_timeout_ms: ms("initial.broker.registration.timeout.ms"),
            broker_rack: p
                .set("broker.rack")
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        }
    }
}

/// The replication factor `__consumer_offsets` or `__transaction_state` is created with:
/// the configured one (Kafka's default 3), capped at the brokers registered when it is
/// created (at least 1). Kafka instead refuses to create the topic until enough brokers are
/// alive (its single-node sample configs set the factors to 1); gregor's cap keeps a
/// zero-config single node working without settings, and a cluster that starts with fewer
/// brokers than the factor gets a smaller factor it can raise later by reassignment.
pub fn internal_topic_replication_factor(configured: i16, registered_brokers: usize) -> i16 {
    let brokers = i16::try_from(registered_brokers.max(1)).unwrap_or(i16::MAX);
    configured.clamp(1, brokers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_defaults() {
        let r = ReplicationConfig::from_config(&BrokerConfig::default());
        assert_eq!(r.replica_lag_time_max_ms, 30_000);
        assert_eq!(r.replica_fetch_wait_max_ms, 500);
        assert_eq!(r.replica_fetch_min_bytes, 1);
        assert_eq!(r.replica_fetch_max_bytes, 1_048_576);
        assert_eq!(r.replica_fetch_backoff_ms, 1_000);
        assert_eq!(r.replica_socket_timeout_ms, 30_000);
        assert_eq!(r.broker_heartbeat_interval_ms, 2_000);
        assert_eq!(r.broker_session_timeout_ms, 9_000);
        assert!(r.broker_liveness_probe_enable);
        assert_eq!(r.initial_broker_registration_timeout_ms, 60_000);
        assert_eq!(r.quorum_election_timeout_ms, 1_000);
        assert_eq!(r.quorum_fetch_timeout_ms, 2_000);
        assert_eq!(r.quorum_election_backoff_max_ms, 1_000);
        assert_eq!(r.quorum_request_timeout_ms, 2_000);
        assert_eq!(r.offsets_topic_replication_factor, 3);
        assert_eq!(r.transaction_state_log_replication_factor, 3);
        assert_eq!(r.transaction_state_log_min_isr, 2);
        assert_eq!(r.default_replication_factor, 1);
        assert!(r.auto_leader_rebalance_enable && r.controlled_shutdown_enable);
        assert_eq!(r.leader_imbalance_check_interval_seconds, 300);
        assert_eq!(r.unclean_leader_election_interval_ms, 300_000);
        assert_eq!(r.broker_rack, None);
    }

    #[test]
    fn internal_topics_fit_the_brokers_there_are() {
        assert_eq!(internal_topic_replication_factor(3, 1), 1);
        assert_eq!(internal_topic_replication_factor(3, 0), 1);
        assert_eq!(internal_topic_replication_factor(3, 2), 2);
        assert_eq!(internal_topic_replication_factor(3, 5), 3);
        assert_eq!(internal_topic_replication_factor(1, 5), 1);
    }
}
