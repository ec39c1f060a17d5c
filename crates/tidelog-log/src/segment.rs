//! One segment of a partition log: `<base offset>.log` holding whole v2 batches back to
//! back, with its sparse `.index` and `.timeindex`, and the `.txnindex` of the transactions
//! aborted in it.
//!
//! Concurrency: appends, truncation and recovery are serialized by the owner
//! ([`crate::PartitionLog`] takes `&mut self` for them) and may run while any number of
//! readers use the same `Arc<Segment>`. Readers never hold a lock during file I/O: they take
//! the read lock only to copy the committed size or to binary-search an index, then read
//! (headers with `pread`; records with `pread`, or not at all, see
//! [`Segment::read_batches`]). An append writes its bytes first and publishes the new size
//! (with the index entries) afterwards, so a reader never sees a partly written batch.
//!
//! File regions and truncation: a Fetch response may hold a [`FileRegion`] of the `.log`
//! until the connection sends it, after the read. Its bytes must not change meanwhile: cut
//! off the file, `sendfile` would send fewer bytes than the response announced (and the
//! client would wait for the rest); written over, the response would hold other records.
//! Every place that shrinks a `.log`:
//! - a failed append is cut back to the committed size, and regions never reach past the
//!   committed size they were created under;
//! - recovery (`recover`, at open) runs before the segment is shared, so no region exists;
//! - [`Segment::truncate_to`] cuts committed bytes: it does so in place only when no region
//!   of the segment is alive, and otherwise moves the kept bytes to a new file that takes
//!   the segment's name, leaving the regions on the old, unlinked one;
//! - deletion (retention, DeleteRecords, truncation's later segments, the cleaner's swap)
//!   renames the files `.deleted` and unlinks them `file.delete.delay.ms` later: a
//!   region's open descriptor keeps the inode alive through both.
//!
//! The `.log` is opened for appending: writes need no position, since the file ends where
//! its committed batches do (recovery and truncation cut it there, and a failed append is
//! cut off again).
//!
//! Descriptors: the segment's files are [`CachedFile`]s, open only while the process-wide
//! [`crate::file_cache`] keeps them. A reader takes the open file (an `Arc<File>`) under
//! the state's read lock with the size it reads up to, since a truncation replaces the file
//! under the write lock, and then keeps reading that file whatever the cache, truncation or
//! deletion do meanwhile.

use crate::config::LogConfig;
use crate::error::{IoContext, LogError, Result};
use crate::file_cache::{self, Access, CachedFile};
use crate::layout::{
    segment_file, temp_segment_file, CLEANED_SUFFIX, DELETED_SUFFIX, LOG_SUFFIX, OFFSET_INDEX_SUFFIX,
    TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
};
use crate::offset_index::{OffsetIndex, OffsetPosition};
use crate::time_index::{TimeIndex, TimestampOffset, NO_TIMESTAMP};
use crate::txn_index::{AbortedTxn, TxnIndex};
use bytes::Bytes;
use std::any::Any;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tidelog_protocol::records::{BatchHeader, RecordBatch, RecordsError, HEADER_LEN, REWRITTEN_PREFIX_LEN};
use tidelog_protocol::{FileRegion, Payload};
use tracing::{debug, warn};

/// How much of a segment recovery reads at once; larger batches are read whole.
const RECOVERY_CHUNK_BYTES: u64 = 1 << 20;

/// Reads from this size on are file regions, sent with `sendfile`; smaller ones (a
/// header-sized marker batch, a consumer at the tail) are one `pread`, so that a response of
/// many small partitions stays one vectored write rather than a `sendfile` per partition.
const REGION_MIN_BYTES: usize = 64 << 10;

/// Suffix of the file [`Segment::truncate_to`] builds when regions are alive.
const TRUNCATING_SUFFIX: &str = "truncating";

/// A segment's index entries as [`Segment::index_entries`] copies them, for inspection.
#[derive(Debug, Clone, Default)]
pub struct IndexEntries {
    pub offsets: Vec<OffsetPosition>,
    pub times: Vec<TimestampOffset>,
    /// Transactions whose ABORT marker is in this segment (its `.txnindex`).
    pub aborted: Vec<AbortedTxn>,
}

/// A batch located in a segment by its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocatedBatch {
    pub position: u64,
    pub header: BatchHeader,
}

impl LocatedBatch {
    /// The file position just past the batch.
    pub fn end(&self) -> u64 {
        self.position + self.header.size_in_bytes() as u64
    }
}

#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    /// The `.log`; the file it names changes only by a truncation while regions are alive.
    log: CachedFile,
    /// One clone per live [`FileRegion`] of the `.log` (see the module doc): taken under
    /// the state's read lock, so under its write lock a count of one means no region exists
    /// and none is being made.
    live_regions: Arc<()>,
    /// Fixed at creation, as in Kafka, so an index keeps one density.
    index_interval_bytes: u64,
    /// When this process created or opened the segment: what time-based rolling counts from
    /// when batches carry no timestamps.
    created_ms: i64,
    state: RwLock<State>,
}

/// What appends change; see the module doc for who may touch it when.
#[derive(Debug)]
struct State {
    /// Bytes of whole batches in `.log`: readers never look past it.
    size: u64,
    /// The offset after the last batch (the base offset while empty).
    next_offset: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// The largest batch max timestamp and the last offset of that batch.
    max_timestamp: TimestampOffset,
    bytes_since_last_index_entry: u64,
    /// The first batch's max timestamp: what time-based rolling counts from, as in Kafka.
    first_batch_timestamp: i64,
    txn_index: TxnIndex,
}

impl State {
    /// Accounts for the batch just written at `position`, adding index entries every
    /// `interval` bytes. Shared by append and recovery so both build the same indexes.
    fn index_batch(&mut self, position: u64, batch: &BatchHeader, interval: u64) -> Result<()> {
        self.observe(batch);
        if self.bytes_since_last_index_entry > interval {
            self.offset_index.append(batch.last_offset(), position)?;
            self.time_index.maybe_append(self.max_timestamp)?;
            self.bytes_since_last_index_entry = 0;
        }
        let size = batch.size_in_bytes() as u64;
        self.bytes_since_last_index_entry += size;
        if position == 0 {
            self.first_batch_timestamp = batch.max_timestamp();
        }
        self.size = position + size;
        Ok(())
    }

    /// Updates what the batch's header says about the end and the timestamps of the segment.
    fn observe(&mut self, batch: &BatchHeader) {
        if batch.max_timestamp() > self.max_timestamp.timestamp {
            self.max_timestamp = TimestampOffset {
                timestamp: batch.max_timestamp(),
                offset: batch.last_offset(),
            };
        }
        self.next_offset = batch.last_offset() + 1;
    }
}

