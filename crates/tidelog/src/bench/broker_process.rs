//! A broker run as a child process for `tidelog bench all`, `restart` and `metadata`:
//! started on a data directory with a free port, timed up to its first answer, measured
//! through `/proc`, and killed (or stopped cleanly), at the latest when the benchmark ends,
//! however it ends.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::interrupt;

/// How long a start, recovery included, may take before the run is abandoned.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a start is checked for an interruption of the benchmark.
const START_CHECK: Duration = Duration::from_millis(100);

/// How long a clean shutdown, every log closed, may take before the run is abandoned.
const STOP_TIMEOUT: Duration = Duration::from_secs(300);

pub struct BrokerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The broker's own start time, from its `listening ... startup_ms=N` line: from its
    /// `main` to listening, without the process's spawn or the first answer.
    pub startup: Option<Duration>,
}

impl BrokerProcess {
    /// Starts `tidelog serve` on `data_dir` (port 0, so it picks a free one) and returns it
    /// with the time from spawning it to its answer to a first request. The broker's log
    /// goes to `<data_dir>.log`. The kernel kills the broker if the thread that started it
    /// ends (the main thread: the benchmark), however it ends, SIGKILL included.
    pub fn start(exe: &Path, data_dir: &Path) -> Result<(BrokerProcess, Duration), String> {
        BrokerProcess::start_with(exe, data_dir, &[])
    }

    /// [`BrokerProcess::start`] with `extra_args` added to `serve` (e.g. `--override`s).
    pub fn start_with(exe: &Path, data_dir: &Path, extra_args: &[&str]) -> Result<(BrokerProcess, Duration), String> {
        BrokerProcess::launch(exe, data_dir, "PLAINTEXT://127.0.0.1:0", extra_args)?.ready()
    }

    /// Spawns `tidelog serve` on `data_dir` with `listeners` (the first one's address is
    /// the broker's) and `extra_args`, without waiting for it: several nodes of a cluster,
    /// each of which waits for the others' quorum, are launched before any is ready. Launch
    /// from the thread that lives as long as the broker should (see [`BrokerProcess::start`]).
    pub fn launch(exe: &Path, data_dir: &Path, listeners: &str, extra_args: &[&str]) -> Result<Launched, String> {
        let log_path = data_dir.with_extension("log");
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let started = Instant::now();
        let mut command = Command::new(exe);
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: prctl(2) and getppid(2) are.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then this one is orphaned.
                match libc::getppid() {
                    1 => Err(std::io::Error::other("the benchmark ended")),
                    _ => Ok(()),
                }
            });
        }
        let mut child = command
            .arg("serve")
            .arg("--log-dirs")
            .arg(data_dir)
            .arg("--listeners")
            .arg(listeners)
            // No HTTP: the benchmark does not scrape, and may run beside another broker.
            .args(["--override", "http.listeners="])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        // The "listening" line names the port; every line is kept in the log file.
        let stderr = child.stderr.take().expect("piped");
        let (addr_tx, listening_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(listening) = listening(&line) {
                    let _ = addr_tx.send(listening);
                }
                let _ = writeln!(log, "{line}");
            }
        });
        Ok(Launched {
            child,
            listening: listening_rx,
            started,
            log_path,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory now and at its peak (the kernel's high-water mark).
    pub fn rss(&self) -> Result<Rss, String> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let kib = |field: &str| -> Result<u64, String> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| format!("no {field} in {path}"))
        };
        Ok(Rss {
            current_kib: kib("VmRSS:")?,
            peak_kib: kib("VmHWM:")?,
        })
    }

    /// SIGTERM, then waits for the broker to exit, as after a clean shutdown (its logs
    /// flushed and marked clean); fails if it exits with an error.
    pub fn stop(mut self) -> Result<(), String> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: kill(2) on our own child, which has not been waited for, so the pid is its.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!("cannot stop the broker: {}", std::io::Error::last_os_error()));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait().map_err(|e| e.to_string())? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(format!("the broker stopped with {status}")),
                None if Instant::now() < deadline => {
                    interrupt::check()?;
                    std::thread::sleep(Duration::from_millis(10));
                }
                None => return Err(format!("the broker did not stop within {STOP_TIMEOUT:?}")),
            }
        }
    }

    /// SIGKILL: nothing is flushed or marked clean.
    pub fn kill(mut self) -> Result<(), String> {
        self.child.kill().map_err(|e| format!("cannot kill the broker: {e}"))?;
        self.child.wait().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// A broker spawned and not known to listen yet.
pub struct Launched {
    child: Child,
    listening: mpsc::Receiver<(SocketAddr, Option<Duration>)>,
    started: Instant,
    log_path: PathBuf,
}

impl Launched {
    /// Waits until the broker listens and answers a first request: it, and the time from
    /// its spawn to that answer.
    pub fn ready(mut self) -> Result<(BrokerProcess, Duration), String> {
        let failed = |why: String| format!("{why}; see {}", self.log_path.display());
        let deadline = self.started + START_TIMEOUT;
        let listening = loop {
            match self.listening.recv_timeout(START_CHECK) {
                Ok(addr) => break Ok(addr),
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Err(interrupted) = interrupt::check() {
                        break Err(interrupted);
                    }
                }
                Err(_) => break Err(failed("the broker did not start listening".into())),
            }
        };
        let (addr, startup) = match listening {
            Ok(listening) => listening,
            Err(why) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(why);
            }
        };
        let started = self.started;
        let broker = BrokerProcess {
            child: self.child,
            addr,
            startup,
        };
        answer_api_versions(addr).map_err(|e| failed(format!("the broker does not answer: {e}")))?;
        Ok((broker, started.elapsed()))
    }
}

impl Drop for BrokerProcess {
    /// A run that fails half-way leaves no broker behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
pub struct Rss {
    current_kib: u64,
    peak_kib: u64,
}

impl Rss {
    pub fn peak_mb(&self) -> f64 {
        self.peak_kib as f64 * 1024.0 / 1e6
    }
}

impl fmt::Display for Rss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RSS {:.1} MB, peak {:.1} MB",
            self.current_kib as f64 * 1024.0 / 1e6,
            self.peak_mb()
        )
    }
}

/// The address and the start time in `tidelog serve`'s "listening addr=HOST:PORT
/// startup_ms=N" log line (the time where the line has one).
fn listening(line: &str) -> Option<(SocketAddr, Option<Duration>)> {
    if !line.contains("listening") {
        return None;
    }
    let field = |name: &str| line.split_whitespace().find_map(|field| field.strip_prefix(name));
    let addr = field("addr=")?.parse().ok()?;
    let startup = field("startup_ms=")
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    Some((addr, startup))
}

/// Sends an ApiVersions v0 request and waits for its answer: the listening socket alone
/// accepts connections before the broker serves them.
fn answer_api_versions(addr: SocketAddr) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(START_TIMEOUT))?;
    // Length 10; api key 18, version 0, correlation id 1, null client id.
    stream.write_all(&[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff])?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body)
}

/// Bytes of the `.log` segment files under `dir`.
pub fn log_bytes(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let metadata = entry.metadata().map_err(|e| e.to_string())?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if entry.path().extension().is_some_and(|x| x == "log") {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}
