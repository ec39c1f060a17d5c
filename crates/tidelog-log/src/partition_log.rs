//! The log of one topic partition: its directory `<log.dir>/<topic>-<partition>` of segments,
//! the offsets that bound it, and everything that changes it (append, roll, retention,
//! truncation).
//!
//! Concurrency: every method that changes the log takes `&mut self`; the broker serializes
//! them with one mutex per partition. Reads and flushes go through a [`LogSnapshot`] taken
//! under that mutex and used after releasing it (see `snapshot.rs`), so neither a fetch's
//! `pread` nor an fsync holds up appends. To keep snapshots valid the segment list is never
//! mutated in place: a roll or a deletion installs a new `Arc`'d list.

use crate::changes;
use crate::cleaner;
use crate::config::LogConfig;
use crate::error::{IoContext, LogError, Result};
use crate::layout::{file_names, parse_offset_file_name, DELETED_SUFFIX, LOG_SUFFIX, PRODUCER_SNAPSHOT_SUFFIX};
use crate::leader_epoch_checkpoint::{EpochEntry, LeaderEpochCheckpointFile};
use crate::producer_snapshot;
use crate::producer_state::{CompletedTxn, ProducerBatch, ProducerStateManager, Validated};
use crate::segment::{self, now_ms, remove_if_present, Segment};
use crate::small_file::sync_dir;
use crate::snapshot::{LogSnapshot, PendingEpochs, ReadResult};
use crate::time_index::{TimestampOffset, NO_TIMESTAMP};
use crate::txn_index::AbortedTxn;
use bytes::Bytes;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use tidelog_protocol::records::{read_marker, BatchHeader, RecordBatch, RecordsError};
use tracing::{info, warn};

/// How much of a partition's files to believe when opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// After a clean shutdown everything on disk is complete: nothing is scanned.
    Skip,
    /// After a crash, everything below this recovery point (Kafka's name for the flushed
    /// offset last checkpointed) is trusted; the rest is scanned and repaired, from the batch
    /// holding the recovery point on.
    From(i64),
}

/// Removes a partition directory and makes its removal durable in its log dir.
pub(crate) fn delete_partition_dir(dir: &Path) -> Result<()> {
    fs::remove_dir_all(dir).context("delete partition dir", dir)?;
    sync_dir(dir.parent().expect("a partition dir lives in a log dir"))
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The segment written to, and the file position of the first batch in it.
    pub segment_base_offset: i64,
    pub position: u64,
    /// The append retried batches already in the log: nothing was written and the offsets
    /// are the original ones (the segment and position are then meaningless).
    pub duplicate: bool,
}

#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Ordered by base offset; the last one is active. Replaced, never mutated.
    segments: Arc<Vec<Arc<Segment>>>,
    log_start_offset: i64,
    log_end_offset: i64,
    /// Everything below it is durable. Shared with snapshots, whose flushes advance it;
    /// replaced by a fresh one on truncation so that a flush begun before cannot mark
    /// truncated offsets as durable.
    flushed_offset: Arc<AtomicI64>,
    /// Idempotent producers' sequences, for deduplication and fencing, and their open
    /// transactions.
    producers: ProducerStateManager,
    /// The leader epoch this log appends in, stamped on every batch it appends; `None`
    /// keeps each batch's own (a log whose writer stamps them, as the metadata log's).
    leader_epoch: Option<i32>,
    /// A follower's log: it takes its leader's batches ([`PartitionLog::append_as_follower`])
    /// and refuses appends of its own (NotLeader), even one checked against a leadership
    /// that ended just before.
    follower: bool,
    /// The directory was deleted: a cleaning that ran meanwhile must not install into a new
    /// partition of the same name made in its place.
    deleted: bool,
    /// The leader epoch `leader-epoch-checkpoint` may not have yet: its start is the offset
    /// of its first append, which records it first.
    unassigned_epoch: Option<i32>,
    /// The `leader-epoch-checkpoint` entries, read at their first need (a follower's append
    /// of a new epoch, a divergence check, a truncation) and kept up to date from then on:
    /// a start of thousands of logs reads no checkpoint.
    epochs: Option<Vec<EpochEntry>>,
    /// The directory's first segment was just made and is not durable yet, nor the directory
    /// in its log dir: the first flush of records fsyncs both.
    unsynced_dir: Arc<AtomicBool>,
    /// The `leader-epoch-checkpoint` entries a new directory's first flush writes, before
    /// the records (see [`PartitionLog::become_leader`]).
    pending_epochs: PendingEpochs,
    /// The files of segments deleted from the log, renamed `.deleted`, each with when it is
    /// removed (see [`PartitionLog::delete_due_files`]).
    deleted_files: Vec<(i64, PathBuf)>,
    /// The offset of the newest producer snapshot written or loaded (0 without one): a
    /// close writes none where the log has not moved since, as Kafka's does not.
    snapshot_offset: i64,
}

impl PartitionLog {
    /// Creates the directory of a new partition with an empty first segment at offset 0.
    /// Nothing is fsynced: the first flush of records makes the directory durable, as
    /// Kafka's first flush of a new log does, so creating many partitions costs no fsync
    /// each, and a crash before it loses only an empty directory.
    pub fn create(dir: &Path, config: LogConfig) -> Result<Self> {
        fs::create_dir(dir).context("create partition dir", dir)?;
        // With no segment yet, the open creates one.
        Self::open(dir, config, Recovery::Skip, 0)
    }

