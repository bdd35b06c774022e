//! Tests of the read-path rule of [`super::read_plan`] under run-time truncation: a read
//! planned before a truncation and executed after it is re-planned, a pinned segment file is
//! replaced rather than shrunk, and reads racing truncations (threads, barriers, many
//! iterations) never return bytes of the truncated part and never crash.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use super::batch::{self, BatchWalker, HEADER_LEN, LOG_OVERHEAD};
use super::layout;
use super::partition_log::{LoadOptions, PartitionLog};
use crate::config::BrokerConfig;

const NOW: i64 = 1_000_000;

/// One uncompressed record whose value is `size` bytes of `marker`, CRC set.
fn batch_of(marker: u8, size: usize) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    let mut body = vec![0u8, 0, 0, 1]; // attributes, ts delta, offset delta, key −1
    varint(&mut body, size as i64);
    body.resize(body.len() + size, marker);
    body.push(0); // no headers
    let mut b = vec![0u8; HEADER_LEN];
    varint(&mut b, body.len() as i64);
    b.extend_from_slice(&body);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[16] = 2;
    b[27..35].copy_from_slice(&NOW.to_be_bytes());
    b[35..43].copy_from_slice(&NOW.to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&1i32.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn open(dir: &Path) -> PartitionLog {
    let cfg = BrokerConfig::default().log_config(&Default::default());
    let opts = LoadOptions {
        clean_shutdown: true,
        recovery_point: 0,
        log_start_offset: 0,
    };
    PartitionLog::open(dir, cfg, opts, NOW).expect("open").0
}

fn inode(dir: &Path) -> u64 {
    std::fs::metadata(layout::log_file(dir, 0))
        .expect("segment")
        .ino()
}

/// Every batch is whole, CRC-valid, starts at offset ≥ 1 and carries `marker` only.
fn assert_batches_of(bytes: &[u8], marker: u8, size: usize) {
    let mut walker = BatchWalker::new(bytes);
    for (pos, h) in walker.by_ref() {
        let b = &bytes[pos..pos + h.total_size()];
        batch::validate(b).expect("whole, CRC-valid batch");
        assert!(h.base_offset >= 1, "the kept prefix is not re-read here");
        assert!(
            b.iter().filter(|&&x| x == marker).count() >= size,
            "batch of another generation"
        );
    }
    assert_eq!(walker.position(), bytes.len(), "only whole batches");
}

#[test]
fn a_read_planned_before_a_truncation_is_planned_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&batch_of(b'a', 10), NOW).unwrap();
    log.append(&batch_of(b'b', 200 << 10), NOW).unwrap();
    let plan = log.read_plan(1).unwrap().expect("data");
    let before = inode(dir.path());
    log.truncate_to(1, NOW).unwrap();
    assert_ne!(inode(dir.path()), before, "pinned: moved to a new file");
    assert_eq!(plan.read_checked(1 << 20, true).unwrap(), None, "stale");
    let err = plan.read(1 << 20, true).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
    drop(plan);
    assert!(log.read_plan(1).unwrap().is_none(), "re-planned: log end");
    log.append(&batch_of(b'c', 200 << 10), NOW).unwrap();
    let bytes = log.read(1, i64::MAX, 1 << 20, true).unwrap();
    assert_batches_of(&bytes, b'c', 200 << 10);
    // The returned bytes are a mapping: it pins the file, so this truncation moves the
    // segment to a new file and the bytes stay intact.
    let before = inode(dir.path());
    log.truncate_to(1, NOW).unwrap();
    assert_ne!(inode(dir.path()), before, "a live mapping pins the file");
    assert_batches_of(&bytes, b'c', 200 << 10);
    drop(bytes);
    // Nothing pins the file now: truncation shrinks it in place.
    log.append(&batch_of(b'd', 300 << 10), NOW).unwrap();
    let before = inode(dir.path());
    log.truncate_to(1, NOW).unwrap();
    assert_eq!(inode(dir.path()), before, "unpinned: cut in place");
    let len = std::fs::metadata(layout::log_file(dir.path(), 0))
        .unwrap()
        .len();
    assert_eq!(len as usize, batch_of(b'a', 10).len());
}

#[test]
fn reads_racing_truncations_never_return_truncated_bytes() {
    const ITERATIONS: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(open(dir.path())));
    log.lock()
        .unwrap()
        .append(&batch_of(b'a', 10), NOW)
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let truncated = Arc::new(AtomicU64::new(0));
    // Odd iterations use small batches (read by pread), even ones large (mapped).
    let size = |i: u64| {
        if i.is_multiple_of(2) {
            160 << 10
        } else {
            2 << 10
        }
    };
    let marker = |i: u64| b'b' + (i % 20) as u8;

    let reader = {
        let (log, barrier, truncated) = (log.clone(), barrier.clone(), truncated.clone());
        std::thread::spawn(move || {
            let mut stale = 0;
            for i in 0..ITERATIONS {
                barrier.wait(); // the tail of iteration i is appended
                let plan_first = i % 4 < 2;
                let mut plan = None;
                if plan_first {
                    plan = log.lock().unwrap().read_plan(1).unwrap();
                    assert!(plan.is_some(), "the tail is there before the truncation");
                }
                barrier.wait(); // the writer truncates now, racing this read
                if !plan_first {
                    plan = log.lock().unwrap().read_plan(1).unwrap();
                }
                let done_before = truncated.load(Ordering::SeqCst) > i;
                if let Some(plan) = plan {
                    match plan.read_checked(1 << 20, true).unwrap() {
                        Some(bytes) => {
                            assert!(!done_before, "read after the truncation returned data");
                            assert_batches_of(&bytes, marker(i), size(i));
                        }
                        None => {
                            stale += 1;
                            let again = log.lock().unwrap().read_plan(1).unwrap();
                            assert!(again.is_none(), "re-planned after truncation: empty");
                        }
                    }
                }
                barrier.wait(); // iteration done
            }
            stale
        })
    };
    for i in 0..ITERATIONS {
        {
            let mut l = log.lock().unwrap();
            for _ in 0..3 {
                l.append(&batch_of(marker(i), size(i)), NOW).unwrap();
            }
        }
        barrier.wait();
        barrier.wait();
        log.lock().unwrap().truncate_to(1, NOW).unwrap();
        truncated.store(i + 1, Ordering::SeqCst);
        barrier.wait();
    }
    let stale = reader.join().expect("reader thread");
    assert_eq!(log.lock().unwrap().log_end_offset(), 1);
    // Not a timing assertion: just evidence that the discard path ran at all.
    eprintln!("{stale} of {ITERATIONS} reads raced a truncation and were planned again");
}
