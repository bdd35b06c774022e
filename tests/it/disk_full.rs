//! Disk full: the data directory on a 4 MiB tmpfs fills up. Produce gets KAFKA_STORAGE_ERROR,
//! the broker stays up and keeps serving reads of everything acknowledged, and accepts writes
//! again once space returns. Needs root (mount); elsewhere it says so and does nothing.

use std::process::Command;
use std::time::Duration;

use crate::support::raw;
use crate::support::{encode_batch, now_ms, wait_for, BrokerProcess, RawClient};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("SKIP: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _guard = Mount(mnt.clone());
    // Space to give back later.
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![0u8; 1 << 20]).unwrap();
    let broker = BrokerProcess::spawn(
        &mnt.join("data"),
        &[
            "--set",
            "log.segment.bytes=262144",
            "--set",
            "log.index.size.max.bytes=8192",
        ],
    );
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(raw::create_topic(&mut c, "full", 1, &[]), 0);

    let value = "v".repeat(16 * 1024);
    let mut acked = 0i64;
    let mut storage_errors = 0;
    for _ in 0..400 {
        let r = raw::produce(
            &mut c,
            "full",
            0,
            encode_batch(&[(None, &value)], None, now_ms()),
        );
        match r.error_code {
            0 => {
                assert_eq!(r.base_offset, acked, "offsets stay contiguous");
                acked += 1;
            }
            56 => storage_errors += 1,
            other => panic!("unexpected error {other}"),
        }
        if storage_errors >= 5 {
            break;
        }
    }
    assert!(
        storage_errors >= 5,
        "the disk never filled ({acked} records accepted)"
    );
    assert!(acked > 10);
    // Reads of everything acknowledged still work.
    assert_eq!(raw::list_offset(&mut c, "full", 0, -1), (0, acked));
    let mut offset = 0;
    while offset < acked {
        let p = raw::fetch(&mut c, "full", 0, offset, 1 << 20);
        assert_eq!(p.error_code, 0);
        let ranges = raw::batch_ranges(p.records.as_ref().unwrap());
        assert!(!ranges.is_empty());
        offset = ranges.last().unwrap().1 + 1;
    }
    // Space returns: writes are accepted again, at the next offset.
    std::fs::remove_file(&filler).unwrap();
    let next = wait_for(
        "writes to be accepted again",
        Duration::from_secs(20),
        || {
            let r = raw::produce(
                &mut c,
                "full",
                0,
                encode_batch(&[(None, "after")], None, now_ms()),
            );
            (r.error_code == 0).then_some(r.base_offset)
        },
    );
    assert_eq!(next, acked, "the failed writes left no gap");
    let log = std::fs::read_to_string(&broker.log).unwrap();
    assert!(
        log.contains("No space left on device"),
        "the cause is logged"
    );
}
