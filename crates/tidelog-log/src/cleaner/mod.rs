//! Log compaction (`cleanup.policy=compact`), with Kafka's semantics: a cleaning keeps, for
//! each key, only its latest record, so a compacted topic holds about its live state.
//!
//! A cleaning of one partition has three steps, so that the partition's lock is held only
//! to copy what the cleaning needs and to swap segments (see `docs/ARCHITECTURE.md`):
//! 1. [`Cleaning::new`], under the lock: the segments that may be cleaned (all below the
//!    first uncleanable offset: the active segment's base, the last stable offset, and
//!    `min.compaction.lag.ms`), the first dirty offset (from `cleaner-offset-checkpoint`),
//!    the aborted transactions and the producers' last batches;
//! 2. [`Cleaning::run`], without it: maps each key of the dirty section to its latest
//!    offset ([`offset_map`]), then rewrites the segments up to where the map reaches, in
//!    groups of at most `segment.bytes`, into `.cleaned` files;
//! 3. [`Cleaned::install`], under the lock again: swaps them in (see [`swap`]), unless the
//!    log changed meanwhile (retention or truncation removed a segment).
//!
//! What a rewrite keeps, as Kafka's cleaner: records keep their offsets, timestamps and
//! headers, batches their attributes, producer fields and offset span, and compressed
//! batches are compressed again with their codec. A record goes when a later record of its
//! key is in the map, or when it is a tombstone (null value) whose batch's delete horizon
//! has passed; the horizon (`delete.retention.ms` after the first cleaning that saw the
//! tombstone) is written into the batch (KIP-534). Records of aborted transactions go.
//! A transaction marker stays while a record of its transaction was seen before it, then
//! until its own delete horizon. A batch left without records goes, except the last batch
//! of each producer in the producer state, kept empty so its sequence numbers survive.
//! Keyless records cannot be compacted and stay (the broker refuses them on compacted
//! topics).

mod offset_map;
mod swap;
mod throttler;
mod transactions;

pub(crate) use swap::{commit as swap_commit, finish as swap_finish, recover as recover_swaps};
pub use throttler::{Throttler, DEFAULT_IO_MAX_BYTES_PER_SECOND};

use crate::checkpoint::{CheckpointFile, CLEANER_OFFSET_CHECKPOINT};
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::layout::TopicPartition;
use crate::partition_log::PartitionLog;
use crate::segment::{LocatedBatch, Segment};
use crate::txn_index::AbortedTxn;
use offset_map::OffsetMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidelog_protocol::records::{read_marker, BatchHeader, Record, RecordBatch, RecordBatchBuilder, TimestampType};
use tracing::info;
use transactions::Transactions;

/// Kafka's `delete.retention.ms` default: a day.
pub const DEFAULT_DELETE_RETENTION_MS: i64 = 86_400_000;
/// Kafka's `log.cleaner.dedupe.buffer.size` default: 128 MiB.
pub const DEFAULT_DEDUPE_BUFFER_BYTES: usize = 128 << 20;

/// Records are decoded only here; a batch the log holds was checked when produced, so this
/// only guards against a corrupt one taking all memory.
const MAX_DECOMPRESSED_BYTES: usize = i32::MAX as usize;

/// The settings of one cleaning, named as Kafka's topic configs and broker properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerConfig {
    /// `delete.retention.ms`: how long tombstones and transaction markers stay after the
    /// cleaning that first saw them, so that consumers catching up see the deletions.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: segments with a record younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log whose oldest dirty record is older than this is due for
    /// cleaning whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// The offset map's memory: `log.cleaner.dedupe.buffer.size` over `log.cleaner.threads`,
    /// since each thread has its map, as in Kafka.
    pub dedupe_buffer_bytes: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        Self {
            delete_retention_ms: DEFAULT_DELETE_RETENTION_MS,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            dedupe_buffer_bytes: DEFAULT_DEDUPE_BUFFER_BYTES,
        }
    }
}

/// What the producer state remembers of a producer's last batch.
#[derive(Debug, Clone, Copy)]
struct LastBatch {
    epoch: i16,
    /// The last offset of its last data batch, if one is remembered.
    last_data_offset: Option<i64>,
}

