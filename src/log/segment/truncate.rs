//! Cutting a segment short: start-up recovery (Kafka's `LogSegment.recover`) and run-time
//! truncation (`LogSegment.truncateTo`), which must respect the read-path rule of
//! [`crate::log::read_plan`]: a file still pinned by a reader is never shrunk in place.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

use super::{FilePos, LogSegment, Recovery};
use crate::log::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::log::header_scan::HeaderScan;

impl LogSegment {
    /// Re-validates every batch (length, magic, CRC), rebuilds the offset and time indexes,
    /// and truncates the file at the first invalid or incomplete batch — Kafka's
    /// `LogSegment.recover`. The transaction index is emptied and marked stale: rebuilding it
    /// needs the producer state before the segment, which the log's loader has.
    pub fn recover(&mut self) -> io::Result<Recovery> {
        self.recover_with(&mut |_| {})
    }

    /// [`recover`](Self::recover), calling `on_batch` with every valid batch kept (the log
    /// rebuilds its leader epoch cache from them, as Kafka's recovery does).
    pub fn recover_with(&mut self, on_batch: &mut dyn FnMut(&BatchHeader)) -> io::Result<Recovery> {
        self.offset_index.reset();
        self.time_index.reset();
        self.reset_txn_index()?;
        self.bytes_since_last_index = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.next_offset = self.base_offset;
        let log = self.file()?;
        let file_len = log.metadata()?.len().min(u32::MAX as u64) as u32;
        let mut pos: u32 = 0;
        let mut batches = 0;
        let mut buf = Vec::new();
        let mut header = [0u8; HEADER_LEN];
        while (pos as u64 + HEADER_LEN as u64) <= file_len as u64 {
            log.read_exact_at(&mut header, pos as u64)?;
            let Some(h) = BatchHeader::parse(&header) else {
                break;
            };
            if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32
                || pos as u64 + h.total_size() as u64 > file_len as u64
            {
                break;
            }
            buf.resize(h.total_size(), 0);
            log.read_exact_at(&mut buf, pos as u64)?;
            let Ok(h) = batch::validate_stored(&buf) else {
                break;
            };
            if h.base_offset < self.next_offset {
                break;
            }
            self.index_batch(pos, &h);
            on_batch(&h);
            pos += h.total_size() as u32;
            batches += 1;
        }
        let truncated = file_len as u64 - pos as u64;
        if truncated > 0 || log.metadata()?.len() != pos as u64 {
            log.set_len(pos as u64)?;
        }
        self.size = pos;
        self.dirty = true;
        Ok(Recovery {
            valid_bytes: pos,
            truncated_bytes: truncated,
            batches,
        })
    }

    /// Removes every batch whose last offset is ≥ `offset` — as Kafka's `truncateTo`, a batch
    /// holding `offset` goes whole — and returns the bytes removed. When a read plan or
    /// mapping may still use the file, the kept prefix is written to a new file renamed over
    /// the old name instead of shrinking the file in place (see [`crate::log::read_plan`]).
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<u32> {
        let Some((pos, h)) = self.find_position(offset)? else {
            return Ok(0);
        };
        let cut = pos.0;
        let removed = self.size - cut;
        self.dirty = true;
        if Arc::strong_count(&self.readers) == 1 {
            // Only the segment holds the pin, and clones are made only under the partition
            // lock, which the caller holds: no plan or mapping of this file exists.
            self.file()?.set_len(cut as u64)?;
        } else {
            self.move_to_prefix(cut)?;
        }
        self.size = cut;
        self.offset_index.truncate_to_position(FilePos(cut));
        self.time_index.truncate_to_offset(h.base_offset);
        self.txn_index.truncate_to(h.base_offset)?;
        self.bytes_since_last_index = 0;
        // Recompute what the tail scan knows.
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        if let Some((ts, off)) = self.time_index.last_entry() {
            self.max_timestamp = ts;
            self.offset_of_max_timestamp = off;
        }
        let start = self
            .offset_index
            .last_entry()
            .map(|(_, p)| p)
            .unwrap_or_default();
        let log = self.file()?;
        for item in HeaderScan::new(&log, start.0, self.size) {
            let (_, h) = item?;
            self.observe(&h);
        }
        Ok(removed)
    }

    /// Replaces the `.log` file by a new one holding its first `cut` bytes: copy to
    /// `<name>.tmp`, fsync, rename over, fsync the directory. Readers of the old file keep its
    /// inode, unchanged; the segment gets the new file and a fresh pin.
    fn move_to_prefix(&mut self, cut: u32) -> io::Result<()> {
        let mut tmp = self.log_path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let out = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut src = io::Read::take(File::open(&self.log_path)?, cut as u64);
        let copied = io::copy(&mut src, &mut &out)?;
        if copied != cut as u64 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} is shorter than its valid bytes",
                    self.log_path.display()
                ),
            ));
        }
        out.sync_all()?;
        std::fs::rename(&tmp, &self.log_path)?;
        if let Some(dir) = self.log_path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.log = OnceLock::from(Arc::new(out));
        self.readers = Arc::default();
        Ok(())
    }
}
