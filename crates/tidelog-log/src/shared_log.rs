//! A partition log as the broker shares it, opened on its first use.
//!
//! After a clean shutdown everything a log needs until it is used is in its log dir's
//! checkpoints: its log end (the recovery point, which a clean shutdown leaves at the end)
//! and its log start. A start of 100,000 partitions then costs no file access per
//! partition; each one lists its directory, reads its indexes' entries and its producer
//! snapshot at its first append, read or flush, under its mutex. Every other log (after a
//! crash, or without both checkpoint entries) is opened at the start as before.

use crate::changes;
use crate::config::LogConfig;
use crate::error::{IoContext, Result};
use crate::layout::LOG_SUFFIX;
use crate::partition_log::{delete_partition_dir, PartitionLog, Recovery};
use std::fs;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tracing::warn;

/// Appends and other changes under the mutex; reads and flushes on a snapshot taken under
/// it. Cloning shares the log.
#[derive(Debug, Clone)]
pub struct SharedLog(Arc<Mutex<Slot>>);

#[derive(Debug)]
enum Slot {
    Open(PartitionLog),
    /// Not opened since a clean shutdown: what the checkpoints and the broker said of it.
    Unopened(Unopened),
}

#[derive(Debug)]
struct Unopened {
    dir: PathBuf,
    config: LogConfig,
    log_start_offset: i64,
    log_end_offset: i64,
    /// The epoch to append in once open ([`PartitionLog::become_leader`]).
    leader_epoch: Option<i32>,
    /// Its `.log` files, once asked for: they do not change while unopened.
    listed: Option<Listed>,
}

/// What `/metrics` and DescribeLogDirs show of a log, read without opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSummary {
    pub size_bytes: u64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// The locked log, open.
pub struct LogGuard<'a>(MutexGuard<'a, Slot>);

impl Deref for LogGuard<'_> {
    type Target = PartitionLog;

    fn deref(&self) -> &PartitionLog {
        match &*self.0 {
            Slot::Open(log) => log,
            Slot::Unopened(_) => unreachable!("a guard is made only over an open log"),
        }
    }
}

impl DerefMut for LogGuard<'_> {
    fn deref_mut(&mut self) -> &mut PartitionLog {
        match &mut *self.0 {
            Slot::Open(log) => log,
            Slot::Unopened(_) => unreachable!("a guard is made only over an open log"),
        }
    }
}

impl SharedLog {
    pub fn new(log: PartitionLog) -> SharedLog {
        SharedLog(Arc::new(Mutex::new(Slot::Open(log))))
    }

    /// A log in `dir` left whole by a clean shutdown with these offsets, opened on first
    /// use.
    pub fn unopened(dir: PathBuf, config: LogConfig, log_start_offset: i64, log_end_offset: i64) -> SharedLog {
        SharedLog(Arc::new(Mutex::new(Slot::Unopened(Unopened {
            dir,
            config,
            log_start_offset,
            log_end_offset,
            leader_epoch: None,
            listed: None,
        }))))
    }

