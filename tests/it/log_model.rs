//! Property test: random sequences of append / roll / DeleteRecords / retention / clean
//! restart / crash restart / read on one partition log, checked after every step against a
//! simple in-memory model of which batches exist at which offsets.

use std::path::Path;

use bytes::{BufMut, BytesMut};
use gregor::config::BrokerConfig;
use gregor::log::batch::{self, BatchWalker};
use gregor::log::partition_log::{LoadOptions, PartitionLog};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: u8,
        size: u16,
    },
    Roll,
    DeleteRecords {
        percent: u8,
    },
    Retention,
    Restart,
    Crash,
    Read {
        percent: u8,
    },
    /// Two maintenance rounds with no use in between: every segment lets go of its files.
    ReleaseFiles,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..20, 1u16..400).prop_map(|(records, size)| Op::Append { records, size }),
        1 => Just(Op::Roll),
        1 => (0u8..=100).prop_map(|percent| Op::DeleteRecords { percent }),
        1 => Just(Op::Retention),
        1 => Just(Op::Restart),
        1 => Just(Op::Crash),
        3 => (0u8..100).prop_map(|percent| Op::Read { percent }),
        1 => Just(Op::ReleaseFiles),
    ]
}

/// An uncompressed batch of `n` records with `size`-byte values, CRC set.
fn make_batch(n: u8, size: u16, ts: i64) -> Vec<u8> {
    let mut recs = BytesMut::new();
    for i in 0..n {
        let mut body = BytesMut::new();
        body.put_u8(0); // attributes
        body.put_u8(0); // timestamp delta (varint 0)
        body.put_u8(i << 1); // offset delta (zigzag varint, < 64)
        body.put_u8(1); // key length -1
        let mut len = (size as u32) << 1; // zigzag value length
        while len >= 0x80 {
            body.put_u8((len as u8) | 0x80);
            len >>= 7;
        }
        body.put_u8(len as u8);
        body.put_bytes(b'v', size as usize);
        body.put_u8(0); // no headers
        let mut l = (body.len() as u32) << 1;
        while l >= 0x80 {
            recs.put_u8((l as u8) | 0x80);
            l >>= 7;
        }
        recs.put_u8(l as u8);
        recs.put_slice(&body);
    }
    let mut b = vec![0u8; batch::HEADER_LEN];
    b.extend_from_slice(&recs);
    let len = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[16] = 2;
    b[23..27].copy_from_slice(&(n as i32 - 1).to_be_bytes());
    b[27..35].copy_from_slice(&ts.to_be_bytes());
    b[35..43].copy_from_slice(&ts.to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&(n as i32).to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// The model: batches as (base offset, record count), the log start, the next offset.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<(i64, i64)>,
    start: i64,
    next: i64,
}

fn open(dir: &Path, clean: bool, recovery_point: i64, start: i64) -> PartitionLog {
    let mut cfg = BrokerConfig::default();
    let mut w = Vec::new();
    let props = [
        ("log.segment.bytes", "3000"),
        ("log.index.interval.bytes", "200"),
        ("log.retention.bytes", "6000"),
    ];
    cfg.apply_properties(
        &props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>(),
        &mut w,
    )
    .expect("valid config");
    let opts = LoadOptions {
        clean_shutdown: clean,
        recovery_point,
        log_start_offset: start,
    };
    PartitionLog::open(dir, cfg.log_config(&Default::default()), opts, 1_000)
        .expect("open")
        .0
}

/// Reads from `offset` and returns the (base, last) of every batch up to the log end.
fn read_all(log: &PartitionLog, mut offset: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    while let Some(plan) = log.read_plan(offset).expect("in range") {
        let bytes = plan.read(1 << 20, true).expect("read");
        let mut last = offset;
        for (pos, h) in BatchWalker::new(&bytes) {
            batch::validate(&bytes[pos..pos + h.total_size()]).expect("stored batches stay valid");
            out.push((h.base_offset, h.last_offset()));
            last = h.last_offset() + 1;
        }
        assert!(last > offset, "progress");
        offset = last;
    }
    out
}

fn check(log: &PartitionLog, m: &Model) {
    assert_eq!(log.log_end_offset(), m.next, "log end");
    assert_eq!(log.log_start_offset(), m.start, "log start");
    let expected: Vec<(i64, i64)> = m
        .batches
        .iter()
        .filter(|(b, n)| b + n > m.start)
        .map(|(b, n)| (*b, b + n - 1))
        .collect();
    assert_eq!(
        read_all(log, m.start),
        expected,
        "batches readable from the log start"
    );
    if m.start > 0 {
        assert!(
            log.read_plan(m.start - 1).is_err(),
            "below the log start: out of range"
        );
    }
    assert!(
        log.read_plan(m.next + 1).is_err(),
        "past the end: out of range"
    );
}

proptest! {
    // Failing cases are kept in `log_model.proptest-regressions` next to this file (the
    // default would look beside the binary's `main.rs`, in `tests/proptest-regressions/`).
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn partition_log_matches_its_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), true, 0, 0);
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Append { records, size } => {
                    let info = log.append(&make_batch(records, size, 1_000), 1_000).expect("append");
                    prop_assert_eq!(info.base_offset, m.next);
                    m.batches.push((m.next, records as i64));
                    m.next += records as i64;
                }
                Op::Roll => log.roll(1_000).expect("roll"),
                Op::DeleteRecords { percent } => {
                    let target = m.start + (m.next - m.start) * percent as i64 / 100;
                    prop_assert_eq!(log.delete_records_before(target).expect("delete"), target.max(m.start));
                    m.start = m.start.max(target);
                }
                Op::Retention => {
                    log.enforce_retention(1_000).expect("retention");
                    let start = log.log_start_offset();
                    prop_assert!(start >= m.start && start <= m.next, "retention moved the start to {}", start);
                    // Kafka's rule: old segments go while the rest still holds retention.bytes.
                    let first = log.segments().next().map(|s| s.size() as u64).unwrap_or(0);
                    prop_assert!(log.segments().count() == 1 || log.size_bytes() - first < 6000, "retention.bytes respected");
                    m.start = start;
                }
                Op::Restart => {
                    log.close(1_000).expect("close");
                    drop(log);
                    log = open(dir.path(), true, 0, m.start);
                }
                Op::Crash => {
                    // No close: indexes untrimmed, no snapshot. Recovery re-reads what it must.
                    let rp = log.recovery_point();
                    drop(log);
                    log = open(dir.path(), false, rp, m.start);
                }
                Op::ReleaseFiles => {
                    log.release_idle_files();
                    log.release_idle_files();
                    prop_assert!(log.segments().all(|s| !s.holds_files()), "files still held");
                }
                Op::Read { percent } => {
                    if m.next > m.start {
                        let target = m.start + (m.next - m.start) * percent as i64 / 100;
                        let plan = log.read_plan(target).expect("in range").expect("data");
                        let bytes = plan.read(100, true).expect("read");
                        let (_, h) = BatchWalker::new(&bytes).next().expect("one whole batch at least");
                        prop_assert!(h.base_offset <= target && target <= h.last_offset(), "{} not in {}..{}", target, h.base_offset, h.last_offset());
                    }
                }
            }
            check(&log, &m);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The replicated-log interface: the disk log against the in-memory model, operation by
