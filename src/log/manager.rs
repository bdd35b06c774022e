//! All partition logs of the data directory: opening them at start-up (recovering after an
//! unclean stop), creating and deleting them, the checkpoint files, and the periodic work —
//! retention, time-based flushes, checkpoints — Kafka's `LogManager`, minus the topic
//! registry, which lives in [`crate::metadata`].
//!
//! Checkpoint format (Kafka's `OffsetCheckpointFile`): a version line `0`, a count line, then
//! `topic partition offset` per line; replaced atomically and durably ([`crate::fs::write_atomic`]),
//! one writer at a time.
//!
//! Thread-safety: immutable after start-up apart from the checkpoint maps, which are behind a
//! mutex; every method that touches files is blocking and must run off the async workers.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::LogConfig;

use super::layout;
use super::partition::{now_ms, Partition};
use super::partition_log::{LoadOptions, PartitionLog};

pub type Checkpoint = HashMap<(String, i32), i64>;

/// Owner of the data directory's partition logs (see the module doc).
pub struct LogManager {
    data_dir: PathBuf,
    clean_shutdown: bool,
    recovery_points: Mutex<Checkpoint>,
    log_starts: Mutex<Checkpoint>,
    /// Serialises checkpoint writes (maintenance, DeleteRecords, shutdown): one temp file each,
    /// and no older snapshot of the offsets written over a newer one. Taken before any
    /// partition lock, never while holding one.
    checkpoint_writer: Mutex<()>,
}

/// Reads an `OffsetCheckpointFile` (see the module doc); missing or unreadable: empty.
pub fn read_checkpoint(path: &Path) -> Checkpoint {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (t, p, o) = (
                it.next()?,
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
            );
            Some(((t.to_string(), p), o))
        })
        .collect()
}

/// Replaces an `OffsetCheckpointFile` atomically and durably.
pub fn write_checkpoint(path: &Path, entries: &[(String, i32, i64)]) -> io::Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for (t, p, o) in entries {
        text.push_str(&format!("{t} {p} {o}\n"));
    }
    crate::fs::write_atomic(path, text.as_bytes())
}

