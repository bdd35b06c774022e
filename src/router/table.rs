//! The one table of served APIs: each api key with its handler, version range and properties.
//! The ApiVersions response is generated from [`APIS`] (see [`super::api_versions`]), so what
//! is advertised is what is served.
//!
//! `advertise` lowers the advertised minimum below what is served: Produce is advertised from
//! v0 because librdkafka turns compression off otherwise, and v0–2 are answered with
//! UNSUPPORTED_VERSION (see [`crate::protocol::legacy`]), as Kafka 4 does. SaslHandshake is
//! advertised from v0 because librdkafka (≤ 2.x) enables SASL only when the broker's range
//! includes v0, then uses v1; a v0 handshake (raw tokens) closes the connection. `encode` replaces
//! the crate's response encoder for one API (Fetch: see [`crate::protocol::fetch_frame`]).
//! `forward` marks an API a node that is not the active controller sends to the one that
//! is (`broker::forward`), unless it came in on a controller listener.
//! `long_poll` marks an API whose handler may wait (Fetch's `max_wait_ms`): the connection
//! sends the responses it has queued before serving it.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Request};

use crate::handlers::{self, Reply, RequestContext};
use crate::protocol::codec::{encode_response, Answer, DispatchError, Frame};

/// What encoding a response that comes later needs of its request.
struct Encoding {
    correlation_id: i32,
    version: i16,
}

/// One served API: the versions decoded and answered, and the lowest version advertised.
#[derive(Debug, Clone, Copy)]
pub struct ApiRange {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
    pub advertised_min: i16,
    /// The handler may wait for data to arrive (see the module doc).
    pub long_poll: bool,
    /// A node that is not the active controller forwards it (see the module doc); the only
    /// APIs an envelope may carry.
    pub forward: bool,
}

macro_rules! api_table {
    ($( $key:ident ( $req:ty ) $min:literal ..= $max:literal $(advertise $adv:literal)? $(long_poll $lp:ident)? $(forward $fw:ident)? $(encode $enc:path)? => $handler:path; )*) => {
        /// Every API gregor serves (see the module doc).
        pub const APIS: &[ApiRange] = &[
            $( ApiRange { key: ApiKey::$key, min: $min, max: $max, advertised_min: api_table!(@adv $min $(, $adv)?), long_poll: api_table!(@lp $($lp)?), forward: api_table!(@lp $($fw)?) }, )*
        ];

        /// Decodes the body of a request whose version was checked against [`APIS`], runs its
        /// handler and encodes the response frame (`None` when no response is due), waiting
        /// for a response that comes later.
        pub async fn dispatch(ctx: &RequestContext, body: &mut Bytes) -> Result<Option<Frame>, DispatchError> {
            dispatch_answer(ctx, body).await?.resolve().await
        }

        /// [`dispatch`], but a response that comes later (an acks=all Produce waiting for the
        /// high watermark) is handed back as [`Answer::Later`] instead of awaited.
        pub async fn dispatch_answer(ctx: &RequestContext, body: &mut Bytes) -> Result<Answer, DispatchError> {
            let header_version = ctx.api_key.response_header_version(ctx.version);
            match ctx.api_key {
                $( ApiKey::$key => {
                    let req = <$req as Decodable>::decode(body, ctx.version)
                        .map_err(|e| DispatchError::Decode(e.to_string()))?;
                    api_table!(@forward ctx, req, header_version $(, $fw)?);
                    let reply: Reply<<$req as Request>::Response> = $handler(ctx, req).await.into();
                    match reply {
                        Reply::Send(resp) => api_table!(@encode ctx, header_version, resp $(, $enc)?).map(|f| Answer::Now(Some(f))),
                        Reply::Silent => Ok(Answer::Now(None)),
                        Reply::Later(later) => {
                            let to = Encoding { correlation_id: ctx.correlation_id, version: ctx.version };
                            Ok(Answer::Later(Box::pin(async move {
                                let resp = later.await;
                                api_table!(@encode to, header_version, resp $(, $enc)?).map(Some)
                            })))
                        }
                    }
                } )*
                other => Err(DispatchError::UnknownApi(other as i16)),
            }
        }
    };
    (@encode $ctx:ident, $hv:ident, $resp:ident) => {
        encode_response($ctx.correlation_id, $hv, &$resp, $ctx.version).map(Frame::from)
    };
    (@encode $ctx:ident, $hv:ident, $resp:ident, $enc:path) => {
        $enc($ctx.correlation_id, $ctx.version, &$resp)
    };
    (@forward $ctx:ident, $req:ident, $hv:ident) => {};
    (@forward $ctx:ident, $req:ident, $hv:ident, $fw:ident) => {
        // A voter that is not the leader, or a broker-only node (no quorum), forwards.
        let quorum = $ctx.broker.controller.quorum();
        let forwarder = &$ctx.broker.forwarder;
        let origin = crate::broker::envelope::Origin { principal: &$ctx.principal, host: $ctx.peer.ip() };
        if let Some(resp) = forwarder.maybe_forward(quorum, $ctx.controller_listener, origin, &$req, $ctx.version).await {
            return encode_response($ctx.correlation_id, $hv, &resp, $ctx.version)
                .map(|f| Answer::Now(Some(Frame::from(f))));
        }
    };
    (@lp) => { false };
    (@lp $lp:ident) => { true };
    (@adv $min:literal) => { $min };
    (@adv $min:literal, $adv:literal) => { $adv };
}