/// What a cleaning needs from the log, copied under its lock.
#[derive(Debug)]
pub struct Cleaning {
    dir: PathBuf,
    log_config: LogConfig,
    /// Every segment below the first uncleanable offset, oldest first.
    segments: Vec<Arc<Segment>>,
    first_dirty: i64,
    /// The base offset of the first segment not cleaned.
    end: i64,
    aborted: Vec<AbortedTxn>,
    producers: HashMap<i64, LastBatch>,
    max_compaction_delay_ms: i64,
}

/// The outcome of a cleaning, for the checkpoint, the scheduling and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanSummary {
    /// Where the next cleaning's dirty section starts: what `cleaner-offset-checkpoint`
    /// records for the partition.
    pub first_dirty_offset: i64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The earliest delete horizon of a kept tombstone or marker: a cleaning from then on
    /// removes it even if nothing new was written.
    pub next_delete_horizon_ms: Option<i64>,
}

/// Cleaned segments written as `.cleaned` files, waiting to be swapped in.
#[derive(Debug)]
pub struct Cleaned {
    dir: PathBuf,
    replaced: Vec<Arc<Segment>>,
    new_bases: Vec<i64>,
    pub summary: CleanSummary,
}

impl Cleaning {
    /// Takes, from the log its caller holds, what cleaning it needs; `None` when no segment
    /// can be cleaned. `checkpoint` is the partition's entry in `cleaner-offset-checkpoint`
    /// (the log start without one, or when the log no longer holds it).
    pub fn new(log: &PartitionLog, checkpoint: Option<i64>, config: &CleanerConfig, now_ms: i64) -> Option<Self> {
        let segments = log.segments();
        let log_start = log.log_start_offset();
        let checkpointed = checkpoint
            .filter(|&offset| offset >= log_start && offset <= log.log_end_offset())
            .unwrap_or(log_start);
        // Never past the last stable offset, bounded on one node by what is durable.
        let mut bound = log
            .first_unstable_offset()
            .unwrap_or(i64::MAX)
            .min(log.flushed_offset())
            .min(segments.last().expect("a log has a segment").base_offset());
        if config.min_compaction_lag_ms > 0 {
            let young = segments.iter().find(|s| {
                s.next_offset() > checkpointed && s.max_timestamp().timestamp > now_ms - config.min_compaction_lag_ms
            });
            if let Some(young) = young {
                bound = bound.min(young.base_offset());
            }
        }
        let count = segments
            .windows(2)
            .take_while(|pair| pair[1].base_offset() <= bound)
            .count();
        if count == 0 {
            return None;
        }
        // Kafka's "max compaction delay", from the first batches of the dirty segments but
        // the active one (their oldest records, as far as timestamps tell).
        let earliest_dirty = segments[..segments.len() - 1]
            .iter()
            .filter(|s| s.next_offset() > checkpointed)
            .map(|s| s.first_batch_timestamp())
            .filter(|&timestamp| timestamp > 0)
            .min();
        let clean_until = now_ms.saturating_sub(config.max_compaction_lag_ms);
        let max_compaction_delay_ms = earliest_dirty.map_or(0, |earliest| clean_until.saturating_sub(earliest).max(0));
        let end = segments[count].base_offset();
        let producers = log
            .producer_state()
            .producers()
            .map(|(id, entry)| {
                let last = LastBatch {
                    epoch: entry.epoch,
                    last_data_offset: entry.batches.back().map(|b| b.last_offset),
                };
                (id, last)
            })
            .collect();
        Some(Self {
            dir: log.dir().to_path_buf(),
            log_config: log.config().clone(),
            segments: segments[..count].to_vec(),
            first_dirty: checkpointed.min(end),
            end,
            aborted: log.snapshot().aborted_txns(segments[0].base_offset(), end),
            producers,
            max_compaction_delay_ms,
        })
    }

