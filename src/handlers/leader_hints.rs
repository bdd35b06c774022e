//! KIP-951 leader discovery for Fetch v16+: a partition answered NOT_LEADER_OR_FOLLOWER or
//! FENCED_LEADER_EPOCH carries the current leader and its epoch, and the response lists the
//! endpoints of those leaders on the request's listener, so a client moves to the new leader
//! without waiting for a metadata refresh. As Kafka's `KafkaApis.handleFetchRequest`: only
//! for v16+, only when the partition has a leader whose endpoint on this listener is known.

use std::collections::BTreeSet;

use kafka_protocol::messages::fetch_response::{LeaderIdAndEpoch, NodeEndpoint};
use kafka_protocol::messages::{BrokerId, FetchResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::metadata::image::MetadataImage;

/// The errors after which a client looks for the new leader (Kafka's list).
fn wants_hint(code: i16) -> bool {
    code == ErrorCode::NotLeaderOrFollower.code() || code == ErrorCode::FencedLeaderEpoch.code()
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
            let Some(pi) = image.partition(&topic.name, p.partition_index) else {
                continue;
            };
            if pi.leader < 0 {
                continue;
            }
            p.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(pi.leader))
                .with_leader_epoch(pi.leader_epoch);
            leaders.insert(pi.leader);
        }
    }
    resp.node_endpoints = leaders
        .into_iter()
        .filter_map(|id| {
            let b = image.brokers.get(&id)?;
            let (host, port) = b.endpoint(listener)?;
            Some(
                NodeEndpoint::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(host.to_string()))
                    .with_port(port)
                    .with_rack(b.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect();
}
