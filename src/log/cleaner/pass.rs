//! One cleaning pass over one partition log — Kafka's `Cleaner.doClean`.
//!
//! 1. Under the partition lock: a [`CleanSnapshot`] of the sealed segments below the first
//!    uncleanable offset (active segment, open transactions, high watermark,
//!    `min.compaction.lag.ms`), pinned so they stay readable.
//! 2. Outside the lock: the [`OffsetMap`] is built from the dirty range `[first dirty, first
//!    uncleanable)`, skipping aborted transactions' batches and keyless records. If it fills,
//!    the pass stops at the offset where it filled: only that far is cleaned now, the next
//!    pass goes on from there.
//! 3. The segments from the log start up to that offset are grouped (each group fits
//!    `segment.bytes`, `segment.index.bytes` and a 2³¹ relative offset range) and each group is
//!    rewritten into one `<first base>.*.cleaned` segment with [`filter::filter_batch`]: a record
//!    survives when its offset is at least the map's for its key (records past the map's range
//!    always survive); a tombstone also needs its batch's delete horizon not passed; aborted
//!    transactions' records go; markers go once their transaction has no data left and their
//!    horizon passed; a producer's last batch, the last batch of each group and of the round
//!    stay at least as an empty header.
//! 4. Under the lock again, each group is swapped in ([`swap`]); a log changed meanwhile
//!    abandons the pass.
//!
//! Returns where the next pass starts (the new first dirty offset) for the
//! `cleaner-offset-checkpoint`.
//!
//! Thread-safety: the pass runs on one cleaner thread; the partition lock is held only for the
//! snapshot and the swaps, so produce and fetch go on meanwhile. Readers holding a plan of a
//! replaced segment keep reading its old inode: they never see a batch cut or an offset twice,
//! since the cleaned segment keeps every surviving batch's offsets.

use std::io;
use std::sync::atomic::AtomicBool;

use super::batch_io::{BatchReader, BatchWriter};
use super::filter::{self, Filtered, Retention};
use super::offset_map::{self, OffsetMap};
use super::raw_records;
use super::swap::SwapFaults;
use super::throttle::Throttler;
use super::txn_meta::TxnTracker;
use crate::log::batch::{BatchHeader, HEADER_LEN};
use crate::log::control;
use crate::log::layout::CLEANED_SUFFIX;
use crate::log::partition::Partition;
use crate::log::partition_log::{CleanSnapshot, SegmentView};
use crate::log::segment::{LogSegment, SegmentConfig};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassOutcome {
    /// Where the next pass starts (for the cleaner checkpoint).
    pub next_dirty_offset: i64,
    /// Segments replaced and the groups they were cleaned into.
    pub segments_cleaned: usize,
    pub groups: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// The earliest delete horizon still pending in the cleaned segments: the log is worth
    /// cleaning again once it passes, even with nothing dirty.
    pub next_horizon: Option<i64>,
    /// The log changed under the cleaner (truncation, retention): nothing more was swapped.
    pub abandoned: bool,
}

/// Inputs of one pass besides the log.
pub struct PassParams<'a> {
    pub checkpoint: Option<i64>,
    pub high_watermark: Option<i64>,
    pub now_ms: i64,
    pub faults: &'a dyn SwapFaults,
    /// Set to stop the pass between two batches (shutdown); the pass then fails with
    /// `Interrupted` and leaves the log as it was.
    pub cancel: &'a AtomicBool,
    /// Size of each of the read and write buffers ([`super::batch_io::buffer_size`]).
    pub io_buffer_size: usize,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Most bytes one batch's records may inflate to while cleaning.
fn inflate_limit(snap: &CleanSnapshot) -> usize {
    (snap.config.max_message_bytes.saturating_mul(4)).max(64 << 20)
}

/// Runs one pass over `partition` (see the module doc). `None` when there is nothing to clean.
pub fn clean_partition(
    partition: &Partition,
    map: &mut OffsetMap,
    throttle: &mut Throttler,
    params: &PassParams<'_>,
) -> io::Result<Option<PassOutcome>> {
    let snap = {
        let log = partition
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?;
        log.clean_snapshot(params.checkpoint, params.high_watermark, params.now_ms)?
    };
    let mut reader = BatchReader::new(params.io_buffer_size);
    let end = build_offset_map(&snap, map, &mut reader, throttle, params.cancel)?;
    let to_clean: Vec<&SegmentView> = snap.segments.iter().filter(|s| s.base < end).collect();
    if to_clean.is_empty() {
        return Ok(None);
    }
    let mut out = PassOutcome {
        next_dirty_offset: end,
        ..Default::default()
    };
    let first_base = to_clean[0].base;
    let mut txns = TxnTracker::new(
        snap.aborted
            .iter()
            .filter(|t| t.last_offset >= first_base)
            .copied()
            .collect(),
    );
    for group in group_segments(&to_clean, &snap) {
        let base = group[0].base;
        let replaced: Vec<(i64, u32)> = group.iter().map(|s| (s.base, s.size)).collect();
        let ctx = GroupCtx {
            snap: &snap,
            map,
            now: params.now_ms,
            cancel: params.cancel,
            write_buffer: params.io_buffer_size,
        };
        if let Err(e) = clean_group(&ctx, &group, &mut txns, &mut reader, throttle, &mut out) {
            let _ = super::swap::discard_cleaned(&snap.dir, base);
            return Err(e);
        }
        let swapped = partition
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?
            .replace_segments(&snap, base, &replaced, params.faults)?;
        if !swapped {
            out.abandoned = true;
            return Ok(Some(out));
        }
        out.groups += 1;
        out.segments_cleaned += group.len();
    }
    Ok(Some(out))
}

