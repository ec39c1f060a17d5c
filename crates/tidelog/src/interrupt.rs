//! Ctrl-C (SIGINT) and SIGTERM as requests to stop, for the commands that hold something to
//! hand back on the way out: a consumer group's commit and membership, a benchmark's
//! brokers and files. They check [`received`] in their loops and end in order.
//!
//! The handler only records the signal and puts the default action back, so a second
//! Ctrl-C ends the process at once.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal received since [`catch`], 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// Catches SIGINT and SIGTERM from now on.
pub fn catch() -> Result<(), String> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction(2) with a zeroed struct (an empty mask) that names a handler
        // which only stores to an atomic, which is async-signal-safe. SA_RESTART: the
        // blocking calls of other threads (librdkafka's) go on rather than fail.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(format!(
                "cannot catch {}: {}",
                name(signal),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The signal received since [`catch`], if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// An error once a signal came: for the loops of a long run to end it with `?`.
pub fn check() -> Result<(), String> {
    match received() {
        Some(signal) => Err(format!("interrupted by {}", name(signal))),
        None => Ok(()),
    }
}

pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
