//! End-to-end test harness: runs the real `tidelog` binary as a child process on a fresh
//! data directory and a free loopback port, and hands out clients pointing at it.
//!
//! The broker's stderr is drained by a thread into a buffer, so the child never blocks on
//! a full pipe and tests can wait for log lines. When a test panics, the harness prints
//! the broker's log, which is usually the quickest way to see what went wrong.
//!
//! A produce/consume test reads like this:
//!
//! ```ignore
//! let broker = Broker::start(&[]);
//! broker.admin().create_ok(&[new_topic("t", 1, 1)]);
//! let producer = broker.future_producer();
//! let delivered = block_on(producer.send(FutureRecord::to("t").key("k").payload("v"), CLIENT_TIMEOUT));
//! assert_eq!(delivered.expect("delivered"), (0, 0)); // (partition, offset)
//! let consumer = broker.consumer("g");
//! // consumer.assign(...), consumer.poll(CLIENT_TIMEOUT), assert keys, payloads, offsets
//! ```

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod cli;
pub mod clients;
pub mod cluster;
pub mod proxy;
pub mod raw;
mod watchdog;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

pub use raw::RawClient;
use watchdog::Watchdog;

/// Safety net for a broker to start or stop. Generous: a debug build on a busy two-core
/// machine; a healthy start takes milliseconds.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Safety net for an expected log line to appear.
const LOG_TIMEOUT: Duration = Duration::from_secs(15);

/// The "protocol" of a broker whose listeners come from its config file.
const FROM_CONFIG_FILE: &str = "";

/// What the broker logs once it accepts connections: `listening addr=127.0.0.1:PORT`.
const LISTENING: &str = "listening addr=";
const HTTP_ADDR: &str = "http_addr=";

/// A running `tidelog serve` child process with its own data directory.
pub struct Broker {
    child: Option<Child>,
    data_dir: TempDir,
    /// The listener's security protocol: `PLAINTEXT` or `SASL_PLAINTEXT`.
    protocol: &'static str,
    extra_args: Vec<String>,
    addr: SocketAddr,
    /// The current run's stderr.
    log: Log,
    /// The stderr of earlier runs (before a restart), kept for the panic dump.
    earlier_logs: String,
    /// Ends the test binary if the test outlives its deadline (dropped after the child is
    /// killed, as the last field).
    watchdog: Watchdog,
}

impl Broker {
    /// Starts a broker on a fresh data directory and a free port; `extra_args` are added
    /// to `tidelog serve` (e.g. `["--override", "num.partitions=3"]`).
    pub fn start(extra_args: &[&str]) -> Broker {
        Broker::start_with_env(extra_args, &[])
    }

    /// Starts a broker as [`Broker::start`] does, with `env` added to the environment of
    /// this first run only (a restart runs without it): for the debug builds' failpoints.
    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Broker {
        Broker::launch("PLAINTEXT", extra_args, env)
    }

    /// Starts a broker whose listeners are the ones `config` (a server.properties file)
    /// names; the data directory is still the test's own.
    pub fn start_from_file(config: &Path) -> Broker {
        Broker::start_from_file_with(config, &[])
    }

    /// [`Broker::start_from_file`] with `extra_args` after, which win over the file (as
    /// `--override http.listeners=...` must, over the tests' plain HTTP on a free port).
    pub fn start_from_file_with(config: &Path, extra_args: &[&str]) -> Broker {
        let mut args = vec!["--config", config.to_str().expect("a UTF-8 path")];
        args.extend_from_slice(extra_args);
        Broker::launch(FROM_CONFIG_FILE, &args, &[])
    }

    /// Starts a broker whose listener speaks `protocol` (`SASL_PLAINTEXT`).
    pub fn start_on(protocol: &'static str, extra_args: &[&str]) -> Broker {
        Broker::launch(protocol, extra_args, &[])
    }

