//! Idempotent-producer state of one partition: for each producer id, its epoch and the
//! sequence ranges and offsets of its last five batches, so a retried batch is recognised and
//! answered with its original offset instead of being appended twice.
//!
//! Snapshot format (`<offset>.snapshot`, state as of that log offset), all big-endian:
//! `"GPS1"`, `count: u32`, then per producer `producerId: i64, epoch: i16, n: u8` and `n`
//! batches of `firstSeq: i32, lastSeq: i32, firstOffset: i64, lastOffset: i64,
//! timestamp: i64`; last a CRC-32C (u32) of everything before it.
//!
//! Thread-safety: none of its own; it lives inside the partition log behind its lock.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::Path;

use crate::error::{Error, ErrorCode};

use super::batch::BatchHeader;

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// The verdict on an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or next in sequence: append it.
    Append,
    /// Already appended: answer with this batch's original offsets.
    Duplicate(BatchMeta),
}

fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

/// Per-producer sequence state of one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateManager {
    /// Decides whether a batch may be appended, following Kafka's `ProducerAppendInfo`.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, Error> {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state expired): accept and start tracking.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(Error::kafka(
                ErrorCode::InvalidProducerEpoch,
                format!(
                    "epoch {} is older than the current epoch {}",
                    h.producer_epoch, entry.epoch
                ),
            ));
        }
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
            return Ok(SequenceCheck::Append);
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(last) if !in_sequence(last.last_seq, h.base_sequence) => Err(Error::kafka(
                ErrorCode::OutOfOrderSequenceNumber,
                format!(
                    "expected sequence {} but got {}",
                    last.last_seq as i64 + 1,
                    h.base_sequence
                ),
            )),
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Records an appended batch (`h` as stored, with its final base offset).
    pub fn update(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
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

    /// Forgets batches at or past `offset` (after the log is truncated).
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"GPS1".to_vec();
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &self.producers[&id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
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

    /// Parses a snapshot, or explains why it cannot be trusted.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 12 || &bytes[..4] != b"GPS1" {
            return Err("not a producer state snapshot".into());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err("snapshot CRC mismatch".into());
        }
        let mut r = Reader(&body[4..]);
        let count = r.u32()?;
        let mut producers = HashMap::new();
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let n = r.u8()? as usize;
            let mut batches = VecDeque::with_capacity(n.min(MAX_BATCHES));
            for _ in 0..n {
                batches.push_back(BatchMeta {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    timestamp: r.i64()?,
                });
            }
            producers.insert(id, ProducerEntry { epoch, batches });
        }
        Ok(ProducerStateManager { producers })
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
        s.truncate_to(10);
        assert!(s.is_empty());
    }
}