    /// Opens the partition in `dir`, scanning what `recovery` says cannot be trusted: a
    /// segment with a torn or corrupt tail is cut after its last good batch and every later
    /// segment is deleted, since nothing written after a lost batch can be kept. The log
    /// start offset is the checkpointed one, or the first segment's base if that is larger.
    pub fn open(dir: &Path, config: LogConfig, recovery: Recovery, log_start_offset: i64) -> Result<Self> {
        config.validate()?;
        // Listed once: a partition's files are many at a start of thousands.
        let mut names = file_names(dir)?;
        // The files of segments deleted before the stop: their delay ends with the process,
        // as in Kafka, which removes them when loading the log.
        let deleted = format!(".{DELETED_SUFFIX}");
        for name in names.iter().filter(|name| name.ends_with(&deleted)) {
            remove_if_present(&dir.join(name))?;
        }
        names.retain(|name| !name.ends_with(&deleted));
        // A cleaning the process died in: rolled back, or completed if it was committed.
        let swapped = cleaner::recover_swaps(dir, &mut names)?;
        let base_offsets = offsets_of(&names, LOG_SUFFIX);
        let mut segments = Vec::with_capacity(base_offsets.len().max(1));
        for (i, &base_offset) in base_offsets.iter().enumerate() {
            let next_base = base_offsets.get(i + 1).copied();
            // Trusted: every segment after a clean shutdown, and those wholly below the
            // recovery point after a crash. A segment a swap just completed has its indexes
            // rebuilt, since they were not part of the swap.
            let recovery_point = match recovery {
                _ if swapped.contains(&base_offset) => base_offset,
                Recovery::From(point) if next_base.is_none_or(|next| next > point) => point,
                _ => {
                    segments.push(Arc::new(Segment::open(dir, base_offset, &config)?));
                    continue;
                }
            };
            let (segment, truncated) = Segment::open_with_recovery(dir, base_offset, &config, recovery_point)?;
            segments.push(Arc::new(segment));
            if truncated > 0 {
                for &later in &base_offsets[i + 1..] {
                    warn!(dir = %dir.display(), base_offset = later, "deleting segment after a truncated one");
                    segment::delete_files(dir, later)?;
                }
                break;
            }
        }
        let unsynced_dir = segments.is_empty();
        if unsynced_dir {
            segments.push(Arc::new(Segment::create(dir, log_start_offset.max(0), &config)?));
        }
        let log_end_offset = segments.last().expect("at least one segment").next_offset();
        let log_start_offset = log_start_offset.max(segments[0].base_offset()).min(log_end_offset);
        let flushed = match recovery {
            Recovery::Skip => log_end_offset,
            Recovery::From(point) => point.min(log_end_offset),
        };
        let mut log = Self {
            dir: dir.to_path_buf(),
            config,
            segments: Arc::new(segments),
            log_start_offset,
            log_end_offset,
            flushed_offset: Arc::new(AtomicI64::new(flushed)),
            producers: ProducerStateManager::default(),
            leader_epoch: None,
            follower: false,
            unassigned_epoch: None,
            epochs: None,
            deleted: false,
            unsynced_dir: Arc::new(AtomicBool::new(unsynced_dir)),
            pending_epochs: PendingEpochs::default(),
            deleted_files: Vec::new(),
            snapshot_offset: 0,
        };
        // What recovery kept may still be only in the page cache.
        log.flush()?;
        // After a crash only snapshots at or below the recovery point are used: later ones
        // may stand for batches recovery cut, and the replay from an older one also rewrites
        // the `.txnindex` entries of the active segment, which are not fsynced with its data.
        let snapshots_up_to = match recovery {
            Recovery::Skip => log_end_offset,
            Recovery::From(point) => point,
        };
        let snapshots = log.remove_stray_producer_snapshots(offsets_of(&names, PRODUCER_SNAPSHOT_SUFFIX))?;
        log.rebuild_producer_state(snapshots_up_to, snapshots)?;
        Ok(log)
    }