/// Builds the offset map from the dirty range; returns the offset the pass cleans up to.
fn build_offset_map(
    snap: &CleanSnapshot,
    map: &mut OffsetMap,
    reader: &mut BatchReader,
    throttle: &mut Throttler,
    cancel: &AtomicBool,
) -> io::Result<i64> {
    map.clear();
    let (start, stop) = (snap.first_dirty, snap.first_uncleanable);
    // Everything below the first dirty offset was deduplicated by earlier passes: the map
    // covers it (a record there is the latest of its key unless the dirty range has a newer).
    map.update_latest_offset(start.min(stop) - 1);
    if start >= stop {
        return Ok(start);
    }
    let mut txns = TxnTracker::new(
        snap.aborted
            .iter()
            .filter(|t| t.last_offset >= start)
            .copied()
            .collect(),
    );
    let limit = inflate_limit(snap);
    let mut full = false;
    let mut ignored = Vec::new();
    let mut digests = Vec::new();
    for (i, seg) in snap.segments.iter().enumerate() {
        if seg.next_offset <= start {
            continue;
        }
        reader.for_each_batch(&seg.file, seg.size, throttle, cancel, |h, bytes, _| {
            if h.last_offset() < start {
                return Ok(true);
            }
            if h.base_offset >= stop {
                return Ok(false);
            }
            if h.is_control() {
                txns.on_control_batch(h, control::read_marker(bytes), &mut ignored);
            } else if !txns.on_data_batch(h) {
                let section = raw_records::inflate(h.compression(), &bytes[HEADER_LEN..], limit)
                    .map_err(invalid)?;
                let records = raw_records::walk(&section, h.record_count).map_err(invalid)?;
                digests.clear();
                digests.extend(records.iter().map(|r| r.key.map(offset_map::digest)));
                map.prefetch(digests.iter().flatten().copied());
                for (r, d) in records.iter().zip(&digests) {
                    let offset = h.base_offset + r.offset_delta as i64;
                    if offset < start || offset >= stop {
                        continue;
                    }
                    if let Some(d) = d {
                        if !map.put_digest(*d, offset) {
                            full = true;
                            return Ok(false);
                        }
                    }
                }
            }
            map.update_latest_offset(h.last_offset().min(stop - 1));
            Ok(true)
        })?;
        if full {
            break;
        }
        let next = snap.segments.get(i + 1).map_or(stop, |s| s.base).min(stop);
        map.update_latest_offset(next - 1);
        if next >= stop {
            break;
        }
    }
    Ok((map.latest_offset() + 1).clamp(start, stop))
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose total log and index sizes fit
/// one segment, with offsets relative to the first base fitting 31 bits.
fn group_segments<'a>(segs: &[&'a SegmentView], snap: &CleanSnapshot) -> Vec<Vec<&'a SegmentView>> {
    let max_log = snap.config.segment_bytes as u64;
    let max_index = snap.config.segment_index_bytes as u64;
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let first = segs[i];
        let mut group = vec![first];
        let (mut log, mut index, mut time) = (
            first.size as u64,
            first.offset_index_bytes,
            first.time_index_bytes,
        );
        i += 1;
        while i < segs.len() {
            let s = segs[i];
            let last_offset = segs.get(i + 1).map_or(snap.first_uncleanable, |n| n.base) - 1;
            let fits = log + s.size as u64 <= max_log
                && index + s.offset_index_bytes <= max_index
                && time + s.time_index_bytes <= max_index
                && (s.size == 0 || last_offset - first.base <= i32::MAX as i64);
            if !fits {
                break;
            }
            log += s.size as u64;
            index += s.offset_index_bytes;
            time += s.time_index_bytes;
            group.push(s);
            i += 1;
        }
        groups.push(group);
    }
    groups
}

/// Rewrites one group into `<base>.*.cleaned` (fsynced), carrying transaction state over.
/// What every group of a pass is cleaned against.
struct GroupCtx<'a> {
    snap: &'a CleanSnapshot,
    map: &'a OffsetMap,
    now: i64,
    cancel: &'a AtomicBool,
    write_buffer: usize,
}

