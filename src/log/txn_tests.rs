//! Tests of transactions on the disk log: the first unstable offset through commits and
//! aborts, the transaction index entries ABORT markers write (checked byte for byte against
//! Kafka's format), the refusals of the producer state rules, truncation trimming the index,
//! start-up rebuilding a lost `.txnindex` (for a transaction spanning segments) and after an
//! unclean stop, and `dump-log` showing markers and verifying the index.

use std::path::Path;

use bytes::Bytes;

use super::batch::{self, ATTRIBUTES_POS, CRC_POS, TRANSACTIONAL_BIT};
use super::control::ControlType;
use super::dump::{dump, DumpOptions};
use super::layout;
use super::partition_log::{LoadOptions, LoadReport, PartitionLog};
use super::txn_index::AbortedTxn;
use crate::config::BrokerConfig;
use crate::error::ErrorCode;

const NOW: i64 = 1_000_000;

/// A batch of `n` records from `(pid, epoch, seq)`, transactional when `txn`.
fn batch(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool) -> Vec<u8> {
    let entries: Vec<_> = (0..n)
        .map(|i| (None, Some(Bytes::from(format!("{pid}-{seq}-{i}")))))
        .collect();
    let mut b = super::records::encode_batch(&entries, Some((pid, epoch, seq)), NOW)
        .expect("encode")
        .to_vec();
    if txn {
        let attrs = i16::from_be_bytes([b[ATTRIBUTES_POS], b[ATTRIBUTES_POS + 1]]);
        b[ATTRIBUTES_POS..ATTRIBUTES_POS + 2]
            .copy_from_slice(&(attrs | TRANSACTIONAL_BIT).to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    }
    b
}

fn open(dir: &Path, clean: bool, recovery_point: i64) -> (PartitionLog, LoadReport) {
    let cfg = BrokerConfig::default().log_config(&Default::default());
    let opts = LoadOptions {
        clean_shutdown: clean,
        recovery_point,
        log_start_offset: 0,
    };
    PartitionLog::open(dir, cfg, opts, NOW).expect("open")
}

fn marker(log: &mut PartitionLog, pid: i64, epoch: i16, kind: ControlType) -> i64 {
    log.append_control(pid, epoch, kind, 0, 0, NOW)
        .expect("marker")
        .base_offset
}

fn index_of(log: &PartitionLog, base: i64) -> Vec<AbortedTxn> {
    log.segments()
        .find(|s| s.base_offset() == base)
        .expect("segment")
        .txn_index()
        .entries()
        .to_vec()
}

#[test]
fn commits_aborts_and_the_first_unstable_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = open(dir.path(), true, 0);
    assert_eq!(
        log.append(&batch(1, 0, 0, 3, true), NOW)
            .expect("t1")
            .base_offset,
        0
    );
    assert_eq!(
        log.append(&batch(-1, -1, -1, 1, false), NOW)
            .expect("plain")
            .base_offset,
        3
    );
    assert_eq!(
        log.append(&batch(2, 5, 0, 2, true), NOW)
            .expect("t2")
            .base_offset,
        4
    );
    assert_eq!(
        log.append(&batch(1, 0, 3, 1, true), NOW)
            .expect("t1 more")
            .base_offset,
        6
    );
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(log.ongoing_transactions(), vec![(1, 0), (2, 4)]);

    // Refused, nothing written: a plain batch inside a transaction, a fenced data epoch, an
    // old marker epoch.
    let leo = log.log_end_offset();
    let e = log.append(&batch(1, 0, 4, 1, false), NOW).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidTxnState);
    log.append(&batch(2, 6, 0, 1, true), NOW)
        .expect("epoch bump");
    let e = log.append(&batch(2, 5, 2, 1, true), NOW).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidProducerEpoch);
    let e = log
        .append_control(2, 5, ControlType::Abort, 0, 0, NOW)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidProducerEpoch);
    assert_eq!(log.log_end_offset(), leo + 1);

    // Commit producer 1: the LSO moves to producer 2's transaction.
    assert_eq!(marker(&mut log, 1, 0, ControlType::Commit), 8);
    assert_eq!(log.first_unstable_offset(), Some(4));
    assert!(
        index_of(&log, 0).is_empty(),
        "a commit writes no index entry"
    );
    // Abort producer 2 (at its bumped epoch): one entry, LSO after it = marker + 1.
    assert_eq!(marker(&mut log, 2, 6, ControlType::Abort), 9);
    assert_eq!(log.first_unstable_offset(), None);
    let entry = AbortedTxn {
        producer_id: 2,
        first_offset: 4,
        last_offset: 9,
        last_stable_offset: 10,
    };
    assert_eq!(index_of(&log, 0), vec![entry]);
    log.flush(NOW).expect("flush");
    let file = std::fs::read(layout::txn_index_file(dir.path(), 0)).expect("read");
    assert_eq!(
        file,
        entry.encode().to_vec(),
        "Kafka's 34-byte entry on disk"
    );

    assert_eq!(log.aborted_transactions(0, 10), vec![(2, 4)]);
    assert_eq!(log.aborted_transactions(9, 10), vec![(2, 4)]);
    assert_eq!(
        log.aborted_transactions(0, 4),
        vec![],
        "starts at the bound"
    );
    assert_eq!(
        log.aborted_transactions(10, 20),
        vec![],
        "ended before the fetch"
    );
    // A second marker ends nothing; a marker for an unknown producer is written too.
    marker(&mut log, 2, 6, ControlType::Abort);
    marker(&mut log, 77, 0, ControlType::Abort);
    assert_eq!(index_of(&log, 0).len(), 1);

    // Truncating below the abort marker drops its entry and reopens the transaction.
    log.truncate_to(9, NOW).expect("truncate");
    assert!(index_of(&log, 0).is_empty());
    assert_eq!(log.first_unstable_offset(), Some(4));
    log.flush(NOW).expect("flush");
    let len = std::fs::metadata(layout::txn_index_file(dir.path(), 0)).expect("meta");
    assert_eq!(len.len(), 0);
}

