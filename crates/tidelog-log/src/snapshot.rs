//! A cheap, consistent view of a partition log that reads and flushes without the log's lock.
//!
//! The broker keeps each [`crate::PartitionLog`] behind a mutex for appends. A fetch takes
//! the lock only to call [`crate::PartitionLog::snapshot`] (a few `Arc` clones and the end
//! offsets), releases it, and does its file I/O on the snapshot while appends go on. The
//! snapshot sees exactly the batches committed when it was taken: it stops at the active
//! segment's size of that moment. Segments deleted meanwhile stay readable through their
//! open file descriptors (as do the file regions of reads); a truncation racing a read can
//! only make the read return fewer batches, or those the snapshot saw (see
//! `Segment::truncate_to`).

use crate::changes;
use crate::error::{LogError, Result};
use crate::leader_epoch_checkpoint::{EpochEntry, LeaderEpochCheckpointFile};
use crate::segment::{LocatedBatch, Segment};
use crate::small_file::{sync_dir, sync_dir_shared, sync_filesystem};
use crate::time_index::{TimestampOffset, NO_TIMESTAMP};
use crate::txn_index::AbortedTxn;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tidelog_protocol::records::RecordBatch;
use tidelog_protocol::Payload;

/// Bound on the decompressed records of one batch when ListOffsets has to look inside it.
const MAX_DECOMPRESSED_BATCH_BYTES: usize = 256 << 20;

/// What a fetch gets: file bytes of whole batches (in memory, or a region of the segment
/// file to send as it is), and the log bounds it was served from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadResult {
    pub records: Payload,
    /// The offset after the last batch of `records`; the fetch offset when there is none.
    pub next_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

#[derive(Debug, Clone)]
pub struct LogSnapshot {
    pub(crate) segments: Arc<Vec<Arc<Segment>>>,
    pub(crate) log_start_offset: i64,
    pub(crate) log_end_offset: i64,
    /// Committed size of the last segment when the snapshot was taken.
    pub(crate) active_size: u64,
    pub(crate) flushed_offset: Arc<AtomicI64>,
    /// See [`crate::PartitionLog::first_unstable_offset`], when the snapshot was taken.
    pub(crate) first_unstable_offset: Option<i64>,
    /// The partition directory is new and not durable yet (see `PartitionLog`).
    pub(crate) unsynced_dir: Arc<AtomicBool>,
    pub(crate) pending_epochs: PendingEpochs,
}

/// The `leader-epoch-checkpoint` entries (all of them) that a new partition directory's
/// first flush writes before its records, shared by the log and its snapshots.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingEpochs(Arc<Mutex<Option<Vec<EpochEntry>>>>);

impl PendingEpochs {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Vec<EpochEntry>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Some flush of a log failed in this process: a clean shutdown must not be claimed.
static FLUSH_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether a flush of some log failed since the process started.
pub(crate) fn flush_failed() -> bool {
    FLUSH_FAILED.load(Ordering::Acquire)
}

/// Makes the file systems holding `log_dirs` durable with one syncfs(2) each, for the
/// first flushes of many new partitions at once (see [`LogSnapshot::flushed_by_syncfs`]).
/// A failure counts as a failed flush: no clean shutdown is claimed afterwards.
pub fn sync_log_dirs(log_dirs: &BTreeSet<PathBuf>) -> Result<()> {
    let synced = log_dirs.iter().try_for_each(|dir| sync_filesystem(dir));
    if synced.is_err() {
        FLUSH_FAILED.store(true, Ordering::Release);
    }
    synced
}

impl LogSnapshot {
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Whether the partition directory is new and its first flush of records, which fsyncs
    /// the directory before the records, is still to come: a file renamed into it meanwhile
    /// needs no directory fsync of its own.
    pub fn dir_is_new(&self) -> bool {
        self.unsynced_dir.load(Ordering::Acquire) && self.log_end_offset > self.flushed_offset.load(Ordering::Acquire)
    }

    /// The log dir holding the partition.
    pub fn log_dir(&self) -> &Path {
        self.dir().parent().expect("a partition dir lives in a log dir")
    }

    /// For the first flush of many new partitions together: writes the partition's pending
    /// `leader-epoch-checkpoint` into its temporary file, not fsynced; whether there is one
    /// to install ([`LogSnapshot::install_epochs_unsynced`]) after the caller's syncfs.
    pub fn write_epochs_unsynced(&self) -> Result<bool> {
        let pending = self.pending_epochs.lock();
        match &*pending {
            Some(epochs) => LeaderEpochCheckpointFile::new(self.dir())
                .write_tmp_unsynced(epochs)
                .map(|()| true),
            None => Ok(false),
        }
    }

