//! The integration tests, compiled as one binary: cargo links one executable instead of one
//! per file, which is most of the tests' build time. Each former `tests/*.rs` file is a module
//! here; the shared harness is [`support`]. Tests run as threads of one process, so none of
//! them may change process-wide state (environment, limits, current directory): switches and
//! limits for a broker go to a child process ([`support::BrokerProcess`]).
//!
//! Run one file's tests with `cargo test --test it -- admin::`.

mod support;

mod acls;
mod acls_apis;
mod acls_forwarding;
mod admin;
mod admin_apis;
mod alter_configs;
mod api_versions_table;
mod auto_create_cluster;
mod bad_input;
mod broker_configs;
mod broker_forwarding;
mod broker_lifecycle;
mod cluster_harness;
mod cluster_tool;
mod compaction;
mod compaction_crash;
mod compaction_internal;
mod compaction_model;
mod compaction_readers;
mod coordinator_failover;
mod coordinator_upgrade;
mod crash;
mod describe_producers;
mod disk_full;
mod durability;
mod elections;
mod failover_timing;
mod fetch;
mod fetch_sessions;
mod find_coordinator;
mod groupless_subscribe;
mod groups_consumer_protocol;
mod groups_protocol;
mod groups_rdkafka;
mod idempotence;
mod isr;
mod jepsen;
mod leader_epochs;
mod listeners;
mod liveness;
mod log_lifecycle;
mod log_model;
mod log_txn_model;
mod metadata_records;
mod metadata_topic_ids;
mod new_group_versions;
mod new_versions;
#[cfg(feature = "testing")]
mod oauthbearer_validator;
mod power_loss;
mod produce_versions;
mod quorum;
mod quorum_cluster;
#[cfg(feature = "testing")]
mod rdkafka_roundtrip;
mod reassignments;
mod regex_acls;
mod replica_fetcher;
mod replication;
mod resources;
mod sasl;
mod sasl_oauthbearer;
mod sasl_reauth;
mod sasl_scram;
mod sasl_ssl;
mod secured_rdkafka;
mod shutdown;
#[cfg(feature = "testing")]
mod testing_api;
#[cfg(feature = "testing")]
mod testing_faults;
mod tls;
mod tls_encrypted_key;
mod transactions;
mod txn_crash;
mod txn_hostile;
mod txn_offsets;
