//! Fault injection for tests, in the spirit of franz-go kfake's `ControlKey`: rules matched
//! against each request by api key (and optionally topic, partition and client id) answer it
//! with an error code built from the request itself, delay it, drop the connection, or let it
//! through; each rule fires once, `n` times or for ever. Calls are counted per api key.
//!
//! Why in the router: it is the one place every request passes with its api key, version,
//! header and body known, before any handler runs, so an injected answer is shaped exactly as
//! the real one would be (same response header and version) and a handler never knows.
//!
//! Cost: a router built without a [`Faults`] table (every production node) pays one `Option`
//! check per request. With a table, a request costs one atomic increment (its api key's
//! counter) and one atomic load (are any rules installed?) when no rule is installed.
//!
//! Determinism: rules are tried in the order they were added, under one lock, so the first
//! matching rule with budget left fires; requests are matched in the order the router sees
//! them (one connection's requests in their order). State is per table, and a table is per
//! node: brokers running in parallel in one process never share one.
//!
//! Granularity: a rule naming a topic (or a partition) with an error action answers only the
//! partitions it names on Produce, Fetch, ListOffsets and OffsetCommit, the others being
//! served as usual ([`split`]); on other APIs, and for other actions, a rule that matches a
//! request decides for the whole request. A Fetch v13+ names topics by id: the node's
//! metadata gives their names, so a rule by name matches them too.

mod respond;
mod split;

pub(crate) use split::Split;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use crate::protocol::{DispatchError, Frame};

/// What a matching rule does to the request (after its delay, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Serve the request as usual (a rule that only delays, or only counts).
    Pass,
    /// Answer with this Kafka error code in every error field of the response (per partition,
    /// per topic or top level, as the API has them); the request is not served.
    Error(i16),
    /// Close the connection without answering.
    DropConnection,
}

/// One fault rule: what it matches and what it does (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    api_key: i16,
    topic: Option<String>,
    partition: Option<i32>,
    client_id: Option<String>,
    delay: Duration,
    action: Action,
    times: Option<u64>,
}

impl Rule {
    /// A rule for every request of this api key (Kafka's numbers: 0 = Produce, 1 = Fetch, …),
    /// passing it through, for ever, until configured otherwise.
    pub fn new(api_key: i16) -> Rule {
        Rule {
            api_key,
            topic: None,
            partition: None,
            client_id: None,
            delay: Duration::ZERO,
            action: Action::Pass,
            times: None,
        }
    }

    /// Matches only requests naming this topic. With an error action, on a Produce, Fetch,
    /// ListOffsets or OffsetCommit naming other topics too, only this topic's partitions get
    /// the error and the broker serves the others.
    pub fn topic(mut self, topic: impl Into<String>) -> Rule {
        self.topic = Some(topic.into());
        self
    }

    /// Matches only requests naming this partition of this topic. With an error action, on a
    /// Produce, Fetch, ListOffsets or OffsetCommit naming other partitions too, only this one
    /// gets the error and the broker serves the others.
    pub fn partition(mut self, topic: impl Into<String>, partition: i32) -> Rule {
        self.topic = Some(topic.into());
        self.partition = Some(partition);
        self
    }

    /// Matches only requests whose header carries this client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Rule {
        self.client_id = Some(client_id.into());
        self
    }

    /// Answers with this Kafka error code instead of serving the request.
    pub fn error(mut self, code: i16) -> Rule {
        self.action = Action::Error(code);
        self
    }

    /// Closes the connection instead of answering.
    pub fn drop_connection(mut self) -> Rule {
        self.action = Action::DropConnection;
        self
    }

    /// Serves the request (the default action).
    pub fn pass(mut self) -> Rule {
        self.action = Action::Pass;
        self
    }

    /// Waits this long before the action (a delayed answer, error or close).
    pub fn delay(mut self, delay: Duration) -> Rule {
        self.delay = delay;
        self
    }

    /// Fires for the next `n` matching requests, then is removed.
    pub fn times(mut self, n: u64) -> Rule {
        self.times = Some(n);
        self
    }

    /// Fires for the next matching request only: `times(1)`.
    pub fn once(self) -> Rule {
        self.times(1)
    }

    /// Fires for every matching request until removed (the default).
    pub fn always(mut self) -> Rule {
        self.times = None;
        self
    }

    pub fn action(&self) -> Action {
        self.action
    }

    pub fn api_key(&self) -> i16 {
        self.api_key
    }

    /// Whether this rule names this partition of this topic (true without a topic filter).
    fn covers(&self, topic: &str, partition: i32) -> bool {
        match (&self.topic, self.partition) {
            (None, _) => true,
            (Some(t), None) => t == topic,
            (Some(t), Some(p)) => t == topic && p == partition,
        }
    }

    fn matches(&self, key: i16, client_id: Option<&str>, topics: &[(String, i32)]) -> bool {
        if self.api_key != key {
            return false;
        }
        if let Some(c) = &self.client_id {
            if client_id != Some(c.as_str()) {
                return false;
            }
        }
        match (&self.topic, self.partition) {
            (None, _) => true,
            (Some(t), None) => topics.iter().any(|(n, _)| n == t),
            (Some(t), Some(p)) => topics.iter().any(|(n, q)| n == t && *q == p),
        }
    }
}

