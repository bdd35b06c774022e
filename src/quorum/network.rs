//! How voters talk to each other. openraft asks a [`RaftNetworkFactory`] for a client per
//! peer; gregor's quorum is built with a factory chosen by the node's roles.
//!
//! Step 1 of issue 13 runs a single voter, which never sends a Raft RPC: [`NoNetwork`]
//! answers every call with "unreachable" (openraft would only call it for a peer, and there
//! is none). The multi-voter step adds a TCP factory next to it (private api keys on the
//! CONTROLLER listener, Kafka framing) and picks it in `Quorum::start`; nothing else
//! changes.
//!
//! Thread-safety: stateless.

use std::io;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::types::{QuorumNode, QuorumTypes};

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
