//! Forwarding to the active controller (design §2.6): a node that is not the quorum's
//! leader sends admin writes, DescribeQuorum and its own controller calls to the leader's
//! CONTROLLER listener and returns its answer, as Kafka brokers forward: in a KIP-590
//! envelope carrying the client's principal and address ([`envelope`]), so the controller
//! authorizes the client (an envelope error other than NOT_CONTROLLER answers
//! UNKNOWN_SERVER_ERROR on every item, as Kafka's forwarding manager does).
//!
//! - Client requests ([`Forwarder::forward`]): the decoded request is sent again at the
//!   same version with [`crate::peer`]; an answer saying NOT_CONTROLLER (the target lost
//!   leadership) or no answer makes the node look the leader up again and retry until the
//!   deadline (`controller.quorum.request.timeout.ms`). Then, if a request went out and
//!   got no answer, REQUEST_TIMED_OUT on every item (its outcome is unknown: a held request
//!   may still arrive); if nothing could be sent, the caller's own handler runs and answers
//!   NOT_CONTROLLER in the request's shape. A request that came in on a controller listener
//!   is never forwarded again (no loops).
//! - Producer id blocks ([`Forwarder::allocate_producer_ids`]): AllocateProducerIds (67).
//! - Internal topics ([`Forwarder::create_topic`]): the coordinators' topics, created on
//!   first need with CreateTopics v7, as Kafka's `AutoTopicCreationManager` asks the
//!   controller; so are topics auto-created by a Metadata or Produce at a node that is not
//!   the active controller (`Broker::topic_or_create`).
//! - Broker registration: gregor's nodes register with BrokerRegistration (62) and
//!   heartbeats (`broker::lifecycle`). The interim private call [`REGISTER_BROKER`] (32003,
//!   a RegisterBrokerRecord) of step 2 is still answered by [`serve_register`] on the
//!   leader's controller listener, but no node sends it any more.
//!
//! Leader addresses come from `controller.quorum.voters`.
//!
//! Thread-safety: `Send + Sync`; the blocking calls use the runtime handle captured at
//! construction and run on blocking threads only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Request;
use tokio::runtime::Handle;

use super::controller_client::ControllerClient;
use super::envelope::{self, Origin, Unwrapped};
use super::Broker;
use crate::config::ClusterConfig;
use crate::controller::{Controller, NewTopic};
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::MetadataRecord;
use crate::peer::{Connector, PeerError, PeerPool, PeerSettings};
use crate::quorum::Quorum;

/// The private api key of the interim broker registration (see the module doc).
pub const REGISTER_BROKER: i16 = 32003;

/// Pause between two attempts to reach the leader.
const RETRY: Duration = Duration::from_millis(50);

/// A request a node forwards: how its answer says NOT_CONTROLLER, and the answer when the
/// active controller did not reply in time (REQUEST_TIMED_OUT on every item, as Kafka's
/// forwarding manager answers: the outcome is unknown).
pub trait Forwardable: Request {
    fn not_controller(resp: &Self::Response) -> bool;
    /// The answer with `code` on every item (or on the whole, for a request with one code).
    fn error_response(&self, code: i16) -> Self::Response;
    fn timed_out(&self) -> Self::Response {
        self.error_response(TIMED_OUT)
    }
}

const NC: i16 = ErrorCode::NotController as i16;
const UNKNOWN: i16 = ErrorCode::UnknownServerError as i16;

/// The answer when the controller refused the envelope itself (not its request): Kafka's
/// forwarding manager answers UNKNOWN_SERVER_ERROR, the client cannot act on an envelope
/// error (it points at the cluster's configuration).
fn refused<R: Forwardable>(req: &R, why: &str) -> R::Response {
    tracing::warn!(
        "the controller refused a forwarded {:?} request: {why}",
        R::KEY
    );
    req.error_response(UNKNOWN)
}
const TIMED_OUT: i16 = ErrorCode::RequestTimedOut as i16;

impl Forwardable for CreateTopicsRequest {
    fn not_controller(r: &CreateTopicsResponse) -> bool {
        r.topics.iter().any(|t| t.error_code == NC)
    }
    fn error_response(&self, code: i16) -> CreateTopicsResponse {
        let topics = self.topics.iter().map(|t| {
            create_topics_response::CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(code)
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        });
        CreateTopicsResponse::default().with_topics(topics.collect())
    }
}