api_table! {
    Produce(ProduceRequest) 3..=13 advertise 0 => handlers::produce::handle;
    Fetch(FetchRequest) 4..=18 long_poll yes encode crate::protocol::fetch_frame::encode => handlers::fetch::handle;
    ListOffsets(ListOffsetsRequest) 1..=10 => handlers::list_offsets::handle;
    Metadata(MetadataRequest) 0..=13 => handlers::metadata::handle;
    ApiVersions(ApiVersionsRequest) 0..=4 => super::api_versions::handle;
    CreateTopics(CreateTopicsRequest) 2..=7 forward yes => handlers::topics::create_topics;
    DeleteTopics(DeleteTopicsRequest) 1..=6 forward yes => handlers::topics::delete_topics;
    DeleteRecords(DeleteRecordsRequest) 0..=2 => handlers::delete_records::handle;
    InitProducerId(InitProducerIdRequest) 0..=5 => handlers::producer_id::handle;
    OffsetCommit(OffsetCommitRequest) 2..=9 => handlers::offsets::offset_commit;
    OffsetFetch(OffsetFetchRequest) 1..=9 => handlers::offsets::offset_fetch;
    FindCoordinator(FindCoordinatorRequest) 0..=6 => handlers::coordinator::find_coordinator;
    JoinGroup(JoinGroupRequest) 0..=9 => handlers::groups::join_group;
    Heartbeat(HeartbeatRequest) 0..=4 => handlers::groups::heartbeat;
    LeaveGroup(LeaveGroupRequest) 0..=5 => handlers::groups::leave_group;
    SyncGroup(SyncGroupRequest) 0..=5 => handlers::groups::sync_group;
    DescribeGroups(DescribeGroupsRequest) 0..=6 => handlers::group_admin::describe_groups;
    ListGroups(ListGroupsRequest) 0..=5 => handlers::group_admin::list_groups;
    DeleteGroups(DeleteGroupsRequest) 0..=2 => handlers::group_admin::delete_groups;
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest) 0..=1 => handlers::consumer_groups::heartbeat;
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest) 0..=1 => handlers::consumer_groups::describe;
    OffsetDelete(OffsetDeleteRequest) 0..=0 => handlers::offsets::offset_delete;
    TxnOffsetCommit(TxnOffsetCommitRequest) 0..=4 => handlers::txn_offsets::handle;
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest) 2..=4 => handlers::offsets_for_leader_epoch::handle;
    DescribeAcls(DescribeAclsRequest) 1..=3 => handlers::acls::describe_acls;
    CreateAcls(CreateAclsRequest) 1..=3 forward yes => handlers::acls::create_acls;
    DeleteAcls(DeleteAclsRequest) 1..=3 forward yes => handlers::acls::delete_acls;
    DescribeConfigs(DescribeConfigsRequest) 1..=4 => handlers::configs::describe_configs;
    AlterConfigs(AlterConfigsRequest) 0..=2 forward yes => handlers::alter_configs::alter_configs;
    CreatePartitions(CreatePartitionsRequest) 0..=3 forward yes => handlers::topics::create_partitions;
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest) 0..=1 forward yes => handlers::alter_configs::incremental_alter_configs;
    DescribeCluster(DescribeClusterRequest) 0..=2 => handlers::cluster::describe_cluster;
    DescribeQuorum(DescribeQuorumRequest) 0..=2 forward yes => handlers::quorum::describe_quorum;
    AddPartitionsToTxn(AddPartitionsToTxnRequest) 0..=5 => handlers::txn::add_partitions_to_txn;
    AddOffsetsToTxn(AddOffsetsToTxnRequest) 0..=4 => handlers::txn::add_offsets_to_txn;
    EndTxn(EndTxnRequest) 0..=4 => handlers::txn::end_txn;
    WriteTxnMarkers(WriteTxnMarkersRequest) 1..=1 => handlers::txn_admin::write_txn_markers;
    DescribeTransactions(DescribeTransactionsRequest) 0..=0 => handlers::txn_admin::describe_transactions;
    ListTransactions(ListTransactionsRequest) 0..=2 => handlers::txn_admin::list_transactions;
    DescribeProducers(DescribeProducersRequest) 0..=0 => handlers::txn_admin::describe_producers;
    DescribeLogDirs(DescribeLogDirsRequest) 1..=4 => handlers::log_dirs::handle;
    ElectLeaders(ElectLeadersRequest) 0..=2 forward yes => handlers::elections::handle;
    AlterPartitionReassignments(AlterPartitionReassignmentsRequest) 0..=1 forward yes => handlers::reassignments::alter_partition_reassignments;
    ListPartitionReassignments(ListPartitionReassignmentsRequest) 0..=0 forward yes => handlers::reassignments::list_partition_reassignments;
    ListConfigResources(ListConfigResourcesRequest) 0..=1 => handlers::config_resources::handle;
    DescribeTopicPartitions(DescribeTopicPartitionsRequest) 0..=0 => handlers::describe_partitions::handle;
    BrokerRegistration(BrokerRegistrationRequest) 0..=4 => handlers::broker_lifecycle::broker_registration;
    BrokerHeartbeat(BrokerHeartbeatRequest) 0..=1 => handlers::broker_lifecycle::broker_heartbeat;
    UnregisterBroker(UnregisterBrokerRequest) 0..=0 forward yes => handlers::broker_lifecycle::unregister_broker;
    FetchSnapshot(FetchSnapshotRequest) 0..=1 => handlers::metadata_fetch::fetch_snapshot;
    AllocateProducerIds(AllocateProducerIdsRequest) 0..=0 => handlers::producer_id::allocate_producer_ids;
    AlterPartition(AlterPartitionRequest) 2..=3 => handlers::alter_partition::handle;
    SaslHandshake(SaslHandshakeRequest) 1..=1 advertise 0 => handlers::sasl::handshake;
    SaslAuthenticate(SaslAuthenticateRequest) 0..=2 => handlers::sasl::authenticate;
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest) 0..=0 => handlers::scram_credentials::describe;
    AlterUserScramCredentials(AlterUserScramCredentialsRequest) 0..=0 forward yes => handlers::scram_credentials::alter;
}

