//! Readers during cleaning: two producers append keyed batches to a compacted topic with small
//! segments while the broker's cleaner thread compacts it again and again, and a reader reads
//! the partition from offset 0 to the high watermark over and over (raw Fetch, 16 KiB at a
//! time, so its reads interleave with the segment swaps). Every read must see whole batches
//! (CRC-32C valid), record offsets strictly increasing within and across batches and fetches
//! (no offset twice), and a view whose latest value per key is the last acknowledged write of
//! that key as of the read's start — or a later one.
//!
//! The producers stay at most [`AHEAD`] offsets past the cleaner's checkpoint: the cleaner
//! threads run at a lower CPU priority than the request path, so on a busy machine unbounded
//! producers would outgrow it and each pass would take longer than the last.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::clients::create_topic;
use crate::support::{encode_batch, now_ms, raw, wait_for, RawClient, TestBroker};

const KEYS: u64 = 40;
/// How far past the cleaner's checkpoint the producers may run.
const AHEAD: i64 = 20_000;

/// key → (offset, value) of the last acknowledged write.
type Acked = Arc<Mutex<BTreeMap<String, (i64, String)>>>;

fn produce_loop(bs: String, dir: PathBuf, id: u64, acked: Acked, stop: Arc<AtomicBool>) {
    let mut c = RawClient::connect(&bs);
    let mut seed = id * 7919 + 1;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let recs: Vec<(String, String)> = (0..5)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                n += 1;
                let k = format!("key-{}", (seed >> 33) % KEYS);
                (k, format!("p{id}-{n}"))
            })
            .collect();
        let refs: Vec<(Option<&str>, &str)> = recs
            .iter()
            .map(|(k, v)| (Some(k.as_str()), v.as_str()))
            .collect();
        let r = raw::produce(&mut c, "creaders", 0, encode_batch(&refs, None, now_ms()));
        assert_eq!(r.error_code, 0, "produce");
        if r.base_offset - checkpoint_of(&dir).unwrap_or(0) > AHEAD {
            wait_for("the cleaner to catch up", Duration::from_secs(60), || {
                (stop.load(Ordering::Relaxed)
                    || r.base_offset - checkpoint_of(&dir).unwrap_or(0) <= AHEAD)
                    .then_some(())
            });
        }
        let mut a = acked.lock().unwrap();
        for (i, (k, v)) in recs.into_iter().enumerate() {
            let off = r.base_offset + i as i64;
            if a.get(&k).is_none_or(|(o, _)| *o < off) {
                a.insert(k, (off, v));
            }
        }
    }
}

fn checkpoint_of(dir: &std::path::Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join("cleaner-offset-checkpoint")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("creaders 0 "))
        .and_then(|o| o.trim().parse().ok())
}

#[test]
fn readers_see_whole_batches_and_increasing_offsets_while_the_cleaner_runs() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("log.cleaner.backoff.ms", "10")]);
    let bs = broker.bootstrap();
    create_topic(
        &bs,
        "creaders",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..2)
        .map(|id| {
            let (bs, acked, stop) = (bs.clone(), acked.clone(), stop.clone());
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || produce_loop(bs, dir, id, acked, stop))
        })
        .collect();

    let mut c = RawClient::connect(&bs);
    let mut checkpoints = BTreeSet::new();
    let mut reads = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    // Until the cleaner has finished several passes during the reads.
    while checkpoints.len() < 15 || reads < 100 {
        assert!(
            Instant::now() < deadline,
            "cleaner passes seen: {checkpoints:?}"
        );
        let before: BTreeMap<String, (i64, String)> = acked.lock().unwrap().clone();
        let (view, _) = raw::read_compacted(&mut c, "creaders", 0);
        // Every write acknowledged before the read began is in it, or a newer one of its key.
        for (k, (o, v)) in &before {
            let (vo, vv) = view.get(k).unwrap_or_else(|| panic!("{k} missing"));
            assert!(vo >= o, "{k}: read {vo}, acknowledged {o}");
            if vo == o {
                assert_eq!(vv, v);
            }
        }
        checkpoints.extend(checkpoint_of(dir.path()));
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().expect("producer");
    }
    // The final view is exactly the latest acknowledged value of every key, and the cleaner
    // removed records (fewer read than written).
    let want = acked.lock().unwrap().clone();
    let (view, count) = raw::read_compacted(&mut c, "creaders", 0);
    assert_eq!(view, want);
    let (_, high) = crate::support::clients::watermarks(&bs, "creaders", 0);
    wait_for("a compacted read", Duration::from_secs(30), || {
        let (_, n) = raw::read_compacted(&mut c, "creaders", 0);
        ((n as i64) < high).then_some(())
    });
    assert!(count > 0);
    broker.stop();
}