    /// Kafka's cleanable ratio: the bytes of the dirty segments over those of all the
    /// cleanable ones; the broker cleans partitions above `min.cleanable.dirty.ratio`.
    pub fn dirty_ratio(&self) -> f64 {
        let (mut clean, mut dirty) = (0u64, 0u64);
        for segment in &self.segments {
            match segment.base_offset() >= self.first_dirty {
                true => dirty += segment.size(),
                false => clean += segment.size(),
            }
        }
        match clean + dirty {
            0 => 0.0,
            total => dirty as f64 / total as f64,
        }
    }

    /// How long ago the oldest dirty record passed `max.compaction.lag.ms`; above 0 the log
    /// is due for cleaning whatever its dirty ratio (Kafka's `maxCompactionDelay`).
    pub fn max_compaction_delay_ms(&self) -> i64 {
        self.max_compaction_delay_ms
    }

    /// Writes the cleaned segments as `.cleaned` files, its reads and writes held to the
    /// rate of `throttler`. Reads only the segments it was given, which appends never touch,
    /// so it runs without the log's lock.
    pub fn run(self, config: &CleanerConfig, now_ms: i64, throttler: &Throttler) -> Result<Cleaned> {
        let (map, map_end) = self.build_offset_map(config.dedupe_buffer_bytes, throttler)?;
        let count = self.segments.partition_point(|s| s.base_offset() < map_end);
        let replaced = self.segments[..count].to_vec();
        let mut rewriter = Rewriter {
            map,
            map_end,
            transactions: Transactions::new(self.aborted.clone()),
            producers: &self.producers,
            now_ms,
            delete_retention_ms: config.delete_retention_ms,
            next_delete_horizon_ms: None,
            throttler,
        };
        let mut new_bases = Vec::new();
        let groups = group_by_size(&replaced, &self.log_config);
        let bytes_after = match rewriter.write_groups(&self.dir, &self.log_config, &groups, &mut new_bases) {
            Ok(bytes) => bytes,
            Err(e) => {
                swap::discard(&self.dir, &new_bases)?;
                return Err(e);
            }
        };
        let summary = CleanSummary {
            first_dirty_offset: map_end,
            bytes_before: replaced.iter().map(|s| s.size()).sum(),
            bytes_after,
            next_delete_horizon_ms: rewriter.next_delete_horizon_ms,
        };
        Ok(Cleaned {
            dir: self.dir,
            replaced,
            new_bases,
            summary,
        })
    }

    /// Maps each key of the dirty section to its latest offset, leaving out aborted
    /// transactions and control batches. Returns the map and where it ends: the end of the
    /// cleanable segments, or the batch before which the map filled up.
    fn build_offset_map(&self, capacity_bytes: usize, throttler: &Throttler) -> Result<(OffsetMap, i64)> {
        let mut map = OffsetMap::new(capacity_bytes);
        let mut transactions = Transactions::new(self.aborted.clone());
        for segment in self.segments.iter().filter(|s| s.next_offset() > self.first_dirty) {
            for located in located_batches(segment)? {
                if located.header.last_offset() < self.first_dirty {
                    continue;
                }
                if map.is_full() {
                    return Ok((map, located.header.base_offset().max(self.first_dirty)));
                }
                let batch = segment.read_batch(&located)?;
                throttler.throttle(batch.as_bytes().len());
                if batch.is_control() {
                    if let Some(marker) = read_marker(&batch).map_err(|e| corrupt(segment, &located, e))? {
                        transactions.on_marker(&batch, marker.control_type);
                    }
                    continue;
                }
                if transactions.is_aborted(&batch) {
                    continue;
                }
                for record in records(segment, &located, &batch)? {
                    if let (true, Some(key)) = (record.offset >= self.first_dirty, &record.key) {
                        map.put(key, record.offset);
                    }
                }
            }
        }
        Ok((map, self.end))
    }
}

