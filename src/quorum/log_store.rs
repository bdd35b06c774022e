//! openraft's log storage over `__cluster_metadata-0`: every entry is one Kafka record batch
//! of that partition log (see [`super::entry_codec`]), the vote and the committed log id live
//! in its `quorum-state` file (see [`super::quorum_state`]).
//!
//! Invariants: the batches of the partition are exactly the entries from the table's first
//! index on, in order, without gaps; an append is fsynced before openraft's `LogFlushed` is
//! signalled (a metadata change a client was told about survives a crash); a truncation cuts
//! the partition at the first removed entry's base offset (the epoch cache follows). `purge`
//! (after a snapshot) first records the new first entry and the purged log id in
//! `quorum-state`, then moves the partition's log start to that entry's batch (whole
//! segments below it are deleted): a crash between the two leaves entries below the anchor,
//! which the next open skips.
//!
//! Recovery: the partition log recovers as any log (a torn last batch is cut); the table is
//! rebuilt from the batch headers; an entry that openraft had not been told was flushed may
//! or may not be there, which Raft allows. `quorum-state` is replaced atomically.
//!
//! Thread-safety: one `Arc<Mutex<_>>` shared by the store and its readers; openraft calls
//! the store's writes serially. Blocking file work runs through [`super::off_worker`].

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use super::entry_codec::{decode_entry, encode_entry};
use super::index_table::{IndexTable, Slot};
use super::quorum_state::QuorumState;
use super::types::{read_error, write_error, Entry, LogId, QuorumTypes, StorageError, Vote};
use crate::log::batch::BatchWalker;
use crate::log::partition::now_ms;
use crate::log::Partition;

/// The log store (see the module doc). Cloning shares it (openraft's log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    partition: Arc<Partition>,
    dir: PathBuf,
    table: IndexTable,
    last_purged: Option<LogId>,
    state: QuorumState,
}

/// Where the Kafka log stands, for DescribeQuorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaPosition {
    /// Kafka offset after the last entry (the log end offset).
    pub log_end_offset: i64,
}

