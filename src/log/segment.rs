//! One segment of a partition log: a `.log` file of record batches plus its offset, time and
//! transaction indexes ([`super::txn_index`]), all named by the segment's base offset.
//!
//! Format: the `.log` file is record batches v2 laid end to end, exactly as producers sent
//! them except for the broker-assigned base offset and leader epoch. It never exceeds 2 GiB,
//! so positions fit in `u32` ([`FilePos`]).
//!
//! Invariants: batches are in offset order; every offset in the segment is ≥ `base_offset`
//! and < the next segment's base offset; `size` is the length of the valid prefix of the
//! file; index entries point only into that prefix.
//!
//! Thread-safety: mutated only under its partition's lock; readers take a clone of the
//! `Arc<File>`, of the file's pin and a byte range under that lock and read outside it. A file
//! is only appended to past the ranges handed out; truncation ([`truncate`]) follows the rule
//! of [`super::read_plan`]: in place only when unpinned, else onto a new file.
//!
//! Resources: the `.log` file is opened on first use and [`release_files`]
//! (LogSegment::release_files) closes it, unmaps both sparse indexes and closes the
//! `.txnindex` again; the partition calls it
//! for every segment unused for a maintenance round, so open descriptors and mappings follow
//! what is being read and written, not how many segments exist. A reader holding an
//! `Arc<File>` keeps its descriptor until it is done.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::batch::{BatchHeader, HEADER_LEN};
pub use super::header_scan::HeaderScan;
use super::layout;
use super::offset::FilePos;
use super::offset_index::OffsetIndex;
use super::read_plan::FileReaders;
use super::time_index::TimeIndex;
use super::txn_index::TxnIndex;

mod truncate;

/// Settings a segment needs from its log's config.
#[derive(Debug, Clone, Copy)]
pub struct SegmentConfig {
    pub index_interval_bytes: u32,
    pub index_max_bytes: usize,
}

/// The result of recovering a segment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    pub valid_bytes: u32,
    pub truncated_bytes: u64,
    pub batches: u64,
}

/// A segment of a partition's log (see the module doc).
pub struct LogSegment {
    base_offset: i64,
    /// The `.log` file, opened lazily (see the module doc).
    log: OnceLock<Arc<File>>,
    /// Set whenever the files are used; cleared by [`release_if_idle`](Self::release_if_idle).
    used: AtomicBool,
    /// Bytes were written or cut since the last fsync (possibly through a descriptor since
    /// closed: fsync of any descriptor of the file covers them).
    dirty: bool,
    log_path: PathBuf,
    size: u32,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Aborted transactions whose marker is in this segment.
    txn_index: TxnIndex,
    /// The transaction index was lost, damaged or reset by recovery: the log's loader must
    /// rebuild it from the batches.
    txn_index_stale: bool,
    config: SegmentConfig,
    bytes_since_last_index: u32,
    /// Greatest batch maxTimestamp in the segment, −1 when empty.
    max_timestamp: i64,
    /// Base offset of the batch carrying `max_timestamp`.
    offset_of_max_timestamp: i64,
    /// One past the last offset in the segment (`base_offset` when empty).
    next_offset: i64,
    /// The pin of the current `.log` inode (see [`super::read_plan`]): plans and mappings
    /// hold clones; replaced when a truncation moves the segment to a new file.
    readers: Arc<FileReaders>,
    /// Wall-clock time the segment was created or opened, for `segment.ms`.
    created_ms: i64,
}

fn open_log_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

