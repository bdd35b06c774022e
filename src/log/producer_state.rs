//! Idempotent and transactional producer state of one partition: for each producer id, its
//! epoch, the sequence ranges and offsets of its last five batches (so a retried batch is
//! recognised and answered with its original offset instead of being appended twice), the
//! coordinator epoch of its last transaction marker and the first offset of its ongoing
//! transaction, if any (Kafka's `ProducerStateEntry.currentTxnFirstOffset`). The smallest
//! such offset is the partition's first unstable offset, which bounds read_committed fetches.
//!
//! Rules (Kafka's `ProducerAppendInfo`): a batch or marker whose producer epoch is older than
//! the producer's is refused with INVALID_PRODUCER_EPOCH (a newer one becomes current; a data
//! batch of a newer epoch must start at sequence 0); a transactional batch starts the
//! producer's transaction or continues it; a non-transactional batch during one is refused
//! with INVALID_TXN_STATE; a marker ends it, and one from an older coordinator epoch than the
//! producer's last marker is refused with TRANSACTION_COORDINATOR_FENCED.
//!
//! Snapshot format (`<offset>.snapshot`, state as of that log offset), all big-endian:
//! `"GPS2"`, `count: u32`, then per producer `producerId: i64, epoch: i16,
//! coordinatorEpoch: i32, currentTxnFirstOffset: i64 (−1 = none), n: u8` and `n` batches of
//! `firstSeq: i32, lastSeq: i32, firstOffset: i64, lastOffset: i64, timestamp: i64`; last a
//! CRC-32C (u32) of everything before it. Version 1 (`"GPS1"`, written before transactions)
//! lacks the two transaction fields and is still read (no ongoing transactions).
//!
//! Thread-safety: none of its own; it lives inside the partition log behind its lock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::path::Path;

use crate::error::{Error, ErrorCode};

use super::batch::BatchHeader;
use super::control::{ControlType, Marker};

/// Batches remembered per producer, as Kafka does.
pub const MAX_BATCHES: usize = 5;

/// What the log remembers of one appended batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

/// Everything the partition knows of one producer (Kafka's `ProducerStateEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// Coordinator epoch of the producer's last marker, −1 before any.
    coordinator_epoch: i32,
    /// First offset of the producer's ongoing transaction.
    txn_first_offset: Option<i64>,
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            txn_first_offset: None,
        }
    }

    /// Kafka's `maybeUpdateProducerEpoch`: a different epoch forgets the old one's batches.
    fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}

/// The verdict on an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or next in sequence: append it.
    Append,
    /// Already appended: answer with this batch's original offsets.
    Duplicate(BatchMeta),
}

/// A transaction a marker ended (Kafka's `CompletedTxn`); only transactions that wrote data
/// on the partition complete — a marker for a producer with no ongoing transaction ends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// One producer as DescribeProducers reports it (Kafka's `ProducerStateEntry` seen from
/// `UnifiedLog.activeProducers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub epoch: i16,
    /// Last sequence of its last remembered batch, −1 when none.
    pub last_sequence: i32,
    /// Max timestamp of its last remembered batch, −1 when none.
    pub last_timestamp: i64,
    /// Coordinator epoch of its last marker, −1 before any.
    pub coordinator_epoch: i32,
    /// First offset of its ongoing transaction, −1 when none.
    pub txn_start_offset: i64,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

fn epoch_error(pid: i64, epoch: i16, current: i16) -> Error {
    Error::kafka(
        ErrorCode::InvalidProducerEpoch,
        format!("epoch {epoch} of producer {pid} is older than its current epoch {current}"),
    )
}

/// Per-producer sequence and transaction state of one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// `(first offset, producer id)` of every ongoing transaction (Kafka's `ongoingTxns`).
    ongoing: BTreeSet<(i64, i64)>,
}

