//! The voters' Raft RPCs as Kafka requests: openraft's AppendEntries, Vote and
//! InstallSnapshot (chunked, openraft 0.9's default) under gregor's private api keys
//! [`APPEND_ENTRIES`], [`VOTE`], [`INSTALL_SNAPSHOT`] (32000–32002), Kafka framing (request
//! header v1, response header v0), served only on CONTROLLER listeners and never listed in
//! ApiVersions. The payload is [`super::rpc_codec`]; every request starts with the sender's
//! cluster id.
//!
//! [`ClusterIdentity`] is the node's cluster id and the rule that agrees on it (design
//! §2.7): a formatted node (`meta.properties` has `cluster.id`) refuses an RPC carrying
//! another id with INCONSISTENT_CLUSTER_ID (104); an unformatted one adopts the id of the
//! first RPC it receives, writes `meta.properties` and publishes an empty image with it
//! (it has applied nothing yet). The lowest-id voter of an unformatted quorum is the one that
//! makes the id, after asking the other voters whether one already has it
//! ([`ClusterIdentity::discover_or_create`]); voters formatted with one id form the quorum
//! without it (`Quorum::join`).
//!
//! [`RpcServer`] answers these requests with the node's `Raft` once the quorum is started;
//! before that (the listener accepts while start-up runs) it answers an error the sender
//! treats as unreachable.
//!
//! Thread-safety: both types are `Send + Sync`; the id is behind an `RwLock`, adoption is
//! serialised by a mutex.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::AppendEntriesResponse;

use super::rpc_codec as codec;
use super::types::Raft;
use crate::error::ErrorCode;
use crate::metadata::{self, Metadata, MetadataImage};
use crate::peer::{Peer, PeerSettings};
use kafka_protocol::messages::DescribeClusterRequest;

pub const APPEND_ENTRIES: i16 = 32000;
pub const VOTE: i16 = 32001;
pub const INSTALL_SNAPSHOT: i16 = 32002;

/// Error code of a response whose snapshot chunk did not follow the previous one
/// (openraft restarts the snapshot stream on it).
pub const SNAPSHOT_MISMATCH: i16 = 32002;

/// Whether `key` is one of the quorum's private api keys.
pub fn is_raft_key(key: i16) -> bool {
    (APPEND_ENTRIES..=INSTALL_SNAPSHOT).contains(&key)
}

/// This node's cluster id and how it is agreed (see the module doc).
pub struct ClusterIdentity {
    data_dir: PathBuf,
    node_id: i32,
    id: RwLock<Option<String>>,
    adopting: Mutex<()>,
    metadata: OnceLock<Arc<Metadata>>,
}

impl ClusterIdentity {
    /// The identity `meta.properties` of `data_dir` says (none: unformatted).
    pub fn open(data_dir: PathBuf, node_id: i32) -> ClusterIdentity {
        let id = metadata::read_cluster_id(&data_dir);
        ClusterIdentity {
            data_dir,
            node_id,
            id: RwLock::new(id),
            adopting: Mutex::new(()),
            metadata: OnceLock::new(),
        }
    }

    /// The cluster id, if known.
    pub fn get(&self) -> Option<String> {
        self.id.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The cluster id for the lowest-id voter: the one already known, else one a voter of
    /// `others` (their CONTROLLER addresses) already uses — asked with DescribeCluster,
    /// each within `timeout` — else a new one, made and written now. Asking first keeps a
    /// lowest-id voter that starts late, or on a wiped disk, from founding a second
    /// cluster next to the one the others formed.
    pub fn discover_or_create(
        &self,
        others: &[String],
        timeout: Duration,
        connector: Option<Arc<dyn crate::peer::Connector>>,
    ) -> io::Result<String> {
        if let Some(id) = self.get() {
            return Ok(id);
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let settings = Arc::new(PeerSettings::for_node(self.node_id).with_connector(connector));
            for addr in others {
                let peer = Peer::new(addr.clone(), settings.clone());
                // v1 with endpoint type 2: a controller listener answers only that (KIP-919).
                let req = DescribeClusterRequest::default().with_endpoint_type(2);
                let resp = match handle.block_on(peer.send(&req, 1, timeout)) {
                    Ok(resp) => resp,
                    Err(e) => {
                        tracing::debug!("asking voter at {addr} for its cluster id: {e:?}");
                        continue;
                    }
                };
                if resp.error_code == 0 && !resp.cluster_id.is_empty() {
                    let theirs = resp.cluster_id.to_string();
                    tracing::info!("voter at {addr} already uses cluster id {theirs}");
                    self.check(&theirs)
                        .map_err(|(_, msg)| io::Error::other(msg))?;
                    return Ok(theirs);
                }
            }
        }
        self.get_or_create()
    }

    /// The cluster id, made and written now if the node is unformatted.
    pub fn get_or_create(&self) -> io::Result<String> {
        let _serial = self.adopting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = self.get() {
            return Ok(id);
        }
        let id = metadata::new_cluster_id();
        metadata::write_cluster_id(&self.data_dir, self.node_id, &id)?;
        *self.id.write().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());
        Ok(id)
    }

    /// The metadata whose image gets an adopted id.
    pub fn attach(&self, metadata: Arc<Metadata>) {
        let _ = self.metadata.set(metadata);
    }

