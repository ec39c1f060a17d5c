//! The v2 batch header: a zero-copy view, a splitter for concatenated batches, and the
//! in-place rewrites the broker makes before appending a produced batch.
//!
//! Layout (big-endian), 61 bytes before the records:
//! `baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32`.
//! `batchLength` counts the bytes after itself; the CRC-32C covers attributes to the end.

use super::{decompress, Compression, Records, RecordsError};
use bytes::Bytes;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
/// The bytes before the magic byte: base offset, batch length, partition leader epoch.
pub const REWRITTEN_PREFIX_LEN: usize = 16;
const MAGIC: usize = 16;
pub(super) const CRC: usize = 17;
pub(super) const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;

/// Bytes of the batch header, before the first record.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` and `batchLength`: the bytes not counted by `batchLength`.
pub(super) const LOG_OVERHEAD: usize = BATCH_LENGTH + 4;

pub(super) const TIMESTAMP_TYPE_BIT: i16 = 0x08;
pub(super) const TRANSACTIONAL_BIT: i16 = 0x10;
pub(super) const CONTROL_BIT: i16 = 0x20;
pub(super) const DELETE_HORIZON_BIT: i16 = 0x40;

/// What a batch's timestamps mean: set by the producer, or by the broker on append
/// (topic config `message.timestamp.type=LogAppendTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A zero-copy view of exactly one v2 record batch.
///
/// Construction checks only what the accessors rely on (lengths, magic, codec, record
/// count sign); the CRC and the records are checked on request, so produce and fetch
/// never pay for decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
}

impl RecordBatch {
    /// Views `bytes` as one batch; they must hold exactly `12 + batchLength` bytes.
    pub fn parse(bytes: Bytes) -> Result<Self, RecordsError> {
        check_header(&bytes)?;
        Ok(Self { bytes })
    }

    /// Splits concatenated batches (a segment, a fetch response, a produce payload).
    pub fn iter_batches(bytes: Bytes) -> BatchIter {
        BatchIter {
            bytes,
            position: 0,
            failed: false,
        }
    }

    pub fn base_offset(&self) -> i64 {
        i64::from_be_bytes(self.field(BASE_OFFSET))
    }

    pub fn batch_length(&self) -> i32 {
        i32::from_be_bytes(self.field(BATCH_LENGTH))
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        i32::from_be_bytes(self.field(PARTITION_LEADER_EPOCH))
    }

    pub fn magic(&self) -> i8 {
        i8::from_be_bytes(self.field(MAGIC))
    }

    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(self.field(CRC))
    }

    pub fn attributes(&self) -> i16 {
        i16::from_be_bytes(self.field(ATTRIBUTES))
    }

    pub fn compression(&self) -> Compression {
        Compression::from_attributes(self.attributes()).expect("codec checked by parse")
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }

    /// Control batches carry transaction markers, never user records.
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }

    /// Set by compaction once tombstones and markers in the batch may be removed.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_BIT != 0
    }

    /// When compaction may remove the batch's tombstones and transaction marker: kept in
    /// the base timestamp field once the delete-horizon bit is set (KIP-534).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then(|| self.base_timestamp())
    }

    pub fn last_offset_delta(&self) -> i32 {
        i32::from_be_bytes(self.field(LAST_OFFSET_DELTA))
    }

    pub fn base_timestamp(&self) -> i64 {
        i64::from_be_bytes(self.field(BASE_TIMESTAMP))
    }

    pub fn max_timestamp(&self) -> i64 {
        i64::from_be_bytes(self.field(MAX_TIMESTAMP))
    }

    pub fn producer_id(&self) -> i64 {
        i64::from_be_bytes(self.field(PRODUCER_ID))
    }

    pub fn producer_epoch(&self) -> i16 {
        i16::from_be_bytes(self.field(PRODUCER_EPOCH))
    }

    pub fn base_sequence(&self) -> i32 {
        i32::from_be_bytes(self.field(BASE_SEQUENCE))
    }

    pub fn record_count(&self) -> i32 {
        i32::from_be_bytes(self.field(RECORD_COUNT))
    }

    /// Offset of the last record; compaction may have removed records before it, so this
    /// comes from the header, not from counting.
    pub fn last_offset(&self) -> i64 {
        self.base_offset().wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// Where the next batch in the log starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Total size on disk and on the wire, `12 + batchLength`.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Checks the stored CRC: what produce and log recovery rely on to reject corruption.
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let (expected, actual) = (self.crc(), crc32c::crc32c(&self.bytes[ATTRIBUTES..]));
        if expected != actual {
            return Err(RecordsError::CrcMismatch { expected, actual });
        }
        Ok(())
    }

    /// Decodes the records, decompressing first when needed; the decompressed body may
    /// not exceed `max_decompressed_bytes` (uncompressed bodies are already in memory and
    /// are not copied).
    pub fn records(&self, max_decompressed_bytes: usize) -> Result<Records, RecordsError> {
        let body = self.bytes.slice(HEADER_LEN..);
        let body = match self.compression() {
            Compression::None => body,
            codec => Bytes::from(decompress(codec, &body, max_decompressed_bytes)?),
        };
        Ok(Records::new(self, body))
    }

    /// Checks the records of a batch a client produced the way Kafka does before
    /// appending it: a positive count matching `lastOffsetDelta + 1`, every record
    /// decodable, and exactly `recordCount` of them. Kafka rewrites a batch whose offset
    /// deltas are not 0, 1, 2, ...; Tidelog appends batches as they came, so it rejects it.
    pub fn validate_records(&self, max_decompressed_bytes: usize) -> Result<(), RecordsError> {
        let (last_offset_delta, record_count) = (self.last_offset_delta(), self.record_count());
        if record_count <= 0 || i64::from(last_offset_delta) + 1 != i64::from(record_count) {
            return Err(RecordsError::InvalidOffsetRange {
                last_offset_delta,
                record_count,
            });
        }
        for (index, record) in self.records(max_decompressed_bytes)?.enumerate() {
            let offset_delta = record?.offset.wrapping_sub(self.base_offset());
            if offset_delta != index as i64 {
                return Err(RecordsError::InvalidOffsetDelta { index, offset_delta });
            }
        }
        Ok(())
    }

    fn field<const N: usize>(&self, at: usize) -> [u8; N] {
        read_field(&self.bytes, at)
    }
}

