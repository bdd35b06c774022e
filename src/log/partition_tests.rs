//! Tests of [`super::partition::Partition`]'s two ways to the log: the hot paths on the async
//! worker (an append that neither rolls nor fsyncs, a read of the active segment's tail) and
//! the hand-off off the worker (a roll, `flush.messages`, a read of an older segment, a lock
//! held by someone else), on the broker's multi-threaded runtime.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::batch::BatchWalker;
use super::partition::{now_ms, Partition};
use super::partition_log::{LoadOptions, PartitionLog};
use super::records::encode_batch;
use crate::config::BrokerConfig;

fn open(dir: &Path, overrides: &[(&str, &str)]) -> Arc<Partition> {
    let o: BTreeMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cfg = BrokerConfig::default().log_config(&o);
    let opts = LoadOptions {
        clean_shutdown: true,
        recovery_point: 0,
        log_start_offset: 0,
    };
    let log = PartitionLog::open(dir, cfg, opts, now_ms())
        .expect("open")
        .0;
    Arc::new(Partition::new("t", 0, log))
}

/// One batch of `n` records whose values are `size` bytes of `marker`.
fn batch(marker: u8, n: usize, size: usize) -> Bytes {
    let entries: Vec<_> = (0..n)
        .map(|_| (None, Some(Bytes::from(vec![marker; size]))))
        .collect();
    encode_batch(&entries, None, now_ms()).expect("encode")
}

/// `(base offset, record count)` of every batch in `bytes`.
fn batches(bytes: &[u8]) -> Vec<(i64, i32)> {
    BatchWalker::new(bytes)
        .map(|(_, h)| (h.base_offset, h.record_count))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn appends_and_tail_reads_on_the_worker_and_rolls_off_it_give_the_same_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small segments: every few appends roll (off the worker), so reads of the first
    // segments are cold reads and those of the last one hot.
    let p = open(dir.path(), &[("segment.bytes", "4096")]);
    runtime().block_on(async {
        let mut next = 0;
        for i in 0..40u8 {
            let info = p.append(batch(i, 3, 300)).await.expect("append");
            assert_eq!((info.base_offset, info.last_offset), (next, next + 2));
            next += 3;
        }
        assert_eq!(p.log_end_offset(), 120);
        let rolled = p
            .run(|log| Ok(log.segments().count()))
            .await
            .expect("segments");
        assert!(rolled > 1, "segment.bytes 4096 rolled: {rolled} segments");
        // Every batch, read from each offset: the tail (hot) and the older segments (cold).
        for offset in (0..120).step_by(3) {
            let r = p.read(offset, 1 << 20, true).await.expect("read");
            assert_eq!(r.high_watermark, 120);
            let got = batches(&r.records);
            assert_eq!(got.first(), Some(&(offset, 3)), "read from {offset}");
            let marker = (offset / 3) as u8;
            assert!(r
                .records
                .windows(300)
                .any(|w| w.iter().all(|b| *b == marker)));
        }
        // Bounded: nothing at or past max_offset.
        let r = p
            .read_bounded(111, 117, 1 << 20, true)
            .await
            .expect("bounded");
        assert_eq!(batches(&r.records), vec![(111, 3), (114, 3)]);
        let r = p.read(120, 1 << 20, true).await.expect("at the end");
        assert!(r.records.is_empty());
        assert!(p.read(121, 1 << 20, true).await.is_err(), "past the end");
    });
}

#[test]
fn an_append_waits_for_a_lock_held_elsewhere_and_flush_messages_still_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = open(dir.path(), &[("flush.messages", "2")]);
    let rt = runtime();
    rt.block_on(async {
        assert!(p.lock().expect("lock").append_may_block(100, now_ms()));
    });
    let guard = p.lock().expect("lock");
    let task = rt.spawn({
        let p = p.clone();
        async move { p.append(batch(1, 1, 10)).await }
    });
    drop(guard);
    let info = rt.block_on(task).expect("join").expect("append");
    assert_eq!(info.base_offset, 0);
    rt.block_on(async {
        p.append(batch(2, 1, 10)).await.expect("second append");
        let r = p.read(0, 1 << 20, true).await.expect("read");
        assert_eq!(batches(&r.records), vec![(0, 1), (1, 1)]);
    });
    // flush.messages=2 fsynced after the second record: the recovery point is the log end.
    assert_eq!(p.lock().expect("lock").recovery_point(), 2);
}

#[test]
fn the_default_config_keeps_a_small_append_on_the_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = open(dir.path(), &[]);
    let log = p.lock().expect("lock");
    assert!(!log.append_may_block(64 << 10, now_ms()));
    assert!(
        log.append_may_block(2 << 30, now_ms()),
        "past segment.bytes"
    );
}
