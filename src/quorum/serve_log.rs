//! The leader's side of serving the metadata log to observers (broker-only nodes, KRaft's
//! observers): committed batches for their Fetch of `__cluster_metadata`, snapshot files for
//! FetchSnapshot, and what each observer last fetched, for DescribeQuorum's `observers`.
//!
//! Only committed data is served (below the quorum's high watermark), so an observer never
//! has to truncate. Observers not heard from for 300 s are forgotten (KafkaRaftClient's rule).
//!
//! Thread-safety: every method is called on blocking threads; the observer table sits under
//! its own mutex in [`Quorum`].

use super::{snapshot, Quorum};
use crate::error::{Error, ErrorCode, Result};

/// What the leader knows of one observer (a broker-only node fetching the log), for
/// DescribeQuorum's `observers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserverState {
    pub replica_id: i32,
    /// The offset it fetched from (its log end offset).
    pub log_end_offset: i64,
    pub last_fetch_ms: i64,
    /// Last time it fetched from the high watermark or beyond (−1: never).
    pub last_caught_up_ms: i64,
}

/// Committed metadata log bytes for an observer's fetch.
#[derive(Debug, Clone)]
pub struct CommittedRead {
    /// Whole batches from the fetch offset, all below the high watermark.
    pub records: bytes::Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// Observers not heard from this long are dropped (KafkaRaftClient's 300 s).
const OBSERVER_EXPIRY_MS: i64 = 300_000;

impl Quorum {
    /// Reads committed batches from `offset` for observer `replica_id` and records its fetch
    /// (blocking, small reads). Not the leader: NOT_LEADER_OR_FOLLOWER; `offset` outside
    /// `[log start, high watermark]`: OFFSET_OUT_OF_RANGE.
    pub fn read_committed(
        &self,
        replica_id: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<CommittedRead> {
        if !self.is_leader() {
            return Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                "this node is not the leader of the metadata quorum",
            ));
        }
        let hw = self.high_watermark();
        let partition = self
            .log
            .partition()
            .ok_or_else(|| Error::internal("metadata log store lock poisoned"))?;
        let (records, start) = {
            let log = partition.lock()?;
            let start = log.log_start_offset();
            if offset > hw || offset < start {
                return Err(Error::kafka(
                    ErrorCode::OffsetOutOfRange,
                    format!("offset {offset} is outside [{start}, {hw}]"),
                ));
            }
            (log.read(offset, hw, max_bytes, true)?, start)
        };
        if replica_id >= 0 {
            let now = crate::log::partition::now_ms();
            if let Ok(mut o) = self.observers.lock() {
                let caught_up = offset >= hw;
                let prev = o.get(&replica_id).map_or(-1, |s| s.last_caught_up_ms);
                o.insert(
                    replica_id,
                    ObserverState {
                        replica_id,
                        log_end_offset: offset,
                        last_fetch_ms: now,
                        last_caught_up_ms: if caught_up { now } else { prev },
                    },
                );
                o.retain(|_, s| now - s.last_fetch_ms <= OBSERVER_EXPIRY_MS);
            }
        }
        Ok(CommittedRead {
            records,
            high_watermark: hw,
            log_start_offset: start,
        })
    }

    /// The newest snapshot file of the metadata log: (end offset, epoch, path).
    pub fn latest_snapshot(&self) -> Option<(i64, i32, std::path::PathBuf)> {
        let (path, end) = snapshot::newest(&self.log.dir()).ok()??;
        let epoch = path
            .file_name()?
            .to_str()?
            .strip_suffix(snapshot::SUFFIX)?
            .split_once('-')?
            .1
            .parse::<i32>()
            .ok()?;
        Some((end, epoch, path))
    }

    /// FetchSnapshot: up to `max_bytes` of snapshot `(end_offset, epoch)` from `position`,
    /// with the file's size (blocking). Not the leader: NOT_LEADER_OR_FOLLOWER; no such
    /// snapshot: SNAPSHOT_NOT_FOUND; a position outside the file: POSITION_OUT_OF_RANGE.
    pub fn read_snapshot(
        &self,
        end_offset: i64,
        epoch: i32,
        position: i64,
        max_bytes: usize,
    ) -> Result<(i64, bytes::Bytes)> {
        use std::io::{Read, Seek, SeekFrom};
        if !self.is_leader() {
            return Err(Error::kafka(
                ErrorCode::NotLeaderOrFollower,
                "this node is not the leader of the metadata quorum",
            ));
        }
        let name = format!(
            "{}{}",
            snapshot::snapshot_name(end_offset, u64::try_from(epoch).unwrap_or(0)),
            snapshot::SUFFIX
        );
        let mut f = std::fs::File::open(self.log.dir().join(name)).map_err(|_| {
            Error::kafka(
                ErrorCode::SnapshotNotFound,
                format!("no snapshot {end_offset}-{epoch}"),
            )
        })?;
        let size = i64::try_from(f.metadata()?.len()).unwrap_or(i64::MAX);
        if position < 0 || position > size {
            return Err(Error::kafka(
                ErrorCode::PositionOutOfRange,
                format!("position {position} is outside the snapshot's {size} bytes"),
            ));
        }
        let want = usize::try_from(size - position)
            .unwrap_or(0)
            .min(max_bytes.max(1));
        f.seek(SeekFrom::Start(position as u64))?;
        let mut buf = vec![0u8; want];
        f.read_exact(&mut buf)?;
        Ok((size, bytes::Bytes::from(buf)))
    }

    /// The observers heard from recently (voters excluded), by id.
    pub fn observers(&self) -> Vec<ObserverState> {
        let voters = self.describe().voters;
        self.observers
            .lock()
            .map(|o| {
                o.values()
                    .filter(|s| !voters.contains(&s.replica_id))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }
}
