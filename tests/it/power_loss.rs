//! Power loss, simulated: the broker runs with the sync-recording seam
//! (`gregor serve --record-syncs`, see `gregor::fs::sync_observer`), is killed with SIGKILL, and
//! every segment is cut back to the length last fsynced — as if the machine lost power and
//! the page cache with it. With `--durable` (fsync before every ack) no acknowledged record is
//! lost; with Kafka's default (no fsync) the same simulation loses acknowledged records, which
//! shows the seam really drops what was not on disk.

use crate::support::raw;
use crate::support::{encode_batch, free_port, now_ms, BrokerProcess, RawClient};

/// Produces `n` single-record batches, returns how many were acknowledged; then kills the
/// broker, drops every byte not fsynced, restarts, and returns the log end offset it finds.
fn acked_then_power_loss(durable: bool, n: usize) -> (i64, i64, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut args = vec!["--record-syncs", "--set", "log.segment.bytes=8192"];
    if durable {
        args.push("--durable");
    }
    let port = free_port();
    let broker = BrokerProcess::spawn_on(port, &data, &args);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(raw::create_topic(&mut c, "power", 1, &[]), 0);
    let mut acked = 0i64;
    for i in 0..n {
        let v = format!("record-{i}");
        let r = raw::produce(
            &mut c,
            "power",
            0,
            encode_batch(&[(None, &v)], None, now_ms()),
        );
        assert_eq!((r.error_code, r.base_offset), (0, acked));
        acked += 1;
    }
    drop(c);
    broker.kill9();

    // The power cut: every segment keeps only what was fsynced.
    for e in std::fs::read_dir(data.join("power-0")).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "log") {
            let synced: u64 = std::fs::read_to_string(path.with_extension("log.synced"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            if f.metadata().unwrap().len() > synced {
                f.set_len(synced).unwrap();
            }
        }
    }

    let broker = BrokerProcess::spawn_on(port, &data, &args);
    let mut c = RawClient::connect(&broker.addr);
    let (_, end) = raw::list_offset(&mut c, "power", 0, -1);
    let mut values = Vec::new();
    let mut offset = 0;
    while offset < end {
        let p = raw::fetch(&mut c, "power", 0, offset, 1 << 20);
        let recs = p.records.unwrap();
        for (pos, h) in gregor::log::batch::BatchWalker::new(&recs) {
            for r in gregor::log::records::decode(&recs[pos..pos + h.total_size()]).unwrap() {
                values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
            offset = h.last_offset() + 1;
        }
    }
    (acked, end, values)
}

#[test]
fn durable_mode_loses_nothing_acknowledged_when_unsynced_data_vanishes() {
    let (acked, end, values) = acked_then_power_loss(true, 300);
    assert_eq!(
        end, acked,
        "every acknowledged record survived the power cut"
    );
    assert_eq!(
        values,
        (0..300).map(|i| format!("record-{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn without_fsync_the_simulated_power_cut_does_lose_acknowledged_records() {
    let (acked, end, values) = acked_then_power_loss(false, 300);
    assert!(
        end < acked,
        "the seam drops unsynced data ({end} of {acked} left)"
    );
    // What is left is a clean prefix: rolled segments were fsynced in the background.
    assert_eq!(
        values,
        (0..end).map(|i| format!("record-{i}")).collect::<Vec<_>>()
    );
}
