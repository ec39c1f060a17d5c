//! Kafka's small files (offset and leader-epoch checkpoints here; `partition.metadata`,
//! `quorum-state` and `meta.properties` in the broker): read whole, and replaced so that a
//! crash leaves either the old file or the new one, never a mix.

use crate::error::{IoContext, LogError, Result};
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The text of the file at `path` parsed by `parse`; `None` when there is no such file. A
/// file `parse` refuses is [`LogError::Corrupt`], naming it.
pub fn read_text_file<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<Option<T>> {
    let text = match fs::read_to_string(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        read => read.context("read", path)?,
    };
    parse(&text).map(Some).map_err(|reason| LogError::corrupt(path, reason))
}

/// Replaces the file at `path` with `contents`: written to `<path>.tmp` (Kafka's name for
/// it), fsynced, renamed over `path`, and the directory fsynced.
pub fn replace_file(path: &Path, contents: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let mut file = File::create(tmp).context("create", tmp)?;
    file.write_all(contents).context("write", tmp)?;
    file.sync_all().context("fsync", tmp)?;
    fs::rename(tmp, path).context("rename over", path)?;
    sync_dir(
        path.parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

/// Makes entries created, renamed or removed in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context("fsync directory", dir)
}

/// Makes everything written to the file system holding `dir` durable (syncfs(2)): one call
/// for what would be thousands of fsyncs. Linux reports a writeback error of any file there
/// to it.
pub fn sync_filesystem(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| {
            // SAFETY: syncfs(2) on a descriptor `d` owns.
            match unsafe { libc::syncfs(d.as_raw_fd()) } {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        })
        .context("syncfs", dir)
}
