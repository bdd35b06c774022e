//! The cost of an in-process test broker (`gregor::testing`, issue 16): the time from
//! `TestBroker::start()` to the answer of its first request (ApiVersions over TCP), and the
//! resident memory each idle broker adds when many run in one process.
//!
//!   embedbench [STARTS] [BROKERS]     (defaults: 50 timed starts, 50 idle brokers)
//!
//! Prints one line per figure and a JSON summary last. Run by `scripts/bench-embedded`.

use std::time::{Duration, Instant};

use gregor::testing::TestBroker;
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
fn first_answer() -> (TestBroker, Duration) {
    let t = Instant::now();
    let broker = TestBroker::start().expect("broker starts");
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

fn main() {
    let mut args = std::env::args().skip(1);
    let starts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let brokers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);

    // One start first: the process's one-time costs (the allocator's arenas, lazy statics).
    drop(first_answer());
    let mut ms: Vec<f64> = (0..starts)
        .map(|_| {
            let (b, d) = first_answer();
            drop(b);
            d.as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let (p50, p90, min) = (percentile(&ms, 0.5), percentile(&ms, 0.9), ms[0]);
    println!("start to first answer: median {p50:.2} ms, p90 {p90:.2} ms, min {min:.2} ms ({starts} starts)");

    let before = rss_kib();
    let kept: Vec<TestBroker> = (0..brokers).map(|_| first_answer().0).collect();
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
        "{{\"start_ms_median\":{p50:.3},\"start_ms_p90\":{p90:.3},\"rss_mib_per_broker\":{per:.3},\"starts\":{starts},\"brokers\":{brokers}}}"
    );
}
