//! Kafka's small files (offset and leader-epoch checkpoints here; `partition.metadata`,
//! `quorum-state` and `meta.properties` in the broker): read whole, and replaced so that a
//! crash leaves either the old file or the new one, never a mix.

use crate::error::{IoContext, LogError, Result};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, PoisonError};

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
    replace_file_before_dir_sync(path, contents)?;
    sync_dir(
        path.parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

/// [`replace_file`] but for the directory fsync, for a caller that fsyncs the directory
/// next anyway (a new partition's first flush): the rename is durable from then on.
pub fn replace_file_before_dir_sync(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut file = File::create(&tmp).context("create", &tmp)?;
    file.write_all(contents).context("write", &tmp)?;
    file.sync_all().context("fsync", &tmp)?;
    fs::rename(&tmp, path).context("rename over", path)
}

/// The first half of a replacement made durable by the caller's syncfs(2) of the file
/// system, for many files at once: `contents` in `<path>.tmp`, not fsynced. The caller
/// syncs, then calls [`install_tmp_file`], then syncs again.
pub fn write_tmp_file(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    fs::write(&tmp, contents).context("write", &tmp)
}

/// The second half, once the temporary file is durable: renamed over `path`.
pub fn install_tmp_file(path: &Path) -> Result<()> {
    fs::rename(tmp_path(path), path).context("rename over", path)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Makes entries created, renamed or removed in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context("fsync directory", dir)
}

/// [`sync_dir`] for a directory that many threads sync at once (a log dir, by the first
/// flush of each new partition): one fsync that starts after a call serves every call made
/// before it started, as the flusher's group commit serves appends.
pub(crate) fn sync_dir_shared(dir: &Path) -> Result<()> {
    static SYNCS: LazyLock<Mutex<HashMap<PathBuf, Arc<SharedSync>>>> = LazyLock::new(Mutex::default);
    let shared = {
        let mut syncs = SYNCS.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(syncs.entry(dir.to_path_buf()).or_default())
    };
    shared.sync(dir)
}

#[derive(Default)]
struct SharedSync {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// fsyncs begun and the last one that succeeded, numbered from 1.
    started: u64,
    completed: u64,
    running: bool,
}

impl SharedSync {
    fn sync(&self, dir: &Path) -> Result<()> {
        let lock = || self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = lock();
        // One begun before this call may have missed what the caller wrote.
        let needed = state.started + 1;
        loop {
            if state.completed >= needed {
                return Ok(());
            }
            if !state.running {
                state.running = true;
                state.started += 1;
                let this = state.started;
                drop(state);
                let synced = sync_dir(dir);
                let mut state = lock();
                state.running = false;
                if synced.is_ok() {
                    state.completed = this;
                }
                self.done.notify_all();
                return synced;
            }
            state = self.done.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_directory_sync_serves_every_caller_and_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|scope| {
            let syncs: Vec<_> = (0..8).map(|_| scope.spawn(|| sync_dir_shared(dir.path()))).collect();
            for sync in syncs {
                sync.join().unwrap().unwrap();
            }
        });
        let gone = dir.path().join("gone");
        assert!(sync_dir_shared(&gone).is_err());
    }
}
