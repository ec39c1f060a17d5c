//! All partition logs of a broker across its `log.dirs`: placement of new partitions,
//! loading with crash recovery at startup, checkpoints, and clean shutdown.
//!
//! Each log dir records its own state the way Kafka does: `.kafka_cleanshutdown` exists only
//! between a clean shutdown and the next start, `recovery-point-offset-checkpoint` says up to
//! where each partition was flushed (recovery scans only past that), and
//! `log-start-offset-checkpoint` keeps log start offsets moved by retention or DeleteRecords.

use crate::changes;
use crate::checkpoint::{
    CheckpointFile, Offsets, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
};
use crate::config::LogConfig;
use crate::error::{IoContext, LogError, Result};
use crate::layout::TopicPartition;
use crate::partition_log::{PartitionLog, Recovery};
use crate::shared_log::{LogSummary, SharedLog};
use crate::small_file::{sync_dir, sync_filesystem};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};
use tracing::{debug, info, warn};

/// The KRaft metadata log's topic, whose one partition directory is the metadata store's.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Kafka's clean shutdown marker file name.
pub const CLEAN_SHUTDOWN_MARKER: &str = ".kafka_cleanshutdown";

/// A log dir with the partitions it holds and their summaries.
pub type DirSummary = (PathBuf, Vec<(TopicPartition, LogSummary)>);

#[derive(Debug)]
struct ManagedLog {
    /// Index into `LogManager::dirs`.
    dir: usize,
    log: SharedLog,
}

#[derive(Debug)]
pub struct LogManager {
    dirs: Vec<PathBuf>,
    logs: RwLock<BTreeMap<TopicPartition, ManagedLog>>,
    /// What the checkpoint files were last written with. Writers hold it: they share
    /// temporary file names.
    checkpointed: Mutex<Checkpointed>,
    /// Logs opened at a start, and closed at a shutdown, at once (Kafka's
    /// `num.recovery.threads.per.data.dir` serves both).
    threads: usize,
}

#[derive(Debug, Default)]
struct Checkpointed {
    /// Each checkpoint file's offsets by name and log dir index, so an unchanged one is not
    /// rewritten.
    written: BTreeMap<(&'static str, usize), Offsets>,
    /// The count of offset changes (`changes::offset_moves`) at which each checkpoint name
    /// was last written: while it stays the same, no log is looked at.
    at_moves: BTreeMap<&'static str, u64>,
}

/// A partition found on disk, to be opened.
struct Found {
    dir: usize,
    path: PathBuf,
    recovery: Recovery,
    log_start: i64,
    /// After a clean shutdown, the log end its recovery point gives, with its log start
    /// checkpointed too: the log is opened on first use ([`SharedLog::unopened`]).
    clean_end: Option<i64>,
}

impl LogManager {
    /// Opens every partition found in `dirs` (creating missing dirs) with `config`; the
    /// broker applies topic overrides afterwards with [`PartitionLog::set_config`]. A dir
    /// without the clean shutdown marker has its partitions recovered from their
    /// checkpointed recovery points, as many at once as there are CPUs. The markers are
    /// removed once everything is loaded.
    pub fn open(dirs: &[PathBuf], config: &LogConfig) -> Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Self::open_with_recovery_threads(dirs, config, threads)
    }