    /// Rebuilds the producer state: loads the newest usable snapshot at or below
    /// `snapshots_up_to` (snapshots past the log end describe batches a crash or a
    /// truncation took away, and are deleted) and replays the batch headers after it,
    /// decoding only transaction markers. Without a snapshot (a log written before
    /// snapshots, or a crash before the first roll the recovery point passed) every
    /// segment is replayed, as Kafka rebuilds from the log start: anything less would
    /// forget open transactions. The replay also gives each segment's `.txnindex` the
    /// aborted transactions it lacks: those whose entries a crash lost before they reached
    /// the disk. `snapshots` are the offsets of the snapshots in the directory, in order.
    fn rebuild_producer_state(&mut self, snapshots_up_to: i64, mut snapshots: Vec<i64>) -> Result<()> {
        self.producers.clear();
        let log_end = self.log_end_offset;
        for &offset in snapshots.iter().filter(|&&offset| offset > log_end) {
            producer_snapshot::delete(&self.dir, offset)?;
        }
        snapshots.retain(|&offset| offset <= log_end);
        let loaded = self.load_producer_snapshot(snapshots_up_to, &snapshots)?;
        self.snapshot_offset = loaded.unwrap_or(0);
        let replay_from = loaded.unwrap_or(self.segments[0].base_offset());
        let first = self
            .segments
            .partition_point(|s| s.base_offset() <= replay_from)
            .saturating_sub(1);
        for segment in Arc::clone(&self.segments)[first..].iter() {
            segment.for_each_batch(|located| {
                let header = &located.header;
                if header.last_offset() < replay_from {
                    return Ok(());
                }
                let batch = match producer_batch(header, located.position as usize, || segment.read_batch(&located)) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => return Ok(()),
                    // A marker of a future format, or damage in a segment that was not
                    // scanned, must not keep the partition from opening.
                    Err(e) => {
                        warn!(segment = %segment.path().display(), error = %e, "skipping an unreadable control batch");
                        return Ok(());
                    }
                };
                let completed = self
                    .producers
                    .record(&batch, header.base_offset(), header.last_offset());
                match completed {
                    Some(txn)
                        if txn.aborted
                            && segment
                                .last_aborted_txn_offset()
                                .is_none_or(|last| last < txn.last_offset) =>
                    {
                        segment.append_aborted_txn(self.aborted_txn(&txn))
                    }
                    _ => Ok(()),
                }
            })?;
        }
        self.producers.forget_stable_txns(self.flushed_offset());
        Ok(())
    }

    /// Loads the newest snapshot at or below `up_to` that reads back, deleting unreadable
    /// ones; returns its offset, where the replay starts.
    fn load_producer_snapshot(&mut self, up_to: i64, snapshots: &[i64]) -> Result<Option<i64>> {
        for &offset in snapshots.iter().rev() {
            if offset > up_to {
                continue;
            }
            match producer_snapshot::read(&self.dir, offset) {
                Ok(entries) => {
                    for (producer_id, entry) in entries {
                        self.producers.load_entry(producer_id, entry);
                    }
                    return Ok(Some(offset));
                }
                Err(reason) => {
                    warn!(dir = %self.dir.display(), offset, %reason, "deleting an unreadable producer snapshot");
                    producer_snapshot::delete(&self.dir, offset)?;
                }
            }
        }
        Ok(None)
    }

    /// Deletes the snapshots that are neither at a segment's base offset nor the newest
    /// (those of earlier clean shutdowns), as Kafka does at start, so they do not pile up.
    /// `snapshots` are the offsets of those in the directory, in order; returns the kept ones.
    fn remove_stray_producer_snapshots(&self, mut snapshots: Vec<i64>) -> Result<Vec<i64>> {
        let newest = snapshots.last().copied();
        let kept = |offset: &i64| {
            Some(*offset) == newest || self.segments.binary_search_by_key(offset, |s| s.base_offset()).is_ok()
        };
        for offset in snapshots.iter().filter(|o| !kept(o)) {
            producer_snapshot::delete(&self.dir, *offset)?;
        }
        snapshots.retain(kept);
        Ok(snapshots)
    }

    /// Writes the producer state at the log end to `<log end>.snapshot`.
    fn write_producer_snapshot(&mut self, durable: bool) -> Result<()> {
        producer_snapshot::write(&self.dir, self.log_end_offset, self.producers.producers(), durable)?;
        self.snapshot_offset = self.log_end_offset;
        Ok(())
    }

    /// The `.txnindex` entry of an aborted transaction just ended.
    fn aborted_txn(&self, txn: &CompletedTxn) -> AbortedTxn {
        AbortedTxn {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            last_stable_offset: self.producers.last_stable_offset_after(txn),
        }
    }

    /// The producers' state (DescribeProducers, tests).
    /// Makes this log append in leader epoch `epoch` from now on, as Kafka's leader of that
    /// epoch does. The epoch's start (where its first append lands, for an epoch newer than
    /// any it has) goes into `leader-epoch-checkpoint`, which a replica reads to find where
    /// logs diverge: recorded by that append, before its records, so that creating or
    /// opening many partitions at once costs no file access each, and no record of the
    /// epoch is flushed without its entry. In a new directory the first flush writes it,
    /// before the records: not the append, which would wait for its fsync on the request
    /// path, once for each new partition.
    pub fn become_leader(&mut self, epoch: i32) {
        self.follower = false;
        self.leader_epoch = Some(epoch);
        self.unassigned_epoch = Some(epoch);
    }

    /// Makes this log a follower's: it appends batches as the leader wrote them, each
    /// keeping its offsets and leader epoch ([`PartitionLog::append_as_follower`]).
    pub fn become_follower(&mut self) {
        self.follower = true;
        self.leader_epoch = None;
        self.unassigned_epoch = None;
    }

    /// Records the start of the epoch appended in, at `start_offset`, unless the checkpoint
    /// has it (or a later one) already.
    fn assign_epoch_start(&mut self, start_offset: i64) -> Result<()> {
        if let Some(epoch) = self.unassigned_epoch {
            self.record_epoch_start(epoch, start_offset)?;
            self.unassigned_epoch = None;
        }
        Ok(())
    }

    /// Adds `epoch` starting at `start_offset` to `leader-epoch-checkpoint` if it is newer
    /// than every epoch there. A new directory's entries wait for its first flush, which
    /// writes them before the records.
    fn record_epoch_start(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        let mut epochs = self.epoch_entries()?;
        if epochs.last().is_none_or(|last| last.epoch < epoch) {
            epochs.push(EpochEntry { epoch, start_offset });
            self.store_epochs(epochs)?;
        }
        Ok(())
    }

    /// The `leader-epoch-checkpoint` entries (or those a new directory's first flush
    /// writes), without any that start at or past the log end (a crash cut their records).
    fn epoch_entries(&mut self) -> Result<Vec<EpochEntry>> {
        if self.epochs.is_none() {
            let pending = self.pending_epochs.lock().clone();
            let mut epochs = match pending {
                Some(epochs) => epochs,
                None => LeaderEpochCheckpointFile::new(&self.dir).read()?,
            };
            epochs.retain(|e| e.start_offset < self.log_end_offset);
            self.epochs = Some(epochs);
        }
        Ok(self.epochs.clone().unwrap_or_default())
    }

    /// Replaces the entries: in the file, or for a new directory in what its first flush
    /// writes.
    fn store_epochs(&mut self, epochs: Vec<EpochEntry>) -> Result<()> {
        let mut pending = self.pending_epochs.lock();
        match self.unsynced_dir.load(Ordering::Acquire) || pending.is_some() {
            true => *pending = Some(epochs.clone()),
            false => LeaderEpochCheckpointFile::new(&self.dir).write(&epochs)?,
        }
        drop(pending);
        self.epochs = Some(epochs);
        Ok(())
    }

    /// The newest leader epoch with records in this log (a follower's `last_fetched_epoch`).
    pub fn latest_epoch(&mut self) -> Result<Option<i32>> {
        Ok(self.epoch_entries()?.last().map(|e| e.epoch))
    }

    /// Kafka's end offset of leader epoch `epoch` in this log (OffsetForLeaderEpoch, a
    /// leader's divergence check of a follower's fetch, KIP-101 and KIP-279): the largest
    /// epoch it has at or below `epoch`, and where the next epoch starts (the log end for
    /// its newest). `(-1, -1)` when every epoch it has is newer, it has none, or the one
    /// asked is newer than all (as Kafka answers, checked against Kafka 4.4).
    pub fn end_offset_for_epoch(&mut self, epoch: i32) -> Result<(i32, i64)> {
        let mut epochs = self.epoch_entries()?;
        // A leader's epoch starts at the log end when it begins, as Kafka's leader records
        // it then; here its first append records it (see `become_leader`).
        if let Some(current) = self
            .unassigned_epoch
            .filter(|e| epochs.last().is_none_or(|last| last.epoch < *e))
        {
            epochs.push(EpochEntry {
                epoch: current,
                start_offset: self.log_end_offset,
            });
        }
        // Kafka answers an epoch newer than the log's newest as unknown too.
        let newer_than_all = epochs.last().is_some_and(|last| epoch > last.epoch);
        let Some(i) = epochs
            .iter()
            .rposition(|e| e.epoch <= epoch)
            .filter(|_| !newer_than_all)
        else {
            return Ok((-1, -1));
        };
        let end = epochs.get(i + 1).map_or(self.log_end_offset, |next| next.start_offset);
        Ok((epochs[i].epoch, end))
    }

    /// Drops the epochs that start at or after `offset` (a truncation to it).
    fn truncate_epochs(&mut self, offset: i64) -> Result<()> {
        let mut epochs = self.epoch_entries()?;
        let before = epochs.len();
        epochs.retain(|e| e.start_offset < offset);
        if epochs.len() != before {
            self.store_epochs(epochs)?;
        }
        // A leader's epoch whose first records were cut is recorded again by its next append.
        if let Some(epoch) = self.leader_epoch {
            self.unassigned_epoch = Some(epoch);
        }
        Ok(())
    }

    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producers
    }

    /// Where the oldest transaction not yet decided and durable starts; the last stable
    /// offset is this bounded by the high watermark.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.first_unstable_offset(self.flushed_offset())
    }

    /// Forgets producers idle for longer than `expiration_ms` (`producer.id.expiration.ms`).
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers.remove_expired(now_ms, expiration_ms)
    }

    /// The bytes of its segments' `.log` files (Kafka's partition size).
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size()).sum()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies new topic configs (AlterConfigs); existing segments keep their index sizes.
    pub fn set_config(&mut self, config: LogConfig) -> Result<()> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Everything below this offset is durable: the recovery point to checkpoint, and on a
    /// single node the limit of the high watermark.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset.load(Ordering::Acquire)
    }

    /// The segments, oldest first; the last one is active.
    pub fn segments(&self) -> &[Arc<Segment>] {
        &self.segments
    }

    /// A view for reading and flushing without holding the log (see `snapshot.rs`).
    pub fn snapshot(&self) -> LogSnapshot {
        LogSnapshot {
            segments: Arc::clone(&self.segments),
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            active_size: self.active().size(),
            flushed_offset: Arc::clone(&self.flushed_offset),
            first_unstable_offset: self.first_unstable_offset(),
            unsynced_dir: Arc::clone(&self.unsynced_dir),
            pending_epochs: self.pending_epochs.clone(),
        }
    }

    /// Appends validated batches at offsets from the log end on, rolling to a new segment
    /// first if the active one is full, too old or has a full index. The bytes are written
    /// as they are but for each batch's base offset, without a copy (see `Segment::append`);
    /// only batch headers are read.
    ///
    /// Batches with a producer id go through the producer state first: a retry of a batch
    /// already written is answered with its offsets and not written again (`duplicate`), and
    /// a batch out of sequence or from a fenced epoch refuses the whole append. Control
    /// batches are decoded, since a transaction marker ends its producer's transaction; an
    /// ABORT marker adds the transaction to the active segment's `.txnindex`.
    pub fn append(&mut self, batches: Bytes) -> Result<AppendInfo> {
        if self.follower {
            return Err(LogError::NotLeader);
        }
        let headers = assign_offsets(&batches, self.log_end_offset, self.leader_epoch)?;
        self.append_headed(batches, headers, Origin::Leader)
    }

    /// A follower's append of what it fetched from its leader: the batches as the leader
    /// wrote them, offsets and leader epochs kept (so the replicas' segments hold the same
    /// bytes), from the log end on; the producer state records them without checking their
    /// sequences, which the leader did. A batch of a leader epoch newer than the log's
    /// newest starts that epoch in `leader-epoch-checkpoint`.
    pub fn append_as_follower(&mut self, batches: Bytes) -> Result<AppendInfo> {
        let headers = replicated_headers(&batches, self.log_end_offset)?;
        let mut newest = self.latest_epoch()?;
        for header in &headers {
            let epoch = header.partition_leader_epoch();
            if newest.is_none_or(|newest| epoch > newest) {
                self.record_epoch_start(epoch, header.base_offset())?;
                newest = Some(epoch);
            }
        }
        self.append_headed(batches, headers, Origin::Replica)
    }

    /// Writes `batches`, whose headers are `headers` (with their offsets), at the log end. A
    /// leader's append is checked against the producer state first and starts its epoch in
    /// `leader-epoch-checkpoint`; a replica's records the epochs its batches carry.
    fn append_headed(&mut self, batches: Bytes, headers: Vec<BatchHeader>, origin: Origin) -> Result<AppendInfo> {
        let validate = origin == Origin::Leader;
        let base_offset = headers.first().expect("at least one batch").base_offset();
        let last_offset = headers.last().expect("at least one batch").last_offset();
        let mut producer_batches: Vec<(ProducerBatch, i64, i64)> = Vec::new();
        let mut position = 0;
        for header in &headers {
            let (start, end) = (position, position + header.size_in_bytes());
            position = end;
            let read = || {
                RecordBatch::parse(batches.slice(start..end)).map_err(|source| LogError::InvalidBatch {
                    position: start,
                    source,
                })
            };
            if let Some(batch) = producer_batch(header, start, read)? {
                producer_batches.push((batch, header.base_offset(), header.last_offset()));
            }
        }
        if validate && !producer_batches.is_empty() {
            if let Validated::Duplicate(original) = self.producers.validate_append(&producer_batches)? {
                return Ok(AppendInfo {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    segment_base_offset: -1,
                    position: 0,
                    duplicate: true,
                });
            }
        }
        let max_timestamp = headers
            .iter()
            .map(BatchHeader::max_timestamp)
            .fold(NO_TIMESTAMP, i64::max);
        if batches.len() > self.config.segment_bytes as usize {
            return Err(LogError::AppendTooLarge {
                size: batches.len(),
                segment_bytes: self.config.segment_bytes,
            });
        }
        if validate {
            self.assign_epoch_start(base_offset)?;
        }
        if self.should_roll(batches.len(), last_offset, max_timestamp) {
            self.roll()?;
        }
        let segment = self.active();
        let (segment_base_offset, position) = (segment.base_offset(), segment.append(&batches, &headers)?);
        self.log_end_offset = last_offset + 1;
        // Only appends with producer batches prune: plain ones keep their path short, and
        // transactions not yet forgotten are skipped when the LSO is computed anyway.
        if !producer_batches.is_empty() {
            self.producers.forget_stable_txns(self.flushed_offset());
        }
        for (batch, first, last) in &producer_batches {
            match self.producers.record(batch, *first, *last) {
                Some(txn) if txn.aborted => self.active().append_aborted_txn(self.aborted_txn(&txn))?,
                _ => {}
            }
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            segment_base_offset,
            position,
            duplicate: false,
        })
    }

    fn should_roll(&self, append_bytes: usize, last_offset: i64, max_timestamp: i64) -> bool {
        let active = self.active();
        if active.size() == 0 {
            return false;
        }
        active.size() + append_bytes as u64 > self.config.segment_bytes as u64
            || active.time_waited_for_roll(now_ms(), max_timestamp) > self.config.segment_ms
            || active.is_index_full()
            || last_offset - active.base_offset() > i64::from(i32::MAX)
    }

    /// Starts a new active segment at the log end, with a producer snapshot at its base
    /// offset so that a later open replays at most the segments after it.
    fn roll(&mut self) -> Result<()> {
        self.active().seal()?;
        let segment = Segment::create(&self.dir, self.log_end_offset, &self.config)?;
        self.write_producer_snapshot(false)?;
        sync_dir(&self.dir)?;
        let mut segments = self.segments.to_vec();
        segments.push(Arc::new(segment));
        self.segments = Arc::new(segments);
        info!(dir = %self.dir.display(), base_offset = self.log_end_offset, "rolled a new segment");
        Ok(())
    }

    /// Fetch: see [`LogSnapshot::read`]. Holding the log for the I/O is fine for a caller
    /// that owns it; the broker reads through [`PartitionLog::snapshot`] instead.
    pub fn read(&self, fetch_offset: i64, max_bytes: usize, max_offset_exclusive: i64) -> Result<ReadResult> {
        self.snapshot().read(fetch_offset, max_bytes, max_offset_exclusive)
    }

    /// fsyncs everything appended so far and returns the new flushed offset; see
    /// [`LogSnapshot::flush`] for flushing without holding the log.
    pub fn flush(&self) -> Result<i64> {
        self.snapshot().flush()
    }

    /// ListOffsets by timestamp; see [`LogSnapshot::offset_for_timestamp`].
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.snapshot().offset_for_timestamp(timestamp)
    }

    /// ListOffsets MAX_TIMESTAMP; see [`LogSnapshot::max_timestamp_offset`].
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>> {
        self.snapshot().max_timestamp_offset()
    }

    /// Deletes the oldest segments, never the active one, while they are older than
    /// `retention_ms` (by their largest timestamp) and then while the log without them is
    /// still larger than `retention_bytes`, as Kafka does; -1 disables either limit. Returns
    /// how many segments were deleted; the log start moves to the first one kept.
    pub fn apply_retention(&mut self, now_ms: i64, retention_ms: i64, retention_bytes: i64) -> Result<usize> {
        self.apply_retention_below(now_ms, retention_ms, retention_bytes, i64::MAX)
    }

    /// [`PartitionLog::apply_retention`] among the segments wholly below `end_offset` only
    /// (the metadata log's newest snapshot, which the segments below it are not needed for).
    pub fn apply_retention_below(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
        end_offset: i64,
    ) -> Result<usize> {
        let below = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].base_offset() <= end_offset)
            .count();
        let candidates = &self.segments[..below];
        let mut count = 0;
        if retention_ms >= 0 {
            while count < candidates.len() && now_ms - segment_timestamp(&candidates[count])? > retention_ms {
                count += 1;
            }
        }
        if retention_bytes >= 0 {
            let total = self.size_bytes();
            let mut excess = total as i64 - retention_bytes;
            excess -= candidates[..count].iter().map(|s| s.size() as i64).sum::<i64>();
            while count < candidates.len() && excess >= candidates[count].size() as i64 {
                excess -= candidates[count].size() as i64;
                count += 1;
            }
        }
        self.delete_oldest(count, "retention")?;
        Ok(count)
    }

    /// DeleteRecords: moves the log start up to `offset` (reads below it fail from now on)
    /// and deletes the segments entirely below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        if offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset,
            });
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            changes::offset_moved();
            let below = self
                .segments
                .windows(2)
                .take_while(|pair| pair[1].base_offset() <= offset)
                .count();
            self.delete_oldest(below, "log start offset")?;
        }
        Ok(self.log_start_offset)
    }

    /// Swaps the cleaned segments at `new_bases`, written as `.cleaned` files, in for the
    /// run of segments `replaced` (see `cleaner/swap.rs`); `false`, changing nothing, when
    /// the log no longer holds exactly that run followed by other segments (retention or a
    /// truncation ran while the cleaner wrote). Readers holding the old segments keep
    /// reading their unlinked files.
    pub(crate) fn replace_segments(&mut self, replaced: &[Arc<Segment>], new_bases: &[i64]) -> Result<bool> {
        let Some(first) = self.segments.iter().position(|s| Arc::ptr_eq(s, &replaced[0])) else {
            return Ok(false);
        };
        let run = &self.segments[first..];
        if run.len() <= replaced.len() || !replaced.iter().zip(run).all(|(a, b)| Arc::ptr_eq(a, b)) {
            return Ok(false);
        }
        cleaner::swap_commit(&self.dir, new_bases)?;
        self.delete_segment_files(replaced)?;
        // The old segments' renames are durable before the renames that complete the swap:
        // a crash must never keep the new segments beside the old ones.
        sync_dir(&self.dir)?;
        cleaner::swap_finish(&self.dir, new_bases)?;
        let mut segments = self.segments[..first].to_vec();
        for &base in new_bases {
            segments.push(Arc::new(Segment::open(&self.dir, base, &self.config)?));
        }
        segments.extend_from_slice(&self.segments[first + replaced.len()..]);
        self.segments = Arc::new(segments);
        Ok(true)
    }

    /// Deletes the files of `segments`, already out of the segment list, as Kafka does: renamed
    /// `.deleted` now, so that nothing loads them again, and removed `file.delete.delay.ms`
    /// later by [`PartitionLog::delete_due_files`] (at once with no delay). Readers holding the
    /// segments read through their open descriptors meanwhile and afterwards.
    fn delete_segment_files(&mut self, segments: &[Arc<Segment>]) -> Result<()> {
        let now = now_ms();
        let due = now.saturating_add(self.config.file_delete_delay_ms);
        for segment in segments {
            for path in segment.rename_to_deleted()? {
                self.deleted_files.push((due, path));
            }
        }
        changes::file_deletion_due_at(due);
        self.delete_due_files(now).map(drop)
    }

    /// Removes the `.deleted` files whose delay has passed by `now_ms` and returns how many;
    /// the broker calls it periodically. A segment deleted again under the same name (a
    /// cleaned segment replacing one of its base offset) reuses the `.deleted` names, so its
    /// files may go with the earlier ones' delay: harmless, readers hold descriptors.
    pub fn delete_due_files(&mut self, now_ms: i64) -> Result<usize> {
        let before = self.deleted_files.len();
        let mut failed = None;
        self.deleted_files.retain(|(due, path)| {
            if *due > now_ms || failed.is_some() {
                return true;
            }
            remove_if_present(path).map_err(|e| failed = Some(e)).is_err()
        });
        if let Some(next) = self.deleted_files.iter().map(|(due, _)| *due).min() {
            changes::file_deletion_due_at(next);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(before - self.deleted_files.len()),
        }
    }

    /// Removes the `count` oldest segments: from the list first, so new snapshots no longer
    /// see them, then from disk.
    fn delete_oldest(&mut self, count: usize, reason: &str) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        let (gone, kept) = self.segments.split_at(count);
        let gone = gone.to_vec();
        self.segments = Arc::new(kept.to_vec());
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset());
        changes::offset_moved();
        let first_kept = self.segments[0].base_offset();
        producer_snapshot::delete_where(&self.dir, |offset| offset < first_kept)?;
        self.delete_segment_files(&gone)?;
        for segment in gone {
            info!(segment = %segment.path().display(), bytes = segment.size(), reason, "deleted segment");
        }
        Ok(())
    }

    /// Removes every batch from the one holding `offset` on (callers pass batch boundaries,
    /// e.g. a leader's end offset). Truncating below the log start empties the log and
    /// restarts it at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        if offset >= self.log_end_offset {
            return Ok(());
        }
        self.truncate_epochs(offset)?;
        let keep = self.segments.partition_point(|s| s.base_offset() < offset);
        if offset < self.log_start_offset || keep == 0 {
            return self.truncate_fully_and_start_at(offset);
        }
        let previous_end = self.log_end_offset;
        let later = self.segments[keep..].to_vec();
        self.segments = Arc::new(self.segments[..keep].to_vec());
        self.delete_segment_files(&later)?;
        let removed = self.active().truncate_to(offset)?;
        self.log_end_offset = self.active().next_offset();
        self.reset_flushed_offset();
        // Markers cut off reopen their transactions: only a replay knows where they began.
        self.rebuild_producer_state(self.log_end_offset, producer_snapshot::list(&self.dir)?)?;
        info!(dir = %self.dir.display(), from = previous_end, to = self.log_end_offset, bytes = removed, "truncated log");
        Ok(())
    }

    /// Empties the log and restarts it at `offset` (Kafka's `truncateFullyAndStartAt`): what a
    /// follower that installs a snapshot past its log end does.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        self.truncate_epochs(i64::MIN)?;
        let old = Arc::clone(&self.segments);
        self.delete_segment_files(&old)?;
        self.segments = Arc::new(vec![Arc::new(Segment::create(&self.dir, offset, &self.config)?)]);
        producer_snapshot::delete_where(&self.dir, |_| true)?;
        sync_dir(&self.dir)?;
        self.log_start_offset = offset;
        changes::offset_moved();
        self.log_end_offset = offset;
        self.producers.clear();
        self.snapshot_offset = 0;
        self.reset_flushed_offset();
        info!(dir = %self.dir.display(), offset, "emptied log");
        Ok(())
    }

    fn reset_flushed_offset(&mut self) {
        let flushed = self.flushed_offset().min(self.log_end_offset);
        self.flushed_offset = Arc::new(AtomicI64::new(flushed));
        changes::offset_moved();
    }

    /// Prepares for a clean shutdown: records the active segment's largest timestamp,
    /// makes the data and all indexes durable, and snapshots the producer state at the log
    /// end, so the next open trusts them without a scan.
    pub fn close(&mut self) -> Result<i64> {
        self.prepare_close(true)?;
        let flushed = self.flush()?;
        self.active().flush_indexes()?;
        Ok(flushed)
    }

    /// What a close writes, fsynced or not: the active segment's time index sealed, and the
    /// producer state at the log end if the log moved since the last snapshot.
    fn prepare_close(&mut self, durable: bool) -> Result<()> {
        self.active().seal()?;
        // Before the directory is synced: by the close's flush, or the shutdown's syncfs.
        if let Some(epochs) = self.pending_epochs.lock().take() {
            LeaderEpochCheckpointFile::new(&self.dir).write_before_dir_sync(&epochs)?;
        }
        if self.log_end_offset > self.snapshot_offset {
            self.write_producer_snapshot(durable)?;
        }
        Ok(())
    }

    /// [`PartitionLog::close`] without an fsync, for a shutdown of many logs: the caller
    /// makes their file systems durable at once (syncfs(2)) and then calls
    /// [`PartitionLog::mark_durable`] with the log end returned here.
    pub fn close_unsynced(&mut self) -> Result<i64> {
        self.prepare_close(false)?;
        Ok(self.log_end_offset)
    }

    /// Records that everything below `end` is durable, after the caller synced the log's
    /// file system.
    pub fn mark_durable(&mut self, end: i64) {
        self.unsynced_dir.store(false, Ordering::Release);
        self.flushed_offset.fetch_max(end, Ordering::AcqRel);
        changes::offset_moved();
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Removes the partition's directory. The log must not be used afterwards; snapshots
    /// still held keep reading their open files.
    pub fn delete(&mut self) -> Result<()> {
        self.deleted = true;
        delete_partition_dir(&self.dir)
    }

    fn active(&self) -> &Arc<Segment> {
        self.segments.last().expect("a log has at least one segment")
    }
}

