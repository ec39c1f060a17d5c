//! Writes v2 batches: what the broker needs for the batches it authors itself
//! (transaction markers, compaction output) and what tests use to make input.

use super::batch::{ATTRIBUTES, CONTROL_BIT, CRC, LOG_OVERHEAD, TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT};
use super::record::encode_record;
use super::{compress, Compression, Header, RecordBatch, HEADER_LEN};
use bytes::{BufMut, Bytes};

/// Kafka's "no timestamp", "no producer" and "no sequence" value.
const NONE: i64 = -1;

/// Builds one batch, assigning consecutive offsets from the base offset and computing
/// the lengths, deltas, max timestamp and CRC.
///
/// Records are encoded as they are appended; compression and the header happen in
/// [`RecordBatchBuilder::build`].
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    log_append_time: Option<i64>,
    compression: Compression,
    /// The first record's timestamp, which the others are stored relative to.
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    record_count: i32,
    records: Vec<u8>,
}

impl RecordBatchBuilder {
    /// An uncompressed, non-idempotent, CreateTime batch starting at `base_offset`.
    pub fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            partition_leader_epoch: -1,
            producer_id: NONE,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            log_append_time: None,
            compression: Compression::None,
            base_timestamp: None,
            max_timestamp: NONE,
            record_count: 0,
            records: Vec::new(),
        }
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Identifies an idempotent or transactional producer and its first sequence number.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// Control batches hold transaction markers instead of user records.
    pub fn control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }

    /// Makes a LogAppendTime batch stamped at `timestamp` instead of a CreateTime one.
    pub fn log_append_time(mut self, timestamp: i64) -> Self {
        self.log_append_time = Some(timestamp);
        self
    }

    /// Appends a record at the next offset.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> &mut Self {
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        encode_record(
            &mut self.records,
            self.record_count,
            timestamp.wrapping_sub(base_timestamp),
            key,
            value,
            headers,
        );
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.record_count += 1;
        self
    }

    /// Compresses the records and writes the header around them.
    pub fn build(self) -> RecordBatch {
        let records = compress(self.compression, &self.records);
        let batch_length = i32::try_from(HEADER_LEN - LOG_OVERHEAD + records.len())
            .expect("a batch is limited to i32::MAX bytes by the format");

        let mut attributes = self.compression as i16;
        if self.log_append_time.is_some() {
            attributes |= TIMESTAMP_TYPE_BIT;
        }
        if self.transactional {
            attributes |= TRANSACTIONAL_BIT;
        }
        if self.control {
            attributes |= CONTROL_BIT;
        }

        let mut out = Vec::with_capacity(HEADER_LEN + records.len());
        out.put_i64(self.base_offset);
        out.put_i32(batch_length);
        out.put_i32(self.partition_leader_epoch);
        out.put_i8(2); // magic
        out.put_u32(0); // crc, filled in below
        out.put_i16(attributes);
        out.put_i32(self.record_count - 1); // lastOffsetDelta
        out.put_i64(self.base_timestamp.unwrap_or(NONE));
        out.put_i64(self.log_append_time.unwrap_or(self.max_timestamp));
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.base_sequence);
        out.put_i32(self.record_count);
        out.extend_from_slice(&records);

        let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
        out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        RecordBatch::parse(Bytes::from(out)).expect("the builder writes valid headers")
    }
}
