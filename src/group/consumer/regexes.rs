//! When a consumer group's subscription regexes are resolved, and by whose rights — Kafka's
//! `GroupMetadataManager.maybeUpdateRegularExpressions` and `refreshRegularExpressions`.
//!
//! A regex resolves to the topics it matches that the principal of the member whose heartbeat
//! resolves it may DESCRIBE (Kafka's `filterTopicDescribeAuthorizedTopics` runs with that
//! request's context); the result is stored per regex (record key 16) and shared by every
//! member subscribed to it. A heartbeat resolves every subscribed regex again when one of
//! them is not resolved yet (a member brought a new one), or when the last resolution is
//! older than [`REFRESH_INTERVAL_MS`] and the metadata image moved since (new topics; gregor
//! also notices ACL changes this way, Kafka only new topics). A regex no member is
//! subscribed to any more gets a tombstone. Everything here is a pure function of the group,
//! the member's update, the topics the handler passes (with its principal's ACLs) and now.

use std::collections::{BTreeMap, BTreeSet};

use super::group::{ConsumerGroup, ConsumerMember};
use super::records::{ConsumerRecord, ResolvedRegex};
use super::subscription::{self, Topics};

/// Kafka's `REGEX_BATCH_REFRESH_INTERVAL_MS`: at most one refresh per group every 10 s,
/// unless a regex is not resolved at all.
pub const REFRESH_INTERVAL_MS: i64 = 10_000;

/// What one heartbeat makes of the group's regexes.
#[derive(Debug, Default)]
pub struct Refresh {
    /// Every subscribed regex's topics as this heartbeat sees them (after `records`).
    pub resolved: BTreeMap<String, ResolvedRegex>,
    /// Key 16 records: new resolutions, and tombstones of regexes no one subscribes to.
    pub records: Vec<ConsumerRecord>,
    /// Whether a subscribed regex now resolves to other topics (the group epoch moves).
    pub changed: bool,
}

/// The group's regexes at a heartbeat of `updated` (its subscription as this heartbeat
/// leaves it), resolved again if due (see the module doc).
pub fn refresh(
    gid: &str,
    group: &ConsumerGroup,
    updated: &ConsumerMember,
    topics: &dyn Topics,
    now_ms: i64,
) -> Refresh {
    let subscribed: BTreeSet<&str> = group
        .members
        .values()
        .filter(|m| m.id != updated.id)
        .chain(std::iter::once(updated))
        .filter_map(|m| m.meta.subscribed_topic_regex.as_deref())
        .collect();
    let mut out = Refresh {
        resolved: group.resolved_regexes.clone(),
        ..Refresh::default()
    };
    out.resolved.retain(|regex, _| {
        let keep = subscribed.contains(regex.as_str());
        if !keep {
            out.records.push(tombstone(gid, regex));
        }
        keep
    });
    let unresolved = subscribed.iter().any(|r| !out.resolved.contains_key(*r));
    let last_ms = out.resolved.values().map(|r| r.timestamp_ms).max();
    let oldest = out.resolved.values().map(|r| r.version).min();
    let stale = last_ms.is_some_and(|t| now_ms > t.saturating_add(REFRESH_INTERVAL_MS))
        && oldest.is_some_and(|v| v < topics.version());
    if !(unresolved || stale) {
        return out;
    }
    for regex in subscribed {
        let value = ResolvedRegex {
            topics: subscription::matches(regex, topics),
            version: topics.version(),
            timestamp_ms: now_ms,
        };
        let before = out.resolved.get(regex).map(|r| &r.topics);
        out.changed |= before.unwrap_or(&BTreeSet::new()) != &value.topics;
        out.records.push(ConsumerRecord::Regex {
            group: gid.to_string(),
            regex: regex.to_string(),
            value: Some(value.clone()),
        });
        out.resolved.insert(regex.to_string(), value);
    }
    out
}

/// The tombstone of `member`'s regex when it leaves as the last member subscribed to it.
pub fn leave_records(gid: &str, group: &ConsumerGroup, member: &str) -> Option<ConsumerRecord> {
    let regex = group
        .members
        .get(member)?
        .meta
        .subscribed_topic_regex
        .as_ref()?;
    let others = group
        .members
        .values()
        .filter(|m| m.id != member)
        .any(|m| m.meta.subscribed_topic_regex.as_ref() == Some(regex));
    (!others && group.resolved_regexes.contains_key(regex)).then(|| tombstone(gid, regex))
}

fn tombstone(gid: &str, regex: &str) -> ConsumerRecord {
    ConsumerRecord::Regex {
        group: gid.to_string(),
        regex: regex.to_string(),
        value: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use uuid::Uuid;

    use super::*;

    /// `t-1`..`t-3` and `other`; the principal may DESCRIBE what `allowed` lists.
    struct Acl {
        allowed: &'static [&'static str],
        version: i64,
    }
    impl Topics for Acl {
        fn get(&self, _: &str) -> Option<(Uuid, i32)> {
            Some((Uuid::nil(), 1))
        }
        fn names(&self) -> Vec<String> {
            ["t-1", "t-2", "t-3", "other"].map(String::from).to_vec()
        }
        fn describable(&self, name: &str) -> bool {
            self.allowed.contains(&name)
        }
        fn version(&self) -> i64 {
            self.version
        }
    }

    fn member(id: &str, regex: Option<&str>) -> ConsumerMember {
        let mut m = ConsumerMember::new(id, Instant::now());
        m.meta.subscribed_topic_regex = regex.map(String::from);
        m
    }

    fn replay(group: &mut ConsumerGroup, records: Vec<ConsumerRecord>) {
        for r in records {
            group.replay(r, Instant::now());
        }
    }

    #[test]
    fn a_regex_resolves_to_what_the_resolving_principal_may_describe() {
        let mut g = ConsumerGroup::default();
        let limited = Acl {
            allowed: &["t-1", "t-3", "other"],
            version: 5,
        };
        let r = refresh("g", &g, &member("a", Some("t-.*")), &limited, 1_000);
        let topics: Vec<&str> = r.resolved["t-.*"]
            .topics
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            (topics, r.changed, r.records.len()),
            (vec!["t-1", "t-3"], true, 1)
        );
        replay(&mut g, r.records);
        g.members.insert("a".into(), member("a", Some("t-.*")));

        // Within the interval, or with no newer metadata, it stays as resolved, whoever asks.
        let everyone = Acl {
            allowed: &["t-1", "t-2", "t-3"],
            version: 5,
        };
        let r = refresh("g", &g, &member("b", Some("t-.*")), &everyone, 20_000);
        assert!(r.records.is_empty() && !r.changed);
        let newer = Acl {
            version: 6,
            ..everyone
        };
        let r = refresh("g", &g, &member("b", Some("t-.*")), &newer, 5_000);
        assert!(r.records.is_empty(), "refreshed at most every 10 s");

        // Older than 10 s and the image moved: the heartbeating member's rights apply.
        let r = refresh("g", &g, &member("b", Some("t-.*")), &newer, 11_001);
        assert!(r.changed);
        assert_eq!(r.resolved["t-.*"].topics.len(), 3);
        assert_eq!(r.resolved["t-.*"].version, 6);

        // The last member subscribed leaves: the regex's tombstone.
        let leave = leave_records("g", &g, "a");
        assert_eq!(leave, Some(tombstone("g", "t-.*")));
        let r = refresh("g", &g, &member("a", None), &newer, 11_001);
        assert_eq!(r.records, vec![tombstone("g", "t-.*")]);
        assert!(r.resolved.is_empty());
    }
}