impl Segment {
    /// Creates the files of a new, empty segment (replacing leftovers of the same name).
    pub(crate) fn create(dir: &Path, base_offset: i64, config: &LogConfig) -> Result<Self> {
        Self::open_files(dir, base_offset, config, true, None)
    }

    /// Creates the `.cleaned` files of a segment the cleaner writes; once written and
    /// flushed they are renamed into place and opened again under their own names.
    pub(crate) fn create_cleaned(dir: &Path, base_offset: i64, config: &LogConfig) -> Result<Self> {
        Self::open_files(dir, base_offset, config, true, Some(CLEANED_SUFFIX))
    }

    /// Opens a segment whose bytes are trusted (below the recovery point, or after a clean
    /// shutdown): loads its indexes and reads only the batch headers after the last offset
    /// index entry to find its end. Indexes that fail their sanity checks are rebuilt.
    pub(crate) fn open(dir: &Path, base_offset: i64, config: &LogConfig) -> Result<Self> {
        let segment = match Self::open_files(dir, base_offset, config, false, None) {
            Ok(segment) => segment,
            // Nothing in it is trusted once an index is unreadable.
            Err(LogError::Corrupt { .. }) => {
                return Self::open_with_recovery(dir, base_offset, config, base_offset).map(|(segment, _)| segment);
            }
            Err(e) => return Err(e),
        };
        let loaded = {
            let mut state = segment.write_state();
            state.size = segment.log.get()?.metadata().context("stat", &segment.log_path)?.len();
            segment.load_tail(&mut state)
        };
        if let Err(reason) = loaded {
            warn!(segment = %segment.log_path.display(), %reason, "index does not match the log, rebuilding");
            segment.recover(base_offset)?;
        }
        Ok(segment)
    }

    /// Opens a segment a crash may have cut short or scribbled over, scans it from the batch
    /// holding `recovery_point` on (see [`Segment::recover`]) and returns it with the number
    /// of bytes cut off its end.
    pub(crate) fn open_with_recovery(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        recovery_point: i64,
    ) -> Result<(Self, u64)> {
        let segment = match Self::open_files(dir, base_offset, config, false, None) {
            Ok(segment) => segment,
            // A torn index cannot stop the segment from opening: emptied, it is rebuilt.
            Err(LogError::Corrupt { path, reason }) => {
                warn!(index = %path.display(), %reason, "unreadable index, rebuilding");
                for suffix in [OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    let path = segment_file(dir, base_offset, suffix);
                    File::create(&path).context("reset index", &path)?;
                }
                Self::open_files(dir, base_offset, config, false, None)?
            }
            Err(e) => return Err(e),
        };
        let truncated = segment.recover(recovery_point)?;
        Ok((segment, truncated))
    }

    fn open_files(dir: &Path, base_offset: i64, config: &LogConfig, create: bool, temp: Option<&str>) -> Result<Self> {
        let segment_file = |dir: &Path, base_offset: i64, suffix: &str| match temp {
            Some(extra) => temp_segment_file(dir, base_offset, suffix, extra),
            None => segment_file(dir, base_offset, suffix),
        };
        let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
        let log = file_cache::open(&log_path, Access::Append, create)?;
        let index_path = |suffix| {
            let path = segment_file(dir, base_offset, suffix);
            if create {
                File::create(&path).context("create index", &path)?;
            }
            Ok::<_, LogError>(path)
        };
        let offset_index = OffsetIndex::open(
            &index_path(OFFSET_INDEX_SUFFIX)?,
            base_offset,
            config.max_offset_index_entries(),
        )?;
        let time_index = TimeIndex::open(
            &index_path(TIME_INDEX_SUFFIX)?,
            base_offset,
            config.max_time_index_entries(),
        )?;
        let txn_index_path = segment_file(dir, base_offset, TXN_INDEX_SUFFIX);
        if create {
            remove_if_present(&txn_index_path)?;
        }
        let txn_index = TxnIndex::open(&txn_index_path)?;
        Ok(Self {
            base_offset,
            log_path,
            log,
            live_regions: Arc::new(()),
            index_interval_bytes: config.index_interval_bytes as u64,
            created_ms: now_ms(),
            state: RwLock::new(State {
                size: 0,
                next_offset: base_offset,
                offset_index,
                time_index,
                max_timestamp: no_timestamp(base_offset),
                bytes_since_last_index_entry: 0,
                first_batch_timestamp: NO_TIMESTAMP,
                txn_index,
            }),
        })
    }

    /// Rebuilds the end offset and max timestamp from the indexes plus the headers after the
    /// last offset index entry; `Err` says why the indexes cannot be trusted.
    fn load_tail(&self, state: &mut State) -> Result<(), String> {
        state.offset_index.sanity_check(state.size)?;
        let start = state.offset_index.last_entry().position;
        // The entry's batch counts toward the next entry, as in `index_batch`.
        state.bytes_since_last_index_entry = state.size - start;
        state.max_timestamp = state.time_index.last_entry().unwrap_or(no_timestamp(self.base_offset));
        state.next_offset = self.base_offset;
        let log = self.log.get().map_err(|e| e.to_string())?;
        self.scan(&log, start, state.size, |batch| {
            state.observe(batch);
            false
        })
        .map_err(|e| e.to_string())?;
        state.time_index.sanity_check(state.next_offset)?;
        state.first_batch_timestamp = match state.size {
            0 => NO_TIMESTAMP,
            _ => self.read_header(&log, 0).map_err(|e| e.to_string())?.max_timestamp(),
        };
        Ok(())
    }