    /// Formats a fresh data directory for cluster `cluster_id` with `tidelog format`, then
    /// starts a broker on it as [`Broker::start_from_file`] does: the nodes of one cluster
    /// must share the cluster id.
    pub fn start_formatted_from_file(config: &Path, cluster_id: &str) -> Broker {
        let data_dir = new_data_dir();
        let config = config.to_str().expect("a UTF-8 path");
        let formatted = Command::new(env!("CARGO_BIN_EXE_tidelog"))
            .args(["format", "--config", config, "--cluster-id", cluster_id, "--log-dirs"])
            .arg(data_dir.path())
            .output()
            .expect("run tidelog format");
        assert!(formatted.status.success(), "tidelog format: {formatted:?}");
        Broker::launch_in(data_dir, FROM_CONFIG_FILE, &["--config", config], &[])
    }

    /// [`Broker::start_on`] with `env` added to the environment of this first run only.
    pub fn start_on_with_env(protocol: &'static str, extra_args: &[&str], env: &[(&str, &str)]) -> Broker {
        Broker::launch(protocol, extra_args, env)
    }

    fn launch(protocol: &'static str, extra_args: &[&str], env: &[(&str, &str)]) -> Broker {
        Broker::launch_in(new_data_dir(), protocol, extra_args, env)
    }

    fn launch_in(data_dir: TempDir, protocol: &'static str, extra_args: &[&str], env: &[(&str, &str)]) -> Broker {
        let extra_args: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        let watchdog = Watchdog::start();
        let (child, log, addr) = match spawn(data_dir.path(), protocol, &extra_args, 0, env) {
            Ok(started) => started,
            Err(failure) => panic!("tidelog serve {extra_args:?} did not start: {failure}"),
        };
        watchdog.watch(child.id(), &log);
        Broker {
            child: Some(child),
            data_dir,
            protocol,
            extra_args,
            addr,
            log,
            earlier_logs: String::new(),
            watchdog,
        }
    }

    /// `host:port` for `bootstrap.servers`. It changes when a restart cannot reuse the port.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the listener `name`, from the `listeners=` of the listening line.
    pub fn listener_addr(&self, name: &str) -> SocketAddr {
        // `startup_ms=` comes after the list: the line is read whole, not a first chunk of it.
        let line = self.wait_for_line(&[LISTENING, "startup_ms="]);
        let list = &line[line.find("listeners=").expect("listeners=") + "listeners=".len()..];
        let list = list
            .trim_start_matches('"')
            .split(['"', ' '])
            .next()
            .unwrap_or_default();
        list.split(',')
            .find_map(|entry| entry.strip_prefix(&format!("{name}://")))
            .unwrap_or_else(|| panic!("no {name} listener in `{list}`"))
            .parse()
            .expect("a socket address")
    }