impl ProducerStateManager {
    /// Decides whether a producer's batch may be appended, following Kafka's
    /// `ProducerAppendInfo` (see the module doc).
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, Error> {
        if h.producer_id < 0 {
            if h.is_transactional() {
                return Err(Error::kafka(
                    ErrorCode::InvalidRecord,
                    "a transactional batch must carry a producer id",
                ));
            }
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state expired): accept and start tracking.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(epoch_error(h.producer_id, h.producer_epoch, entry.epoch));
        }
        if h.base_sequence >= 0 {
            if let Some(dup) = Self::check_sequence(entry, h)? {
                return Ok(SequenceCheck::Duplicate(dup));
            }
        }
        if entry.txn_first_offset.is_some() && !h.is_transactional() {
            return Err(Error::kafka(
                ErrorCode::InvalidTxnState,
                format!(
                    "producer {} has an ongoing transaction: expected a transactional batch",
                    h.producer_id
                ),
            ));
        }
        Ok(SequenceCheck::Append)
    }

    /// The sequence rules of an idempotent batch whose epoch is not older than the entry's:
    /// `Some` for a duplicate of one of the last batches.
    fn check_sequence(entry: &ProducerEntry, h: &BatchHeader) -> Result<Option<BatchMeta>, Error> {
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return Err(Error::kafka(
                    ErrorCode::OutOfOrderSequenceNumber,
                    format!(
                        "new epoch {} must start at sequence 0, got {}",
                        h.producer_epoch, h.base_sequence
                    ),
                ));
            }
            return Ok(None);
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(Some(*dup));
        }
        // No batch in this epoch yet (a marker moved the producer to it): sequence 0 only.
        let expected_after = entry.batches.back().map(|b| b.last_seq).unwrap_or(-1);
        if !in_sequence(expected_after, h.base_sequence) {
            return Err(Error::kafka(
                ErrorCode::OutOfOrderSequenceNumber,
                format!(
                    "expected sequence {} but got {}",
                    expected_after as i64 + 1,
                    h.base_sequence
                ),
            ));
        }
        Ok(None)
    }

    /// Decides whether a transaction marker from the coordinator may be appended (Kafka's
    /// `appendEndTxnMarker` checks): INVALID_PRODUCER_EPOCH for an epoch older than the
    /// producer's, TRANSACTION_COORDINATOR_FENCED for a coordinator epoch older than its last
    /// marker's. A marker for an unknown producer is accepted (it ends nothing).
    pub fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), Error> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < entry.epoch {
            return Err(epoch_error(producer_id, producer_epoch, entry.epoch));
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(Error::kafka(
                ErrorCode::TransactionCoordinatorFenced,
                format!(
                    "coordinator epoch {coordinator_epoch} of the marker for producer \
                     {producer_id} is older than {}",
                    entry.coordinator_epoch
                ),
            ));
        }
        Ok(())
    }

    /// Records an appended data batch (`h` as stored, with its final base offset): its
    /// sequence range, and the start of a transaction when it is the first transactional
    /// batch since the producer's last marker.
    pub fn update(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.is_control() || (h.base_sequence < 0 && !h.is_transactional()) {
            return;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        entry.set_epoch(h.producer_epoch);
        if h.base_sequence >= 0 {
            entry.batches.push_back(BatchMeta {
                first_seq: h.base_sequence,
                last_seq: h.last_sequence(),
                first_offset: h.base_offset,
                last_offset: h.last_offset(),
                timestamp: h.max_timestamp,
            });
            while entry.batches.len() > MAX_BATCHES {
                entry.batches.pop_front();
            }
        }
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(h.base_offset);
            self.ongoing.insert((h.base_offset, h.producer_id));
        }
    }

    /// Records an appended marker (`h` its control batch as stored): the producer moves to
    /// the marker's epoch and coordinator epoch, and its ongoing transaction, if any, ends.
    pub fn complete(&mut self, h: &BatchHeader, marker: Marker) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        entry.set_epoch(h.producer_epoch);
        entry.coordinator_epoch = marker.coordinator_epoch;
        let first = entry.txn_first_offset.take()?;
        self.ongoing.remove(&(first, h.producer_id));
        Some(CompletedTxn {
            producer_id: h.producer_id,
            first_offset: first,
            last_offset: h.base_offset,
            aborted: marker.kind == ControlType::Abort,
        })
    }

    /// Per producer: the last offset of its last remembered data batch (if any) and its
    /// current epoch — Kafka's `lastRecordsOfActiveProducers`, which the log cleaner keeps in
    /// the log so idempotence and fencing survive compaction.
    pub fn last_records(&self) -> HashMap<i64, (Option<i64>, i16)> {
        self.producers
            .iter()
            .map(|(pid, e)| (*pid, (e.batches.back().map(|b| b.last_offset), e.epoch)))
            .collect()
    }

    /// The smallest first offset of any ongoing transaction (Kafka's `firstUnstableOffset`).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.first().map(|(o, _)| *o)
    }

    /// `(producer id, first offset)` of every ongoing transaction, oldest first.
    pub fn ongoing_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(o, p)| (*p, *o))
    }

    /// Every producer the partition knows, by producer id (DescribeProducers).
    pub fn summaries(&self) -> Vec<ProducerSummary> {
        let mut out: Vec<ProducerSummary> = self
            .producers
            .iter()
            .map(|(pid, e)| ProducerSummary {
                producer_id: *pid,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.batches.back().map_or(-1, |b| b.timestamp),
                coordinator_epoch: e.coordinator_epoch,
                txn_start_offset: e.txn_first_offset.unwrap_or(-1),
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"GPS2".to_vec();
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(e) = self.producers.get(&id) else {
                continue;
            };
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            out.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
            out.push(e.batches.len() as u8);
            for b in &e.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
                out.extend_from_slice(&b.timestamp.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Parses a snapshot (version 2, or version 1 without transactions), or explains why it
    /// cannot be trusted.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 12 {
            return Err("not a producer state snapshot".into());
        }
        let with_txns = match &bytes[..4] {
            b"GPS2" => true,
            b"GPS1" => false,
            _ => return Err("not a producer state snapshot".into()),
        };
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err("snapshot CRC mismatch".into());
        }
        let mut r = Reader(&body[4..]);
        let count = r.u32()?;
        let mut state = ProducerStateManager::default();
        for _ in 0..count {
            let id = r.i64()?;
            let mut entry = ProducerEntry::new(r.i16()?);
            if with_txns {
                entry.coordinator_epoch = r.i32()?;
                let first = r.i64()?;
                if first >= 0 {
                    entry.txn_first_offset = Some(first);
                    state.ongoing.insert((first, id));
                }
            }
            let n = r.u8()? as usize;
            for _ in 0..n {
                entry.batches.push_back(BatchMeta {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    timestamp: r.i64()?,
                });
            }
            state.producers.insert(id, entry);
        }
        if !r.0.is_empty() {
            return Err("snapshot has trailing bytes".into());
        }
        Ok(state)
    }

    /// Writes a snapshot atomically and durably ([`crate::fs::write_atomic`]).
    pub fn write_snapshot(&self, path: &Path) -> io::Result<()> {
        crate::fs::write_atomic(path, &self.encode())
    }

    /// Writes a snapshot atomically, leaving the fsync to the caller
    /// ([`crate::fs::sync_file_and_dir`]): a segment roll must not wait for the disk. A snapshot
    /// torn by a power loss before that fsync fails to decode and is skipped at load.
    pub fn write_snapshot_unsynced(&self, path: &Path) -> io::Result<()> {
        crate::fs::replace_unsynced(path, &self.encode())
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.0.len() < N {
            return Err("snapshot is truncated".into());
        }
        let mut a = [0u8; N];
        a.copy_from_slice(&self.0[..N]);
        self.0 = &self.0[N..];
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take::<1>()?[0])
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: n,
        }
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        let mut s = ProducerStateManager::default();
        let a = header(7, 0, 0, 5, 0);
        assert_eq!(s.check(&a).unwrap(), SequenceCheck::Append);
        s.update(&a);
        let b = header(7, 0, 5, 5, 5);
        assert_eq!(s.check(&b).unwrap(), SequenceCheck::Append);
        s.update(&b);
        // Retry of the first batch: duplicate with its original offsets.
        match s.check(&header(7, 0, 0, 5, 99)).unwrap() {
            SequenceCheck::Duplicate(m) => assert_eq!((m.first_offset, m.last_offset), (0, 4)),
            other => panic!("{other:?}"),
        }
        let gap = s.check(&header(7, 0, 12, 1, 99)).unwrap_err();
        assert_eq!(gap.code(), ErrorCode::OutOfOrderSequenceNumber);
        s.update(&header(7, 1, 0, 1, 10));
        let old = s.check(&header(7, 0, 10, 1, 99)).unwrap_err();
        assert_eq!(old.code(), ErrorCode::InvalidProducerEpoch);
        let restored = ProducerStateManager::decode(&s.encode()).unwrap();
        assert_eq!(restored, s);
    }

    fn txn(pid: i64, epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        BatchHeader {
            attributes: crate::log::batch::TRANSACTIONAL_BIT,
            ..header(pid, epoch, seq, n, base)
        }
    }

    fn marker(pid: i64, epoch: i16, at: i64) -> BatchHeader {
        BatchHeader {
            attributes: crate::log::batch::TRANSACTIONAL_BIT | crate::log::batch::CONTROL_BIT,
            base_sequence: -1,
            ..header(pid, epoch, -1, 1, at)
        }
    }

    fn abort(coordinator_epoch: i32) -> Marker {
        Marker {
            kind: ControlType::Abort,
            coordinator_epoch,
        }
    }

    #[test]
    fn transactions_start_continue_and_end() {
        let mut s = ProducerStateManager::default();
        s.update(&txn(1, 0, 0, 2, 10));
        s.update(&txn(2, 3, 0, 1, 12));
        s.update(&txn(1, 0, 2, 2, 13));
        assert_eq!(s.first_unstable_offset(), Some(10));
        // A plain batch of a producer inside a transaction: INVALID_TXN_STATE.
        let plain = s.check(&header(1, 0, 4, 1, 20)).unwrap_err();
        assert_eq!(plain.code(), ErrorCode::InvalidTxnState);
        // Snapshot v2 carries the ongoing transactions.
        let restored = ProducerStateManager::decode(&s.encode()).unwrap();
        assert_eq!(restored, s);
        assert_eq!(restored.first_unstable_offset(), Some(10));

        let done = s.complete(&marker(1, 0, 15), abort(0)).expect("ended");
        assert_eq!(
            (done.first_offset, done.last_offset, done.aborted),
            (10, 15, true)
        );
        assert_eq!(s.first_unstable_offset(), Some(12));
        // A second marker ends nothing; a plain batch is fine again.
        assert_eq!(s.complete(&marker(1, 0, 16), abort(0)), None);
        assert_eq!(
            s.check(&header(1, 0, 4, 1, 20)).unwrap(),
            SequenceCheck::Append
        );

        // Markers: older producer epoch or coordinator epoch are refused; newer accepted.
        let old = s.check_marker(2, 2, 0).unwrap_err();
        assert_eq!(old.code(), ErrorCode::InvalidProducerEpoch);
        s.check_marker(2, 4, 0).expect("bumped epoch accepted");
        let done = s.complete(&marker(2, 4, 17), abort(5)).expect("ended");
        assert_eq!(done.first_offset, 12);
        assert_eq!(s.first_unstable_offset(), None);
        let fenced = s.check_marker(2, 4, 4).unwrap_err();
        assert_eq!(fenced.code(), ErrorCode::TransactionCoordinatorFenced);
        // The bumped epoch starts over at sequence 0; an old-epoch batch is fenced.
        let gap = s.check(&txn(2, 4, 1, 1, 18)).unwrap_err();
        assert_eq!(gap.code(), ErrorCode::OutOfOrderSequenceNumber);
        assert_eq!(
            s.check(&txn(2, 4, 0, 1, 18)).unwrap(),
            SequenceCheck::Append
        );
        let stale = s.check(&txn(2, 3, 1, 1, 18)).unwrap_err();
        assert_eq!(stale.code(), ErrorCode::InvalidProducerEpoch);
        // A marker for an unknown producer is accepted and ends nothing.
        s.check_marker(99, 0, 0).expect("unknown producer");
    }

    #[test]
    fn version_1_snapshots_are_still_read() {
        let mut v1 = b"GPS1".to_vec();
        v1.extend_from_slice(&1u32.to_be_bytes());
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&2i16.to_be_bytes());
        v1.push(1);
        for v in [0i32, 4] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        for v in [0i64, 4, 1_000] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_be_bytes());
        let s = ProducerStateManager::decode(&v1).expect("v1");
        assert_eq!(s.len(), 1);
        assert_eq!(s.first_unstable_offset(), None);
        match s.check(&header(7, 2, 0, 5, 9)).unwrap() {
            SequenceCheck::Duplicate(m) => assert_eq!(m.last_offset, 4),
            other => panic!("{other:?}"),
        }
    }
}
