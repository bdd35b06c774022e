//! Tests of whole cleaning passes on a disk log: compaction keeps the latest record per key at
//! its offset, tombstones get a delete horizon and go after it, a tiny offset map cleans in
//! several passes, aborted transactions disappear, idempotent producer state survives
//! cleaning and a restart, and a crash before every step of the swap protocol reopens to a
//! consistent log.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::{clean_partition, NoFaults, OffsetMap, PassOutcome, PassParams, SwapFaults, Throttler};
use crate::config::LogConfig;
use crate::log::batch::{self, ATTRIBUTES_POS, CRC_POS, TRANSACTIONAL_BIT};
use crate::log::control::ControlType;
use crate::log::partition::Partition;
use crate::log::partition_log::{LoadOptions, PartitionLog};

const NOW: i64 = 1_000_000;

fn cfg() -> LogConfig {
    LogConfig {
        segment_bytes: 700,
        index_interval_bytes: 100,
        compact: true,
        delete: false,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean: bool) -> PartitionLog {
    let opts = LoadOptions {
        clean_shutdown: clean,
        recovery_point: 0,
        log_start_offset: 0,
    };
    PartitionLog::open(dir, cfg(), opts, NOW).expect("open").0
}

fn keyed(entries: &[(String, Option<String>)], producer: Option<(i64, i16, i32)>) -> Vec<u8> {
    let e: Vec<_> = entries
        .iter()
        .map(|(k, v)| (Some(Bytes::from(k.clone())), v.clone().map(Bytes::from)))
        .collect();
    crate::log::records::encode_batch(&e, producer, NOW)
        .expect("encode")
        .to_vec()
}

fn put(log: &mut PartitionLog, key: &str, value: Option<&str>) -> i64 {
    let b = keyed(&[(key.to_string(), value.map(str::to_string))], None);
    log.append(&b, NOW).expect("append").base_offset
}

/// Every record from offset 0: `(offset, key, value)`.
fn contents(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    crate::log::records::for_each_record(log, 0, |r| {
        let key = r
            .key
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .unwrap_or_default();
        let value = r.value.map(|v| String::from_utf8_lossy(&v).into_owned());
        out.push((r.offset, key, value));
        Ok(())
    })
    .expect("read");
    out
}

fn pass(
    p: &Partition,
    map: &mut OffsetMap,
    checkpoint: Option<i64>,
    now: i64,
    faults: &dyn SwapFaults,
) -> std::io::Result<Option<PassOutcome>> {
    pass_below(p, map, checkpoint, None, now, faults)
}

/// A pass that may not clean at or past `high_watermark`.
fn pass_below(
    p: &Partition,
    map: &mut OffsetMap,
    checkpoint: Option<i64>,
    high_watermark: Option<i64>,
    now: i64,
    faults: &dyn SwapFaults,
) -> std::io::Result<Option<PassOutcome>> {
    let params = PassParams {
        checkpoint,
        high_watermark,
        now_ms: now,
        faults,
        cancel: &std::sync::atomic::AtomicBool::new(false),
        // Small buffers: batches cross buffer boundaries and some exceed a buffer.
        io_buffer_size: 300,
    };
    clean_partition(p, map, &mut Throttler::new(f64::MAX), &params)
}

/// Asserts offsets strictly increase and every key's latest write below `cleaned_to` is
/// there, alone, unless it is a tombstone that may have expired.
fn check_compacted(
    recs: &[(i64, String, Option<String>)],
    writes: &[(i64, String, Option<String>)],
    cleaned_to: i64,
    tombstones_may_go: bool,
) {
    assert!(
        recs.windows(2).all(|w| w[0].0 < w[1].0),
        "offsets increase: {recs:?}"
    );
    let mut latest: BTreeMap<&str, (i64, &Option<String>)> = BTreeMap::new();
    for (o, k, v) in writes {
        latest.insert(k, (*o, v));
    }
    for r in recs {
        assert!(writes.contains(r), "{r:?} was written");
    }
    for (k, (o, v)) in &latest {
        let present = recs.iter().any(|r| r.0 == *o);
        if v.is_some() || !tombstones_may_go {
            assert!(present, "latest of {k} at {o} kept");
        }
        if *o < cleaned_to {
            let older = recs.iter().filter(|r| r.1 == *k && r.0 < *o).count();
            assert_eq!(older, 0, "older records of {k} removed");
        }
    }
}

#[test]
fn compaction_keeps_latest_per_key_and_expires_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    let mut writes = Vec::new();
    for i in 0..60 {
        let k = if i == 10 || i == 20 {
            "dead".to_string()
        } else {
            format!("k{}", i % 7)
        };
        let v = if i == 20 { None } else { Some(format!("v{i}")) };
        let o = put(&mut log, &k, v.as_deref());
        writes.push((o, k, v));
    }
    let segments_before = log.segments().count();
    let bytes_before = log.size_bytes();
    assert!(segments_before > 3);
    let active_base = log.segments().last().unwrap().base_offset();
    let p = Partition::new("t", 0, log);
    let mut map = OffsetMap::new(1 << 16, 0.9);
    let out = pass(&p, &mut map, None, NOW, &NoFaults)
        .unwrap()
        .expect("cleaned");
    assert_eq!(out.next_dirty_offset, active_base);
    assert!(!out.abandoned);
    let log = p.lock().unwrap();
    assert!(log.size_bytes() < bytes_before);
    let recs = contents(&log);
    check_compacted(&recs, &writes, active_base, false);
    // The tombstone of "dead" at 20 is kept with a horizon until delete.retention.ms passes.
    assert!(recs.iter().any(|r| r.0 == 20 && r.2.is_none()));
    assert!(!recs.iter().any(|r| r.0 == 10));
    drop(log);
    let out = pass(&p, &mut map, Some(active_base), NOW + 500, &NoFaults).unwrap();
    assert!(out.is_some(), "the clean part is cleaned again");
    assert!(contents(&p.lock().unwrap()).iter().any(|r| r.0 == 20));
    assert!(
        p.lock().unwrap().segments().count() < segments_before,
        "cleaned segments regrouped"
    );
    pass(&p, &mut map, Some(active_base), NOW + 1_001, &NoFaults).unwrap();
    let log = p.lock().unwrap();
    let recs = contents(&log);
    assert!(
        !recs.iter().any(|r| r.0 == 20),
        "expired tombstone removed: {recs:?}"
    );
    check_compacted(&recs, &writes, active_base, true);
    // Reopen: the cleaned segments load and read the same.
    let before = recs.clone();
    let mut log = log;
    log.close(NOW).unwrap();
    drop(log);
    drop(p);
    let log = open(dir.path(), true);
    assert_eq!(contents(&log), before);
    let log = open(dir.path(), false);
    assert_eq!(contents(&log), before, "after recovery too");
}