    /// The first HTTP listener's address, from its log line (`None` with HTTP off).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        let text = self.log.text();
        let rest = &text[text.find(HTTP_ADDR)? + HTTP_ADDR.len()..];
        Some(rest.split_whitespace().next()?.parse().expect("a socket address"))
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// A partition's directory, `<log.dir>/<topic>-<partition>`.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir().join(format!("{topic}-{partition}"))
    }

    /// The base offsets of a partition's segments (its `.log` files), in order.
    pub fn segment_base_offsets(&self, topic: &str, partition: i32) -> Vec<i64> {
        let dir = self.partition_dir(topic, partition);
        let mut offsets: Vec<i64> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
            .filter_map(|entry| {
                let name = entry.expect("a directory entry").file_name();
                name.to_str()?.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        offsets.sort_unstable();
        offsets
    }

    /// The path of a partition's segment file, e.g. `segment_file("t", 0, 0, "log")`.
    pub fn segment_file(&self, topic: &str, partition: i32, base_offset: i64, extension: &str) -> PathBuf {
        self.partition_dir(topic, partition)
            .join(format!("{base_offset:020}.{extension}"))
    }

    /// The broker process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().expect("poll the broker").is_none())
    }

    /// Sends `signal` to the running broker: SIGSTOP and SIGCONT freeze and thaw it, as a
    /// machine that stalls (or a network that drops everything) and comes back.
    pub fn signal(&self, signal: libc::c_int) {
        send_signal(self.child.as_ref().expect("the broker runs"), signal);
    }

    /// Kills the broker with SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            child.wait().expect("reap the killed broker");
        }
    }

    /// Stops the broker with SIGTERM and waits for it; a graceful shutdown exits 0.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the broker is not running");
        let status = terminate(&mut child);
        assert!(status.success(), "graceful shutdown exited with {status}");
    }

    /// Starts the broker again on the same data directory, stopping it cleanly first if it
    /// still runs. The old port is reused when it is free, so clients made before the
    /// restart reconnect; otherwise a new one is picked and `bootstrap()` changes.
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// [`Broker::restart`] with `more_args` after the broker's own, for this run only (e.g.
    /// `["--override", "log.cleaner.threads=0"]` to look at a log before anything changes it).
    pub fn restart_with(&mut self, more_args: &[&str]) {
        if self.is_running() {
            self.stop();
        }
        self.earlier_logs.push_str(&self.log.text());
        self.earlier_logs.push_str("---- restart ----\n");
        let mut args = self.extra_args.clone();
        args.extend(more_args.iter().map(|a| a.to_string()));
        let (dir, protocol, args) = (self.data_dir.path(), self.protocol, &args);
        let started = spawn(dir, protocol, args, self.addr.port(), &[]).or_else(|failure| {
            if failure.contains("cannot listen") {
                spawn(dir, protocol, args, 0, &[])
            } else {
                Err(failure)
            }
        });
        match started {
            Ok((child, log, addr)) => {
                self.watchdog.watch(child.id(), &log);
                self.child = Some(child);
                self.log = log;
                self.addr = addr;
            }
            Err(failure) => panic!("tidelog serve did not restart: {failure}"),
        }
    }

    /// Everything the current run has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Waits until one log line contains all of `needles` and returns it; panics with the
    /// log if none does in time (log lines are written asynchronously to the request that
    /// caused them).
    pub fn wait_for_line(&self, needles: &[&str]) -> String {
        self.log
            .wait_for(LOG_TIMEOUT, |text| {
                text.lines()
                    .find(|line| needles.iter().all(|n| line.contains(n)))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no broker log line contains all of {needles:?}"))
    }

    /// Asserts the broker closes `client`'s connection and logs why, on a line naming the
    /// client's address and containing `detail`.
    pub fn assert_closed_and_logged(&self, client: &mut RawClient, detail: &str) {
        let peer = format!("peer={}", client.local_addr());
        client.assert_closed();
        self.wait_for_line(&["closing connection", &peer, detail]);
    }

    /// A client for hand-made frames.
    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    /// The `/metrics` page of the first HTTP listener.
    pub fn scrape(&self) -> String {
        self.http_get("/metrics")
    }

    /// The body of the broker's HTTP answer to a GET of `path`.
    pub fn http_get(&self, path: &str) -> String {
        let addr = self.http_addr().expect("an HTTP listener");
        let mut stream = TcpStream::connect(addr).expect("connect to the HTTP listener");
        // HTTP/1.0: the server closes after answering.
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send a GET");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the answer");
        response.split_once("\r\n\r\n").unwrap_or_default().1.to_string()
    }

    /// Waits (up to 10 s) until the sample `series` (`name{labels}` as the page writes it)
    /// of `/metrics` is `expected`: counters of a connection's end move just after the
    /// client sees it close.
    pub fn wait_for_metric(&self, series: &str, expected: f64) {
        wait_for_metric_on(|| self.scrape(), series, expected)
    }
}

/// [`Broker::wait_for_metric`] on the `/metrics` page `scrape` reads (an HTTPS
/// listener's, say).
pub fn wait_for_metric_on(scrape: impl Fn() -> String, series: &str, expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = scrape();
        let value = page
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok());
        if value == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is {value:?}, not {expected}:\n{page}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!(
                "==== tidelog broker log ====\n{}{}==== end of broker log ====",
                self.earlier_logs,
                self.log.text()
            );
        }
    }
}

