//! The log of one partition: its ordered segments, the offsets that bound it, and the
//! idempotent-producer state — Kafka's `UnifiedLog`/`LocalLog` for a single node.
//!
//! Invariants: segments are keyed by base offset and hold disjoint, increasing offset ranges;
//! only the last segment is active (appended to, indexes unsealed); `log_start_offset` lies
//! within `[first segment base, log end offset]`; the producer state reflects every batch up
//! to the log end offset.
//!
//! Thread-safety: none of its own. [`super::Partition`] owns it behind a mutex and calls it
//! from blocking threads only, never from async worker threads.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{LogConfig, TimestampType};
use crate::error::{Error, ErrorCode, Result};

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::layout;
use super::producer_state::{ProducerStateManager, SequenceCheck};
use super::records;
use super::segment::{LogSegment, SegmentConfig};

/// Where recovery may start and what the last checkpoints said, handed in at open.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// The previous stop was clean: trust indexes, recover nothing.
    pub clean_shutdown: bool,
    /// Offset below which data is known to be on disk (from the checkpoint file).
    pub recovery_point: i64,
    /// Log start offset from the checkpoint file (DeleteRecords survives restarts).
    pub log_start_offset: i64,
}

/// What opening a log found, for logging.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub segments: usize,
    pub recovered_segments: usize,
    pub truncated_bytes: u64,
    pub scanned_producer_batches: u64,
}

/// The outcome of one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, −1 otherwise.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch had been appended before (an idempotent retry); nothing was written.
    pub duplicate: bool,
}

/// Most bytes one partition read returns (beyond one whole first batch), whatever the client
/// allows; clients simply fetch again for the rest.
const MAX_READ: usize = 64 << 20;

/// Reads at least this large are served from a read-only mapping of the segment file (no copy
/// in the broker); smaller ones are copied into a buffer, which is cheaper than a mapping.
const MAP_READ_MIN: usize = 128 << 10;

/// A byte range of one segment file to send to a consumer, decided under the lock and read
/// outside it.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    pub file: Arc<File>,
    pub start: u64,
    /// End of the segment's valid bytes.
    pub end: u64,
    /// Size of the first batch, which is sent whole even when above the byte limit.
    pub first_batch_size: usize,
}

impl ReadPlan {
    /// Reads at most `max_bytes`, cut back to whole batches. With `whole_first` the first
    /// batch is returned even when it is larger (KIP-74); without it such a read is empty.
    pub fn read(&self, max_bytes: usize, whole_first: bool) -> io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        if !whole_first && self.first_batch_size > max_bytes {
            return Ok(Bytes::new());
        }
        let available = (self.end - self.start) as usize;
        let len = max_bytes
            .min(MAX_READ)
            .max(self.first_batch_size)
            .min(available);
        let bytes = if len >= MAP_READ_MIN {
            // SAFETY: `[start, start + len)` lies inside the segment's valid bytes, which are
            // never modified: the log only appends past them, and files are truncated only by
            // start-up recovery, before any reader exists. Deleting the file (retention,
            // DeleteTopics) leaves the mapping valid. The mapping is read-only.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(self.start)
                    .len(len)
                    .populate()
                    .map(&*self.file)?
            };
            Bytes::from_owner(map)
        } else {
            let mut buf = vec![0u8; len];
            self.file.read_exact_at(&mut buf, self.start)?;
            Bytes::from(buf)
        };
        let mut walker = batch::BatchWalker::new(&bytes);
        walker.by_ref().for_each(drop);
        let whole = walker.position();
        Ok(bytes.slice(..whole))
    }
}

/// The on-disk log of one partition (see the module doc).
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    /// Offset below which everything is fsynced; raised by flushes, including the
    /// background flush of a rolled segment.
    recovery_point: Arc<AtomicI64>,
    producers: ProducerStateManager,
    unflushed_messages: i64,
    last_flush_ms: i64,
}