/// A rule was refused when added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultError {
    /// No error answer can be built for this api key (see [`Faults::add`]).
    UnsupportedErrorApi(i16),
}

impl std::fmt::Display for FaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultError::UnsupportedErrorApi(k) => write!(
                f,
                "api key {k}: injecting an error code is not supported for this api (delay or drop the connection instead)"
            ),
        }
    }
}

impl std::error::Error for FaultError {}

/// An installed rule: how often it fired, and the means to remove it.
#[derive(Debug, Clone)]
pub struct RuleHandle {
    id: u64,
    hits: Arc<AtomicU64>,
}

impl RuleHandle {
    /// How many requests this rule has matched so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Acquire)
    }
}

struct Installed {
    id: u64,
    rule: Rule,
    /// Firings left (`None`: for ever).
    left: Option<u64>,
    hits: Arc<AtomicU64>,
}

/// Counters are kept for api keys below this (Kafka's keys are below 100).
const COUNTED_KEYS: usize = 128;

/// One node's fault rules and call counters (see the module doc). Shared by the node's
/// routers (all its listeners) and the test that installs rules.
pub struct Faults {
    rules: Mutex<Vec<Installed>>,
    /// Rules installed: zero skips the lock and the matching.
    live: AtomicUsize,
    next_id: AtomicU64,
    calls: Vec<AtomicU64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new()
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.live.load(Ordering::Acquire))
            .finish()
    }
}

/// What the router does with a request after the rules have seen it.
pub(crate) enum Verdict {
    Serve,
    Answer(Frame),
    Drop,
    /// Serve part of it and answer the rest with an error (see [`Split`]).
    Split(Split),
}

