//! Opening a partition log: completing or undoing an interrupted log cleaning
//! ([`crate::log::cleaner::swap::recover`]), listing its files, recovering segments an unclean
//! stop may have torn (Kafka's `LogLoader`), and loading producer state (ongoing transactions included), the
//! segments' transaction indexes that need rebuilding, and the leader epoch cache.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{segment_config, txn, LoadOptions, LoadReport, PartitionLog};
use crate::config::LogConfig;
use crate::log::batch::BatchHeader;
use crate::log::control;
use crate::log::epoch_cache::LeaderEpochCache;
use crate::log::header_scan::HeaderScan;
use crate::log::layout;
use crate::log::producer_state::ProducerStateManager;
use crate::log::read_plan::TruncationGeneration;
use crate::log::recovery_point::RecoveryPoint;
use crate::log::segment::LogSegment;

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering what an unclean stop may have torn.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        opts: LoadOptions,
        now_ms: i64,
    ) -> io::Result<(Self, LoadReport)> {
        std::fs::create_dir_all(dir)?;
        // An interrupted cleaning first: completed swaps replace the segments they cover.
        let swapped = crate::log::cleaner::swap::recover(dir)?;
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
        // Epoch changes seen by recovery, replayed into the epoch cache as Kafka's does.
        let mut recovered_epochs: Vec<(i32, i64)> = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == bases.len();
            if truncated_at.is_some() {
                // An earlier segment was cut short: everything after it is gone, as in Kafka.
                LogSegment::open_raw(dir, base, scfg, false, now_ms)?.delete_files()?;
                continue;
            }
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let needs_recovery = (!opts.clean_shutdown && next_base > opts.recovery_point)
                || swapped.contains(&base);
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
                    let r = s.recover_with(&mut |h| {
                        let e = h.partition_leader_epoch;
                        let from = opts.log_start_offset;
                        if e >= 0
                            && h.last_offset() >= from
                            && recovered_epochs.last().map(|l| l.0) != Some(e)
                        {
                            recovered_epochs.push((e, h.base_offset.max(from)));
                        }
                    })?;
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
            recovery_point: RecoveryPoint::new(0),
            producers: ProducerStateManager::default(),
            epochs: LeaderEpochCache::in_memory(),
            truncations: TruncationGeneration::default(),
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
        log.recovery_point = RecoveryPoint::new(rp);
        report.rebuilt_txn_indexes = log
            .segments
            .values()
            .filter(|s| s.txn_index_stale())
            .count();
        report.scanned_producer_batches = log.load_producer_state(&snapshots)?;
        log.load_epoch_cache(&recovered_epochs)?;
        // Loading read every segment; none stays open until it is used.
        for s in log.segments.values_mut() {
            s.release_files();
        }
        Ok((log, report))
    }

    /// Loads the leader epoch cache from its checkpoint, replays the epochs recovery saw, and
    /// rebuilds it from every batch's epoch when the file is missing, malformed or behind the
    /// log's last batch; then trims it to `[log start, log end)`.
    fn load_epoch_cache(&mut self, recovered: &[(i32, i64)]) -> io::Result<()> {
        let (mut cache, found) = LeaderEpochCache::load(&self.dir);
        // As Kafka's `LogSegment.recover`: only epochs newer than the cache's latest.
        for &(epoch, start) in recovered {
            if cache.latest_epoch() < Some(epoch) {
                cache.assign(epoch, start)?;
            }
        }
        // Batches wholly below the log start no longer count (their entries were collapsed
        // into one at the log start when it moved).
        let last_epoch = self
            .last_batch()?
            .filter(|h| h.last_offset() >= self.log_start_offset)
            .map(|h| h.partition_leader_epoch);
        let consistent = match last_epoch {
            Some(e) if e >= 0 => cache.latest_epoch() >= Some(e),
            _ => true,
        };
        if !found || !consistent {
            let mut rebuilt = LeaderEpochCache::in_memory();
            for seg in self.segments.values() {
                if seg.next_offset() <= self.log_start_offset {
                    continue;
                }
                let file = seg.file()?;
                for item in HeaderScan::new(&file, 0, seg.size()) {
                    let (_, h) = item?;
                    if h.last_offset() >= self.log_start_offset {
                        let start = h.base_offset.max(self.log_start_offset);
                        rebuilt.assign(h.partition_leader_epoch, start)?;
                    }
                }
            }
            let write = !rebuilt.entries().is_empty() || found;
            if write {
                tracing::info!("{}: rebuilt the leader epoch cache", self.dir.display());
            }
            cache = rebuilt.persist_in(&self.dir, write)?;
        }
        cache.truncate_from_end(self.log_end_offset())?;
        cache.truncate_from_start(self.log_start_offset)?;
        self.epochs = cache;
        Ok(())
    }

    /// The header of the log's last batch, if it has one.
    fn last_batch(&self) -> io::Result<Option<BatchHeader>> {
        let Some(seg) = self.segments.values().rev().find(|s| !s.is_empty()) else {
            return Ok(None);
        };
        Ok(seg.find_position(seg.next_offset() - 1)?.map(|(_, h)| h))
    }

    /// Loads the newest usable snapshot and replays the batches after it (headers, and the
    /// marker of every control batch), as Kafka's `rebuildProducerState`. Segments whose
    /// transaction index is stale (lost, damaged, or reset by recovery) get it rebuilt on the
    /// way: the snapshot is then taken at or before the first of them, so the transactions
    /// open at its start are known (a transaction may span segments). Returns the number of
    /// batches replayed.
    pub(super) fn load_producer_state(&mut self, snapshots: &[i64]) -> io::Result<u64> {
        let leo = self.log_end_offset();
        let rebuild_from = self
            .segments
            .values()
            .filter(|s| s.txn_index_stale())
            .map(|s| s.base_offset())
            .next();
        let limit = rebuild_from.map_or(leo, |b| b.min(leo));
        let mut sorted = snapshots.to_vec();
        sorted.sort_unstable();
        let mut from = self.log_start_offset;
        for &off in sorted.iter().rev() {
            let path = layout::snapshot_file(&self.dir, off);
            if off > leo {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if off > limit {
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
        let producers = &mut self.producers;
        for seg in self.segments.values_mut() {
            if seg.next_offset() <= from {
                continue;
            }
            let Some((pos, _)) = seg.find_position(from)? else {
                continue;
            };
            let file = seg.file()?;
            let stale = seg.txn_index_stale();
            for item in HeaderScan::new(&file, pos.0, seg.size()) {
                let (at, h) = item?;
                if h.base_offset < from {
                    continue;
                }
                let marker = if h.is_control() {
                    let mut buf = vec![0u8; h.total_size()];
                    file.read_exact_at(&mut buf, at as u64)?;
                    control::read_marker(&buf)
                } else {
                    None
                };
                if let Some(aborted) = txn::track_batch(producers, &h, marker) {
                    if stale {
                        seg.txn_index_mut().append(aborted)?;
                    }
                }
                scanned += 1;
            }
        }
        for seg in self.segments.values_mut().filter(|s| s.txn_index_stale()) {
            seg.txn_index_mut().flush()?;
            seg.mark_txn_index_rebuilt();
        }
        Ok(scanned)
    }
}