#[test]
fn a_small_offset_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    let mut writes = Vec::new();
    for round in 0..4 {
        for k in 0..20 {
            let (key, v) = (format!("key{k}"), Some(format!("r{round}")));
            let o = put(&mut log, &key, v.as_deref());
            writes.push((o, key, v));
        }
    }
    put(&mut log, "tail", Some("x"));
    writes.push((80, "tail".into(), Some("x".into())));
    log.roll(NOW).unwrap();
    let leo = log.log_end_offset();
    let p = Partition::new("t", 0, log);
    // Room for 5 keys per pass.
    let mut map = OffsetMap::new(24 * 6, 0.9);
    let mut checkpoint = None;
    let mut passes = 0;
    while checkpoint != Some(leo) {
        let out = pass(&p, &mut map, checkpoint, NOW, &NoFaults)
            .unwrap()
            .expect("progress");
        assert!(checkpoint.is_none_or(|c| out.next_dirty_offset > c));
        checkpoint = Some(out.next_dirty_offset);
        passes += 1;
        assert!(passes < 100);
    }
    assert!(passes > 3, "{passes} passes");
    let recs = contents(&p.lock().unwrap());
    check_compacted(&recs, &writes, leo, false);
    assert_eq!(recs.len(), 21, "{recs:?}");
}

#[test]
fn nothing_at_or_past_the_high_watermark_is_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    let mut writes = Vec::new();
    for i in 0..60 {
        let (key, v) = (format!("k{}", i % 3), Some(format!("v{i}")));
        let o = put(&mut log, &key, v.as_deref());
        writes.push((o, key, v));
    }
    log.roll(NOW).unwrap();
    let leo = log.log_end_offset();
    let p = Partition::new("t", 0, log);
    let mut map = OffsetMap::new(1 << 16, 0.9);
    let hw = 30;
    let out = pass_below(&p, &mut map, None, Some(hw), NOW, &NoFaults)
        .unwrap()
        .expect("something below the high watermark to clean");
    assert!(out.next_dirty_offset <= hw, "{}", out.next_dirty_offset);
    assert!(out.segments_cleaned > 0);
    let recs = contents(&p.lock().unwrap());
    let from_hw: Vec<_> = writes.iter().filter(|w| w.0 >= hw).cloned().collect();
    let kept_from_hw: Vec<_> = recs.iter().filter(|r| r.0 >= hw).cloned().collect();
    assert_eq!(
        kept_from_hw, from_hw,
        "every record at or past the high watermark kept"
    );
    assert!(
        recs.len() < writes.len(),
        "older duplicates below it removed"
    );
    check_compacted(&recs, &writes, out.next_dirty_offset, false);
    // Once the high watermark reaches the log end, the rest is cleaned too.
    let out = pass_below(
        &p,
        &mut map,
        Some(out.next_dirty_offset),
        Some(leo),
        NOW,
        &NoFaults,
    )
    .unwrap()
    .expect("progress");
    assert_eq!(out.next_dirty_offset, leo);
    let recs = contents(&p.lock().unwrap());
    check_compacted(&recs, &writes, leo, false);
    assert_eq!(recs.len(), 3, "{recs:?}");
}

