//! What a KIP-848 member is subscribed to: its topic names, plus the topics its regular
//! expression matches. Kafka matches with RE2/J against the whole topic name
//! (`Pattern.matcher(topic).matches()`); gregor uses the `regex` crate, an RE2 dialect with
//! the same linear-time guarantees, anchored at both ends. Internal topics never match.
//! The expression is resolved against the broker's metadata at every heartbeat that needs the
//! group's subscription (Kafka resolves it in the background and stores the result); a topic
//! created or deleted later changes the subscribed topics' metadata, which bumps the group
//! epoch at the next heartbeat.

use std::collections::BTreeSet;

use regex::Regex;
use uuid::Uuid;

use super::assignor::TopicsMeta;
use super::records::MemberMetadata;

/// The broker's topics as a consumer group sees them (from the metadata image).
pub trait Topics: Sync {
    /// A topic's id and partition count.
    fn get(&self, name: &str) -> Option<(Uuid, i32)>;
    /// Every non-internal topic name (what a regex may match).
    fn names(&self) -> Vec<String>;
}

/// Compiles a subscription regex with whole-name matching; `Err` is Kafka's message for
/// INVALID_REGULAR_EXPRESSION.
pub fn compile(regex: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{regex})$")).map_err(|e| {
        format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}.")
    })
}

/// The topic names `m` is subscribed to: its names and its regex's matches, sorted.
pub fn resolve(m: &MemberMetadata, topics: &dyn Topics) -> Vec<String> {
    let mut out: BTreeSet<String> = m.subscribed_topic_names.iter().cloned().collect();
    if let Some(re) = m
        .subscribed_topic_regex
        .as_deref()
        .and_then(|r| compile(r).ok())
    {
        out.extend(topics.names().into_iter().filter(|t| re.is_match(t)));
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

    struct Two;
    impl Topics for Two {
        fn get(&self, _: &str) -> Option<(Uuid, i32)> {
            None
        }
        fn names(&self) -> Vec<String> {
            vec!["orders-eu".into(), "orders-us".into(), "xorders-eu".into()]
        }
    }

    #[test]
    fn a_regex_matches_whole_topic_names_and_adds_to_the_names() {
        let m = MemberMetadata {
            subscribed_topic_names: vec!["extra".into()],
            subscribed_topic_regex: Some("orders-.*".into()),
            ..Default::default()
        };
        assert_eq!(resolve(&m, &Two), vec!["extra", "orders-eu", "orders-us"]);
        assert!(compile("orders-(").is_err());
    }
}
