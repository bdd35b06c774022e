//! The leader epoch cache of one partition — Kafka's `LeaderEpochFileCache`: for every leader
//! epoch seen in the log, the offset of its first batch, so a follower can ask "where does my
//! epoch end on the leader?" (OffsetsForLeaderEpoch) and truncate exactly the records the
//! leader does not have.
//!
//! File (`leader-epoch-checkpoint` in the partition directory, Kafka's
//! `LeaderEpochCheckpointFile`): a version line `0`, a count line, then `epoch startOffset` per
//! line. Rewritten whole and atomically (temp file, fsync, rename, fsync of the directory)
//! after every change.
//!
//! Invariants: entries are strictly increasing in both epoch and start offset; every start
//! offset is at most the log end offset (at it only for the latest entry, when a leadership
//! began there and nothing was appended since: reopening drops such an entry, as Kafka's
//! loader does, and the new leadership assigns it again) and (after [`truncate_from_start`]
//! (LeaderEpochCache::truncate_from_start)) at or above the log start offset.
//!
//! Thread-safety: none of its own; it lives inside the partition log behind its lock.

use std::io;
use std::path::{Path, PathBuf};

pub use super::layout::LEADER_EPOCH_FILE;

/// One epoch and the offset of its first batch (Kafka's `EpochEntry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// Epoch → start offset, kept in memory and mirrored in [`LEADER_EPOCH_FILE`] (see the module
/// doc). `path` is `None` for a cache that never touches the disk (the in-memory model).
#[derive(Debug, Clone, Default)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
    path: Option<PathBuf>,
    /// An entry was assigned without writing the file ([`assign_unflushed`]
    /// (LeaderEpochCache::assign_unflushed)); the next change or assignment writes it.
    unflushed: bool,
}

/// Parses the checkpoint text; `None` when it is malformed or not monotonic.
fn parse(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let epoch = it.next()?.parse().ok()?;
        let start_offset = it.next()?.parse().ok()?;
        if it.next().is_some() || epoch < 0 || start_offset < 0 {
            return None;
        }
        let e = EpochEntry {
            epoch,
            start_offset,
        };
        if let Some(last) = entries.last() {
            let last: &EpochEntry = last;
            if e.epoch <= last.epoch || e.start_offset <= last.start_offset {
                return None;
            }
        }
        entries.push(e);
    }
    (entries.len() == count).then_some(entries)
}

impl LeaderEpochCache {
    /// An empty cache that is never written anywhere.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Loads the checkpoint of the partition in `dir`. Returns the cache and whether the file
    /// was present and well-formed; when it was not, the cache is empty and the caller must
    /// rebuild it from the batches' epochs.
    pub fn load(dir: &Path) -> (Self, bool) {
        let path = dir.join(LEADER_EPOCH_FILE);
        let parsed = std::fs::read_to_string(&path).ok().map(|t| parse(&t));
        let ok = matches!(parsed, Some(Some(_)));
        if let Some(None) = parsed {
            tracing::warn!("{}: malformed, rebuilding it", path.display());
        }
        let entries = parsed.flatten().unwrap_or_default();
        (
            LeaderEpochCache {
                entries,
                path: Some(path),
                unflushed: false,
            },
            ok,
        )
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any batch with an epoch was appended.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, as Kafka's `assign`: nothing happens
    /// unless the epoch differs from the latest one (or starts earlier); entries with an epoch
    /// or start offset at or past the new one are dropped first, so the cache stays
    /// monotonic. Negative epochs (batches written without one) are ignored. Returns whether
    /// the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> io::Result<bool> {
        let changed = self.assign_unflushed(epoch, start_offset);
        if changed || self.unflushed {
            self.flush()?;
        }
        Ok(changed)
    }