/// The header of each batch in `batches` with base offsets assigned consecutively from
/// `next`, refusing anything but whole batches. Reads headers only.
fn assign_offsets(batches: &[u8], mut next: i64, leader_epoch: Option<i32>) -> Result<Vec<BatchHeader>> {
    if batches.is_empty() {
        return Err(LogError::EmptyAppend);
    }
    let mut headers = Vec::new();
    let mut position = 0;
    while position < batches.len() {
        let invalid = |source| LogError::InvalidBatch { position, source };
        let header = BatchHeader::parse(&batches[position..]).map_err(invalid)?;
        if header.last_offset_delta() < 0 {
            return Err(invalid(RecordsError::InvalidOffsetRange {
                last_offset_delta: header.last_offset_delta(),
                record_count: header.record_count(),
            }));
        }
        let (needed, available) = (header.size_in_bytes(), batches.len() - position);
        if needed > available {
            return Err(invalid(RecordsError::Truncated { needed, available }));
        }
        let header = header.with_base_offset(next);
        headers.push(leader_epoch.map_or(header, |epoch| header.with_partition_leader_epoch(epoch)));
        next += i64::from(header.last_offset_delta()) + 1;
        position += needed;
    }
    Ok(headers)
}

/// Who an append comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A leader (or a log that stamps its own batches, as the metadata log).
    Leader,
    /// A follower copying its leader's batches.
    Replica,
}

