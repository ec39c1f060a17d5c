//! The partitions this broker hosts: each one's log and high watermark.
//!
//! The high watermark is the flushed offset: on a single node, consumers see only what is
//! durable. Appends go through the log's mutex; reads take a snapshot under it and do
//! their I/O without it. After an append the partition is handed to the `Flusher`, which
//! fsyncs and then advances the high watermark, waking long-poll fetches and `acks=all`
//! produces.
//!
//! The last stable offset (what read_committed consumers may see) is the high watermark
//! held back by the first offset of the oldest transaction not yet decided and durable. It
//! moves only when the high watermark does (a marker counts once it is durable), so what
//! wakes fetches for new data wakes them for a moved LSO too.
//!
//! A partition's `partition.metadata` (its topic's id) is written not by the request that
//! creates the partition but by the partition's first flush of records (which first makes
//! the new directory durable: `PartitionLog::create`), or at the latest at a clean shutdown.
//! Kafka also writes it before a log's first append and at `UnifiedLog.close`, and besides
//! from a one-off background task right after creation, which Tidelog does not have. It is replaced atomically
//! (written, fsynced, renamed), so a crash leaves it whole or missing; one missing is written
//! by the next flush or shutdown. A CreateTopics of 1000 topics so costs one metadata fsync,
//! not thousands (docs/PERFORMANCE.md, "Metadata: KRaft log vs the JSON event log").

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tidelog_log::{
    on_threads, partition_dirs, partitions_opened_on_first_use, set_aside_stray, sync_log_dirs,
    take_due_file_deletions, AppendInfo, CleanerConfig, Cleaning, DirSummary, LogConfig, LogError, LogGuard,
    LogManager, LogSnapshot, ProducerEntry, ProducerError, SharedLog, Throttler, TopicPartition,
};
use tidelog_protocol::records::{marker_batch, TxnMarker};
use tidelog_protocol::{ErrorCode, Uuid};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::data_dir::partition_metadata::{PartitionMetadata, PARTITION_METADATA};
use crate::flusher::Flusher;
use crate::ids::{random_uuid, uuid_base64};
use crate::metadata::{MetadataImage, PartitionMeta, ReplicaRole, TopicMeta};
use crate::replica::ReplicaState;
use crate::topic_config;

pub struct Partition {
    pub tp: TopicPartition,
    /// The id of the topic it belongs to: a topic deleted and made again under its name
    /// is another.
    pub topic_id: Uuid,
    log: SharedLog,
    high_watermark: watch::Sender<i64>,
    /// Everything below it is durable on this node (what acks=1 waits for).
    flushed: watch::Sender<i64>,
    /// What this node is to the partition, and what it knows of the other replicas.
    replica: Mutex<ReplicaState>,
    /// Whether this node leads it: the lookups of clients' requests read this, not the mutex.
    leads: AtomicBool,
    /// Changes with every change of role or leader epoch: an acks=all write waiting for
    /// its replicas fails when the leadership it was written in ends.
    leadership: watch::Sender<u64>,
    /// The `partition.metadata` still to be written into the log's directory, by the first
    /// flush or the shutdown; `None` once written, or once the partition is deleted.
    unwritten_metadata: Mutex<Option<PartitionMetadata>>,
    /// The `partition.metadata` the directory must hold, checked at the log's first use:
    /// a start after a clean shutdown reads no file per partition. `None` once checked.
    unchecked_metadata: Mutex<Option<PartitionMetadata>>,
    /// `unchecked_metadata` is `None`: the hot paths read this, not the mutex.
    metadata_checked: AtomicBool,
    /// The directory was made by this process and its first flush is still to come: the
    /// flusher makes such partitions durable together ([`flush_new_partitions`]).
    new_dir: AtomicBool,
}

/// What this node is to a partition it hosts, and where the metadata places it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub role: ReplicaRole,
    /// `None` in an image without placements (this node alone).
    pub meta: Option<PartitionMeta>,
}

impl Placed {
    /// Partition `partition` of `topic` as `image` places it, if `node_id` holds a replica.
    pub fn of(image: &MetadataImage, topic: &TopicMeta, partition: i32, node_id: i32) -> Option<Placed> {
        Some(Placed {
            role: image.role_here(topic.id, partition, node_id)?,
            meta: image.partition(topic.id, partition).cloned(),
        })
    }
}

/// What a partition's `partition.metadata` is known to be when it is hosted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetadataFile {
    /// Checked (or the directory is new): written already, or `unwritten`.
    Checked { unwritten: bool },
    /// Not read yet: it must name the topic's id, checked at the log's first use.
    Unchecked,
}

impl Partition {
    fn new(
        tp: TopicPartition,
        log: SharedLog,
        topic_id: Uuid,
        file: MetadataFile,
        new_dir: bool,
        replica: ReplicaState,
    ) -> Partition {
        let flushed = log.flushed_offset();
        let metadata = PartitionMetadata { topic_id };
        let high_watermark = replica.high_watermark(flushed);
        Partition {
            tp,
            topic_id,
            log,
            high_watermark: watch::channel(high_watermark).0,
            flushed: watch::channel(flushed).0,
            leads: AtomicBool::new(replica.is_leader()),
            replica: Mutex::new(replica),
            leadership: watch::channel(0).0,
            unwritten_metadata: Mutex::new((file == MetadataFile::Checked { unwritten: true }).then_some(metadata)),
            unchecked_metadata: Mutex::new((file == MetadataFile::Unchecked).then_some(metadata)),
            metadata_checked: AtomicBool::new(file != MetadataFile::Unchecked),
            new_dir: AtomicBool::new(new_dir),
        }
    }