impl Forwardable for DeleteTopicsRequest {
    fn not_controller(r: &DeleteTopicsResponse) -> bool {
        r.responses.iter().any(|t| t.error_code == NC)
    }
    fn error_response(&self, code: i16) -> DeleteTopicsResponse {
        let by_state = self.topics.iter().map(|t| (t.name.clone(), t.topic_id));
        let by_name = self
            .topic_names
            .iter()
            .map(|n| (Some(n.clone()), Default::default()));
        let results = by_state.chain(by_name).map(|(name, id)| {
            delete_topics_response::DeletableTopicResult::default()
                .with_name(name)
                .with_topic_id(id)
                .with_error_code(code)
        });
        DeleteTopicsResponse::default().with_responses(results.collect())
    }
}

impl Forwardable for CreateAclsRequest {
    fn not_controller(r: &CreateAclsResponse) -> bool {
        r.results.iter().any(|t| t.error_code == NC)
    }
    fn error_response(&self, code: i16) -> CreateAclsResponse {
        let results = self
            .creations
            .iter()
            .map(|_| create_acls_response::AclCreationResult::default().with_error_code(code));
        CreateAclsResponse::default().with_results(results.collect())
    }
}

impl Forwardable for DeleteAclsRequest {
    fn not_controller(r: &DeleteAclsResponse) -> bool {
        r.filter_results.iter().any(|t| t.error_code == NC)
    }
    fn error_response(&self, code: i16) -> DeleteAclsResponse {
        let results = self
            .filters
            .iter()
            .map(|_| delete_acls_response::DeleteAclsFilterResult::default().with_error_code(code));
        DeleteAclsResponse::default().with_filter_results(results.collect())
    }
}

impl Forwardable for CreatePartitionsRequest {
    fn not_controller(r: &CreatePartitionsResponse) -> bool {
        r.results.iter().any(|t| t.error_code == NC)
    }
    fn error_response(&self, code: i16) -> CreatePartitionsResponse {
        let results = self.topics.iter().map(|t| {
            create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(code)
        });
        CreatePartitionsResponse::default().with_results(results.collect())
    }
}

impl Forwardable for AlterConfigsRequest {
    fn not_controller(r: &AlterConfigsResponse) -> bool {
        r.responses.iter().any(|t| t.error_code == NC)
    }
    fn error_response(&self, code: i16) -> AlterConfigsResponse {
        let results = self.resources.iter().map(|r| {
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
        });
        AlterConfigsResponse::default().with_responses(results.collect())
    }
}

impl Forwardable for IncrementalAlterConfigsRequest {
    fn not_controller(r: &IncrementalAlterConfigsResponse) -> bool {
        r.responses.iter().any(|t| t.error_code == NC)
    }
    fn error_response(&self, code: i16) -> IncrementalAlterConfigsResponse {
        let results = self.resources.iter().map(|r| {
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
        });
        IncrementalAlterConfigsResponse::default().with_responses(results.collect())
    }
}

impl Forwardable for ElectLeadersRequest {
    fn not_controller(r: &ElectLeadersResponse) -> bool {
        r.error_code == NC
            || r.replica_election_results
                .iter()
                .flat_map(|t| &t.partition_result)
                .any(|p| p.error_code == NC)
    }
    fn error_response(&self, code: i16) -> ElectLeadersResponse {
        ElectLeadersResponse::default().with_error_code(code)
    }
}

impl Forwardable for AlterPartitionReassignmentsRequest {
    fn not_controller(r: &AlterPartitionReassignmentsResponse) -> bool {
        r.error_code == NC
            || r.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code == NC)
    }
    fn error_response(&self, code: i16) -> AlterPartitionReassignmentsResponse {
        AlterPartitionReassignmentsResponse::default().with_error_code(code)
    }
}

impl Forwardable for ListPartitionReassignmentsRequest {
    fn not_controller(r: &ListPartitionReassignmentsResponse) -> bool {
        r.error_code == NC
    }
    fn error_response(&self, code: i16) -> ListPartitionReassignmentsResponse {
        ListPartitionReassignmentsResponse::default().with_error_code(code)
    }
}