    /// [`LogManager::open`] with up to `threads` partitions opened at once, like Kafka's
    /// `num.recovery.threads.per.data.dir`: recovery reads and checks data at disk or
    /// memory speed, and one thread alone reaches neither.
    pub fn open_with_recovery_threads(dirs: &[PathBuf], config: &LogConfig, threads: usize) -> Result<Self> {
        config.validate()?;
        if dirs.is_empty() {
            return Err(LogError::InvalidConfig("log.dirs is empty".into()));
        }
        let mut found: BTreeMap<TopicPartition, Found> = BTreeMap::new();
        for (index, dir) in dirs.iter().enumerate() {
            fs::create_dir_all(dir).context("create log dir", dir)?;
            let partitions = partition_dirs(dir)?;
            // A dir without partitions (a new one) has nothing to recover.
            let clean = dir.join(CLEAN_SHUTDOWN_MARKER).exists() || partitions.is_empty();
            let recovery_points = CheckpointFile::new(dir, RECOVERY_POINT_CHECKPOINT).read()?;
            let log_starts = CheckpointFile::new(dir, LOG_START_OFFSET_CHECKPOINT).read()?;
            info!(dir = %dir.display(), clean, partitions = partitions.len(), "loading log dir");
            for (tp, path) in partitions {
                if let Some(other) = found.get(&tp) {
                    return Err(LogError::DuplicatePartition {
                        name: tp.to_string(),
                        first: other.path.clone(),
                        second: path,
                    });
                }
                let recovery = match clean {
                    true => Recovery::Skip,
                    false => Recovery::From(recovery_points.get(&tp).copied().unwrap_or(0)),
                };
                let clean_end = clean
                    .then(|| opens_on_first_use(&tp, &recovery_points, &log_starts))
                    .flatten();
                let partition = Found {
                    dir: index,
                    path,
                    recovery,
                    log_start: log_starts.get(&tp).copied().unwrap_or(0),
                    clean_end,
                };
                found.insert(tp, partition);
            }
        }
        let recovered = found
            .values()
            .filter(|f| matches!(f.recovery, Recovery::From(_)))
            .count();
        let (unopened, to_open): (Vec<_>, Vec<_>) = found.into_iter().partition(|(_, f)| f.clean_end.is_some());
        let opened = on_threads(threads, to_open, |(tp, found)| {
            let log = PartitionLog::open(&found.path, config.clone(), found.recovery, found.log_start)?;
            Ok((
                tp,
                ManagedLog {
                    dir: found.dir,
                    log: SharedLog::new(log),
                },
            ))
        });
        let mut logs = opened.into_iter().collect::<Result<BTreeMap<_, _>>>()?;
        let deferred = unopened.len();
        for (tp, found) in unopened {
            let end = found.clean_end.expect("partitioned by it");
            let log = SharedLog::unopened(found.path, config.clone(), found.log_start, end);
            logs.insert(tp, ManagedLog { dir: found.dir, log });
        }
        // One line for all; each segment's recovery is at debug.
        info!(
            partitions = logs.len(),
            recovered,
            opened_on_first_use = deferred,
            "loaded logs"
        );
        for dir in dirs {
            let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
            if marker.exists() {
                fs::remove_file(&marker).context("remove", &marker)?;
                sync_dir(dir)?;
            }
        }
        Ok(Self {
            dirs: dirs.to_vec(),
            logs: RwLock::new(logs),
            checkpointed: Mutex::default(),
            threads,
        })
    }

    pub fn get_log(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.read_logs().get(tp).map(|m| m.log.clone())
    }

    /// Every partition with its log, in topic-partition order.
    pub fn logs(&self) -> Vec<(TopicPartition, SharedLog)> {
        self.read_logs()
            .iter()
            .map(|(tp, m)| (tp.clone(), m.log.clone()))
            .collect()
    }

    /// Each log dir with the partitions it holds and their sizes and offsets, in order,
    /// read without opening a log not opened yet. A partition whose directory cannot be
    /// read is logged and left out, so that one bad directory does not hide every other
    /// partition from a scrape, a page or DescribeLogDirs.
    pub fn summaries_by_dir(&self) -> Vec<DirSummary> {
        let mut dirs: Vec<DirSummary> = self.dirs.iter().map(|d| (d.clone(), Vec::new())).collect();
        for (tp, managed) in self.read_logs().iter() {
            match managed.log.summary() {
                Ok(summary) => dirs[managed.dir].1.push((tp.clone(), summary)),
                Err(e) => warn!(partition = %tp, error = %e, "cannot read a partition's size and offsets; left out"),
            }
        }
        dirs
    }

