//! Reading a partition without holding its lock: a [`ReadPlan`] is a byte range of one segment
//! file decided under the lock and read after releasing it, so a slow reader never holds up
//! producers — and the rule that keeps such reads safe while the log is truncated at run time.
//!
//! The rule (also stated at the `unsafe` mapping below):
//! 1. A segment file is never shrunk in place while a plan or a mapping of it may be alive.
//!    Every plan, and every mapping made from it, holds a clone of the segment's
//!    [`FileReaders`] pin. Truncation runs under the partition lock, the same lock plans are
//!    made under; it shrinks the file in place (`ftruncate`) only when the segment's own `Arc`
//!    is the only one left, and otherwise writes the kept prefix to a new file and renames it
//!    over the old name, so live plans and mappings keep the old inode and its bytes, which
//!    nothing writes any more. A mapping therefore never extends past the end of its file
//!    (no SIGBUS) and never sees its bytes change.
//! 2. A read that raced a truncation is discarded: the log's truncation generation
//!    ([`TruncationGeneration`]) is bumped under the lock before a truncation changes
//!    anything, captured in the plan, and re-checked after the bytes are read. A changed
//!    generation makes [`ReadPlan::read_checked`] answer `None` and the caller plans again, so
//!    no read returns bytes of a truncated part once the truncation has begun.
//!
//! Thread-safety: plans are `Send + Sync`; the pin and the generation are shared atomics.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::batch;

/// Most bytes one partition read returns (beyond one whole first batch), whatever the client
/// allows; clients simply fetch again for the rest.
pub const MAX_READ: usize = 64 << 20;

/// Reads at least this large are served from a read-only mapping of the segment file (no copy
/// in the broker); smaller ones are copied into a buffer, which is cheaper than a mapping.
pub const MAP_READ_MIN: usize = 128 << 10;

/// The pin of one segment file (one inode): the segment holds an `Arc` of it and every plan
/// and mapping of that file a clone, so the strong count says, under the partition lock,
/// whether anyone may still read the file (rule 1 of the module doc).
#[derive(Debug, Default)]
pub struct FileReaders;

/// The truncation generation of one log: bumped before every run-time truncation, so a read
/// planned before it can tell that its bytes may be stale (rule 2 of the module doc).
#[derive(Debug, Clone, Default)]
pub struct TruncationGeneration(Arc<AtomicU64>);

impl TruncationGeneration {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Called under the partition lock before a truncation changes any file or offset.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// A byte range of one segment file to send to a consumer, decided under the lock and read
/// outside it (see the module doc for why that is safe under truncation).
#[derive(Debug, Clone)]
pub struct ReadPlan {
    pub file: Arc<File>,
    pub start: u64,
    /// End of the bytes the read may return: the segment's valid bytes, or the position of
    /// the first batch at or past the caller's upper offset bound.
    pub end: u64,
    /// Size of the first batch, which is sent whole even when above the byte limit.
    pub first_batch_size: usize,
    pin: Arc<FileReaders>,
    generation: TruncationGeneration,
    planned_at: u64,
}

/// A read-only mapping that keeps its file pinned for as long as the bytes are referenced.
struct PinnedMap {
    map: memmap2::Mmap,
    _pin: Arc<FileReaders>,
}

impl AsRef<[u8]> for PinnedMap {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl ReadPlan {
    /// A plan over `[start, end)` of `file`, made under the partition lock; `pin` is the
    /// segment's pin of that file and `generation` the log's truncation generation.
    pub fn new(
        file: Arc<File>,
        start: u64,
        end: u64,
        first_batch_size: usize,
        pin: Arc<FileReaders>,
        generation: &TruncationGeneration,
    ) -> ReadPlan {
        ReadPlan {
            file,
            start,
            end,
            first_batch_size,
            pin,
            generation: generation.clone(),
            planned_at: generation.current(),
        }
    }

    /// Whether the log was truncated since the plan was made.
    pub fn is_stale(&self) -> bool {
        self.generation.current() != self.planned_at
    }

    /// How many bytes [`read`](Self::read) reads for these arguments (before cutting them
    /// back to whole batches): 0 when the first batch is over `max_bytes` and not wanted whole.
    pub fn read_len(&self, max_bytes: usize, whole_first: bool) -> usize {
        if !whole_first && self.first_batch_size > max_bytes {
            return 0;
        }
        let available = self.end.saturating_sub(self.start) as usize;
        max_bytes
            .min(MAX_READ)
            .max(self.first_batch_size)
            .min(available)
    }

    /// Reads at most `max_bytes`, cut back to whole batches. With `whole_first` the first
    /// batch is returned even when it is larger (KIP-74); without it such a read is empty.
    /// Fails with `ErrorKind::Interrupted` when the log was truncated meanwhile (plan again);
    /// [`read_checked`](Self::read_checked) says so with `None` instead.
    pub fn read(&self, max_bytes: usize, whole_first: bool) -> io::Result<Bytes> {
        self.read_checked(max_bytes, whole_first)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Interrupted,
                "the log was truncated during the read; plan it again",
            )
        })
    }

    /// As [`read`](Self::read), but `None` when the log was truncated after the plan was made
    /// (the bytes read may belong to the truncated part and are dropped).
    pub fn read_checked(&self, max_bytes: usize, whole_first: bool) -> io::Result<Option<Bytes>> {
        use std::os::unix::fs::FileExt;
        if self.is_stale() {
            return Ok(None);
        }
        let len = self.read_len(max_bytes, whole_first);
        if len == 0 {
            return Ok(Some(Bytes::new()));
        }
        let read = if len >= MAP_READ_MIN {
            // SAFETY: memmap2 needs the mapped range to stay inside the file and unchanged
            // while mapped. `[start, start + len)` lay inside the segment's valid bytes when
            // the plan was made under the partition lock. That file (inode) is never shrunk
            // in place while this plan or the mapping lives: both hold a clone of its
            // `FileReaders` pin, and run-time truncation, under the same lock, ftruncates only
            // when no clone but the segment's exists, else writes the kept prefix to a new
            // file and renames it over, leaving this inode untouched (read_plan.rs, rule 1).
            // Start-up recovery truncates before any reader exists. Valid bytes are never
            // rewritten (appends go past them); unlinking the file keeps the mapping valid.
            // The mapping is read-only.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(self.start)
                    .len(len)
                    .populate()
                    .map(&*self.file)
            };
            map.map(|map| {
                Bytes::from_owner(PinnedMap {
                    map,
                    _pin: self.pin.clone(),
                })
            })
        } else {
            let mut buf = vec![0u8; len];
            self.file
                .read_exact_at(&mut buf, self.start)
                .map(|_| Bytes::from(buf))
        };
        // Rule 2: a truncation that began while the bytes were read voids them.
        if self.is_stale() {
            return Ok(None);
        }
        let bytes = read?;
        let mut walker = batch::BatchWalker::new(&bytes);
        walker.by_ref().for_each(drop);
        let whole = walker.position();
        Ok(Some(bytes.slice(..whole)))
    }
}