impl LogManager {
    /// Prepares the data directory. Whether the last stop was clean is decided here, and the
    /// marker removed, so a crash from now on is seen as unclean at the next start.
    pub fn open(data_dir: &Path) -> io::Result<LogManager> {
        std::fs::create_dir_all(data_dir)?;
        Self::remove_leftover_deletions(data_dir);
        let marker = data_dir.join(layout::CLEAN_SHUTDOWN_FILE);
        let clean_shutdown = marker.exists();
        if clean_shutdown {
            std::fs::remove_file(&marker)?;
            // Durably: a marker back after a power loss would skip recovery of torn segments.
            crate::fs::sync_dir(data_dir)?;
        }
        Ok(LogManager {
            data_dir: data_dir.to_path_buf(),
            clean_shutdown,
            recovery_points: Mutex::new(read_checkpoint(
                &data_dir.join(layout::RECOVERY_POINT_FILE),
            )),
            log_starts: Mutex::new(read_checkpoint(&data_dir.join(layout::LOG_START_FILE))),
            checkpoint_writer: Mutex::new(()),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the previous stop was clean (indexes trusted, nothing recovered).
    pub fn was_clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    fn checkpointed(map: &Mutex<Checkpoint>, topic: &str, partition: i32) -> i64 {
        map.lock()
            .ok()
            .and_then(|m| m.get(&(topic.to_string(), partition)).copied())
            .unwrap_or(0)
    }

    /// Opens (or creates) the log of one partition.
    pub fn open_partition(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
    ) -> io::Result<Arc<Partition>> {
        let dir = layout::partition_dir(&self.data_dir, topic, partition);
        let opts = LoadOptions {
            clean_shutdown: self.clean_shutdown,
            recovery_point: Self::checkpointed(&self.recovery_points, topic, partition),
            log_start_offset: Self::checkpointed(&self.log_starts, topic, partition),
        };
        let (log, report) = PartitionLog::open(&dir, config, opts, now_ms())?;
        if report.recovered_segments > 0 {
            tracing::info!(
                "recovered {topic}-{partition}: {} of {} segments re-validated, {} bytes truncated, log end {}",
                report.recovered_segments,
                report.segments,
                report.truncated_bytes,
                log.log_end_offset()
            );
        }
        Ok(Arc::new(Partition::new(topic, partition, log)))
    }

    /// Creates a new partition's directory, with Kafka's `partition.metadata` file.
    pub fn create_partition(
        &self,
        topic: &str,
        partition: i32,
        topic_id: &str,
        config: LogConfig,
    ) -> io::Result<Arc<Partition>> {
        let dir = layout::partition_dir(&self.data_dir, topic, partition);
        if dir.exists() {
            // Left over from a topic of the same name that was deleted without cleanup.
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        crate::fs::write_atomic(
            &dir.join("partition.metadata"),
            format!("version: 0\ntopic_id: {topic_id}\n").as_bytes(),
        )?;
        for map in [&self.recovery_points, &self.log_starts] {
            if let Ok(mut m) = map.lock() {
                m.remove(&(topic.to_string(), partition));
            }
        }
        self.open_partition(topic, partition, config)
    }

    /// Deletes a partition's log and directory as Kafka does: the directory is first renamed
    /// to `<topic>-<partition>.<uuid>-delete` (durably), so a crash half-way through the
    /// removal never leaves a partial `<topic>-<partition>` to be opened as a log; leftovers
    /// are removed at the next start ([`LogManager::open`]).
    pub fn delete_partition(&self, p: &Partition) -> io::Result<()> {
        let dir = layout::partition_dir(&self.data_dir, p.topic(), p.index());
        for map in [&self.recovery_points, &self.log_starts] {
            if let Ok(mut m) = map.lock() {
                m.remove(&(p.topic().to_string(), p.index()));
            }
        }
        let doomed = self.data_dir.join(format!(
            "{}-{}.{}{}",
            p.topic(),
            p.index(),
            uuid::Uuid::new_v4().simple(),
            layout::DELETE_DIR_SUFFIX
        ));
        match std::fs::rename(&dir, &doomed) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
            Ok(()) => crate::fs::sync_dir(&self.data_dir)?,
        }
        match std::fs::remove_dir_all(&doomed) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes directories a deletion renamed but did not finish removing (a crash).
    fn remove_leftover_deletions(data_dir: &Path) {
        let Ok(entries) = std::fs::read_dir(data_dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().ends_with(layout::DELETE_DIR_SUFFIX) && e.path().is_dir() {
                if let Err(err) = std::fs::remove_dir_all(e.path()) {
                    tracing::warn!("removing {} failed: {err}", e.path().display());
                }
            }
        }
    }

    /// Writes both checkpoint files for these partitions. Writers take turns, each reading the
    /// offsets after the previous one wrote, so the last file written holds the newest values.
    pub fn write_checkpoints(&self, partitions: &[Arc<Partition>]) -> io::Result<()> {
        let _writer = self
            .checkpoint_writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut rps = Vec::with_capacity(partitions.len());
        let mut starts = Vec::with_capacity(partitions.len());
        for p in partitions {
            let Ok(log) = p.lock() else { continue };
            rps.push((p.topic().to_string(), p.index(), log.recovery_point()));
            starts.push((p.topic().to_string(), p.index(), log.log_start_offset()));
        }
        write_checkpoint(&self.data_dir.join(layout::RECOVERY_POINT_FILE), &rps)?;
        write_checkpoint(&self.data_dir.join(layout::LOG_START_FILE), &starts)
    }

    /// One round of periodic work: time-based flushes and, when `retention_due`, retention.
    pub fn maintain(&self, partitions: &[Arc<Partition>], retention_due: bool) {
        let now = now_ms();
        for p in partitions {
            let Ok(mut log) = p.lock() else { continue };
            log.release_idle_files();
            if let Err(e) = log.flush_if_due(now) {
                tracing::error!("flush of {}-{} failed: {e}", p.topic(), p.index());
            }
            if retention_due {
                match log.enforce_retention(now) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        "retention deleted {n} segment(s) of {}-{}; log start now {}",
                        p.topic(),
                        p.index(),
                        log.log_start_offset()
                    ),
                    Err(e) => {
                        tracing::error!("retention of {}-{} failed: {e}", p.topic(), p.index())
                    }
                }
            }
            p.publish(&log);
        }
    }

    /// Clean shutdown: close every log, write checkpoints, then the clean-shutdown marker.
    pub fn shutdown(&self, partitions: &[Arc<Partition>]) -> io::Result<()> {
        let now = now_ms();
        let mut ok = true;
        for p in partitions {
            match p
                .lock()
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|mut l| l.close(now))
            {
                Ok(()) => {}
                Err(e) => {
                    ok = false;
                    tracing::error!("closing {}-{} failed: {e}", p.topic(), p.index());
                }
            }
        }
        self.write_checkpoints(partitions)?;
        if ok {
            crate::fs::write_atomic(&self.data_dir.join(layout::CLEAN_SHUTDOWN_FILE), b"")?;
        }
        Ok(())
    }
}
