//! Dynamic broker configuration (Kafka's KIP-226 `DynamicBrokerConfig`): which broker keys may
//! change at run time, and the checks a change must pass before it is recorded.
//!
//! Kafka's dynamic set is the union of a few fixed sets; gregor takes those of its own keys
//! that are in it:
//! - every topic key's *first* broker synonym (`DynamicLogConfig.ReconfigurableConfigs`, built
//!   from `ServerTopicConfigSynonyms.TOPIC_CONFIG_SYNONYMS`): `log.retention.ms`,
//!   `log.segment.bytes`, `message.max.bytes`, `log.cleanup.policy`, … — but not the
//!   other units (`log.retention.hours`, `log.roll.hours` stay read-only, as in Kafka);
//! - [`EXTRA_DYNAMIC`]: `max.connections`, the thread pools, the log cleaner's own settings
//!   and the producer state settings, when gregor has a row for them.
//!
//! All of them are cluster-wide in Kafka (settable per broker or as the cluster default). The
//! per-broker-only ones (listeners and SSL) are not dynamic here: gregor cannot open or change
//! a listener at run time, so `listeners`, `advertised.listeners` and
//! `listener.security.protocol.map` are refused as non-dynamic.
//!
//! A change is checked as Kafka's broker-side `ConfigAdminManager` checks it: non-dynamic keys
//! first ("Cannot update these configs dynamically: Set(…)"), then each value against its row,
//! then the thread-count rule (at least half, at most double the current value). Kafka answers
//! all of these with INVALID_REQUEST (KAFKA-13609 kept it so); the message names the keys.
//! Keys gregor has no row for are refused the same way (Kafka stores unknown "custom" broker
//! keys; gregor would only store a typo).

use std::collections::{BTreeMap, BTreeSet};

use super::keys::{broker_key, keys, Scope};
use super::BrokerConfig;

/// Kafka's dynamic keys that are not a topic key's synonym: the cluster-level one of
/// `SocketServer.ReconfigurableConfigs`, `DynamicThreadPool`, `LogCleaner.ReconfigurableConfigs`
/// and `DynamicProducerStateManagerConfig`. Only those with
/// a row in the key table count.
pub const EXTRA_DYNAMIC: &[&str] = &[
    "max.connections",
    "num.io.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
    "producer.id.expiration.ms",
    "transaction.partition.verification.enable",
];

/// `DynamicThreadPool.ReconfigurableConfigs`: a change must stay within half and double.
const THREAD_POOLS: &[&str] = &[
    "num.io.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
];

/// Whether a broker key may change at run time (Kafka's "update mode" is then cluster-wide;
/// otherwise read-only).
pub fn is_dynamic(name: &str) -> bool {
    if broker_key(name).is_none() {
        return false;
    }
    EXTRA_DYNAMIC.contains(&name) || keys(Scope::Topic).any(|t| t.synonyms.first() == Some(&name))
}

/// Kafka's update mode of a broker key, as its docs print it.
pub fn update_mode(name: &str) -> &'static str {
    if is_dynamic(name) {
        "cluster-wide"
    } else {
        "read-only"
    }
}

/// A set of names as Scala prints a `Set` (`Set(a, b)`), which Kafka's messages carry.
fn scala_set<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: BTreeSet<&str> = names.into_iter().collect();
    format!("Set({})", names.into_iter().collect::<Vec<_>>().join(", "))
}

