//! openraft's state machine: the [`MetadataImage`] and the [`MetadataPublisher`]s — what the
//! controller did after each commit before the quorum existed.
//!
//! `apply` replays each Normal entry's records into a copy of the current image, hands the
//! change to the publishers once the node is *live* (the replica layer creates/deletes
//! partition logs and re-configures them), and only then publishes it (`Metadata::publish`)
//! to the request handlers — so a handler never sees a leadership the replica layer has not
//! applied (Kafka's window answers NOT_LEADER_OR_FOLLOWER; gregor closes it).
//! Blank and Membership entries change only the quorum's bookkeeping. Before the node is
//! live (start-up replay of the committed entries), only the image is built: the broker then
//! publishes the whole image once (`go_live`), as it always did — one pass over the
//! partitions instead of one per entry.
//!
//! A publisher's error does not stop the state machine (the records are committed; the
//! image is published anyway): it goes back to the writer in [`Applied::publish_error`], as
//! the controller returned it before.
//!
//! Snapshots are Kafka `.checkpoint` files in the log's directory ([`super::snapshot`]):
//! built on openraft's request (gregor's policy in [`super::Quorum`]), or installed from a
//! leader. The image itself is not durable: on restart it is the latest snapshot
//! ([`StateMachine::load_latest_snapshot`]) plus the committed entries after it, which
//! openraft re-applies (`read_committed`).
//!
//! Thread-safety: openraft calls the state machine from its one state-machine task; the
//! shared parts (`Metadata`, the live flag) have their own locks. Publishers run through
//! [`super::off_worker`] (file work).

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};

use super::log_store::LogStore;
use super::snapshot;
use super::types::{
    Applied, Entry, LogId, QuorumNode, QuorumTypes, StorageError, StoredMembership,
};
use crate::log::partition::now_ms;
use crate::metadata::{Metadata, MetadataImage, MetadataPublisher};

/// The state machine (see the module doc). Clones share everything.
#[derive(Clone)]
pub struct StateMachine {
    metadata: Arc<Metadata>,
    publishers: Arc<Mutex<Publishers>>,
    log: LogStore,
    dir: PathBuf,
    state: Arc<Mutex<AppliedState>>,
}

/// Publishers and whether they run yet (see the module doc).
struct Publishers {
    live: bool,
    list: Vec<Arc<dyn MetadataPublisher>>,
}

#[derive(Default)]
struct AppliedState {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshot: Option<(SnapshotMeta<u64, QuorumNode>, Vec<u8>)>,
}

fn sm_error(e: impl std::error::Error + 'static) -> StorageError {
    openraft::StorageIOError::write_state_machine(&e).into()
}

fn poisoned() -> StorageError {
    sm_error(std::io::Error::other("state machine lock poisoned"))
}

impl StateMachine {
    pub fn new(
        metadata: Arc<Metadata>,
        publishers: Vec<Arc<dyn MetadataPublisher>>,
        log: LogStore,
    ) -> StateMachine {
        StateMachine {
            metadata,
            publishers: Arc::new(Mutex::new(Publishers {
                live: false,
                list: publishers,
            })),
            dir: log.dir(),
            log,
            state: Arc::new(Mutex::new(AppliedState::default())),
        }
    }

    /// Loads the newest snapshot file of the log's directory, if any, as the applied state
    /// (blocking; at start, before openraft reads the applied state).
    pub fn load_latest_snapshot(&self) -> std::io::Result<()> {
        let Some((path, end_offset)) = snapshot::list(&self.dir)?.pop() else {
            return Ok(());
        };
        let bytes = std::fs::read(&path)?;
        let invalid = |e: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        };
        let d = snapshot::decode(&bytes, &self.metadata.image().cluster_id).map_err(invalid)?;
        let epoch = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').nth(1))
            .and_then(|e| e.trim_end_matches(snapshot::SUFFIX).parse::<u64>().ok())
            .ok_or_else(|| invalid("bad name".into()))?;
        let last = d
            .last_index
            .map(|i| super::index_table::log_id(epoch, i))
            .ok_or_else(|| invalid("no last index".into()))?;
        let membership = StoredMembership::new(
            d.membership_log_id.or(Some(last)),
            d.membership.unwrap_or_default(),
        );
        let mut image = d.image;
        image.applied_offset = end_offset - 1;
        self.metadata.publish(Arc::new(image));
        let meta = SnapshotMeta {
            last_log_id: Some(last),
            last_membership: membership.clone(),
            snapshot_id: snapshot::snapshot_name(end_offset, epoch),
        };
        let mut s = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        s.last_applied = Some(last);
        s.membership = membership;
        s.snapshot = Some((meta, bytes));
        tracing::info!("metadata image loaded from snapshot {}", path.display());
        Ok(())
    }

    /// Publishes the whole current image to the publishers (as a change from an empty
    /// image) and lets every later entry reach them (blocking).
    pub fn go_live(&self) -> std::io::Result<()> {
        let mut p = self
            .publishers
            .lock()
            .map_err(|_| std::io::Error::other("publishers lock poisoned"))?;
        let image = self.metadata.image();
        let empty = MetadataImage::new(image.cluster_id.clone());
        for publisher in &p.list {
            publisher.publish(&empty, &image)?;
        }
        p.live = true;
        Ok(())
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.state.lock().ok().and_then(|s| s.last_applied)
    }

    /// Hands the change to the publishers (once live), then makes `new` the image the
    /// handlers see: a handler never finds this node named leader of a partition whose
    /// replica the replica layer has not opened yet.
    fn publish(&self, old: &Arc<MetadataImage>, new: Arc<MetadataImage>) -> Option<String> {
        let p = match self.publishers.lock() {
            Ok(p) => p,
            Err(_) => {
                self.metadata.publish(new);
                return Some("publishers lock poisoned".into());
            }
        };
        let error = if p.live {
            run_publishers(&p.list, old, &new)
        } else {
            None
        };
        self.metadata.publish(new);
        error
    }
}

