//! `bench produce --scrape-metrics HOST:PORT`: GETs the broker's `/metrics` once a second
//! while the produce run lasts, as a Prometheus server would, so that the run's throughput
//! with and without scraping tells what the scrapes cost the Kafka port (issue 16: at most
//! 2 %). Plain HTTP/1.0 over a socket, a new connection each time, as a scraper without
//! keep-alive makes them.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a scrape starts.
const PERIOD: Duration = Duration::from_secs(1);
/// How long the scraper sleeps at once, so that it stops soon after it is told to.
const NAP: Duration = Duration::from_millis(20);

/// The scraping thread.
pub struct Scraper {
    stop: Arc<AtomicBool>,
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
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut scrapes = Scrapes::default();
            let mut due = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                scrapes.bytes += scrape(&addr)?;
                let took = started.elapsed();
                scrapes.count += 1;
                scrapes.total += took;
                scrapes.max = scrapes.max.max(took);
                due += PERIOD;
                while !stopped.load(Ordering::Relaxed) && Instant::now() < due {
                    std::thread::sleep(NAP.min(due.saturating_duration_since(Instant::now())));
                }
            }
            Ok(scrapes)
        });
        Scraper { stop, thread }
    }

    /// Stops scraping; what the scrapes took, or why one failed.
    pub fn stop(self) -> Result<Scrapes, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| "the scraping thread panicked".to_string())?
    }
}

/// One GET of `/metrics`: the body's size, or why it failed.
fn scrape(addr: &str) -> Result<u64, String> {
    let fail = |e: std::io::Error| format!("cannot scrape http://{addr}/metrics: {e}");
    let mut stream = TcpStream::connect(addr).map_err(fail)?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(fail)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(fail)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("http://{addr}/metrics answered no HTTP response"))?;
    let status = String::from_utf8_lossy(&response[..head_end.min(64)]).into_owned();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!(
            "http://{addr}/metrics answered {}",
            status.lines().next().unwrap_or("")
        ));
    }
    Ok((response.len() - head_end - 4) as u64)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server answering one request with `response`; its address.
    fn answering(response: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // The request may arrive in several reads: up to its blank line.
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let read = stream.read(&mut chunk).unwrap();
                assert!(read > 0, "the request ends before its blank line");
                request.extend_from_slice(&chunk[..read]);
            }
            assert!(request.starts_with(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:"));
            stream.write_all(response.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn a_scrape_counts_the_body_and_refuses_what_is_not_200() {
        let ok = answering("HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n# EOF\nabcd\n");
        assert_eq!(scrape(&ok), Ok(11));
        let unavailable = answering("HTTP/1.1 503 Service Unavailable\r\n\r\nnot ready\n");
        assert_eq!(
            scrape(&unavailable),
            Err(format!(
                "http://{unavailable}/metrics answered HTTP/1.1 503 Service Unavailable"
            ))
        );
    }
}
