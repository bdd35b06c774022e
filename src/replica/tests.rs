//! Replica-level rules that need several replicas to show on a cluster, driven here on one
//! log by giving the replica an image with followers: the high watermark from the checkpoint
//! then the ISR rule, follower reads past the high watermark, follower fetch state,
//! OFFSET_NOT_AVAILABLE while a new leader's high watermark lags its epoch start, and the
//! epoch start recorded in the epoch cache.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::{Isolation, Replica};
use crate::config::LogConfig;
use crate::error::ErrorCode;
use crate::log::{LogManager, Partition};
use crate::metadata::PartitionImage;

pub(super) const ME: i32 = 0;

pub(super) fn batch(n: usize) -> Bytes {
    let entries: Vec<(Option<Bytes>, Option<Bytes>)> = (0..n)
        .map(|i| (None, Some(Bytes::from(format!("v{i}")))))
        .collect();
    crate::log::records::encode_batch(&entries, None, crate::log::partition::now_ms()).unwrap()
}

pub(super) fn image(replicas: &[i32], isr: &[i32], epoch: i32) -> PartitionImage {
    PartitionImage {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader: ME,
        leader_epoch: epoch,
        partition_epoch: 0,
    }
}

/// A log with `records` records appended in epoch 0 (batches of 2).
pub(super) fn log_with(dir: &std::path::Path, records: usize) -> Arc<Partition> {
    let logs = LogManager::open(dir).unwrap();
    let p = logs
        .create_partition("t", 0, &Uuid::nil().to_string(), LogConfig::default())
        .unwrap();
    {
        let mut log = p.lock().unwrap();
        for _ in 0..records / 2 {
            log.append_as_leader(&batch(2), 0, crate::log::partition::now_ms())
                .unwrap();
        }
        p.publish(&log);
    }
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn high_watermark_starts_from_the_checkpoint_then_follows_the_isr() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_with(dir.path(), 10);
    // ISR {0, 2}: the checkpointed 4 holds until follower 2 reports its log end.
    let r = Replica::new(
        p.clone(),
        Uuid::nil(),
        ME,
        &image(&[0, 2], &[0, 2], 1),
        Some(4),
    );
    assert_eq!(r.log_end_offset(), 10);
    assert_eq!(
        r.high_watermark(),
        4,
        "from the checkpoint, not the log end"
    );
    r.record_follower_fetch(2, 7, 0, 10);
    assert_eq!(r.high_watermark(), 7, "min log end of the ISR");
    r.record_follower_fetch(2, 6, 0, 10);
    assert_eq!(r.high_watermark(), 7, "never backwards");
    r.record_follower_fetch(2, 10, 0, 10);
    assert_eq!(r.high_watermark(), 10);
    let s = r.follower_state(2).unwrap();
    assert_eq!(s.log_end_offset, 10);
    assert!(s.last_caught_up_ms > 0);

    // The single-node case: ISR {0} moves the checkpointed value to the log end at once.
    let r = Replica::new(p, Uuid::nil(), ME, &image(&[0], &[0], 0), Some(4));
    assert_eq!(r.high_watermark(), 10);
    // Not a leader: it starts from the checkpoint and stays there.
    let mut follower = image(&[0, 2], &[0, 2], 1);
    follower.leader = 2;
    let dir2 = tempfile::tempdir().unwrap();
    let r = Replica::new(
        log_with(dir2.path(), 6),
        Uuid::nil(),
        ME,
        &follower,
        Some(99),
    );
    assert_eq!(r.high_watermark(), 6, "clamped to the log end");
    assert!(r.epoch_start_offset().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn followers_read_past_the_high_watermark_consumers_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_with(dir.path(), 6);
    let r = Replica::new(p, Uuid::nil(), ME, &image(&[0, 2], &[0, 2], 0), Some(2));
    assert_eq!(r.high_watermark(), 2);
    let consumer = r
        .read(2, 1 << 20, true, Isolation::HighWatermark)
        .await
        .unwrap();
    assert!(consumer.records.is_empty(), "nothing committed past 2");
    let follower = r.read(2, 1 << 20, true, Isolation::LogEnd).await.unwrap();
    let ranges: Vec<(i64, i64)> = crate::log::batch::BatchWalker::new(&follower.records)
        .map(|(_, h)| (h.base_offset, h.last_offset()))
        .collect();
    assert_eq!(ranges, vec![(2, 3), (4, 5)]);
    assert_eq!(follower.high_watermark, 2);
    assert!(r.check_follower(2, 0).is_ok());
    assert_eq!(
        r.check_follower(5, 0).unwrap_err().code(),
        ErrorCode::UnknownLeaderEpoch
    );
    assert_eq!(
        r.check_follower(5, -1).unwrap_err().code(),
        ErrorCode::NotLeaderOrFollower
    );
    assert_eq!(
        r.check_follower(ME, -1).unwrap_err().code(),
        ErrorCode::NotLeaderOrFollower,
        "the leader is not its own follower"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_leader_lagging_its_epoch_start_answers_offset_not_available() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_with(dir.path(), 8);
    // This node becomes leader of epoch 3 with 8 records of which 5 are known committed.
    let r = Replica::new(p, Uuid::nil(), ME, &image(&[0, 2], &[0, 2], 3), Some(5));
    assert_eq!(r.epoch_start_offset(), Some(8));
    assert_eq!(
        r.offsets_lagging().map(|e| e.code()),
        Some(ErrorCode::OffsetNotAvailable)
    );
    // The epoch is in the cache before any append of it (OffsetForLeaderEpoch answers).
    assert_eq!(r.end_offset_for_epoch(3).await.unwrap(), Some((3, 8)));
    assert_eq!(r.end_offset_for_epoch(2).await.unwrap(), Some((0, 8)));
    assert_eq!(r.end_offset_for_epoch(4).await.unwrap(), None);
    // ... and published with it: the lock-free epoch checks of fetches see it at once.
    assert_eq!(r.latest_epoch().await.unwrap(), 3);
    // The follower catches up: the high watermark reaches the epoch start, offsets are back.
    r.record_follower_fetch(2, 8, 0, 8);
    assert_eq!(r.high_watermark(), 8);
    assert!(r.offsets_lagging().is_none());
    // Epoch checks of requests naming an epoch.
    assert!(r.check_epoch(3, true).is_ok());
    assert_eq!(
        r.check_epoch(2, true).unwrap_err().code(),
        ErrorCode::FencedLeaderEpoch
    );
    assert_eq!(
        r.check_epoch(4, true).unwrap_err().code(),
        ErrorCode::UnknownLeaderEpoch
    );
    // A fetcher claiming epoch 3 records up to 12 diverged at 8; one at 8 did not.
    assert_eq!(r.diverging_epoch(3, 12).await.unwrap(), Some((3, 8)));
    assert_eq!(r.diverging_epoch(3, 8).await.unwrap(), None);
    // Epoch 0 ends where epoch 3 starts: a fetcher of epoch 0 at 8 agrees, one at 9 does not.
    assert_eq!(r.diverging_epoch(0, 8).await.unwrap(), None);
    assert_eq!(r.diverging_epoch(0, 9).await.unwrap(), Some((0, 8)));
}
