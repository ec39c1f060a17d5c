//! The records of a metadata log batch: metadata records in data batches, KRaft control
//! records in control batches.

use bytes::Bytes;

use super::{KraftControlRecord, MetadataError, VersionedRecord};
use crate::error::EncodeError;
use crate::records::{Record, RecordBatch};

/// One record of the metadata log or of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataLogRecord {
    Metadata(VersionedRecord),
    Control(KraftControlRecord),
}

impl MetadataLogRecord {
    /// Decodes a record of a batch whose control bit is `control`. A metadata record's key
    /// is not read: Kafka writes none and ignores it.
    pub fn decode(control: bool, record: &Record) -> Result<MetadataLogRecord, MetadataError> {
        let value = record.value.clone().ok_or(MetadataError::NullValue)?;
        Ok(match control {
            true => MetadataLogRecord::Control(KraftControlRecord::decode_record(record.key.as_deref(), value)?),
            false => MetadataLogRecord::Metadata(VersionedRecord::decode(value)?),
        })
    }

    /// The key and value to write: no key for a metadata record.
    pub fn encode(&self) -> Result<(Option<Bytes>, Bytes), EncodeError> {
        Ok(match self {
            MetadataLogRecord::Metadata(record) => (None, record.encode()?),
            MetadataLogRecord::Control(record) => {
                let (key, value) = record.encode_record()?;
                (Some(Bytes::copy_from_slice(&key)), value)
            }
        })
    }
}

/// Every record of a batch with its offset, decompressing at most
/// `max_decompressed_bytes` (as [`RecordBatch::records`]).
pub fn read_batch(
    batch: &RecordBatch,
    max_decompressed_bytes: usize,
) -> Result<Vec<(i64, MetadataLogRecord)>, MetadataError> {
    batch
        .records(max_decompressed_bytes)?
        .map(|record| {
            let record = record?;
            Ok((record.offset, MetadataLogRecord::decode(batch.is_control(), &record)?))
        })
        .collect()
}