    /// Scans the batches from the one holding `recovery_point` on: header, CRC, offsets
    /// increasing from those before. Cuts the file at the first torn or corrupt batch,
    /// rebuilds the index entries of the scanned part (sealed, see [`Segment::seal`]), and
    /// returns how many bytes were cut.
    ///
    /// The batches below the recovery point were flushed before it was checkpointed, so they
    /// are trusted as they are, with their index entries: only the batch headers from the
    /// last offset index entry below it are read, to find where the scan starts. If the
    /// indexes do not match those batches, the whole segment is scanned.
    pub(crate) fn recover(&self, recovery_point: i64) -> Result<u64> {
        let log = self.log.get()?;
        let mut state = self.write_state();
        let file_len = log.metadata().context("stat", &self.log_path)?.len();
        let flushed = self.flushed_end(&log, &state, recovery_point, file_len);
        state.offset_index.truncate_to_position(flushed.position)?;
        state.time_index.truncate_to(flushed.offset)?;
        state.size = flushed.position;
        if let Err(reason) = self.load_tail(&mut state) {
            warn!(
                segment = %self.log_path.display(),
                %reason,
                "indexes do not match the flushed batches, scanning them too"
            );
            state.offset_index.truncate_to_position(0)?;
            state.time_index.truncate_to(i64::MIN)?;
            state.size = 0;
            state.next_offset = self.base_offset;
            state.max_timestamp = no_timestamp(self.base_offset);
            state.bytes_since_last_index_entry = 0;
            state.first_batch_timestamp = NO_TIMESTAMP;
        }
        let scan_start = state.size;

        let mut want = RECOVERY_CHUNK_BYTES;
        let mut failure = None;
        while state.size < file_len && failure.is_none() {
            let chunk_start = state.size;
            let len = want.min(file_len - chunk_start) as usize;
            let chunk = read_raw(&log, &self.log_path, chunk_start, len)?;
            if chunk.len() < len {
                failure = Some(format!(
                    "file shrank to {} bytes during recovery",
                    chunk_start + chunk.len() as u64
                ));
                break;
            }
            want = RECOVERY_CHUNK_BYTES;
            let mut batches = RecordBatch::iter_batches(chunk);
            loop {
                let position = chunk_start + batches.position() as u64;
                match batches.next() {
                    None => break,
                    Some(Ok(batch)) => match self.check_recovered(&state, &batch) {
                        Ok(header) => state.index_batch(position, &header, self.index_interval_bytes)?,
                        Err(reason) => {
                            failure = Some(reason);
                            break;
                        }
                    },
                    // The batch goes on past this chunk: read it whole next time round.
                    Some(Err(RecordsError::Truncated { needed, .. })) if position + needed as u64 <= file_len => {
                        want = want.max(needed as u64);
                        break;
                    }
                    Some(Err(e)) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
        }

        // As Kafka's recovery does, and as a segment closed normally would have it.
        let max_timestamp = state.max_timestamp;
        state.time_index.maybe_append(max_timestamp)?;
        // Markers cut off take their entries along; replaying the markers kept restores any
        // entry the crash lost (see `PartitionLog::open`).
        let next_offset = state.next_offset;
        state.txn_index.truncate_to(next_offset)?;
        let valid = state.size;
        if let Some(reason) = failure {
            // No region exists: recovery runs at open, before anyone reads the segment.
            log.set_len(valid).context("truncate", &self.log_path)?;
            warn!(
                segment = %self.log_path.display(),
                position = valid,
                next_offset = state.next_offset,
                dropped_bytes = file_len - valid,
                %reason,
                "truncated a torn or corrupt tail"
            );
        }
        debug!(
            segment = %self.log_path.display(),
            from = scan_start,
            bytes = valid,
            next_offset = state.next_offset,
            "recovered"
        );
        Ok(file_len - valid)
    }

    /// Where the batches ending below `recovery_point` end, and the offset after them: found
    /// by walking batch headers from the offset index entry before the recovery point, or
    /// from the segment start if that entry does not name the batch at its position (the
    /// active segment's index is not fsynced with the log, so after a power loss it may
    /// lack entries or hold zeros). The walk stops early at a header it cannot read, which
    /// only makes the scan longer.
    fn flushed_end(&self, log: &File, state: &State, recovery_point: i64, file_len: u64) -> OffsetPosition {
        let entry = state.offset_index.lookup(recovery_point.saturating_sub(1));
        let entry_matches = self
            .read_header(log, entry.position)
            .is_ok_and(|header| header.last_offset() == entry.offset);
        let mut position = if entry_matches { entry.position } else { 0 };
        let mut end = OffsetPosition {
            offset: self.base_offset,
            position: 0,
        };
        while let Ok(header) = self.read_header(log, position) {
            let batch_end = position + header.size_in_bytes() as u64;
            if header.last_offset() >= recovery_point || batch_end > file_len {
                break;
            }
            end = OffsetPosition {
                offset: header.last_offset() + 1,
                position: batch_end,
            };
            position = batch_end;
        }
        end
    }

    /// What recovery requires of each batch beyond parsing: an intact CRC and offsets that
    /// increase and fit the segment's relative offsets.
    fn check_recovered(&self, state: &State, batch: &RecordBatch) -> Result<BatchHeader, String> {
        batch.verify_crc().map_err(|e| e.to_string())?;
        let (base, last) = (batch.base_offset(), batch.last_offset());
        if base < state.next_offset || last < base || last - self.base_offset > i64::from(i32::MAX) {
            return Err(format!(
                "batch offsets {base}..={last} do not follow offset {}",
                state.next_offset - 1
            ));
        }
        Ok(BatchHeader::parse(batch.as_bytes()).expect("a parsed batch has a valid header"))
    }

    /// Appends the whole batches in `batches`, whose headers with their assigned base
    /// offsets are `headers`, and returns the file position they start at. The base offset
    /// is the one field to change and the CRC does not cover it, so the batches are not
    /// copied: one vectored write takes, per batch, the 8 bytes of its assigned base offset
    /// and then its own bytes after them. The owner serializes appends (see the module doc).
    pub(crate) fn append(&self, batches: &[u8], headers: &[BatchHeader]) -> Result<u64> {
        let mut slices = Vec::with_capacity(2 * headers.len());
        let mut position = 0;
        for header in headers {
            let end = position + header.size_in_bytes();
            slices.push(IoSlice::new(header.rewritten_prefix()));
            slices.push(IoSlice::new(&batches[position + REWRITTEN_PREFIX_LEN..end]));
            position = end;
        }
        self.log.wrote();
        let log = self.log.get()?;
        let start = self.read_state().size;
        if let Err(e) = write_all_vectored(&*log, &mut slices) {
            // Safe with regions alive: none reaches past the committed size `start`.
            log.set_len(start).context("cut a failed append off", &self.log_path)?;
            return Err(e).context("append to", &self.log_path);
        }
        let mut state = self.write_state();
        let mut position = start;
        for header in headers {
            state.index_batch(position, header, self.index_interval_bytes)?;
            position += header.size_in_bytes() as u64;
        }
        Ok(start)
    }

    /// Up to `max_bytes` of the log from `position`, never past the committed size, read
    /// into memory.
    pub fn read(&self, position: u64, max_bytes: usize) -> Result<Bytes> {
        let (log, size) = self.log_and_size()?;
        let len = size.saturating_sub(position).min(max_bytes as u64) as usize;
        read_raw(&log, &self.log_path, position, len)
    }

    /// The whole batches from `first` on that end within `max_bytes` of it and by `end`
    /// (the first one whatever its size), and the offset after the last of them. Reads
    /// batch headers only: the offset index, searched by position, leads to the last ones.
    ///
    /// From [`REGION_MIN_BYTES`] on the batches are a [`FileRegion`] of the `.log`, which
    /// this process never reads: the connection hands it to the socket with `sendfile`, so
    /// the kernel's move of page-cache pages is the only work done on the bytes. The region
    /// holds a token that keeps [`Segment::truncate_to`] from cutting its bytes (see the
    /// module doc). Fewer bytes are one `pread`.
    pub fn read_batches(&self, first: LocatedBatch, max_bytes: usize, end: u64) -> Result<(Payload, i64)> {
        let (log, token, limit, candidates) = {
            let state = self.read_state();
            let log = self.log.get()?;
            let limit = end
                .min(state.size)
                .min(first.position + max_bytes as u64)
                .max(first.end());
            // The last indexed batch starting by `limit`, and the one indexed before it,
            // which surely ends by `limit` too.
            let at = state.offset_index.lookup_position(limit);
            let before = state.offset_index.lookup_position(at.position.saturating_sub(1));
            let token = Arc::clone(&self.live_regions);
            (log, token, limit, [before.position, at.position])
        };
        let mut last = first;
        for position in candidates {
            if position > last.position {
                let batch = LocatedBatch {
                    position,
                    header: self.read_header(&log, position)?,
                };
                if batch.end() > limit {
                    break;
                }
                last = batch;
            }
        }
        while last.end() < limit {
            let next = LocatedBatch {
                position: last.end(),
                header: self.read_header(&log, last.end())?,
            };
            if next.end() > limit {
                break;
            }
            last = next;
        }
        let len = (last.end() - first.position) as usize;
        let records = if len < REGION_MIN_BYTES {
            Payload::Memory(read_raw(&log, &self.log_path, first.position, len)?)
        } else {
            let token: Arc<dyn Any + Send + Sync> = token;
            Payload::File(FileRegion::new(log, first.position, len, token))
        };
        Ok((records, last.header.last_offset() + 1))
    }

    /// The batch holding `offset`, or the first batch after it (offsets may have gaps);
    /// `None` when the segment ends before `offset`. An index lookup, then headers only.
    pub fn find_batch(&self, offset: i64) -> Result<Option<LocatedBatch>> {
        let (log, start, size) = {
            let state = self.read_state();
            (self.log.get()?, state.offset_index.lookup(offset).position, state.size)
        };
        self.scan(&log, start, size, |batch| batch.last_offset() >= offset)
    }

    /// The first batch ending at or after `min_offset` whose max timestamp is at least
    /// `timestamp`, if any (Kafka's search, starting from the time index entry).
    pub fn find_timestamp(&self, timestamp: i64, min_offset: i64) -> Result<Option<LocatedBatch>> {
        let (log, start, size) = {
            let state = self.read_state();
            let indexed = state.time_index.lookup(timestamp);
            (
                self.log.get()?,
                state.offset_index.lookup(indexed.offset.max(min_offset)).position,
                state.size,
            )
        };
        self.scan(&log, start, size, |batch| {
            batch.max_timestamp() >= timestamp && batch.last_offset() >= min_offset
        })
    }

    /// Up to `max` batches from the one holding `offset` (or the first after it), located by
    /// their headers alone: what the web console's segment inspector lists.
    pub fn batches_from(&self, offset: i64, max: usize) -> Result<Vec<LocatedBatch>> {
        let Some(first) = self.find_batch(offset)? else {
            return Ok(Vec::new());
        };
        let (log, end) = self.log_and_size()?;
        let mut batches = vec![first];
        let mut position = first.end();
        while batches.len() < max && position < end {
            let batch = LocatedBatch {
                position,
                header: self.read_header(&log, position)?,
            };
            batches.push(batch);
            position = batch.end();
        }
        Ok(batches)
    }

    /// The first `max` entries of the `.index`, the `.timeindex` and the `.txnindex`,
    /// copied under the state's read lock (bounded, so an append waits at most for that copy).
    pub fn index_entries(&self, max: usize) -> IndexEntries {
        let state = self.read_state();
        IndexEntries {
            offsets: state.offset_index.entries(max),
            times: state.time_index.entries(max),
            aborted: state.txn_index.entries().iter().take(max).copied().collect(),
        }
    }

    /// Walks batch headers from `position` up to `end` and returns the first that `found`
    /// accepts.
    fn scan(
        &self,
        log: &File,
        mut position: u64,
        end: u64,
        mut found: impl FnMut(&BatchHeader) -> bool,
    ) -> Result<Option<LocatedBatch>> {
        while position < end {
            let header = self.read_header(log, position)?;
            let batch = LocatedBatch { position, header };
            if found(&header) {
                return Ok(Some(batch));
            }
            position = batch.end();
        }
        Ok(None)
    }

    /// Calls `visit` with every batch as located by its header, in order, reading headers
    /// only; `visit` may fail, which ends the walk.
    pub(crate) fn for_each_batch(&self, mut visit: impl FnMut(LocatedBatch) -> Result<()>) -> Result<()> {
        let (log, end) = self.log_and_size()?;
        let mut position = 0;
        while position < end {
            let batch = LocatedBatch {
                position,
                header: self.read_header(&log, position)?,
            };
            visit(batch)?;
            position = batch.end();
        }
        Ok(())
    }

    /// The whole batch `batch` locates, for the few batches whose records the log reads
    /// (transaction markers).
    pub(crate) fn read_batch(&self, batch: &LocatedBatch) -> Result<RecordBatch> {
        let bytes = self.read(batch.position, batch.header.size_in_bytes())?;
        RecordBatch::parse(bytes)
            .map_err(|e| LogError::corrupt(&self.log_path, format!("batch at byte {}: {e}", batch.position)))
    }

    /// Records a transaction aborted by a marker in this segment in its `.txnindex`.
    pub(crate) fn append_aborted_txn(&self, txn: AbortedTxn) -> Result<()> {
        self.write_state().txn_index.append(txn)
    }

    /// The marker offset of the last aborted transaction recorded here.
    pub(crate) fn last_aborted_txn_offset(&self) -> Option<i64> {
        self.read_state().txn_index.last_offset()
    }

    /// The transactions aborted in this segment that hold records in `from..to`, and
    /// whether the search may stop here (see [`crate::LogSnapshot::aborted_txns`]).
    pub fn aborted_txns(&self, from: i64, to: i64) -> (Vec<AbortedTxn>, bool) {
        let state = self.read_state();
        let mut found = Vec::new();
        for txn in state.txn_index.entries() {
            if txn.overlaps(from, to) {
                found.push(*txn);
            }
            if txn.last_stable_offset >= to {
                return (found, true);
            }
        }
        (found, false)
    }

    /// Reads `log`, which callers take from the state with the size they read up to (the
    /// lock is not taken here: some callers hold it for writing).
    fn read_header(&self, log: &File, position: u64) -> Result<BatchHeader> {
        let mut buf = [0u8; HEADER_LEN];
        log.read_exact_at(&mut buf, position)
            .context("read batch header from", &self.log_path)?;
        BatchHeader::parse(&buf)
            .map_err(|e| LogError::corrupt(&self.log_path, format!("batch at byte {position}: {e}")))
    }

    /// Cuts the segment before the batch holding `offset` and returns how many bytes were
    /// removed. Callers truncate at batch boundaries, as Kafka's do.
    ///
    /// With no region of the segment alive the file is cut in place. Otherwise a region may
    /// cover the bytes to cut, so they stay: the kept bytes are copied to a new file, which
    /// is renamed over the segment's `.log` and used from now on, and the regions keep the
    /// old, now unlinked, file (a read that raced the truncation returns what it would have
    /// returned just before it). Truncation is rare and only ever cuts the active segment.
    pub(crate) fn truncate_to(&self, offset: i64) -> Result<u64> {
        let Some(cut) = self.find_batch(offset)? else {
            return Ok(0);
        };
        let log = self.log.get()?;
        let mut state = self.write_state();
        let removed = state.size - cut.position;
        if Arc::strong_count(&self.live_regions) == 1 {
            log.set_len(cut.position).context("truncate", &self.log_path)?;
        } else {
            self.log.replace(self.copy_prefix(cut.position)?)?;
        }
        state.offset_index.truncate_to_position(cut.position)?;
        state.time_index.truncate_to(cut.header.base_offset())?;
        state.txn_index.truncate_to(cut.header.base_offset())?;
        state.size = cut.position;
        self.load_tail(&mut state)
            .map_err(|reason| LogError::corrupt(&self.log_path, reason))?;
        Ok(removed)
    }

    /// Writes the segment's largest timestamp to its time index, as Kafka does when a segment
    /// stops being the active one, so loading it later needs no scan to know it.
    pub(crate) fn seal(&self) -> Result<()> {
        let mut state = self.write_state();
        let max_timestamp = state.max_timestamp;
        state.time_index.maybe_append(max_timestamp)
    }

    /// The first `len` bytes of the `.log` in a new file that replaces it under the
    /// segment's name, opened for appending. The path always names the current file, so
    /// `fs::copy` (a copy inside the kernel) takes it whole, and the copy is cut to `len`.
    fn copy_prefix(&self, len: u64) -> Result<File> {
        let temp = self
            .log_path
            .with_extension(format!("{LOG_SUFFIX}.{TRUNCATING_SUFFIX}"));
        fs::copy(&self.log_path, &temp).context("copy", &temp)?;
        let copy = OpenOptions::new().write(true).open(&temp).context("open", &temp)?;
        copy.set_len(len).context("truncate", &temp)?;
        copy.sync_data().context("fsync", &temp)?;
        fs::rename(&temp, &self.log_path).context("rename", &temp)?;
        OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.log_path)
            .context("open segment", &self.log_path)
    }

    /// fdatasync of the `.log`: what makes appended batches durable.
    pub(crate) fn flush(&self) -> Result<()> {
        self.log.sync_data()
    }

    /// fsync of the indexes, needed once the segment falls below the recovery point and its
    /// indexes will be loaded rather than rebuilt.
    pub(crate) fn flush_indexes(&self) -> Result<()> {
        let state = self.read_state();
        state.offset_index.sync()?;
        state.time_index.sync()?;
        state.txn_index.sync()
    }

    /// Renames the segment's files `<name>.deleted` (Kafka's `changeFileSuffixes`), to be
    /// removed later, and returns their new paths. Readers still holding the segment keep
    /// reading through their open descriptors, across the rename and the removal.
    pub(crate) fn rename_to_deleted(&self) -> Result<Vec<PathBuf>> {
        let dir = self.log_path.parent().expect("segments live in a dir");
        let mut renamed = Vec::new();
        for suffix in [LOG_SUFFIX, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
            let (from, to) = (
                segment_file(dir, self.base_offset, suffix),
                temp_segment_file(dir, self.base_offset, suffix, DELETED_SUFFIX),
            );
            match fs::rename(&from, &to) {
                Ok(()) => {
                    // Later opens, by readers still holding the segment, find it renamed.
                    let state = self.read_state();
                    match suffix {
                        LOG_SUFFIX => self.log.renamed(to.clone()),
                        OFFSET_INDEX_SUFFIX => state.offset_index.renamed(to.clone()),
                        TIME_INDEX_SUFFIX => state.time_index.renamed(to.clone()),
                        _ => state.txn_index.renamed(to.clone()),
                    }
                    renamed.push(to);
                }
                // The `.txnindex` exists only once a transaction was aborted in the segment.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).context("rename", &from),
            }
        }
        Ok(renamed)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn path(&self) -> &Path {
        &self.log_path
    }

    /// Committed bytes of whole batches.
    pub fn size(&self) -> u64 {
        self.read_state().size
    }

    /// The offset after the last batch (the base offset while empty).
    pub fn next_offset(&self) -> i64 {
        self.read_state().next_offset
    }

    /// The largest batch max timestamp and the last offset of its batch; `NO_TIMESTAMP` when
    /// no batch has a timestamp.
    pub fn max_timestamp(&self) -> TimestampOffset {
        self.read_state().max_timestamp
    }

    /// The first batch's max timestamp (`NO_TIMESTAMP` while empty or without one): what
    /// `max.compaction.lag.ms` counts from, as in Kafka.
    pub fn first_batch_timestamp(&self) -> i64 {
        self.read_state().first_batch_timestamp
    }

    /// How long the segment has been collecting data, as Kafka judges it for `segment.ms`:
    /// from its first batch's timestamp to that of the batch about to be appended, or by the
    /// wall clock when the first batch has no timestamp.
    pub fn time_waited_for_roll(&self, now_ms: i64, incoming_max_timestamp: i64) -> i64 {
        match self.first_batch_timestamp() {
            NO_TIMESTAMP => now_ms - self.created_ms,
            first => incoming_max_timestamp - first,
        }
    }

    /// Whether either index is full, which forces a roll.
    pub fn is_index_full(&self) -> bool {
        let state = self.read_state();
        state.offset_index.is_full() || state.time_index.is_full()
    }

    /// Time of the last write, which retention falls back to for segments without timestamps.
    pub fn last_modified_ms(&self) -> Result<i64> {
        // By path, not descriptor: retention asks this of every segment, open or not.
        let path = self.log.path();
        let modified = fs::metadata(&path).and_then(|m| m.modified()).context("stat", &path)?;
        Ok(millis_since_epoch(modified))
    }

    /// The open `.log` and the committed size in it, taken together (see the module doc).
    fn log_and_size(&self) -> Result<(Arc<File>, u64)> {
        let state = self.read_state();
        Ok((self.log.get()?, state.size))
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads `len` bytes at `position` with `pread`, fewer if the file is shorter.
fn read_raw(log: &File, path: &Path, position: u64, len: usize) -> Result<Bytes> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match log.read_at(&mut buf[filled..], position + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("read", path),
        }
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

/// Writes all of `slices`, as `Write::write_all` does one buffer: a vectored write may take
/// only part of them (std hands at most `IOV_MAX` slices to one `writev`).
fn write_all_vectored(mut out: impl Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes the files of the segment at `base_offset` in `dir`, whichever exist.
pub(crate) fn delete_files(dir: &Path, base_offset: i64) -> Result<()> {
    for suffix in [LOG_SUFFIX, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
        remove_if_present(&segment_file(dir, base_offset, suffix))?;
    }
    Ok(())
}

pub(crate) fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        removed => removed.context("delete", path),
    }
}

fn no_timestamp(base_offset: i64) -> TimestampOffset {
    TimestampOffset {
        timestamp: NO_TIMESTAMP,
        offset: base_offset,
    }
}

/// Wall-clock milliseconds, Kafka's timestamp unit.
pub(crate) fn now_ms() -> i64 {
    millis_since_epoch(SystemTime::now())
}

fn millis_since_epoch(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::batch;

    const BASE: i64 = 100;

    fn config() -> LogConfig {
        LogConfig {
            index_interval_bytes: 200,
            ..LogConfig::default()
        }
    }

    /// Appends batches of 3 records at `BASE`, `BASE + 3`, ... with the given max
    /// timestamps, one append each; returns each batch's position and bytes.
    fn fill(segment: &Segment, max_timestamps: impl IntoIterator<Item = i64>) -> Vec<(u64, Bytes)> {
        let mut offset = segment.next_offset();
        let mut written = Vec::new();
        for max_timestamp in max_timestamps {
            let bytes = batch(offset, 3, max_timestamp - 2);
            let header = BatchHeader::parse(&bytes).unwrap();
            written.push((segment.append(&bytes, &[header]).unwrap(), bytes));
            offset += 3;
        }
        written
    }

    /// Max timestamp `1000 + last offset` for batch `i`.
    fn rising(count: i64) -> impl Iterator<Item = i64> {
        (0..count).map(|i| 1_000 + BASE + 3 * i + 2)
    }

    fn located(position: u64, bytes: &Bytes) -> Option<LocatedBatch> {
        Some(LocatedBatch {
            position,
            header: BatchHeader::parse(bytes).unwrap(),
        })
    }

    /// The `.index` and `.timeindex` bytes.
    type IndexFiles = (Vec<u8>, Vec<u8>);

    fn index_files(dir: &Path) -> IndexFiles {
        let read = |suffix| fs::read(segment_file(dir, BASE, suffix)).unwrap();
        (read(OFFSET_INDEX_SUFFIX), read(TIME_INDEX_SUFFIX))
    }

    #[test]
    fn every_offset_finds_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let written = fill(&segment, rising(40));
        let end: u64 = written.iter().map(|(_, b)| b.len() as u64).sum();
        assert_eq!((segment.size(), segment.next_offset()), (end, BASE + 120));
        assert_eq!(
            segment.max_timestamp(),
            TimestampOffset {
                timestamp: 1_219,
                offset: 219
            }
        );
        for (i, (position, bytes)) in written.iter().enumerate() {
            for offset in BASE + 3 * i as i64..BASE + 3 * i as i64 + 3 {
                assert_eq!(
                    segment.find_batch(offset).unwrap(),
                    located(*position, bytes),
                    "offset {offset}"
                );
            }
            assert_eq!(segment.read(*position, bytes.len()).unwrap(), bytes);
        }
        assert_eq!(segment.find_batch(BASE - 1).unwrap(), located(0, &written[0].1));
        assert_eq!(segment.find_batch(BASE + 120).unwrap(), None);
        assert_eq!(
            segment.read(end - 10, 100).unwrap().len(),
            10,
            "reads stop at the committed size"
        );

        // Each entry maps the last offset of a batch to its position (what Kafka's
        // DumpLogSegments checks), one entry once more than 200 bytes were appended.
        let (offset_index, time_index) = index_files(dir.path());
        assert!(offset_index.len() / 8 > 5, "the test needs several index entries");
        assert_eq!(time_index.len() / 12, offset_index.len() / 8);
        let mut previous_position = 0;
        for entry in offset_index.chunks(8) {
            let relative_offset = i32::from_be_bytes(entry[..4].try_into().unwrap());
            let position = u32::from_be_bytes(entry[4..].try_into().unwrap()) as u64;
            let (_, bytes) = written
                .iter()
                .find(|(p, _)| *p == position)
                .expect("entry at a batch start");
            assert_eq!(
                BatchHeader::parse(bytes).unwrap().last_offset(),
                BASE + i64::from(relative_offset)
            );
            assert!(position - previous_position > 200 && position - previous_position <= 200 + bytes.len() as u64);
            previous_position = position;
        }
    }

    #[test]
    fn find_timestamp_finds_the_first_batch_reaching_it() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let timestamps = [
            5_000, 4_000, 6_000, 6_000, 5_500, 9_000, 7_000, 10_000, 2_000, 10_500, 10_600, 10_700,
        ];
        let written = fill(&segment, timestamps.iter().copied().cycle().take(60));
        for target in (0..12_000).step_by(250) {
            let expected = (0..60).find(|&i| timestamps[i % 12] >= target).map(|i| &written[i]);
            let found = segment.find_timestamp(target, BASE).unwrap();
            assert_eq!(found, expected.and_then(|(p, b)| located(*p, b)), "timestamp {target}");
        }
        // Batches ending before the minimum offset are skipped.
        let found = segment.find_timestamp(0, BASE + 30).unwrap();
        assert_eq!(found, located(written[10].0, &written[10].1));
    }

    #[test]
    fn a_trusted_reopen_restores_what_appends_built() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let written = fill(&segment, rising(40));
        segment.seal().unwrap();
        let (size, max_timestamp) = (segment.size(), segment.max_timestamp());
        drop(segment);

        let reopened = Segment::open(dir.path(), BASE, &config()).unwrap();
        assert_eq!((reopened.size(), reopened.next_offset()), (size, BASE + 120));
        assert_eq!(reopened.max_timestamp(), max_timestamp);
        assert_eq!(
            reopened.time_waited_for_roll(0, 5_000),
            5_000 - 1_102,
            "from the first batch's max timestamp"
        );
        assert_eq!(
            reopened.find_batch(BASE + 61).unwrap(),
            located(written[20].0, &written[20].1)
        );
        let appended_indexes = index_files(dir.path());
        drop(reopened);

        // Recovery rebuilds exactly the indexes appends and sealing wrote.
        let (recovered, truncated) = Segment::open_with_recovery(dir.path(), BASE, &config(), BASE).unwrap();
        assert_eq!((truncated, recovered.size()), (0, size));
        assert_eq!(index_files(dir.path()), appended_indexes);
    }