impl LogStore {
    /// Opens the store over `partition` (blocking): reads `quorum-state` and rebuilds the
    /// index table from the batch headers.
    pub fn open(partition: Arc<Partition>) -> io::Result<LogStore> {
        let log = partition
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let dir = log.dir().to_path_buf();
        let state = QuorumState::read(&dir)?;
        let start = log.log_start_offset();
        let (first_index, from) = match state.anchor {
            Some((i, o)) if o >= start => (i, o),
            _ => (0, start),
        };
        let mut table = IndexTable::new(first_index);
        let mut offset = from;
        while let Some(plan) = log
            .read_plan(offset)
            .map_err(|e| io::Error::other(e.to_string()))?
        {
            let chunk = plan
                .read(8 << 20, true)
                .map_err(|e| io::Error::other(e.to_string()))?;
            let mut next = offset;
            for (_, h) in BatchWalker::new(&chunk) {
                let term = u64::try_from(h.partition_leader_epoch).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "metadata batch at offset {} has no epoch (written before the quorum?)",
                            h.base_offset
                        ),
                    )
                })?;
                table.push(Slot {
                    base: h.base_offset,
                    last: h.last_offset(),
                    term,
                });
                next = h.last_offset() + 1;
            }
            if next == offset {
                break;
            }
            offset = next;
        }
        drop(log);
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner {
                partition,
                dir,
                table,
                last_purged: state.purged,
                state,
            })),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StorageError> {
        self.inner
            .lock()
            .map_err(|_| read_error(io::Error::other("quorum log store lock poisoned")))
    }

    /// The directory of the partition log (where `quorum-state` and snapshots live).
    pub fn dir(&self) -> PathBuf {
        self.inner.lock().map(|i| i.dir.clone()).unwrap_or_default()
    }

    /// Bytes in the partition log now.
    pub fn size_bytes(&self) -> u64 {
        self.partition()
            .and_then(|p| p.lock().ok().map(|l| l.size_bytes()))
            .unwrap_or(0)
    }

    /// The partition log holding the entries.
    pub fn partition(&self) -> Option<Arc<Partition>> {
        self.inner.lock().ok().map(|i| i.partition.clone())
    }

    /// The Kafka position of the log.
    pub fn position(&self) -> KafkaPosition {
        let leo = self.partition().map_or(0, |p| p.log_end_offset());
        KafkaPosition {
            log_end_offset: leo,
        }
    }

    /// The committed log id as last saved.
    pub fn committed(&self) -> Option<LogId> {
        self.inner.lock().ok().and_then(|i| i.state.committed)
    }

    /// The Kafka offset right after entry `index` (−1 when the entry is not in the table:
    /// before the first or not yet appended).
    pub fn end_offset_of(&self, index: u64) -> i64 {
        self.inner
            .lock()
            .ok()
            .and_then(|i| i.table.get(index))
            .map_or(-1, |s| s.last + 1)
    }

    /// The Kafka base offset of entry `index`'s batch (−1 when not in the table).
    pub fn base_offset_of(&self, index: u64) -> i64 {
        self.inner
            .lock()
            .ok()
            .and_then(|i| i.table.get(index))
            .map_or(-1, |s| s.base)
    }

    fn read_entries(&self, start: u64, end: u64) -> Result<Vec<Entry>, StorageError> {
        let inner = self.lock()?;
        let mut out = Vec::new();
        let mut slots = Vec::new();
        for index in start.max(inner.table.first_index())..end.min(inner.table.next_index()) {
            if let Some(s) = inner.table.get(index) {
                slots.push((index, s));
            }
        }
        let log = inner.partition.lock().map_err(read_error)?;
        for (index, s) in slots {
            let bytes = log.read(s.base, s.last + 1, 1, true).map_err(read_error)?;
            let Some((pos, h)) = BatchWalker::new(&bytes).next() else {
                return Err(read_error(io::Error::other(format!(
                    "metadata entry {index} (offset {}) is missing",
                    s.base
                ))));
            };
            if h.base_offset != s.base {
                return Err(read_error(io::Error::other(format!(
                    "metadata entry {index}: expected offset {}, found {}",
                    s.base, h.base_offset
                ))));
            }
            let entry = decode_entry(&bytes[pos..pos + h.total_size()], index)
                .map_err(|e| read_error(io::Error::new(io::ErrorKind::InvalidData, e)))?;
            out.push(entry);
        }
        Ok(out)
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => e.saturating_add(1),
        Bound::Excluded(e) => *e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<QuorumTypes> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = bounds(&range);
        let me = self.clone();
        super::off_worker(move || me.read_entries(start, end))
    }
}

impl RaftLogStorage<QuorumTypes> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<QuorumTypes>, StorageError> {
        let inner = self.lock()?;
        let last = inner.table.last_log_id().or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        let me = self.clone();
        super::off_worker(move || {
            let mut inner = me.lock()?;
            inner.state.vote = Some(vote);
            inner
                .state
                .write(&inner.dir)
                .map_err(|e| openraft::StorageIOError::write_vote(&e).into())
        })
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock()?.state.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let me = self.clone();
        super::off_worker(move || {
            let mut inner = me.lock()?;
            if inner.state.committed == committed {
                return Ok(());
            }
            inner.state.committed = committed;
            inner.state.write(&inner.dir).map_err(write_error)
        })
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock()?.state.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<QuorumTypes>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let me = self.clone();
        let result = super::off_worker(move || me.append_blocking(entries));
        match &result {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let me = self.clone();
        super::off_worker(move || {
            let mut inner = me.lock()?;
            let Some(slot) = inner.table.get(log_id.index) else {
                return Ok(());
            };
            {
                let mut log = inner.partition.lock().map_err(write_error)?;
                log.truncate_to(slot.base, now_ms()).map_err(write_error)?;
                inner.partition.publish(&log);
            }
            inner.table.truncate(log_id.index);
            Ok(())
        })
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let me = self.clone();
        super::off_worker(move || {
            let mut inner = me.lock()?;
            inner.table.purge(log_id.index);
            inner.last_purged = Some(log_id);
            let first = inner.table.first_index();
            let partition = inner.partition.clone();
            let mut log = partition.lock().map_err(write_error)?;
            let offset = inner
                .table
                .get(first)
                .map_or(log.log_end_offset(), |s| s.base);
            inner.state.anchor = Some((first, offset));
            inner.state.purged = Some(log_id);
            inner.state.write(&inner.dir).map_err(write_error)?;
            log.delete_records_before(offset).map_err(write_error)?;
            partition.publish(&log);
            Ok(())
        })
    }
}

