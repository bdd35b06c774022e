//! KIP-951 leader discovery for Produce v10+ and Fetch v16+: a partition answered
//! NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH carries the current leader and its epoch, and
//! the response lists the endpoints of those leaders on the request's listener, so a client
//! moves to the new leader without waiting for a metadata refresh. As Kafka's
//! `KafkaApis.handleProduceRequest` / `handleFetchRequest`: only from those versions, only
//! when the partition has a leader, and an endpoint only when it is known on this listener.

use std::collections::BTreeSet;

use kafka_protocol::messages::{fetch_response, produce_response};
use kafka_protocol::messages::{BrokerId, FetchResponse, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::metadata::image::MetadataImage;

/// The errors after which a client looks for the new leader (Kafka's list).
fn wants_hint(code: i16) -> bool {
    code == ErrorCode::NotLeaderOrFollower.code() || code == ErrorCode::FencedLeaderEpoch.code()
}

/// The current (leader, epoch) of a partition, when it has a leader.
fn leader_of(image: &MetadataImage, topic: &str, partition: i32) -> Option<(i32, i32)> {
    let p = image.partition(topic, partition)?;
    (p.leader >= 0).then_some((p.leader, p.leader_epoch))
}

/// (id, host, port, rack) of each leader with an endpoint on `listener`, by id.
fn endpoints<'a>(
    image: &'a MetadataImage,
    listener: &'a str,
    leaders: BTreeSet<i32>,
) -> impl Iterator<Item = (BrokerId, StrBytes, i32, Option<StrBytes>)> + 'a {
    leaders.into_iter().filter_map(move |id| {
        let b = image.brokers.get(&id)?;
        let (host, port) = b.endpoint(listener)?;
        let rack = b.rack.clone().map(StrBytes::from_string);
        Some((
            BrokerId(id),
            StrBytes::from_string(host.to_string()),
            port,
            rack,
        ))
    })
}

/// Fills `current_leader` and `node_endpoints` of a Fetch response of `version` (see the
/// module doc). Topics are named by id from v13 (always, at v16+).
pub fn add_to_fetch(resp: &mut FetchResponse, image: &MetadataImage, listener: &str, version: i16) {
    if version < 16 {
        return;
    }
    let mut leaders = BTreeSet::new();
    for t in resp.responses.iter_mut() {
        let Some(topic) = image.topic_by_id(t.topic_id) else {
            continue;
        };
        for p in t.partitions.iter_mut().filter(|p| wants_hint(p.error_code)) {
            if let Some((leader, epoch)) = leader_of(image, &topic.name, p.partition_index) {
                p.current_leader = fetch_response::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch);
                leaders.insert(leader);
            }
        }
    }
    resp.node_endpoints = endpoints(image, listener, leaders)
        .map(|(id, host, port, rack)| {
            fetch_response::NodeEndpoint::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        })
        .collect();
}

/// Fills `current_leader` and `node_endpoints` of a Produce response of `version` (see the
/// module doc). Topics are named by id from v13.
pub fn add_to_produce(
    resp: &mut ProduceResponse,
    image: &MetadataImage,
    listener: &str,
    version: i16,
) {
    if version < 10 {
        return;
    }
    let mut leaders = BTreeSet::new();
    for t in resp.responses.iter_mut() {
        let name = if version >= 13 {
            match image.topic_by_id(t.topic_id) {
                Some(topic) => topic.name.clone(),
                None => continue,
            }
        } else {
            t.name.0.to_string()
        };
        let refused = t
            .partition_responses
            .iter_mut()
            .filter(|p| wants_hint(p.error_code));
        for p in refused {
            if let Some((leader, epoch)) = leader_of(image, &name, p.index) {
                p.current_leader = produce_response::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch);
                leaders.insert(leader);
            }
        }
    }
    resp.node_endpoints = endpoints(image, listener, leaders)
        .map(|(id, host, port, rack)| {
            produce_response::NodeEndpoint::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        })
        .collect();
}