/// The headers of the batches a follower fetched, as the leader wrote them: whole batches
/// with intact CRCs, in increasing offsets from `log_end` on (a compacted log's batches may
/// leave gaps between them).
fn replicated_headers(batches: &Bytes, log_end: i64) -> Result<Vec<BatchHeader>> {
    if batches.is_empty() {
        return Err(LogError::EmptyAppend);
    }
    let mut headers = Vec::new();
    let mut next = log_end;
    let mut position = 0;
    while position < batches.len() {
        let invalid = |source| LogError::InvalidBatch { position, source };
        let header = BatchHeader::parse(&batches[position..]).map_err(invalid)?;
        let end = position + header.size_in_bytes();
        if end > batches.len() {
            let (needed, available) = (header.size_in_bytes(), batches.len() - position);
            return Err(invalid(RecordsError::Truncated { needed, available }));
        }
        if header.base_offset() < next || header.last_offset_delta() < 0 {
            return Err(LogError::OutOfOrderAppend {
                offset: header.base_offset(),
                log_end_offset: next,
            });
        }
        RecordBatch::parse(batches.slice(position..end))
            .and_then(|batch| batch.verify_crc())
            .map_err(invalid)?;
        next = header.last_offset() + 1;
        headers.push(header);
        position = end;
    }
    Ok(headers)
}

