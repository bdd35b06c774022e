//! The openraft type configuration of gregor's metadata quorum, and the few types it names.
//!
//! Node ids are Kafka's `node.id` (a non-negative `i32`) widened to `u64`, as openraft wants
//! an unsigned id. An entry's application data is one commit of the controller: the metadata
//! records that become one Kafka record batch in `__cluster_metadata-0` (see
//! [`super::entry_codec`]). Snapshot data is the bytes of a Kafka `.checkpoint` file held in
//! memory (a `Cursor<Vec<u8>>`, openraft's default), see [`super::snapshot`].
//!
//! Thread-safety: plain data, `Send + Sync`.

use std::fmt;
use std::io::Cursor;

use crate::metadata::records::MetadataRecord;

/// A voter's address as the quorum knows it (Kafka's VotersRecord endpoint, listener name
/// left to the encoder). Why not openraft's `BasicNode`: Kafka records host and port apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumNode {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for QuorumNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The application data of a normal entry: one controller commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataBatch {
    pub records: Vec<MetadataRecord>,
}

/// What applying an entry answers to the writer: where it went in the Kafka log, and whether
/// a publisher (the replica layer) failed on the new image (the image is published anyway,
/// as the records are committed; the error goes back to the client as today).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Kafka offset of the entry's batch (its base offset), −1 for entries not in the log.
    pub offset: i64,
    pub publish_error: Option<String>,
}

openraft::declare_raft_types!(
    /// gregor's metadata quorum (see the module doc).
    pub QuorumTypes:
        D = MetadataBatch,
        R = Applied,
        NodeId = u64,
        Node = QuorumNode,
        Entry = openraft::Entry<QuorumTypes>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Entry = openraft::Entry<QuorumTypes>;
pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type Membership = openraft::Membership<u64, QuorumNode>;
pub type StoredMembership = openraft::StoredMembership<u64, QuorumNode>;
pub type StorageError = openraft::StorageError<u64>;
pub type Raft = openraft::Raft<QuorumTypes>;

/// A node id as openraft's `u64` (Kafka ids are never negative once validated).
pub fn raft_id(node_id: i32) -> u64 {
    u64::try_from(node_id).unwrap_or(0)
}

/// A Raft node id back as Kafka's `i32` (−1 if it does not fit: never for ids we made).
pub fn kafka_id(id: u64) -> i32 {
    i32::try_from(id).unwrap_or(-1)
}

/// `StorageError` for an I/O failure while writing the log.
pub fn write_error(e: impl std::error::Error + 'static) -> StorageError {
    openraft::StorageIOError::write_logs(&e).into()
}

/// `StorageError` for a failure while reading the log.
pub fn read_error(e: impl std::error::Error + 'static) -> StorageError {
    openraft::StorageIOError::read_logs(&e).into()
}
