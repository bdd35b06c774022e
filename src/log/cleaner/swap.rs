//! Replacing segments with a cleaned one so that a crash at any point leaves either the old
//! segments or the new one — Kafka's `replaceSegments` protocol and `LogLoader`'s recovery of
//! it.
//!
//! Files: a cleaned segment is written as `<base>.log.cleaned`, `.index.cleaned`,
//! `.timeindex.cleaned`, `.txnindex.cleaned` (all fsynced) outside the partition lock. Then,
//! under the lock ([`crate::log::partition_log::PartitionLog::replace_segments`]):
//! 1. the three index files are renamed `.cleaned` → `.swap`, then the log file — the rename
//!    of `<base>.log.swap` is the commit point — and the directory is fsynced;
//! 2. each replaced segment whose base differs from `<base>` has its files renamed to
//!    `.deleted` (the one at `<base>` is overwritten by the next step);
//! 3. the `.swap` files are renamed to their final names, indexes first, the log last, and
//!    the directory is fsynced;
//! 4. the `.deleted` files are removed.
//!
//! Recovery on open ([`recover`]), before segments are listed: `.cleaned` and `.deleted` files
//! are deleted (an uncommitted cleaning, or segments already replaced); for every
//! `<base>.log.swap` the swap is completed — every segment whose base lies in `[base, end of
//! the swap segment)` is deleted, the remaining `<base>.*.swap` files renamed — and the
//! segment's indexes are rebuilt on load (a crash during step 3 may have left an old index
//! under the final name). An index `.swap` without its `.log.swap` belongs to a commit that
//! did not happen (step 1 cut short) and is deleted. The cleaner keeps the last batch of every
//! group it writes (an empty header if need be), so a cleaned segment ends exactly where the
//! last segment it replaces ends and the range test above finds every replaced segment.
//!
//! Fault injection: every step calls [`SwapFaults::at`] first; a test returns an error at
//! step N and drops the log without any further write, as a crash would, then reopens it.
//!
//! Thread-safety: the steps run under the partition lock; recovery runs before the log exists.

use std::io;
use std::path::Path;

use crate::log::header_scan::HeaderScan;
use crate::log::layout::{self, CLEANED_SUFFIX, DELETED_SUFFIX, SWAP_SUFFIX};

/// The seam for crash tests: called before each file-system step of a swap.
pub trait SwapFaults: Send + Sync {
    /// Fails to simulate a crash right before `step`.
    fn at(&self, step: &str) -> io::Result<()>;
}

/// No faults: production.
pub struct NoFaults;

impl SwapFaults for NoFaults {
    fn at(&self, _step: &str) -> io::Result<()> {
        Ok(())
    }
}

fn rename(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// The segment files of `base`, indexes first and the log last (the order of every rename).
fn files_log_last(dir: &Path, base: i64) -> [std::path::PathBuf; 4] {
    let [log, index, time, txn] = layout::segment_files(dir, base);
    [index, time, txn, log]
}

/// Deletes the `.cleaned` files of `base` (a cleaning that will not be swapped in).
pub fn discard_cleaned(dir: &Path, base: i64) -> io::Result<()> {
    for f in layout::segment_files(dir, base) {
        remove(&layout::with_suffix(&f, CLEANED_SUFFIX))?;
    }
    Ok(())
}

/// Step 1: `.cleaned` → `.swap`, the log file last (the commit point); directory fsynced.
pub fn commit_cleaned(dir: &Path, base: i64, faults: &dyn SwapFaults) -> io::Result<()> {
    for f in files_log_last(dir, base) {
        faults.at("rename cleaned to swap")?;
        std::fs::rename(
            layout::with_suffix(&f, CLEANED_SUFFIX),
            layout::with_suffix(&f, SWAP_SUFFIX),
        )?;
    }
    faults.at("sync dir after swap rename")?;
    crate::fs::sync_dir(dir)
}

/// Step 2: a replaced segment's files → `.deleted`.
pub fn retire(dir: &Path, base: i64, faults: &dyn SwapFaults) -> io::Result<()> {
    for f in layout::segment_files(dir, base) {
        faults.at("rename old to deleted")?;
        rename(&f, &layout::with_suffix(&f, DELETED_SUFFIX))?;
    }
    Ok(())
}

/// Step 3: `.swap` → final names, the log last; directory fsynced.
pub fn install(dir: &Path, base: i64, faults: &dyn SwapFaults) -> io::Result<()> {
    for f in files_log_last(dir, base) {
        faults.at("rename swap to final")?;
        std::fs::rename(layout::with_suffix(&f, SWAP_SUFFIX), &f)?;
    }
    faults.at("sync dir after install")?;
    crate::fs::sync_dir(dir)
}

/// Step 4: removes the retired segments' `.deleted` files.
pub fn delete_retired(dir: &Path, bases: &[i64], faults: &dyn SwapFaults) -> io::Result<()> {
    for &b in bases {
        for f in layout::segment_files(dir, b) {
            faults.at("delete retired")?;
            remove(&layout::with_suffix(&f, DELETED_SUFFIX))?;
        }
    }
    Ok(())
}

/// One past the last offset of the batches in a `.log` file (`base` when it has none).
fn end_offset(path: &Path, base: i64) -> io::Result<i64> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len().min(u32::MAX as u64) as u32;
    let mut end = base;
    for item in HeaderScan::new(&file, 0, len) {
        match item {
            Ok((_, h)) => end = end.max(h.last_offset() + 1),
            Err(_) => break,
        }
    }
    Ok(end)
}

/// Recovers every interrupted cleaning in a partition directory (see the module doc).
/// Returns the base offsets of segments completed from a swap: their indexes must be rebuilt.
pub fn recover(dir: &Path) -> io::Result<Vec<i64>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    let mut swaps = Vec::new();
    let mut logs = Vec::new();
    for name in &names {
        if name.ends_with(CLEANED_SUFFIX) || name.ends_with(DELETED_SUFFIX) {
            remove(&dir.join(name))?;
        } else if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            if let Some(b) = layout::parse_offset(stem, layout::LOG_SUFFIX) {
                swaps.push(b);
            }
        } else if let Some(b) = layout::parse_offset(name, layout::LOG_SUFFIX) {
            logs.push(b);
        }
    }
    // Index swaps without their log swap: an uncommitted step 1.
    for name in &names {
        if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            let base = [
                layout::INDEX_SUFFIX,
                layout::TIME_INDEX_SUFFIX,
                layout::TXN_INDEX_SUFFIX,
            ]
            .iter()
            .find_map(|s| layout::parse_offset(stem, s));
            if base.is_some_and(|b| !swaps.contains(&b)) {
                remove(&dir.join(name))?;
            }
        }
    }
    swaps.sort_unstable();
    for &b in &swaps {
        let swap_log = layout::with_suffix(&layout::log_file(dir, b), SWAP_SUFFIX);
        let end = end_offset(&swap_log, b)?;
        for &old in logs.iter().filter(|o| **o >= b && (**o < end || **o == b)) {
            for f in layout::segment_files(dir, old) {
                remove(&f)?;
            }
        }
        for f in files_log_last(dir, b) {
            rename(&layout::with_suffix(&f, SWAP_SUFFIX), &f)?;
        }
        // Indexes rebuilt by the loader; the swapped txn index stays valid but is rebuilt too.
        for f in &layout::segment_files(dir, b)[1..3] {
            remove(f)?;
        }
        tracing::info!(
            "{}: completed the interrupted swap of segment {b}",
            dir.display()
        );
    }
    if !swaps.is_empty() {
        crate::fs::sync_dir(dir)?;
    }
    Ok(swaps)
}
