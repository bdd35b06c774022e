//! The cleaner threads (Kafka's `LogCleaner` + `LogCleanerManager`): `log.cleaner.threads`
//! std threads at a lower CPU priority than the request path ([`super::priority`]), each
//! owning an [`OffsetMap`] of `log.cleaner.dedupe.buffer.size / threads` bytes (allocated at
//! its first pass, then reused), read and write buffers ([`super::batch_io`]) and its share of
//! the I/O throttle.
//!
//! Choosing a log (Kafka's `grabFilthiestCompactedLog`): among the logs whose `cleanup.policy`
//! contains `compact` and that no other thread is cleaning, those whose dirty ratio (dirty
//! bytes / all cleanable bytes) reaches `min.cleanable.dirty.ratio`, or whose first dirty
//! record is older than `max.compaction.lag.ms`, or whose earliest pending delete horizon has
//! passed; the dirtiest is cleaned. With none, the thread sleeps `log.cleaner.backoff.ms` (or
//! until shutdown). After a pass the first dirty offset goes to the
//! `cleaner-offset-checkpoint` ([`super::checkpoint`]).
//!
//! `compact,delete` logs get both: retention runs in the maintenance round as for any `delete`
//! log, and the cleaner compacts them. The coordinators' logs (`__consumer_offsets`,
//! `__transaction_state`) are `compact` and cleaned like any other.
//!
//! Shutdown: [`LogCleaner::shutdown`] cancels a pass in progress between two batches (its
//! `.cleaned` files are removed, the log left as it was) and joins the threads, before the
//! logs are closed.
//!
//! Thread-safety: the shared state (logs in progress, pending horizons, stop flag) is behind
//! one mutex with a condvar for the backoff sleep.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::batch_io::buffer_size;
use super::checkpoint::CleanerCheckpoint;
use super::offset_map::OffsetMap;
use super::pass::{clean_partition, PassParams};
use super::priority;
use super::swap::NoFaults;
use super::throttle::Throttler;
use crate::config::CleanerConfig;
use crate::log::partition::{now_ms, Partition};

/// Where the cleaner finds the logs (the broker's hosted and internal partitions).
pub type LogSource = Arc<dyn Fn() -> Vec<Arc<Partition>> + Send + Sync>;

/// A log's high watermark, if a layer above keeps one for it (the replica layer does for
/// hosted partitions; the coordinators' logs have none): the cleaner never cleans at or past
/// it, as Kafka's cleaner stops at the first uncleanable offset, so records not yet
/// committed are never compacted away. Read when a log is inspected and when its pass
/// starts; a high watermark only grows, and a truncation below it makes the pass abandon its
/// swap.
pub type HighWatermarkOf = Arc<dyn Fn(&Partition) -> Option<i64> + Send + Sync>;

type Key = (String, i32);

#[derive(Default)]
struct State {
    in_progress: HashSet<Key>,
    /// The earliest delete horizon left in each cleaned log.
    horizons: HashMap<Key, i64>,
    stopping: bool,
}

/// The running cleaner (see the module doc).
pub struct LogCleaner {
    config: CleanerConfig,
    high_watermark: HighWatermarkOf,
    checkpoint: CleanerCheckpoint,
    state: Mutex<State>,
    wake: Condvar,
    cancel: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Passes completed, for tests and logs.
    passes: std::sync::atomic::AtomicU64,
}

fn key(p: &Partition) -> Key {
    (p.topic().to_string(), p.index())
}