fn txn_batch(pid: i64, seq: i32, key: &str, value: &str) -> Vec<u8> {
    let mut b = keyed(&[(key.into(), Some(value.into()))], Some((pid, 0, seq)));
    let attrs = i16::from_be_bytes([b[ATTRIBUTES_POS], b[ATTRIBUTES_POS + 1]]);
    b[ATTRIBUTES_POS..ATTRIBUTES_POS + 2]
        .copy_from_slice(&(attrs | TRANSACTIONAL_BIT).to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn aborted_data_goes_committed_stays_and_producer_state_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    // Producer 7, idempotent: its last batch ends up superseded by another producer's write.
    for seq in 0..3 {
        let b = keyed(
            &[("idem".into(), Some(format!("s{seq}")))],
            Some((7, 0, seq)),
        );
        log.append(&b, NOW).unwrap();
    }
    // Producer 8: an aborted transaction, then a committed one.
    log.append(&txn_batch(8, 0, "t", "aborted"), NOW).unwrap();
    log.append_control(8, 0, ControlType::Abort, 0, 0, NOW)
        .unwrap();
    log.append(&txn_batch(8, 1, "t", "committed"), NOW).unwrap();
    log.append_control(8, 0, ControlType::Commit, 0, 0, NOW)
        .unwrap();
    put(&mut log, "idem", Some("plain"));
    for i in 0..10 {
        put(&mut log, &format!("f{i}"), Some("x"));
    }
    log.roll(NOW).unwrap();
    let summary_before = log.active_producers();
    let p = Partition::new("t", 0, log);
    let mut map = OffsetMap::new(1 << 16, 0.9);
    pass(&p, &mut map, None, NOW, &NoFaults)
        .unwrap()
        .expect("cleaned");
    // Markers of emptied transactions go after their horizon.
    pass(&p, &mut map, None, NOW + 2_000, &NoFaults).unwrap();
    let mut log = p.lock().unwrap();
    let recs = contents(&log);
    let values: Vec<_> = recs.iter().filter_map(|r| r.2.clone()).collect();
    assert!(!values.contains(&"aborted".to_string()), "{values:?}");
    assert!(values.contains(&"committed".to_string()));
    assert!(
        !values.contains(&"s2".to_string()),
        "superseded by the plain write"
    );
    assert_eq!(log.active_producers(), summary_before);
    // A retry of producer 7's last batch is still a duplicate; its next sequence is accepted.
    let retry = keyed(&[("idem".into(), Some("s2".into()))], Some((7, 0, 2)));
    assert!(log.append(&retry, NOW).unwrap().duplicate);
    log.close(NOW).unwrap();
    drop(log);
    drop(p);
    // Restart without snapshots: producer state is rebuilt from the cleaned log.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut log = open(dir.path(), false);
    let mut after = log.active_producers();
    let mut before = summary_before;
    for s in after.iter_mut().chain(before.iter_mut()) {
        s.coordinator_epoch = 0;
    }
    assert_eq!(
        after
            .iter()
            .find(|s| s.producer_id == 7)
            .map(|s| s.last_sequence),
        Some(2)
    );
    let retry = keyed(&[("idem".into(), Some("s2".into()))], Some((7, 0, 2)));
    assert!(
        log.append(&retry, NOW).unwrap().duplicate,
        "dedup survives cleaning + restart"
    );
    let next = keyed(&[("idem".into(), Some("s3".into()))], Some((7, 0, 3)));
    assert!(!log.append(&next, NOW).unwrap().duplicate);
    let _ = before;
}

/// Fails every step from the `n`-th on, as a crash before step `n` would.
struct CrashAt {
    n: usize,
    seen: AtomicUsize,
}

impl SwapFaults for CrashAt {
    fn at(&self, step: &str) -> std::io::Result<()> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.n {
            return Err(std::io::Error::other(format!(
                "injected crash before {step}"
            )));
        }
        Ok(())
    }
}