impl Forwardable for DescribeQuorumRequest {
    fn not_controller(r: &DescribeQuorumResponse) -> bool {
        r.error_code == NC
            || r.topics.iter().flat_map(|t| &t.partitions).any(|p| {
                p.error_code == NC || p.error_code == ErrorCode::NotLeaderOrFollower as i16
            })
    }
    fn error_response(&self, code: i16) -> DescribeQuorumResponse {
        DescribeQuorumResponse::default().with_error_code(code)
    }
}

impl Forwardable for AlterUserScramCredentialsRequest {
    fn not_controller(r: &AlterUserScramCredentialsResponse) -> bool {
        r.results.iter().any(|u| u.error_code == NC)
    }
    fn error_response(&self, code: i16) -> AlterUserScramCredentialsResponse {
        let users = self
            .deletions
            .iter()
            .map(|d| &d.name)
            .chain(self.upsertions.iter().map(|u| &u.name));
        let results = users.map(|u| {
            alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default()
                .with_user(u.clone())
                .with_error_code(code)
        });
        AlterUserScramCredentialsResponse::default().with_results(results.collect())
    }
}

impl Forwardable for UnregisterBrokerRequest {
    fn not_controller(r: &UnregisterBrokerResponse) -> bool {
        r.error_code == NC
    }
    fn error_response(&self, code: i16) -> UnregisterBrokerResponse {
        UnregisterBrokerResponse::default().with_error_code(code)
    }
}

/// Sends requests to the active controller (see the module doc).
pub struct Forwarder {
    /// A broker-only node's own client of the controllers (not the observer's, whose
    /// long-polls would hold admin requests back): it forwards over it.
    client: Option<ControllerClient>,
    node_id: i32,
    pool: PeerPool,
    /// Voter id → its CONTROLLER listener (`controller.quorum.voters`).
    controllers: BTreeMap<i32, String>,
    /// Whether the node is one voter of several (else nothing is forwarded).
    enabled: bool,
    timeout: Duration,
    runtime: Option<Handle>,
}

impl Forwarder {
    /// `connector`: how the controllers' listener is reached (TLS, SASL).
    pub fn new(cluster: &ClusterConfig, connector: Option<Arc<dyn Connector>>) -> Forwarder {
        Forwarder {
            client: (!cluster.roles.controller && cluster.roles.broker).then(|| {
                ControllerClient::new(
                    super::controller_client_addrs(cluster),
                    format!("gregor-broker-{}-forwarding", cluster.node_id),
                    connector.clone(),
                )
            }),
            node_id: cluster.node_id,
            pool: PeerPool::new(PeerSettings::for_node(cluster.node_id).with_connector(connector)),
            controllers: cluster
                .voters
                .iter()
                .map(|v| (v.id, format!("{}:{}", v.host, v.port)))
                .collect(),
            enabled: cluster.voters.len() > 1 && cluster.roles.controller,
            timeout: Duration::from_millis(cluster.replication.quorum_request_timeout_ms.max(100)),
            runtime: Handle::try_current().ok(),
        }
    }

    /// Whether a request that came in on a broker listener goes to another node.
    pub fn should_forward(&self, quorum: &Quorum, controller_listener: bool) -> bool {
        self.enabled && !controller_listener && !quorum.is_leader()
    }

    /// Forwards `req` if this node should (a request from a broker listener on a node that
    /// is not the active controller): a voter through [`Forwarder::forward`], a broker-only
    /// node through [`Forwarder::forward_from_broker`]. `None`: handle it here.
    /// The request goes in an [`envelope`] for `origin`, the client it came from.
    pub async fn maybe_forward<R: Forwardable>(
        &self,
        quorum: Option<&Arc<Quorum>>,
        controller_listener: bool,
        origin: Origin<'_>,
        req: &R,
        version: i16,
    ) -> Option<R::Response> {
        if controller_listener {
            return None;
        }
        let forward_here = match (quorum, &self.client) {
            (Some(q), _) => self.should_forward(q, false),
            (None, Some(_)) => true,
            _ => false,
        };
        if !forward_here {
            return None;
        }
        let env = match envelope::wrap(req, version, origin) {
            Ok(env) => env,
            Err(e) => {
                tracing::warn!("cannot forward a {:?} request: {e}", R::KEY);
                return Some(req.error_response(UNKNOWN));
            }
        };
        match (quorum, &self.client) {
            (Some(q), _) => self.forward(q, req, &env, version).await,
            (None, Some(client)) => self.forward_from_broker(client, req, &env, version).await,
            _ => None,
        }
    }

