//! How voters talk to each other. openraft asks a [`RaftNetworkFactory`] for a client per
//! peer; gregor's quorum is built with a factory chosen by the node's roles.
//!
//! A quorum of one never sends a Raft RPC: [`NoNetwork`] answers every call with
//! "unreachable" (openraft would only call it for a peer, and there is none); the zero-config
//! node runs with it. Several voters use [`TcpNetwork`]: one [`Peer`] per target voter, the
//! address from this node's `controller.quorum.voters` (else the membership's), the request
//! under the private api keys of [`super::rpc`] with this node's cluster id in front. A
//! response with an error code becomes openraft's `Unreachable` (it backs off), except a
//! snapshot mismatch, which goes back as the remote error openraft restarts the stream on.
//! INCONSISTENT_CLUSTER_ID from a peer is logged as an error each time.
//!
//! Thread-safety: the factory is cloned by openraft; clients are owned by one replication
//! task each.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use openraft::error::{NetworkError, RemoteError, SnapshotMismatch};

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::rpc::{self, ClusterIdentity};
use super::rpc_codec as codec;
use super::types::{QuorumNode, QuorumTypes};
use crate::peer::{Peer, PeerError, PeerSettings};

/// The network of a quorum of one (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNetwork;

fn unreachable<E: std::error::Error>(target: u64) -> RPCError<u64, QuorumNode, E> {
    RPCError::Unreachable(Unreachable::new(&io::Error::new(
        io::ErrorKind::NotConnected,
        format!("no network to voter {target}: this quorum has one voter"),
    )))
}

impl RaftNetworkFactory<QuorumTypes> for NoNetwork {
    type Network = NoPeer;

    async fn new_client(&mut self, target: u64, _node: &QuorumNode) -> NoPeer {
        NoPeer { target }
    }
}

/// The client [`NoNetwork`] hands out: every call fails as unreachable.
#[derive(Debug, Clone, Copy)]
pub struct NoPeer {
    target: u64,
}

impl RaftNetwork<QuorumTypes> for NoPeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<QuorumTypes>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, QuorumNode, RaftError<u64>>> {
        Err(unreachable(self.target))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<QuorumTypes>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, QuorumNode, RaftError<u64, InstallSnapshotError>>,
    > {
        Err(unreachable(self.target))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, QuorumNode, RaftError<u64>>> {
        Err(unreachable(self.target))
    }
}

/// The network of a quorum of several voters (see the module doc).
#[derive(Clone)]
pub struct TcpNetwork {
    /// `controller.quorum.voters` as this node knows them: id → `host:port`.
    pub addresses: Arc<BTreeMap<u64, String>>,
    pub identity: Arc<ClusterIdentity>,
    pub settings: Arc<PeerSettings>,
    /// Timeout of a vote (`controller.quorum.request.timeout.ms`).
    pub request_timeout: Duration,
    pub progress: Arc<VoterProgress>,
}

/// When each target voter last answered AppendEntries (Kafka's `lastFetchTimestamp`) and
/// last had everything up to the leader's commit point (`lastCaughtUpTimestamp`: its log
/// end reached the high watermark), in ms since the epoch; what DescribeQuorum reports.
#[derive(Default)]
pub struct VoterProgress {
    times: Mutex<BTreeMap<u64, (i64, i64)>>,
}

impl VoterProgress {
    fn stamp(&self, target: u64, caught_up: bool) {
        let now = crate::log::partition::now_ms();
        let mut t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        let e = t.entry(target).or_insert((-1, -1));
        e.0 = now;
        if caught_up {
            e.1 = now;
        }
    }

