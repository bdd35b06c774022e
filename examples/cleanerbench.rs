//! Log cleaner figures (run by `scripts/bench-cleaner`, one step per process so each step's
//! peak memory is its own):
//! - `build`: writes a partition log of N MB of keyed records (K distinct keys, each written
//!   at least once, the rest overwrites; 100-byte values, 100 records per batch) straight
//!   through the log layer, then rolls it so every byte is cleanable;
//! - `copy`: the baseline — copies the same segment files with `std::fs::copy` and fsyncs them
//!   (the cleaner fsyncs what it writes too); MB/s;
//! - `clean`: cleans the log with the broker's cleaning pass and an offset map of a given size
//!   (several passes when the keys do not fit), until nothing is dirty; MB/s of the log's
//!   size, bytes written, passes, and this process's peak RSS (VmHWM);
//! - `produce`: against a running broker, produce throughput (1 KiB records, rdkafka, acks=1)
//!   to one topic without and then while the cleaner compacts another large topic. The second
//!   measurement starts once the broker's cleaner thread is seen reading (its `rchar` in
//!   `/proc/<pid>/task/<tid>/io` moving) and must end before the compaction is done, so the
//!   cleaner is at work for the whole window; the bytes it read and the CPU time it got during
//!   the window are reported (from `/proc`), along with its nice value.
//!
//! Every step prints one line `key=value ...` the script parses.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use gregor::config::LogConfig;
use gregor::log::cleaner::{clean_partition, NoFaults, OffsetMap, PassParams, Throttler};
use gregor::log::partition::{now_ms, Partition};
use gregor::log::partition_log::{LoadOptions, PartitionLog};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    step: Step,
}

#[derive(Subcommand)]
enum Step {
    Build {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        mb: u64,
        #[arg(long)]
        keys: u64,
    },
    Copy {
        #[arg(long)]
        dir: PathBuf,
    },
    Clean {
        #[arg(long)]
        dir: PathBuf,
        /// Offset map memory (log.cleaner.dedupe.buffer.size of one thread).
        #[arg(long)]
        buffer: usize,
    },
    Produce {
        #[arg(long)]
        bootstrap: String,
        /// The broker's data directory (to see when the cleaner has finished).
        #[arg(long)]
        data_dir: PathBuf,
        /// Size of the topic being cleaned.
        #[arg(long)]
        big_mb: u64,
        #[arg(long)]
        keys: u64,
        /// Records per produce measurement.
        #[arg(long)]
        records: usize,
        /// The broker's process id (to find its cleaner thread in /proc).
        #[arg(long)]
        broker_pid: u32,
    },
}

const SEGMENT_BYTES: u32 = 128 << 20;
const VALUE_LEN: usize = 100;
const PER_BATCH: usize = 100;

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        compact: true,
        delete: false,
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> Result<PartitionLog> {
    let opts = LoadOptions {
        clean_shutdown: true,
        recovery_point: i64::MAX,
        log_start_offset: 0,
    };
    Ok(PartitionLog::open(dir, log_config(), opts, now_ms())
        .context("open the log")?
        .0)
}

/// Key of the i-th record: cycles through all `keys` keys (a stride coprime with them), so
/// every key is written once before any is overwritten.
fn key_of(i: u64, keys: u64) -> Bytes {
    let stride = 2_654_435_761u64;
    let k = (i.wrapping_mul(stride)) % keys;
    Bytes::from(format!("key-{k:012}"))
}