    /// Renames the temporary file [`LogSnapshot::write_epochs_unsynced`] wrote into place.
    pub fn install_epochs_unsynced(&self) -> Result<()> {
        let mut pending = self.pending_epochs.lock();
        if pending.is_some() {
            LeaderEpochCheckpointFile::new(self.dir()).install_tmp_unsynced()?;
            *pending = None;
        }
        Ok(())
    }

    fn dir(&self) -> &Path {
        self.segments[0].path().parent().expect("segments live in a dir")
    }

    /// Records the snapshot's records durable, with the partition's indexes and directory:
    /// the caller took it, then synced its log dir's whole file system ([`sync_log_dirs`]).
    /// One syncfs so stands for the three fsyncs or more of each new partition's first
    /// flush. Returns the flushed offset.
    pub fn flushed_by_syncfs(&self) -> i64 {
        self.unsynced_dir.store(false, Ordering::Release);
        let previous = self.flushed_offset.fetch_max(self.log_end_offset, Ordering::AcqRel);
        changes::offset_moved();
        previous.max(self.log_end_offset)
    }

    /// The segments the snapshot sees, oldest first (the last one is active).
    pub fn segments(&self) -> &[Arc<Segment>] {
        &self.segments
    }

    /// The first offset of the oldest transaction not yet decided and durable.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.first_unstable_offset
    }

    /// The aborted transactions holding records in `from..to`, oldest marker first, from
    /// the `.txnindex` files. A transaction is indexed in the segment of its marker, which
    /// may come well after its records, so the search goes on through later segments until
    /// an entry's last stable offset reaches `to`: no transaction with records below `to`
    /// was still open when that one was aborted (Kafka's rule).
    pub fn aborted_txns(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let mut found = Vec::new();
        for segment in self.segments.iter().skip(self.segment_index(from)) {
            let (entries, complete) = segment.aborted_txns(from, to);
            found.extend(entries);
            if complete {
                break;
            }
        }
        found
    }