/// Safety net for [`wait_until`]: what a test waits for normally happens within a second.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `check` every 20 ms until it returns `Some`, and returns that; panics naming
/// `what` after [`WAIT_TIMEOUT`]. For state the broker reaches in the background
/// (retention, flushes), so a test asserts on the state, never on a sleep.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT_TIMEOUT:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Milliseconds since the Unix epoch, as Kafka timestamps count.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

/// A small seeded pseudo-random generator (SplitMix64) for reproducible random tests.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `TIDELOG_TEST_SEED` if set, else from the clock; prints the seed so a
    /// failing run can be repeated.
    pub fn from_env_or_clock(test: &str) -> Rng {
        let seed = std::env::var("TIDELOG_TEST_SEED")
            .ok()
            .map(|s| s.parse().expect("TIDELOG_TEST_SEED is a u64"))
            .unwrap_or_else(|| now_ms() as u64);
        eprintln!("{test}: seed {seed} (rerun with TIDELOG_TEST_SEED={seed})");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `range`.
    pub fn in_range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next_u64() % (range.end - range.start)
    }
}

/// Sends SIGTERM to a broker and waits for it to exit.
pub fn terminate(child: &mut Child) -> ExitStatus {
    send_signal(child, libc::SIGTERM);
    wait_with_timeout(child, PROCESS_TIMEOUT)
        .unwrap_or_else(|| panic!("the broker did not stop within {PROCESS_TIMEOUT:?} of SIGTERM"))
}

/// Starts `tidelog serve` on `data_dir` and closes its stderr once it listens, as when
/// whatever read the broker's log went away (a `| head`, a supervisor gone). Returns the
/// child and its address; the caller stops it.
pub fn serve_then_close_its_log(data_dir: &Path) -> (Child, SocketAddr) {
    let mut child = serve_command(data_dir, "PLAINTEXT", &[], 0)
        .spawn()
        .expect("spawn tidelog");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let addr = loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("read the broker's log");
        assert!(read > 0, "tidelog exited before listening");
        if let Some(addr) = listening_addr(&line) {
            break addr;
        }
    };
    drop(stderr);
    (child, addr)
}

/// Runs `tidelog serve` with `extra_args` on a fresh data directory, expecting it to exit
/// without ever listening (a refused configuration); returns its status and stderr.
pub fn serve_expecting_exit(extra_args: &[&str]) -> (ExitStatus, String) {
    serve_on_expecting_exit("PLAINTEXT", extra_args)
}

/// [`serve_expecting_exit`] with a listener speaking `protocol`.
pub fn serve_on_expecting_exit(protocol: &str, extra_args: &[&str]) -> (ExitStatus, String) {
    let data_dir = tempfile::tempdir().expect("create a data dir");
    serve_dir_expecting_exit(data_dir.path(), protocol, extra_args)
}

/// Runs `tidelog serve` on `data_dir` expecting it to refuse to start: it exits without
/// ever listening. Returns its status and stderr.
pub fn serve_dir_expecting_exit(data_dir: &Path, protocol: &str, extra_args: &[&str]) -> (ExitStatus, String) {
    let args: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
    let mut child = serve_command(data_dir, protocol, &args, 0)
        .spawn()
        .expect("spawn tidelog");
    let log = Log::drain(child.stderr.take().expect("piped stderr"));
    let status = wait_with_timeout(&mut child, PROCESS_TIMEOUT);
    log.wait_closed(PROCESS_TIMEOUT);
    let text = log.text();
    match status {
        Some(status) => {
            assert!(!text.contains(LISTENING), "expected no listener, got:\n{text}");
            (status, text)
        }
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tidelog serve {args:?} kept running; log:\n{text}");
        }
    }
}

fn new_data_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("tidelog-e2e-")
        .tempdir()
        .expect("create a data dir")
}