fn build(dir: &Path, mb: u64, keys: u64) -> Result<()> {
    let start = Instant::now();
    let mut log = open(dir)?;
    ensure!(log.log_end_offset() == 0, "{} is not empty", dir.display());
    let value = Bytes::from(vec![b'v'; VALUE_LEN]);
    let target = mb << 20;
    let mut i = 0u64;
    while log.size_bytes() < target || i < keys {
        let entries: Vec<(Option<Bytes>, Option<Bytes>)> = (0..PER_BATCH as u64)
            .map(|j| (Some(key_of(i + j, keys)), Some(value.clone())))
            .collect();
        i += PER_BATCH as u64;
        let batch = gregor::log::records::encode_batch(&entries, None, now_ms())
            .map_err(anyhow::Error::msg)?;
        log.append(&batch, now_ms())?;
    }
    log.roll(now_ms())?;
    let bytes = log.size_bytes();
    log.close(now_ms())?;
    println!(
        "step=build bytes={bytes} records={i} keys={keys} secs={:.2}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn log_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    Ok(v)
}

fn copy(dir: &Path) -> Result<()> {
    let dest = dir.with_extension("copy");
    std::fs::create_dir_all(&dest)?;
    let start = Instant::now();
    let mut bytes = 0;
    for f in log_files(dir)? {
        let to = dest.join(f.file_name().context("file name")?);
        bytes += std::fs::copy(&f, &to)?;
        std::fs::File::open(&to)?.sync_all()?;
    }
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dest)?;
    println!(
        "step=copy bytes={bytes} secs={secs:.3} mbps={:.1}",
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

/// Peak resident set of this process, in KiB.
fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn clean(dir: &Path, buffer: usize) -> Result<()> {
    let log = open(dir)?;
    let before = log.size_bytes();
    let end = log.log_end_offset();
    let partition = Partition::new("bench", 0, log);
    let mut map = OffsetMap::new(buffer, 0.9);
    let mut throttle = Throttler::new(f64::MAX);
    let cancel = AtomicBool::new(false);
    let start = Instant::now();
    let (mut checkpoint, mut passes, mut read, mut written) = (None, 0, 0u64, 0u64);
    loop {
        let params = PassParams {
            checkpoint,
            high_watermark: None,
            now_ms: now_ms(),
            faults: &NoFaults,
            cancel: &cancel,
            io_buffer_size: gregor::log::cleaner::batch_io::buffer_size(512 << 10, 1),
        };
        let Some(out) = clean_partition(&partition, &mut map, &mut throttle, &params)? else {
            break;
        };
        ensure!(!out.abandoned, "the log changed under the cleaner");
        passes += 1;
        read += out.bytes_read;
        written += out.bytes_written;
        checkpoint = Some(out.next_dirty_offset);
        if out.next_dirty_offset >= end {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let after = partition
        .lock()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .size_bytes();
    println!(
        "step=clean bytes={before} after={after} passes={passes} read={read} written={written} \
         secs={secs:.3} mbps={:.1} vmhwm_kb={}",
        before as f64 / secs / 1e6,
        vm_hwm_kb()
    );
    Ok(())
}

mod produce {
    use super::*;
    use rdkafka::admin::TopicReplication;
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::error::KafkaError;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::types::RDKafkaErrorCode;

    const T: Duration = Duration::from_secs(120);

    fn config(bs: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bs);
        c
    }

    fn producer(bs: &str) -> Result<BaseProducer> {
        Ok(config(bs)
            .set("linger.ms", "5")
            .set("acks", "1")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "2000000")
            .create()?)
    }

    fn send(p: &BaseProducer, rec: BaseRecord<'_, [u8], [u8]>) -> Result<()> {
        let mut rec = rec;
        loop {
            match p.send(rec) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => bail!("send failed: {e}"),
            }
        }
    }

    /// Produces `n` 1 KiB records to "plain" (rounded up to 10,000s) and waits for them to be
    /// acknowledged; returns (records, seconds).
    fn measure(p: &BaseProducer, n: usize) -> Result<(usize, f64)> {
        let payload = vec![b'x'; 1024];
        let start = Instant::now();
        let mut sent = 0;
        while sent < n {
            for _ in 0..10_000 {
                send(
                    p,
                    BaseRecord::to("plain").partition(0).payload(&payload[..]),
                )?;
            }
            sent += 10_000;
        }
        p.flush(T)?;
        Ok((sent, start.elapsed().as_secs_f64()))
    }

    /// The broker's cleaner thread as `/proc` shows it.
    #[derive(Clone, Copy, Default)]
    struct ThreadStat {
        /// Bytes its read calls returned.
        rchar: u64,
        /// CPU time, user + system, in clock ticks.
        ticks: u64,
        nice: i64,
    }

    /// The first thread of `pid` named `gregor-cleaner-*` (names are cut at 15 bytes); the
    /// broker may answer requests before its cleaner threads exist, so this polls a while.
    fn cleaner_thread(pid: u32) -> Result<PathBuf> {
        let start = Instant::now();
        loop {
            for e in std::fs::read_dir(format!("/proc/{pid}/task"))? {
                let dir = e?.path();
                let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
                if comm.starts_with("gregor-cleaner") {
                    return Ok(dir);
                }
            }
            ensure!(
                start.elapsed() < Duration::from_secs(10),
                "no cleaner thread in broker process {pid}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn thread_stat(dir: &Path) -> Result<ThreadStat> {
        let io = std::fs::read_to_string(dir.join("io"))?;
        let rchar = io
            .lines()
            .find_map(|l| l.strip_prefix("rchar:"))
            .context("rchar")?
            .trim()
            .parse()?;
        let stat = std::fs::read_to_string(dir.join("stat"))?;
        // Fields after the parenthesised name: state is field 3; utime 14, stime 15, nice 19.
        let rest = stat.rsplit_once(") ").context("stat")?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Result<i64> { Ok(f.get(n - 3).context("stat field")?.parse()?) };
        Ok(ThreadStat {
            rchar,
            ticks: (field(14)? + field(15)?) as u64,
            nice: field(19)?,
        })
    }

    /// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
    const TICKS: f64 = 100.0;

    fn cleaned(data_dir: &Path) -> bool {
        std::fs::read_to_string(data_dir.join("cleaner-offset-checkpoint"))
            .is_ok_and(|t| t.lines().any(|l| l.starts_with("big 0 ")))
    }

    pub fn run(
        bs: &str,
        data_dir: &Path,
        big_mb: u64,
        keys: u64,
        records: usize,
        broker_pid: u32,
    ) -> Result<()> {
        let cleaner = cleaner_thread(broker_pid)?;
        let admin: AdminClient<DefaultClientContext> = config(bs).create()?;
        let opts = AdminOptions::new().operation_timeout(Some(T));
        // Segments of at most 64 MiB, at least eight of them (only sealed ones are cleaned).
        let seg = ((big_mb << 20) / 8).clamp(1 << 20, 64 << 20).to_string();
        let big = NewTopic::new("big", 1, TopicReplication::Fixed(1))
            .set("segment.bytes", &seg)
            .set("cleanup.policy", "delete");
        let plain = NewTopic::new("plain", 1, TopicReplication::Fixed(1));
        for r in futures::executor::block_on(admin.create_topics([&big, &plain], &opts))? {
            r.map_err(|(t, e)| anyhow::anyhow!("create {t}: {e:?}"))?;
        }
        // The big topic, not compacted yet.
        let p = producer(bs)?;
        let value = [b'v'; VALUE_LEN];
        let mut i = 0u64;
        let target = big_mb << 20;
        let mut bytes = 0u64;
        while bytes < target {
            let k = key_of(i, keys);
            send(
                &p,
                BaseRecord::to("big")
                    .partition(0)
                    .key(&k[..])
                    .payload(&value[..]),
            )?;
            bytes += (k.len() + VALUE_LEN + 10) as u64;
            i += 1;
        }
        p.flush(T)?;
        // Warm-up, then the baseline.
        measure(&p, 50_000)?;
        let (n0, s0) = measure(&p, records)?;
        // Compaction switched on; the same measurement while the cleaner works.
        let alter = AlterConfig::new(ResourceSpecifier::Topic("big"))
            .set("segment.bytes", &seg)
            .set("cleanup.policy", "compact")
            .set("min.cleanable.dirty.ratio", "0.01");
        for r in futures::executor::block_on(admin.alter_configs([&alter], &opts))? {
            r.map_err(|(t, e)| anyhow::anyhow!("alter {t:?}: {e:?}"))?;
        }
        let t0 = Instant::now();
        // Wait for the cleaner to start reading "big", so it works during the whole window.
        let idle = thread_stat(&cleaner)?.rchar;
        while thread_stat(&cleaner)?.rchar == idle {
            ensure!(t0.elapsed() < T, "the cleaner never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        let w0 = thread_stat(&cleaner)?;
        let (n1, s1) = measure(&p, records)?;
        let w1 = thread_stat(&cleaner)?;
        let done_in_window = cleaned(data_dir);
        let clean_wait = Instant::now();
        while !cleaned(data_dir) {
            ensure!(
                clean_wait.elapsed() < T,
                "the cleaner never cleaned \"big\""
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let clean_secs = t0.elapsed().as_secs_f64();
        let (r0, r1) = (n0 as f64 * 1024.0 / s0 / 1e6, n1 as f64 * 1024.0 / s1 / 1e6);
        println!(
            "step=produce big_bytes={bytes} base_mbps={r0:.1} base_records={n0} \
             cleaning_mbps={r1:.1} cleaning_records={n1} ratio={:.2} \
             cleaning_done_in_window={done_in_window} cleaning_secs={clean_secs:.2} \
             window_secs={s1:.2} cleaner_read_in_window={} cleaner_cpu_in_window={:.2} \
             cleaner_nice={}",
            r1 / r0,
            w1.rchar - w0.rchar,
            (w1.ticks - w0.ticks) as f64 / TICKS,
            w1.nice
        );
        Ok(())
    }
}

fn main() -> Result<()> {
    match Args::parse().step {
        Step::Build { dir, mb, keys } => build(&dir, mb, keys),
        Step::Copy { dir } => copy(&dir),
        Step::Clean { dir, buffer } => clean(&dir, buffer),
        Step::Produce {
            bootstrap,
            data_dir,
            big_mb,
            keys,
            records,
            broker_pid,
        } => produce::run(&bootstrap, &data_dir, big_mb, keys, records, broker_pid),
    }
}