    /// A broker-only node's forwarding: `req` goes to the controllers its client knows,
    /// moving to the next one on NOT_CONTROLLER or no answer, until the deadline
    /// (`controller.quorum.request.timeout.ms`); then REQUEST_TIMED_OUT if a request went
    /// out, else `None` (the local handler answers NOT_CONTROLLER).
    pub async fn forward_from_broker<R: Forwardable>(
        &self,
        client: &ControllerClient,
        req: &R,
        env: &EnvelopeRequest,
        version: i16,
    ) -> Option<R::Response> {
        let deadline = Instant::now() + self.timeout;
        let mut sent = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return sent.then(|| req.timed_out());
            }
            match client.send(env, 0, deadline - now).await {
                Ok(answer) => match envelope::unwrap::<R>(answer, version) {
                    Ok(resp) if !R::not_controller(&resp) => return Some(resp),
                    Ok(_) | Err(Unwrapped::NotController) => client.rotate().await,
                    Err(Unwrapped::Failed(e)) => return Some(refused(req, &e)),
                },
                Err((addr, PeerError::Unreachable(e))) => {
                    tracing::debug!("controller at {addr}: {e}")
                }
                Err((addr, e)) => {
                    sent = true;
                    tracing::debug!("forwarding to the controller at {addr}: {e}");
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(RETRY.min(left)).await;
        }
    }