/// `tidelog serve` on `data_dir`, listening on `protocol` at `127.0.0.1:port`; with
/// [`FROM_CONFIG_FILE`] as the protocol, where the `--config` file in `extra_args` says.
fn serve_command(data_dir: &Path, protocol: &str, extra_args: &[String], port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidelog"));
    command.arg("serve");
    if protocol != FROM_CONFIG_FILE {
        command.arg("--listeners").arg(format!("{protocol}://127.0.0.1:{port}"));
    }
    command
        .arg("--log-dirs")
        .arg(data_dir)
        // HTTP on a free port: brokers run side by side (tests find it with `http_addr`).
        .args(["--override", "http.listeners=127.0.0.1:0"])
        .args(extra_args)
        // The log lines the tests wait for are at info and above.
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Spawns the broker and waits for its listening line; on failure returns a description
/// with everything it logged.
fn spawn(
    data_dir: &Path,
    protocol: &str,
    extra_args: &[String],
    port: u16,
    env: &[(&str, &str)],
) -> Result<(Child, Log, SocketAddr), String> {
    let mut child = serve_command(data_dir, protocol, extra_args, port)
        .envs(env.iter().copied())
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", env!("CARGO_BIN_EXE_tidelog")))?;
    let log = Log::drain(child.stderr.take().expect("piped stderr"));
    if let Some(addr) = log.wait_for(PROCESS_TIMEOUT, listening_addr) {
        return Ok((child, log, addr));
    }
    let why = if log.is_closed() {
        "it exited".to_string()
    } else {
        format!("no `{LISTENING}` line within {PROCESS_TIMEOUT:?}")
    };
    let _ = child.kill();
    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
    Err(format!("{why} ({status}); log:\n{}", log.text()))
}

/// The address from the `listening addr=127.0.0.1:PORT ...` log line.
fn listening_addr(text: &str) -> Option<SocketAddr> {
    let rest = &text[text.find(LISTENING)? + LISTENING.len()..];
    let addr = rest.split_whitespace().next()?;
    Some(addr.parse().expect("the listening line carries a socket address"))
}

/// Sends `signal` (std's `Child::kill` only sends SIGKILL).
pub fn send_signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(rc, 0, "send signal {signal}: {}", std::io::Error::last_os_error());
}

/// The child's exit status, or `None` if it still runs after `timeout`.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A child's stderr, collected line by line by a thread until the pipe closes.
#[derive(Clone)]
struct Log(Arc<(Mutex<LogState>, Condvar)>);

#[derive(Default)]
struct LogState {
    text: String,
    closed: bool,
}

impl Log {
    fn drain(stderr: ChildStderr) -> Log {
        let log = Log(Arc::default());
        let writer = log.clone();
        thread::spawn(move || {
            let mut lines = BufReader::new(stderr);
            let mut line = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => writer.update(|state| state.text.push_str(&line)),
                }
            }
            writer.update(|state| state.closed = true);
        });
        log
    }

    fn update(&self, change: impl FnOnce(&mut LogState)) {
        let (state, changed) = &*self.0;
        change(&mut state.lock().unwrap());
        changed.notify_all();
    }

    fn text(&self) -> String {
        self.0 .0.lock().unwrap().text.clone()
    }

    /// Waits until the child has closed its stderr (it exited), at most `timeout`.
    fn wait_closed(&self, timeout: Duration) {
        self.wait_for(timeout, |_| None::<()>);
    }

    fn is_closed(&self) -> bool {
        self.0 .0.lock().unwrap().closed
    }

    /// Waits until `check` finds something in the text so far, re-checking on every new
    /// line; `None` once the pipe is closed without a find, or after `timeout`.
    fn wait_for<T>(&self, timeout: Duration, mut check: impl FnMut(&str) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let (state, changed) = &*self.0;
        let mut guard = state.lock().unwrap();
        loop {
            if let Some(found) = check(&guard.text) {
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline || guard.closed {
                return None;
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }
}
