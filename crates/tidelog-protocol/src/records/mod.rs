//! Kafka's v2 record batches (magic 2, KIP-98), the unit the log stores and Fetch serves.
//!
//! The hot path never decodes records: [`RecordBatch`] is a zero-copy view that checks the
//! header, [`RecordBatch::verify_crc`] checks the checksum, [`RecordBatchMut`] rewrites the
//! few header fields the broker owns, and [`RecordBatch::iter_batches`] splits a log segment
//! or a produce payload into batches. Records are decoded only when semantics need them
//! ([`RecordBatch::records`]), always bounded by the bytes present and by a cap on
//! decompressed size, so hostile input yields an error, never a panic or a huge allocation.

mod batch;
mod builder;
mod compression;
mod control;
mod record;

pub use batch::{BatchHeader, BatchIter, RecordBatch, RecordBatchMut, TimestampType, HEADER_LEN, REWRITTEN_PREFIX_LEN};
pub use builder::RecordBatchBuilder;
pub use compression::{compress, decompress, Compression};
pub use control::{control_key, control_type, marker_batch, read_marker, ControlType, TxnMarker};
pub use record::{Header, Record, Records};

use crate::varint::VarintError;
use thiserror::Error;

/// Why a batch or its records could not be read. Every variant maps to Kafka's
/// `CORRUPT_MESSAGE` / `INVALID_RECORD` family; the detail is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordsError {
    /// The input ends before the batch (or a field inside it) does. In a log or a fetch
    /// response this is a torn tail rather than corruption.
    #[error("truncated: needed at least {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    /// More bytes follow what the declared lengths and counts account for.
    #[error("{0} unexpected trailing bytes")]
    TrailingBytes(usize),
    #[error("batch length {0} is smaller than the batch header")]
    InvalidBatchLength(i32),
    #[error("unsupported magic {0}, only record batch v2 is supported")]
    InvalidMagic(i8),
    #[error("negative record count {0}")]
    InvalidRecordCount(i32),
    #[error("crc mismatch: header says {expected:#010x}, content has {actual:#010x}")]
    CrcMismatch { expected: u32, actual: u32 },
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    /// A length or count field inside a record holds a negative value it may not hold.
    #[error("invalid {field} length {length}")]
    InvalidLength { field: &'static str, length: i32 },
    #[error("malformed varint: {0}")]
    Varint(#[from] VarintError),
    /// The records end before `declared` of them were read.
    #[error("batch declares {declared} records but holds {actual}")]
    RecordCountMismatch { declared: i32, actual: i32 },
    /// `lastOffsetDelta + 1` must equal the record count of a batch a client produced.
    #[error("last offset delta {last_offset_delta} does not fit record count {record_count}")]
    InvalidOffsetRange { last_offset_delta: i32, record_count: i32 },
    /// Records of a produced batch must have offset deltas 0, 1, 2, ...
    #[error("record {index} has offset delta {offset_delta}")]
    InvalidOffsetDelta { index: usize, offset_delta: i64 },
    #[error("decompressed records exceed the {limit} byte limit")]
    DecompressedTooLarge { limit: usize },
    #[error("decompression failed: {0}")]
    Compression(String),
}
