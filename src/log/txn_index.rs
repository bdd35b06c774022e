//! The transaction index of one segment (`<base>.txnindex`, Kafka's `TransactionIndex`): the
//! aborted transactions whose ABORT marker lies in the segment, so a read_committed fetch can
//! learn which records to drop without reading the log.
//!
//! Format (Kafka's `AbortedTxn`), entries of 34 bytes laid end to end, big-endian:
//! `version: i16 = 0, producerId: i64, firstOffset: i64, lastOffset: i64,
//! lastStableOffset: i64` — `firstOffset` is the aborted transaction's first offset (possibly
//! in an earlier segment), `lastOffset` the ABORT marker's offset, `lastStableOffset` the
//! partition's last stable offset right after the marker.
//!
//! Invariants: entries are in increasing `lastOffset` order, each `lastOffset` lies in the
//! segment; the file holds whole entries only. Unlike Kafka (which creates the file lazily)
//! gregor creates it, empty, with its segment, so a missing file means a lost one and is
//! rebuilt at start-up ([`super::partition_log`]'s loader replays the log from a producer
//! snapshot before the segment); so is a file that fails [`TxnIndex::open`]'s checks, and the
//! index of every segment recovery re-reads after an unclean stop.
//!
//! Entries are few (one per aborted transaction) and kept in memory as well; the file is only
//! appended to, cut by truncation, and read at open. The descriptor is opened on the first
//! append and closed by [`TxnIndex::release_file`].
//!
//! Thread-safety: none of its own; it lives in its segment, under the partition's lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes per entry.
pub const ENTRY_SIZE: usize = 34;
/// The only entry version Kafka defines.
pub const VERSION: i16 = 0;

/// One aborted transaction, as the index stores it (Kafka's `AbortedTxn`): a consumer
/// drops the producer's records from `first_offset` up to the marker at `last_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[0..2].copy_from_slice(&VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    /// Parses one entry; `None` unless it is exactly [`ENTRY_SIZE`] bytes of version 0.
    pub fn decode(b: &[u8]) -> Option<AbortedTxn> {
        if b.len() != ENTRY_SIZE || i16::from_be_bytes([b[0], b[1]]) != VERSION {
            return None;
        }
        let i = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        Some(AbortedTxn {
            producer_id: i(2),
            first_offset: i(10),
            last_offset: i(18),
            last_stable_offset: i(26),
        })
    }
}

/// Parses a whole index file's bytes, checking the invariants of the module doc against a
/// segment holding `[base, next_offset)`.
pub fn parse(bytes: &[u8], base: i64, next_offset: i64) -> Result<Vec<AbortedTxn>, String> {
    if !bytes.len().is_multiple_of(ENTRY_SIZE) {
        return Err(format!(
            "{} bytes is not a whole number of entries",
            bytes.len()
        ));
    }
    let mut out: Vec<AbortedTxn> = Vec::with_capacity(bytes.len() / ENTRY_SIZE);
    for chunk in bytes.chunks_exact(ENTRY_SIZE) {
        let e = AbortedTxn::decode(chunk)
            .ok_or_else(|| format!("entry {} has an unknown version", out.len()))?;
        if e.last_offset < base || e.last_offset >= next_offset || e.first_offset > e.last_offset {
            return Err(format!("entry {e:?} lies outside [{base}, {next_offset})"));
        }
        if out.last().is_some_and(|p| p.last_offset >= e.last_offset) {
            return Err(format!("entry {e:?} is out of order"));
        }
        out.push(e);
    }
    Ok(out)
}

/// The `.txnindex` of one segment (see the module doc).
pub struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
    file: Option<File>,
    /// Entries were written or cut since the last fsync.
    dirty: bool,
}

fn open_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

impl TxnIndex {
    /// Creates an empty index file (emptying any stale one).
    pub fn create(path: &Path) -> io::Result<TxnIndex> {
        let f = open_file(path)?;
        f.set_len(0)?;
        Ok(TxnIndex {
            path: path.to_path_buf(),
            entries: Vec::new(),
            file: None,
            dirty: false,
        })
    }

    /// An index not read from its file yet (a segment about to be recovered); holds nothing.
    pub fn detached(path: &Path) -> TxnIndex {
        TxnIndex {
            path: path.to_path_buf(),
            entries: Vec::new(),
            file: None,
            dirty: false,
        }
    }