// operation, requiring identical answers.

use gregor::log::memory_log::MemoryLog;
use gregor::log::replicated::ReplicatedLog;

#[derive(Debug, Clone)]
enum ROp {
    Leader {
        records: u8,
        size: u16,
        bump: bool,
    },
    StaleLeader,
    /// The leader's batches: `gaps[i]` offsets skipped before batch i (a compacted leader),
    /// or, with `overlap`, a first batch starting below the log end (refused); `idempotent`
    /// batches come from one idempotent producer, continuing its sequence.
    Follower {
        batches: u8,
        bump: bool,
        gaps: [u8; 3],
        overlap: bool,
        idempotent: bool,
    },
    /// That producer retries its last batch as a leader append: a duplicate if the log still
    /// holds it, whether a leader or a follower append wrote it.
    Retry,
    Truncate {
        percent: u8,
    },
    DeleteRecords {
        percent: u8,
    },
    Retention,
    Roll,
    Restart,
    Crash,
    LoseEpochFile,
    Read {
        from: u8,
        bound: u8,
        max_bytes: u16,
        whole_first: bool,
    },
}

fn rop() -> impl Strategy<Value = ROp> {
    prop_oneof![
        6 => (1u8..10, 1u16..400, proptest::bool::weighted(0.2))
            .prop_map(|(records, size, bump)| ROp::Leader { records, size, bump }),
        1 => Just(ROp::StaleLeader),
        3 => (
            1u8..4,
            proptest::bool::weighted(0.3),
            proptest::array::uniform3(prop_oneof![3 => Just(0u8), 1 => 1u8..40]),
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.5),
        )
            .prop_map(|(batches, bump, gaps, overlap, idempotent)| ROp::Follower {
                batches,
                bump,
                gaps,
                overlap,
                idempotent,
            }),
        1 => Just(ROp::Retry),
        3 => (0u8..=100).prop_map(|percent| ROp::Truncate { percent }),
        1 => (0u8..=100).prop_map(|percent| ROp::DeleteRecords { percent }),
        1 => Just(ROp::Retention),
        1 => Just(ROp::Roll),
        1 => Just(ROp::Restart),
        1 => Just(ROp::Crash),
        1 => Just(ROp::LoseEpochFile),
        4 => (0u8..=100, 0u8..=110, 1u16..3000, any::<bool>())
            .prop_map(|(from, bound, max_bytes, whole_first)| ROp::Read { from, bound, max_bytes, whole_first }),
    ]
}

