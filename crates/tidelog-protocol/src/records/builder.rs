//! Writes v2 batches: what the broker needs for the batches it authors itself
//! (transaction markers, compaction output) and what tests use to make input.

use super::batch::{
    ATTRIBUTES, CONTROL_BIT, CRC, DELETE_HORIZON_BIT, LOG_OVERHEAD, TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT,
};
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
    /// The first record's timestamp, which the others are stored relative to; the delete
    /// horizon instead when one is set.
    base_timestamp: Option<i64>,
    delete_horizon: bool,
    max_timestamp: i64,
    /// Set by [`RecordBatchBuilder::last_offset_delta`]; else the last record's delta.
    last_offset_delta: Option<i32>,
    /// Offset delta of the last record appended, so records can be appended with gaps.
    last_record_delta: i32,
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
            delete_horizon: false,
            max_timestamp: NONE,
            last_offset_delta: None,
            last_record_delta: -1,
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

    /// Marks the batch with a delete horizon (KIP-534), as log compaction does once it has
    /// seen tombstones or a transaction marker it may later remove: the horizon takes the
    /// base timestamp field, which record timestamps are then stored relative to. Call it
    /// before appending records.
    pub fn delete_horizon(mut self, delete_horizon_ms: i64) -> Self {
        self.base_timestamp = Some(delete_horizon_ms);
        self.delete_horizon = true;
        self
    }

    /// Keeps the last offset of a batch compaction rewrote, whose last records may be gone:
    /// a producer's sequence numbers follow the offsets of its batches, so the batch must
    /// keep spanning the same offsets (Kafka's `overrideLastOffset`).
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }

    /// The max timestamp of a batch left without records (compaction keeps a producer's
    /// last batch as an empty one), which Kafka also writes as its base timestamp.
    pub fn max_timestamp(mut self, timestamp: i64) -> Self {
        self.max_timestamp = self.max_timestamp.max(timestamp);
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
        let offset = self.base_offset + i64::from(self.last_record_delta) + 1;
        self.append_at(offset, timestamp, key, value, headers)
    }

    /// Appends a record at `offset`, which must be past the previous record's: compaction
    /// keeps records at their offsets, leaving gaps where it removed some.
    pub fn append_at(
        &mut self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> &mut Self {
        let delta = i32::try_from(offset - self.base_offset).expect("a record's offset delta fits an i32");
        assert!(delta > self.last_record_delta, "records are appended in offset order");
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        encode_record(
            &mut self.records,
            delta,
            timestamp.wrapping_sub(base_timestamp),
            key,
            value,
            headers,
        );
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.last_record_delta = delta;
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
        if self.delete_horizon {
            attributes |= DELETE_HORIZON_BIT;
        }
        let base_timestamp = match (self.base_timestamp, self.record_count) {
            (Some(base), _) => base,
            (None, 0) => self.max_timestamp,
            (None, _) => NONE,
        };

        let mut out = Vec::with_capacity(HEADER_LEN + records.len());
        out.put_i64(self.base_offset);
        out.put_i32(batch_length);
        out.put_i32(self.partition_leader_epoch);
        out.put_i8(2); // magic
        out.put_u32(0); // crc, filled in below
        out.put_i16(attributes);
        out.put_i32(self.last_offset_delta.unwrap_or(self.last_record_delta));
        out.put_i64(base_timestamp);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_output_keeps_offsets_span_and_delete_horizon() {
        let header = Header {
            key: Bytes::from_static(b"h"),
            value: None,
        };
        let mut builder = RecordBatchBuilder::new(100)
            .compression(Compression::Lz4)
            .producer(7, 1, 40)
            .last_offset_delta(9)
            .delete_horizon(5_000);
        builder.append_at(102, 1_000, Some(b"a"), None, std::slice::from_ref(&header));
        builder.append_at(105, 1_010, Some(b"b"), Some(b"v"), &[]);
        let batch = builder.build();
        batch.verify_crc().unwrap();
        assert_eq!((batch.last_offset(), batch.record_count()), (109, 2));
        assert_eq!((batch.delete_horizon_ms(), batch.max_timestamp()), (Some(5_000), 1_010));
        assert_eq!((batch.compression(), batch.base_sequence()), (Compression::Lz4, 40));
        let records: Vec<_> = batch.records(1 << 20).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            records
                .iter()
                .map(|r| (r.offset, r.timestamp, r.value.clone()))
                .collect::<Vec<_>>(),
            [(102, 1_000, None), (105, 1_010, Some(Bytes::from_static(b"v")))]
        );
        assert_eq!(records[0].headers, [header]);

        let empty = RecordBatchBuilder::new(100)
            .last_offset_delta(3)
            .max_timestamp(2_000)
            .build();
        assert_eq!((empty.record_count(), empty.last_offset()), (0, 103));
        assert_eq!((empty.base_timestamp(), empty.max_timestamp()), (2_000, 2_000));
        assert_eq!(empty.delete_horizon_ms(), None);
    }
}
