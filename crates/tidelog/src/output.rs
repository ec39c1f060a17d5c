//! The commands' lines on standard output and standard error, written without panicking:
//! `println!` and `eprintln!` panic when a write fails (a closed pipe, a full disk).

use std::fmt::Display;
use std::io::{self, Write};

use crate::failure::Failure;

/// Writes `line` and a newline to standard output, flushed, so a reader sees each line as
/// it is printed and a failed write is noticed at the line that failed.
pub fn line(line: impl Display) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(Failure::of_output)
}

/// Writes `line` and a newline to standard error. A failure to do so is dropped: there is
/// nowhere left to report it.
pub fn error_line(line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
