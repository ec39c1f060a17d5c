//! A deadline for each test that runs a broker. A test can hang where no timeout of ours
//! reaches: librdkafka's consumer `Drop` polls until the consumer has closed, for ever if
//! its group never lets it go. When the deadline passes, the watchdog prints the test's
//! name and its broker's log, kills the broker and ends the test binary with a failure, so
//! one stuck test fails the run in minutes instead of stalling it until CI gives up.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use super::Log;

/// Far beyond any test's normal run (the longest take about a minute in a debug build).
const TEST_DEADLINE: Duration = Duration::from_secs(600);

pub struct Watchdog(Arc<(Mutex<Watched>, Condvar)>);

/// The broker run being watched, and whether the test is over.
#[derive(Default)]
struct Watched {
    pid: Option<u32>,
    log: Option<Log>,
    done: bool,
}

impl Watchdog {
    /// Starts the deadline of the calling test.
    pub fn start() -> Watchdog {
        let shared: Arc<(Mutex<Watched>, Condvar)> = Arc::default();
        let watched = Arc::clone(&shared);
        let test = thread::current().name().unwrap_or("a test").to_string();
        thread::spawn(move || {
            let (state, changed) = &*watched;
            let guard = lock(state);
            let (guard, waited) = changed
                .wait_timeout_while(guard, TEST_DEADLINE, |w| !w.done)
                .unwrap_or_else(|e| e.into_inner());
            if !waited.timed_out() {
                return;
            }
            let log = guard.log.as_ref().map(Log::text).unwrap_or_default();
            // Straight to stderr: `eprintln!` in a test's thread is captured, and the
            // capture is lost when the binary exits.
            let _ = writeln!(
                std::io::stderr(),
                "==== {test} still runs after {TEST_DEADLINE:?}: killing its broker and ending the \
                 test binary ====\n==== tidelog broker log ====\n{log}==== end of broker log ===="
            );
            if let Some(pid) = guard.pid {
                // SAFETY: kill(2) with a pid we spawned and a valid signal has no memory effects.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            std::process::exit(1);
        });
        Watchdog(shared)
    }

    /// Watches a new run of the broker (after a start or a restart).
    pub fn watch(&self, pid: u32, log: &Log) {
        let mut watched = lock(&self.0 .0);
        watched.pid = Some(pid);
        watched.log = Some(log.clone());
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.0 .0).done = true;
        self.0 .1.notify_all();
    }
}

fn lock(state: &Mutex<Watched>) -> MutexGuard<'_, Watched> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}