#[test]
fn a_crash_at_every_step_of_the_swap_reopens_consistently() {
    let mut n = 0;
    loop {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), true);
        let mut writes = Vec::new();
        for i in 0..40 {
            let k = format!("k{}", i % 5);
            let v = Some(format!("v{i}"));
            let o = put(&mut log, &k, v.as_deref());
            writes.push((o, k, v));
        }
        log.roll(NOW).unwrap();
        let leo = log.log_end_offset();
        let p = Partition::new("t", 0, log);
        let mut map = OffsetMap::new(1 << 16, 0.9);
        let faults = CrashAt {
            n,
            seen: AtomicUsize::new(0),
        };
        let crashed = pass(&p, &mut map, None, NOW, &faults).is_err();
        // A crash writes nothing more: leak the log's state as a dying process would.
        std::mem::forget(p);
        let log = open(dir.path(), false);
        let recs = contents(&log);
        check_compacted(&recs, &writes, 0, false);
        assert_eq!(log.log_end_offset(), leo);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        if !crashed {
            check_compacted(&recs, &writes, leo, false);
            assert!(n > 5, "the protocol has steps");
            break;
        }
        n += 1;
    }
}

#[test]
fn a_compacted_log_refuses_keyless_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    let keyless =
        crate::log::records::encode_batch(&[(None, Some(Bytes::from("v")))], None, NOW).unwrap();
    let err = log.append(&keyless, NOW).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::InvalidRecord);
    assert!(err.to_string().contains("without key"), "{err}");
    assert_eq!(log.log_end_offset(), 0);
    put(&mut log, "k", Some("v"));
    assert_eq!(log.log_end_offset(), 1);
}

/// Reads the whole log the way a fetch does (plan under the lock, read outside it) and checks
/// every batch is whole and CRC-valid and offsets strictly increase.
fn read_like_a_fetch(p: &Partition) -> usize {
    let mut offset = 0;
    let mut next_expected = -1;
    let mut batches = 0;
    loop {
        let plan = {
            let log = p.lock().unwrap();
            offset = offset.max(log.log_start_offset());
            log.read_plan(offset).unwrap()
        };
        let Some(plan) = plan else { return batches };
        let Some(bytes) = plan.read_checked(4096, true).unwrap() else {
            continue;
        };
        let mut walker = batch::BatchWalker::new(&bytes);
        for (pos, h) in walker.by_ref() {
            batch::validate_stored(&bytes[pos..pos + h.total_size()]).expect("whole batch");
            assert!(h.base_offset > next_expected, "offsets increase");
            next_expected = h.last_offset();
            offset = h.last_offset() + 1;
            batches += 1;
        }
        assert_eq!(walker.position(), bytes.len(), "no partial batch");
    }
}

#[test]
fn produce_and_fetch_go_on_while_the_cleaner_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    for i in 0..200 {
        put(&mut log, &format!("k{}", i % 10), Some(&format!("v{i}")));
    }
    let p = std::sync::Arc::new(Partition::new("t", 0, log));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 1500 {
                let b = keyed(&[(format!("k{}", n % 10), Some("x".into()))], None);
                if let Err(e) = p.lock().unwrap().append(&b, NOW) {
                    panic!("append {n} failed: {e}");
                }
                n += 1;
            }
            n
        })
    };
    let reader = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                read_like_a_fetch(&p);
                reads += 1;
            }
            reads
        })
    };
    let mut map = OffsetMap::new(1 << 16, 0.9);
    let mut checkpoint = None;
    for _ in 0..8 {
        if let Some(out) = pass(&p, &mut map, checkpoint, NOW, &NoFaults).unwrap() {
            checkpoint = Some(out.next_dirty_offset);
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(producer.join().unwrap() > 0);
    assert!(reader.join().unwrap() > 0);
    let recs = contents(&p.lock().unwrap());
    assert!(recs.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(read_like_a_fetch(&p) > 0);
}

#[test]
fn dump_log_shows_delete_horizons_and_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    put(&mut log, "gone", Some("v"));
    put(&mut log, "gone", None);
    log.roll(NOW).unwrap();
    let p = Partition::new("t", 0, log);
    pass(&p, &mut OffsetMap::new(1 << 10, 0.9), None, NOW, &NoFaults)
        .unwrap()
        .expect("cleaned");
    let mut out = Vec::new();
    let opts = crate::log::dump::DumpOptions {
        print_data: true,
        verify_index: true,
    };
    crate::log::dump::dump(&crate::log::layout::log_file(dir.path(), 0), opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("deleteHorizonMs: OptionalLong[1001000]"),
        "{text}"
    );
    assert!(
        text.contains("| offset: 1 ") && text.contains("valueSize: -1"),
        "{text}"
    );
    assert!(!text.contains("| offset: 0 "), "{text}");
}
