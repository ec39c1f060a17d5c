//! The temporary directory that `bench restart` and `bench all` keep their brokers' data and
//! logs in: refused up front when its disk lacks the space the run writes, and removed when
//! the run ends, on Ctrl-C and SIGTERM too, but for a failure, whose message names the
//! broker log to read.

use std::path::Path;

use crate::failure::Failure;
use crate::{interrupt, output};

/// Runs `run` with a new directory in `parent` (the system's temporary directory if
/// `None`) whose disk has `needed_bytes` free, catching SIGINT and SIGTERM meanwhile: `run`
/// checks for them ([`interrupt::check`]) and stops its brokers on the way out.
pub fn in_work_dir<T>(
    parent: Option<&Path>,
    needed_bytes: f64,
    run: impl FnOnce(&Path) -> Result<T, String>,
) -> Result<T, Failure> {
    let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let free = free_bytes(&parent)?;
    if (free as f64) < needed_bytes {
        return Err(format!(
            "{} has {:.1} GB free and the run writes up to about {:.1} GB: free some space, \
             choose another --work-dir, or write less (--duration, --restart-gb)",
            parent.display(),
            free as f64 / 1e9,
            needed_bytes / 1e9
        )
        .into());
    }
    interrupt::catch()?;
    let work = tempfile::tempdir_in(&parent)
        .map_err(|e| format!("cannot create a work directory in {}: {e}", parent.display()))?;
    match (run(work.path()), interrupt::received()) {
        (Ok(done), _) => Ok(done),
        (Err(error), Some(signal)) => {
            let path = work.path().display().to_string();
            let removed = match work.close() {
                Ok(()) => format!("{path} is removed"),
                Err(e) => format!("{path} could not be removed: {e}"),
            };
            let error = format!("{error}; the benchmark's brokers are stopped and {removed}");
            Err(Failure::Interrupted { signal, error })
        }
        (Err(error), None) => {
            output::error_line(format_args!("kept {} for its broker logs", work.keep().display()));
            Err(error.into())
        }
    }
}

/// The bytes an unprivileged process may still write to the file system holding `dir`.
fn free_bytes(dir: &Path) -> Result<u64, String> {
    tidelog_broker::data_dir::capacity(dir)
        .map(|(_, available)| available)
        .map_err(|e| format!("cannot read the free space of {}: {e}", dir.display()))
}
