//! The few admin calls the test API makes over the wire, as any client would: CreateTopics
//! and Metadata through the project's peer client, so they work the same against one node or
//! any node of a cluster (forwarded to the active controller like a client's).

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::peer::{Peer, PeerSettings};

use super::Error;

/// A request to a node that takes longer than this failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`create_topic`] waits for every partition to have a leader.
const LEADERS_TIMEOUT: Duration = Duration::from_secs(15);

fn peer(addr: &str) -> Peer {
    let mut settings = PeerSettings::for_node(-1);
    settings.client_id = "gregor-testing".into();
    Peer::new(addr, std::sync::Arc::new(settings))
}

/// Creates a topic through the node at `addr` and waits until each of its partitions has a
/// leader in that node's metadata.
pub(crate) async fn create_topic(
    addr: &str,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> Result<(), Error> {
    let p = peer(addr);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.clone()))
                        .with_value(Some(StrBytes::from_string(v.clone())))
                })
                .collect(),
        );
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(i32::try_from(CALL_TIMEOUT.as_millis()).unwrap_or(i32::MAX));
    let resp = p
        .send(&req, 7, CALL_TIMEOUT)
        .await
        .map_err(|e| Error::Request(e.to_string()))?;
    if let Some(t) = resp.topics.iter().find(|t| t.error_code != 0) {
        return Err(Error::Kafka {
            code: t.error_code,
            message: t
                .error_message
                .as_ref()
                .map_or_else(String::new, |m| m.to_string()),
        });
    }
    let deadline = Instant::now() + LEADERS_TIMEOUT;
    loop {
        let leaders = leaders(&p, name).await?;
        if leaders.len() == usize::try_from(partitions).unwrap_or(0)
            && leaders.iter().all(|l| *l >= 0)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Request(format!(
                "topic {name}: partitions without a leader after {LEADERS_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader node id of each partition of `topic`, by partition index, as the node at
/// `addr` knows them (−1: none); empty when it does not know the topic.
pub(crate) async fn leaders_at(addr: &str, topic: &str) -> Result<Vec<i32>, Error> {
    leaders(&peer(addr), topic).await
}

async fn leaders(p: &Peer, topic: &str) -> Result<Vec<i32>, Error> {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false);
    let resp = p
        .send(&req, 12, CALL_TIMEOUT)
        .await
        .map_err(|e| Error::Request(e.to_string()))?;
    let Some(t) = resp.topics.first().filter(|t| t.error_code == 0) else {
        return Ok(Vec::new());
    };
    let mut parts: Vec<(i32, i32)> = t
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id.0))
        .collect();
    parts.sort_unstable();
    Ok(parts.into_iter().map(|(_, l)| l).collect())
}

/// Waits (up to 15 s) until the node at `addr` lists `n` live brokers in its metadata.
pub(crate) async fn wait_for_brokers(addr: &str, n: usize) -> Result<(), Error> {
    let p = peer(addr);
    let deadline = Instant::now() + LEADERS_TIMEOUT;
    loop {
        let req = MetadataRequest::default().with_topics(Some(Vec::new()));
        if let Ok(resp) = p.send(&req, 12, CALL_TIMEOUT).await {
            if resp.brokers.len() >= n {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Request(format!(
                "{addr}: fewer than {n} brokers registered after {LEADERS_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
