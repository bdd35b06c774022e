//! Property test of transactions on the log: random interleavings of transactional producers
//! (several producer ids), plain producers, commit and abort markers (some bumping the
//! producer epoch, some stale), truncations, rolls, clean restarts, crashes and lost
//! `.txnindex` files, applied to the disk log and to the in-memory model alike. After every
//! step both must agree on the first unstable offset and the aborted transactions, and a
//! read_committed consumer's view of the disk log — batches below the last stable offset,
//! minus the records of aborted transactions, filtered with the aborted list as Kafka's
//! consumer filters them — must equal the committed records this test tracks itself, in
//! offset order.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::path::Path;

use gregor::config::BrokerConfig;
use gregor::log::batch::{self, BatchWalker, TRANSACTIONAL_BIT};
use gregor::log::control::{self, ControlType};
use gregor::log::memory_log::MemoryLog;
use gregor::log::partition_log::{LoadOptions, PartitionLog};
use gregor::log::replicated::ReplicatedLog;
use proptest::prelude::*;

const NOW: i64 = 1_000;
/// Transactional producer ids are 1..=PRODUCERS.
const PRODUCERS: u8 = 3;

/// One step of a random history, applied to the disk log, the in-memory log and the test's
/// own model alike.
#[derive(Debug, Clone)]
enum Op {
    Txn {
        producer: u8,
        records: u8,
    },
    Plain {
        records: u8,
    },
    /// A non-transactional batch from a transactional producer: INVALID_TXN_STATE while its
    /// transaction is open.
    PlainFromTxnProducer {
        producer: u8,
    },
    End {
        producer: u8,
        commit: bool,
        bump: bool,
    },
    StaleMarker {
        producer: u8,
    },
    Truncate {
        percent: u8,
    },
    Roll,
    Restart,
    Crash,
    LoseTxnIndex {
        segment: u8,
        snapshots_too: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let p = 1..=PRODUCERS;
    prop_oneof![
        8 => (p.clone(), 1u8..6).prop_map(|(producer, records)| Op::Txn { producer, records }),
        3 => (1u8..6).prop_map(|records| Op::Plain { records }),
        1 => p.clone().prop_map(|producer| Op::PlainFromTxnProducer { producer }),
        5 => (p.clone(), any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(producer, commit, bump)| Op::End { producer, commit, bump }),
        1 => p.prop_map(|producer| Op::StaleMarker { producer }),
        2 => (0u8..=100).prop_map(|percent| Op::Truncate { percent }),
        2 => Just(Op::Roll),
        1 => Just(Op::Restart),
        1 => Just(Op::Crash),
        1 => (any::<u8>(), any::<bool>())
            .prop_map(|(segment, snapshots_too)| Op::LoseTxnIndex { segment, snapshots_too }),
    ]
}

/// An uncompressed batch of `n` small records, CRC set.
fn make_batch(n: u8, pid: i64, epoch: i16, seq: i32, transactional: bool) -> Vec<u8> {
    let mut b = vec![0u8; batch::HEADER_LEN];
    for i in 0..n {
        // length 8 (zigzag 16): attributes, ts delta, offset delta, key −1, value len 2,
        // two value bytes, no headers.
        b.extend_from_slice(&[16, 0, 0, i << 1, 1, 4, b'v', i, 0]);
    }
    let len = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[16] = 2;
    let attrs: i16 = if transactional { TRANSACTIONAL_BIT } else { 0 };
    b[21..23].copy_from_slice(&attrs.to_be_bytes());
    b[23..27].copy_from_slice(&(n as i32 - 1).to_be_bytes());
    b[27..35].copy_from_slice(&NOW.to_be_bytes());
    b[35..43].copy_from_slice(&NOW.to_be_bytes());
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    b[57..61].copy_from_slice(&(n as i32).to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn log_config() -> gregor::config::LogConfig {
    let mut cfg = BrokerConfig::default();
    let props = [
        ("log.segment.bytes", "1500"),
        ("log.index.interval.bytes", "200"),
    ];
    cfg.apply_properties(
        &props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>(),
        &mut Vec::new(),
    )
    .expect("valid config");
    cfg.log_config(&Default::default())
}

fn open(dir: &Path, clean: bool, recovery_point: i64) -> PartitionLog {
    let opts = LoadOptions {
        clean_shutdown: clean,
        recovery_point,
        log_start_offset: 0,
    };
    PartitionLog::open(dir, log_config(), opts, NOW)
        .expect("open")
        .0
}

/// What this test knows of one stored batch.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Data { transactional: bool },
    Marker { commit: bool },
}

#[derive(Debug, Clone, Copy)]
struct Stored {
    base: i64,
    last: i64,
    pid: i64,
    epoch: i16,
    last_seq: i32,
    kind: Kind,
}

/// The test's own model: the stored batches and each transactional producer's epoch.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<Stored>,
    epochs: HashMap<i64, i16>,
    next_seq: HashMap<i64, i32>,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches.last().map_or(0, |b| b.last + 1)
    }