    /// [`assign`](Self::assign) without writing the file: for the entry a new leadership
    /// starts at the log end. Such an entry would be dropped by the next load anyway (it
    /// starts at the log end), so writing it at once — one fsynced file per partition at
    /// every start-up, for every empty partition — buys nothing; the first append or change
    /// after it writes it with the rest.
    pub fn assign_unflushed(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = match self.entries.last() {
            Some(last) => epoch != last.epoch || start_offset < last.start_offset,
            None => true,
        };
        if !needed {
            return false;
        }
        while let Some(last) = self.entries.last() {
            if last.epoch >= epoch || last.start_offset >= start_offset {
                self.entries.pop();
            } else {
                break;
            }
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.unflushed = true;
        true
    }

    /// Drops the entries starting at or after `end_offset` (the log was truncated to it).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> io::Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before {
            self.flush()?;
        }
        Ok(())
    }

    /// The log start moved to `start_offset`: entries starting at or below it are dropped,
    /// except that the last of them is kept with its start raised to `start_offset`.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> io::Result<()> {
        let below = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        let Some(last_below) = below.checked_sub(1).map(|i| self.entries[i]) else {
            return Ok(());
        };
        if below == 1 && last_below.start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..below);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: last_below.epoch,
                start_offset,
            },
        );
        self.flush()
    }

    /// Forgets everything (the log was emptied and restarted at a new offset).
    pub fn clear(&mut self) -> io::Result<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        self.entries.clear();
        self.flush()
    }

    /// Kafka's `endOffsetFor`: the greatest epoch ≤ `epoch` the log knows and the offset where
    /// it ends (the start of the next epoch, or `log_end_offset` for the latest). `None` —
    /// Kafka's (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET) — for a negative epoch, an epoch
    /// newer than the latest, or an empty cache. An epoch older than every entry answers
    /// `(epoch, start of the first entry)`.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        if epoch < 0 {
            return None;
        }
        if self.latest_epoch() == Some(epoch) {
            return Some((epoch, log_end_offset));
        }
        let higher = self.entries.iter().position(|e| e.epoch > epoch)?;
        let end = self.entries[higher].start_offset;
        match higher.checked_sub(1) {
            Some(floor) => Some((self.entries[floor].epoch, end)),
            None => Some((epoch, end)),
        }
    }

    /// Writes the checkpoint file (nothing for an in-memory cache).
    fn flush(&mut self) -> io::Result<()> {
        self.unflushed = false;
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        crate::fs::write_atomic(path, text.as_bytes())
    }

    /// Makes an in-memory cache (a rebuild) the cache of the partition in `dir`, writing its
    /// checkpoint now when `write`.
    pub fn persist_in(mut self, dir: &Path, write: bool) -> io::Result<Self> {
        self.path = Some(dir.join(LEADER_EPOCH_FILE));
        if write {
            self.flush()?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(pairs: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::in_memory();
        for &(e, o) in pairs {
            c.assign(e, o).unwrap();
        }
        c
    }

    #[test]
    fn end_offset_for_follows_kafka() {
        let c = cache(&[(1, 0), (3, 10), (4, 20)]);
        assert_eq!(c.end_offset_for(4, 25), Some((4, 25)));
        assert_eq!(c.end_offset_for(3, 25), Some((3, 20)));
        assert_eq!(
            c.end_offset_for(2, 25),
            Some((1, 10)),
            "unknown epoch: floor"
        );
        assert_eq!(c.end_offset_for(0, 25), Some((0, 0)), "older than all");
        assert_eq!(c.end_offset_for(5, 25), None, "newer than the latest");
        assert_eq!(c.end_offset_for(-1, 25), None);
        assert_eq!(LeaderEpochCache::in_memory().end_offset_for(0, 0), None);
    }

    #[test]
    fn assign_keeps_it_monotonic_and_truncation_trims() {
        let mut c = cache(&[(1, 0), (3, 10), (4, 20)]);
        assert!(!c.assign(4, 25).unwrap(), "same epoch later: no change");
        c.assign(3, 15).unwrap();
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 15
                }
            ],
            "an older epoch replaces what follows it"
        );
        let mut c = cache(&[(1, 0), (3, 10), (4, 20)]);
        c.truncate_from_end(20).unwrap();
        assert_eq!(c.latest_epoch(), Some(3));
        c.truncate_from_start(12).unwrap();
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 12
            }]
        );
    }

    #[test]
    fn an_unflushed_entry_is_written_with_the_next_assignment() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, _) = LeaderEpochCache::load(dir.path());
        c.assign(0, 0).unwrap();
        let file = dir.path().join(LEADER_EPOCH_FILE);
        assert!(c.assign_unflushed(2, 7), "a new leadership at the log end");
        assert_eq!(c.end_offset_for(2, 7), Some((2, 7)), "known at once");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "0\n1\n0 0\n");
        // The first batch of epoch 2 changes nothing in memory but writes the file.
        assert!(!c.assign(2, 7).unwrap());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "0\n2\n0 0\n2 7\n");
    }

    #[test]
    fn checkpoint_round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, found) = LeaderEpochCache::load(dir.path());
        assert!(!found);
        c.assign(0, 0).unwrap();
        c.assign(2, 7).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LEADER_EPOCH_FILE)).unwrap();
        assert_eq!(text, "0\n2\n0 0\n2 7\n");
        let (again, found) = LeaderEpochCache::load(dir.path());
        assert!(found);
        assert_eq!(again.entries(), c.entries());
        std::fs::write(dir.path().join(LEADER_EPOCH_FILE), "0\n2\n3 0\n2 7\n").unwrap();
        assert!(
            !LeaderEpochCache::load(dir.path()).1,
            "non-monotonic: rebuild"
        );
    }
}
