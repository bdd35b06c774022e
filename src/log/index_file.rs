//! The memory-mapped, fixed-width entry file under both the offset and the time index.
//!
//! Format: `entries × entry_size` bytes, no header. While a segment is active the file is
//! preallocated (sparse) to the largest multiple of `entry_size` not above
//! `segment.index.bytes`, and the number of valid entries is kept in memory; when the segment
//! rolls or the log closes, the file is trimmed to exactly its valid entries, so after a clean
//! shutdown `file length / entry_size` is the entry count.
//!
//! Thread-safety: none of its own; it lives inside a segment behind the partition's lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

/// A memory-mapped file of fixed-size entries, appended in order.
pub struct IndexFile {
    path: PathBuf,
    file: File,
    mmap: Option<MmapMut>,
    entry_size: usize,
    entries: usize,
    /// Entry capacity of the mapped file.
    capacity: usize,
}

impl IndexFile {
    /// Opens (or creates) an index file, mapping `max_bytes` of it when `writable` (the active
    /// segment) or exactly its current length otherwise. Existing whole entries are taken as
    /// valid; the caller sanity-checks them.
    pub fn open(
        path: &Path,
        entry_size: usize,
        max_bytes: usize,
        writable: bool,
    ) -> io::Result<IndexFile> {
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
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file,
            mmap: None,
            entry_size,
            entries,
            capacity: 0,
        };
        index.remap(capacity)?;
        Ok(index)
    }

    fn remap(&mut self, capacity: usize) -> io::Result<()> {
        self.mmap = None;
        self.file.set_len((capacity * self.entry_size) as u64)?;
        self.capacity = capacity;
        if capacity > 0 {
            // SAFETY: the file is private to this partition directory and only this process
            // writes it; its length was set just above and is not changed while mapped
            // except through `remap`, which drops the mapping first.
            self.mmap = Some(unsafe { MmapMut::map_mut(&self.file)? });
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
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
        match &self.mmap {
            Some(m) => &m[i * self.entry_size..(i + 1) * self.entry_size],
            None => &[],
        }
    }

    /// Appends one entry; returns false (and writes nothing) when the file is full.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        debug_assert_eq!(bytes.len(), self.entry_size);
        if self.is_full() {
            return false;
        }
        let at = self.entries * self.entry_size;
        if let Some(m) = &mut self.mmap {
            m[at..at + self.entry_size].copy_from_slice(bytes);
            self.entries += 1;
            true
        } else {
            false
        }
    }

    /// Keeps only the first `n` entries.
    pub fn truncate_entries(&mut self, n: usize) {
        self.entries = self.entries.min(n);
    }

    /// Largest `i` whose key is ≤ `target`, by binary search over entries whose keys are
    /// non-decreasing.
    pub fn floor(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
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

    /// Re-opens the mapping at full size, for a segment that becomes active again.
    pub fn expand(&mut self, max_bytes: usize) -> io::Result<()> {
        let cap = (max_bytes / self.entry_size).max(self.entries).max(1);
        if cap != self.capacity {
            self.remap(cap)?;
        }
        Ok(())
    }

    /// Shrinks the file to its valid entries (on roll and on close).
    pub fn trim(&mut self) -> io::Result<()> {
        self.flush()?;
        let n = self.entries;
        if n != self.capacity {
            self.remap(n)?;
        }
        Ok(())
    }

    pub fn flush(&self) -> io::Result<()> {
        if let Some(m) = &self.mmap {
            m.flush()?;
        }
        Ok(())
    }
}
