//! The sparse offset index of one segment: offset → file position.
//!
//! Format (Kafka's `.index`): 8-byte entries, big-endian `relativeOffset: u32` (offset minus
//! the segment's base offset) and `position: u32` (byte position of a batch in the `.log`).
//! An entry is added after every `index.interval.bytes` of appended data; its offset is the
//! *last* offset of the batch that starts at `position`, as Kafka writes it.
//!
//! Invariants: offsets and positions strictly increase from entry to entry; every position is
//! the start of a batch. A lookup returns the greatest entry with offset ≤ the target, and the
//! reader scans forward from there.

use std::io;
use std::path::Path;

use super::index_file::IndexFile;
use super::offset::{FilePos, RelOffset};

pub const ENTRY_SIZE: usize = 8;

/// Offset → position index of one segment.
pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

impl OffsetIndex {
    pub fn open(
        path: &Path,
        base_offset: i64,
        max_bytes: usize,
        writable: bool,
    ) -> io::Result<Self> {
        Ok(OffsetIndex {
            base_offset,
            file: IndexFile::open(path, ENTRY_SIZE, max_bytes, writable)?,
        })
    }

    fn decode(&self, i: usize) -> (i64, FilePos) {
        let e = self.file.entry(i);
        let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
        (RelOffset(rel).absolute(self.base_offset), FilePos(pos))
    }

    /// All entries, in order.
    pub fn entries(&self) -> impl Iterator<Item = (i64, FilePos)> + '_ {
        (0..self.file.len()).map(|i| self.decode(i))
    }

    pub fn last_entry(&self) -> Option<(i64, FilePos)> {
        self.file.len().checked_sub(1).map(|i| self.decode(i))
    }

    /// Greatest entry with offset ≤ `target`, or the segment start when there is none.
    pub fn lookup(&self, target: i64) -> (i64, FilePos) {
        let base = self.base_offset;
        match self.file.floor(target, |e| {
            base + u32::from_be_bytes([e[0], e[1], e[2], e[3]]) as i64
        }) {
            Some(i) => self.decode(i),
            None => (base, FilePos(0)),
        }
    }

    /// Adds an entry unless it would not increase the last one. Returns false when full.
    pub fn append(&mut self, offset: i64, pos: FilePos) -> bool {
        if let Some((last_off, last_pos)) = self.last_entry() {
            if offset <= last_off || pos <= last_pos {
                return true;
            }
        }
        let rel = RelOffset::from_absolute(offset, self.base_offset);
        let mut e = [0u8; ENTRY_SIZE];
        e[0..4].copy_from_slice(&rel.0.to_be_bytes());
        e[4..8].copy_from_slice(&pos.0.to_be_bytes());
        self.file.push(&e)
    }

    /// Drops entries at or past `pos` (used when the log is truncated).
    pub fn truncate_to_position(&mut self, pos: FilePos) {
        let keep = self.entries().take_while(|(_, p)| *p < pos).count();
        self.file.truncate_entries(keep);
    }

    pub fn reset(&mut self) {
        self.file.truncate_entries(0);
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub fn len(&self) -> usize {
        self.file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// Checks Kafka's sanity conditions: entries increase, stay inside the log file and above
    /// the base offset.
    pub fn sanity_check(&self, log_size: u32) -> Result<(), String> {
        let mut prev: Option<(i64, FilePos)> = None;
        for (off, pos) in self.entries() {
            if pos.0 >= log_size.max(1) {
                return Err(format!(
                    "entry ({off}, {}) points past the log's {log_size} bytes",
                    pos.0
                ));
            }
            if let Some((po, pp)) = prev {
                if off <= po || pos <= pp {
                    return Err(format!(
                        "entry ({off}, {}) does not increase after ({po}, {})",
                        pos.0, pp.0
                    ));
                }
            }
            prev = Some((off, pos));
        }
        Ok(())
    }

    pub fn expand(&mut self, max_bytes: usize) -> io::Result<()> {
        self.file.expand(max_bytes)
    }

    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Drops the index's memory mapping until it is next needed.
    pub fn unmap(&mut self) {
        self.file.unmap();
    }

    pub fn is_mapped(&self) -> bool {
        self.file.is_mapped()
    }
}