/// The APIs a controller listener serves: those of [`APIS`] that Kafka exposes on its
/// controller listeners (the `"controller"` listener type of their schemas) and gregor's
/// handlers answer as the controller. Every other api key closes the connection there.
/// Fetch is served there for `__cluster_metadata` only (observers). The quorum's Raft RPCs
/// use private api keys (`quorum::rpc`, 32000–32002, and the interim broker registration
/// 32003 of `broker::forward`) that the router answers on controller listeners before this
/// table is consulted; they are in no table and never advertised.
pub const CONTROLLER_APIS: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::Fetch,
    ApiKey::BrokerRegistration,
    ApiKey::BrokerHeartbeat,
    ApiKey::UnregisterBroker,
    ApiKey::FetchSnapshot,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeCluster,
    ApiKey::DescribeQuorum,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::DescribeAcls,
    ApiKey::ElectLeaders,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
    ApiKey::AllocateProducerIds,
    ApiKey::AlterPartition,
    ApiKey::AlterUserScramCredentials,
    // Brokers and voters authenticate to a SASL controller listener (Kafka lists both for
    // the controller too).
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
];

/// APIs served on controller listeners only (Kafka's `"listeners": ["controller"]`): a
/// broker listener closes the connection for them and leaves them out of ApiVersions.
pub const CONTROLLER_ONLY_APIS: &[ApiKey] = &[
    ApiKey::BrokerRegistration,
    ApiKey::BrokerHeartbeat,
    ApiKey::FetchSnapshot,
    ApiKey::AllocateProducerIds,
    ApiKey::AlterPartition,
];

/// The served range of an api key, if gregor serves it.
pub fn lookup(key: ApiKey) -> Option<&'static ApiRange> {
    APIS.iter().find(|a| a.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_within_what_the_codec_knows() {
        for api in APIS {
            let known = api.key.valid_versions();
            assert!(
                api.min >= known.min && api.max <= known.max,
                "{:?}",
                api.key
            );
            assert!(api.advertised_min <= api.min);
        }
        assert_eq!(lookup(ApiKey::Produce).map(|a| a.advertised_min), Some(0));
        for key in CONTROLLER_APIS {
            assert!(lookup(*key).is_some(), "{key:?} is not served at all");
        }
        let long_polls: Vec<ApiKey> = APIS.iter().filter(|a| a.long_poll).map(|a| a.key).collect();
        assert_eq!(long_polls, vec![ApiKey::Fetch]);
    }

    /// The README's "Protocol" table opens each row with the advertised range ("a–b", or "a"
    /// when it is one version): it must be the table's, for every API a broker listener
    /// advertises and for the controller-only ones.
    #[test]
    fn readme_lists_the_advertised_ranges() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Protocol")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Protocol section");
        for api in APIS {
            let name = format!("{:?}", api.key);
            let row = section
                .lines()
                .find(|l| l.starts_with(&format!("| {name} |")))
                .unwrap_or_else(|| panic!("no README row for {name}"));
            let cell = row.split('|').nth(2).unwrap_or_default().trim();
            let range = cell.split([' ', ',']).next().unwrap_or_default();
            let want = if api.advertised_min == api.max {
                api.max.to_string()
            } else {
                format!("{}–{}", api.advertised_min, api.max)
            };
            assert_eq!(range, want, "README row for {name}");
        }
    }
}