    /// Checks a peer's cluster id, adopting it when this node has none (module doc). The
    /// error carries the code to answer: INCONSISTENT_CLUSTER_ID, or KAFKA_STORAGE_ERROR
    /// when `meta.properties` could not be written.
    pub fn check(&self, theirs: &str) -> Result<(), (ErrorCode, String)> {
        if let Some(ours) = self.get() {
            return if theirs.is_empty() || theirs == ours {
                Ok(())
            } else {
                Err((
                    ErrorCode::InconsistentClusterId,
                    format!(
                        "The cluster id {theirs} of the request does not match this node's {ours}"
                    ),
                ))
            };
        }
        if theirs.is_empty() {
            return Ok(());
        }
        let _serial = self.adopting.lock().unwrap_or_else(|p| p.into_inner());
        if self.get().is_some() {
            drop(_serial);
            return self.check(theirs);
        }
        metadata::write_cluster_id(&self.data_dir, self.node_id, theirs).map_err(|e| {
            let msg = format!("writing meta.properties: {e}");
            (ErrorCode::KafkaStorageError, msg)
        })?;
        if let Some(m) = self.metadata.get() {
            m.publish(Arc::new(MetadataImage::new(theirs.to_string())));
        }
        *self.id.write().unwrap_or_else(|p| p.into_inner()) = Some(theirs.to_string());
        tracing::info!("joined cluster {theirs} (cluster id from the quorum)");
        Ok(())
    }
}

/// Serves the private Raft keys (see the module doc).
pub struct RpcServer {
    identity: Arc<ClusterIdentity>,
    raft: OnceLock<Raft>,
    /// The highest `leader_commit` index of an AppendEntries this node did not refuse for
    /// a higher vote ([`NOTHING_HEARD`] before the first; −1: the leader had committed
    /// nothing): a restarted voter has caught up once it has applied this far (see
    /// `Quorum::catch_up`).
    leader_commit: AtomicI64,
}

/// [`RpcServer::leader_commit`] before any AppendEntries was accepted.
pub const NOTHING_HEARD: i64 = -2;

fn error_response(code: i16, message: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(code);
    let _ = codec::put_string(&mut out, message);
    out.freeze()
}

impl RpcServer {
    pub fn new(identity: Arc<ClusterIdentity>) -> RpcServer {
        RpcServer {
            identity,
            raft: OnceLock::new(),
            leader_commit: AtomicI64::new(NOTHING_HEARD),
        }
    }

    /// The highest commit index a leader announced to this node since it started
    /// ([`NOTHING_HEARD`]: none yet; −1: nothing committed).
    pub fn leader_commit(&self) -> i64 {
        self.leader_commit.load(Ordering::Acquire)
    }

    pub fn identity(&self) -> &Arc<ClusterIdentity> {
        &self.identity
    }

    /// Starts answering with `raft`.
    pub(crate) fn attach(&self, raft: Raft) {
        let _ = self.raft.set(raft);
    }

    /// The response body for a request body of a private key (see the module doc).
    pub async fn handle(&self, api_key: i16, version: i16, mut body: Bytes) -> Bytes {
        if version != codec::VERSION {
            return error_response(
                ErrorCode::UnsupportedVersion as i16,
                &format!("raft rpc version {version}"),
            );
        }
        let theirs = match codec::get_string(&mut body) {
            Ok(id) => id,
            Err(e) => return error_response(ErrorCode::InvalidRequest as i16, &e),
        };
        let Some(raft) = self.raft.get() else {
            return error_response(ErrorCode::NotController as i16, "the quorum is starting");
        };
        if let Err((code, e)) = self.identity.check(&theirs) {
            tracing::error!("refusing a raft request: {e}");
            return error_response(code as i16, &e);
        }
        let mut out = BytesMut::new();
        out.put_i16(0);
        let result: Result<(), (i16, String)> = match api_key {
            APPEND_ENTRIES => {
                match codec::decode_append(&mut body).and_then(|r| codec::end(&body).map(|()| r)) {
                    Err(e) => Err((ErrorCode::InvalidRequest as i16, e)),
                    Ok(req) => {
                        let commit = req
                            .leader_commit
                            .map_or(-1, |c| i64::try_from(c.index).unwrap_or(i64::MAX));
                        match raft.append_entries(req).await {
                            Ok(r) => {
                                if !matches!(r, AppendEntriesResponse::HigherVote(_)) {
                                    self.leader_commit.fetch_max(commit, Ordering::AcqRel);
                                }
                                codec::encode_append_response(&mut out, &r);
                                Ok(())
                            }
                            Err(e) => Err((-1, e.to_string())),
                        }
                    }
                }
            }
            VOTE => match codec::decode_vote(&mut body).and_then(|r| codec::end(&body).map(|()| r))
            {
                Err(e) => Err((ErrorCode::InvalidRequest as i16, e)),
                Ok(req) => match raft.vote(req).await {
                    Ok(r) => {
                        codec::encode_vote_response(&mut out, &r);
                        Ok(())
                    }
                    Err(e) => Err((-1, e.to_string())),
                },
            },
            INSTALL_SNAPSHOT => match codec::decode_snapshot(&mut body)
                .and_then(|r| codec::end(&body).map(|()| r))
            {
                Err(e) => Err((ErrorCode::InvalidRequest as i16, e)),
                Ok(req) => match raft.install_snapshot(req).await {
                    Ok(r) => {
                        codec::encode_snapshot_response(&mut out, &r);
                        Ok(())
                    }
                    Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => {
                        let mut out = BytesMut::new();
                        out.put_i16(SNAPSHOT_MISMATCH);
                        let a = codec::put_segment(&mut out, &m.expect.id, m.expect.offset);
                        let b = codec::put_segment(&mut out, &m.got.id, m.got.offset);
                        return match a.and(b) {
                            Ok(()) => out.freeze(),
                            Err(e) => error_response(-1, &e),
                        };
                    }
                    Err(e) => Err((-1, e.to_string())),
                },
            },
            other => Err((
                ErrorCode::InvalidRequest as i16,
                format!("not a raft api key: {other}"),
            )),
        };
        match result {
            Ok(()) => out.freeze(),
            Err((code, message)) => error_response(code, &message),
        }
    }
}
