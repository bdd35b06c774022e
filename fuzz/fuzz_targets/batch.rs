//! Any bytes as a produced record batch: validation, the batch walker, producer-state checks
//! and, for batches that validate, record decoding (including decompression) and an append to
//! a scratch partition log.
#![no_main]

use std::sync::{Mutex, OnceLock};

use gregor::config::LogConfig;
use gregor::log::batch::{self, BatchWalker};
use gregor::log::partition_log::{LoadOptions, PartitionLog};
use libfuzzer_sys::fuzz_target;

static LOG: OnceLock<Mutex<PartitionLog>> = OnceLock::new();

fn log() -> &'static Mutex<PartitionLog> {
    LOG.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gregor-fuzz-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = LoadOptions { clean_shutdown: true, recovery_point: 0, log_start_offset: 0 };
        let config = LogConfig { segment_bytes: 1 << 20, segment_index_bytes: 4096, ..LogConfig::default() };
        Mutex::new(PartitionLog::open(&dir, config, opts, 0).expect("log").0)
    })
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // Most mutations break the CRC; also try each input with its CRC repaired, so the fuzzer
    // reaches what lies behind the check.
    if data.len() >= batch::HEADER_LEN {
        let mut fixed = data.to_vec();
        let crc = batch::compute_crc(&fixed);
        fixed[batch::CRC_POS..batch::CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let _ = BatchWalker::new(data).count();
    if let Ok(h) = batch::validate(data) {
        let _ = gregor::log::records::decode(data);
        let _ = h.last_sequence();
        if let Ok(mut l) = log().lock() {
            let _ = l.append(data, 0);
        }
    }
}
