//! The `tidelog` binary's client commands run against a test broker.

use std::io::Write;
use std::process::{Command, Stdio};

use super::Broker;

/// The variable naming the broker when no flag does.
pub const BOOTSTRAP_ENV: &str = "TIDELOG_BOOTSTRAP_SERVER";

/// `tidelog` with a quiet log and no broker named by the environment of the test run.
pub fn tidelog_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidelog"));
    command.env("RUST_LOG", "warn").env_remove(BOOTSTRAP_ENV);
    command
}

/// What a run of the command printed, and whether it succeeded.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tidelog <args> --bootstrap-server <broker>` with `stdin` as its standard input.
pub fn tidelog(broker: &Broker, args: &[&str], stdin: &str) -> Run {
    // The flag last, as Kafka users type it: `tidelog topics create orders ... --bootstrap-server ..`.
    let mut child = tidelog_command()
        .args(args)
        .args(["--bootstrap-server", &broker.bootstrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tidelog");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait for tidelog");
    Run::of(output)
}

impl Run {
    pub fn of(output: std::process::Output) -> Run {
        Run {
            success: output.status.success(),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 output"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 errors"),
        }
    }
}