    /// Locks the log, opening it (and checking its `partition.metadata`) first if this is
    /// its first use since a clean shutdown.
    pub(crate) fn lock_log(&self) -> Result<LogGuard<'_>, LogError> {
        if !self.metadata_checked.load(Ordering::Acquire) {
            self.check_metadata()?;
        }
        self.log.lock()
    }

    /// Reads the directory's `partition.metadata`: one naming another topic is a directory
    /// a deleted topic left, which the partition refuses to serve (KAFKA_STORAGE_ERROR,
    /// logged) rather than take for its own; a missing one is written by the next flush.
    fn check_metadata(&self) -> Result<(), LogError> {
        let mut unchecked = self.unchecked_metadata.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(expected) = *unchecked {
            let dir = self.log.dir();
            match PartitionMetadata::read(&dir)? {
                Some(written) if written != expected => {
                    return Err(LogError::Corrupt {
                        path: dir.join(PARTITION_METADATA),
                        reason: format!(
                            "it names topic id {}, not {}'s {}: the directory of another topic, \
                             not served (move it away to serve the partition afresh)",
                            uuid_base64(written.topic_id),
                            self.tp.topic(),
                            uuid_base64(expected.topic_id)
                        ),
                    })
                }
                Some(_) => {}
                None => *self.unwritten_metadata.lock().unwrap_or_else(|e| e.into_inner()) = Some(expected),
            }
            *unchecked = None;
        }
        self.metadata_checked.store(true, Ordering::Release);
        Ok(())
    }

    /// Appends validated batches (offsets are assigned here) under the log's lock.
    pub fn append(&self, batches: Bytes) -> Result<AppendInfo, LogError> {
        self.lock_log()?.append(batches)
    }

    /// A consistent view to read from without holding the log. Opens the log if this is
    /// its first use since a clean shutdown.
    pub fn snapshot(&self) -> Result<LogSnapshot, LogError> {
        Ok(self.lock_log()?.snapshot())
    }

    /// Without opening the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// What is durable on this node.
    pub fn flushed_offset(&self) -> i64 {
        *self.flushed.borrow()
    }

    /// The producers with state in this partition (DescribeProducers).
    pub fn producers(&self) -> Result<Vec<(i64, ProducerEntry)>, LogError> {
        let log = self.lock_log()?;
        Ok(log
            .producer_state()
            .producers()
            .map(|(id, entry)| (id, entry.clone()))
            .collect())
    }

    /// DeleteRecords: moves the log start up to `offset` and deletes the segments wholly
    /// below it. Returns the new log start.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        self.lock_log()?.delete_records_before(offset)
    }

    /// Waits until everything below `offset` is durable on every in-sync replica (the high
    /// watermark reaches it).
    pub async fn wait_durable(&self, offset: i64) {
        let mut hw = self.high_watermark.subscribe();
        let _ = hw.wait_for(|hw| *hw >= offset).await;
    }

    /// Waits until everything below `offset` is durable on this node (acks=1).
    pub async fn wait_flushed(&self, offset: i64) {
        let mut flushed = self.flushed.subscribe();
        let _ = flushed.wait_for(|flushed| *flushed >= offset).await;
    }

    /// [`Partition::wait_durable`] for an acks=all write made as leader: NOT_LEADER_OR_FOLLOWER
    /// if the leadership ends first (the write may be cut by the next leader; the client
    /// retries it there), NOT_ENOUGH_REPLICAS_AFTER_APPEND if the in-sync replicas are
    /// fewer than `min_insync` once it is there.
    pub async fn wait_replicated(&self, offset: i64, min_insync: usize) -> Result<(), ErrorCode> {
        let mut leadership = self.leadership.subscribe();
        leadership.borrow_and_update();
        if !self.is_leader() {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        tokio::select! {
            _ = self.wait_durable(offset) => {}
            _ = leadership.changed() => return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER),
        }
        match self.replica().isr().len() >= min_insync {
            true => Ok(()),
            false => Err(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
        }
    }

    /// Kafka's check of the leader epoch a request names (KIP-320): none (-1) passes; an
    /// older one is FENCED_LEADER_EPOCH, a newer one (metadata this node has not seen yet)
    /// UNKNOWN_LEADER_EPOCH.
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ErrorCode> {
        if requested < 0 {
            return Ok(());
        }
        let current = self.replica().leader_epoch();
        match requested.cmp(&current) {
            std::cmp::Ordering::Less => Err(ErrorCode::FENCED_LEADER_EPOCH),
            std::cmp::Ordering::Greater => Err(ErrorCode::UNKNOWN_LEADER_EPOCH),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// See [`tidelog_log::PartitionLog::end_offset_for_epoch`].
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64), LogError> {
        self.lock_log()?.end_offset_for_epoch(epoch)
    }

    /// The log end, and the epoch of its last batch (-1: none), for a follower's fetch.
    pub fn fetch_position(&self) -> Result<(i64, i64, i32), LogError> {
        let mut log = self.lock_log()?;
        let epoch = log.latest_epoch()?.unwrap_or(-1);
        Ok((log.log_start_offset(), log.log_end_offset(), epoch))
    }

    /// Whether this node leads the partition.
    pub fn is_leader(&self) -> bool {
        self.leads.load(Ordering::Acquire)
    }

    /// Its replica state, locked (a leaf lock: nothing is locked under it).
    pub fn replica(&self) -> std::sync::MutexGuard<'_, ReplicaState> {
        self.replica.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the metadata's view of the partition: a new leadership makes the log append
    /// in its epoch, a follower's keeps the leader's batches as they are; either way the
    /// writes waiting on the old one fail.
    pub(crate) fn set_role(&self, role: ReplicaRole, meta: Option<&PartitionMeta>) {
        let changed = self.replica().update(role, meta, now_ms());
        if changed {
            match role {
                ReplicaRole::Leader { epoch } => self.log.become_leader(epoch),
                ReplicaRole::Follower { .. } => self.log.become_follower(),
            }
            self.leads
                .store(matches!(role, ReplicaRole::Leader { .. }), Ordering::Release);
            self.leadership.send_modify(|version| *version += 1);
            info!(partition = %self.tp, ?role, "partition role changed");
        }
        self.update_high_watermark();
    }

    /// A follower's fetch from `log_end` (what it holds durably), as leader; whether the
    /// high watermark moved. `None` if this node does not lead, or `replica` is not one
    /// of the partition's.
    pub fn record_follower_fetch(&self, replica: i32, log_end: i64) -> Option<bool> {
        let leader_log_end = self.lock_log().ok()?.log_end_offset();
        if log_end > leader_log_end {
            // Past this log's end: a divergence the fetch's epoch did not show.
            return Some(false);
        }
        let recorded = {
            let mut state = self.replica();
            state.is_leader() && state.record_fetch(replica, log_end, leader_log_end, now_ms())
        };
        recorded.then(|| self.update_high_watermark())
    }

    /// As a follower in `role` (the one a fetch was sent in): appends what the leader sent
    /// (as it is), and notes the leader's high watermark; the caller has the flusher make
    /// it durable. `None` if the role changed meanwhile: the answer is stale, nothing is done.
    pub fn append_as_follower(
        &self,
        role: ReplicaRole,
        batches: Option<Bytes>,
        leader_high_watermark: i64,
    ) -> Result<Option<Option<AppendInfo>>, LogError> {
        let appended = self.as_follower(role, |log| match batches {
            Some(batches) => log.append_as_follower(batches).map(Some),
            None => Ok(None),
        })?;
        if appended.is_some() {
            self.replica().set_leader_high_watermark(leader_high_watermark);
            self.update_high_watermark();
        }
        Ok(appended)
    }

    /// As a follower in `role`: cuts the log from `offset` on (where it diverges from the
    /// leader's). `None` if the role changed meanwhile.
    pub fn truncate_to(&self, role: ReplicaRole, offset: i64) -> Result<Option<()>, LogError> {
        let end = self.as_follower(role, |log| {
            log.truncate_to(offset)?;
            Ok(log.log_end_offset())
        })?;
        if let Some(end) = end {
            self.flushed.send_modify(|flushed| *flushed = (*flushed).min(end));
            self.high_watermark.send_modify(|hw| *hw = (*hw).min(end));
        }
        Ok(end.map(|_| ()))
    }

    /// As a follower in `role` whose log is wholly below the leader's log start: empties
    /// the log and restarts it there. `None` if the role changed meanwhile.
    pub fn restart_at(&self, role: ReplicaRole, offset: i64) -> Result<Option<()>, LogError> {
        let done = self.as_follower(role, |log| log.truncate_fully_and_start_at(offset))?;
        if done.is_some() {
            self.flushed.send_modify(|flushed| *flushed = offset);
            self.high_watermark.send_modify(|hw| *hw = (*hw).min(offset));
        }
        Ok(done)
    }

    /// As a follower in `role`: moves the log start up to the leader's (`offset`, at most
    /// the log end). `None` if the role changed meanwhile.
    pub fn follow_log_start(&self, role: ReplicaRole, offset: i64) -> Result<Option<i64>, LogError> {
        self.as_follower(role, |log| {
            let to = offset.min(log.log_end_offset());
            match to > log.log_start_offset() {
                true => log.delete_records_before(to),
                false => Ok(log.log_start_offset()),
            }
        })
    }

    /// Runs `change` on the log, under its lock, if this node is still `role` to the
    /// partition (a follower's, as when its fetch was sent): an answer that comes after the
    /// partition changed hands must not touch a leader's log, nor one following another
    /// leader or epoch. A role change updates the role before it takes the log's lock, so
    /// it is seen here.
    fn as_follower<T>(
        &self,
        role: ReplicaRole,
        change: impl FnOnce(&mut tidelog_log::PartitionLog) -> Result<T, LogError>,
    ) -> Result<Option<T>, LogError> {
        let mut log = self.lock_log()?;
        if self.replica().role() != role {
            return Ok(None);
        }
        change(&mut log).map(Some)
    }

    /// Recomputes the high watermark from the replica state and the flushed offset: it
    /// only moves up. Whether it moved.
    fn update_high_watermark(&self) -> bool {
        let flushed = *self.flushed.borrow();
        let candidate = self.replica().high_watermark(flushed);
        self.high_watermark.send_if_modified(|hw| {
            let advanced = candidate > *hw;
            *hw = (*hw).max(candidate);
            advanced
        })
    }

    /// Makes the log durable up to its current end and publishes the new high watermark.
    /// The fsync runs on a snapshot, so appends go on meanwhile (group commit). The
    /// partition's `partition.metadata` comes first if it is still to be written.
    pub(crate) fn flush(&self) -> Result<bool, LogError> {
        let snapshot = self.snapshot()?;
        // The flusher is the only one to flush a partition, one flush at a time: a new
        // directory is fsynced by this snapshot's flush, after the file's rename.
        self.write_metadata(snapshot.dir_is_new())?;
        let flushed = snapshot.flush()?;
        self.new_dir.store(false, Ordering::Release);
        Ok(self.publish(flushed))
    }

    /// Whether its directory is new and not flushed yet.
    pub(crate) fn has_new_dir(&self) -> bool {
        self.new_dir.load(Ordering::Acquire)
    }

    /// Advances the flushed offset and from it the high watermark; whether either moved
    /// (a follower's long-poll fetch waits for the leader's flushed data).
    fn publish(&self, flushed: i64) -> bool {
        let moved = self.flushed.send_if_modified(|known| {
            let advanced = flushed > *known;
            *known = (*known).max(flushed);
            advanced
        });
        self.update_high_watermark() || moved
    }

    pub(crate) fn log(&self) -> &SharedLog {
        &self.log
    }

    /// Writes `partition.metadata` if it is still to be written. Under its own lock, which
    /// [`Partition::forget_metadata`] takes before the directory is deleted: the file never
    /// goes into a directory that a later topic of the same name has made anew.
    /// Without the directory fsync when `dir_synced_next`.
    fn write_metadata(&self, dir_synced_next: bool) -> Result<(), LogError> {
        let mut unwritten = self.unwritten_metadata.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(metadata) = *unwritten {
            let dir = self.log.dir();
            match dir_synced_next {
                true => metadata.write_before_dir_sync(&dir)?,
                false => metadata.write(&dir)?,
            }
            *unwritten = None;
        }
        Ok(())
    }

    /// No `partition.metadata` is written from now on: the partition is being deleted.
    fn forget_metadata(&self) {
        self.unwritten_metadata.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The first flushes of new partitions together: their `partition.metadata` and
/// `leader-epoch-checkpoint` files, records, indexes and directories made durable by
/// syncfs(2) of their log dirs' file systems, twice (the files' contents before their
/// renames, as [`PartitionMetadata::write_all`] does), instead of four fsyncs or more each,
/// so that a record to each of thousands of new partitions is acknowledged in seconds, not
/// minutes. The flusher calls it with partitions it alone flushes. A partition that cannot
/// be read is left out (logged; its next append retries); a failed syncfs fails them all.
/// Returns whether a high watermark moved.
pub(crate) fn flush_new_partitions(batch: &[Arc<Partition>]) -> Result<bool, LogError> {
    let mut flushing = Vec::with_capacity(batch.len());
    for partition in batch {
        let written = partition.snapshot().and_then(|snapshot| {
            let unwritten = *partition.unwritten_metadata.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(metadata) = unwritten {
                metadata.write_unsynced(&partition.log.dir())?;
            }
            snapshot.write_epochs_unsynced()?;
            Ok((snapshot, unwritten.is_some()))
        });
        match written {
            Ok((snapshot, metadata)) => flushing.push((partition, snapshot, metadata)),
            Err(e) => error!(topic = partition.tp.topic(), partition = partition.tp.partition(), error = %e,
                "flush failed"),
        }
    }
    let log_dirs: BTreeSet<PathBuf> = flushing.iter().map(|(_, s, _)| s.log_dir().to_path_buf()).collect();
    sync_log_dirs(&log_dirs)?;
    for (partition, snapshot, metadata) in &flushing {
        let mut unwritten = partition.unwritten_metadata.lock().unwrap_or_else(|e| e.into_inner());
        // Nothing goes into a directory a topic of the same name has made anew: a deleted
        // partition's file is forgotten first ([`Partition::forget_metadata`]).
        match (metadata, unwritten.is_some()) {
            (true, false) => continue,
            (true, true) => {
                PartitionMetadata::install_unsynced(&partition.log.dir())?;
                *unwritten = None;
            }
            (false, _) => {}
        }
        snapshot.install_epochs_unsynced()?;
    }
    sync_log_dirs(&log_dirs)?;
    let mut advanced = false;
    for (partition, snapshot, _) in &flushing {
        partition.new_dir.store(false, Ordering::Release);
        advanced |= partition.publish(snapshot.flushed_by_syncfs());
    }
    Ok(advanced)
}

/// Partitions marked as being made (`Partitions::creating`), unmarked when dropped, on an
/// error or a panic too, so that no lookup waits for them for ever.
struct Marked<'a> {
    partitions: &'a Partitions,
    keys: Vec<(String, i32)>,
}

impl Drop for Marked<'_> {
    fn drop(&mut self) {
        let mut creating = self.partitions.creating.lock().unwrap_or_else(|e| e.into_inner());
        for key in &self.keys {
            creating.remove(key);
        }
        drop(creating);
        self.partitions.created.notify_all();
    }
}

/// The last stable offset of a partition whose high watermark is `high_watermark`, read
/// from `snapshot`: read_committed fetches stop there.
pub fn last_stable_offset(high_watermark: i64, snapshot: &LogSnapshot) -> i64 {
    // Never below the log start: DeleteRecords may pass a transaction still open.
    snapshot
        .first_unstable_offset()
        .map_or(high_watermark, |first| first.min(high_watermark))
        .max(snapshot.log_start_offset())
}

/// Kafka's answer to a batch the partition's producer state refuses.
pub fn producer_error_code(error: &ProducerError) -> ErrorCode {
    match error {
        ProducerError::InvalidProducerEpoch { .. } => ErrorCode::INVALID_PRODUCER_EPOCH,
        ProducerError::OutOfOrderSequence { .. } => ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
        ProducerError::InvalidTxnState { .. } => ErrorCode::INVALID_TXN_STATE,
        ProducerError::TransactionCoordinatorFenced { .. } => ErrorCode::TRANSACTION_COORDINATOR_FENCED,
    }
}

/// The log settings of a topic: its overrides over the broker's defaults. As in Kafka, a
/// topic whose `cleanup.policy` lacks `delete` (compact only, as the coordinators' internal
/// topics are) is never cut by retention: its old segments hold the latest value of keys
/// nothing rewrites.
pub fn log_config(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let get = |name| topic_config::effective_i64(broker, overrides, name);
    let deletes = topic_config::deletes(broker, overrides);
    let retained = |limit: i64| if deletes { limit } else { -1 };
    LogConfig {
        segment_bytes: get("segment.bytes").clamp(0, i64::from(i32::MAX)) as i32,
        segment_ms: get("segment.ms"),
        index_interval_bytes: get("index.interval.bytes").clamp(0, i64::from(i32::MAX)) as i32,
        segment_index_bytes: get("segment.index.bytes").clamp(0, i64::from(i32::MAX)) as i32,
        retention_ms: retained(get("retention.ms")),
        retention_bytes: retained(get("retention.bytes")),
        file_delete_delay_ms: get("file.delete.delay.ms"),
    }
}

/// How a compacted topic's partitions are cleaned: its `delete.retention.ms`,
/// `min.compaction.lag.ms`, `max.compaction.lag.ms` and `min.cleanable.dirty.ratio`, with
/// the broker's `log.cleaner.dedupe.buffer.size`, which its cleaner threads share.
#[derive(Debug, Clone, PartialEq)]
pub struct Compaction {
    pub cleaner: CleanerConfig,
    pub min_cleanable_dirty_ratio: f64,
}

/// The compaction settings of a topic whose `cleanup.policy` includes `compact`, `None`
/// for any other.
pub fn compaction(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Option<Compaction> {
    if !topic_config::compacts(broker, overrides) {
        return None;
    }
    let get = |name| topic_config::effective_i64(broker, overrides, name);
    let ratio = topic_config::effective(broker, overrides, "min.cleanable.dirty.ratio");
    Some(Compaction {
        cleaner: CleanerConfig {
            delete_retention_ms: get("delete.retention.ms"),
            min_compaction_lag_ms: get("min.compaction.lag.ms"),
            max_compaction_lag_ms: get("max.compaction.lag.ms"),
            dedupe_buffer_bytes: usize::try_from(
                broker.log_cleaner_dedupe_buffer_size / cleaner_threads(broker).max(1) as i64,
            )
            .unwrap_or(usize::MAX),
        },
        min_cleanable_dirty_ratio: ratio.parse().unwrap_or(0.5),
    })
}

/// `log.cleaner.threads` (never negative once validated).
fn cleaner_threads(broker: &BrokerConfig) -> usize {
    usize::try_from(broker.log_cleaner_threads).unwrap_or(0)
}

/// Deletes the segments of `partition`'s log (held by the caller) past its topic's
/// `retention.ms` or `retention.bytes` (none for a `cleanup.policy` without `delete`) at
/// `now`, and returns how many went; a failure is logged.
fn delete_expired_segments(partition: &Partition, log: &mut tidelog_log::PartitionLog, now: i64) -> usize {
    let (retention_ms, retention_bytes) = (log.config().retention_ms, log.config().retention_bytes);
    match log.apply_retention(now, retention_ms, retention_bytes) {
        Ok(0) => 0,
        Ok(deleted) => {
            info!(
                topic = partition.tp.topic(),
                partition = partition.tp.partition(),
                deleted,
                log_start_offset = log.log_start_offset(),
                "retention deleted segments"
            );
            deleted
        }
        Err(e) => {
            error!(topic = partition.tp.topic(), error = %e, "retention failed");
            0
        }
    }
}

/// What a start finds in a partition directory.
enum Found {
    /// A partition of the metadata, and what is known of its `partition.metadata`.
    Hosted(TopicPartition, MetadataFile),
    /// A directory no partition of the metadata is in.
    Stray(TopicPartition),
}

/// What the cleaner knows of a compacted partition, kept in memory since the broker started.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CleanerStatus {
    /// Kafka's cleanable ratio (the dirty bytes over the bytes of all the segments that may be
    /// cleaned) when the cleaner last looked at the partition, after its cleaning if it cleaned.
    pub dirty_ratio: f64,
    /// When the cleaner last swapped cleaned segments in, in ms since the epoch.
    pub last_cleaned_ms: Option<i64>,
    /// When its earliest kept tombstone or marker may go: a cleaning is due then even if
    /// little was written.
    delete_horizon_ms: Option<i64>,
}

pub struct Partitions {
    logs: LogManager,
    hosted: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    /// Partitions whose logs are being made, and a condvar told when some are hosted: a
    /// lookup of one of them waits for it rather than miss it (a group coordinator would
    /// fail to write to its new internal topic), and no other lookup waits.
    creating: Mutex<HashSet<(String, i32)>>,
    created: Condvar,
    pub flusher: Flusher,
    /// What the cleaner knows of each compacted partition it looked at. A leaf lock.
    cleaner_status: Mutex<HashMap<TopicPartition, CleanerStatus>>,
    /// `log.cleaner.threads`; 0 cleans nothing.
    cleaner_threads: usize,
    /// `log.cleaner.io.max.bytes.per.second`, for all the cleaner threads.
    cleaner_throttler: Throttler,
}

impl Partitions {
    /// Opens the logs on disk (recovering them after a crash) and creates the missing
    /// partitions of known topics. A partition directory the metadata does not name is set
    /// aside first, as Kafka sets aside stray logs (renamed `<dir>.<id>-stray`, never opened,
    /// so no recovery cuts or rewrites it): a start deletes nothing. So is one whose
    /// `partition.metadata` names another topic id (a deleted topic's of the same name),
    /// read for every log the start opens; a log the start leaves to its first use (after a
    /// clean shutdown) has the file checked then, before it is opened (see
    /// [`Partition::lock_log`]). One without the file (a crash before its first flush, an
    /// older Tidelog's) gets it.
    pub fn open(config: &BrokerConfig, image: &MetadataImage) -> Result<Partitions, LogError> {
        let check = |tp: TopicPartition, path: &std::path::Path, at_first_use: bool| -> Result<Found, LogError> {
            let Some(topic) = image.topic(tp.topic()).filter(|t| tp.partition() < t.partitions) else {
                return Ok(Found::Stray(tp));
            };
            if at_first_use {
                return Ok(Found::Hosted(tp, MetadataFile::Unchecked));
            }
            Ok(match PartitionMetadata::read(path)? {
                Some(written) if written.topic_id != topic.id => Found::Stray(tp),
                Some(_) => Found::Hosted(tp, MetadataFile::Checked { unwritten: false }),
                None => Found::Hosted(tp, MetadataFile::Checked { unwritten: true }),
            })
        };
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let mut found_files = HashMap::new();
        for dir in config.log_dirs.iter().filter(|d| d.is_dir()) {
            // A file read each, partition.metadata, for the logs the start opens: on every CPU.
            let later = partitions_opened_on_first_use(dir)?;
            let checked = on_threads(threads, partition_dirs(dir)?, |(tp, path)| {
                let at_first_use = later.contains(&tp);
                check(tp, &path, at_first_use)
            });
            for found in checked.into_iter().collect::<Result<Vec<_>, _>>()? {
                let tp = match found {
                    Found::Hosted(tp, file) => {
                        found_files.insert(tp, file);
                        continue;
                    }
                    Found::Stray(tp) => tp,
                };
                let stray = set_aside_stray(dir, &tp, &format!("{:032x}", random_uuid().as_u128()))?;
                warn!(partition = %tp, renamed = %stray.display(),
                    "a log no topic in the metadata names: set aside, not deleted");
            }
        }
        let threads = config.num_recovery_threads_per_data_dir as usize * config.log_dirs.len();
        let logs =
            LogManager::open_with_recovery_threads(&config.log_dirs, &log_config(config, &BTreeMap::new()), threads)?;
        let partitions = Partitions {
            logs,
            hosted: RwLock::default(),
            creating: Mutex::default(),
            created: Condvar::new(),
            flusher: Flusher::start(),
            cleaner_status: Mutex::default(),
            cleaner_threads: cleaner_threads(config),
            cleaner_throttler: Throttler::new(config.log_cleaner_io_max_bytes_per_second),
        };
        let topics: Vec<&TopicMeta> = image.topics().collect();
        partitions.open_logs(
            config,
            &topics,
            |topic, p| Placed::of(image, topic, p, config.node_id),
            &found_files,
        )?;
        Ok(partitions)
    }

    /// Each log dir with its partitions' sizes and offsets (DescribeLogDirs, `/metrics`),
    /// read without opening the logs not opened yet; an unreadable partition is logged
    /// and left out.
    pub fn summaries_by_dir(&self) -> Vec<DirSummary> {
        self.logs.summaries_by_dir()
    }

    /// Creates every partition of `topics` not hosted yet that this node holds a replica of
    /// (`placed` of the topic and partition id: its role and placement, `None` for a
    /// partition on other brokers only), applies their configs, and makes each leader's
    /// append in its leader epoch. Their directories are made together, with no fsync
    /// (`LogManager::create_logs`); each one's `partition.metadata`, which Kafka requires of
    /// it, is written by its first flush.
    pub fn create_logs(
        &self,
        config: &BrokerConfig,
        topics: &[&TopicMeta],
        placed: impl Fn(&TopicMeta, i32) -> Option<Placed>,
    ) -> Result<(), LogError> {
        self.open_logs(config, topics, placed, &HashMap::new())
    }

    /// [`Partitions::create_logs`], where the logs of `found_files` exist already, with
    /// what is known of their `partition.metadata`.
    fn open_logs(
        &self,
        config: &BrokerConfig,
        topics: &[&TopicMeta],
        placed: impl Fn(&TopicMeta, i32) -> Option<Placed>,
        found_files: &HashMap<TopicPartition, MetadataFile>,
    ) -> Result<(), LogError> {
        // Marked as being made, so that lookups of them wait while every other lookup goes
        // on: thousands of directories take a while.
        let mut missing = Vec::new();
        let mut marked = Marked {
            partitions: self,
            keys: Vec::new(),
        };
        {
            let hosted = self.hosted.read().unwrap_or_else(|e| e.into_inner());
            let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            for &topic in topics {
                let log_config = log_config(config, &topic.configs);
                for p in 0..topic.partitions {
                    let key = (topic.name.clone(), p);
                    if hosted.contains_key(&key) || creating.contains(&key) {
                        continue;
                    }
                    let Some(placed) = placed(topic, p) else {
                        continue;
                    };
                    let tp = TopicPartition::new(topic.name.clone(), p)?;
                    creating.insert(key.clone());
                    marked.keys.push(key);
                    missing.push((topic, tp, log_config.clone(), placed));
                }
            }
        }
        // Unmarked when `marked` drops, whatever happens.
        self.make_logs(config.node_id, &missing, found_files)
    }

    /// Makes the logs of `missing` (each with its role) and hosts them.
    fn make_logs(
        &self,
        node_id: i32,
        missing: &[(&TopicMeta, TopicPartition, LogConfig, Placed)],
        found_files: &HashMap<TopicPartition, MetadataFile>,
    ) -> Result<(), LogError> {
        let new = missing
            .iter()
            .map(|(_, tp, log_config, _)| (tp.clone(), log_config.clone()))
            .collect();
        let logs = self.logs.create_logs(new)?;
        let mut made = Vec::with_capacity(logs.len());
        let now = now_ms();
        for ((topic, tp, log_config, placed), (log, created)) in missing.iter().zip(logs) {
            log.set_config(log_config.clone())?;
            match placed.role {
                ReplicaRole::Leader { epoch } => log.become_leader(epoch),
                ReplicaRole::Follower { .. } => log.become_follower(),
            }
            let file = match found_files.get(tp) {
                Some(&file) if !created => file,
                _ => MetadataFile::Checked { unwritten: true },
            };
            let replica = ReplicaState::new(node_id, placed.role, placed.meta.as_ref(), now);
            made.push(Arc::new(Partition::new(
                tp.clone(),
                log,
                topic.id,
                file,
                created,
                replica,
            )));
        }
        let mut hosted = self.hosted.write().unwrap_or_else(|e| e.into_inner());
        for partition in made {
            let key = (partition.tp.topic().to_string(), partition.tp.partition());
            hosted.insert(key, partition);
        }
        Ok(())
    }

    /// Applies each hosted partition's role and placement as `image` has them (a leader
    /// fenced, a follower elected, the in-sync replicas changed). A partition this node
    /// no longer holds a replica of stops leading (moving replicas away is not built yet).
    pub fn apply_roles(&self, image: &MetadataImage, node_id: i32) {
        for partition in self.all() {
            let (id, index) = (partition.topic_id, partition.tp.partition());
            let role = image.role_here(id, index, node_id).unwrap_or(ReplicaRole::Follower {
                leader: image.leader(id, index, node_id),
                epoch: image.leader_epoch(id, index),
            });
            partition.set_role(role, image.partition(id, index));
        }
    }

    /// Applies `topic`'s configs to the logs of its partitions (after AlterConfigs).
    pub fn apply_configs(&self, config: &BrokerConfig, topic: &TopicMeta) -> Result<(), LogError> {
        let log_config = log_config(config, &topic.configs);
        let hosted = self.hosted.read().unwrap_or_else(|e| e.into_inner());
        for partition in hosted.values().filter(|p| p.tp.topic() == topic.name) {
            partition.log.set_config(log_config.clone())?;
        }
        Ok(())
    }

    /// Removes and deletes every partition of `topic`, after any creation of them under way.
    pub fn delete_logs(&self, topic: &str) -> Result<(), LogError> {
        self.delete_logs_where(topic, |_| true)
    }

    /// [`Partitions::delete_logs`] of the topic of id `id` only: not those of a topic made
    /// again under its name since.
    pub fn delete_logs_of(&self, topic: &str, id: Uuid) -> Result<(), LogError> {
        self.delete_logs_where(topic, |partition| partition.topic_id == id)
    }

    fn delete_logs_where(&self, topic: &str, doomed: impl Fn(&Partition) -> bool) -> Result<(), LogError> {
        {
            let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            while creating.iter().any(|(t, _)| t == topic) {
                creating = self.created.wait(creating).unwrap_or_else(|e| e.into_inner());
            }
        }
        let removed: Vec<Arc<Partition>> = {
            let mut hosted = self.hosted.write().unwrap_or_else(|e| e.into_inner());
            let keys: Vec<_> = hosted
                .iter()
                .filter(|((t, _), partition)| t == topic && doomed(partition))
                .map(|(key, _)| key.clone())
                .collect();
            keys.into_iter().filter_map(|k| hosted.remove(&k)).collect()
        };
        for partition in removed {
            partition.forget_metadata();
            self.logs.delete_log(&partition.tp)?;
            self.cleaner_status().remove(&partition.tp);
        }
        Ok(())
    }

    /// Appends a transaction marker for producer `producer_id` at `producer_epoch` to the
    /// partition, ending its transaction there (WriteTxnMarkers, EndTxn). Returns the
    /// partition and the offset after the marker, for [`Partition::wait_durable`]: the
    /// transaction is decided once the marker is durable. Errors are Kafka's:
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH for an epoch older than the
    /// partition has seen, TRANSACTION_COORDINATOR_FENCED, KAFKA_STORAGE_ERROR.
    pub fn append_txn_marker(
        &self,
        topic: &str,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        marker: TxnMarker,
    ) -> Result<(Arc<Partition>, i64), ErrorCode> {
        let target = self
            .get(topic, partition)
            .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        let batch = marker_batch(producer_id, producer_epoch, marker, now_ms());
        match target.append(batch.as_bytes().clone()) {
            Ok(info) => {
                self.flusher.mark_dirty(&target);
                Ok((target, info.last_offset + 1))
            }
            Err(LogError::Producer(e)) => Err(producer_error_code(&e)),
            Err(LogError::NotLeader) => Err(ErrorCode::NOT_LEADER_OR_FOLLOWER),
            Err(e) => {
                error!(topic, partition, error = %e, "cannot write a transaction marker");
                Err(ErrorCode::KAFKA_STORAGE_ERROR)
            }
        }
    }

    /// The hosted partitions this node follows, with the leader each follows.
    pub fn followed(&self) -> Vec<(i32, Arc<Partition>)> {
        self.all()
            .into_iter()
            .filter_map(|p| match p.replica().role() {
                ReplicaRole::Follower { leader, .. } if leader >= 0 => Some((leader, p.clone())),
                _ => None,
            })
            .collect()
    }

    /// The hosted partitions this node leads.
    pub fn led(&self) -> Vec<Arc<Partition>> {
        self.all().into_iter().filter(|p| p.is_leader()).collect()
    }

    /// The hosted partition if this node leads it, waiting for it if its log is being made:
    /// what clients' requests read and write.
    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.get_replica(topic, partition).filter(|p| p.is_leader())
    }

    /// The hosted partition, leader or follower, waiting for it if its log is being made.
    pub fn get_replica(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let key = (topic.to_string(), partition);
        let hosted = || self.hosted.read().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
        if let Some(found) = hosted() {
            return Some(found);
        }
        // Not under the hosted lock, which a creation takes after this one.
        let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        while creating.contains(&key) {
            creating = self.created.wait(creating).unwrap_or_else(|e| e.into_inner());
        }
        drop(creating);
        hosted()
    }

    /// Every hosted partition's high watermark, for consumer lag (`/metrics`).
    pub fn high_watermarks(&self) -> HashMap<(String, i32), i64> {
        let hosted = self.hosted.read().unwrap_or_else(|e| e.into_inner());
        hosted
            .iter()
            .map(|(key, p)| (key.clone(), p.high_watermark()))
            .collect()
    }

    fn all(&self) -> Vec<Arc<Partition>> {
        self.hosted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Deletes segments past each topic's retention, advancing log start offsets, and
    /// forgets idempotent producers idle for longer than `producer_expiration_ms`. A log
    /// not opened since a clean shutdown is opened only if it has a segment retention could
    /// delete; its producers are forgotten by the first pass after it is opened.
    pub fn apply_retention(&self, producer_expiration_ms: i64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as i64;
        for partition in self.all() {
            let opened = partition
                .log()
                .has_sealed_segments()
                .and_then(|sealed| sealed.then(|| partition.lock_log()).transpose());
            match opened {
                Ok(Some(mut log)) => {
                    log.remove_expired_producers(now, producer_expiration_ms);
                    delete_expired_segments(&partition, &mut log, now);
                }
                Ok(None) => {}
                Err(e) => error!(topic = partition.tp.topic(), partition = partition.tp.partition(), error = %e,
                    "cannot open a log for retention"),
            }
        }
        if let Err(e) = self.logs.checkpoint_log_start_offsets() {
            error!(error = %e, "cannot checkpoint log start offsets");
        }
    }

    /// Removes the files of deleted segments whose `file.delete.delay.ms` has passed.
    pub fn delete_due_files(&self) {
        let now = now_ms();
        // Most seconds none is due: no walk over every partition then.
        if !take_due_file_deletions(now) {
            return;
        }
        for partition in self.all() {
            // An unopened log has none: opening a log removes its `.deleted` files.
            let Some(mut log) = partition.log().lock_if_open() else {
                continue;
            };
            if let Err(e) = log.delete_due_files(now) {
                error!(topic = partition.tp.topic(), partition = partition.tp.partition(), error = %e,
                    "cannot remove deleted segment files");
            }
        }
    }

    /// Compacts the partitions of the topics in `compacted` whose dirty ratio exceeds their
    /// `min.cleanable.dirty.ratio`, whose oldest dirty record is older than their
    /// `max.compaction.lag.ms`, or whose kept tombstones' delete horizon has passed. A
    /// partition's lock is held only to copy what its cleaning needs and to swap the cleaned
    /// segments in: the rewrite runs without it, so produce and fetch go on meanwhile.
    /// `log.cleaner.threads` partitions are cleaned at once, their I/O held together to
    /// `log.cleaner.io.max.bytes.per.second`.
    pub fn clean_logs(&self, compacted: &HashMap<String, Compaction>, now: i64) {
        if self.cleaner_threads == 0 {
            return;
        }
        let partitions: Vec<(Arc<Partition>, &Compaction)> = self
            .all()
            .into_iter()
            .filter_map(|partition| compacted.get(partition.tp.topic()).map(|c| (partition, c)))
            .collect();
        on_threads(self.cleaner_threads, partitions, |(partition, compaction)| {
            if let Err(e) = self.clean_log(&partition, compaction, now) {
                error!(topic = partition.tp.topic(), partition = partition.tp.partition(), error = %e, "cleaning failed");
            }
        });
    }

    fn clean_log(&self, partition: &Partition, compaction: &Compaction, now: i64) -> Result<(), LogError> {
        let tp = &partition.tp;
        let checkpoint = self.logs.cleaner_offset(tp)?;
        let (cleaning, expired) = {
            let mut log = partition.lock_log()?;
            // As Kafka's cleaner does, a `compact,delete` log first loses the segments past its
            // retention: cleaned first, they could be merged into a segment with newer records,
            // which retention would keep.
            let expired = delete_expired_segments(partition, &mut log, now);
            (Cleaning::new(&log, checkpoint, &compaction.cleaner, now), expired)
        };
        if expired > 0 {
            self.logs.checkpoint_log_start_offsets()?;
        }
        let ratio = cleaning.as_ref().map_or(0.0, Cleaning::dirty_ratio);
        let status = {
            let mut statuses = self.cleaner_status();
            let status = statuses.entry(tp.clone()).or_default();
            status.dirty_ratio = ratio;
            *status
        };
        let Some(cleaning) = cleaning else {
            return Ok(());
        };
        let horizon_passed = status.delete_horizon_ms.is_some_and(|horizon| horizon <= now);
        // Overdue with nothing dirty to clean (the dirty records are all uncleanable yet) is
        // no reason to rewrite the log, as in Kafka.
        let overdue = cleaning.max_compaction_delay_ms() > 0 && ratio > 0.0;
        if ratio <= compaction.min_cleanable_dirty_ratio && !overdue && !horizon_passed {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let cleaned = cleaning.run(&compaction.cleaner, now, &self.cleaner_throttler)?;
        let (summary, ratio_left) = {
            let mut log = partition.lock_log()?;
            let Some(summary) = cleaned.install(&mut log)? else {
                return Ok(());
            };
            let left = Cleaning::new(&log, Some(summary.first_dirty_offset), &compaction.cleaner, now);
            (summary, left.as_ref().map_or(0.0, Cleaning::dirty_ratio))
        };
        self.logs.set_cleaner_offset(tp, summary.first_dirty_offset)?;
        self.cleaner_status().insert(
            tp.clone(),
            CleanerStatus {
                dirty_ratio: ratio_left,
                last_cleaned_ms: Some(now),
                delete_horizon_ms: summary.next_delete_horizon_ms,
            },
        );
        info!(
            topic = tp.topic(),
            partition = tp.partition(),
            bytes_before = summary.bytes_before,
            bytes_after = summary.bytes_after,
            first_dirty_offset = summary.first_dirty_offset,
            // From the rewrite's start to the swap's end: `tidelog bench cleaner` reads it.
            duration_ms = started.elapsed().as_millis() as u64,
            "compacted"
        );
        Ok(())
    }

    fn cleaner_status(&self) -> std::sync::MutexGuard<'_, HashMap<TopicPartition, CleanerStatus>> {
        self.cleaner_status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the cleaner knows of each hosted compacted partition it has looked at since the
    /// broker started (every `log.cleaner.backoff.ms`), for `/metrics`.
    pub fn cleaner_statuses(&self) -> Vec<(TopicPartition, CleanerStatus)> {
        let statuses: Vec<_> = self.cleaner_status().iter().map(|(tp, s)| (tp.clone(), *s)).collect();
        // Not a partition deleted while the cleaner looked at it.
        statuses
            .into_iter()
            .filter(|(tp, _)| self.get(tp.topic(), tp.partition()).is_some())
            .collect()
    }

    /// Writes the recovery points that moved, so a restart after a crash scans only recent
    /// data, and the log starts that moved (by retention, which also writes them at once,
    /// or by DeleteRecords).
    pub fn checkpoint(&self) {
        if let Err(e) = self.logs.checkpoint_recovery_points() {
            error!(error = %e, "cannot checkpoint recovery points");
        }
        if let Err(e) = self.checkpoint_log_starts() {
            error!(error = %e, "cannot checkpoint log start offsets");
        }
    }

    /// Writes the log start offsets now: DeleteRecords answers once they are on disk.
    pub fn checkpoint_log_starts(&self) -> Result<(), LogError> {
        self.logs.checkpoint_log_start_offsets()
    }

    /// Flushes everything and marks the log dirs cleanly shut down.
    pub fn shutdown(&self) {
        self.flusher.stop();
        // Every partition's partition.metadata, as Kafka's close writes it: Kafka takes a
        // partition directory without one for a stray.
        let unwritten: Vec<_> = self
            .all()
            .iter()
            .filter_map(|p| {
                let metadata = p.unwritten_metadata.lock().unwrap_or_else(|e| e.into_inner()).take()?;
                Some((p.log.dir(), metadata))
            })
            .collect();
        if let Err(e) = PartitionMetadata::write_all(&unwritten) {
            // Its syncfs may have taken a writeback error that the logs' own would not
            // see again: the logs are not marked clean.
            error!(error = %e, "cannot write partition.metadata; the logs are left for recovery at the next start");
            return;
        }
        if let Err(e) = self.logs.shutdown() {
            error!(error = %e, "log shutdown failed; the next start will run recovery");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidelog_log::CLEAN_SHUTDOWN_MARKER;

    #[test]
    fn only_topics_that_delete_are_cut_by_retention() {
        let broker = BrokerConfig::default();
        let policy = |p: &str| {
            BTreeMap::from([
                ("cleanup.policy".to_string(), p.to_string()),
                ("retention.ms".to_string(), "1000".to_string()),
            ])
        };
        let limits = |p: &str| {
            let config = log_config(&broker, &policy(p));
            (config.retention_ms, config.retention_bytes)
        };
        assert_eq!(limits("delete"), (1000, -1));
        assert_eq!(limits("compact,delete"), (1000, -1));
        assert_eq!(limits("compact"), (-1, -1), "compact only: kept whole");
        let delay = |overrides: &BTreeMap<String, String>| log_config(&broker, overrides).file_delete_delay_ms;
        assert_eq!(delay(&BTreeMap::new()), 60_000, "Kafka's log.segment.delete.delay.ms");
        let topic = BTreeMap::from([("file.delete.delay.ms".to_string(), "5".to_string())]);
        assert_eq!(delay(&topic), 5);
    }
    use tidelog_log::{CheckpointFile, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT};
    use tidelog_protocol::records::RecordBatchBuilder;

    /// A broker of the one log dir `dir`, with the defaults otherwise.
    fn in_dir(dir: &std::path::Path) -> BrokerConfig {
        BrokerConfig {
            log_dirs: vec![dir.to_path_buf()],
            ..BrokerConfig::default()
        }
    }

    /// A new topic without config overrides.
    fn new_topic(name: &str, partitions: i32) -> TopicMeta {
        TopicMeta {
            name: name.into(),
            id: random_uuid(),
            partitions,
            configs: BTreeMap::new(),
            replication_factor: 1,
        }
    }

    /// Partitions in `dir` hosting the one-partition topic "orders".
    fn orders(dir: &std::path::Path) -> Partitions {
        let image = crate::metadata::MetadataImage::of_topics([new_topic("orders", 1)]);
        Partitions::open(&in_dir(dir), &image).unwrap()
    }

    #[test]
    fn compacted_topics_have_cleaning_settings_from_their_configs() {
        let broker = BrokerConfig::default();
        assert_eq!(compaction(&broker, &BTreeMap::new()), None, "delete by default");
        let overrides = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact,delete".to_string()),
            ("delete.retention.ms".to_string(), "1000".to_string()),
            ("min.cleanable.dirty.ratio".to_string(), "0.1".to_string()),
        ]);
        let settings = compaction(&broker, &overrides).unwrap();
        assert_eq!(settings.cleaner.delete_retention_ms, 1000);
        assert_eq!(settings.cleaner.min_compaction_lag_ms, 0);
        assert_eq!(settings.cleaner.max_compaction_lag_ms, i64::MAX);
        assert_eq!(settings.cleaner.dedupe_buffer_bytes, 128 << 20);
        assert_eq!(settings.min_cleanable_dirty_ratio, 0.1);
        let four_threads = BrokerConfig {
            log_cleaner_threads: 4,
            ..BrokerConfig::default()
        };
        let settings = compaction(&four_threads, &overrides).unwrap();
        assert_eq!(
            settings.cleaner.dedupe_buffer_bytes,
            32 << 20,
            "the buffer is shared by the threads"
        );
    }

    /// Partitions in `dir` hosting "table", compacted with `extra` configs, each of its two
    /// partitions filled with 400 flushed records of 10 keys stamped from 1970 (1 000 ms
    /// on); its first partition, and its settings for [`Partitions::clean_logs`].
    fn compacted_table(
        dir: &std::path::Path,
        broker: BrokerConfig,
        extra: &[(&str, &str)],
    ) -> (Partitions, Arc<Partition>, HashMap<String, Compaction>) {
        let config = BrokerConfig {
            log_dirs: vec![dir.to_path_buf()],
            ..broker
        };
        let mut configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), "2048".to_string()),
        ]);
        configs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let topic = TopicMeta {
            name: "table".into(),
            id: random_uuid(),
            partitions: 2,
            configs: configs.clone(),
            replication_factor: 1,
        };
        let partitions = Partitions::open(&config, &crate::metadata::MetadataImage::of_topics([topic])).unwrap();
        for p in 0..2 {
            let partition = partitions.get("table", p).unwrap();
            for i in 0..400 {
                let mut builder = RecordBatchBuilder::new(0);
                let key = format!("key-{}", i % 10);
                builder.append(
                    1_000 + i,
                    Some(key.as_bytes()),
                    Some(format!("value-{i}").as_bytes()),
                    &[],
                );
                partition.append(builder.build().as_bytes().clone()).unwrap();
            }
            partition.flush().unwrap();
        }
        let partition = partitions.get("table", 0).unwrap();
        let compacted = HashMap::from([("table".to_string(), compaction(&config, &configs).unwrap())]);
        (partitions, partition, compacted)
    }

    #[test]
    fn dirty_compacted_partitions_are_cleaned_and_checkpointed() {
        let dir = tempfile::tempdir().unwrap();
        let (partitions, partition, compacted) = compacted_table(dir.path(), BrokerConfig::default(), &[]);
        let before = partition.snapshot().unwrap();

        partitions.clean_logs(&compacted, now_ms());
        let snapshot = partition.snapshot().unwrap();
        let active_base = partition.lock_log().unwrap().segments().last().unwrap().base_offset();
        let read = snapshot.read(0, 1 << 20, snapshot.log_end_offset()).unwrap();
        let records = tidelog_protocol::records::RecordBatch::iter_batches(read.records.to_bytes().unwrap())
            .flat_map(|batch| batch.unwrap().records(1 << 20).unwrap().collect::<Vec<_>>())
            .filter(|record| record.as_ref().unwrap().offset < active_base)
            .count();
        assert!(records <= 10, "{records} records below the active segment");
        assert!(snapshot.log_end_offset() == 400 && before.read(0, 100, 400).is_ok());
        let checkpoint = CheckpointFile::new(dir.path(), tidelog_log::CLEANER_OFFSET_CHECKPOINT);
        let tp = TopicPartition::new("table", 0).unwrap();
        assert_eq!(checkpoint.read().unwrap().get(&tp), Some(&active_base));
        let statuses: HashMap<_, _> = partitions.cleaner_statuses().into_iter().collect();
        let status = statuses[&tp];
        assert_eq!(status.dirty_ratio, 0.0, "all clean once cleaned");
        assert!(status.last_cleaned_ms.is_some());

        // Nothing dirty: the next round leaves the log alone.
        let before_round = segments(&partition);
        partitions.clean_logs(&compacted, now_ms());
        assert!(same_segments(&before_round, &partition));

        // A topic created again under the name starts its cleaning from its log start.
        drop((partition, before, snapshot));
        partitions.delete_logs("table").unwrap();
        assert_eq!(checkpoint.read().unwrap().get(&tp), None);
        assert!(partitions.cleaner_statuses().is_empty(), "forgotten with the topic");
    }

    #[test]
    fn a_partition_past_max_compaction_lag_is_cleaned_whatever_its_dirty_ratio() {
        let dir = tempfile::tempdir().unwrap();
        // A ratio of 1 is never exceeded: only the lag can make the cleaning due.
        let extra = [("min.cleanable.dirty.ratio", "1"), ("max.compaction.lag.ms", "60000")];
        let (partitions, partition, compacted) = compacted_table(dir.path(), BrokerConfig::default(), &extra);
        let before = segments(&partition);
        // The first record, at 1 000 ms, reaches the lag at 61 000 ms.
        partitions.clean_logs(&compacted, 61_000);
        assert!(same_segments(&before, &partition), "cleaned before the lag passed");
        let tp = TopicPartition::new("table", 0).unwrap();
        let statuses: HashMap<_, _> = partitions.cleaner_statuses().into_iter().collect();
        assert_eq!(statuses[&tp].dirty_ratio, 1.0, "never cleaned: all dirty");
        assert_eq!(statuses[&tp].last_cleaned_ms, None);
        partitions.clean_logs(&compacted, 61_001);
        assert!(!same_segments(&before, &partition), "not cleaned once the lag passed");
    }

    #[test]
    fn a_compact_delete_log_loses_its_expired_segments_before_it_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        // Every record is from 1970: all the segments but the active one are past retention.
        let extra = [("cleanup.policy", "compact,delete"), ("retention.ms", "60000")];
        let (partitions, partition, compacted) = compacted_table(dir.path(), BrokerConfig::default(), &extra);
        let active_base = segments(&partition).last().unwrap().base_offset();
        assert!(active_base > 0);
        partitions.clean_logs(&compacted, now_ms());
        let after = segments(&partition);
        assert_eq!(after.len(), 1, "only the active segment is left");
        assert_eq!(partition.lock_log().unwrap().log_start_offset(), active_base);
        let checkpoint = CheckpointFile::new(dir.path(), LOG_START_OFFSET_CHECKPOINT);
        let tp = TopicPartition::new("table", 0).unwrap();
        assert_eq!(checkpoint.read().unwrap().get(&tp), Some(&active_base), "checkpointed");
        // Nothing was left to clean: the expired records were never rewritten.
        let cleaner = CheckpointFile::new(dir.path(), tidelog_log::CLEANER_OFFSET_CHECKPOINT);
        assert_eq!(cleaner.read().unwrap().get(&tp), None);
    }

    fn segments(partition: &Partition) -> Vec<Arc<tidelog_log::Segment>> {
        partition.lock_log().unwrap().segments().to_vec()
    }

    /// Whether `partition` still has exactly the segments `before`: nothing cleaned.
    fn same_segments(before: &[Arc<tidelog_log::Segment>], partition: &Partition) -> bool {
        let after = segments(partition);
        before.len() == after.len() && before.iter().zip(&after).all(|(a, b)| Arc::ptr_eq(a, b))
    }

    #[test]
    fn log_cleaner_threads_clean_partitions_together_and_zero_turns_the_cleaner_off() {
        for (threads, cleans) in [(0, false), (2, true)] {
            let dir = tempfile::tempdir().unwrap();
            let broker = BrokerConfig {
                log_cleaner_threads: threads,
                ..BrokerConfig::default()
            };
            let (partitions, _, compacted) = compacted_table(dir.path(), broker, &[]);
            let table: Vec<Arc<Partition>> = (0..2).map(|p| partitions.get("table", p).unwrap()).collect();
            let before: Vec<_> = table.iter().map(|p| segments(p)).collect();
            partitions.clean_logs(&compacted, now_ms());
            for (partition, before) in table.iter().zip(&before) {
                assert_eq!(
                    !same_segments(before, partition),
                    cleans,
                    "{threads} threads, {}",
                    partition.tp
                );
            }
        }
    }

    #[test]
    fn a_txn_marker_is_durable_when_written_and_moves_the_lso() {
        use tidelog_protocol::records::ControlType;
        let dir = tempfile::tempdir().unwrap();
        let partitions = orders(dir.path());
        let partition = partitions.get("orders", 0).unwrap();
        let mut builder = RecordBatchBuilder::new(0).producer(7, 1, 0).transactional(true);
        builder.append(1_000, None, Some(b"in a transaction"), &[]);
        partition.append(builder.build().as_bytes().clone()).unwrap();
        partition.flush().unwrap();
        let lso = || last_stable_offset(partition.high_watermark(), &partition.snapshot().unwrap());
        assert_eq!((partition.high_watermark(), lso()), (1, 0));

        let commit = TxnMarker {
            control_type: ControlType::Commit,
            coordinator_epoch: 0,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stale = partitions.append_txn_marker("orders", 0, 7, 0, commit);
        assert_eq!(stale.err(), Some(ErrorCode::INVALID_PRODUCER_EPOCH));
        let unknown = partitions.append_txn_marker("orders", 1, 7, 1, commit);
        assert_eq!(unknown.err(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        let (written, end) = partitions.append_txn_marker("orders", 0, 7, 1, commit).unwrap();
        assert_eq!(end, 2);
        runtime.block_on(written.wait_durable(end));
        assert_eq!((partition.high_watermark(), lso()), (2, 2), "durable once answered");
        partitions.shutdown();
    }

    #[test]
    fn checkpoints_follow_flushes_and_log_starts() {
        let dir = tempfile::tempdir().unwrap();
        let partitions = orders(dir.path());
        let partition = partitions.get("orders", 0).unwrap();
        let checkpointed = |name| CheckpointFile::new(dir.path(), name).read().unwrap()[&partition.tp];

        let mut builder = RecordBatchBuilder::new(0);
        for i in 0..3 {
            builder.append(i, None, Some(b"value"), &[]);
        }
        partition.append(builder.build().as_bytes().clone()).unwrap();
        partitions.checkpoint();
        assert_eq!(checkpointed(RECOVERY_POINT_CHECKPOINT), 0, "nothing flushed yet");
        partition.flush().unwrap();
        partitions.checkpoint();
        assert_eq!(checkpointed(RECOVERY_POINT_CHECKPOINT), 3);

        partition.lock_log().unwrap().delete_records_before(2).unwrap();
        partitions.checkpoint();
        assert_eq!(checkpointed(LOG_START_OFFSET_CHECKPOINT), 2);
        partitions.shutdown();
    }

    /// A batch of one record, `v`.
    fn one_record() -> Bytes {
        let mut builder = RecordBatchBuilder::new(0);
        builder.append(0, None, Some(b"v"), &[]);
        builder.build().as_bytes().clone()
    }

    #[test]
    fn partition_metadata_comes_with_the_first_flush_or_the_shutdown_and_never_for_a_deleted_topic() {
        let dir = tempfile::tempdir().unwrap();
        let config = in_dir(dir.path());
        let topic = |partitions| new_topic("t", partitions);
        let written = |name: &str| PartitionMetadata::read(&dir.path().join(name)).unwrap();
        let first = topic(2);
        let partitions = Partitions::open(&config, &MetadataImage::default()).unwrap();
        partitions
            .create_logs(&config, &[&first], |_, _| {
                Some(Placed {
                    role: ReplicaRole::Leader { epoch: 0 },
                    meta: None,
                })
            })
            .unwrap();
        assert_eq!(written("t-0"), None, "not written by the creation");
        let t0 = partitions.get("t", 0).unwrap();
        t0.append(one_record()).unwrap();
        t0.flush().unwrap();
        assert_eq!(
            written("t-0"),
            Some(PartitionMetadata { topic_id: first.id }),
            "by the first flush"
        );
        assert_eq!(written("t-1"), None);
        partitions.shutdown();
        assert_eq!(
            written("t-1"),
            Some(PartitionMetadata { topic_id: first.id }),
            "by the shutdown"
        );

        // Lost (a crash before the first flush): written again by the next shutdown.
        std::fs::remove_file(dir.path().join("t-1").join(PARTITION_METADATA)).unwrap();
        std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_MARKER)).unwrap();
        let partitions = Partitions::open(&config, &MetadataImage::of_topics([first.clone()])).unwrap();
        assert!(partitions.get("t", 1).is_some(), "a partition without it is not stray");
        partitions.shutdown();
        assert_eq!(written("t-1"), Some(PartitionMetadata { topic_id: first.id }));

        // Deleted before a flush wrote the file, then made anew: the old partition's flush
        // must not name the old topic in the new directory.
        let partitions = Partitions::open(&config, &MetadataImage::of_topics([first.clone()])).unwrap();
        let old = partitions.get("t", 0).unwrap();
        *old.unwritten_metadata.lock().unwrap() = Some(PartitionMetadata { topic_id: first.id });
        partitions.delete_logs("t").unwrap();
        let second = topic(1);
        partitions
            .create_logs(&config, &[&second], |_, _| {
                Some(Placed {
                    role: ReplicaRole::Leader { epoch: 0 },
                    meta: None,
                })
            })
            .unwrap();
        let _ = old.flush();
        partitions.shutdown();
        assert_eq!(
            written("t-0"),
            Some(PartitionMetadata { topic_id: second.id }),
            "written at shutdown"
        );
    }

    #[test]
    fn after_a_clean_shutdown_logs_open_and_partition_metadata_is_checked_at_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let config = in_dir(dir.path());
        let topic = new_topic("t", 3);
        let image = MetadataImage::of_topics([topic.clone()]);
        let partitions = Partitions::open(&config, &image).unwrap();
        for p in 0..3 {
            let partition = partitions.get("t", p).unwrap();
            partition.append(one_record()).unwrap();
            partition.flush().unwrap();
        }
        partitions.shutdown();
        // t-1 loses its file, t-2 gets another topic's: changes no clean start looks for.
        std::fs::remove_file(dir.path().join("t-1").join(PARTITION_METADATA)).unwrap();
        let other = PartitionMetadata {
            topic_id: random_uuid(),
        };
        other.write(&dir.path().join("t-2")).unwrap();

        let partitions = Partitions::open(&config, &image).unwrap();
        let [t0, t1, t2] = [0, 1, 2].map(|p| partitions.get("t", p).unwrap());
        assert!(
            [&t0, &t1, &t2].iter().all(|p| !p.log().is_open()),
            "no log opened by the start"
        );
        assert_eq!(
            (t0.high_watermark(), t0.log_start_offset()),
            (1, 0),
            "from the checkpoints"
        );
        assert_eq!(t0.snapshot().unwrap().log_end_offset(), 1);
        assert!(t0.log().is_open(), "opened by its first use");
        assert!(!t1.log().is_open() && !t2.log().is_open());

        t1.append(one_record()).unwrap();
        t1.flush().unwrap();
        let written = |name: &str| PartitionMetadata::read(&dir.path().join(name)).unwrap();
        assert_eq!(
            written("t-1"),
            Some(PartitionMetadata { topic_id: topic.id }),
            "a missing file is written by the first flush after the first use"
        );

        let refused = t2.append(one_record()).unwrap_err();
        assert!(
            matches!(&refused, LogError::Corrupt { reason, .. } if reason.contains("another topic")),
            "{refused}"
        );
        assert!(t2.snapshot().is_err() && !t2.log().is_open(), "never opened");
        partitions.shutdown();
        assert_eq!(written("t-2"), Some(other), "left as it was");
        let segment = dir.path().join("t-2").join("00000000000000000000.log");
        assert!(std::fs::metadata(segment).unwrap().len() > 0, "its record kept");
    }

    #[test]
    fn a_log_the_clean_start_opens_is_checked_first_and_set_aside_if_another_topics() {
        let dir = tempfile::tempdir().unwrap();
        let config = in_dir(dir.path());
        let topic = new_topic("t", 1);
        let image = MetadataImage::of_topics([topic.clone()]);
        let partitions = Partitions::open(&config, &image).unwrap();
        let t0 = partitions.get("t", 0).unwrap();
        t0.append(one_record()).unwrap();
        t0.flush().unwrap();
        partitions.shutdown();
        // Another topic's directory under the name, without a log start checkpointed: the
        // clean start would open it, so it reads its partition.metadata first.
        PartitionMetadata {
            topic_id: random_uuid(),
        }
        .write(&dir.path().join("t-0"))
        .unwrap();
        let log_starts = CheckpointFile::new(dir.path(), LOG_START_OFFSET_CHECKPOINT);
        log_starts.write(&BTreeMap::new()).unwrap();
        let before: Vec<_> = std::fs::read_dir(dir.path().join("t-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();

        let partitions = Partitions::open(&config, &image).unwrap();
        let strays: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with("-stray"))
            .collect();
        assert_eq!(strays.len(), 1, "set aside, not opened");
        let mut kept: Vec<_> = std::fs::read_dir(&strays[0])
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut before = before;
        kept.sort();
        before.sort();
        assert_eq!(kept, before, "nothing in it removed or added");
        assert_eq!(
            partitions.get("t", 0).unwrap().snapshot().unwrap().log_end_offset(),
            0,
            "made anew"
        );
        partitions.shutdown();
    }
}