    /// Every target's (last fetch, last caught up).
    pub fn snapshot(&self) -> BTreeMap<u64, (i64, i64)> {
        self.times.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl RaftNetworkFactory<QuorumTypes> for TcpNetwork {
    type Network = TcpPeer;

    async fn new_client(&mut self, target: u64, node: &QuorumNode) -> TcpPeer {
        let addr = self
            .addresses
            .get(&target)
            .cloned()
            .unwrap_or_else(|| node.to_string());
        TcpPeer {
            target,
            peer: Peer::new(addr, self.settings.clone()),
            identity: self.identity.clone(),
            request_timeout: self.request_timeout,
            progress: self.progress.clone(),
        }
    }
}

/// A client of one target voter (see the module doc).
pub struct TcpPeer {
    target: u64,
    peer: Peer,
    identity: Arc<ClusterIdentity>,
    request_timeout: Duration,
    progress: Arc<VoterProgress>,
}

/// A failed RPC: `Remote` carries a response error code and its body.
enum CallError {
    Net(PeerError),
    Remote(i16, Bytes),
}

fn network<E: std::error::Error>(e: impl std::fmt::Display) -> RPCError<u64, QuorumNode, E> {
    RPCError::Network(NetworkError::new(&io::Error::other(e.to_string())))
}

impl TcpPeer {
    async fn call(
        &self,
        key: i16,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), String>,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let mut body = BytesMut::new();
        let id = self.identity.get().unwrap_or_default();
        codec::put_string(&mut body, &id)
            .and_then(|()| encode(&mut body))
            .map_err(|e| CallError::Net(PeerError::Protocol(e)))?;
        let mut resp = self
            .peer
            .send_raw(key, codec::VERSION, &body, timeout)
            .await
            .map_err(CallError::Net)?;
        let code =
            codec::get_error(&mut resp).map_err(|e| CallError::Net(PeerError::Protocol(e)))?;
        if code == 0 {
            return Ok(resp);
        }
        if code == crate::error::ErrorCode::InconsistentClusterId as i16 {
            let msg = codec::get_string(&mut resp.clone()).unwrap_or_default();
            tracing::error!(
                "voter {} at {} refused this node's cluster id: {msg}",
                self.target,
                self.peer.addr()
            );
        }
        Err(CallError::Remote(code, resp))
    }

    fn failed<E: std::error::Error>(&self, e: CallError) -> RPCError<u64, QuorumNode, E> {
        match e {
            CallError::Net(PeerError::Unreachable(m)) => {
                RPCError::Unreachable(Unreachable::new(&io::Error::other(m)))
            }
            CallError::Net(e) => network(e),
            CallError::Remote(code, mut body) => {
                let msg = codec::get_string(&mut body).unwrap_or_default();
                RPCError::Unreachable(Unreachable::new(&io::Error::other(format!(
                    "voter {} answered error {code}: {msg}",
                    self.target
                ))))
            }
        }
    }
}

impl RaftNetwork<QuorumTypes> for TcpPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, QuorumNode, RaftError<u64>>> {
        let encode = |b: &mut BytesMut| codec::encode_append(b, &rpc);
        let sent_up_to = rpc.entries.last().map(|e| e.log_id).or(rpc.prev_log_id);
        match self
            .call(rpc::APPEND_ENTRIES, encode, option.hard_ttl())
            .await
        {
            Ok(mut b) => {
                let resp = codec::decode_append_response(&mut b).map_err(network)?;
                let caught_up = resp.is_success()
                    && sent_up_to.map(|l| l.index) >= rpc.leader_commit.map(|l| l.index);
                self.progress.stamp(self.target, caught_up);
                Ok(resp)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, QuorumNode, RaftError<u64, InstallSnapshotError>>,
    > {
        let encode = |b: &mut BytesMut| codec::encode_snapshot(b, &rpc);
        match self
            .call(rpc::INSTALL_SNAPSHOT, encode, option.hard_ttl())
            .await
        {
            Ok(mut b) => codec::decode_snapshot_response(&mut b).map_err(network),
            Err(CallError::Remote(rpc::SNAPSHOT_MISMATCH, mut b)) => {
                let expect = codec::get_segment(&mut b).map_err(network)?;
                let got = codec::get_segment(&mut b).map_err(network)?;
                let mismatch = SnapshotMismatch {
                    expect: openraft::SnapshotSegmentId {
                        id: expect.0,
                        offset: expect.1,
                    },
                    got: openraft::SnapshotSegmentId {
                        id: got.0,
                        offset: got.1,
                    },
                };
                Err(RPCError::RemoteError(RemoteError::new(
                    self.target,
                    RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch)),
                )))
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, QuorumNode, RaftError<u64>>> {
        let encode = |b: &mut BytesMut| {
            codec::encode_vote(b, &rpc);
            Ok(())
        };
        let timeout = option.hard_ttl().min(self.request_timeout);
        match self.call(rpc::VOTE, encode, timeout).await {
            Ok(mut b) => codec::decode_vote_response(&mut b).map_err(network),
            Err(e) => Err(self.failed(e)),
        }
    }
}
