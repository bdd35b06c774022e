//! The cleaner's I/O throttle (Kafka's `Throttler`, `log.cleaner.io.max.bytes.per.second`):
//! after each read or write the cleaner reports the bytes, and when the rate over the current
//! 300 ms-or-longer window exceeds the limit the cleaner thread sleeps long enough to bring it
//! back down. The sleep is rate limiting on a background thread, not synchronisation.
//!
//! Thread-safety: owned by one cleaner thread.

use std::time::{Duration, Instant};

const CHECK_EVERY: Duration = Duration::from_millis(300);

/// Bytes-per-second limiter of one cleaner thread.
pub struct Throttler {
    max_per_sec: f64,
    window_start: Instant,
    bytes: f64,
}

impl Throttler {
    /// A throttle at `max_per_sec` bytes per second; infinite or non-positive means none.
    pub fn new(max_per_sec: f64) -> Throttler {
        Throttler {
            max_per_sec,
            window_start: Instant::now(),
            bytes: 0.0,
        }
    }

    fn unlimited(&self) -> bool {
        !self.max_per_sec.is_finite() || self.max_per_sec <= 0.0 || self.max_per_sec >= f64::MAX
    }

    /// Accounts for `bytes` of I/O, sleeping when the window's rate is above the limit.
    pub fn maybe_throttle(&mut self, bytes: u64) {
        if self.unlimited() {
            return;
        }
        self.bytes += bytes as f64;
        let elapsed = self.window_start.elapsed();
        if elapsed < CHECK_EVERY {
            return;
        }
        let rate = self.bytes / elapsed.as_secs_f64();
        if rate > self.max_per_sec {
            let wanted = self.bytes / self.max_per_sec;
            let sleep = wanted - elapsed.as_secs_f64();
            if sleep > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(sleep.min(10.0)));
            }
        }
        self.window_start = Instant::now();
        self.bytes = 0.0;
    }
}
