//! The sparse time index of one segment: timestamp → offset.
//!
//! Format (Kafka's `.timeindex`): 12-byte entries, big-endian `timestamp: i64` and
//! `relativeOffset: u32`. An entry is added together with an offset-index entry, holding the
//! greatest timestamp seen so far in the segment and the offset of the batch that carried it,
//! and only when that timestamp is greater than the last entry's.
//!
//! Invariants: timestamps and offsets never decrease. A lookup returns the greatest entry with
//! timestamp ≤ the target: every record at an earlier offset has a smaller timestamp... only as
//! far as producers keep timestamps ordered, which is why readers scan forward from it.

use std::io;
use std::path::Path;

use super::index_file::IndexFile;
use super::offset::RelOffset;

pub const ENTRY_SIZE: usize = 12;

/// Timestamp → offset index of one segment.
pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

impl TimeIndex {
    pub fn open(
        path: &Path,
        base_offset: i64,
        max_bytes: usize,
        writable: bool,
    ) -> io::Result<Self> {
        Ok(TimeIndex {
            base_offset,
            file: IndexFile::open(path, ENTRY_SIZE, max_bytes, writable)?,
        })
    }

    fn decode(&self, i: usize) -> (i64, i64) {
        let e = self.file.entry(i);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&e[0..8]);
        let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
        (
            i64::from_be_bytes(ts),
            RelOffset(rel).absolute(self.base_offset),
        )
    }

    pub fn entries(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        (0..self.file.len()).map(|i| self.decode(i))
    }

    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.file.len().checked_sub(1).map(|i| self.decode(i))
    }

    /// Greatest entry with timestamp ≤ `target`: `(timestamp, offset)`, or the segment start.
    pub fn lookup(&self, target: i64) -> (i64, i64) {
        match self.file.floor(target, |e| {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[0..8]);
            i64::from_be_bytes(ts)
        }) {
            Some(i) => self.decode(i),
            None => (-1, self.base_offset),
        }
    }

    /// Adds `(timestamp, offset)` when the timestamp is greater than the last entry's.
    /// Returns false when the file is full.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> bool {
        if let Some((last_ts, last_off)) = self.last_entry() {
            if timestamp <= last_ts || offset < last_off {
                return true;
            }
        }
        let mut e = [0u8; ENTRY_SIZE];
        e[0..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..12].copy_from_slice(
            &RelOffset::from_absolute(offset, self.base_offset)
                .0
                .to_be_bytes(),
        );
        self.file.push(&e)
    }

    /// Drops entries whose offset is ≥ `offset`.
    pub fn truncate_to_offset(&mut self, offset: i64) {
        let keep = self.entries().take_while(|(_, o)| *o < offset).count();
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

    /// Timestamps and offsets must not decrease; offsets stay below `next_offset`.
    pub fn sanity_check(&self, next_offset: i64) -> Result<(), String> {
        let mut prev: Option<(i64, i64)> = None;
        for (ts, off) in self.entries() {
            if off < self.base_offset || off >= next_offset.max(self.base_offset + 1) {
                return Err(format!(
                    "entry ({ts}, {off}) lies outside offsets [{}, {next_offset})",
                    self.base_offset
                ));
            }
            if let Some((pts, poff)) = prev {
                if ts <= pts || off < poff {
                    return Err(format!(
                        "entry ({ts}, {off}) does not increase after ({pts}, {poff})"
                    ));
                }
            }
            prev = Some((ts, off));
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