/// The producer fields of a batch at byte `position`, with the marker of a control batch
/// read through `read` (the one batch kind the log decodes); `None` for a batch without a
/// producer id or a control batch of a type other than a transaction marker, which Kafka
/// reserves.
fn producer_batch(
    header: &BatchHeader,
    position: usize,
    read: impl FnOnce() -> Result<RecordBatch>,
) -> Result<Option<ProducerBatch>> {
    let Some(batch) = ProducerBatch::of(header) else {
        return Ok(None);
    };
    if !header.is_control() {
        return Ok(Some(batch));
    }
    let control = read()?;
    let marker = read_marker(&control).map_err(|source| LogError::InvalidBatch { position, source })?;
    Ok(marker.map(|marker| batch.with_marker(marker)))
}

/// The offsets naming the files of `names` that end in `.<suffix>` (segments, producer
/// snapshots), in order.
fn offsets_of(names: &[String], suffix: &str) -> Vec<i64> {
    let mut offsets: Vec<i64> = names.iter().filter_map(|n| parse_offset_file_name(n, suffix)).collect();
    offsets.sort_unstable();
    offsets
}

/// What time retention judges a segment by: its newest batch, or its last write when no
/// batch carries a timestamp.
fn segment_timestamp(segment: &Segment) -> Result<i64> {
    match segment.max_timestamp().timestamp {
        NO_TIMESTAMP => segment.last_modified_ms(),
        timestamp => Ok(timestamp),
    }
}