    /// Raw bytes of whole batches, starting with the batch holding `fetch_offset`: at least
    /// that whole batch even if it exceeds `max_bytes`, then as many whole batches as fit in
    /// `max_bytes`, all from one segment, and none at or past `max_offset_exclusive` (the
    /// high watermark). Kafka's OFFSET_OUT_OF_RANGE when `fetch_offset` is below the log
    /// start or past the log end; empty records from the high watermark to the log end.
    pub fn read(&self, fetch_offset: i64, max_bytes: usize, max_offset_exclusive: i64) -> Result<ReadResult> {
        if fetch_offset < self.log_start_offset || fetch_offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: fetch_offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset,
            });
        }
        let limit = max_offset_exclusive.min(self.log_end_offset);
        let (records, next_offset) = self.read_records(fetch_offset, max_bytes, limit)?;
        Ok(ReadResult {
            records,
            next_offset: next_offset.unwrap_or(fetch_offset),
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
        })
    }

    fn read_records(&self, fetch_offset: i64, max_bytes: usize, limit: i64) -> Result<(Payload, Option<i64>)> {
        for (i, segment) in self.segments.iter().enumerate().skip(self.segment_index(fetch_offset)) {
            if fetch_offset >= limit || segment.base_offset() >= limit {
                break;
            }
            // `None`: the offset falls in a gap after this segment's last batch.
            let Some(first) = segment.find_batch(fetch_offset)? else {
                continue;
            };
            if first.header.base_offset() >= limit {
                break;
            }
            let end = self.end_position(i, limit)?;
            let (records, next_offset) = segment.read_batches(first, max_bytes, end)?;
            return Ok((records, Some(next_offset)));
        }
        Ok((Payload::default(), None))
    }

    /// Where readable bytes of segment `i` end: at the batch holding `limit` if that is in
    /// this segment, else at the committed size.
    fn end_position(&self, i: usize, limit: i64) -> Result<u64> {
        let segment = &self.segments[i];
        let next = self.segments.get(i + 1);
        let committed = if next.is_some() {
            segment.size()
        } else {
            self.active_size
        };
        if limit >= self.log_end_offset || next.is_some_and(|next| limit >= next.base_offset()) {
            return Ok(committed);
        }
        Ok(segment
            .find_batch(limit)?
            .map_or(committed, |b| b.position.min(committed)))
    }

    /// The segment that may hold `offset`: the last one starting at or before it.
    fn segment_index(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1)
    }

    /// ListOffsets by timestamp: the first record at or after the log start whose timestamp
    /// is at least `timestamp`, found through the time indexes (the first segment whose
    /// largest timestamp reaches it, then that segment's time and offset indexes, then batch
    /// headers), then the records of that one batch.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        for segment in self.segments.iter() {
            if segment.max_timestamp().timestamp < timestamp {
                continue;
            }
            if let Some(batch) = segment.find_timestamp(timestamp, self.log_start_offset)? {
                return self.first_record(segment, batch, timestamp);
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: the record with the largest timestamp (the first one if
    /// several share it), or `None` when no batch carries a timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>> {
        let mut best: Option<(&Arc<Segment>, TimestampOffset)> = None;
        for segment in self.segments.iter() {
            let max = segment.max_timestamp();
            if max.timestamp > best.map_or(NO_TIMESTAMP, |(_, b)| b.timestamp) {
                best = Some((segment, max));
            }
        }
        let Some((segment, max)) = best else {
            return Ok(None);
        };
        match segment.find_batch(max.offset)? {
            Some(batch) => self.first_record(segment, batch, max.timestamp),
            None => Ok(None),
        }
    }

    /// The first record of `batch` at or after the log start with a timestamp of at least
    /// `timestamp`; `None` for a batch appended after the snapshot was taken.
    fn first_record(&self, segment: &Segment, batch: LocatedBatch, timestamp: i64) -> Result<Option<TimestampOffset>> {
        if batch.header.base_offset() >= self.log_end_offset {
            return Ok(None);
        }
        let bytes = segment.read(batch.position, batch.header.size_in_bytes())?;
        let corrupt = |e: tidelog_protocol::records::RecordsError| {
            LogError::corrupt(segment.path(), format!("batch at byte {}: {e}", batch.position))
        };
        let batch = RecordBatch::parse(bytes).map_err(corrupt)?;
        for record in batch.records(MAX_DECOMPRESSED_BATCH_BYTES).map_err(corrupt)? {
            let record = record.map_err(corrupt)?;
            if record.timestamp >= timestamp && record.offset >= self.log_start_offset {
                return Ok(Some(TimestampOffset {
                    timestamp: record.timestamp,
                    offset: record.offset,
                }));
            }
        }
        Ok(None)
    }

    /// Makes every batch in the snapshot durable and returns the flushed offset: everything
    /// below it survives a crash. Syncs only segments holding offsets not yet flushed, and
    /// the indexes of those that are no longer active, which recovery will trust once the
    /// recovery point passes them. The active segment's indexes are not synced: that would
    /// triple the fsyncs of every group commit, and recovery checks the entries it keeps
    /// against the flushed batches instead (see `Segment::recover`). Concurrent flushes are
    /// harmless: the offset only grows.
    pub fn flush(&self) -> Result<i64> {
        let flushed = self.flush_unlatched();
        if flushed.is_err() {
            FLUSH_FAILED.store(true, Ordering::Release);
        }
        flushed
    }

    fn flush_unlatched(&self) -> Result<i64> {
        // Files written into a new partition's directory before it (`partition.metadata`,
        // `leader-epoch-checkpoint`) rely on the directory fsync below: see
        // [`LogSnapshot::dir_is_new`].
        let flushed = self.flushed_offset.load(Ordering::Acquire);
        if flushed >= self.log_end_offset {
            return Ok(flushed);
        }
        if self.unsynced_dir.load(Ordering::Acquire) {
            // The first records of a new partition: its files and itself made durable first.
            let dir = self.dir();
            let mut pending = self.pending_epochs.lock();
            if let Some(epochs) = &*pending {
                LeaderEpochCheckpointFile::new(dir).write_before_dir_sync(epochs)?;
                *pending = None;
            }
            drop(pending);
            sync_dir(dir)?;
            sync_dir_shared(dir.parent().expect("a partition dir lives in a log dir"))?;
            self.unsynced_dir.store(false, Ordering::Release);
        }
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate().skip(self.segment_index(flushed)) {
            segment.flush()?;
            if i < last {
                segment.flush_indexes()?;
            }
        }
        let previous = self.flushed_offset.fetch_max(self.log_end_offset, Ordering::AcqRel);
        changes::offset_moved();
        Ok(previous.max(self.log_end_offset))
    }
}
