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
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

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
