//! `log.cleaner.io.max.bytes.per.second`: the cleaner's reads and writes held to a rate, so
//! that cleaning a large partition does not take the disk from produce and fetch.

use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Kafka's default, `Double.MAX_VALUE`: no limit.
pub const DEFAULT_IO_MAX_BYTES_PER_SECOND: f64 = f64::MAX;

/// How long the bytes are counted before the count starts again, so that an idle cleaner
/// saves no more than this for a burst after it (Kafka's cleaner checks its rate as often).
const PERIOD: Duration = Duration::from_millis(300);

/// Sleeps shorter than this wait until the bytes make up a longer one.
const MIN_SLEEP: Duration = Duration::from_millis(10);

/// Bytes are counted over periods of [`PERIOD`]; whenever those of the period would take
/// longer at the rate than the period has lasted, the caller sleeps for the difference. The
/// cleaner threads share one throttler, and it sleeps under its lock, so the rate bounds all
/// of them together, as Kafka's does.
#[derive(Debug)]
pub struct Throttler {
    /// `None`: no limit (Kafka's default, or a rate that is no positive number).
    bytes_per_second: Option<f64>,
    period: Mutex<Period>,
}

#[derive(Debug)]
struct Period {
    start: Instant,
    bytes: f64,
}

impl Throttler {
    pub fn new(bytes_per_second: f64) -> Self {
        let limited = bytes_per_second > 0.0 && bytes_per_second < DEFAULT_IO_MAX_BYTES_PER_SECOND;
        Self {
            bytes_per_second: limited.then_some(bytes_per_second),
            period: Mutex::new(Period {
                start: Instant::now(),
                bytes: 0.0,
            }),
        }
    }

    /// No limit: for cleanings outside the broker.
    pub fn unlimited() -> Self {
        Self::new(DEFAULT_IO_MAX_BYTES_PER_SECOND)
    }

    /// Counts `bytes` read or written, sleeping if they are ahead of the rate.
    pub(crate) fn throttle(&self, bytes: usize) {
        let Some(bytes_per_second) = self.bytes_per_second else {
            return;
        };
        let mut period = self.period.lock().unwrap_or_else(PoisonError::into_inner);
        period.bytes += bytes as f64;
        let elapsed = period.start.elapsed();
        let allowed = Duration::try_from_secs_f64(period.bytes / bytes_per_second).unwrap_or(Duration::MAX);
        if let Some(ahead) = allowed.checked_sub(elapsed).filter(|ahead| *ahead >= MIN_SLEEP) {
            thread::sleep(ahead);
        }
        if allowed.max(elapsed) >= PERIOD {
            *period = Period {
                start: Instant::now(),
                bytes: 0.0,
            };
        }
    }
}
