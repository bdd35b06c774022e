//! The cost of an in-process test broker (`gregor::testing`, issue 16): the time from
//! `TestBroker::start()` to the answer of its first request (ApiVersions over TCP), and the
//! resident memory each idle broker adds when many run in one process.
//!
//!   embedbench [STARTS] [BROKERS]     (defaults: 50 timed starts, 50 idle brokers)
//!
//! Prints one line per figure and a JSON summary last. Run by `scripts/bench-embedded`.
//! The starts are timed twice: with the default storage (memory when there is room) and on
//! disk (`Storage::Disk`, real fsyncs). `GREGOR_START_TRACE=1` prints each start phase with
//! its time since the process began (the `gregor::start` debug events), to profile a start.

use std::time::{Duration, Instant};

use gregor::testing::{Storage, TestBroker};
use gregor::tools::client::Client;
use kafka_protocol::messages::ApiVersionsRequest;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Starts a broker and answers one ApiVersions over TCP; the elapsed time.
fn first_answer(storage: Storage) -> (TestBroker, Duration) {
    let t = Instant::now();
    let broker = TestBroker::builder()
        .storage(storage)
        .start()
        .expect("broker starts");
    let mut c = Client::connect(&broker.bootstrap()).expect("connect");
    let resp = c
        .call(&ApiVersionsRequest::default(), 3)
        .expect("ApiVersions answered");
    assert_eq!(resp.error_code, 0);
    (broker, t.elapsed())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The median, p90 and minimum start-to-first-answer time of `starts` starts, in ms.
fn time_starts(starts: usize, storage: Storage) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = (0..starts)
        .map(|_| {
            let (b, d) = first_answer(storage);
            drop(b);
            d.as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.9), ms[0])
}

fn main() {
    if std::env::var_os("GREGOR_START_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter("gregor::start=debug")
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .init();
    }
    let mut args = std::env::args().skip(1);
    let starts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let brokers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);

    // One start first: the process's one-time costs (the allocator's arenas, lazy statics).
    drop(first_answer(Storage::Auto));
    let (p50, p90, min) = time_starts(starts, Storage::Auto);
    println!("start to first answer: median {p50:.2} ms, p90 {p90:.2} ms, min {min:.2} ms ({starts} starts)");
    let (d50, d90, dmin) = time_starts(starts, Storage::Disk);
    println!("  on disk (Storage::Disk): median {d50:.2} ms, p90 {d90:.2} ms, min {dmin:.2} ms");

    let before = rss_kib();
    let kept: Vec<TestBroker> = (0..brokers)
        .map(|_| first_answer(Storage::Auto).0)
        .collect();
    // Idle: let each broker's start-up work settle (checkpoints, timers).
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    let per = (after.saturating_sub(before)) as f64 / 1024.0 / brokers as f64;
    println!(
        "memory: RSS {:.1} MiB -> {:.1} MiB with {brokers} idle brokers: {per:.2} MiB each",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    drop(kept);
    println!(
        "{{\"start_ms_median\":{p50:.3},\"start_ms_p90\":{p90:.3},\"start_ms_median_disk\":{d50:.3},\"rss_mib_per_broker\":{per:.3},\"starts\":{starts},\"brokers\":{brokers}}}"
    );
}