fn clean_group(
    ctx: &GroupCtx<'_>,
    group: &[&SegmentView],
    txns: &mut TxnTracker,
    reader: &mut BatchReader,
    throttle: &mut Throttler,
    out: &mut PassOutcome,
) -> io::Result<()> {
    let (snap, map, now, cancel) = (ctx.snap, ctx.map, ctx.now, ctx.cancel);
    let base = group[0].base;
    let cfg = SegmentConfig {
        index_interval_bytes: snap.config.index_interval_bytes,
        index_max_bytes: snap.config.segment_index_bytes,
    };
    let mut dest = LogSegment::create_with_suffix(&snap.dir, base, cfg, now, CLEANED_SUFFIX)?;
    let mut writer = BatchWriter::new(ctx.write_buffer);
    let group_end = group.last().map_or(base, |s| s.next_offset);
    let limit = inflate_limit(snap);
    let latest = map.latest_offset();
    let mut kept_aborts = Vec::new();
    // The digests of the batch being filtered (see [`OffsetMap::prefetch`]).
    let digests = std::cell::RefCell::new(Vec::new());
    let next_record = std::cell::Cell::new(0usize);
    for seg in group {
        reader.for_each_batch(
            &seg.file,
            seg.size,
            throttle,
            cancel,
            |h, bytes, throttle| {
                out.bytes_read += bytes.len() as u64;
                let can_discard = if h.is_control() {
                    txns.on_control_batch(h, control::read_marker(bytes), &mut kept_aborts)
                } else {
                    txns.on_data_batch(h)
                };
                let horizon = filter::delete_horizon(h);
                let discard_records = if h.is_control() {
                    can_discard && horizon.is_some_and(|hz| hz <= now)
                } else {
                    can_discard
                };
                let last_of_producer = h.producer_id >= 0
                    && snap.last_records.get(&h.producer_id).is_some_and(
                        |(last, epoch)| match last {
                            Some(o) => h.last_offset() == *o,
                            None => h.is_control() && h.producer_epoch == *epoch,
                        },
                    );
                let next = h.last_offset() + 1;
                let retention =
                    if last_of_producer || next == group_end || next == snap.first_uncleanable {
                        Retention::RetainEmpty
                    } else if discard_records {
                        Retention::Delete
                    } else {
                        Retention::DeleteEmpty
                    };
                let result = filter::filter_batch_prepared(
                    bytes,
                    h,
                    retention,
                    can_discard && h.is_control(),
                    &filter::FilterParams {
                        now_ms: now,
                        delete_retention_ms: snap.config.delete_retention_ms,
                        inflate_limit: limit,
                    },
                    |records| {
                        let mut d = digests.borrow_mut();
                        d.clear();
                        if !discard_records && !h.is_control() {
                            d.extend(records.iter().map(|r| r.key.map(offset_map::digest)));
                            map.prefetch(d.iter().flatten().copied());
                        }
                        next_record.set(0);
                    },
                    |r, offset| {
                        // Called once per record, in order, after `prepare`.
                        let i = next_record.replace(next_record.get() + 1);
                        if discard_records {
                            return false;
                        }
                        if offset > latest {
                            return true;
                        }
                        let Some(key) = r.key else { return false };
                        let d = digests
                            .borrow()
                            .get(i)
                            .copied()
                            .flatten()
                            .unwrap_or_else(|| offset_map::digest(key));
                        let retain_delete = horizon.is_none_or(|hz| now < hz);
                        offset >= map.get_digest(d) && (r.has_value || retain_delete)
                    },
                )
                .map_err(|e| invalid(format!("batch at offset {}: {e}", h.base_offset)))?;
                let (bytes, new_horizon) = match &result {
                    Filtered::Dropped => return Ok(true),
                    Filtered::Original => (bytes, horizon),
                    Filtered::Rewritten { bytes, horizon_set } => (
                        bytes.as_slice(),
                        if *horizon_set {
                            Some(now + snap.config.delete_retention_ms)
                        } else {
                            horizon
                        },
                    ),
                };
                let stored =
                    BatchHeader::parse(bytes).ok_or_else(|| invalid("short batch".into()))?;
                if stored.record_count > 0 {
                    if let Some(hz) = new_horizon.filter(|hz| *hz > now) {
                        out.next_horizon = Some(out.next_horizon.map_or(hz, |n| n.min(hz)));
                    }
                }
                writer.append(&mut dest, throttle, bytes, stored)?;
                out.bytes_written += bytes.len() as u64;
                Ok(true)
            },
        )?;
    }
    writer.flush(&mut dest, throttle)?;
    for e in kept_aborts {
        dest.txn_index_mut().append(e)?;
    }
    dest.seal()?;
    dest.flush()?;
    Ok(())
}