    /// Loads an existing index of a segment holding `[base, next_offset)`. A missing file is
    /// `NotFound`; a file breaking the invariants is `InvalidData` (the caller rebuilds it).
    pub fn open(path: &Path, base: i64, next_offset: i64) -> io::Result<TxnIndex> {
        let bytes = std::fs::read(path)?;
        let entries = parse(&bytes, base, next_offset).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        Ok(TxnIndex {
            path: path.to_path_buf(),
            entries,
            file: None,
            dirty: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    fn file(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            self.file = Some(open_file(&self.path)?);
        }
        match &self.file {
            Some(f) => Ok(f),
            None => Err(io::Error::other("transaction index file not open")),
        }
    }

    /// Appends one entry; its `last_offset` must exceed the previous entry's.
    pub fn append(&mut self, e: AbortedTxn) -> io::Result<()> {
        if self
            .entries
            .last()
            .is_some_and(|p| p.last_offset >= e.last_offset)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("aborted transaction {e:?} does not follow the index's last entry"),
            ));
        }
        let pos = (self.entries.len() * ENTRY_SIZE) as u64;
        self.dirty = true;
        self.file()?.write_all_at(&e.encode(), pos)?;
        self.entries.push(e);
        Ok(())
    }

    /// Removes every entry.
    pub fn reset(&mut self) -> io::Result<()> {
        self.cut(0)
    }

    /// Removes the entries whose marker is at or past `offset` (Kafka's `truncateTo`).
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self
            .entries
            .iter()
            .take_while(|e| e.last_offset < offset)
            .count();
        if keep < self.entries.len() {
            self.cut(keep)?;
        }
        Ok(())
    }

    fn cut(&mut self, keep: usize) -> io::Result<()> {
        self.dirty = true;
        self.file()?.set_len((keep * ENTRY_SIZE) as u64)?;
        self.entries.truncate(keep);
        Ok(())
    }

    /// Kafka's `collectAbortedTxns`: the entries overlapping `[fetch_offset, upper_bound)`,
    /// and whether the search is complete — an entry whose last stable offset reaches the
    /// bound proves that no later abort can overlap the range.
    pub fn collect(&self, fetch_offset: i64, upper_bound: i64, out: &mut Vec<AbortedTxn>) -> bool {
        for e in &self.entries {
            if e.last_offset >= fetch_offset && e.first_offset < upper_bound {
                out.push(*e);
            }
            if e.last_stable_offset >= upper_bound {
                return true;
            }
        }
        false
    }

    /// A descriptor for a background fsync when entries changed since the last one.
    pub fn unsynced_file(&mut self) -> io::Result<Option<File>> {
        if !self.dirty {
            return Ok(None);
        }
        self.dirty = false;
        self.file()?.try_clone().map(Some)
    }

    /// fsyncs the file when entries changed since the last fsync.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file()?.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Closes the descriptor until the next change.
    pub fn release_file(&mut self) {
        self.file = None;
    }

    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_are_kafka_shaped() {
        let e = txn(7, 100, 120, 121);
        let b = e.encode();
        assert_eq!(&b[0..2], &[0, 0]);
        assert_eq!(&b[2..10], &7i64.to_be_bytes());
        assert_eq!(&b[26..34], &121i64.to_be_bytes());
        assert_eq!(AbortedTxn::decode(&b), Some(e));
        let mut v1 = b;
        v1[1] = 1;
        assert_eq!(AbortedTxn::decode(&v1), None);
    }

    #[test]
    fn file_round_trip_truncate_and_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000000000000100.txnindex");
        let mut idx = TxnIndex::create(&path).expect("create");
        idx.append(txn(1, 90, 105, 106)).expect("append");
        idx.append(txn(2, 101, 110, 103)).expect("append");
        idx.append(txn(3, 111, 130, 131)).expect("append");
        assert!(idx.append(txn(4, 111, 130, 131)).is_err(), "order enforced");
        idx.flush().expect("flush");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 3 * 34);

        let mut again = TxnIndex::open(&path, 100, 200).expect("open");
        assert_eq!(again.entries(), idx.entries());
        // Overlap with [106, 111): the first ends before, the third starts at 111 (and its
        // LSO, 131, ends the search).
        let mut out = Vec::new();
        assert!(again.collect(106, 111, &mut out));
        assert_eq!(out, vec![txn(2, 101, 110, 103)]);
        // The first entry's LSO reaches 106: the search is complete there.
        out.clear();
        assert!(again.collect(0, 106, &mut out));
        assert_eq!(out, vec![txn(1, 90, 105, 106)]);
        // Past every LSO: incomplete, the next segment must be searched too.
        out.clear();
        assert!(!again.collect(120, 500, &mut out));
        assert_eq!(out, vec![txn(3, 111, 130, 131)]);

        again.truncate_to(110).expect("truncate");
        assert_eq!(again.entries().len(), 1);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 34);
        again
            .append(txn(5, 107, 108, 109))
            .expect("append after cut");
        drop(again);
        let reread = TxnIndex::open(&path, 100, 200).expect("open");
        assert_eq!(reread.entries().len(), 2);

        // Torn tail, entries outside the segment, unknown version: InvalidData.
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..40]).expect("write");
        let kind = |r: io::Result<TxnIndex>| r.err().map(|e| e.kind());
        assert_eq!(
            kind(TxnIndex::open(&path, 100, 200)),
            Some(io::ErrorKind::InvalidData)
        );
        std::fs::write(&path, txn(1, 1, 50, 51).encode()).expect("write");
        assert_eq!(
            kind(TxnIndex::open(&path, 100, 200)),
            Some(io::ErrorKind::InvalidData)
        );
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(
            kind(TxnIndex::open(&path, 100, 200)),
            Some(io::ErrorKind::NotFound)
        );
    }
}