impl Faults {
    pub fn new() -> Faults {
        Faults {
            rules: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            calls: (0..COUNTED_KEYS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Installs a rule behind the ones already there. An error action is refused for an api
    /// whose error answer is not built (see [`Faults::error_apis`]).
    pub fn add(&self, rule: Rule) -> Result<RuleHandle, FaultError> {
        if let Action::Error(_) = rule.action {
            let known = ApiKey::try_from(rule.api_key)
                .ok()
                .is_some_and(respond::supports_error);
            if !known {
                return Err(FaultError::UnsupportedErrorApi(rule.api_key));
            }
        }
        let hits = Arc::new(AtomicU64::new(0));
        let id = self.next_id.fetch_add(1, Ordering::AcqRel);
        let mut rules = self.lock();
        if rule.times == Some(0) {
            return Ok(RuleHandle { id, hits });
        }
        rules.push(Installed {
            id,
            left: rule.times,
            rule,
            hits: hits.clone(),
        });
        self.live.store(rules.len(), Ordering::Release);
        Ok(RuleHandle { id, hits })
    }

    /// Removes a rule (no-op if it already fired its last time).
    pub fn remove(&self, handle: &RuleHandle) {
        let mut rules = self.lock();
        rules.retain(|r| r.id != handle.id);
        self.live.store(rules.len(), Ordering::Release);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut rules = self.lock();
        rules.clear();
        self.live.store(0, Ordering::Release);
    }

    /// Rules still installed.
    pub fn rules(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Requests of this api key the node has received (whether a rule matched or not).
    pub fn calls(&self, api_key: i16) -> u64 {
        usize::try_from(api_key)
            .ok()
            .and_then(|i| self.calls.get(i))
            .map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// Sets every call counter back to zero.
    pub fn reset_calls(&self) {
        for c in &self.calls {
            c.store(0, Ordering::Release);
        }
    }

    /// The api keys an [`Action::Error`] can be injected for.
    pub fn error_apis() -> Vec<i16> {
        respond::ERROR_APIS.iter().map(|k| *k as i16).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Installed>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the request and applies the first matching rule to it. `body` is the request
    /// body after its header; `names` gives the name of a topic id (Fetch v13+).
    pub(crate) async fn intercept(
        &self,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        client_id: Option<&str>,
        body: &Bytes,
        names: &(dyn Fn(uuid::Uuid) -> Option<String> + Sync),
    ) -> Result<Verdict, DispatchError> {
        let raw = key as i16;
        if let Some(c) = usize::try_from(raw).ok().and_then(|i| self.calls.get(i)) {
            c.fetch_add(1, Ordering::AcqRel);
        }
        if self.live.load(Ordering::Acquire) == 0 {
            return Ok(Verdict::Serve);
        }
        let wants_topics = self
            .lock()
            .iter()
            .any(|r| r.rule.api_key == raw && r.rule.topic.is_some());
        let topics = if wants_topics {
            respond::topics(key, version, body, names)
        } else {
            Vec::new()
        };
        let chosen = {
            let mut rules = self.lock();
            let found = rules
                .iter()
                .position(|r| r.rule.matches(raw, client_id, &topics));
            found.map(|i| {
                let r = &mut rules[i];
                r.hits.fetch_add(1, Ordering::AcqRel);
                let chosen = (r.rule.delay, r.rule.action, r.rule.clone());
                if let Some(left) = r.left.as_mut() {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        rules.remove(i);
                    }
                }
                self.live.store(rules.len(), Ordering::Release);
                chosen
            })
        };
        let Some((delay, action, rule)) = chosen else {
            return Ok(Verdict::Serve);
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(match action {
            Action::Pass => Verdict::Serve,
            Action::DropConnection => Verdict::Drop,
            Action::Error(code) => {
                let split = if rule.topic.is_some() && split::splittable(key) {
                    Split::new(key, version, body, code, names, &|t, p| rule.covers(t, p))?
                } else {
                    None
                };
                match split {
                    Some(s) => Verdict::Split(s),
                    None => Verdict::Answer(respond::error_frame(
                        key,
                        version,
                        correlation_id,
                        body,
                        code,
                    )?),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_key_client_topic_and_partition() {
        let topics = vec![("a".to_string(), 0), ("b".to_string(), 3)];
        assert!(Rule::new(0).matches(0, None, &topics));
        assert!(!Rule::new(1).matches(0, None, &topics));
        assert!(Rule::new(0).topic("b").matches(0, None, &topics));
        assert!(!Rule::new(0).topic("c").matches(0, None, &topics));
        assert!(Rule::new(0).partition("b", 3).matches(0, None, &topics));
        assert!(!Rule::new(0).partition("b", 0).matches(0, None, &topics));
        assert!(Rule::new(0).client_id("x").matches(0, Some("x"), &topics));
        assert!(!Rule::new(0).client_id("x").matches(0, Some("y"), &topics));
        assert!(!Rule::new(0).client_id("x").matches(0, None, &topics));
    }

    #[tokio::test]
    async fn a_rule_fires_its_times_then_goes_and_calls_are_counted() {
        let faults = Faults::new();
        let h = faults
            .add(Rule::new(ApiKey::Heartbeat as i16).error(27).times(2))
            .expect("heartbeat errors are supported");
        assert_eq!(faults.rules(), 1);
        let mut buf = bytes::BytesMut::new();
        kafka_protocol::protocol::Encodable::encode(
            &kafka_protocol::messages::HeartbeatRequest::default(),
            &mut buf,
            4,
        )
        .expect("encodes");
        let body = buf.freeze();
        for expected in [Some(27), Some(27), None] {
            let v = faults
                .intercept(ApiKey::Heartbeat, 4, 7, None, &body, &|_| None)
                .await
                .expect("decodes");
            let code = match v {
                Verdict::Answer(frame) => {
                    let bytes: Vec<u8> = frame.0.iter().flat_map(|c| c.to_vec()).collect();
                    // size, correlation id, tagged fields (v4 header), throttle, error code.
                    assert_eq!(&bytes[4..8], &7i32.to_be_bytes());
                    Some(i16::from_be_bytes([bytes[13], bytes[14]]))
                }
                Verdict::Serve => None,
                Verdict::Drop | Verdict::Split(_) => panic!("no drop or split rule"),
            };
            assert_eq!(code, expected);
        }
        assert_eq!(h.hits(), 2);
        assert_eq!(faults.rules(), 0);
        assert_eq!(faults.calls(ApiKey::Heartbeat as i16), 3);
        assert_eq!(faults.calls(ApiKey::Produce as i16), 0);
        faults.reset_calls();
        assert_eq!(faults.calls(ApiKey::Heartbeat as i16), 0);
    }

    #[test]
    fn an_error_for_an_api_without_an_answer_is_refused() {
        let faults = Faults::new();
        let refused = faults.add(Rule::new(ApiKey::Metadata as i16).error(5));
        assert_eq!(
            refused.err(),
            Some(FaultError::UnsupportedErrorApi(ApiKey::Metadata as i16))
        );
        assert!(faults
            .add(Rule::new(ApiKey::Metadata as i16).drop_connection())
            .is_ok());
    }
}