/// Rewrites, in place, the header fields the broker sets on a batch it accepts.
///
/// Works on the caller's buffer (a `BytesMut` or a page of a segment being recovered) so
/// appending never copies the batch.
#[derive(Debug)]
pub struct RecordBatchMut<'a> {
    buf: &'a mut [u8],
}

impl<'a> RecordBatchMut<'a> {
    /// Checks `buf` as [`RecordBatch::parse`] does, so the setters cannot fail.
    pub fn new(buf: &'a mut [u8]) -> Result<Self, RecordsError> {
        check_header(buf)?;
        Ok(Self { buf })
    }

    /// Assigns the batch its place in the log; not covered by the CRC.
    pub fn set_base_offset(&mut self, offset: i64) {
        self.write(BASE_OFFSET, &offset.to_be_bytes());
    }

    /// Stamps the leader epoch that appended the batch; not covered by the CRC.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.write(PARTITION_LEADER_EPOCH, &epoch.to_be_bytes());
    }

    /// Marks the batch as timestamped by the broker at `timestamp`, as Kafka does for
    /// LogAppendTime topics: sets the timestamp-type bit and maxTimestamp, which records
    /// then report as their timestamp, and recomputes the CRC both are covered by.
    pub fn set_log_append_time(&mut self, timestamp: i64) {
        let attributes = i16::from_be_bytes(read_field(self.buf, ATTRIBUTES)) | TIMESTAMP_TYPE_BIT;
        self.write(ATTRIBUTES, &attributes.to_be_bytes());
        self.write(MAX_TIMESTAMP, &timestamp.to_be_bytes());
        let crc = crc32c::crc32c(&self.buf[ATTRIBUTES..]);
        self.write(CRC, &crc.to_be_bytes());
    }

    fn write(&mut self, at: usize, value: &[u8]) {
        self.buf[at..at + value.len()].copy_from_slice(value);
    }
}

/// The header of a batch, read without its records.
///
/// What the log looks at to place a batch: when it assigns offsets to a produced payload
/// and when it walks a segment file to find an offset or a timestamp, it reads only these
/// 61 bytes, never the records (which may not even be in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    bytes: [u8; HEADER_LEN],
}

impl BatchHeader {
    /// Reads the header at the start of `buf`, which holds at least the header and possibly
    /// the records and further batches. Checks the header as [`RecordBatch::parse`] does
    /// (length, magic, codec, record count), but not that the records are present.
    pub fn parse(buf: &[u8]) -> Result<Self, RecordsError> {
        let available = buf.len();
        if available < HEADER_LEN {
            return Err(RecordsError::Truncated {
                needed: HEADER_LEN,
                available,
            });
        }
        declared_size(buf)?;
        check_fields(buf)?;
        Ok(Self {
            bytes: read_field(buf, 0),
        })
    }

    pub fn base_offset(&self) -> i64 {
        i64::from_be_bytes(read_field(&self.bytes, BASE_OFFSET))
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        i32::from_be_bytes(read_field(&self.bytes, PARTITION_LEADER_EPOCH))
    }