impl LogStore {
    fn append_blocking(&self, entries: Vec<Entry>) -> Result<(), StorageError> {
        let mut inner = self.lock()?;
        let Some(first) = entries.first() else {
            return Ok(());
        };
        if inner.table.is_empty() && first.log_id.index != inner.table.next_index() {
            inner.table.restart_at(first.log_id.index);
        }
        let leader = inner
            .state
            .vote
            .and_then(|v| v.leader_id.voted_for.filter(|_| v.is_committed()));
        let vote_term = inner.state.vote.map(|v| v.leader_id.term);
        let partition = inner.partition.clone();
        let mut log = partition.lock().map_err(write_error)?;
        if inner.table.is_empty() {
            let anchor = (first.log_id.index, log.log_end_offset());
            if anchor.0 != 0 && inner.state.anchor != Some(anchor) {
                inner.state.anchor = Some(anchor);
                inner.state.write(&inner.dir).map_err(write_error)?;
            }
        }
        let now = now_ms();
        for e in &entries {
            if e.log_id.index != inner.table.next_index() {
                return Err(write_error(io::Error::other(format!(
                    "metadata entry {} appended where {} was expected",
                    e.log_id.index,
                    inner.table.next_index()
                ))));
            }
            let base = log.log_end_offset();
            let leader = leader.filter(|_| vote_term == Some(e.log_id.leader_id.term));
            let bytes =
                encode_entry(e, base, leader, now).map_err(|m| write_error(io::Error::other(m)))?;
            let info = log.append_as_follower(&bytes, now).map_err(write_error)?;
            if let openraft::EntryPayload::Membership(m) = &e.payload {
                // Kafka's `currentVoters`, written with the next vote or commit.
                inner.state.voters = m.voter_ids().collect();
            }
            inner.table.push(Slot {
                base,
                last: info.last_offset,
                term: e.log_id.leader_id.term,
            });
        }
        log.flush(now).map_err(write_error)?;
        partition.publish(&log);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::log::LogManager;
    use crate::quorum::index_table::log_id;
    use crate::quorum::types::MetadataBatch;
    use openraft::EntryPayload;

    fn open(dir: &std::path::Path) -> LogStore {
        let logs = LogManager::open(dir).expect("logs");
        let p = crate::metadata::log::open(&logs, &BrokerConfig::default()).expect("partition");
        LogStore::open(p).expect("store")
    }

    fn entry(term: u64, index: u64) -> Entry {
        let records = vec![crate::metadata::records::MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 0,
            next_producer_id: index as i64,
        }];
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(MetadataBatch { records }),
        }
    }

    #[test]
    fn a_purge_survives_a_restart_even_when_the_log_start_did_not_move() {
        let dir = tempfile::tempdir().expect("dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            let mut s = open(dir.path());
            s.append_blocking((0..10).map(|i| entry(1 + i / 5, i)).collect())
                .expect("append");
            s.purge(log_id(1, 4)).await.expect("purge");
            assert_eq!(s.base_offset_of(5), 5);
            let state = s.get_log_state().await.expect("state");
            assert_eq!(
                (state.last_purged_log_id, state.last_log_id),
                (Some(log_id(1, 4)), Some(log_id(2, 9)))
            );
        });
        // No log-start checkpoint was written (as after a crash right after the anchor): the
        // batches below the anchor are still in the segment, and the reopened store skips them.
        rt.block_on(async {
            let mut s = open(dir.path());
            let state = s.get_log_state().await.expect("state");
            assert_eq!(
                (state.last_purged_log_id, state.last_log_id),
                (Some(log_id(1, 4)), Some(log_id(2, 9)))
            );
            let got = s.try_get_log_entries(5..10).await.expect("read");
            assert_eq!(
                got.iter().map(|e| e.log_id).collect::<Vec<_>>(),
                (5..10).map(|i| log_id(1 + i / 5, i)).collect::<Vec<_>>()
            );
            // Truncation cuts the partition at the entry's batch.
            s.truncate(log_id(2, 7)).await.expect("truncate");
            assert_eq!(s.position().log_end_offset, 7);
            s.append_blocking(vec![entry(3, 7)])
                .expect("append after truncate");
            assert_eq!(
                s.get_log_state().await.expect("state").last_log_id,
                Some(log_id(3, 7))
            );
        });
    }
}