    /// `(first unstable offset, committed record offsets below the last stable offset)`.
    fn committed(&self) -> (Option<i64>, Vec<i64>) {
        let mut open: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut committed = Vec::new();
        for b in &self.batches {
            match b.kind {
                Kind::Data {
                    transactional: false,
                } => committed.extend(b.base..=b.last),
                Kind::Data {
                    transactional: true,
                } => open.entry(b.pid).or_default().extend(b.base..=b.last),
                Kind::Marker { commit } => {
                    let records = open.remove(&b.pid).unwrap_or_default();
                    if commit {
                        committed.extend(records);
                    }
                }
            }
        }
        let first_unstable = open.values().filter_map(|r| r.first().copied()).min();
        let lso = first_unstable.unwrap_or(i64::MAX).min(self.end());
        committed.retain(|o| *o < lso);
        committed.sort_unstable();
        (first_unstable, committed)
    }

    /// After a truncation: the sequence each producer continues with.
    fn resequence(&mut self) {
        for pid in 1..=PRODUCERS as i64 {
            let epoch = self.epochs.get(&pid).copied().unwrap_or(0);
            let next = self
                .batches
                .iter()
                .rev()
                .find(|b| b.pid == pid && matches!(b.kind, Kind::Data { .. }))
                .filter(|b| b.epoch == epoch)
                .map_or(0, |b| b.last_seq + 1);
            self.next_seq.insert(pid, next);
        }
    }
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

/// What a read_committed consumer receives from `log`: the record offsets of the batches
/// below the last stable offset, filtered as Kafka's consumer does (`CompletedFetch`): an
/// aborted transaction's producer becomes aborted once a batch reaches its first offset, its
/// transactional batches are skipped until its ABORT marker; control batches carry no data.
fn read_committed(log: &PartitionLog, lso: i64) -> Vec<i64> {
    let mut batches = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < lso {
        let bytes = ReplicatedLog::read(log, offset, lso, 1 << 20, true).expect("read");
        let Some((_, last)) = BatchWalker::new(&bytes).last() else {
            break;
        };
        for (pos, h) in BatchWalker::new(&bytes) {
            assert!(
                h.last_offset() < lso,
                "a batch reaching the LSO was returned"
            );
            batches.push((h, bytes[pos..pos + h.total_size()].to_vec()));
        }
        offset = last.last_offset() + 1;
    }
    let aborted = log.aborted_transactions(log.log_start_offset(), lso);
    let mut pending: BinaryHeap<std::cmp::Reverse<(i64, i64)>> = aborted
        .iter()
        .map(|(pid, first)| std::cmp::Reverse((*first, *pid)))
        .collect();
    let mut aborted_pids = HashSet::new();
    let mut out = Vec::new();
    for (h, bytes) in batches {
        if h.producer_id >= 0 {
            while let Some(std::cmp::Reverse((first, pid))) = pending.peek().copied() {
                if first > h.last_offset() {
                    break;
                }
                pending.pop();
                aborted_pids.insert(pid);
            }
            if h.is_control() {
                let m = control::read_marker(&bytes).expect("a marker");
                if m.kind == ControlType::Abort {
                    aborted_pids.remove(&h.producer_id);
                }
                continue;
            }
            if h.is_transactional() && aborted_pids.contains(&h.producer_id) {
                continue;
            }
        }
        out.extend(h.base_offset..=h.last_offset());
    }
    out
}

fn check(disk: &PartitionLog, mem: &MemoryLog, m: &Model) {
    assert_eq!(disk.log_end_offset(), m.end(), "log end");
    assert_eq!(ReplicatedLog::log_end_offset(mem), m.end(), "model log end");
    let (first_unstable, committed) = m.committed();
    assert_eq!(
        disk.first_unstable_offset(),
        first_unstable,
        "first unstable offset"
    );
    assert_eq!(
        ReplicatedLog::first_unstable_offset(mem),
        first_unstable,
        "model first unstable offset"
    );
    let end = m.end();
    let lso = first_unstable.unwrap_or(end).min(end);
    for (from, upper) in [(0, lso), (0, end), (lso / 2, lso), (end / 3, end / 2 + 1)] {
        assert_eq!(
            disk.aborted_transactions(from, upper),
            mem.aborted_transactions(from, upper),
            "aborted transactions in [{from}, {upper})"
        );
    }
    assert_eq!(
        read_committed(disk, lso),
        committed,
        "read_committed output"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn transactions_on_disk_match_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = open(dir.path(), true, 0);
        let mut mem = MemoryLog::new(log_config());
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Txn { producer, records } => {
                    let pid = producer as i64;
                    let epoch = m.epochs.get(&pid).copied().unwrap_or(0);
                    let seq = m.next_seq.get(&pid).copied().unwrap_or(0);
                    let b = make_batch(records, pid, epoch, seq, true);
                    let r = same(disk.append_as_leader(&b, 0, NOW), mem.append_as_leader(&b, 0, NOW), "txn append");
                    let info = r.expect("in-sequence transactional batches are accepted");
                    m.batches.push(Stored { base: info.base_offset, last: info.last_offset, pid, epoch, last_seq: seq + records as i32 - 1, kind: Kind::Data { transactional: true } });
                    m.next_seq.insert(pid, seq + records as i32);
                }
                Op::Plain { records } => {
                    let b = make_batch(records, -1, -1, -1, false);
                    let info = same(disk.append_as_leader(&b, 0, NOW), mem.append_as_leader(&b, 0, NOW), "plain append").expect("plain batches are accepted");
                    m.batches.push(Stored { base: info.base_offset, last: info.last_offset, pid: -1, epoch: -1, last_seq: -1, kind: Kind::Data { transactional: false } });
                }
                Op::PlainFromTxnProducer { producer } => {
                    let pid = producer as i64;
                    let epoch = m.epochs.get(&pid).copied().unwrap_or(0);
                    let seq = m.next_seq.get(&pid).copied().unwrap_or(0);
                    let b = make_batch(1, pid, epoch, seq, false);
                    // Open while the producer's last batch is transactional data.
                    let open_txn = m.batches.iter().rev().find(|s| s.pid == pid)
                        .is_some_and(|s| matches!(s.kind, Kind::Data { transactional: true }));
                    let r = same(disk.append_as_leader(&b, 0, NOW), mem.append_as_leader(&b, 0, NOW), "plain batch of a transactional producer");
                    prop_assert_eq!(r.is_none(), open_txn, "refused exactly while its transaction is open");
                    if let Some(info) = r {
                        m.batches.push(Stored { base: info.base_offset, last: info.last_offset, pid, epoch, last_seq: seq, kind: Kind::Data { transactional: false } });
                        m.next_seq.insert(pid, seq + 1);
                    }
                }
                Op::End { producer, commit, bump } => {
                    let pid = producer as i64;
                    let epoch = m.epochs.get(&pid).copied().unwrap_or(0) + bump as i16;
                    let kind = ControlType::from_commit(commit);
                    let info = same(
                        disk.append_control(pid, epoch, kind, 0, 0, NOW),
                        ReplicatedLog::append_control(&mut mem, pid, epoch, kind, 0, 0, NOW),
                        "marker",
                    ).expect("markers of the current or a newer epoch are accepted");
                    m.batches.push(Stored { base: info.base_offset, last: info.last_offset, pid, epoch, last_seq: -1, kind: Kind::Marker { commit } });
                    if bump {
                        m.epochs.insert(pid, epoch);
                        m.next_seq.insert(pid, 0);
                    }
                }
                Op::StaleMarker { producer } => {
                    let pid = producer as i64;
                    let known = m.batches.iter().rev().find(|b| b.pid == pid).map(|b| b.epoch);
                    if let Some(epoch) = known.filter(|e| *e > 0) {
                        let r = same(
                            disk.append_control(pid, epoch - 1, ControlType::Abort, 0, 0, NOW),
                            ReplicatedLog::append_control(&mut mem, pid, epoch - 1, ControlType::Abort, 0, 0, NOW),
                            "stale marker",
                        );
                        prop_assert!(r.is_none(), "a marker of an older epoch is refused");
                    }
                }
                Op::Truncate { percent } => {
                    let target = m.end() * percent as i64 / 100;
                    same(ReplicatedLog::truncate_to(&mut disk, target), mem.truncate_to(target), "truncate");
                    m.batches.retain(|b| b.last < target);
                    m.resequence();
                }
                Op::Roll => disk.roll(NOW).expect("roll"),
                Op::Restart => {
                    disk.close(NOW).expect("close");
                    drop(disk);
                    disk = open(dir.path(), true, 0);
                    mem.reopen();
                }
                Op::Crash => {
                    let rp = disk.recovery_point();
                    drop(disk);
                    disk = open(dir.path(), false, rp);
                    mem.reopen();
                }
                Op::LoseTxnIndex { segment, snapshots_too } => {
                    disk.close(NOW).expect("close");
                    let bases: Vec<i64> = disk.segments().map(|s| s.base_offset()).collect();
                    drop(disk);
                    let base = bases[segment as usize % bases.len()];
                    std::fs::remove_file(gregor::log::layout::txn_index_file(dir.path(), base)).expect("rm txnindex");
                    if snapshots_too {
                        for e in std::fs::read_dir(dir.path()).expect("ls").flatten() {
                            if e.file_name().to_string_lossy().ends_with(".snapshot") {
                                std::fs::remove_file(e.path()).expect("rm snapshot");
                            }
                        }
                    }
                    let (log, report) = PartitionLog::open(dir.path(), log_config(), LoadOptions { clean_shutdown: true, recovery_point: 0, log_start_offset: 0 }, NOW).expect("open");
                    prop_assert_eq!(report.rebuilt_txn_indexes, 1);
                    disk = log;
                    mem.reopen();
                }
            }
            check(&disk, &mem, &m);
        }
    }
}
