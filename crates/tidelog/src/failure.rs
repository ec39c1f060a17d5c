//! How a command ends when it does not finish its work, and the exit status of each way.

use std::fmt::Display;
use std::io;
use std::process::ExitCode;

use crate::output;

pub enum Failure {
    /// An error, reported on stderr; exit status 1.
    Error(String),
    /// Standard output's reader went away (`tidelog topics list | head -1`): with nobody
    /// left to read, the command ends quietly and successfully, as when it printed all.
    OutputClosed,
    /// SIGINT or SIGTERM stopped the command and what it does on the way out (a commit, the
    /// removal of its files) was not all done: reported, with the exit status a shell gives
    /// a process that the signal killed (128 + its number).
    Interrupted { signal: i32, error: String },
}

impl Failure {
    /// A failed write to standard output: a closed pipe ends the command quietly.
    pub fn of_output(error: io::Error) -> Failure {
        match error.kind() {
            io::ErrorKind::BrokenPipe => Failure::OutputClosed,
            _ => Failure::Error(format!("cannot write to standard output: {error}")),
        }
    }

    /// Reports the failure on stderr and returns the process's exit status.
    pub fn report(self) -> ExitCode {
        let (message, status): (&dyn Display, ExitCode) = match &self {
            Failure::OutputClosed => return ExitCode::SUCCESS,
            Failure::Error(error) => (error, ExitCode::FAILURE),
            Failure::Interrupted { signal, error } => (error, ExitCode::from(128 + *signal as u8)),
        };
        output::error_line(format_args!("tidelog: {message}"));
        status
    }
}

impl From<String> for Failure {
    fn from(error: String) -> Failure {
        Failure::Error(error)
    }
}