    #[test]
    fn recovery_cuts_a_torn_tail_at_every_position() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let written = fill(&segment, rising(30));
        let (last_position, last) = written.last().unwrap().clone();
        let full = fs::read(segment.path()).unwrap();
        drop(segment);
        // The indexes of the log without its last batch, as appends and sealing build them.
        let reference = tempfile::tempdir().unwrap();
        let expected = Segment::create(reference.path(), BASE, &config()).unwrap();
        fill(&expected, rising(29));
        expected.seal().unwrap();

        for cut in last_position + 1..last_position + last.len() as u64 {
            let crashed = tempfile::tempdir().unwrap();
            fs::write(segment_file(crashed.path(), BASE, LOG_SUFFIX), &full[..cut as usize]).unwrap();
            let (segment, truncated) = Segment::open_with_recovery(crashed.path(), BASE, &config(), BASE).unwrap();
            assert_eq!(truncated, cut - last_position);
            assert_eq!((segment.size(), segment.next_offset()), (last_position, BASE + 87));
            assert_eq!(fs::metadata(segment.path()).unwrap().len(), last_position);
            assert_eq!(
                index_files(crashed.path()),
                index_files(reference.path()),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn recovery_stops_at_corruption_and_offsets_going_back() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let written = fill(&segment, rising(10));
        let path = segment.path().to_path_buf();
        let pristine = fs::read(&path).unwrap();
        drop(segment);

        // A flipped byte in a record of batch 6: the CRC no longer matches.
        let mut flipped = pristine.clone();
        flipped[written[6].0 as usize + 70] ^= 0xff;
        // Batch 6 claiming an offset already used: offsets must increase.
        let mut repeated = pristine.clone();
        repeated[written[6].0 as usize..][..8].copy_from_slice(&BASE.to_be_bytes());
        // Garbage over batches 6 onwards.
        let mut garbage = pristine.clone();
        garbage[written[6].0 as usize..].fill(0xab);

        for corrupted in [flipped, repeated, garbage] {
            fs::write(&path, &corrupted).unwrap();
            let (segment, truncated) = Segment::open_with_recovery(dir.path(), BASE, &config(), BASE).unwrap();
            assert_eq!(truncated, pristine.len() as u64 - written[6].0);
            assert_eq!((segment.size(), segment.next_offset()), (written[6].0, BASE + 18));
            assert_eq!(fs::read(&path).unwrap(), pristine[..written[6].0 as usize]);
        }
    }

    /// A segment of 30 batches as a crash leaves it: the log with garbage from inside batch
    /// 24 on, and the index files its appends wrote. Returns the batches and the sealed
    /// indexes of the first 24, as appends build them.
    fn crashed_at_batch_24(dir: &Path) -> (Vec<(u64, Bytes)>, Vec<u8>, IndexFiles) {
        let segment = Segment::create(dir, BASE, &config()).unwrap();
        let written = fill(&segment, rising(30));
        let mut log = fs::read(segment.path()).unwrap();
        log[written[24].0 as usize + 20..].fill(0xab);
        log.extend_from_slice(&[0x5a; 100]);
        let reference = tempfile::tempdir().unwrap();
        let expected = Segment::create(reference.path(), BASE, &config()).unwrap();
        fill(&expected, rising(24));
        expected.seal().unwrap();
        (written, log, index_files(reference.path()))
    }

    fn write_segment(dir: &Path, log: &[u8], (offset_index, time_index): &IndexFiles) {
        fs::write(segment_file(dir, BASE, LOG_SUFFIX), log).unwrap();
        fs::write(segment_file(dir, BASE, OFFSET_INDEX_SUFFIX), offset_index).unwrap();
        fs::write(segment_file(dir, BASE, TIME_INDEX_SUFFIX), time_index).unwrap();
    }

    #[test]
    fn recovery_scans_only_from_the_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        let (written, crashed, expected_indexes) = crashed_at_batch_24(dir.path());
        let appended_indexes = index_files(dir.path());
        let cut = written[24].0;
        for flushed in 1..=24 {
            // A flipped record byte in the last batch below the recovery point: a scan would
            // cut the log there, so it survives only if nothing below was scanned.
            let mut log = crashed.clone();
            log[written[flushed - 1].0 as usize + 70] ^= 0xff;
            write_segment(dir.path(), &log, &appended_indexes);

            let recovery_point = BASE + 3 * flushed as i64;
            let (segment, truncated) =
                Segment::open_with_recovery(dir.path(), BASE, &config(), recovery_point).unwrap();
            assert_eq!(truncated, log.len() as u64 - cut, "recovery point {recovery_point}");
            assert_eq!((segment.size(), segment.next_offset()), (cut, BASE + 72));
            assert_eq!(fs::read(segment.path()).unwrap(), log[..cut as usize]);
            assert_eq!(
                index_files(dir.path()),
                expected_indexes,
                "recovery point {recovery_point}"
            );
        }
    }

