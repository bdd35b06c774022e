//! Property test of the log cleaner: random keyed writes and tombstones (batches of one to
//! three records), rolls, cleaning passes with a tiny offset map (three keys, so a dirty range
//! takes several passes), clock jumps, clean restarts and crashes, on one partition log.
//! After every step, reading from offset 0 must give offsets strictly increasing, only records
//! that were written (same offset, key, value), the latest value of every key at its original
//! offset, no older record of a key whose latest write lies in the cleaned range, and no
//! tombstone kept by a pass that ran after its delete horizon (`delete.retention.ms` after the
//! pass that first kept it).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use gregor::config::LogConfig;
use gregor::log::cleaner::{clean_partition, NoFaults, OffsetMap, PassParams, Throttler};
use gregor::log::partition::Partition;
use gregor::log::partition_log::{LoadOptions, PartitionLog};
use proptest::prelude::*;

const START: i64 = 1_000_000;
const RETENTION: i64 = 100;

#[derive(Debug, Clone)]
enum Op {
    /// `(key, tombstone)` records in one batch.
    Write(Vec<(u8, bool)>),
    Roll,
    Clean,
    Tick(u16),
    Restart,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => prop::collection::vec((0u8..8, prop::bool::weighted(0.15)), 1..4).prop_map(Op::Write),
        1 => Just(Op::Roll),
        3 => Just(Op::Clean),
        2 => (0u16..150).prop_map(Op::Tick),
        1 => Just(Op::Restart),
        1 => Just(Op::Crash),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 64,
        compact: true,
        delete: false,
        delete_retention_ms: RETENTION,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean: bool, now: i64) -> Partition {
    let opts = LoadOptions {
        clean_shutdown: clean,
        recovery_point: 0,
        log_start_offset: 0,
    };
    let (log, _) = PartitionLog::open(dir, config(), opts, now).expect("open");
    Partition::new("m", 0, log)
}

type Rec = (i64, String, Option<String>);

fn read_all(p: &Partition) -> Vec<Rec> {
    let log = p.lock().expect("lock");
    let mut out = Vec::new();
    gregor::log::records::for_each_record(&log, 0, |r| {
        let k = r
            .key
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .unwrap_or_default();
        out.push((
            r.offset,
            k,
            r.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
        ));
        Ok(())
    })
    .expect("read");
    out
}

struct Model {
    writes: Vec<Rec>,
    /// Offset of a tombstone → its delete horizon (set by the first pass that kept it).
    horizons: BTreeMap<i64, i64>,
    /// Where the next pass starts (the cleaner checkpoint).
    checkpoint: Option<i64>,
}

impl Model {
    fn latest(&self) -> BTreeMap<&str, &Rec> {
        let mut m = BTreeMap::new();
        for w in &self.writes {
            m.insert(w.1.as_str(), w);
        }
        m
    }

    fn check(&self, recs: &[Rec]) -> Result<(), TestCaseError> {
        prop_assert!(
            recs.windows(2).all(|w| w[0].0 < w[1].0),
            "offsets increase: {recs:?}"
        );
        for r in recs {
            prop_assert!(self.writes.contains(r), "{r:?} was written");
        }
        let cleaned_to = self.checkpoint.unwrap_or(0);
        for (k, w) in self.latest() {
            if w.2.is_some() {
                prop_assert!(recs.contains(w), "latest of {k} ({w:?}) present: {recs:?}");
            }
            if w.0 < cleaned_to {
                let older = recs.iter().filter(|r| r.1 == k && r.0 < w.0).count();
                prop_assert_eq!(older, 0, "older records of {} gone: {:?}", k, recs);
            }
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut now = START;
    let mut p = open(dir.path(), true, now);
    let mut model = Model {
        writes: Vec::new(),
        horizons: BTreeMap::new(),
        checkpoint: None,
    };
    let mut map = OffsetMap::new(24 * 4, 0.9);
    let cancel = AtomicBool::new(false);
    let mut n = 0u32;
    for op in ops {
        match op {
            Op::Write(recs) => {
                let entries: Vec<_> = recs
                    .iter()
                    .map(|(k, tomb)| {
                        n += 1;
                        let v = (!tomb).then(|| Bytes::from(format!("v{n}")));
                        (Some(Bytes::from(format!("k{k}"))), v)
                    })
                    .collect();
                let batch =
                    gregor::log::records::encode_batch(&entries, None, now).expect("encode");
                let info = p.lock().expect("lock").append(&batch, now).expect("append");
                for (i, (k, v)) in entries.iter().enumerate() {
                    let s = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
                    model.writes.push((
                        info.base_offset + i as i64,
                        k.as_ref().map(s).unwrap_or_default(),
                        v.as_ref().map(s),
                    ));
                }
            }
            Op::Roll => p.lock().expect("lock").roll(now).expect("roll"),
            Op::Tick(ms) => now += ms as i64,
            Op::Clean => {
                let params = PassParams {
                    checkpoint: model.checkpoint,
                    high_watermark: None,
                    now_ms: now,
                    faults: &NoFaults,
                    cancel: &cancel,
                    // Small: batches cross buffer boundaries, some exceed one.
                    io_buffer_size: 200,
                };
                let out = clean_partition(&p, &mut map, &mut Throttler::new(f64::MAX), &params)
                    .expect("pass");
                if let Some(out) = out {
                    prop_assert!(!out.abandoned);
                    let recs = read_all(&p);
                    for r in recs
                        .iter()
                        .filter(|r| r.2.is_none() && r.0 < out.next_dirty_offset)
                    {
                        match model.horizons.get(&r.0) {
                            Some(h) => prop_assert!(
                                now < *h,
                                "tombstone {r:?} kept past its horizon {h} at {now}"
                            ),
                            None => {
                                model.horizons.insert(r.0, now + RETENTION);
                            }
                        }
                    }
                    prop_assert!(model.checkpoint.is_none_or(|c| out.next_dirty_offset >= c));
                    model.checkpoint = Some(out.next_dirty_offset);
                }
            }
            Op::Restart => {
                p.lock().expect("lock").close(now).expect("close");
                drop(p);
                p = open(dir.path(), true, now);
            }
            Op::Crash => {
                std::mem::forget(p);
                p = open(dir.path(), false, now);
            }
        }
        model.check(&read_all(&p))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn cleaning_keeps_the_latest_value_of_every_key(ops in prop::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