    /// Locks the log, opening it first if this is its first use. An open that fails leaves
    /// it unopened, to be tried again by the next use.
    pub fn lock(&self) -> Result<LogGuard<'_>> {
        let mut slot = self.slot();
        if let Slot::Unopened(unopened) = &*slot {
            let log = unopened.open()?;
            *slot = Slot::Open(log);
            // Its end may differ from the checkpoint's (see `Unopened::open`).
            changes::offset_moved();
        }
        Ok(LogGuard(slot))
    }

    /// Locks the log if it is open: work that a log untouched since a clean shutdown does
    /// not need (deleting segment files past their delay) skips it.
    pub fn lock_if_open(&self) -> Option<LogGuard<'_>> {
        let slot = self.slot();
        matches!(*slot, Slot::Open(_)).then_some(LogGuard(slot))
    }

    pub fn is_open(&self) -> bool {
        matches!(*self.slot(), Slot::Open(_))
    }

    pub fn dir(&self) -> PathBuf {
        match &*self.slot() {
            Slot::Open(log) => log.dir().to_path_buf(),
            Slot::Unopened(unopened) => unopened.dir.clone(),
        }
    }

    /// Everything below it is durable ([`PartitionLog::flushed_offset`]).
    pub fn flushed_offset(&self) -> i64 {
        match &*self.slot() {
            Slot::Open(log) => log.flushed_offset(),
            Slot::Unopened(unopened) => unopened.log_end_offset,
        }
    }

    pub fn log_start_offset(&self) -> i64 {
        match &*self.slot() {
            Slot::Open(log) => log.log_start_offset(),
            Slot::Unopened(unopened) => unopened.log_start_offset,
        }
    }

    /// Its size and offsets; an unopened log's size is read from its directory, without
    /// opening it, once.
    pub fn summary(&self) -> Result<LogSummary> {
        match &mut *self.slot() {
            Slot::Open(log) => Ok(LogSummary {
                size_bytes: log.size_bytes(),
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
            }),
            Slot::Unopened(unopened) => Ok(LogSummary {
                size_bytes: unopened.listed()?.bytes,
                log_start_offset: unopened.log_start_offset,
                log_end_offset: unopened.log_end_offset,
            }),
        }
    }

    /// Whether the log may have segments to delete by retention: an open one, or an
    /// unopened one of more than one segment (the active one is never deleted). Idle
    /// partitions of one segment so stay unopened.
    pub fn has_sealed_segments(&self) -> Result<bool> {
        match &mut *self.slot() {
            Slot::Open(_) => Ok(true),
            Slot::Unopened(unopened) => Ok(unopened.listed()?.segments > 1),
        }
    }

    /// [`PartitionLog::set_config`], kept for the open if the log is not open yet.
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        match &mut *self.slot() {
            Slot::Open(log) => log.set_config(config),
            Slot::Unopened(unopened) => {
                config.validate()?;
                unopened.config = config;
                Ok(())
            }
        }
    }

    /// [`PartitionLog::become_leader`], kept for the open if the log is not open yet.
    pub fn become_leader(&self, epoch: i32) {
        match &mut *self.slot() {
            Slot::Open(log) => log.become_leader(epoch),
            Slot::Unopened(unopened) => unopened.leader_epoch = Some(epoch),
        }
    }

    /// [`PartitionLog::become_follower`], kept for the open if the log is not open yet.
    pub fn become_follower(&self) {
        match &mut *self.slot() {
            Slot::Open(log) => log.become_follower(),
            Slot::Unopened(unopened) => unopened.leader_epoch = None,
        }
    }

    /// Removes the partition's directory ([`PartitionLog::delete`]), without opening it.
    pub fn delete(&self) -> Result<()> {
        match &mut *self.slot() {
            Slot::Open(log) => log.delete(),
            Slot::Unopened(unopened) => delete_partition_dir(&unopened.dir),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Unopened {
    fn listed(&mut self) -> Result<Listed> {
        match self.listed {
            Some(listed) => Ok(listed),
            None => Ok(*self.listed.insert(list_segments(&self.dir)?)),
        }
    }

    fn open(&self) -> Result<PartitionLog> {
        let mut log = PartitionLog::open(&self.dir, self.config.clone(), Recovery::Skip, self.log_start_offset)?;
        if log.log_end_offset() != self.log_end_offset {
            // Not a clean shutdown's checkpoint after all; what is on disk is the log.
            warn!(dir = %self.dir.display(), checkpointed = self.log_end_offset, found = log.log_end_offset(),
                "a log's end differs from its recovery point after a clean shutdown");
        }
        if let Some(epoch) = self.leader_epoch {
            log.become_leader(epoch);
        }
        Ok(log)
    }
}

/// The segment files of an unopened log.
#[derive(Debug, Clone, Copy)]
struct Listed {
    segments: usize,
    bytes: u64,
}

/// The `.log` files in `dir`: how many, and their bytes.
fn list_segments(dir: &Path) -> Result<Listed> {
    let suffix = format!(".{LOG_SUFFIX}");
    let mut listed = Listed { segments: 0, bytes: 0 };
    for entry in fs::read_dir(dir).context("list", dir)? {
        let entry = entry.context("list", dir)?;
        if entry.file_name().to_str().is_some_and(|name| name.ends_with(&suffix)) {
            listed.segments += 1;
            listed.bytes += entry.metadata().context("stat", &entry.path())?.len();
        }
    }
    Ok(listed)
}