    #[test]
    fn recovery_scans_the_whole_segment_when_its_index_is_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let (written, mut log, _) = crashed_at_batch_24(dir.path());
        log[written[10].0 as usize + 70] ^= 0xff;
        // Zeros for the offset index entries, as a power loss can leave an unsynced file
        // whose size reached the disk but not its data.
        let (offset_index, time_index) = index_files(dir.path());
        write_segment(dir.path(), &log, &(vec![0; offset_index.len()], time_index));

        let (segment, _) = Segment::open_with_recovery(dir.path(), BASE, &config(), BASE + 60).unwrap();
        assert_eq!(
            (segment.size(), segment.next_offset()),
            (written[10].0, BASE + 30),
            "the corrupt batch below the recovery point was found"
        );
        let reference = tempfile::tempdir().unwrap();
        let expected = Segment::create(reference.path(), BASE, &config()).unwrap();
        fill(&expected, rising(10));
        expected.seal().unwrap();
        assert_eq!(index_files(dir.path()), index_files(reference.path()));
    }

    /// Takes at most 5 bytes per write, across slices, and is interrupted every other call.
    #[derive(Default)]
    struct Trickle {
        written: Vec<u8>,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 2 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let before = self.written.len();
            for slice in slices {
                let room = 5 - (self.written.len() - before);
                self.written.extend_from_slice(&slice[..room.min(slice.len())]);
            }
            Ok(self.written.len() - before)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_vectored_writes_are_resumed_where_they_stopped() {
        let parts: [&[u8]; 5] = [b"01234567", b"abc", b"", b"defghijklmnopqrstuvwxyz", b"!"];
        let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut out = Trickle::default();
        write_all_vectored(&mut out, &mut slices).unwrap();
        assert_eq!(out.written, parts.concat());
        assert_eq!(
            out.calls, 13,
            "35 bytes in 7 writes, with an interruption between each two"
        );
    }

    /// Appends `count` batches of 3 records of 30 KB each, so a read of two is a file region.
    fn fill_large(segment: &Segment, count: usize, fill_byte: u8) -> Vec<(u64, Bytes)> {
        let mut written = Vec::new();
        for _ in 0..count {
            let offset = segment.next_offset();
            let mut builder = tidelog_protocol::records::RecordBatchBuilder::new(offset);
            for i in 0..3 {
                builder.append(1_000 + offset + i, None, Some(&[fill_byte; 30_000][..]), &[]);
            }
            let bytes = builder.build().as_bytes().clone();
            let header = BatchHeader::parse(&bytes).unwrap();
            written.push((segment.append(&bytes, &[header]).unwrap(), bytes));
        }
        written
    }

    /// The bytes of `batches` back to back, as the segment holds them.
    fn joined(batches: &[(u64, Bytes)]) -> Vec<u8> {
        batches.iter().flat_map(|(_, b)| b.to_vec()).collect()
    }

    /// All of the segment's batches as one read, from its first.
    fn read_all(segment: &Segment) -> (Payload, i64) {
        let first = segment.find_batch(BASE).unwrap().expect("a batch");
        segment.read_batches(first, 1 << 20, segment.size()).unwrap()
    }

    #[test]
    fn large_reads_are_file_regions_that_outlive_appends_and_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let written = fill_large(&segment, 4, 0x11);
        let expected = joined(&written);
        let (read, next_offset) = read_all(&segment);
        assert!(matches!(read, Payload::File(_)), "not a file region: {read:?}");
        assert_eq!(
            (read.to_bytes().unwrap(), next_offset),
            (expected.clone().into(), BASE + 12)
        );

        // Appends after the read, then retention's deletion of the segment's files.
        let appended = fill_large(&segment, 3, 0x22);
        assert_eq!(read.to_bytes().unwrap(), expected, "appends leave a read as it was");
        let renamed = segment.rename_to_deleted().unwrap();
        assert!(!segment.path().exists());
        // Closed by the file cache meanwhile, the segment reopens its renamed files.
        segment.log.close();
        let (again, next_offset) = read_all(&segment);
        assert_eq!((again.len() as u64, next_offset), (segment.size(), BASE + 21));
        for renamed in renamed {
            remove_if_present(&renamed).unwrap();
        }
        assert_eq!(read.to_bytes().unwrap(), expected, "deletion leaves a read as it was");
        assert_eq!(again.to_bytes().unwrap(), [expected, joined(&appended)].concat());
    }

    #[test]
    fn reads_end_at_whole_batches_within_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        // 40 batches of about 90 KB: the index has an entry for every one after the first.
        let written = fill_large(&segment, 40, 0x11);
        let size = |batches: &[(u64, Bytes)]| joined(batches).len();
        let first = segment.find_batch(BASE + 3).unwrap().unwrap();
        for (max_bytes, end, batches) in [
            (size(&written[1..8]), segment.size(), 7),
            (size(&written[1..8]) - 1, segment.size(), 6),
            (1, segment.size(), 1),
            (1 << 30, written[5].0, 4),
            (1 << 30, segment.size(), 39),
        ] {
            let (read, next_offset) = segment.read_batches(first, max_bytes, end).unwrap();
            let expected = joined(&written[1..1 + batches]);
            assert_eq!(read.to_bytes().unwrap(), expected, "{max_bytes} bytes up to byte {end}");
            assert_eq!(next_offset, BASE + 3 * (1 + batches as i64));
        }
    }

    #[test]
    fn truncation_leaves_file_regions_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let written = fill_large(&segment, 6, 0x11);
        let expected = joined(&written);
        let (read, _) = read_all(&segment);
        assert_eq!(read.to_bytes().unwrap(), expected);

        // A region covers the bytes to cut: the kept ones move to a new file.
        let cut = written[2].0;
        assert_eq!(segment.truncate_to(BASE + 6).unwrap(), expected.len() as u64 - cut);
        assert_eq!((segment.size(), segment.next_offset()), (cut, BASE + 6));
        let again = fill_large(&segment, 3, 0x22);
        assert_eq!(again[0].0, cut);
        assert_eq!(
            read.to_bytes().unwrap(),
            expected,
            "the cut bytes stay readable and unchanged"
        );
        let on_disk = fs::read(segment.path()).unwrap();
        assert_eq!(on_disk[..cut as usize], expected[..cut as usize]);
        assert_eq!(on_disk[cut as usize..], joined(&again)[..]);
        assert_eq!(segment.read(0, 1 << 20).unwrap(), on_disk);
        assert_eq!(segment.find_batch(BASE + 7).unwrap(), located(again[0].0, &again[0].1));
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .to_string_lossy()
                    .ends_with(TRUNCATING_SUFFIX)
            })
            .count();
        assert_eq!(leftovers, 0);

        // With no region alive the file is cut in place.
        drop(read);
        let inode = || std::os::unix::fs::MetadataExt::ino(&segment.log.get().unwrap().metadata().unwrap());
        let before = inode();
        segment.truncate_to(BASE + 3).unwrap();
        assert_eq!(inode(), before);
        assert_eq!(fs::read(segment.path()).unwrap(), expected[..written[1].0 as usize]);
    }

    #[test]
    fn truncate_to_cuts_before_the_batch_holding_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), BASE, &config()).unwrap();
        let written = fill(&segment, rising(40));
        let removed = segment.truncate_to(BASE + 60).unwrap();
        assert_eq!(
            removed,
            written.iter().skip(20).map(|(_, b)| b.len() as u64).sum::<u64>()
        );
        assert_eq!((segment.size(), segment.next_offset()), (written[20].0, BASE + 60));
        assert_eq!(
            segment.max_timestamp(),
            TimestampOffset {
                timestamp: 1_159,
                offset: 159
            }
        );
        assert_eq!(segment.find_batch(BASE + 60).unwrap(), None);
        assert_eq!(
            segment.find_batch(BASE + 59).unwrap(),
            located(written[19].0, &written[19].1)
        );

        // Appends continue where the log now ends, and the indexes are those of 20 batches.
        let again = fill(&segment, rising(25).skip(20));
        assert_eq!(again[0].0, written[20].0);
        assert_eq!(segment.next_offset(), BASE + 75);
        let reference = tempfile::tempdir().unwrap();
        fill(&Segment::create(reference.path(), BASE, &config()).unwrap(), rising(25));
        assert_eq!(index_files(dir.path()), index_files(reference.path()));
    }
}
