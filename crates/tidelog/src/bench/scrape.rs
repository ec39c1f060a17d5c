//! `bench produce --scrape-metrics HOST:PORT`: GETs the broker's `/metrics` once a second
//! while the produce run lasts, as a Prometheus server would, so that the run's throughput
//! with and without scraping tells what the scrapes cost the Kafka port (issue 16: at most
//! 2 %). Each scrape is [`metrics::scrape`]'s: plain HTTP/1.0, a new connection each
//! time, as a scraper without keep-alive makes them.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics;

/// How often a scrape starts.
const PERIOD: Duration = Duration::from_secs(1);

/// The scraping thread.
pub struct Scraper {
    /// Dropped (or sent to) to stop the thread, which waits on it between scrapes.
    stop: Sender<()>,
    thread: JoinHandle<Result<Scrapes, String>>,
}

/// What the scrapes took.
#[derive(Debug, Default)]
pub struct Scrapes {
    count: u32,
    bytes: u64,
    total: Duration,
    max: Duration,
}

impl Scraper {
    /// Starts scraping `http://{addr}/metrics` now and every second after.
    pub fn start(addr: String) -> Scraper {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut scrapes = Scrapes::default();
            let mut due = Instant::now();
            loop {
                let started = Instant::now();
                scrapes.bytes += metrics::scrape(&addr)?.len() as u64;
                let took = started.elapsed();
                scrapes.count += 1;
                scrapes.total += took;
                scrapes.max = scrapes.max.max(took);
                due += PERIOD;
                match stopped.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(scrapes),
                }
            }
        });
        Scraper { stop, thread }
    }

    /// Stops scraping; what the scrapes took, or why one failed.
    pub fn stop(self) -> Result<Scrapes, String> {
        drop(self.stop);
        self.thread
            .join()
            .map_err(|_| "the scraping thread panicked".to_string())?
    }
}

impl fmt::Display for Scrapes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.count.max(1);
        write!(
            f,
            "while scraping /metrics every {} s: {} scrapes of {} bytes, {:.1} ms mean, {:.1} ms max",
            PERIOD.as_secs(),
            self.count,
            self.bytes / u64::from(count),
            self.total.as_secs_f64() * 1000.0 / f64::from(count),
            self.max.as_secs_f64() * 1000.0
        )
    }
}