    /// Sends `req` to the active controller and returns its answer. `None` when this node
    /// became the leader meanwhile, or no request could be sent before the deadline (the
    /// caller handles the request itself: NOT_CONTROLLER); REQUEST_TIMED_OUT when one was
    /// sent but no controller answered in time (its outcome is unknown).
    pub async fn forward<R: Forwardable>(
        &self,
        quorum: &Quorum,
        req: &R,
        env: &EnvelopeRequest,
        version: i16,
    ) -> Option<R::Response> {
        let deadline = Instant::now() + self.timeout;
        let mut sent = false;
        loop {
            let leader = quorum.leader();
            if leader == Some(self.node_id) {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                return sent.then(|| req.timed_out());
            }
            if let Some(addr) = leader.and_then(|l| self.controllers.get(&l)) {
                let peer = self.pool.get(addr);
                let answer = peer.send(env, 0, deadline - now).await;
                match answer.map(|a| envelope::unwrap::<R>(a, version)) {
                    Ok(Ok(resp)) if !R::not_controller(&resp) => return Some(resp),
                    Ok(Ok(_) | Err(Unwrapped::NotController)) => {
                        tracing::debug!("{addr} is no longer the active controller")
                    }
                    Ok(Err(Unwrapped::Failed(e))) => return Some(refused(req, &e)),
                    Err(PeerError::Unreachable(e)) => tracing::debug!("controller {e}"),
                    Err(e) => {
                        sent = true;
                        tracing::debug!("forwarding to the controller at {addr}: {e}");
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(RETRY.min(left)).await;
        }
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> Result<T> {
        match &self.runtime {
            Some(rt) => Ok(rt.block_on(f)),
            None => Err(Error::internal("forwarding needs a tokio runtime")),
        }
    }

    /// Runs `local` (a controller operation); on NOT_CONTROLLER runs `remote` against the
    /// leader instead, retrying both until `patience` runs out (blocking).
    fn local_or_remote<T>(
        &self,
        quorum: Option<&Arc<Quorum>>,
        patience: Duration,
        mut local: impl FnMut() -> Result<T>,
        mut remote: impl FnMut(&str) -> Result<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + patience;
        loop {
            let err = match local() {
                Err(e) if e.code() == ErrorCode::NotController && self.enabled => e,
                other => return other,
            };
            let addr = quorum
                .and_then(|q| q.leader())
                .filter(|l| *l != self.node_id)
                .and_then(|l| self.controllers.get(&l));
            let err = match addr {
                Some(a) => match remote(a) {
                    Err(e) if e.code() == ErrorCode::NotController || e.code().retriable() => e,
                    other => return other,
                },
                None => err,
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            std::thread::sleep(RETRY);
        }
    }

    /// The next block of producer ids `[start, end)` from the active controller
    /// (blocking).
    pub fn allocate_producer_ids(
        &self,
        controller: &Controller,
        broker_epoch: i64,
    ) -> Result<(i64, i64)> {
        self.local_or_remote(
            controller.quorum(),
            self.timeout,
            || controller.allocate_producer_ids(),
            |addr| {
                let req = AllocateProducerIdsRequest::default()
                    .with_broker_id(BrokerId(self.node_id))
                    .with_broker_epoch(broker_epoch);
                let peer = self.pool.get(addr);
                let resp = self
                    .block_on(peer.send(&req, 0, self.timeout))?
                    .map_err(|e| Error::kafka(ErrorCode::RequestTimedOut, e.to_string()))?;
                if resp.error_code != 0 {
                    let code = ErrorCode::from_i16(resp.error_code);
                    return Err(Error::kafka(code, "allocating producer ids"));
                }
                let start = resp.producer_id_start.0;
                Ok((start, start + i64::from(resp.producer_id_len)))
            },
        )
    }
}

/// CreateTopics (v7) for one topic as the controller should create it.
pub(super) fn create_topics_request(t: &NewTopic, timeout: Duration) -> CreateTopicsRequest {
    use create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
    let assignments = t.assignments.iter().enumerate().map(|(i, r)| {
        CreatableReplicaAssignment::default()
            .with_partition_index(i as i32)
            .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
    });
    let configs = t.configs.iter().map(|(k, v)| {
        CreatableTopicConfig::default()
            .with_name(k.clone().into())
            .with_value(Some(v.clone().into()))
    });
    let manual = !t.assignments.is_empty();
    let topic = CreatableTopic::default()
        .with_name(TopicName(t.name.clone().into()))
        .with_num_partitions(if manual { -1 } else { t.partitions })
        .with_replication_factor(if manual { -1 } else { t.replication_factor })
        .with_assignments(assignments.collect())
        .with_configs(configs.collect());
    CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
}

/// The one topic's outcome of a CreateTopics answer.
pub(super) fn create_topics_result(resp: &CreateTopicsResponse) -> Result<()> {
    match resp.topics.first() {
        Some(r) if r.error_code == 0 => Ok(()),
        Some(r) => Err(Error::kafka(
            ErrorCode::from_i16(r.error_code),
            r.error_message
                .as_ref()
                .map_or_else(|| "creating a topic".to_string(), |m| m.to_string()),
        )),
        None => Err(Error::kafka(
            ErrorCode::UnknownServerError,
            "no topic result",
        )),
    }
}

impl Forwarder {
    /// Creates a topic on the active controller: directly when it is this node, else with
    /// CreateTopics (v7) to its CONTROLLER listener (blocking). The topic's image may reach
    /// this node a little later than the answer.
    pub fn create_topic(&self, controller: &Controller, t: &NewTopic) -> Result<()> {
        self.local_or_remote(
            controller.quorum(),
            self.timeout,
            || controller.create_topic(t).map(|_| ()),
            |addr| {
                let req = create_topics_request(t, self.timeout);
                let peer = self.pool.get(addr);
                let resp = self
                    .block_on(peer.send(&req, 7, self.timeout))?
                    .map_err(|e| Error::kafka(ErrorCode::RequestTimedOut, e.to_string()))?;
                create_topics_result(&resp)
            },
        )
    }
}

/// Answers [`REGISTER_BROKER`] on the leader: the response body is an error code.
pub async fn serve_register(broker: &Arc<Broker>, body: Bytes) -> Bytes {
    let code = match MetadataRecord::decode(body) {
        Ok(MetadataRecord::RegisterBroker {
            broker_id,
            endpoints,
            rack,
            ..
        }) => match broker
            .blocking(move |b| {
                b.controller
                    .register_broker_interim(broker_id, endpoints, rack)
            })
            .await
        {
            Ok(()) => 0,
            Err(e) => e.code() as i16,
        },
        _ => ErrorCode::InvalidRequest as i16,
    };
    let mut out = BytesMut::with_capacity(2);
    out.put_i16(code);
    out.freeze()
}
