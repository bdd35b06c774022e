//! Segments roll, index lookups land in every segment, retention deletes whole old segments
//! and moves the log start, DeleteRecords moves it explicitly (and durably), and fetches below
//! the log start get OFFSET_OUT_OF_RANGE.

use std::time::Duration;

use crate::support::raw::{self, batch_ranges};
use crate::support::{encode_batch, now_ms, wait_for, RawClient, TestBroker};
use gregor::log::dump::{dump, DumpOptions};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::DeleteRecordsRequest;

fn segment_bases(dir: &std::path::Path, tp: &str) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir.join(tp))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    v.sort_unstable();
    v
}

/// Appends `n` batches of 3 records with the given timestamp; returns their base offsets.
fn fill(c: &mut RawClient, topic: &str, n: usize, ts: i64) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let v = format!("value-{i}-{}", "z".repeat(40));
            let r = raw::produce(
                c,
                topic,
                0,
                encode_batch(&[(Some("k"), &v), (None, &v), (Some("k2"), &v)], None, ts),
            );
            assert_eq!(r.error_code, 0);
            r.base_offset
        })
        .collect()
}

#[test]
fn segments_roll_and_every_offset_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path(),
        &[
            ("log.segment.bytes", "2048"),
            ("log.index.interval.bytes", "150"),
        ],
    );
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "roll", 1, &[]), 0);
    let bases = fill(&mut c, "roll", 120, now_ms());
    assert_eq!(bases, (0..120).map(|i| i * 3).collect::<Vec<_>>());
    let segs = segment_bases(dir.path(), "roll-0");
    assert!(segs.len() >= 8, "expected many segments, got {segs:?}");
    for target in 0..360i64 {
        let p = raw::fetch(&mut c, "roll", 0, target, 300);
        assert_eq!(p.error_code, 0);
        let ranges = batch_ranges(p.records.as_ref().unwrap());
        let (first_base, first_last) = ranges[0];
        assert!(
            first_base <= target && target <= first_last,
            "offset {target}: first batch {first_base}..{first_last}"
        );
        assert_eq!(p.high_watermark, 360);
    }
    // At the log end: no records, no error; past it: OFFSET_OUT_OF_RANGE.
    let end = raw::fetch(&mut c, "roll", 0, 360, 1000);
    assert_eq!(
        (end.error_code, end.records.as_ref().map(|r| r.len())),
        (0, Some(0))
    );
    assert_eq!(raw::fetch(&mut c, "roll", 0, 361, 1000).error_code, 1);
    // After a clean stop every index verifies against its log.
    drop(c);
    broker.stop();
    for base in segment_bases(dir.path(), "roll-0") {
        let seg = dir.path().join(format!("roll-0/{base:020}.log"));
        let mut out = Vec::new();
        let summary = dump(
            &seg,
            DumpOptions {
                verify_index: true,
                print_data: false,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            (
                summary.index_errors,
                summary.invalid_batches,
                summary.trailing_bytes
            ),
            (0, 0, 0),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    // A damaged index is detected at start-up and rebuilt, not trusted.
    let first_index = dir.path().join("roll-0/00000000000000000000.index");
    std::fs::write(&first_index, [0xffu8; 16]).unwrap();
    let mut out = Vec::new();
    assert!(
        dump(
            &dir.path().join("roll-0/00000000000000000000.log"),
            DumpOptions {
                verify_index: true,
                print_data: false
            },
            &mut out
        )
        .unwrap()
        .index_errors
            > 0
    );
    let broker = TestBroker::start(
        dir.path(),
        &[
            ("log.segment.bytes", "2048"),
            ("log.index.interval.bytes", "150"),
        ],
    );
    let mut c = RawClient::connect(&broker.bootstrap());
    for target in [0, 1, 100, 200, 299, 359] {
        let p = raw::fetch(&mut c, "roll", 0, target, 300);
        let (b, l) = batch_ranges(p.records.as_ref().unwrap())[0];
        assert!(b <= target && target <= l);
    }
    assert_eq!(fill(&mut c, "roll", 1, now_ms()), vec![360]);
    let mut out = Vec::new();
    let summary = dump(
        &dir.path().join("roll-0/00000000000000000000.log"),
        DumpOptions {
            verify_index: true,
            print_data: false,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(
        summary.index_errors,
        0,
        "rebuilt index verifies: {}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn time_retention_deletes_old_segments_and_moves_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("log.retention.check.interval.ms", "50")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(
            &mut c,
            "old",
            1,
            &[("segment.bytes", "1024"), ("retention.ms", "600000")]
        ),
        0
    );
    let hour_ago = now_ms() - 3_600_000;
    fill(&mut c, "old", 40, hour_ago);
    let fresh = fill(&mut c, "old", 3, now_ms());
    // Retention may already be running while the records arrive; it ends when every segment
    // holding only old records is gone, i.e. at the segment that holds the first fresh one
    // (that segment is never deleted, so it can be found now).
    let target = segment_bases(dir.path(), "old-0")
        .into_iter()
        .filter(|b| *b <= fresh[0])
        .max()
        .expect("the segment of the first fresh record");
    let start = wait_for(
        "retention to delete old segments",
        Duration::from_secs(20),
        || {
            let (err, start) = raw::list_offset(&mut c, "old", 0, -2);
            assert_eq!(err, 0);
            (start == target).then_some(start)
        },
    );
    assert!(start > 0);
    let segs = wait_for(
        "the deleted files to be gone",
        Duration::from_secs(20),
        || {
            let segs = segment_bases(dir.path(), "old-0");
            (segs[0] == start).then_some(segs)
        },
    );
    assert_eq!(
        segs[0], start,
        "log start is the first remaining segment's base"
    );
    assert!(start <= fresh[0], "fresh records are kept");
    assert_eq!(
        raw::fetch(&mut c, "old", 0, 0, 1000).error_code,
        1,
        "below the log start: OFFSET_OUT_OF_RANGE"
    );
    // A fetch answers from one segment, and retention may have rolled the active segment at
    // any moment while the old records arrived, so the fresh ones can span segments: read on
    // until the last of them.
    let mut bases = Vec::new();
    let mut next = fresh[0];
    while next <= fresh[2] {
        let p = raw::fetch(&mut c, "old", 0, next, 100_000);
        assert_eq!(p.error_code, 0);
        assert_eq!(p.log_start_offset, start);
        let ranges = batch_ranges(p.records.as_ref().unwrap());
        assert!(!ranges.is_empty(), "no data at {next} below the log end");
        bases.extend(ranges.iter().map(|(b, _)| *b));
        next = ranges[ranges.len() - 1].1 + 1;
    }
    assert_eq!(&bases[..3], &fresh[..], "the fresh records, in order");
}

#[test]
fn size_retention_keeps_the_log_under_retention_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("log.retention.check.interval.ms", "50")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(
            &mut c,
            "big",
            1,
            &[("segment.bytes", "1024"), ("retention.bytes", "3000")]
        ),
        0
    );
    fill(&mut c, "big", 60, now_ms());
    wait_for("size retention", Duration::from_secs(20), || {
        let total: u64 = std::fs::read_dir(dir.path().join("big-0"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            // A segment may be deleted between listing and stat: it no longer counts.
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        // A pass may still be deleting: done when the log start and the files agree too.
        let (_, start) = raw::list_offset(&mut c, "big", 0, -2);
        (total <= 3000 + 1024 && segment_bases(dir.path(), "big-0")[0] == start).then_some(())
    });
    assert_eq!(raw::list_offset(&mut c, "big", 0, -1), (0, 180));
}

#[test]
fn delete_records_moves_the_log_start_durably() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(&mut c, "dr", 1, &[("segment.bytes", "1024")]),
        0
    );
    fill(&mut c, "dr", 30, now_ms());
    let req = |offset: i64| {
        DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(raw::topic("dr"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])])
    };
    let resp = c.call(&req(40), 2);
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 40));
    let too_far = c.call(&req(1000), 2);
    assert_eq!(too_far.topics[0].partitions[0].error_code, 1);
    assert_eq!(raw::fetch(&mut c, "dr", 0, 39, 1000).error_code, 1);
    let p = raw::fetch(&mut c, "dr", 0, 40, 1000);
    assert_eq!((p.error_code, p.log_start_offset), (0, 40));
    assert!(
        segment_bases(dir.path(), "dr-0")[0] > 0,
        "segments wholly below the start are deleted"
    );
    drop(c);
    broker.stop();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::list_offset(&mut c, "dr", 0, -2),
        (0, 40),
        "log start survives a restart"
    );
}

#[test]
fn segments_roll_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(
        raw::create_topic(&mut c, "aged", 1, &[("segment.ms", "200")]),
        0
    );
    fill(&mut c, "aged", 1, now_ms());
    // Each append checks the active segment's age; keep appending until one rolls.
    let segs = wait_for("a time-based roll", Duration::from_secs(20), || {
        fill(&mut c, "aged", 1, now_ms());
        let segs = segment_bases(dir.path(), "aged-0");
        (segs.len() > 1).then_some(segs)
    });
    assert_eq!(segs[0], 0);
    let (_, end) = raw::list_offset(&mut c, "aged", 0, -1);
    assert!(segs[1] > 0 && segs[1] < end);
}