/// A log of three segments where producer 1's aborted transaction spans the first two and
/// producer 2's lies in the last; returns the entries per segment base.
fn spanning_log(dir: &Path) -> Vec<(i64, Vec<AbortedTxn>)> {
    let (mut log, _) = open(dir, true, 0);
    log.append(&batch(1, 0, 0, 2, true), NOW).expect("t1");
    log.append(&batch(-1, -1, -1, 1, false), NOW)
        .expect("plain");
    log.roll(NOW).expect("roll");
    log.append(&batch(2, 0, 0, 1, true), NOW).expect("t2");
    marker(&mut log, 1, 0, ControlType::Abort);
    log.roll(NOW).expect("roll");
    log.append(&batch(2, 0, 1, 1, true), NOW).expect("t2 more");
    marker(&mut log, 2, 0, ControlType::Abort);
    log.append(&batch(1, 0, 2, 1, true), NOW).expect("t1 again");
    let entries = log
        .segments()
        .map(|s| (s.base_offset(), s.txn_index().entries().to_vec()))
        .collect();
    log.close(NOW).expect("close");
    entries
}

#[test]
fn a_lost_txnindex_is_rebuilt_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = spanning_log(dir.path());
    assert_eq!(before.len(), 3);
    assert_eq!(
        before[1].1,
        vec![AbortedTxn {
            producer_id: 1,
            first_offset: 0,
            last_offset: 4,
            last_stable_offset: 3,
        }],
        "LSO after the marker is producer 2's open transaction"
    );
    assert_eq!(before[2].1[0].first_offset, 3);
    let seg1 = layout::txn_index_file(dir.path(), before[1].0);
    let bytes = std::fs::read(&seg1).expect("read");
    // Lose the middle index and every snapshot: the rebuild replays from the log start.
    std::fs::remove_file(&seg1).expect("rm");
    for e in std::fs::read_dir(dir.path()).expect("ls").flatten() {
        if e.file_name()
            .to_string_lossy()
            .ends_with(layout::SNAPSHOT_SUFFIX)
        {
            std::fs::remove_file(e.path()).expect("rm snapshot");
        }
    }
    let (log, report) = open(dir.path(), true, 0);
    assert_eq!(report.rebuilt_txn_indexes, 1);
    let after: Vec<_> = log
        .segments()
        .map(|s| (s.base_offset(), s.txn_index().entries().to_vec()))
        .collect();
    assert_eq!(after, before);
    assert_eq!(std::fs::read(&seg1).expect("rebuilt file"), bytes);
    assert_eq!(log.first_unstable_offset(), Some(7));
    assert_eq!(log.aborted_transactions(0, 100), vec![(1, 0), (2, 3)]);
    assert_eq!(log.aborted_transactions(3, 5), vec![(1, 0), (2, 3)]);
    assert_eq!(log.aborted_transactions(5, 7), vec![(2, 3)]);
    drop(log);

    // A damaged index (a torn entry) is rebuilt the same way (the only snapshot, at the log
    // end, is past the segment: the replay starts from the log start again).
    let (mut log, _) = open(dir.path(), true, 0);
    log.close(NOW).expect("close");
    drop(log);
    std::fs::write(&seg1, &bytes[..20]).expect("tear");
    let (log, report) = open(dir.path(), true, 0);
    assert_eq!(report.rebuilt_txn_indexes, 1);
    assert_eq!(index_of(&log, before[1].0), before[1].1);
}

#[test]
fn an_unclean_stop_rebuilds_the_recovered_segments_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = spanning_log(dir.path());
    // Recovery point 0: every segment is recovered, every index reset and rebuilt.
    let (log, report) = open(dir.path(), false, 0);
    assert_eq!(report.recovered_segments, 3);
    assert_eq!(report.rebuilt_txn_indexes, 3);
    for (base, entries) in &before {
        assert_eq!(&index_of(&log, *base), entries, "segment {base}");
    }
    assert_eq!(log.first_unstable_offset(), Some(7));
}

#[test]
fn dump_log_shows_markers_and_verifies_the_txn_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = spanning_log(dir.path());
    let seg = layout::log_file(dir.path(), before[1].0);
    let opts = DumpOptions {
        print_data: true,
        verify_index: true,
    };
    let mut out = Vec::new();
    let summary = dump(&seg, opts, &mut out).expect("dump");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(summary.index_errors, 0, "{text}");
    assert!(
        text.contains("isTransactional: true isControl: true"),
        "{text}"
    );
    assert!(
        text.contains("endTxnMarker: ABORT coordinatorEpoch: 0"),
        "{text}"
    );
    assert!(
        text.contains("Transaction index verification: 0 error(s)"),
        "{text}"
    );

    // An entry whose first offset disagrees with the log is reported: producer 2's data in
    // the segment starts at 5, so its transaction cannot start at 6.
    let path = layout::txn_index_file(dir.path(), before[2].0);
    let mut wrong = before[2].1[0];
    wrong.first_offset = 6;
    std::fs::write(&path, wrong.encode()).expect("write");
    let seg = layout::log_file(dir.path(), before[2].0);
    let mut out = Vec::new();
    let summary = dump(&seg, opts, &mut out).expect("dump");
    assert_eq!(summary.index_errors, 2, "{}", String::from_utf8_lossy(&out));
    // A missing one too.
    std::fs::remove_file(&path).expect("rm");
    let summary = dump(&seg, opts, &mut Vec::new()).expect("dump");
    assert_eq!(summary.index_errors, 1);
}