impl Cleaned {
    /// Swaps the cleaned segments in for those they were made of, under the log's lock (see
    /// [`swap`]). `None` (and the `.cleaned` files deleted) when the log no longer holds
    /// those segments: retention or a truncation ran meanwhile.
    pub fn install(self, log: &mut PartitionLog) -> Result<Option<CleanSummary>> {
        if log.is_deleted() {
            // Its directory may now be a new partition's of the same name: nothing of this
            // cleaning may go there.
            swap::discard(&self.dir, &self.new_bases)?;
            return Ok(None);
        }
        if self.replaced.is_empty() {
            return Ok(Some(self.summary));
        }
        if !log.replace_segments(&self.replaced, &self.new_bases)? {
            swap::discard(&self.dir, &self.new_bases)?;
            return Ok(None);
        }
        info!(
            dir = %self.dir.display(),
            segments = self.replaced.len(),
            cleaned = self.new_bases.len(),
            bytes_before = self.summary.bytes_before,
            bytes_after = self.summary.bytes_after,
            "cleaned log"
        );
        Ok(Some(self.summary))
    }
}

/// Cleans a log its caller holds, in one go, using and updating the partition's entry in
/// the `cleaner-offset-checkpoint` of its log dir; `None` when nothing could be cleaned.
/// For callers that do not share the log (tools, tests), unthrottled; the broker runs the
/// steps itself so that the rewrite runs without the lock.
pub fn clean_log(log: &mut PartitionLog, config: &CleanerConfig, now_ms: i64) -> Result<Option<CleanSummary>> {
    let (log_dir, partition) = checkpoint_key(log.dir())?;
    let checkpoint = CheckpointFile::new(log_dir, CLEANER_OFFSET_CHECKPOINT);
    let mut offsets = checkpoint.read()?;
    let Some(cleaning) = Cleaning::new(log, offsets.get(&partition).copied(), config, now_ms) else {
        return Ok(None);
    };
    let Some(summary) = cleaning.run(config, now_ms, &Throttler::unlimited())?.install(log)? else {
        return Ok(None);
    };
    offsets.insert(partition, summary.first_dirty_offset);
    checkpoint.write(&offsets)?;
    Ok(Some(summary))
}

/// The log dir and the partition of a partition directory.
fn checkpoint_key(dir: &Path) -> Result<(&Path, TopicPartition)> {
    let partition = dir
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(TopicPartition::from_dir_name)
        .ok_or_else(|| LogError::InvalidTopicPartition(dir.display().to_string()))?;
    Ok((dir.parent().expect("a partition dir lives in a log dir"), partition))
}

/// Consecutive segments whose sizes add up to at most `segment.bytes` and whose offsets
/// fit one segment's relative offsets: each group becomes one cleaned segment.
fn group_by_size<'a>(segments: &'a [Arc<Segment>], config: &LogConfig) -> Vec<&'a [Arc<Segment>]> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let base = segments[start].base_offset();
        let (mut end, mut size) = (start + 1, segments[start].size());
        while let Some(next) = segments.get(end) {
            let fits = size + next.size() <= config.segment_bytes as u64
                && next.next_offset() - 1 - base <= i64::from(i32::MAX);
            if !fits {
                break;
            }
            size += next.size();
            end += 1;
        }
        groups.push(&segments[start..end]);
        start = end;
    }
    groups
}

/// The second pass of a cleaning: what it keeps of each batch.
struct Rewriter<'a> {
    map: OffsetMap,
    /// Records from here on were not mapped, and stay.
    map_end: i64,
    transactions: Transactions,
    producers: &'a HashMap<i64, LastBatch>,
    now_ms: i64,
    delete_retention_ms: i64,
    next_delete_horizon_ms: Option<i64>,
    throttler: &'a Throttler,
}