    /// The partition's log, created with `config` in the log dir holding the fewest
    /// partitions if it does not exist yet.
    pub fn get_or_create_log(&self, tp: &TopicPartition, config: LogConfig) -> Result<SharedLog> {
        let mut logs = self.create_logs(vec![(tp.clone(), config)])?;
        Ok(logs.pop().expect("one log").0)
    }

    /// The log of each partition of `new` (distinct partitions), in order, and whether it
    /// was created: the existing one, or one created with its config in the log dir holding
    /// the fewest partitions, on every CPU. A new log costs no fsync until its first records
    /// ([`PartitionLog::create`]).
    pub fn create_logs(&self, new: Vec<(TopicPartition, LogConfig)>) -> Result<Vec<(SharedLog, bool)>> {
        let mut logs = self.logs.write().unwrap_or_else(PoisonError::into_inner);
        let mut held = vec![0usize; self.dirs.len()];
        for managed in logs.values() {
            held[managed.dir] += 1;
        }
        let order: Vec<(TopicPartition, bool)> =
            new.iter().map(|(tp, _)| (tp.clone(), !logs.contains_key(tp))).collect();
        let mut placed = Vec::new();
        for (tp, config) in new {
            if logs.contains_key(&tp) {
                continue;
            }
            let dir = (0..held.len()).min_by_key(|&d| held[d]).expect("at least one log dir");
            held[dir] += 1;
            placed.push((tp, config, dir));
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let created = on_threads(threads, placed, |(tp, config, dir)| {
            let log = PartitionLog::create(&self.dirs[dir].join(tp.dir_name()), config);
            (tp, dir, log)
        });
        let mut failed = None;
        for (tp, dir, log) in created {
            match log {
                Ok(log) => {
                    debug!(partition = %tp, dir = %self.dirs[dir].display(), "created log");
                    logs.insert(
                        tp,
                        ManagedLog {
                            dir,
                            log: SharedLog::new(log),
                        },
                    );
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        changes::offset_moved();
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(order
            .into_iter()
            .map(|(tp, created)| (logs[&tp].log.clone(), created))
            .collect())
    }

    /// Deletes the partition's log and its directory; `false` if there was none. Handles
    /// the broker still holds must be dropped.
    pub fn delete_log(&self, tp: &TopicPartition) -> Result<bool> {
        let Some(managed) = self.logs.write().unwrap_or_else(PoisonError::into_inner).remove(tp) else {
            return Ok(false);
        };
        changes::offset_moved();
        managed.log.delete()?;
        // A partition created later under the same name must not start from this progress.
        let _checkpointed = self.checkpointed.lock().unwrap_or_else(PoisonError::into_inner);
        let cleaner = CheckpointFile::new(&self.dirs[managed.dir], CLEANER_OFFSET_CHECKPOINT);
        let mut offsets = cleaner.read()?;
        if offsets.remove(tp).is_some() {
            cleaner.write(&offsets)?;
        }
        info!(partition = %tp, "deleted log");
        Ok(true)
    }

    /// Writes each log dir's `recovery-point-offset-checkpoint` from the logs' flushed
    /// offsets, unless they did not change since the last write. The broker calls it
    /// periodically; the later it runs, the more a crash recovery has to scan. Like
    /// [`LogManager::shutdown`] it locks each partition log in turn, so the caller must not
    /// hold one.
    pub fn checkpoint_recovery_points(&self) -> Result<()> {
        self.write_checkpoints(RECOVERY_POINT_CHECKPOINT, SharedLog::flushed_offset)
    }

    /// Writes each log dir's `log-start-offset-checkpoint`, unless it did not change since
    /// the last write, so log starts moved by retention or DeleteRecords survive restarts.
    pub fn checkpoint_log_start_offsets(&self) -> Result<()> {
        self.write_checkpoints(LOG_START_OFFSET_CHECKPOINT, SharedLog::log_start_offset)
    }

    /// Where the partition's next cleaning starts, from its log dir's
    /// `cleaner-offset-checkpoint`; `None` for a partition never cleaned.
    pub fn cleaner_offset(&self, tp: &TopicPartition) -> Result<Option<i64>> {
        let Some(dir) = self.read_logs().get(tp).map(|m| m.dir) else {
            return Ok(None);
        };
        let file = CheckpointFile::new(&self.dirs[dir], CLEANER_OFFSET_CHECKPOINT);
        Ok(file.read()?.get(tp).copied())
    }

    /// Records in its log dir's `cleaner-offset-checkpoint` where the partition's next
    /// cleaning starts, dropping the entries of partitions the dir no longer holds.
    pub fn set_cleaner_offset(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        // Held as by the other checkpoint writers: they share temporary file names.
        let _checkpointed = self.checkpointed.lock().unwrap_or_else(PoisonError::into_inner);
        let (dir, held) = {
            let logs = self.read_logs();
            let Some(dir) = logs.get(tp).map(|m| m.dir) else {
                return Ok(());
            };
            let held: Vec<TopicPartition> = logs
                .iter()
                .filter(|(_, m)| m.dir == dir)
                .map(|(tp, _)| tp.clone())
                .collect();
            (dir, held)
        };
        let file = CheckpointFile::new(&self.dirs[dir], CLEANER_OFFSET_CHECKPOINT);
        let mut offsets = file.read()?;
        offsets.retain(|tp, _| held.contains(tp));
        offsets.insert(tp.clone(), offset);
        file.write(&offsets)
    }

    fn write_checkpoints(&self, name: &'static str, offset: fn(&SharedLog) -> i64) -> Result<()> {
        let mut checkpointed = self.checkpointed.lock().unwrap_or_else(PoisonError::into_inner);
        let moves = changes::offset_moves();
        if checkpointed.at_moves.get(name) == Some(&moves) {
            return Ok(());
        }
        // Collected first so no partition lock is taken while the map is locked.
        let logs: Vec<(TopicPartition, usize, SharedLog)> = self
            .read_logs()
            .iter()
            .map(|(tp, m)| (tp.clone(), m.dir, m.log.clone()))
            .collect();
        let mut per_dir = vec![Offsets::new(); self.dirs.len()];
        for (tp, dir, log) in logs {
            per_dir[dir].insert(tp, offset(&log));
        }
        for (index, offsets) in per_dir.into_iter().enumerate() {
            if checkpointed.written.get(&(name, index)) != Some(&offsets) {
                CheckpointFile::new(&self.dirs[index], name).write(&offsets)?;
                checkpointed.written.insert((name, index), offsets);
            }
        }
        checkpointed.at_moves.insert(name, moves);
        Ok(())
    }

    /// Flushes and closes every log, writes the checkpoints and then the clean shutdown
    /// markers, so the next start trusts everything and scans nothing. Call it once
    /// requests have stopped: anything appended afterwards would not be covered.
    pub fn shutdown(&self) -> Result<()> {
        // Closed on `threads` threads without an fsync each, then made durable by one syncfs(2) per
        // log dir: a broker of 100,000 partitions would otherwise stop in minutes.
        // A failed fsync leaves pages the kernel no longer holds dirty, so a later sync
        // succeeds for data that is lost: only a start that recovers may follow.
        if crate::snapshot::flush_failed() {
            return Err(LogError::EarlierFlushFailed);
        }
        // A log never opened since a clean shutdown is closed already.
        let logs = self.logs();
        let closed = on_threads(self.threads, logs.iter().collect(), |(_, log)| {
            let Some(mut open) = log.lock_if_open() else {
                return Ok(None);
            };
            open.close_unsynced().map(|end| Some((log, end)))
        });
        let closed = closed.into_iter().collect::<Result<Vec<_>>>()?;
        for dir in &self.dirs {
            sync_filesystem(dir)?;
        }
        for (log, end) in closed.into_iter().flatten() {
            if let Some(mut open) = log.lock_if_open() {
                open.mark_durable(end);
            }
        }
        self.checkpoint_recovery_points()?;
        self.checkpoint_log_start_offsets()?;
        // For Kafka, which starts a partition's high watermark at 0 without one. With one
        // replica the high watermark is the flushed offset: the log end, once closed.
        self.write_checkpoints(REPLICATION_OFFSET_CHECKPOINT, SharedLog::flushed_offset)?;
        for dir in &self.dirs {
            let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
            File::create(&marker)
                .and_then(|f| f.sync_all())
                .context("write", &marker)?;
            sync_dir(dir)?;
        }
        info!("log manager shut down cleanly");
        Ok(())
    }

    fn read_logs(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<TopicPartition, ManagedLog>> {
        self.logs.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `work` on every item on up to `threads` scoped threads, each taking the next item
/// when done with one, so that a long recovery does not hold up the items behind it.
/// Results come in no particular order; a panic in `work` is passed on.
pub fn on_threads<T: Send, R: Send>(threads: usize, items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    let queue = Mutex::new(items.into_iter());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        // Its own statement, so the queue is unlocked while `work` runs.
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                        let Some(item) = next else {
                            return done;
                        };
                        done.push(work(item));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// The log end of a partition that [`LogManager::open`] leaves unopened until its first
/// use, in a cleanly shut down log dir with these checkpoints: one whose end (its recovery
/// point) and log start are both checkpointed.
fn opens_on_first_use(tp: &TopicPartition, recovery_points: &Offsets, log_starts: &Offsets) -> Option<i64> {
    log_starts.get(tp)?;
    recovery_points.get(tp).copied()
}

/// The partitions of `log_dir` that [`LogManager::open`] will not open at the start: none
/// unless the dir was shut down cleanly. A caller that checks partition directories before
/// the start (the broker's `partition.metadata`) may leave these to their first use.
pub fn partitions_opened_on_first_use(log_dir: &Path) -> Result<BTreeSet<TopicPartition>> {
    if !log_dir.join(CLEAN_SHUTDOWN_MARKER).exists() {
        return Ok(BTreeSet::new());
    }
    let recovery_points = CheckpointFile::new(log_dir, RECOVERY_POINT_CHECKPOINT).read()?;
    let log_starts = CheckpointFile::new(log_dir, LOG_START_OFFSET_CHECKPOINT).read()?;
    Ok(recovery_points
        .keys()
        .filter(|tp| opens_on_first_use(tp, &recovery_points, &log_starts).is_some())
        .cloned()
        .collect())
}

/// Renames a partition directory of `log_dir` to `<topic>-<partition>.<unique>-stray`
/// (Kafka's name for a log no metadata names), which no start loads or deletes, without
/// opening it: nothing in it is recovered, cut or rewritten. Returns the new path.
pub fn set_aside_stray(log_dir: &Path, tp: &TopicPartition, unique: &str) -> Result<PathBuf> {
    let from = log_dir.join(tp.dir_name());
    let to = log_dir.join(format!("{}.{unique}-stray", tp.dir_name()));
    fs::rename(&from, &to).context("rename stray partition dir", &from)?;
    sync_dir(log_dir)?;
    Ok(to)
}

/// The partition directories in a log dir; anything else (checkpoints, markers, Kafka's
/// `-delete` dirs, the KRaft metadata log `__cluster_metadata-0`, which is no topic's) is
/// skipped.
pub fn partition_dirs(dir: &Path) -> Result<Vec<(TopicPartition, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).context("list", dir)? {
        let entry = entry.context("list", dir)?;
        if !entry.file_type().context("stat", &entry.path())?.is_dir() {
            continue;
        }
        let tp = entry.file_name().to_str().and_then(TopicPartition::from_dir_name);
        if let Some(tp) = tp.filter(|tp| tp.topic() != CLUSTER_METADATA_TOPIC) {
            found.push((tp, entry.path()));
        }
    }
    Ok(found)
}