    /// The same header with `offset` as its base offset: how the log sees a batch it
    /// assigned offsets to while writing the batch's bytes as they came.
    pub fn with_base_offset(mut self, offset: i64) -> Self {
        self.bytes[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
        self
    }

    /// The same header stamped with the leader epoch that appends it (not covered by
    /// the CRC), as Kafka's leader stamps every batch it appends.
    pub fn with_partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.bytes[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
        self
    }

    /// The fields a log rewrites in a batch it appends, its first [`REWRITTEN_PREFIX_LEN`]
    /// bytes: base offset, length and partition leader epoch, none covered by the CRC.
    pub fn rewritten_prefix(&self) -> &[u8] {
        &self.bytes[..REWRITTEN_PREFIX_LEN]
    }

    pub fn last_offset_delta(&self) -> i32 {
        i32::from_be_bytes(read_field(&self.bytes, LAST_OFFSET_DELTA))
    }

    /// Offset of the last record, as [`RecordBatch::last_offset`].
    pub fn last_offset(&self) -> i64 {
        self.base_offset().wrapping_add(i64::from(self.last_offset_delta()))
    }

    pub fn max_timestamp(&self) -> i64 {
        i64::from_be_bytes(read_field(&self.bytes, MAX_TIMESTAMP))
    }

    pub fn record_count(&self) -> i32 {
        i32::from_be_bytes(read_field(&self.bytes, RECORD_COUNT))
    }

    /// The idempotent producer's id, or -1 for a batch without one.
    pub fn producer_id(&self) -> i64 {
        i64::from_be_bytes(read_field(&self.bytes, PRODUCER_ID))
    }

    pub fn producer_epoch(&self) -> i16 {
        i16::from_be_bytes(read_field(&self.bytes, PRODUCER_EPOCH))
    }

    /// Sequence number of the first record, counted per producer and partition.
    pub fn base_sequence(&self) -> i32 {
        i32::from_be_bytes(read_field(&self.bytes, BASE_SEQUENCE))
    }

    pub fn is_transactional(&self) -> bool {
        i16::from_be_bytes(read_field(&self.bytes, ATTRIBUTES)) & TRANSACTIONAL_BIT != 0
    }

    /// A control batch (a transaction marker): the one kind of batch whose records the log
    /// decodes, since a marker ends a transaction.
    pub fn is_control(&self) -> bool {
        i16::from_be_bytes(read_field(&self.bytes, ATTRIBUTES)) & CONTROL_BIT != 0
    }

    /// Total size of the batch, `12 + batchLength`.
    pub fn size_in_bytes(&self) -> usize {
        declared_size(&self.bytes).expect("checked by parse")
    }
}

/// Iterator over concatenated batches, yielding zero-copy slices of the input.
///
/// It stops at the first error. [`BatchIter::position`] then tells where the bad batch
/// starts, i.e. how many bytes of complete batches precede it: after
/// [`RecordsError::Truncated`] that is the length to trim a fetch to or to truncate a
/// torn log to; after any other error it is where corruption begins.
#[derive(Debug, Clone)]
pub struct BatchIter {
    bytes: Bytes,
    position: usize,
    failed: bool,
}

impl BatchIter {
    /// Bytes of the batches yielded so far.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position == self.bytes.len() {
            return None;
        }
        let start = self.position;
        let batch =
            batch_size(&self.bytes[start..]).and_then(|size| RecordBatch::parse(self.bytes.slice(start..start + size)));
        match &batch {
            Ok(batch) => self.position += batch.size_in_bytes(),
            Err(_) => self.failed = true,
        }
        Some(batch)
    }
}

/// The size of the batch at the start of `buf`, as its length field declares, checking
/// that `buf` holds all of it.
fn batch_size(buf: &[u8]) -> Result<usize, RecordsError> {
    let (size, available) = (declared_size(buf)?, buf.len());
    if available < size {
        return Err(RecordsError::Truncated {
            needed: size,
            available,
        });
    }
    Ok(size)
}

/// Everything the header accessors rely on: exactly one batch and valid header fields.
fn check_header(buf: &[u8]) -> Result<(), RecordsError> {
    let size = batch_size(buf)?;
    if buf.len() > size {
        return Err(RecordsError::TrailingBytes(buf.len() - size));
    }
    check_fields(buf)
}

/// The size the length field at the start of `buf` declares, which may exceed `buf`.
fn declared_size(buf: &[u8]) -> Result<usize, RecordsError> {
    let available = buf.len();
    if available < LOG_OVERHEAD {
        return Err(RecordsError::Truncated {
            needed: LOG_OVERHEAD,
            available,
        });
    }
    let batch_length = i32::from_be_bytes(read_field(buf, BATCH_LENGTH));
    usize::try_from(batch_length)
        .ok()
        .map(|length| LOG_OVERHEAD + length)
        .filter(|&size| size >= HEADER_LEN)
        .ok_or(RecordsError::InvalidBatchLength(batch_length))
}

/// The header fields the accessors rely on: v2, a known codec and a non-negative record
/// count. `buf` holds at least the header.
fn check_fields(buf: &[u8]) -> Result<(), RecordsError> {
    let magic = i8::from_be_bytes(read_field(buf, MAGIC));
    if magic != 2 {
        return Err(RecordsError::InvalidMagic(magic));
    }
    Compression::from_attributes(i16::from_be_bytes(read_field(buf, ATTRIBUTES)))?;
    let record_count = i32::from_be_bytes(read_field(buf, RECORD_COUNT));
    if record_count < 0 {
        return Err(RecordsError::InvalidRecordCount(record_count));
    }
    Ok(())
}

/// Reads the `N` bytes at `at`; callers have checked the header is present.
fn read_field<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    buf[at..at + N].try_into().expect("slice of length N")
}
