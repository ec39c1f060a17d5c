//! Progress bars for long work of the command line (`produce --file` or from a redirected
//! file, `bench produce`), drawn on standard error only when it is a terminal: piped or
//! redirected, the output is what it was, with no control characters in a log.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` bytes read, or a hidden one when standard error is not a terminal or
/// the total is unknown (a pipe).
pub fn bytes(total: Option<u64>, what: &str) -> ProgressBar {
    match total {
        Some(total) => bar(
            total,
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
            what,
        ),
        None => ProgressBar::hidden(),
    }
}

/// A bar of `total` steps (records, or milliseconds of a timed run) with the share done
/// and the time spent, or a hidden one when standard error is not a terminal.
pub fn steps(total: u64, what: &str) -> ProgressBar {
    bar(total, "{msg} [{bar:30}] {percent}% after {elapsed}", what)
}

fn bar(total: u64, template: &str, what: &str) -> ProgressBar {
    // indicatif's bar draws on standard error, and nothing when it is not a terminal.
    let style = ProgressStyle::with_template(template).expect("a valid template");
    ProgressBar::new(total)
        .with_style(style.progress_chars("=> "))
        .with_message(what.to_string())
}