impl Rewriter<'_> {
    /// Writes a cleaned segment per group and returns their total size. Their base offsets
    /// go to `new_bases` as soon as files exist, so that a failure can delete them.
    ///
    /// Recovery completes a swap by deleting the segments whose base offsets fall in each
    /// cleaned segment's offset range (see [`swap`]), so every segment replaced must start
    /// in the range of the cleaned segment replacing it. Segments that keep nothing at the
    /// end of a group would start past its end: they go to the next group instead, whose
    /// cleaned segment then starts at the first of them. Those left after the last group
    /// are each replaced by an empty segment (which reads skip, and which a later cleaning
    /// folds into the group after it). No empty batch is written to cover them: a fetch
    /// answered with empty batches only makes librdkafka grow its fetch size, and fail.
    fn write_groups(
        &mut self,
        dir: &Path,
        config: &LogConfig,
        groups: &[&[Arc<Segment>]],
        new_bases: &mut Vec<i64>,
    ) -> Result<u64> {
        let mut size = 0;
        let mut carried: Vec<&Arc<Segment>> = Vec::new();
        for group in groups {
            let base = carried.first().unwrap_or(&&group[0]).base_offset();
            new_bases.push(base);
            let cleaned = Segment::create_cleaned(dir, base, config)?;
            let mut kept_up_to = None;
            for (i, segment) in group.iter().enumerate() {
                if self.clean_segment(segment, &cleaned)? {
                    kept_up_to = Some(i);
                }
            }
            match kept_up_to {
                Some(last) => {
                    size += cleaned.size();
                    finish_cleaned(dir, cleaned)?;
                    carried.clear();
                    carried.extend(&group[last + 1..]);
                }
                None => {
                    drop(cleaned);
                    new_bases.pop();
                    swap::discard(dir, &[base])?;
                    carried.extend(group.iter());
                }
            }
        }
        for segment in carried {
            new_bases.push(segment.base_offset());
            finish_cleaned(dir, Segment::create_cleaned(dir, segment.base_offset(), config)?)?;
        }
        Ok(size)
    }

    /// Appends what `segment` keeps to `cleaned`; whether it kept a batch.
    fn clean_segment(&mut self, segment: &Segment, cleaned: &Segment) -> Result<bool> {
        let mut kept = false;
        for located in located_batches(segment)? {
            let batch = segment.read_batch(&located)?;
            self.throttler.throttle(batch.as_bytes().len());
            let (retained, aborted_entry) = self.clean_batch(segment, &located, batch)?;
            if let Some(retained) = retained {
                append(cleaned, &retained)?;
                self.throttler.throttle(retained.as_bytes().len());
                kept = true;
            }
            if let Some(entry) = aborted_entry {
                cleaned.append_aborted_txn(entry)?;
            }
        }
        Ok(kept)
    }

    /// What stays of `batch`, and the `.txnindex` entry that stays with an abort marker.
    fn clean_batch(
        &mut self,
        segment: &Segment,
        located: &LocatedBatch,
        batch: RecordBatch,
    ) -> Result<(Option<RecordBatch>, Option<AbortedTxn>)> {
        let horizon = batch.delete_horizon_ms();
        if batch.is_control() {
            let Some(marker) = read_marker(&batch).map_err(|e| corrupt(segment, located, e))? else {
                // A control record of a kind this broker does not know: left as it is.
                return Ok((Some(batch), None));
            };
            let verdict = self.transactions.on_marker(&batch, marker.control_type);
            if !verdict.discardable {
                return Ok((Some(batch), verdict.aborted_entry));
            }
            return Ok(match horizon {
                Some(horizon) if horizon <= self.now_ms => (self.empty_if_last(&batch), None),
                Some(horizon) => {
                    self.note_horizon(horizon);
                    (Some(batch), None)
                }
                None => {
                    let records: Vec<Record> = records(segment, located, &batch)?.collect();
                    let horizon = self.new_horizon();
                    (Some(rebuild(&batch, &records, Some(horizon))), None)
                }
            });
        }
        if self.transactions.is_aborted(&batch) {
            return Ok((self.empty_if_last(&batch), None));
        }
        if batch.base_offset() >= self.map_end {
            return Ok((Some(batch), None));
        }
        let all: Vec<Record> = records(segment, located, &batch)?.collect();
        let total = all.len();
        let retained: Vec<Record> = all.into_iter().filter(|r| self.retain(r, horizon)).collect();
        let has_tombstones = retained.iter().any(|r| r.key.is_some() && r.value.is_none());
        let horizon = match (has_tombstones, horizon) {
            (true, None) => Some(self.new_horizon()),
            (true, Some(horizon)) => {
                self.note_horizon(horizon);
                Some(horizon)
            }
            (false, horizon) => horizon,
        };
        // Also a batch already empty, kept before as a producer's last: it goes once that
        // producer is no longer in the producer state.
        if retained.is_empty() {
            return Ok((self.empty_if_last(&batch), None));
        }
        if retained.len() == total && horizon == batch.delete_horizon_ms() {
            return Ok((Some(batch), None));
        }
        Ok((Some(rebuild(&batch, &retained, horizon)), None))
    }

    /// Whether a record of a data batch with delete horizon `horizon` stays.
    fn retain(&self, record: &Record, horizon: Option<i64>) -> bool {
        if record.offset >= self.map_end {
            return true;
        }
        let Some(key) = &record.key else {
            return true;
        };
        let latest = self.map.get(key).is_none_or(|offset| record.offset >= offset);
        latest && (record.value.is_some() || horizon.is_none_or(|horizon| horizon > self.now_ms))
    }

    /// The horizon of a batch whose tombstones or marker this cleaning sees first.
    fn new_horizon(&mut self) -> i64 {
        let horizon = self.now_ms.saturating_add(self.delete_retention_ms);
        self.note_horizon(horizon);
        horizon
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.next_delete_horizon_ms = Some(self.next_delete_horizon_ms.map_or(horizon, |h| h.min(horizon)));
    }

    /// A batch all of whose records go: kept empty if it is its producer's last.
    fn empty_if_last(&self, batch: &RecordBatch) -> Option<RecordBatch> {
        let last = self.producers.get(&batch.producer_id())?;
        let is_last = match last.last_data_offset {
            Some(offset) => batch.last_offset() == offset,
            None => batch.is_control() && batch.producer_epoch() == last.epoch,
        };
        is_last.then(|| rebuild(batch, &[], None))
    }
}

