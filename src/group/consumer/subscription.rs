//! What a KIP-848 member is subscribed to: its topic names, plus the topics its regular
//! expression matches. Kafka matches with RE2/J against the whole topic name
//! (`Pattern.matcher(topic).matches()`); gregor uses the `regex` crate, an RE2 dialect with
//! the same linear-time guarantees, anchored at both ends. Internal topics never match.
//! A regex's topics are those it matched when the group last resolved it ([`super::regexes`]:
//! when, and whose DESCRIBE ACLs filter them); a topic created or deleted later changes the
//! subscribed topics' metadata, which bumps the group epoch at the heartbeat that sees it.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use uuid::Uuid;

use super::assignor::TopicsMeta;
use super::records::{MemberMetadata, ResolvedRegex};

/// The broker's topics as a consumer group sees them (from the metadata image).
pub trait Topics: Sync {
    /// A topic's id and partition count.
    fn get(&self, name: &str) -> Option<(Uuid, i32)>;
    /// Every non-internal topic name (what a regex may match).
    fn names(&self) -> Vec<String>;
    /// Whether the heartbeating member's principal may DESCRIBE the topic (Kafka filters a
    /// regex's matches by it); everything without an authorizer.
    fn describable(&self, _name: &str) -> bool {
        true
    }
    /// The metadata image's offset: a regex resolved at an older one may have missed topics.
    fn version(&self) -> i64 {
        0
    }
}

/// Compiles a subscription regex with whole-name matching; `Err` is Kafka's message for
/// INVALID_REGULAR_EXPRESSION.
pub fn compile(regex: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{regex})$")).map_err(|e| {
        format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}.")
    })
}

/// The topics `regex` matches that the heartbeating principal may DESCRIBE (Kafka's
/// `refreshRegularExpressions` and `filterTopicDescribeAuthorizedTopics`); nothing if it
/// does not compile (it was checked when the member sent it).
pub fn matches(regex: &str, topics: &dyn Topics) -> BTreeSet<String> {
    let Ok(re) = compile(regex) else {
        return BTreeSet::new();
    };
    topics
        .names()
        .into_iter()
        .filter(|t| re.is_match(t) && topics.describable(t))
        .collect()
}

/// The topic names `m` is subscribed to: its names and what its regex resolved to, sorted.
pub fn resolve(m: &MemberMetadata, regexes: &BTreeMap<String, ResolvedRegex>) -> Vec<String> {
    let mut out: BTreeSet<String> = m.subscribed_topic_names.iter().cloned().collect();
    if let Some(r) = m
        .subscribed_topic_regex
        .as_ref()
        .and_then(|r| regexes.get(r))
    {
        out.extend(r.topics.iter().cloned());
    }
    out.into_iter().collect()
}

/// The subscribed topics' metadata: existing topics only.
pub fn topics_meta(names: &[String], topics: &dyn Topics) -> TopicsMeta {
    names
        .iter()
        .filter_map(|n| topics.get(n).map(|m| (n.clone(), m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three topics; the principal may not DESCRIBE `orders-us`.
    struct Two;
    impl Topics for Two {
        fn get(&self, _: &str) -> Option<(Uuid, i32)> {
            None
        }
        fn names(&self) -> Vec<String> {
            vec!["orders-eu".into(), "orders-us".into(), "xorders-eu".into()]
        }
        fn describable(&self, name: &str) -> bool {
            name != "orders-us"
        }
    }

    #[test]
    fn a_regex_matches_whole_describable_topic_names_and_adds_to_the_names() {
        let found = matches("orders-.*", &Two);
        assert_eq!(found, ["orders-eu".to_string()].into());
        assert!(matches("orders-(", &Two).is_empty());
        assert!(compile("orders-(").is_err());
        let m = MemberMetadata {
            subscribed_topic_names: vec!["extra".into()],
            subscribed_topic_regex: Some("orders-.*".into()),
            ..Default::default()
        };
        let resolved = BTreeMap::from([(
            "orders-.*".to_string(),
            ResolvedRegex {
                topics: found,
                ..Default::default()
            },
        )]);
        assert_eq!(resolve(&m, &resolved), vec!["extra", "orders-eu"]);
        assert_eq!(
            resolve(&m, &BTreeMap::new()),
            vec!["extra"],
            "not resolved yet"
        );
    }
}