/// Makes `b` a batch of the test's idempotent producer (id 7, epoch 0) starting at sequence
/// `seq`, CRC recomputed.
fn set_producer(b: &mut [u8], seq: i32) {
    b[43..51].copy_from_slice(&7i64.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = batch::compute_crc(b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn log_config() -> gregor::config::LogConfig {
    let mut cfg = BrokerConfig::default();
    let mut w = Vec::new();
    let props = [
        ("log.segment.bytes", "3000"),
        ("log.index.interval.bytes", "200"),
        ("log.retention.bytes", "6000"),
    ];
    cfg.apply_properties(
        &props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>(),
        &mut w,
    )
    .expect("valid config");
    cfg.log_config(&Default::default())
}

/// Both answers agree: equal values, or errors with equal codes.
fn same<T: PartialEq + std::fmt::Debug>(
    disk: gregor::error::Result<T>,
    mem: gregor::error::Result<T>,
    what: &str,
) -> Option<T> {
    match (disk, mem) {
        (Ok(d), Ok(m)) => {
            assert_eq!(d, m, "{what}");
            Some(d)
        }
        (Err(d), Err(m)) => {
            assert_eq!(d.code(), m.code(), "{what}: {d} / {m}");
            None
        }
        (d, m) => panic!("{what}: disk {d:?}, model {m:?}"),
    }
}

/// Every byte readable from `from` below `bound`, read repeatedly (a disk read may stop at a
/// segment end); each single disk read must be a non-empty prefix of the model's answer.
fn read_through(
    disk: &PartitionLog,
    mem: &MemoryLog,
    from: i64,
    bound: i64,
    max: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let d = ReplicatedLog::read(disk, offset, bound, max, true);
        let m = mem.read(offset, bound, max, true);
        let (d, m) = match (d, m) {
            (Ok(d), Ok(m)) => (d, m),
            (Err(d), Err(m)) => {
                assert_eq!(d.code(), m.code());
                return out;
            }
            (d, m) => panic!("read {offset}..{bound}: disk {d:?}, model {m:?}"),
        };
        assert!(m.starts_with(&d), "disk read is a prefix of the model's");
        assert_eq!(d.is_empty(), m.is_empty(), "read {offset}..{bound}");
        let Some((_, last)) = BatchWalker::new(&d).last() else {
            return out;
        };
        out.extend_from_slice(&d);
        offset = last.last_offset() + 1;
        if offset >= disk.log_end_offset() {
            return out;
        }
    }
}

fn compare(disk: &PartitionLog, mem: &MemoryLog, max_epoch: i32) {
    assert_eq!(disk.log_end_offset(), mem.log_end_offset(), "log end");
    assert_eq!(disk.log_start_offset(), mem.log_start_offset(), "log start");
    assert_eq!(
        ReplicatedLog::latest_epoch(disk),
        mem.latest_epoch(),
        "latest epoch"
    );
    for e in -1..=max_epoch + 1 {
        assert_eq!(
            ReplicatedLog::end_offset_for_epoch(disk, e),
            mem.end_offset_for_epoch(e),
            "end offset for epoch {e}"
        );
    }
    let all = read_through(disk, mem, mem.log_start_offset(), i64::MAX, 1 << 20);
    let mut expected = Vec::new();
    let mut offset = mem.log_start_offset();
    while offset < mem.log_end_offset() {
        let m = mem
            .read(offset, i64::MAX, 1 << 20, true)
            .expect("model read");
        let (_, last) = BatchWalker::new(&m).last().expect("model progress");
        expected.extend_from_slice(&m);
        offset = last.last_offset() + 1;
    }
    assert_eq!(all, expected, "every stored byte identical");
}

proptest! {
    // Same regressions file as above.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicated_log_matches_memory_log(ops in proptest::collection::vec(rop(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = open(dir.path(), true, 0, 0);
        let mut mem = MemoryLog::new(log_config());
        let mut epoch = 0i32;
        // The idempotent producer's next sequence and its last batch (records, sequence, base
        // offset).
        let mut seq = 0i32;
        let mut last_idempotent: Option<(u8, i32, i64)> = None;
        for op in ops {
            match op {
                ROp::Leader { records, size, bump } => {
                    epoch += bump as i32;
                    let b = make_batch(records, size, 1_000);
                    same(disk.append_as_leader(&b, epoch, 1_000), mem.append_as_leader(&b, epoch, 1_000), "leader append");
                }
                ROp::StaleLeader => {
                    if let Some(latest) = mem.latest_epoch().filter(|l| *l > 0) {
                        let b = make_batch(1, 10, 1_000);
                        let d = disk.append_as_leader(&b, latest - 1, 1_000);
                        prop_assert!(d.is_err(), "an older leader epoch is refused");
                        same(d, mem.append_as_leader(&b, latest - 1, 1_000), "stale leader");
                    }
                }
                ROp::Follower { batches, bump, gaps, overlap, idempotent } => {
                    epoch += bump as i32;
                    let leo = disk.log_end_offset();
                    let overlap = overlap && leo > 0;
                    let mut next = if overlap { leo - 1 } else { leo };
                    let mut bytes = Vec::new();
                    let mut sent = None;
                    for i in 0..batches {
                        if !(overlap && i == 0) {
                            next += gaps[i as usize] as i64;
                        }
                        let n = i + 1;
                        let mut b = make_batch(n, 30, 1_000);
                        if idempotent {
                            set_producer(&mut b, seq);
                            sent = Some((n, seq, next));
                            seq += n as i32;
                        }
                        b[0..8].copy_from_slice(&next.to_be_bytes());
                        b[12..16].copy_from_slice(&epoch.to_be_bytes());
                        next += n as i64;
                        bytes.extend_from_slice(&b);
                    }
                    let d = disk.append_as_follower(&bytes, 1_000);
                    prop_assert_eq!(d.is_err(), overlap, "an overlap is refused, gaps are not");
                    if d.is_ok() && sent.is_some() {
                        last_idempotent = sent;
                    }
                    same(d, mem.append_as_follower(&bytes, 1_000), "follower append");
                }
                ROp::Retry => {
                    // While the batch is still in the log, at or past its start (the producer
                    // state of batches below the log start is not replayed: it survives only
                    // in snapshots, which the model does not keep).
                    let held = last_idempotent.filter(|&(n, _, base)| {
                        base >= mem.log_start_offset() && base + (n as i64) <= mem.log_end_offset()
                    });
                    if let Some((n, first_seq, base)) = held {
                        let mut b = make_batch(n, 30, 1_000);
                        set_producer(&mut b, first_seq);
                        let e = mem.latest_epoch().unwrap_or(0);
                        let d = disk.append_as_leader(&b, e, 1_000);
                        let m = mem.append_as_leader(&b, e, 1_000);
                        prop_assert!(d.as_ref().is_ok_and(|i| i.duplicate), "retry: disk {:?}, model {:?}", d, m);
                        let info = same(d, m, "retried batch");
                        prop_assert_eq!(info.map(|i| i.base_offset), Some(base));
                    }
                }
                ROp::Truncate { percent } => {
                    let (s, e) = (mem.log_start_offset(), mem.log_end_offset());
                    let target = (s - 1 + (e - s + 2) * percent as i64 / 100).max(0);
                    same(ReplicatedLog::truncate_to(&mut disk, target), mem.truncate_to(target), "truncate");
                    // A batch cut off is gone, whatever is appended after.
                    last_idempotent = last_idempotent.filter(|&(n, _, base)| base + (n as i64) <= mem.log_end_offset());
                }
                ROp::DeleteRecords { percent } => {
                    let (s, e) = (mem.log_start_offset(), mem.log_end_offset());
                    let target = s + (e - s) * percent as i64 / 100;
                    same(disk.delete_records_before(target), mem.delete_records_before(target), "delete records");
                }
                ROp::Retention => {
                    disk.enforce_retention(1_000).expect("retention");
                    mem.delete_records_before(disk.log_start_offset()).expect("model start");
                }
                ROp::Roll => disk.roll(1_000).expect("roll"),
                ROp::Restart => {
                    disk.close(1_000).expect("close");
                    drop(disk);
                    disk = open(dir.path(), true, 0, mem.log_start_offset());
                    mem.reopen();
                }
                ROp::Crash => {
                    let rp = disk.recovery_point();
                    drop(disk);
                    disk = open(dir.path(), false, rp, mem.log_start_offset());
                    mem.reopen();
                }
                ROp::LoseEpochFile => {
                    if mem.log_end_offset() > mem.log_start_offset() {
                        disk.close(1_000).expect("close");
                        drop(disk);
                        let _ = std::fs::remove_file(dir.path().join("leader-epoch-checkpoint"));
                        disk = open(dir.path(), true, 0, mem.log_start_offset());
                        mem.reopen_without_epoch_file();
                    }
                }
                ROp::Read { from, bound, max_bytes, whole_first } => {
                    let (s, e) = (mem.log_start_offset(), mem.log_end_offset());
                    let offset = s - 1 + (e - s + 2) * from as i64 / 100;
                    let max_offset = s + (e - s) * bound as i64 / 100;
                    let d = ReplicatedLog::read(&disk, offset, max_offset, max_bytes as usize, whole_first);
                    let m = mem.read(offset, max_offset, max_bytes as usize, whole_first);
                    match (d, m) {
                        (Ok(d), Ok(m)) => {
                            prop_assert!(m.starts_with(&d), "disk read is a prefix of the model's");
                            prop_assert_eq!(d.is_empty(), m.is_empty());
                            for (_, h) in BatchWalker::new(&d) {
                                prop_assert!(h.last_offset() < max_offset, "a batch reaching the bound was returned");
                            }
                        }
                        (Err(d), Err(m)) => prop_assert_eq!(d.code(), m.code()),
                        (d, m) => prop_assert!(false, "read: disk {:?}, model {:?}", d, m),
                    }
                    read_through(&disk, &mem, offset.max(s).min(e), max_offset, max_bytes as usize);
                }
            }
            compare(&disk, &mem, epoch);
        }
    }
}
