//! kill -9 while the cleaner runs: a broker process whose compacted topic (2,000 keys, 4 KiB
//! segments, `min.cleanable.dirty.ratio=0.01`, `log.cleaner.backoff.ms=1`) is cleaned
//! continuously while a writer appends acks=all batches, is killed with SIGKILL at random
//! moments. After each kill the broker restarts once with the cleaner off: start-up must have
//! completed or discarded every interrupted swap (no `.cleaned`, `.swap` or `.deleted` file
//! left), and a full read must show whole batches, strictly increasing offsets and, for every
//! key, the last acknowledged write — or a later write whose acknowledgement the kill cut
//! off. Then it runs on with the cleaner on, until the next kill.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gregor::tools::client::Client;

use crate::support::{clients, encode_batch, free_port, now_ms, raw, BrokerProcess, RawClient};

const TOPIC: &str = "ccrash";
const KEYS: u64 = 2000;
const KILLS: usize = 10;

/// Per key: the last acknowledged write (offset, value) and the writes sent after it whose
/// outcome is unknown (the connection died before the answer).
#[derive(Default)]
struct Writes {
    acked: BTreeMap<String, (i64, String)>,
    in_doubt: BTreeMap<String, BTreeSet<String>>,
    count: usize,
}

fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// The writer's switches: `stop`, and `pause` (it then sets `paused` and waits).
#[derive(Default)]
struct Switches {
    stop: AtomicBool,
    pause: AtomicBool,
    paused: AtomicBool,
}

/// Appends 10-record batches of random keys until stopped, reconnecting after every failure.
fn writer(addr: String, writes: Arc<Mutex<Writes>>, sw: Arc<Switches>) {
    let mut seed = 42u64;
    let mut n = 0u64;
    let mut client: Option<Client> = None;
    while !sw.stop.load(Ordering::Relaxed) {
        if sw.pause.load(Ordering::Relaxed) {
            sw.paused.store(true, Ordering::Relaxed);
            client = None;
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        sw.paused.store(false, Ordering::Relaxed);
        let Some(c) = client.as_mut() else {
            client = Client::connect(&addr).ok();
            if client.is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        };
        let recs: Vec<(String, String)> = (0..10)
            .map(|_| {
                n += 1;
                (format!("key-{}", next(&mut seed) % KEYS), format!("v{n}"))
            })
            .collect();
        {
            let mut w = writes.lock().unwrap();
            for (k, v) in &recs {
                w.in_doubt.entry(k.clone()).or_default().insert(v.clone());
            }
        }
        let refs: Vec<(Option<&str>, &str)> = recs
            .iter()
            .map(|(k, v)| (Some(k.as_str()), v.as_str()))
            .collect();
        let req = raw::produce_request(TOPIC, 0, encode_batch(&refs, None, now_ms()), -1);
        match c.call(&req, 9) {
            Ok(resp) => {
                let p = &resp.responses[0].partition_responses[0];
                let mut w = writes.lock().unwrap();
                for (i, (k, v)) in recs.into_iter().enumerate() {
                    let doubts = w.in_doubt.entry(k.clone()).or_default();
                    if p.error_code == 0 {
                        // Acknowledged: what was in doubt before it is superseded.
                        doubts.clear();
                        w.acked.insert(k, (p.base_offset + i as i64, v));
                    } else {
                        doubts.remove(&v);
                    }
                }
                w.count += 1;
            }
            Err(_) => client = None,
        }
    }
}

/// Names of interrupted cleaning files in a partition directory.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The log holds, for every key, the last acknowledged write or a later in-doubt one.
fn check(addr: &str, writes: &Writes) -> usize {
    let mut c = RawClient::connect(addr);
    let (view, count) = raw::read_compacted(&mut c, TOPIC, 0);
    for (k, (o, v)) in &writes.acked {
        let (vo, vv) = view
            .get(k)
            .unwrap_or_else(|| panic!("{k}: acknowledged, then lost"));
        if vo == o {
            assert_eq!(vv, v, "{k} at {o}");
        } else {
            assert!(
                vo > o,
                "{k}: {vv} at {vo} is older than the acknowledged {v} at {o}"
            );
            let doubt = writes.in_doubt.get(k).is_some_and(|d| d.contains(vv));
            assert!(doubt, "{k}: {vv} at {vo} was never written after {v}");
        }
    }
    count
}

#[test]
fn kill9_while_cleaning_loses_nothing_acknowledged_and_leaves_no_swap_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let cleaner_on = ["--set", "log.cleaner.backoff.ms=1"];
    let cleaner_off = ["--set", "log.cleaner.enable=false"];
    let mut broker = BrokerProcess::spawn_on(port, &data, &cleaner_on);
    let addr = broker.addr.clone();
    clients::create_topic(
        &addr,
        TOPIC,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let writes = Arc::new(Mutex::new(Writes::default()));
    let sw = Arc::new(Switches::default());
    let w = std::thread::spawn({
        let (addr, writes, sw) = (addr.clone(), writes.clone(), sw.clone());
        move || writer(addr, writes, sw)
    });
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let part = data.join(format!("{TOPIC}-0"));
    let mut interrupted = 0;
    for _ in 0..KILLS {
        let target = writes.lock().unwrap().count + 300;
        crate::support::wait_for("writes", Duration::from_secs(60), || {
            (writes.lock().unwrap().count >= target).then_some(())
        });
        std::thread::sleep(Duration::from_millis(next(&mut seed) % 300));
        broker.kill9();
        if !leftovers(&part).is_empty() {
            interrupted += 1;
        }
        sw.pause.store(true, Ordering::Relaxed);
        crate::support::wait_for("the writer to pause", Duration::from_secs(30), || {
            sw.paused.load(Ordering::Relaxed).then_some(())
        });
        // Start-up recovers; with the cleaner off nothing new is written meanwhile.
        // (The port accepts connections before the logs are open: the first answered request
        // is what says start-up is over.)
        let quiet = BrokerProcess::spawn_on(port, &data, &cleaner_off);
        check(&quiet.addr, &writes.lock().unwrap());
        assert_eq!(leftovers(&part), Vec::<String>::new(), "after start-up");
        quiet.kill9();
        broker = BrokerProcess::spawn_on(port, &data, &cleaner_on);
        sw.pause.store(false, Ordering::Relaxed);
    }
    sw.stop.store(true, Ordering::Relaxed);
    w.join().expect("writer");
    let w = writes.lock().unwrap();
    let read = check(&addr, &w);
    let written = w.count * 10;
    assert!(
        read < written,
        "compacted: {read} records left of {written}"
    );
    broker.terminate();
    eprintln!(
        "compaction crash test: {KILLS} kills ({interrupted} left cleaning files to recover), \
         {written} records written, {read} left"
    );
}