/// A new image: `old` with `records` replayed, having applied the log up to `applied_offset`
/// (the quorum's state machine and the observer apply records alike).
pub(super) fn replay(
    old: &MetadataImage,
    records: &[crate::metadata::records::MetadataRecord],
    applied_offset: i64,
) -> MetadataImage {
    let mut new = old.clone();
    for r in records {
        new.apply(r);
    }
    new.applied_offset = applied_offset;
    new
}

/// Hands a published change to the publishers; the first error, if any (the others still
/// run).
pub(super) fn run_publishers(
    list: &[Arc<dyn MetadataPublisher>],
    old: &MetadataImage,
    new: &MetadataImage,
) -> Option<String> {
    let mut error = None;
    for publisher in list {
        if let Err(e) = super::off_worker(|| publisher.publish(old, new)) {
            error.get_or_insert(e.to_string());
        }
    }
    error
}

impl RaftStateMachine<QuorumTypes> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let s = self.state.lock().map_err(|_| poisoned())?;
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        for entry in entries {
            let offset = self.log.base_offset_of(entry.log_id.index);
            let mut publish_error = None;
            match entry.payload {
                EntryPayload::Normal(batch) => {
                    let old = self.metadata.image();
                    let end = self.log.end_offset_of(entry.log_id.index);
                    let new = replay(&old, &batch.records, end - 1);
                    publish_error = self.publish(&old, Arc::new(new));
                }
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => {
                    let mut s = self.state.lock().map_err(|_| poisoned())?;
                    s.membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            self.state.lock().map_err(|_| poisoned())?.last_applied = Some(entry.log_id);
            out.push(Applied {
                offset,
                publish_error,
            });
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, QuorumNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let old = self.metadata.image();
        let decoded = snapshot::decode(&bytes, &old.cluster_id).map_err(|e| {
            openraft::StorageIOError::read_snapshot(
                Some(meta.signature()),
                &std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        if is_kafka_name(&meta.snapshot_id) {
            let (dir, id) = (self.dir.clone(), meta.snapshot_id.clone());
            super::off_worker(|| snapshot::write_file(&dir, &id, &bytes)).map_err(|e| {
                openraft::StorageIOError::write_snapshot(Some(meta.signature()), &e)
            })?;
        }
        tracing::info!(
            "metadata snapshot {} installed from the leader",
            meta.snapshot_id
        );
        let image = Arc::new(decoded.image);
        if let Some(e) = self.publish(&old, image) {
            tracing::warn!("publishing an installed metadata snapshot: {e}");
        }
        let mut s = self.state.lock().map_err(|_| poisoned())?;
        s.last_applied = meta.last_log_id;
        s.membership = meta.last_membership.clone();
        s.snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<QuorumTypes>>, StorageError> {
        let s = self.state.lock().map_err(|_| poisoned())?;
        Ok(s.snapshot.as_ref().map(|(meta, bytes)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(bytes.clone())),
        }))
    }
}

/// Whether a snapshot id is a Kafka snapshot name (`<20 digits>-<10 digits>`).
fn is_kafka_name(id: &str) -> bool {
    id.split_once('-').is_some_and(|(o, e)| {
        o.len() == 20
            && e.len() == 10
            && o.bytes().all(|b| b.is_ascii_digit())
            && e.bytes().all(|b| b.is_ascii_digit())
    })
}

impl RaftSnapshotBuilder<QuorumTypes> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<QuorumTypes>, StorageError> {
        let image = self.metadata.image();
        let (last_applied, membership) = {
            let s = self.state.lock().map_err(|_| poisoned())?;
            (s.last_applied, s.membership.clone())
        };
        let term = last_applied.map_or(0, |l| l.leader_id.term);
        let end = last_applied.map_or(0, |l| self.log.end_offset_of(l.index).max(0));
        let bytes = snapshot::encode(&image, &membership, last_applied, now_ms())
            .map_err(|e| sm_error(std::io::Error::other(e)))?;
        let name = snapshot::snapshot_name(end, term);
        let path = super::off_worker(|| snapshot::write_file(&self.dir, &name, &bytes))
            .map_err(|e| openraft::StorageIOError::write_snapshot(None, &e))?;
        tracing::info!("metadata snapshot written: {}", path.display());
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id: name,
        };
        let mut s = self.state.lock().map_err(|_| poisoned())?;
        s.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}