impl LogCleaner {
    /// Starts `config.threads` cleaner threads over the logs `source` lists (none when
    /// `log.cleaner.enable` is false).
    pub fn start(
        config: CleanerConfig,
        data_dir: &Path,
        source: LogSource,
        high_watermark: HighWatermarkOf,
    ) -> std::io::Result<Arc<LogCleaner>> {
        let cleaner = Arc::new(LogCleaner {
            high_watermark,
            checkpoint: CleanerCheckpoint::load(data_dir),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            cancel: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            passes: Default::default(),
            config,
        });
        if cleaner.config.enable {
            let n = cleaner.config.threads;
            for id in 0..n {
                let c = cleaner.clone();
                let src = source.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("gregor-cleaner-{id}"))
                    .spawn(move || {
                        priority::lower_current_thread();
                        c.run(src)
                    })?;
                cleaner.lock_threads().push(handle);
            }
        }
        Ok(cleaner)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_threads(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Passes completed since start.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// Stops the threads, cancelling a pass in progress, and waits for them (blocking).
    pub fn shutdown(&self) {
        self.lock_state().stopping = true;
        self.cancel.store(true, Ordering::Relaxed);
        self.wake.notify_all();
        let handles: Vec<_> = self.lock_threads().drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }

    fn run(&self, source: LogSource) {
        let threads = self.config.threads.max(1);
        let memory = (self.config.dedupe_buffer_size / threads as u64) as usize;
        let mut map: Option<OffsetMap> = None;
        let mut throttle = Throttler::new(self.config.io_max_bytes_per_second / threads as f64);
        loop {
            if self.lock_state().stopping {
                return;
            }
            let logs = source();
            match self.grab_filthiest(&logs) {
                Some(p) => {
                    let map = map.get_or_insert_with(|| {
                        OffsetMap::new(memory, self.config.io_buffer_load_factor)
                    });
                    self.clean_one(&p, &logs, map, &mut throttle);
                    self.lock_state().in_progress.remove(&key(&p));
                }
                None => {
                    let state = self.lock_state();
                    if state.stopping {
                        return;
                    }
                    let backoff = Duration::from_millis(self.config.backoff_ms.max(1));
                    let _ = self.wake.wait_timeout(state, backoff);
                }
            }
        }
    }

    /// The dirtiest cleanable log, marked in progress.
    fn grab_filthiest(&self, logs: &[Arc<Partition>]) -> Option<Arc<Partition>> {
        let now = now_ms();
        let mut best: Option<(f64, Arc<Partition>)> = None;
        for p in logs {
            let k = key(p);
            let horizon = {
                let st = self.lock_state();
                if st.in_progress.contains(&k) {
                    continue;
                }
                st.horizons.get(&k).copied()
            };
            let checkpoint = self.checkpoint.get(&k.0, k.1);
            let snap = {
                let Ok(log) = p.lock() else { continue };
                if !log.config().compact {
                    continue;
                }
                match log.clean_snapshot(checkpoint, (self.high_watermark)(p), now) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("cleaner: cannot inspect {}-{}: {e}", k.0, k.1);
                        continue;
                    }
                }
            };
            let total = snap.clean_bytes + snap.dirty_bytes;
            let ratio = if total == 0 {
                0.0
            } else {
                snap.dirty_bytes as f64 / total as f64
            };
            let dirty = snap.dirty_bytes > 0;
            let overdue = dirty
                && snap
                    .first_dirty_timestamp
                    .is_some_and(|ts| now.saturating_sub(ts) > snap.config.max_compaction_lag_ms);
            let expired = horizon.is_some_and(|h| h <= now);
            let wanted =
                (dirty && ratio >= snap.config.min_cleanable_dirty_ratio) || overdue || expired;
            if wanted && best.as_ref().is_none_or(|(r, _)| ratio > *r) {
                best = Some((ratio, p.clone()));
            }
        }
        let (_, p) = best?;
        let mut st = self.lock_state();
        if st.stopping || !st.in_progress.insert(key(&p)) {
            return None;
        }
        Some(p)
    }

    fn clean_one(
        &self,
        p: &Arc<Partition>,
        logs: &[Arc<Partition>],
        map: &mut OffsetMap,
        throttle: &mut Throttler,
    ) {
        let k = key(p);
        let params = PassParams {
            checkpoint: self.checkpoint.get(&k.0, k.1),
            high_watermark: (self.high_watermark)(p),
            now_ms: now_ms(),
            faults: &NoFaults,
            cancel: &self.cancel,
            io_buffer_size: buffer_size(self.config.io_buffer_size, self.config.threads),
        };
        match clean_partition(p, map, throttle, &params) {
            Ok(Some(out)) => {
                self.passes.fetch_add(1, Ordering::Relaxed);
                {
                    let mut st = self.lock_state();
                    match out.next_horizon {
                        Some(h) => st.horizons.insert(k.clone(), h),
                        None => st.horizons.remove(&k),
                    };
                }
                if out.abandoned {
                    tracing::info!(
                        "cleaner: {}-{} changed while cleaning; retrying later",
                        k.0,
                        k.1
                    );
                    return;
                }
                tracing::info!(
                    "cleaned {}-{}: {} segment(s) into {}, {} → {} bytes, clean up to offset {}",
                    k.0,
                    k.1,
                    out.segments_cleaned,
                    out.groups,
                    out.bytes_read,
                    out.bytes_written,
                    out.next_dirty_offset
                );
                let live: HashSet<Key> = logs.iter().map(|p| key(p)).collect();
                if let Err(e) = self
                    .checkpoint
                    .update(&k.0, k.1, out.next_dirty_offset, &live)
                {
                    tracing::error!("cleaner: writing the checkpoint failed: {e}");
                }
            }
            Ok(None) => {
                self.lock_state().horizons.remove(&k);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::error!("cleaner: cleaning {}-{} failed: {e}", k.0, k.1);
                // Not retried before the backoff: keep it marked a while by sleeping.
                let st = self.lock_state();
                let backoff = Duration::from_millis(self.config.backoff_ms.max(1));
                let _ = self.wake.wait_timeout(st, backoff);
            }
        }
    }
}