impl LogSegment {
    /// Creates a new, empty, active segment.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        now_ms: i64,
    ) -> io::Result<Self> {
        Self::create_with_suffix(dir, base_offset, config, now_ms, "")
    }

    /// Creates a new, empty segment whose four file names carry `suffix` after Kafka's names
    /// (the log cleaner writes `<base>.log.cleaned` and its indexes this way).
    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        now_ms: i64,
        suffix: &str,
    ) -> io::Result<Self> {
        let [log_path, index_path, time_path, txn_path] =
            layout::segment_files(dir, base_offset).map(|p| layout::with_suffix(&p, suffix));
        let log = open_log_file(&log_path)?;
        log.set_len(0)?;
        let offset_index =
            OffsetIndex::open(&index_path, base_offset, config.index_max_bytes, true)?;
        let time_index = TimeIndex::open(&time_path, base_offset, config.index_max_bytes, true)?;
        drop(log);
        let txn_index = TxnIndex::create(&txn_path)?;
        let mut seg = LogSegment {
            base_offset,
            log: OnceLock::new(),
            used: AtomicBool::new(false),
            dirty: false,
            log_path,
            size: 0,
            offset_index,
            time_index,
            txn_index,
            txn_index_stale: false,
            config,
            bytes_since_last_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            next_offset: base_offset,
            created_ms: now_ms,
            readers: Arc::default(),
        };
        seg.offset_index.reset();
        seg.time_index.reset();
        Ok(seg)
    }

    /// Opens an existing segment, trusting its indexes: reads only the tail after the last
    /// offset-index entry to find the next offset. Fails when the indexes are inconsistent,
    /// so the caller can rebuild them.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        active: bool,
        now_ms: i64,
    ) -> io::Result<Self> {
        let mut seg = Self::open_raw(dir, base_offset, config, active, now_ms)?;
        seg.load_tail()?;
        let path = layout::txn_index_file(dir, base_offset);
        match TxnIndex::open(&path, base_offset, seg.next_offset) {
            Ok(t) => seg.txn_index = t,
            Err(e) => {
                tracing::warn!("rebuilding {}: {e}", path.display());
                seg.reset_txn_index()?;
            }
        }
        Ok(seg)
    }

    /// Opens a segment's files without looking at their contents; the caller must
    /// [`recover`](Self::recover) it before use.
    pub fn open_raw(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        active: bool,
        now_ms: i64,
    ) -> io::Result<Self> {
        let log_path = layout::log_file(dir, base_offset);
        let log = open_log_file(&log_path)?;
        let len = log.metadata()?.len();
        if len > u32::MAX as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is larger than 4 GiB", log_path.display()),
            ));
        }
        let offset_index = OffsetIndex::open(
            &layout::index_file(dir, base_offset),
            base_offset,
            config.index_max_bytes,
            active,
        )?;
        let time_index = TimeIndex::open(
            &layout::time_index_file(dir, base_offset),
            base_offset,
            config.index_max_bytes,
            active,
        )?;
        // Not read yet: [`open`](Self::open) loads it, recovery rebuilds it.
        let txn_index = TxnIndex::detached(&layout::txn_index_file(dir, base_offset));
        let seg = LogSegment {
            base_offset,
            log: OnceLock::from(Arc::new(log)),
            used: AtomicBool::new(true),
            dirty: false,
            log_path,
            size: len as u32,
            offset_index,
            time_index,
            txn_index,
            txn_index_stale: false,
            config,
            bytes_since_last_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            next_offset: base_offset,
            created_ms: now_ms,
            readers: Arc::default(),
        };
        Ok(seg)
    }

    /// Scans from the last index entry to the end of the file to learn the next offset and
    /// the timestamps the time index does not hold.
    fn load_tail(&mut self) -> io::Result<()> {
        self.offset_index.sanity_check(self.size).map_err(invalid)?;
        let start = self
            .offset_index
            .last_entry()
            .map(|(_, p)| p)
            .unwrap_or_default();
        if let Some((ts, off)) = self.time_index.last_entry() {
            self.max_timestamp = ts;
            self.offset_of_max_timestamp = off;
        }
        let mut end = start.0;
        let log = self.file()?;
        for item in HeaderScan::new(&log, start.0, self.size) {
            let (pos, h) = item?;
            self.observe(&h);
            end = pos + h.total_size() as u32;
        }
        if end != self.size {
            return Err(invalid(format!(
                "{} has {} bytes after its last whole batch",
                self.log_path.display(),
                self.size - end
            )));
        }
        self.time_index
            .sanity_check(self.next_offset)
            .map_err(invalid)?;
        Ok(())
    }

    fn observe(&mut self, h: &BatchHeader) {
        self.next_offset = h.last_offset() + 1;
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.base_offset;
        }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }

    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The `.log` file, opened now if it is not open.
    pub fn file(&self) -> io::Result<Arc<File>> {
        self.used.store(true, Ordering::Relaxed);
        if let Some(f) = self.log.get() {
            return Ok(f.clone());
        }
        let f = Arc::new(open_log_file(&self.log_path)?);
        let _ = self.log.set(f.clone());
        Ok(f)
    }

    /// The pin of the current `.log` file, for a read plan (see [`super::read_plan`]).
    pub fn pin(&self) -> Arc<FileReaders> {
        self.readers.clone()
    }

    /// Closes the `.log` file and unmaps the indexes until they are next needed.
    pub fn release_files(&mut self) {
        self.log = OnceLock::new();
        self.offset_index.unmap();
        self.time_index.unmap();
        self.txn_index.release_file();
    }

    /// Releases the files when nothing used them since the previous call; returns whether it
    /// did. Called once per maintenance round.
    pub fn release_if_idle(&mut self) -> bool {
        if self.used.swap(false, Ordering::Relaxed) || !self.holds_files() {
            return false;
        }
        self.release_files();
        true
    }

    /// Whether the `.log` file or an index is open.
    pub fn holds_files(&self) -> bool {
        self.log.get().is_some()
            || self.offset_index.is_mapped()
            || self.time_index.is_mapped()
            || self.txn_index.is_open()
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    pub fn txn_index(&self) -> &TxnIndex {
        &self.txn_index
    }

    pub fn txn_index_mut(&mut self) -> &mut TxnIndex {
        &mut self.txn_index
    }

    /// Whether the transaction index must be rebuilt from the batches (see the field).
    pub fn txn_index_stale(&self) -> bool {
        self.txn_index_stale
    }

    /// Empties the transaction index (recreating its file) and marks it stale.
    pub fn reset_txn_index(&mut self) -> io::Result<()> {
        self.txn_index = TxnIndex::create(self.txn_index.path())?;
        self.txn_index_stale = true;
        Ok(())
    }

    /// The loader rebuilt the transaction index.
    pub fn mark_txn_index_rebuilt(&mut self) {
        self.txn_index_stale = false;
    }

    /// True when either index has no room for another entry.
    pub fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }

    /// Appends one batch given as its (already stamped) header and the rest of its bytes;
    /// `h` describes the batch as stored.
    pub fn append(
        &mut self,
        header: &[u8; HEADER_LEN],
        rest: &[u8],
        h: &BatchHeader,
    ) -> io::Result<()> {
        let pos = self.size;
        let total = (HEADER_LEN + rest.len()) as u32;
        self.dirty = true;
        write_all_at(&*self.file()?, &[header, rest], pos as u64)?;
        self.size += total;
        self.index_batch(pos, h);
        Ok(())
    }

    /// Appends whole stored batches lying back to back in `bytes` with one write (the log
    /// cleaner's write buffer); `headers` describe them in order, their sizes adding up to
    /// `bytes.len()`. Indexed exactly as one [`LogSegment::append`] per batch would be.
    pub fn append_batches(&mut self, bytes: &[u8], headers: &[BatchHeader]) -> io::Result<()> {
        let total: usize = headers.iter().map(|h| h.total_size()).sum();
        if total != bytes.len() {
            return Err(invalid(format!(
                "batches of {total} bytes given as {} bytes",
                bytes.len()
            )));
        }
        let pos = self.size;
        self.dirty = true;
        write_all_at(&*self.file()?, &[bytes], pos as u64)?;
        self.size += bytes.len() as u32;
        let mut at = pos;
        for h in headers {
            self.index_batch(at, h);
            at += h.total_size() as u32;
        }
        Ok(())
    }

    /// Accounts for a batch stored at `pos`: adds index entries once `index.interval.bytes`
    /// have passed since the last, and updates the next offset and max timestamp.
    fn index_batch(&mut self, pos: u32, h: &BatchHeader) {
        if self.bytes_since_last_index > self.config.index_interval_bytes {
            self.offset_index.append(h.last_offset(), FilePos(pos));
            let ts = self.max_timestamp.max(h.max_timestamp);
            let off = if h.max_timestamp >= self.max_timestamp {
                h.base_offset
            } else {
                self.offset_of_max_timestamp
            };
            self.time_index.maybe_append(ts, off);
            self.bytes_since_last_index = 0;
        }
        self.bytes_since_last_index += h.total_size() as u32;
        self.observe(h);
    }

    /// Position of the first batch whose last offset is ≥ `target`, or `None` when every
    /// batch in the segment ends before it.
    pub fn find_position(&self, target: i64) -> io::Result<Option<(FilePos, BatchHeader)>> {
        let (_, start) = self.offset_index.lookup(target);
        let log = self.file()?;
        for item in HeaderScan::new(&log, start.0, self.size) {
            let (pos, h) = item?;
            if h.last_offset() >= target {
                return Ok(Some((FilePos(pos), h)));
            }
        }
        Ok(None)
    }

    /// The first batch whose maxTimestamp is ≥ `target`, if any.
    pub fn find_by_timestamp(&self, target: i64) -> io::Result<Option<(FilePos, BatchHeader)>> {
        let (_, from_offset) = self.time_index.lookup(target);
        let (_, start) = self.offset_index.lookup(from_offset);
        let log = self.file()?;
        for item in HeaderScan::new(&log, start.0, self.size) {
            let (pos, h) = item?;
            if h.max_timestamp >= target {
                return Ok(Some((FilePos(pos), h)));
            }
        }
        Ok(None)
    }

    /// The segment stops being active: indexes are trimmed to their entries.
    pub fn seal(&mut self) -> io::Result<()> {
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    /// The segment becomes active again (after start-up): indexes get room to grow.
    pub fn unseal(&mut self) -> io::Result<()> {
        self.offset_index.expand(self.config.index_max_bytes)?;
        self.time_index.expand(self.config.index_max_bytes)
    }

    /// fsyncs the log file and flushes the index maps.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            match self.log.get() {
                Some(log) => log.sync_data()?,
                None => open_log_file(&self.log_path)?.sync_data()?,
            }
            self.dirty = false;
        }
        crate::fs::sync_observer::synced(&self.log_path, self.size as u64);
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.txn_index.flush()
    }

    /// Deletes the segment's four files.
    pub fn delete_files(&self) -> io::Result<()> {
        for p in [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Writes all the slices at `pos`, looping over short writes.
fn write_all_at(file: &File, parts: &[&[u8]], mut pos: u64) -> io::Result<()> {
    for part in parts {
        file.write_all_at(part, pos)?;
        pos += part.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::sample_batch;

    const CFG: SegmentConfig = SegmentConfig {
        index_interval_bytes: 100,
        index_max_bytes: 1024,
    };

    fn append(seg: &mut LogSegment, base: i64, n: i32, ts: i64) {
        let b = sample_batch(n, ts);
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&b[..HEADER_LEN]);
        crate::log::batch::stamp_header(&mut header, base, 0, None);
        let mut h = BatchHeader::parse(&header).unwrap();
        h.base_offset = base;
        seg.append(&header, &b[HEADER_LEN..], &h).unwrap();
    }

    #[test]
    fn append_find_reopen_recover() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = LogSegment::create(dir.path(), 100, CFG, 0).unwrap();
        let mut next = 100;
        for i in 0..50 {
            append(&mut seg, next, 3, 1000 + i);
            next += 3;
        }
        assert_eq!(seg.next_offset(), 250);
        assert!(seg.offset_index().len() > 3);
        for target in [100, 101, 150, 151, 249] {
            let (_, h) = seg.find_position(target).unwrap().unwrap();
            assert!(
                h.base_offset <= target && h.last_offset() >= target,
                "target {target}"
            );
        }
        assert!(seg.find_position(250).unwrap().is_none());
        let (_, h) = seg.find_by_timestamp(1020).unwrap().unwrap();
        assert_eq!(h.max_timestamp, 1020);
        seg.seal().unwrap();
        let size = seg.size();
        drop(seg);

        let mut seg = LogSegment::open(dir.path(), 100, CFG, true, 0).unwrap();
        assert_eq!(seg.next_offset(), 250);
        assert_eq!(seg.size(), size);
        // Tear the tail mid-batch: recovery cuts back to the last whole batch.
        seg.file().unwrap().set_len(size as u64 - 5).unwrap();
        let r = seg.recover().unwrap();
        assert_eq!(r.batches, 49);
        assert_eq!(seg.next_offset(), 247);
        // Kafka's rule: the batch holding the offset goes whole.
        assert!(seg.truncate_to(200).unwrap() > 0);
        assert_eq!(seg.next_offset(), 199);
    }
}
