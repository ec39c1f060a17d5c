//! KRaft's metadata log (`__cluster_metadata-0`) and its snapshots, as Kafka writes them.
//!
//! Both are ordinary v2 record batches ([`crate::records`]). A data batch's records have a
//! null key and a value framed as Kafka's `ApiMessageAndVersion` ([`VersionedRecord`]); a
//! control batch holds KRaft's control records: leader changes, snapshot headers and
//! footers, the kraft.version and the voters ([`KraftControlRecord`]). Decoding is bounded
//! by the bytes present and ends in a [`MetadataError`] on bad input, never in a panic.

mod control;
mod frame;
mod log;
pub mod records;

pub use control::CONTROL_RECORD_VERSION;
pub use frame::VersionedRecord;
pub use log::{read_batch, MetadataLogRecord};
pub use records::{KraftControlRecord, KraftControlType, MetadataRecord, MetadataRecordType};

use crate::error::DecodeError;
use crate::records::RecordsError;
use thiserror::Error;

/// Why a record of the metadata log could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    /// The batch or its records are malformed (a control record's key included).
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// The record's message is malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Kafka writes frame version 1; 0 was KRaft's preview in Kafka 2.8, which Kafka does
    /// not read either.
    #[error("unsupported metadata record frame version {0}")]
    FrameVersion(u32),
    #[error("unknown metadata record type {0}")]
    UnknownRecordType(u32),
    /// A record version must fit in an `i16`.
    #[error("metadata record version {0} out of range")]
    VersionOutOfRange(u32),
    #[error("unknown KRaft control record type {0}")]
    UnknownControlType(i16),
    /// Every record of the metadata log has a value.
    #[error("metadata log record without a value")]
    NullValue,
}