/// Checks the dynamic configs `props` of one resource (the whole set it would hold after the
/// change) as Kafka's `DynamicBrokerConfig.validate` does; `current` is the configuration in
/// force (for the thread-count rule). The error is Kafka's message, naming the keys.
pub fn validate_dynamic(
    props: &BTreeMap<String, String>,
    current: &BrokerConfig,
) -> Result<(), String> {
    let refused: Vec<&str> = props
        .keys()
        .map(String::as_str)
        .filter(|k| !is_dynamic(k))
        .collect();
    if !refused.is_empty() {
        return Err(format!(
            "Cannot update these configs dynamically: {}",
            scala_set(refused)
        ));
    }
    for (k, v) in props {
        if let Some(row) = broker_key(k) {
            row.validate(v).map_err(|e| e.to_string())?;
        }
    }
    for (k, v) in props {
        if !THREAD_POOLS.contains(&k.as_str()) {
            continue;
        }
        let new: i64 = v.trim().parse().unwrap_or(0);
        let old: i64 = current
            .describe_value(k)
            .and_then(|o| o.trim().parse().ok())
            .unwrap_or(new);
        if new == old {
            continue;
        }
        let what = format!("Dynamic thread count update validation failed for {k}={v}");
        if new <= 0 {
            return Err(format!("{what}, value should be at least 1"));
        }
        if new < old / 2 {
            return Err(format!(
                "{what}, value should be at least half the current value {old}"
            ));
        }
        if new > old * 2 {
            return Err(format!(
                "{what}, value should not be greater than double the current value {old}"
            ));
        }
    }
    Ok(())
}

/// The valid dynamic entries of a stored set: a record written by another version (a key that
/// is no longer dynamic, or a value its row refuses) is ignored with a warning, as Kafka's
/// `removeInvalidConfigs` does, so a bad record can never stop the broker.
pub fn valid_entries(scope: &str, props: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    props
        .iter()
        .filter(|(k, v)| {
            let ok = is_dynamic(k) && broker_key(k).is_some_and(|r| r.validate(v).is_ok());
            if !ok {
                tracing::warn!("dynamic {scope} config {k}={v} is not valid here; ignored");
            }
            ok
        })
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kafkas_dynamic_set() {
        for k in [
            "log.retention.ms",
            "log.retention.bytes",
            "log.segment.bytes",
            "log.roll.ms",
            "message.max.bytes",
            "log.cleanup.policy",
            "compression.type",
            "log.message.timestamp.type",
            "log.flush.interval.ms",
            "num.io.threads",
            "unclean.leader.election.enable",
            "max.connections",
        ] {
            assert!(is_dynamic(k), "{k}");
        }
        for k in [
            "log.retention.hours",
            "log.roll.hours",
            "listeners",
            "advertised.listeners",
            "log.dirs",
            "node.id",
            "process.roles",
            "num.partitions",
            "group.min.session.timeout.ms",
            "no.such.key",
        ] {
            assert!(!is_dynamic(k), "{k}");
        }
    }

    #[test]
    fn refusals_name_the_keys() {
        let c = BrokerConfig::default();
        assert_eq!(
            validate_dynamic(&map(&[("node.id", "3"), ("listeners", "x")]), &c),
            Err("Cannot update these configs dynamically: Set(listeners, node.id)".into())
        );
        assert_eq!(
            validate_dynamic(&map(&[("log.retention.ms", "-5")]), &c),
            Err(
                "Invalid value -5 for configuration log.retention.ms: Value must be at least -1"
                    .into()
            )
        );
        assert!(validate_dynamic(&map(&[("log.retention.ms", "1000")]), &c).is_ok());
        assert!(validate_dynamic(&map(&[("num.io.threads", "16")]), &c).is_ok());
        let e = validate_dynamic(&map(&[("num.io.threads", "17")]), &c).unwrap_err();
        assert!(e.contains("double the current value 8"), "{e}");
        let e = validate_dynamic(&map(&[("num.io.threads", "3")]), &c).unwrap_err();
        assert!(e.contains("at least half"), "{e}");
    }

    #[test]
    fn invalid_stored_entries_are_dropped() {
        let v = valid_entries(
            "default",
            &map(&[
                ("log.retention.ms", "5"),
                ("node.id", "3"),
                ("message.max.bytes", "x"),
            ]),
        );
        assert_eq!(v, map(&[("log.retention.ms", "5")]));
    }
}
