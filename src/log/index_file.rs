//! The memory-mapped, fixed-width entry file under both the offset and the time index.
//!
//! Format: `entries × entry_size` bytes, no header. While a segment is active the file is
//! preallocated (sparse) to the largest multiple of `entry_size` not above
//! `segment.index.bytes`, and the number of valid entries is kept in memory; when the segment
//! rolls or the log closes, the file is trimmed to exactly its valid entries, so after a clean
//! shutdown `file length / entry_size` is the entry count.
//!
//! Resources: no file descriptor is kept — the file is opened only to size it or map it, and a
//! mapping outlives its descriptor. The mapping itself is made lazily, on the first lookup or
//! append that needs it, and [`unmap`](IndexFile::unmap) drops it again for idle segments, so
//! ten thousand idle partitions cost neither descriptors nor mappings for their indexes.
//!
//! Thread-safety: lookups take `&self` and may map the file (a `OnceLock` makes that safe);
//! everything else takes `&mut self` and happens under the partition's lock.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::MmapMut;

/// Returned for an entry of an index whose file could not be mapped (never for a mapped one).
static ZERO_ENTRY: [u8; 16] = [0; 16];

/// A lazily memory-mapped file of fixed-size entries, appended in order.
pub struct IndexFile {
    path: PathBuf,
    map: OnceLock<MmapMut>,
    entry_size: usize,
    entries: usize,
    /// Entry capacity of the file (its length / `entry_size`).
    capacity: usize,
    /// Entries were written since the last flush (possibly through a mapping since dropped).
    dirty: bool,
}

impl IndexFile {
    /// Opens (or creates) an index file, sizing it to `max_bytes` when `writable` (the active
    /// segment) or leaving its length otherwise. Existing whole entries are taken as valid;
    /// the caller sanity-checks them. Nothing is mapped yet.
    pub fn open(
        path: &Path,
        entry_size: usize,
        max_bytes: usize,
        writable: bool,
    ) -> io::Result<IndexFile> {
        debug_assert!(entry_size <= ZERO_ENTRY.len());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len() as usize;
        let entries = len / entry_size;
        let capacity = if writable {
            (max_bytes / entry_size).max(entries).max(1)
        } else {
            entries
        };
        if capacity * entry_size != len {
            file.set_len((capacity * entry_size) as u64)?;
        }
        Ok(IndexFile {
            path: path.to_path_buf(),
            map: OnceLock::new(),
            entry_size,
            entries,
            capacity,
            dirty: false,
        })
    }

    /// The mapping, made on first use. `None` for an empty file or when mapping fails (logged;
    /// lookups then fall back to scanning the segment from its start, which is correct).
    fn mapped(&self) -> Option<&MmapMut> {
        if self.capacity == 0 {
            return None;
        }
        if let Some(m) = self.map.get() {
            return Some(m);
        }
        match self.map_file() {
            Ok(m) => {
                let _ = self.map.set(m);
                self.map.get()
            }
            Err(e) => {
                tracing::warn!("cannot map index {}: {e}", self.path.display());
                None
            }
        }
    }

    fn map_file(&self) -> io::Result<MmapMut> {
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        let want = (self.capacity * self.entry_size) as u64;
        if file.metadata()?.len() != want {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("length changed underneath the broker (expected {want} bytes)"),
            ));
        }
        // SAFETY: the file is private to this partition's directory and only this process
        // writes it; its length was checked just above and is only changed by `resize`, which
        // drops the mapping first. The descriptor may close: the mapping stays valid.
        unsafe { MmapMut::map_mut(&file) }
    }

    fn resize(&mut self, capacity: usize) -> io::Result<()> {
        self.map = OnceLock::new();
        let file = OpenOptions::new().write(true).open(&self.path)?;
        file.set_len((capacity * self.entry_size) as u64)?;
        self.capacity = capacity;
        Ok(())
    }

    /// Drops the mapping (it is made again on the next lookup). Dirty pages stay in the page
    /// cache and reach the disk as usual.
    pub fn unmap(&mut self) {
        self.map = OnceLock::new();
    }

    pub fn is_mapped(&self) -> bool {
        self.map.get().is_some()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of readable entries: the valid entries, or 0 when the file cannot be mapped.
    pub fn len(&self) -> usize {
        if self.entries > 0 && self.mapped().is_none() {
            return 0;
        }
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn is_full(&self) -> bool {
        self.entries >= self.capacity
    }

    /// Bytes of entry `i` (which must be < `len()`).
    pub fn entry(&self, i: usize) -> &[u8] {
        match self.mapped() {
            Some(m) => &m[i * self.entry_size..(i + 1) * self.entry_size],
            None => &ZERO_ENTRY[..self.entry_size],
        }
    }

    /// Appends one entry; returns false (and writes nothing) when the file is full or cannot
    /// be mapped.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        debug_assert_eq!(bytes.len(), self.entry_size);
        if self.is_full() || self.mapped().is_none() {
            return false;
        }
        let at = self.entries * self.entry_size;
        match self.map.get_mut() {
            Some(m) => {
                m[at..at + self.entry_size].copy_from_slice(bytes);
                self.entries += 1;
                self.dirty = true;
                true
            }
            None => false,
        }
    }

    /// Keeps only the first `n` entries.
    pub fn truncate_entries(&mut self, n: usize) {
        self.entries = self.entries.min(n);
    }

    /// Largest `i` whose key is ≤ `target`, by binary search over entries whose keys are
    /// non-decreasing.
    pub fn floor(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// Gives the file room to grow again, for a segment that becomes active again.
    pub fn expand(&mut self, max_bytes: usize) -> io::Result<()> {
        let cap = (max_bytes / self.entry_size).max(self.entries).max(1);
        if cap != self.capacity {
            self.resize(cap)?;
        }
        Ok(())
    }

    /// Shrinks the file to its valid entries (on roll and on close).
    pub fn trim(&mut self) -> io::Result<()> {
        self.flush()?;
        let n = self.entries;
        if n != self.capacity {
            self.resize(n)?;
        }
        Ok(())
    }

    /// Makes written entries durable: msync of the mapping, or fsync of the file when the
    /// mapping was dropped after writing.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        match self.map.get() {
            Some(m) => m.flush()?,
            None => OpenOptions::new()
                .write(true)
                .open(&self.path)?
                .sync_data()?,
        }
        self.dirty = false;
        Ok(())
    }
}