/// `batch` with only `records`, keeping its offsets, producer fields, attributes and codec,
/// with the delete horizon `horizon`.
fn rebuild(batch: &RecordBatch, records: &[Record], horizon: Option<i64>) -> RecordBatch {
    let mut builder = RecordBatchBuilder::new(batch.base_offset())
        .partition_leader_epoch(batch.partition_leader_epoch())
        .producer(batch.producer_id(), batch.producer_epoch(), batch.base_sequence())
        .transactional(batch.is_transactional())
        .control(batch.is_control())
        .last_offset_delta(batch.last_offset_delta())
        .compression(batch.compression());
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        builder = builder.log_append_time(batch.max_timestamp());
    }
    if records.is_empty() {
        builder = builder.max_timestamp(batch.max_timestamp());
    }
    if let Some(horizon) = horizon {
        builder = builder.delete_horizon(horizon);
    }
    for record in records {
        builder.append_at(
            record.offset,
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
    }
    builder.build()
}

fn append(cleaned: &Segment, batch: &RecordBatch) -> Result<()> {
    let header = BatchHeader::parse(batch.as_bytes()).expect("a parsed batch has a header");
    cleaned.append(batch.as_bytes(), &[header]).map(|_| ())
}

/// Makes a written cleaned segment durable, with its transaction index file.
fn finish_cleaned(dir: &Path, cleaned: Segment) -> Result<()> {
    cleaned.seal()?;
    cleaned.flush()?;
    cleaned.flush_indexes()?;
    swap::ensure_cleaned_txn_index(dir, cleaned.base_offset())
}

/// The batches of a segment, located by their headers.
fn located_batches(segment: &Segment) -> Result<Vec<LocatedBatch>> {
    let mut batches = Vec::new();
    segment.for_each_batch(|batch| {
        batches.push(batch);
        Ok(())
    })?;
    Ok(batches)
}

/// The records of a batch, all of them decoded.
fn records(segment: &Segment, located: &LocatedBatch, batch: &RecordBatch) -> Result<impl Iterator<Item = Record>> {
    let records = batch
        .records(MAX_DECOMPRESSED_BYTES)
        .and_then(|records| records.collect::<Result<Vec<_>, _>>())
        .map_err(|e| corrupt(segment, located, e))?;
    Ok(records.into_iter())
}

fn corrupt(segment: &Segment, located: &LocatedBatch, reason: impl ToString) -> LogError {
    LogError::corrupt(
        segment.path(),
        format!("batch at byte {}: {}", located.position, reason.to_string()),
    )
}