fn segment_config(c: &LogConfig) -> SegmentConfig {
    SegmentConfig {
        index_interval_bytes: c.index_interval_bytes,
        index_max_bytes: c.segment_index_bytes,
    }
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering what an unclean stop may have torn.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        opts: LoadOptions,
        now_ms: i64,
    ) -> io::Result<(Self, LoadReport)> {
        std::fs::create_dir_all(dir)?;
        let mut bases = Vec::new();
        let mut snapshots = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(b) = layout::parse_offset(&name, layout::LOG_SUFFIX) {
                bases.push(b);
            } else if let Some(o) = layout::parse_offset(&name, layout::SNAPSHOT_SUFFIX) {
                snapshots.push(o);
            } else if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(dir.join(&*name));
            }
        }
        bases.sort_unstable();
        let mut report = LoadReport {
            segments: bases.len(),
            ..Default::default()
        };
        let scfg = segment_config(&config);
        let mut segments = BTreeMap::new();
        let mut truncated_at: Option<i64> = None;
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == bases.len();
            if truncated_at.is_some() {
                // An earlier segment was cut short: everything after it is gone, as in Kafka.
                LogSegment::open_raw(dir, base, scfg, false, now_ms)?.delete_files()?;
                continue;
            }
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let needs_recovery = !opts.clean_shutdown && next_base > opts.recovery_point;
            let seg = if needs_recovery {
                None
            } else {
                match LogSegment::open(dir, base, scfg, active, now_ms) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!("{}: rebuilding segment {base}: {e}", dir.display());
                        None
                    }
                }
            };
            let mut seg = match seg {
                Some(s) => s,
                None => {
                    let mut s = LogSegment::open_raw(dir, base, scfg, true, now_ms)?;
                    let r = s.recover()?;
                    report.recovered_segments += 1;
                    if r.truncated_bytes > 0 {
                        tracing::warn!(
                            "{}: segment {base} truncated by {} bytes at the first invalid batch",
                            dir.display(),
                            r.truncated_bytes
                        );
                        report.truncated_bytes += r.truncated_bytes;
                        truncated_at = Some(s.next_offset());
                    }
                    if !active && truncated_at.is_none() {
                        s.seal()?;
                    }
                    s
                }
            };
            if truncated_at.is_some() || active {
                seg.unseal()?;
            }
            segments.insert(base, seg);
        }
        if segments.is_empty() {
            let base = opts.log_start_offset.max(0);
            segments.insert(base, LogSegment::create(dir, base, scfg, now_ms)?);
        }
        // Sealed segments before the last one stay sealed; the last is the active one.
        let first_base = *segments.keys().next().unwrap_or(&0);
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: 0,
            recovery_point: Arc::new(AtomicI64::new(0)),
            producers: ProducerStateManager::default(),
            unflushed_messages: 0,
            last_flush_ms: now_ms,
        };
        let leo = log.log_end_offset();
        log.log_start_offset = opts.log_start_offset.clamp(first_base, leo.max(first_base));
        let rp = if opts.clean_shutdown {
            leo
        } else {
            opts.recovery_point.min(leo)
        };
        log.recovery_point.store(rp, Ordering::Relaxed);
        report.scanned_producer_batches = log.load_producer_state(&snapshots)?;
        // Loading read every segment; none stays open until it is used.
        for s in log.segments.values_mut() {
            s.release_files();
        }
        Ok((log, report))
    }

    /// Loads the newest usable snapshot and replays batch headers after it.
    fn load_producer_state(&mut self, snapshots: &[i64]) -> io::Result<u64> {
        let leo = self.log_end_offset();
        let mut sorted = snapshots.to_vec();
        sorted.sort_unstable();
        let mut from = self.log_start_offset;
        for &off in sorted.iter().rev() {
            let path = layout::snapshot_file(&self.dir, off);
            if off > leo {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| ProducerStateManager::decode(&b))
            {
                Ok(state) => {
                    self.producers = state;
                    from = off.max(self.log_start_offset);
                    break;
                }
                Err(e) => tracing::warn!("{}: ignoring snapshot {off}: {e}", self.dir.display()),
            }
        }
        let mut scanned = 0;
        for seg in self.segments.values() {
            if seg.next_offset() <= from {
                continue;
            }
            let Some((pos, _)) = seg.find_position(from)? else {
                continue;
            };
            let file = seg.file()?;
            for item in super::segment::HeaderScan::new(&file, pos.0, seg.size()) {
                let (_, h) = item?;
                if h.base_offset >= from {
                    self.producers.update(&h);
                    scanned += 1;
                }
            }
        }
        Ok(scanned)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    fn active(&self) -> &LogSegment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Relaxed)
    }

    pub fn segments(&self) -> impl Iterator<Item = &LogSegment> {
        self.segments.values()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size() as u64).sum()
    }

    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Validates and appends one record batch as a producer sent it.
    pub fn append(&mut self, bytes: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let h = batch::validate(bytes).map_err(|e| e.into_error())?;
        if bytes.len() > self.config.max_message_bytes {
            return Err(Error::kafka(
                ErrorCode::MessageTooLarge,
                format!(
                    "batch of {} bytes exceeds max.message.bytes {}",
                    bytes.len(),
                    self.config.max_message_bytes
                ),
            ));
        }
        if h.is_control() {
            return Err(Error::kafka(
                ErrorCode::InvalidRecord,
                "clients may not produce control batches",
            ));
        }
        self.check_timestamps(&h, now_ms)?;
        let limit = self.config.max_message_bytes as u64;
        match super::compression::inflated_size(h.compression(), &bytes[HEADER_LEN..], limit) {
            Ok(_) => {}
            Err(super::compression::InflateError::TooLarge) => {
                return Err(Error::kafka(
                    ErrorCode::InvalidRecord,
                    format!(
                        "{} batch inflates past max.message.bytes {limit}",
                        h.compression_name()
                    ),
                ))
            }
            Err(super::compression::InflateError::Corrupt(why)) => {
                return Err(Error::kafka(
                    ErrorCode::CorruptMessage,
                    format!("{} batch does not decompress: {why}", h.compression_name()),
                ))
            }
        }
        if let SequenceCheck::Duplicate(m) = self.producers.check(&h)? {
            return Ok(AppendInfo {
                base_offset: m.first_offset,
                last_offset: m.last_offset,
                log_append_time: -1,
                log_start_offset: self.log_start_offset,
                duplicate: true,
            });
        }
        self.maybe_roll(bytes.len(), h.last_offset_delta, now_ms)?;
        let base = self.log_end_offset();
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&bytes[..HEADER_LEN]);
        let rest = &bytes[HEADER_LEN..];
        let log_append_time = match self.config.timestamp_type {
            TimestampType::LogAppendTime => Some(now_ms),
            TimestampType::CreateTime => None,
        };
        batch::stamp_header(&mut header, base, 0, log_append_time);
        if log_append_time.is_some() {
            batch::finish_crc(&mut header, rest);
        }
        let stored = BatchHeader::parse(&header)
            .ok_or_else(|| Error::kafka(ErrorCode::CorruptMessage, "short batch"))?;
        self.active_mut().append(&header, rest, &stored)?;
        self.producers.update(&stored);
        self.unflushed_messages += stored.record_count as i64;
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush(now_ms)?;
        }
        Ok(AppendInfo {
            base_offset: base,
            last_offset: stored.last_offset(),
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// CreateTime timestamps must lie within `[now − before.max, now + after.max]`; checked on
    /// the batch's first and greatest timestamps, so no record is decoded.
    fn check_timestamps(&self, h: &BatchHeader, now_ms: i64) -> Result<()> {
        if self.config.timestamp_type != TimestampType::CreateTime {
            return Ok(());
        }
        let earliest = now_ms.saturating_sub(self.config.timestamp_before_max_ms);
        let latest = now_ms.saturating_add(self.config.timestamp_after_max_ms);
        for ts in [h.base_timestamp, h.max_timestamp] {
            if ts < earliest || ts > latest {
                return Err(Error::kafka(
                    ErrorCode::InvalidTimestamp,
                    format!("Timestamp {ts} of the batch is out of range: it must be within [{earliest}, {latest}]"),
                ));
            }
        }
        Ok(())
    }

    /// Kafka's `shouldRoll`: the batch would overflow `segment.bytes`, the segment is older
    /// than `segment.ms`, an index is full, or relative offsets would overflow.
    fn maybe_roll(&mut self, batch_len: usize, last_delta: i32, now_ms: i64) -> io::Result<()> {
        let cfg = &self.config;
        let active = self.active();
        if active.is_empty() {
            return Ok(());
        }
        let too_big = active.size() as u64 + batch_len as u64 > cfg.segment_bytes as u64;
        let too_old = now_ms - active.created_ms() > cfg.segment_ms;
        let rel_overflow =
            self.log_end_offset() + last_delta as i64 - active.base_offset() > i32::MAX as i64;
        if too_big || too_old || active.indexes_full() || rel_overflow {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Starts a new active segment at the log end offset. The old one is sealed and fsynced in
    /// the background; the recovery point moves once that is done.
    pub fn roll(&mut self, now_ms: i64) -> io::Result<()> {
        let new_base = self.log_end_offset();
        if self.active().base_offset() == new_base {
            return Ok(());
        }
        let old = self.active_mut();
        old.seal()?;
        let file = old.file()?;
        let (path, len) = (old.log_path().to_path_buf(), old.size() as u64);
        let seg = LogSegment::create(&self.dir, new_base, segment_config(&self.config), now_ms)?;
        self.segments.insert(new_base, seg);
        self.producers
            .write_snapshot(&layout::snapshot_file(&self.dir, new_base))?;
        self.prune_snapshots();
        let rp = self.recovery_point.clone();
        std::thread::Builder::new()
            .name("gregor-flush".into())
            .spawn(move || {
                if file.sync_data().is_ok() {
                    super::segment::record_sync(&path, len);
                    rp.fetch_max(new_base, Ordering::Relaxed);
                }
            })?;
        Ok(())
    }

    /// Keeps the two newest producer snapshots.
    fn prune_snapshots(&self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut offs: Vec<i64> = rd
            .flatten()
            .filter_map(|e| {
                layout::parse_offset(&e.file_name().to_string_lossy(), layout::SNAPSHOT_SUFFIX)
            })
            .collect();
        offs.sort_unstable();
        let n = offs.len().saturating_sub(2);
        for off in &offs[..n] {
            let _ = std::fs::remove_file(layout::snapshot_file(&self.dir, *off));
        }
    }

    /// Closes the files of segments nobody used since the previous call (see
    /// [`LogSegment::release_if_idle`]), the active one included: an idle partition holds no
    /// descriptor and no mapping. Returns how many segments let go of their files.
    pub fn release_idle_files(&mut self) -> usize {
        self.segments
            .values_mut()
            .map(|s| s.release_if_idle() as usize)
            .sum()
    }

    /// Plans a read starting at `offset`: `None` at the log end, OFFSET_OUT_OF_RANGE outside
    /// `[log start, log end]`.
    pub fn read_plan(&self, offset: i64) -> Result<Option<ReadPlan>> {
        let leo = self.log_end_offset();
        if offset < self.log_start_offset || offset > leo {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!(
                    "offset {offset} is outside [{}, {leo}]",
                    self.log_start_offset
                ),
            ));
        }
        if offset == leo {
            return Ok(None);
        }
        let first = self
            .segments
            .range(..=offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(offset);
        for seg in self.segments.range(first..).map(|(_, s)| s) {
            if let Some((pos, h)) = seg.find_position(offset)? {
                return Ok(Some(ReadPlan {
                    file: seg.file()?,
                    start: pos.0 as u64,
                    end: seg.size() as u64,
                    first_batch_size: h.total_size(),
                }));
            }
        }
        Ok(None)
    }

    /// The earliest record whose timestamp is ≥ `ts`: `(offset, timestamp)`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>> {
        for seg in self.segments.values() {
            if seg.max_timestamp() < ts || seg.next_offset() <= self.log_start_offset {
                continue;
            }
            if let Some((pos, h)) = seg.find_by_timestamp(ts)? {
                let bytes = read_batch(seg, pos.0, &h)?;
                if let Some((off, t)) = records::first_at_or_after(&bytes, &h, ts) {
                    if off >= self.log_start_offset {
                        return Ok(Some((off, t)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The record with the greatest timestamp: `(offset, timestamp)` (ListOffsets −3).
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>> {
        let best = self
            .segments
            .values()
            .filter(|s| !s.is_empty() && s.next_offset() > self.log_start_offset)
            .max_by_key(|s| (s.max_timestamp(), std::cmp::Reverse(s.base_offset())));
        let Some(seg) = best else { return Ok(None) };
        let ts = seg.max_timestamp();
        let Some((pos, h)) = seg.find_position(seg.offset_of_max_timestamp())? else {
            return Ok(None);
        };
        let bytes = read_batch(seg, pos.0, &h)?;
        Ok(records::first_at_or_after(&bytes, &h, ts).or(Some((h.base_offset, ts))))
    }

    /// DeleteRecords: moves the log start offset to `offset` (−1 = the log end) and deletes
    /// the segments wholly below it. Returns the new low watermark.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let leo = self.log_end_offset();
        let target = if offset == -1 { leo } else { offset };
        if target < 0 || target > leo {
            return Err(Error::kafka(
                ErrorCode::OffsetOutOfRange,
                format!("offset {offset} is beyond the log end {leo}"),
            ));
        }
        if target > self.log_start_offset {
            self.log_start_offset = target;
            self.delete_segments_below_start()?;
        }
        Ok(self.log_start_offset)
    }

    fn delete_segments_below_start(&mut self) -> io::Result<()> {
        let active_base = self.active().base_offset();
        let doomed: Vec<i64> = self
            .segments
            .iter()
            .filter(|(b, s)| **b != active_base && s.next_offset() <= self.log_start_offset)
            .map(|(b, _)| *b)
            .collect();
        for b in doomed {
            if let Some(seg) = self.segments.remove(&b) {
                seg.delete_files()?;
            }
        }
        Ok(())
    }

    /// Deletes whole old segments past `retention.ms` or beyond `retention.bytes`, rolling the
    /// active segment first when it must go too. Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> io::Result<usize> {
        if !self.config.delete {
            return Ok(0);
        }
        let mut doomed = 0usize;
        let mut excess = if self.config.retention_bytes >= 0 {
            self.size_bytes() as i64 - self.config.retention_bytes
        } else {
            i64::MIN
        };
        for seg in self.segments.values() {
            if seg.is_empty() {
                break;
            }
            let expired = self.config.retention_ms >= 0
                && seg.max_timestamp() < now_ms - self.config.retention_ms;
            let over = excess != i64::MIN && excess - seg.size() as i64 >= 0;
            if !(expired || over) {
                break;
            }
            if over {
                excess -= seg.size() as i64;
            }
            doomed += 1;
        }
        if doomed == 0 {
            return Ok(0);
        }
        if doomed == self.segments.len() {
            self.roll(now_ms)?;
        }
        let bases: Vec<i64> = self.segments.keys().take(doomed).copied().collect();
        for b in &bases {
            if let Some(seg) = self.segments.remove(b) {
                seg.delete_files()?;
            }
        }
        let first = self.segments.keys().next().copied().unwrap_or(0);
        self.log_start_offset = self.log_start_offset.max(first);
        Ok(bases.len())
    }

    /// fsyncs the active segment when `flush.ms` has passed with unflushed data.
    pub fn flush_if_due(&mut self, now_ms: i64) -> io::Result<()> {
        if self.unflushed_messages > 0 && now_ms - self.last_flush_ms >= self.config.flush_ms {
            self.flush(now_ms)?;
        }
        Ok(())
    }

    /// fsyncs everything appended so far and moves the recovery point to the log end.
    pub fn flush(&mut self, now_ms: i64) -> io::Result<()> {
        self.active_mut().flush()?;
        self.recovery_point
            .fetch_max(self.log_end_offset(), Ordering::Relaxed);
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Clean close: flush, seal the active segment's indexes, snapshot producer state.
    pub fn close(&mut self, now_ms: i64) -> io::Result<()> {
        self.flush(now_ms)?;
        self.active_mut().seal()?;
        let leo = self.log_end_offset();
        self.producers
            .write_snapshot(&layout::snapshot_file(&self.dir, leo))?;
        self.prune_snapshots();
        Ok(())
    }

    /// Removes the log's directory and everything in it.
    pub fn delete(self) -> io::Result<()> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(dir)
    }
}

fn read_batch(seg: &LogSegment, pos: u32, h: &BatchHeader) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; h.total_size()];
    seg.file()?.read_exact_at(&mut buf, pos as u64)?;
    Ok(buf)
}
